// SPDX-License-Identifier: MIT
// Fuzzes the op set: the input is a small program over a stack of tensors (creation with shapes,
// dtypes and values from the bytes, elementwise and broadcasting ops, reductions over any axes,
// views and joins, matmul, softmax and losses, conv2d and pooling, in-place ops, indexing, and
// now and then backward through what was recorded). Every call must succeed or throw a
// tapeflow::Error: only those are caught, so std::bad_alloc, std::length_error, a sanitizer
// report or a crash reaches libFuzzer.
//
// Sizes are the one thing the harness keeps in hand. Legitimate tensors stay small (at most
// kMaxNumel elements) so an input runs in milliseconds, and "hostile" sizes (negative, or so
// large that no machine holds them: 2^42 elements and up, or overflowing int64) are mixed in,
// which the engine must refuse with an error rather than attempt. Sizes in between (a few
// gigabytes) are legitimate requests a real machine may satisfy, so the harness never makes them.
#include <tapeflow/tapeflow.hpp>

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_util.hpp"

using namespace tapeflow;
namespace F = tapeflow::nn::functional;

namespace {

constexpr int64_t kMaxNumel = 4096;      // largest tensor kept on the stack
constexpr int64_t kMaxWork = 1 << 22;    // largest output or product of sizes an op may be given
constexpr int64_t kHuge = int64_t{1} << 42;  // at or above: no machine can hold it
constexpr std::size_t kMaxStack = 8;

constexpr int64_t kHostile[] = {-1,
                                -3,
                                std::numeric_limits<int64_t>::min(),
                                std::numeric_limits<int64_t>::max(),
                                int64_t{1} << 42,
                                int64_t{1} << 48,
                                int64_t{1} << 60,
                                (int64_t{1} << 61) + 1,
                                int64_t{1} << 62,
                                std::numeric_limits<int64_t>::max() / 3};

// True when a count is small enough to compute or large enough that the engine must refuse it.
bool safe_count(double n) { return !(n > kMaxWork && n < static_cast<double>(kHuge)); }

class Program {
 public:
  explicit Program(FuzzedDataProvider& in) : in_(in) {}

  void run() {
    manual_seed(in_.ConsumeIntegral<uint8_t>());
    // TAPEFLOW_FUZZ_TRACE=1 prints what each step did, to read a crashing input.
    static const bool trace = std::getenv("TAPEFLOW_FUZZ_TRACE") != nullptr;
    for (int step = 0; step < 40 && in_.remaining_bytes() > 0; ++step) {
      try {
        one_op();
        if (trace) std::fprintf(stderr, "step %d: %s: ok, %s\n", step, family_, describe_top().c_str());
      } catch (const Error& e) {
        // Refused: fine, as long as it was a tapeflow::Error.
        if (trace) std::fprintf(stderr, "step %d: %s: refused: %s\n", step, family_, e.what());
      }
    }
    // Whatever still requires grad may be differentiated at the end.
    for (const Tensor& t : stack_) {
      if (!t.requires_grad() || !in_.ConsumeBool()) continue;
      try {
        t.sum().backward();
      } catch (const Error&) {
      }
    }
  }

 private:
  // --- values from the bytes ------------------------------------------------------------------
  int64_t small(int64_t lo, int64_t hi) { return in_.ConsumeIntegralInRange(lo, hi); }
  bool rarely() { return in_.ConsumeIntegral<uint8_t>() < 16; }

  // A size: usually small, sometimes hostile.
  int64_t size_arg(int64_t hi = 6) { return rarely() ? kHostile[small(0, std::size(kHostile) - 1)] : small(0, hi); }
  // A dimension or axis: usually within -6..6 (so also out of range), sometimes hostile.
  int64_t dim_arg() { return rarely() ? kHostile[small(0, std::size(kHostile) - 1)] : small(-6, 6); }

