// SPDX-License-Identifier: MIT
// Elementwise primitives: forward and backward side by side. Binary backward rules end in
// sum_to(g, input shape), which undoes broadcasting.
#include <cmath>

#include "../tensor/detail/check.hpp"
#include "../tensor/detail/kernels.hpp"
#include "detail/node.hpp"

namespace tapeflow {

using namespace detail;

namespace {

// Float-only math promotes integer inputs to Float32, as NumPy and LibTorch do.
Tensor as_floating(const Tensor& x) { return is_floating(x.dtype()) ? x : x.to(DType::Float32); }

Tensor unary_forward(Ctx&, UnaryKind kind, const Tensor& x) {
  TAPEFLOW_CHECK(x.dtype() != DType::Bool, DTypeError, unary_name(kind),
                 "expects a numeric tensor, got bool (convert with .to(Float32))");
  return kernel::unary(kind, x);
}

Tensor mask_of(const Tensor& bools, DType dtype) { return kernel::cast(bools, dtype); }

struct Neg {  // y = -x;  dx = -g
  static constexpr const char* name = "neg";
  static Tensor forward(Ctx& c, const Tensor& x) { return unary_forward(c, UnaryKind::Neg, x); }
  static Grads backward(const Ctx&, const Tensor& g) { return {-g}; }
};
struct Exp {  // dx = g * y
  static constexpr const char* name = "exp";
  static Tensor forward(Ctx& c, const Tensor& x) {
    Tensor y = kernel::unary(UnaryKind::Exp, x);
    c.save_output(y);
    return y;
  }
  static Grads backward(const Ctx& c, const Tensor& g) { return {g * c.saved(0)}; }
};
struct Log {  // dx = g / x
  static constexpr const char* name = "log";
  static Tensor forward(Ctx& c, const Tensor& x) {
    c.save(x);
    return kernel::unary(UnaryKind::Log, x);
  }
  static Grads backward(const Ctx& c, const Tensor& g) { return {g / c.saved(0)}; }
};
struct Sqrt {  // dx = g / (2 y)
  static constexpr const char* name = "sqrt";
  static Tensor forward(Ctx& c, const Tensor& x) {
    Tensor y = kernel::unary(UnaryKind::Sqrt, x);
    c.save_output(y);
    return y;
  }
  static Grads backward(const Ctx& c, const Tensor& g) { return {g / (2.0 * c.saved(0))}; }
};
struct Abs {  // dx = g * sign(x)
  static constexpr const char* name = "abs";
  static Tensor forward(Ctx& c, const Tensor& x) {
    c.save(x);
    return unary_forward(c, UnaryKind::Abs, x);
  }
  static Grads backward(const Ctx& c, const Tensor& g) { return {g * sign(c.saved(0))}; }
};
struct Tanh {  // dx = g * (1 - y^2)
  static constexpr const char* name = "tanh";
  static Tensor forward(Ctx& c, const Tensor& x) {
    Tensor y = kernel::unary(UnaryKind::Tanh, x);
    c.save_output(y);
    return y;
  }
  static Grads backward(const Ctx& c, const Tensor& g) {
    Tensor y = c.saved(0);
    return {g * (1.0 - y * y)};
  }
};
struct Sigmoid {  // dx = g * y * (1 - y)
  static constexpr const char* name = "sigmoid";
  static Tensor forward(Ctx& c, const Tensor& x) {
    Tensor y = kernel::unary(UnaryKind::Sigmoid, x);
    c.save_output(y);
    return y;
  }
  static Grads backward(const Ctx& c, const Tensor& g) {
    Tensor y = c.saved(0);
    return {g * y * (1.0 - y)};
  }
};
struct Erf {  // dx = g * 2/sqrt(pi) * exp(-x^2)
  static constexpr const char* name = "erf";
  static Tensor forward(Ctx& c, const Tensor& x) {
    c.save(x);
    return kernel::unary(UnaryKind::Erf, x);
  }
  static Grads backward(const Ctx& c, const Tensor& g) {
    Tensor x = c.saved(0);
    return {g * (1.1283791670955126 * exp(-(x * x)))};
  }
};
struct Relu {  // dx = g where y > 0, else 0  (the mask is constant, so relu'' = 0)
  static constexpr const char* name = "relu";
  static Tensor forward(Ctx& c, const Tensor& x) {
    Tensor y = unary_forward(c, UnaryKind::Relu, x);
    c.save_output(y);
    return y;
  }
  static Grads backward(const Ctx& c, const Tensor& g) {
    // A select, not g * mask: two passes instead of three, and a NaN or inf in g stays out of
    // the inputs ReLU cut off (as in PyTorch's threshold_backward).
    Tensor y = c.saved(0), zero = zeros({}, {.dtype = g.dtype(), .device = g.device()});
    return {where(kernel::binary(BinaryKind::Gt, y, zero), g, zero)};
  }
};

// Binary ops that broadcast keep their input shapes (when recording) for sum_to. Without a
// broadcast both gradients have the output's shape already, and copying two shapes would cost
// a tiny op two allocations.
void keep_shapes(Ctx& c, const Tensor& a, const Tensor& b) {
  if (!c.recording() || a.shape() == b.shape()) return;
  c.flag = true;
  c.shape[0] = a.shape();
  c.shape[1] = b.shape();
}
/// The gradient of input i of a binary op from g shaped like the output.
Tensor unbroadcast(const Ctx& c, const Tensor& g, int i) { return c.flag ? sum_to(g, c.shape[i]) : g; }

Tensor binary_forward(Ctx& c, BinaryKind kind, const Tensor& a, const Tensor& b) {
  keep_shapes(c, a, b);
  TAPEFLOW_CHECK(a.dtype() != DType::Bool, DTypeError, binary_name(kind),
                 "arithmetic on bool tensors is not supported; convert with .to(Float32) or .to(Int64)");
  return kernel::binary(kind, a, b);
}

struct Add {  // da = g, db = g
  static constexpr const char* name = "add";
  static Tensor forward(Ctx& c, const Tensor& a, const Tensor& b) { return binary_forward(c, BinaryKind::Add, a, b); }
  static Grads backward(const Ctx& c, const Tensor& g) { return {unbroadcast(c, g, 0), unbroadcast(c, g, 1)}; }
};
struct Sub {  // da = g, db = -g
  static constexpr const char* name = "sub";
  static Tensor forward(Ctx& c, const Tensor& a, const Tensor& b) { return binary_forward(c, BinaryKind::Sub, a, b); }
  static Grads backward(const Ctx& c, const Tensor& g) {
    Grads r;
    r.push_back(unbroadcast(c, g, 0));
    r.push_back(c.needs_grad(1) ? unbroadcast(c, -g, 1) : Tensor());
    return r;
  }
};
struct Mul {  // da = g b, db = g a
  static constexpr const char* name = "mul";
  static Tensor forward(Ctx& c, const Tensor& a, const Tensor& b) {
    c.save(a);
    c.save(b);
    return binary_forward(c, BinaryKind::Mul, a, b);
  }
  static Grads backward(const Ctx& c, const Tensor& g) {
    Grads r;
    r.push_back(c.needs_grad(0) ? unbroadcast(c, g * c.saved(1), 0) : Tensor());
    r.push_back(c.needs_grad(1) ? unbroadcast(c, g * c.saved(0), 1) : Tensor());
    return r;
  }
};
struct Div {  // da = g / b, db = -g a / b^2
  static constexpr const char* name = "div";
  static Tensor forward(Ctx& c, const Tensor& a, const Tensor& b) {
    c.save(a);
    c.save(b);
    return binary_forward(c, BinaryKind::Div, a, b);
  }
  static Grads backward(const Ctx& c, const Tensor& g) {
    Tensor b = c.saved(1);
    Grads r;
    r.push_back(c.needs_grad(0) ? unbroadcast(c, g / b, 0) : Tensor());
    r.push_back(c.needs_grad(1) ? unbroadcast(c, -g * c.saved(0) / (b * b), 1) : Tensor());
    return r;
  }
};
struct Pow {  // da = g b a^(b-1), db = g y log(a)
  static constexpr const char* name = "pow";
  static Tensor forward(Ctx& c, const Tensor& a, const Tensor& b) {
    c.save(a);
    c.save(b);
    Tensor y = binary_forward(c, BinaryKind::Pow, a, b);
    c.save_output(y);
    return y;
  }
  static Grads backward(const Ctx& c, const Tensor& g) {
    Tensor a = c.saved(0), b = c.saved(1);
    Grads r;
    r.push_back(c.needs_grad(0) ? unbroadcast(c, g * b * pow(a, b - 1.0), 0) : Tensor());
    r.push_back(c.needs_grad(1) ? unbroadcast(c, g * c.saved(2) * log(a), 1) : Tensor());
    return r;
  }
};
// Ties split the gradient in half, so maximum(x, x) still differentiates to 1.
template <BinaryKind Kind, BinaryKind Wins>
struct Extremum {  // da = g [a wins] (+ g/2 on ties), db = g - da
  static constexpr const char* name = Kind == BinaryKind::Maximum ? "maximum" : "minimum";
  static Tensor forward(Ctx& c, const Tensor& a, const Tensor& b) {
    c.save(a);
    c.save(b);
    return binary_forward(c, Kind, a, b);
  }
  static Grads backward(const Ctx& c, const Tensor& g) {
    Tensor a = c.saved(0), b = c.saved(1);
    Tensor wa = mask_of(kernel::binary(Wins, a, b), g.dtype()) +
                0.5 * mask_of(kernel::binary(BinaryKind::Eq, a, b), g.dtype());
    Grads r;
    r.push_back(c.needs_grad(0) ? unbroadcast(c, g * wa, 0) : Tensor());
    r.push_back(c.needs_grad(1) ? unbroadcast(c, g * (1.0 - wa), 1) : Tensor());
    return r;
  }
};
using Maximum = Extremum<BinaryKind::Maximum, BinaryKind::Gt>;
using Minimum = Extremum<BinaryKind::Minimum, BinaryKind::Lt>;

struct Where {  // da = g [cond], db = g [!cond]
  static constexpr const char* name = "where";
  static Tensor forward(Ctx& c, const Tensor& cond, const Tensor& a, const Tensor& b) {
    if (c.recording()) {
      c.shape[1] = a.shape();
      c.shape[2] = b.shape();
    }
    c.save(cond);
    return kernel::where(cond, a, b);
  }
  static Grads backward(const Ctx& c, const Tensor& g) {
    Tensor cond = c.saved(0), zero = zeros({}, {.dtype = g.dtype(), .device = g.device()});
    Grads r;
    r.push_back(Tensor());
    r.push_back(c.needs_grad(1) ? sum_to(where(cond, g, zero), c.shape[1]) : Tensor());
    r.push_back(c.needs_grad(2) ? sum_to(where(cond, zero, g), c.shape[2]) : Tensor());
    return r;
  }
};

struct Cast {  // dx = g converted back
  static constexpr const char* name = "to";
  static Tensor forward(Ctx& c, const Tensor& x, DType dtype) {
    c.i0 = static_cast<int64_t>(x.dtype());
    return kernel::cast(x, dtype);
  }
  static Grads backward(const Ctx& c, const Tensor& g) { return {g.to(static_cast<DType>(c.i0))}; }
};

// Brings both operands to their common dtype, through the (differentiable) cast.
std::pair<Tensor, Tensor> promoted(const Tensor& a, const Tensor& b, bool need_floating = false) {
  DType t = promote_types(a.dtype(), b.dtype());
  if (need_floating && !is_floating(t)) t = DType::Float32;
  return {a.dtype() == t ? a : a.to(t), b.dtype() == t ? b : b.to(t)};
}

void check_defined(const char* op, const Tensor& t) {
  TAPEFLOW_CHECK(t.defined(), ValueError, op, "got an undefined tensor");
}

// A C++ scalar takes the tensor's dtype (integers meeting a fractional scalar become Float32).
Tensor scalar_like(const Tensor& t, double v) {
  check_defined("scalar", t);
  DType d = t.dtype();
  // NOTE: tested without a cast: converting a double outside int64's range (or NaN) is undefined.
  const bool int64_value = v >= -0x1p63 && v < 0x1p63 && v == std::trunc(v);
  if (!is_floating(d) && !int64_value) d = DType::Float32;
  if (d == DType::Bool) d = DType::Int64;
  return full({}, v, {.dtype = d, .device = t.device()});
}

Tensor compare(BinaryKind kind, const Tensor& a, const Tensor& b) {
  check_defined(binary_name(kind), a);
  check_defined(binary_name(kind), b);
  auto [x, y] = promoted(a, b);
  return kernel::binary(kind, x, y);
}

}  // namespace

Tensor neg(const Tensor& x) { return apply1<Neg>(x); }
Tensor exp(const Tensor& x) { return apply1<Exp>(as_floating(x)); }
Tensor log(const Tensor& x) { return apply1<Log>(as_floating(x)); }
Tensor sqrt(const Tensor& x) { return apply1<Sqrt>(as_floating(x)); }
Tensor abs(const Tensor& x) { return apply1<Abs>(x); }
Tensor tanh(const Tensor& x) { return apply1<Tanh>(as_floating(x)); }
Tensor sigmoid(const Tensor& x) { return apply1<Sigmoid>(as_floating(x)); }
Tensor relu(const Tensor& x) { return apply1<Relu>(x); }
Tensor erf(const Tensor& x) { return apply1<Erf>(as_floating(x)); }

Tensor add(const Tensor& a, const Tensor& b) {
  auto [x, y] = promoted(a, b);
  return apply2<Add>(x, y);
}
Tensor sub(const Tensor& a, const Tensor& b) {
  auto [x, y] = promoted(a, b);
  return apply2<Sub>(x, y);
}
Tensor mul(const Tensor& a, const Tensor& b) {
  auto [x, y] = promoted(a, b);
  return apply2<Mul>(x, y);
}
Tensor div(const Tensor& a, const Tensor& b) {
  auto [x, y] = promoted(a, b, true);
  return apply2<Div>(x, y);
}
Tensor pow(const Tensor& a, const Tensor& b) {
  auto [x, y] = promoted(a, b, true);
  return apply2<Pow>(x, y);
}
Tensor pow(const Tensor& a, double exponent) { return pow(a, scalar_like(as_floating(a), exponent)); }
Tensor maximum(const Tensor& a, const Tensor& b) {
  auto [x, y] = promoted(a, b);
  return apply2<Maximum>(x, y);
}
Tensor minimum(const Tensor& a, const Tensor& b) {
  auto [x, y] = promoted(a, b);
  return apply2<Minimum>(x, y);
}
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  TAPEFLOW_CHECK(cond.dtype() == DType::Bool, DTypeError, "where", "condition must be bool, got ",
                 cond.dtype());
  auto [x, y] = promoted(a, b);
  return apply3<Where>(cond, x, y);
}