  double value_arg() {
    constexpr double kSpecial[] = {0.0, -0.0, 1.0, -1.0, 0.5, 2.0, INFINITY, -INFINITY, NAN, 5e-324, 1e-310,
                                   1e300, -1e300, 9.3e18, -9.3e18, 3.5e38, 1e-45};
    switch (small(0, 2)) {
      case 0: return kSpecial[small(0, std::size(kSpecial) - 1)];
      case 1: return static_cast<double>(small(-20, 20)) / 4;
      default: return std::bit_cast<double>(in_.ConsumeIntegral<uint64_t>());
    }
  }

  DType dtype_arg() {
    constexpr DType kTypes[] = {Float32, Float64, Int64, Bool};
    return kTypes[small(0, 3)];
  }

  // A shape of at most kMaxNumel elements, or now and then one holding a hostile size (or more
  // dimensions than tapeflow allows).
  Shape shape_arg() {
    Shape s(static_cast<std::size_t>(rarely() ? small(0, 18) : small(0, 4)));
    for (int64_t& d : s) d = small(0, 5) == 0 ? small(0, 1) : small(1, 6);
    if (!s.empty() && rarely()) {
      s[static_cast<std::size_t>(small(0, static_cast<int64_t>(s.size()) - 1))] = kHostile[small(0, std::size(kHostile) - 1)];
      return s;
    }
    // Halve the largest size until the whole fits.
    while (true) {
      int64_t n = 1;
      for (int64_t d : s) n *= d;
      if (n <= kMaxNumel) break;
      *std::max_element(s.begin(), s.end()) /= 2;
    }
    return s;
  }

  std::vector<int64_t> dims_arg(int64_t max_count) {
    std::vector<int64_t> v(static_cast<std::size_t>(small(0, max_count)));
    for (int64_t& d : v) d = dim_arg();
    return v;
  }

  Options options_arg() {
    Options o;
    if (in_.ConsumeBool()) o.dtype = dtype_arg();
    o.requires_grad = rarely();
    return o;
  }

  // --- the stack ------------------------------------------------------------------------------
  /// Whether the product of t's nonzero dimensions stays within kMaxWork.
  static bool small_beside_zero(const Tensor& t) {
    int64_t product = 1;
    for (int64_t d : t.shape()) {
      if (d == 0) continue;
      if (product > kMaxWork / d) return false;
      product *= d;
    }
    return true;
  }

  Tensor pick() {
    if (stack_.empty()) return Tensor();
    return stack_[static_cast<std::size_t>(small(0, static_cast<int64_t>(stack_.size()) - 1))];
  }
  Tensor& pick_ref() {
    if (stack_.empty()) stack_.push_back(zeros({2, 3}));
    return stack_[static_cast<std::size_t>(small(0, static_cast<int64_t>(stack_.size()) - 1))];
  }

  void push(const Tensor& t) {
    if (!t.defined()) return;
    if (t.numel() > kMaxNumel) {
      // A view this large: anything that materialises it must be refused, not attempted.
      if (t.numel() >= kHuge) expect_refused([&] { (void)t.contiguous(); (void)(t + 1); });
      return;
    }
    if (t.numel() == 0 && !small_beside_zero(t)) {
      // Empty, but with huge dimensions beside its zero one: reducing the zero away (a sum
      // over it) rightly makes an output of all the others, more than a fuzz run may hold.
      (void)t.contiguous();
      return;
    }
    // Read every value: a view whose strides or offset leave its storage shows up here (ASan).
    (void)t.to_vector<double>();
    if (stack_.size() == kMaxStack) stack_.erase(stack_.begin());
    stack_.push_back(t);
  }

  template <typename F>
  void expect_refused(F&& f) {
    try {
      f();
    } catch (const Error&) {
      return;
    }
    FUZZ_CHECK(false, "an op on a tensor of more than 2^42 elements succeeded");
  }

  static int64_t numel_of(const Shape& s) {
    int64_t n = 1;
    for (int64_t d : s) {
      if (d < 0 || (d != 0 && n > std::numeric_limits<int64_t>::max() / d)) return -1;
      n *= d;
    }
    return n;
  }
  // Whether a binary op on a and b has an output small enough to compute (or shapes the
  // engine must refuse).
  static bool small_broadcast(const Tensor& a, const Tensor& b) {
    try {
      const int64_t n = numel_of(broadcast_shapes(a.shape(), b.shape()));
      return n >= 0 && n <= kMaxWork;
    } catch (const Error&) {
      return true;  // the op must refuse it too
    }
  }
  static bool small_product(const Tensor& a, const Tensor& b) {
    return a.numel() <= kMaxWork && b.numel() <= kMaxWork && a.numel() * b.numel() <= kMaxWork;
  }

  // --- ops ------------------------------------------------------------------------------------
  // NOTE: programs in the corpus mean what this table and the ones below make of their bytes:
  // reordering or resizing a table turns them into other programs (still valid seeds, but no
  // longer the ones that found a bug), so append rather than reorder.
  void one_op() {
    switch (small(0, 15)) {
      case 0: case 1: family_ = "create"; return create();
      case 2: case 3: family_ = "unary"; return unary();
      case 4: case 5: family_ = "binary"; return binary();
      case 6: family_ = "reduce"; return reduce();
      case 7: case 8: family_ = "reshape"; return reshape_family();
      case 9: family_ = "join/index"; return join_and_index();
      case 10: family_ = "linalg/nn"; return linalg_and_nn();
      case 11: family_ = "in-place"; return in_place();
      case 12: family_ = "autograd"; return autograd();
      case 13: case 14: family_ = "well-formed nn"; return well_formed();
      default: family_ = "values"; return values();
    }
  }

  std::string describe_top() const {
    if (stack_.empty()) return "stack empty";
    const Tensor& t = stack_.back();
    return "stack " + std::to_string(stack_.size()) + ", top " + shape_str(t.shape()) + " " + dtype_name(t.dtype()) +
           (t.requires_grad() ? " requires grad" : "");
  }

  void create() {
    const Options o = options_arg();
    switch (small(0, 13)) {
      case 0: return push(zeros(shape_arg(), o));
      case 1: return push(ones(shape_arg(), o));
      case 2: return push(full(shape_arg(), value_arg(), o));
      case 3: return push(randn(shape_arg(), o));
      case 4: return push(rand(shape_arg(), o));
      case 5: {
        const double start = value_arg(), end = value_arg(), step = value_arg();
        if (!safe_count(std::ceil((end - start) / step))) return;
        return push(arange(start, end, step, o));
      }
      case 6: return push(linspace(value_arg(), value_arg(), size_arg(64), o));
      case 7: {
        const int64_t n = size_arg(8), m = in_.ConsumeBool() ? -1 : size_arg(8);
        return push(eye(n, m, o));
      }
      case 8: {
        const Shape s = shape_arg();
        const int64_t n = numel_of(s);
        std::vector<double> v(static_cast<std::size_t>(n >= 0 && n <= kMaxNumel ? n : small(0, 3)));
        for (double& x : v) x = value_arg();
        return push(tensor(v, s, o));
      }
      case 9: {
        const Shape s = shape_arg();
        const int64_t n = numel_of(s);
        std::vector<int64_t> v(static_cast<std::size_t>(n >= 0 && n <= kMaxNumel ? n : small(0, 3)));
        for (int64_t& x : v) x = in_.ConsumeBool() ? small(-3, 8) : in_.ConsumeIntegral<int64_t>();
        return push(tensor(v, s, o));
      }
      case 10: {
        const int64_t lo = in_.ConsumeBool() ? small(-5, 5) : in_.ConsumeIntegral<int64_t>();
        const int64_t hi = in_.ConsumeBool() ? small(-5, 10) : in_.ConsumeIntegral<int64_t>();
        return push(randint(lo, hi, shape_arg(), o));
      }
      case 11: return push(scalar_tensor(value_arg(), o));
      case 12: {
        const Shape s = shape_arg();
        const int64_t n = numel_of(s);
        const DType dtype = dtype_arg();
        // from_blob trusts the caller for the buffer's size; give it what a valid shape needs.
        std::vector<unsigned char> blob(static_cast<std::size_t>(n >= 0 && n <= kMaxNumel ? n : 0) * 8);
        for (std::size_t i = 0; i < blob.size(); ++i)
          blob[i] = dtype == Bool ? in_.ConsumeBool() : in_.ConsumeIntegral<unsigned char>();
        if (n < 0 || n > kMaxNumel) {
          expect_refused([&] { (void)from_blob(blob.data(), s, dtype, o); });
          return;
        }
        return push(from_blob(blob.data(), s, dtype, o));
      }
      default: {
        const Tensor t = pick();
        if (!t.defined()) return;
        switch (small(0, 2)) {
          case 0: return push(zeros_like(t, o));
          case 1: return push(ones_like(t, o));
          default: return push(full_like(t, value_arg(), o));
        }
      }
    }
  }