Tensor eq(const Tensor& a, const Tensor& b) { return compare(BinaryKind::Eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare(BinaryKind::Ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare(BinaryKind::Lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return compare(BinaryKind::Le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare(BinaryKind::Gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare(BinaryKind::Ge, a, b); }

Tensor Tensor::to(DType dtype) const {
  check_defined("to", *this);
  if (dtype == this->dtype()) return *this;
  // Only floating-to-floating conversions carry gradient.
  if (is_floating(dtype) && is_floating(this->dtype())) return apply1<Cast>(*this, dtype);
  return kernel::cast(*this, dtype);
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator+(const Tensor& a, double b) { return add(a, scalar_like(a, b)); }
Tensor operator-(const Tensor& a, double b) { return sub(a, scalar_like(a, b)); }
Tensor operator*(const Tensor& a, double b) { return mul(a, scalar_like(a, b)); }
Tensor operator/(const Tensor& a, double b) { return div(a, scalar_like(a, b)); }
Tensor operator+(double a, const Tensor& b) { return add(scalar_like(b, a), b); }
Tensor operator-(double a, const Tensor& b) { return sub(scalar_like(b, a), b); }
Tensor operator*(double a, const Tensor& b) { return mul(scalar_like(b, a), b); }
Tensor operator/(double a, const Tensor& b) { return div(scalar_like(b, a), b); }
Tensor operator==(const Tensor& a, const Tensor& b) { return eq(a, b); }
Tensor operator!=(const Tensor& a, const Tensor& b) { return ne(a, b); }
Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
Tensor operator==(const Tensor& a, double b) { return eq(a, scalar_like(a, b)); }
Tensor operator!=(const Tensor& a, double b) { return ne(a, scalar_like(a, b)); }
Tensor operator<(const Tensor& a, double b) { return lt(a, scalar_like(a, b)); }
Tensor operator<=(const Tensor& a, double b) { return le(a, scalar_like(a, b)); }
Tensor operator>(const Tensor& a, double b) { return gt(a, scalar_like(a, b)); }
Tensor operator>=(const Tensor& a, double b) { return ge(a, scalar_like(a, b)); }

}  // namespace tapeflow