  void unary() {
    const Tensor x = pick();
    if (!x.defined()) return;
    switch (small(0, 24)) {
      case 0: return push(-x);
      case 1: return push(exp(x));
      case 2: return push(log(x));
      case 3: return push(sqrt(x));
      case 4: return push(abs(x));
      case 5: return push(tanh(x));
      case 6: return push(sigmoid(x));
      case 7: return push(relu(x));
      case 8: return push(erf(x));
      case 9: return push(sign(x));
      case 10: return push(pow(x, value_arg()));
      case 11: {
        std::optional<double> lo, hi;
        if (in_.ConsumeBool()) lo = value_arg();
        if (in_.ConsumeBool()) hi = value_arg();
        return push(clamp(x, lo, hi));
      }
      case 12: return push(x.to(dtype_arg()));
      case 13: return push(x.contiguous());
      case 14: return push(x.clone());
      case 15: return push(x.detach());
      case 16: return push(F::leaky_relu(x, value_arg()));
      case 17: return push(F::gelu(x, in_.ConsumeBool() ? F::GeluApproximation::Tanh : F::GeluApproximation::None));
      case 18: return push(F::dropout(x, value_arg(), in_.ConsumeBool()));
      case 19: return push(x + value_arg());
      case 20: return push(value_arg() - x);
      case 21: return push(x * value_arg());
      case 22: return push(value_arg() / x);
      case 23: return push(x > value_arg());
      default: return push(x == value_arg());
    }
  }

  void binary() {
    const Tensor a = pick(), b = pick();
    if (!a.defined() || !b.defined() || !small_broadcast(a, b)) return;
    switch (small(0, 16)) {
      case 0: return push(a + b);
      case 1: return push(a - b);
      case 2: return push(a * b);
      case 3: return push(a / b);
      case 4: return push(pow(a, b));
      case 5: return push(maximum(a, b));
      case 6: return push(minimum(a, b));
      case 7: return push(eq(a, b));
      case 8: return push(ne(a, b));
      case 9: return push(lt(a, b));
      case 10: return push(le(a, b));
      case 11: return push(gt(a, b));
      case 12: return push(ge(a, b));
      case 13: {
        const Tensor c = pick();
        if (!c.defined() || !small_broadcast(c, a) || !small_broadcast(c, b) || c.numel() * a.numel() > kMaxWork * 4) return;
        return push(where(c, a, b));
      }
      case 14: return push(mse_loss(a, b));
      case 15: return push(F::l1_loss(a, b, {.reduction = static_cast<nn::Reduction>(small(0, 2))}));
      default: return push(F::binary_cross_entropy_with_logits(a, b));
    }
  }

  void reduce() {
    const Tensor x = pick();
    if (!x.defined()) return;
    const std::vector<int64_t> axes = dims_arg(3);
    const bool keepdim = in_.ConsumeBool();
    std::optional<int64_t> axis;
    if (in_.ConsumeBool()) axis = dim_arg();
    switch (small(0, 10)) {
      case 0: return push(sum(x, axes, keepdim));
      case 1: return push(mean(x, axes, keepdim));
      case 2: return push(max(x, axes, keepdim));
      case 3: return push(min(x, axes, keepdim));
      case 4: return push(argmax(x, axis, keepdim));
      case 5: return push(argmin(x, axis, keepdim));
      case 6: return push(logsumexp(x, axes, keepdim));
      case 7: return push(x.sum(dim_arg(), keepdim));
      case 8: return push(x.max(dim_arg(), keepdim));
      case 9: return push(x.mean());
      default: return push(x.argmax());
    }
  }

  void reshape_family() {
    const Tensor x = pick();
    if (!x.defined()) return;
    switch (small(0, 13)) {
      case 0: case 1: {
        // A shape of the same count, sometimes with a -1, sometimes any shape at all.
        Shape s = shape_arg();
        if (in_.ConsumeBool()) {
          s = {x.numel()};
          if (x.numel() % 2 == 0 && x.numel() > 0 && in_.ConsumeBool()) s = {2, x.numel() / 2};
          if (in_.ConsumeBool()) s[static_cast<std::size_t>(small(0, static_cast<int64_t>(s.size()) - 1))] = -1;
        }
        return push(in_.ConsumeBool() ? x.reshape(s) : x.view(s));
      }
      case 2: return push(x.flatten(dim_arg(), dim_arg()));
      case 3: return push(x.transpose(dim_arg(), dim_arg()));
      case 4: return push(x.t());
      case 5: {
        Shape perm(static_cast<std::size_t>(x.dim()));
        for (std::size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<int64_t>(i);
        for (std::size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[static_cast<std::size_t>(small(0, i - 1))]);
        if (rarely()) perm = dims_arg(5);
        return push(x.permute(perm));
      }
      case 6: return push(in_.ConsumeBool() ? x.squeeze() : x.squeeze(dim_arg()));
      case 7: return push(x.unsqueeze(dim_arg()));
      case 8: {
        // Expanding size-1 dims (and adding leading ones), or any shape at all.
        Shape s = x.shape();
        for (int64_t& d : s)
          if (d == 1 && in_.ConsumeBool()) d = size_arg(4);
        if (in_.ConsumeBool()) s.insert(s.begin(), size_arg(3));
        if (rarely()) s = shape_arg();
        return push(x.expand(s));
      }
      case 9: case 10: {
        const int64_t dim = dim_arg();
        const int64_t start = in_.ConsumeBool() ? small(-8, 8) : in_.ConsumeIntegral<int64_t>();
        const int64_t end = in_.ConsumeBool() ? small(-8, 8) : in_.ConsumeIntegral<int64_t>();
        const int64_t step = rarely() ? in_.ConsumeIntegral<int64_t>() : small(-1, 4);
        return push(x.slice(dim, start, end, step));
      }
      case 11: return push(F::embedding(pick(), x));
      case 12: {
        const Tensor t = pick();
        if (!t.defined()) return;
        return push(one_hot(t, size_arg(8)));
      }
      default: return push(x.index_select(dim_arg(), pick()));
    }
  }

  void join_and_index() {
    std::vector<Tensor> list;
    for (int64_t n = small(0, 4); n > 0; --n)
      if (const Tensor t = pick(); t.defined()) list.push_back(t);
    const int64_t dim = dim_arg();
    switch (small(0, 4)) {
      case 0: return push(concat(list, dim));
      case 1: return push(stack(list, dim));
      case 2: {
        const Tensor x = pick();
        if (!x.defined()) return;
        return push(x.item_double() + x.item_int64() > 0 ? ones({}) : zeros({}));
      }
      default: {
        const Tensor x = pick();
        if (!x.defined()) return;
        // An index made of the bytes, in and out of range.
        std::vector<int64_t> idx(static_cast<std::size_t>(small(0, 6)));
        for (int64_t& i : idx) i = rarely() ? in_.ConsumeIntegral<int64_t>() : small(-4, 6);
        return push(x.index_select(dim, tensor(idx, {static_cast<int64_t>(idx.size())}, {.dtype = Int64})));
      }
    }
  }

  void linalg_and_nn() {
    const Tensor a = pick(), b = pick();
    if (!a.defined() || !b.defined()) return;
    switch (small(0, 11)) {
      case 0: case 1:
        if (!small_product(a, b)) return;
        return push(matmul(a, b));
      case 2: return push(softmax(a, dim_arg()));
      case 3: return push(log_softmax(a, dim_arg()));
      case 4: return push(cross_entropy(a, b));
      case 5: {
        const nn::CrossEntropyOptions o{.reduction = static_cast<nn::Reduction>(small(0, 2)), .label_smoothing = value_arg()};
        return push(F::cross_entropy(a, b, o));
      }
      case 6: return push(F::nll_loss(a, b, {.reduction = static_cast<nn::Reduction>(small(0, 2))}));
      case 7: {
        if (!small_product(a, b)) return;
        const Tensor bias = in_.ConsumeBool() ? pick() : Tensor();
        nn::Conv2dOptions o;
        o.stride = nn::Size2(size_arg(3), size_arg(3));
        o.padding = nn::Size2(size_arg(2), size_arg(2));
        o.dilation = nn::Size2(size_arg(2), size_arg(2));
        o.groups = size_arg(3);
        if (!conv_output_ok(a, b.dim() == 4 ? b.size(2) : 1, b.dim() == 4 ? b.size(3) : 1, o.stride, o.padding, o.dilation))
          return;
        return push(F::conv2d(a, b, bias, o));
      }
      case 8: case 9: {
        const nn::Size2 k(size_arg(3), size_arg(3));
        const nn::Size2 stride(size_arg(3), size_arg(3));
        const nn::Size2 pad(size_arg(2), size_arg(2));
        const nn::Size2 dil(size_arg(2), size_arg(2));
        if (!conv_output_ok(a, k.h, k.w, stride, pad, dil)) return;
        if (in_.ConsumeBool())
          return push(F::max_pool2d(a, k, {.stride = in_.ConsumeBool() ? nn::PoolStride(stride) : nn::PoolStride(),
                                            .padding = pad, .dilation = dil}));
        return push(F::avg_pool2d(a, k, {.stride = stride, .padding = pad, .count_include_pad = in_.ConsumeBool()}));
      }
      case 10: {
        Shape normalized;
        for (int64_t i = small(0, 2); i > 0 && static_cast<int64_t>(normalized.size()) < a.dim(); --i)
          normalized.insert(normalized.begin(), a.size(a.dim() - 1 - static_cast<int64_t>(normalized.size())));
        if (rarely()) normalized = shape_arg();
        return push(F::layer_norm(a, normalized, in_.ConsumeBool() ? b : Tensor(), Tensor(), value_arg()));
      }
      default: {
        const Tensor rm = pick(), rv = pick();
        return push(F::batch_norm(a, rm, rv, in_.ConsumeBool() ? b : Tensor(), Tensor(), in_.ConsumeBool(),
                                  value_arg(), value_arg()));
      }
    }
  }

  // Ops whose inputs random shapes seldom fit (convolution, pooling, losses with class indices,
  // normalisation, embedding), given inputs of the right ranks and sizes, floating and sometimes
  // requiring grad, with now and then an index out of range or an option out of its domain; the
  // result goes on the stack, and is sometimes differentiated at once.
  void well_formed() {
    const DType dtype = in_.ConsumeBool() ? Float32 : Float64;
    const Options o{.dtype = dtype, .requires_grad = in_.ConsumeBool()};
    const int64_t n = small(1, 3), c = small(1, 4), h = small(1, 7), w = small(1, 7);
    Tensor out;
    switch (small(0, 6)) {
      case 0: {
        const int64_t groups = in_.ConsumeBool() ? 1 : size_arg(2);
        const int64_t g = groups >= 1 && groups <= 4 ? groups : 1;  // a hostile count goes to conv2d only
        const int64_t oc = small(1, 4) * g;
        nn::Conv2dOptions opt;
        opt.stride = nn::Size2(small(1, 3), small(1, 3));
        opt.padding = nn::Size2(small(0, 2), small(0, 2));
        opt.dilation = nn::Size2(small(1, 2), small(1, 2));
        opt.groups = groups;
        if (rarely()) opt.padding = nn::Size2(size_arg(2), size_arg(2));
        if (rarely()) opt.stride = nn::Size2(size_arg(2), size_arg(2));
        const Tensor x = randn(in_.ConsumeBool() ? Shape{n, c * g, h, w} : Shape{c * g, h, w}, o);
        const Tensor weight = randn({oc, c, small(1, 3), small(1, 3)}, o);
        const Tensor bias = in_.ConsumeBool() ? randn({oc}, o) : Tensor();
        if (!conv_output_ok(x, weight.size(2), weight.size(3), opt.stride, opt.padding, opt.dilation)) return;
        out = F::conv2d(x, weight, bias, opt);
        break;
      }
      case 1: case 2: {
        const Tensor x = randn({n, c, h, w}, o);
        const nn::Size2 k(small(1, 3), small(1, 3));
        nn::Size2 pad(small(0, 1), small(0, 1)), dil(small(1, 2), small(1, 2));
        if (rarely()) pad = nn::Size2(size_arg(2), size_arg(2));
        const nn::Size2 stride(small(1, 3), small(1, 3));
        if (!conv_output_ok(x, k.h, k.w, stride, pad, dil)) return;
        out = in_.ConsumeBool()
                  ? F::max_pool2d(x, k, {.stride = in_.ConsumeBool() ? nn::PoolStride(stride) : nn::PoolStride(),
                                         .padding = pad, .dilation = dil})
                  : F::avg_pool2d(x, k, {.stride = stride, .padding = pad, .count_include_pad = in_.ConsumeBool()});
        break;
      }
      case 3: {
        const Tensor logits = randn({n, c}, o);
        std::vector<int64_t> t(static_cast<std::size_t>(n));
        for (int64_t& v : t) v = rarely() ? dim_arg() : small(0, c - 1);
        const Tensor targets = tensor(t, {n}, {.dtype = Int64});
        switch (small(0, 2)) {
          case 0: out = cross_entropy(logits, targets); break;
          case 1:
            out = F::cross_entropy(logits, targets, {.reduction = static_cast<nn::Reduction>(small(0, 2)),
                                                     .label_smoothing = rarely() ? value_arg() : small(0, 4) / 4.0});
            break;
          default: out = F::nll_loss(log_softmax(logits, 1), targets, {.reduction = static_cast<nn::Reduction>(small(0, 2))});
        }
        break;
      }
      case 4: {
        const Tensor x = randn({n, c, h}, o);
        Tensor rm = zeros({c}, {.dtype = dtype}), rv = ones({c}, {.dtype = dtype});
        const bool stats = in_.ConsumeBool();
        out = F::batch_norm(x, stats ? rm : Tensor(), stats ? rv : Tensor(), in_.ConsumeBool() ? randn({c}, o) : Tensor(),
                            in_.ConsumeBool() ? randn({c}, o) : Tensor(), in_.ConsumeBool(),
                            rarely() ? value_arg() : 0.1, rarely() ? value_arg() : 1e-5);
        break;
      }
      case 5: {
        const Tensor x = randn({n, c, w}, o);
        const Shape normalized = in_.ConsumeBool() ? Shape{w} : Shape{c, w};
        out = F::layer_norm(x, normalized, in_.ConsumeBool() ? randn(normalized, o) : Tensor(),
                            in_.ConsumeBool() ? randn(normalized, o) : Tensor(), rarely() ? value_arg() : 1e-5);
        break;
      }
      default: {
        const Tensor weight = randn({c + 1, w}, o);
        std::vector<int64_t> idx(static_cast<std::size_t>(n * h));
        for (int64_t& v : idx) v = rarely() ? dim_arg() : small(0, c);
        std::optional<int64_t> padding_idx;
        if (in_.ConsumeBool()) padding_idx = rarely() ? dim_arg() : small(0, c);
        out = F::embedding(tensor(idx, {n, h}, {.dtype = Int64}), weight, padding_idx);
      }
    }
    if (out.requires_grad() && in_.ConsumeBool()) (out * randn(out.shape(), {.dtype = out.dtype()})).sum().backward();
    push(out);
  }

  // Whether a window op's output, with the sizes asked for, is small enough to compute: the
  // harness cannot tell ahead which sizes the engine refuses, so it only skips legal-looking
  // requests whose output would be large. Hostile sizes still go through.
  bool conv_output_ok(const Tensor& x, int64_t kh, int64_t kw, nn::Size2 stride, nn::Size2 pad, nn::Size2 dil) {
    if (x.dim() < 2) return true;
    const auto out = [](int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) -> double {
      if (s <= 0 || p < 0 || d <= 0 || k <= 0) return 0;  // refused
      return (static_cast<double>(in) + 2.0 * p - static_cast<double>(d) * (k - 1) - 1) / s + 1;
    };
    const double oh = out(x.size(-2), kh, stride.h, pad.h, dil.h), ow = out(x.size(-1), kw, stride.w, pad.w, dil.w);
    const double work = std::max(oh, 1.0) * std::max(ow, 1.0) * static_cast<double>(x.numel()) * std::max<double>(kh, 1) *
                        std::max<double>(kw, 1);
    return safe_count(work) && safe_count(static_cast<double>(pad.h) * pad.w * x.numel());
  }

  void in_place() {
    Tensor& x = pick_ref();
    const Tensor y = pick();
    if (y.defined() && !small_broadcast(x, y)) return;
    switch (small(0, 9)) {
      case 0: if (y.defined()) x.add_(y); return;
      case 1: if (y.defined()) x.sub_(y); return;
      case 2: if (y.defined()) x.mul_(y); return;
      case 3: if (y.defined()) x.div_(y); return;
      case 4: x.add_(value_arg()); return;
      case 5: x.mul_(value_arg()); return;
      case 6: x.div_(value_arg()); return;
      case 7: x.zero_(); return;
      case 8: x.fill_(value_arg()); return;
      default: if (y.defined()) x.copy_(y); return;
    }
  }

  void autograd() {
    switch (small(0, 4)) {
      case 0: {
        // A fresh leaf: a floating copy of a stack tensor that requires grad.
        const Tensor t = pick();
        if (!t.defined()) return;
        Tensor leaf = t.detach().to(in_.ConsumeBool() ? Float64 : Float32).clone();
        leaf.requires_grad_();
        return push(leaf);
      }
      case 1: {
        const Tensor t = pick();
        if (!t.defined()) return;
        if (in_.ConsumeBool()) return t.sum().backward();
        return t.backward(pick(), in_.ConsumeBool());
      }
      case 2: {
        const Tensor y = pick(), x = pick();
        if (!y.defined() || !x.defined()) return;
        const std::vector<Tensor> g =
            grad({y.numel() == 1 ? y : y.sum()}, {x}, {.create_graph = in_.ConsumeBool(), .allow_unused = in_.ConsumeBool()});
        for (const Tensor& t : g) push(t);
        return;
      }
      case 3: {
        const Tensor t = pick();
        if (t.defined()) push(t.grad());
        return;
      }
      default: {
        NoGradGuard off;
        return unary();
      }
    }
  }

  void values() {
    const Tensor t = pick();
    if (!t.defined()) return;
    switch (small(0, 3)) {
      case 0: (void)t.item<double>(); return;
      case 1: (void)to_string(t); return;
      case 2: (void)t.to_vector<int64_t>(); return;
      default: (void)t.to_vector<float>(); return;
    }
  }

  FuzzedDataProvider& in_;
  std::vector<Tensor> stack_;
  const char* family_ = "";
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  Program(in).run();
  return 0;
}
