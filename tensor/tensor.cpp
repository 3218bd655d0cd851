// SPDX-License-Identifier: MIT
// Tensor's methods: metadata, autograd slots, and forwarders to the free functions in ops.hpp.
#include "tensor.hpp"

#include "../autograd/detail/node.hpp"
#include "../autograd/tape.hpp"
#include "detail/check.hpp"
#include "detail/kernels.hpp"
#include "detail/tensor_impl.hpp"
#include "ops.hpp"

namespace tapeflow {

using detail::TensorImpl;

Tensor::Tensor() = default;
Tensor::Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}
Tensor::~Tensor() = default;
Tensor::Tensor(const Tensor&) = default;
Tensor::Tensor(Tensor&&) noexcept = default;
Tensor& Tensor::operator=(const Tensor&) = default;
Tensor& Tensor::operator=(Tensor&&) noexcept = default;

namespace {
const TensorImpl& get(const Tensor& t, const char* what) {
  if (!t.defined())
    throw ValueError(std::string(what) + ": called on an undefined tensor (e.g. grad() before any backward)");
  return *t.impl();
}

// In-place writes may not rewrite history the tape depends on.
void check_inplace(const char* op, const Tensor& self, const Tensor* other) {
  get(self, op);
  if (other) get(*other, op);
  if (!is_grad_enabled()) return;
  const bool self_grad = self.requires_grad(), other_grad = other && other->requires_grad();
  TAPEFLOW_CHECK(!self_grad && !other_grad, AutogradError, op, "in-place operation on a tensor that ",
                 self_grad ? (self.is_leaf() ? "is a leaf requiring grad" : "was recorded on the tape")
                           : "would need to record a grad-requiring operand",
                 " (shape ", self.shape(), "); wrap it in NoGradGuard (as optimizers do) or use the "
                 "out-of-place op");
}
}  // namespace

const Shape& Tensor::shape() const { return get(*this, "shape").shape; }
const Shape& Tensor::strides() const { return get(*this, "strides").strides; }
int64_t Tensor::offset() const { return get(*this, "offset").offset; }
int64_t Tensor::size(int64_t d) const {
  // normalize_axis lets a 0-d tensor take axis 0 (for reductions); a 0-d shape has no size to read.
  TAPEFLOW_CHECK(dim() > 0, ShapeError, "size", "a 0-d tensor has no dimension ", d);
  return shape()[detail::kernel::normalize_axis("size", d, dim())];
}
int64_t Tensor::dim() const { return static_cast<int64_t>(get(*this, "dim").shape.size()); }
int64_t Tensor::numel() const { return get(*this, "numel").numel; }
DType Tensor::dtype() const { return get(*this, "dtype").dtype; }
Device Tensor::device() const { return get(*this, "device").device(); }
bool Tensor::is_contiguous() const { return get(*this, "is_contiguous").is_contiguous(); }
uint32_t Tensor::version() const { return get(*this, "version").storage->version; }
bool Tensor::shares_storage_with(const Tensor& o) const {
  return defined() && o.defined() && impl_->storage == o.impl()->storage;
}

bool Tensor::requires_grad() const { return get(*this, "requires_grad").requires_grad; }
Tensor& Tensor::requires_grad_(bool on) {
  const TensorImpl& i = get(*this, "requires_grad_");
  TAPEFLOW_CHECK(!i.grad_fn, AutogradError, "requires_grad_",
                 "only leaves can change requires_grad; this tensor was produced by ", grad_fn_name(),
                 " (use detach() to make a new leaf)");
  TAPEFLOW_CHECK(!on || is_floating(i.dtype), DTypeError, "requires_grad_",
                 "only floating tensors can require grad, got ", i.dtype);
  impl_->requires_grad = on;
  return *this;
}
bool Tensor::is_leaf() const { return !get(*this, "is_leaf").grad_fn; }
Tensor Tensor::grad() const { return get(*this, "grad").grad; }
void Tensor::set_grad(const Tensor& g) {
  const TensorImpl& i = get(*this, "set_grad");
  TAPEFLOW_CHECK(!g.defined() || g.shape() == i.shape, ShapeError, "set_grad", "gradient of shape ",
                 g.shape(), " for a tensor of shape ", i.shape);
  // Optimizers read the gradient as the parameter's dtype and device.
  TAPEFLOW_CHECK(!g.defined() || g.dtype() == i.dtype, DTypeError, "set_grad", "gradient of dtype ", g.dtype(),
                 " for a tensor of dtype ", i.dtype);
  TAPEFLOW_CHECK(!g.defined() || g.device() == i.device(), DeviceError, "set_grad", "gradient on ", g.device(),
                 " for a tensor on ", i.device());
  impl_->grad = g;
}
std::string Tensor::grad_fn_name() const {
  const TensorImpl& i = get(*this, "grad_fn_name");
  return i.grad_fn ? i.grad_fn->display_name() : std::string();
}
void Tensor::backward(const Tensor& gradient, std::optional<bool> retain_graph, bool create_graph) const {
  get(*this, "backward");
  std::vector<Tensor> seeds;
  if (gradient.defined()) seeds.push_back(gradient);
  tapeflow::backward({*this}, seeds, retain_graph, create_graph);
}
Tensor Tensor::detach() const {
  const TensorImpl& i = get(*this, "detach");
  return detail::make_view(*this, i.shape, i.strides, i.offset);
}

void Tensor::copy_to_host(void* dst, DType as) const {
  const TensorImpl& i = get(*this, "to_vector");
  Tensor src = i.is_contiguous() && i.dtype == as ? *this : detail::kernel::cast(*this, as);
  const TensorImpl& s = *src.impl();
  s.storage->backend->copy_to_host(dst, s.data(), static_cast<std::size_t>(s.numel) * element_size(as));
}
double Tensor::item_double() const {
  TAPEFLOW_CHECK(numel() == 1, ValueError, "item", "needs a tensor with one element, got shape ", shape());
  double v;
  copy_to_host(&v, DType::Float64);
  return v;
}
int64_t Tensor::item_int64() const {
  TAPEFLOW_CHECK(numel() == 1, ValueError, "item", "needs a tensor with one element, got shape ", shape());
  int64_t v;  // floating values convert as .to(Int64) does: truncated, saturating, NaN as 0
  copy_to_host(&v, DType::Int64);
  return v;
}

void* Tensor::data_ptr(DType expected) const {
  const TensorImpl& i = get(*this, "data_ptr");
  TAPEFLOW_CHECK(i.device().is_cpu(), DeviceError, "data_ptr",
                 "needs a CPU tensor, got one on ", i.device(), "; call .to(Device::cpu()) first");
  TAPEFLOW_CHECK(i.dtype == expected, DTypeError, "data_ptr", "asked for ", expected,
                 " but the tensor is ", i.dtype);
  return i.data();
}

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : tapeflow::clone(*this); }
Tensor Tensor::clone() const { return tapeflow::clone(*this); }

Tensor Tensor::reshape(const Shape& s) const { return tapeflow::reshape(*this, s); }
Tensor Tensor::view(const Shape& s) const { return tapeflow::view(*this, s); }
Tensor Tensor::flatten(int64_t a, int64_t b) const { return tapeflow::flatten(*this, a, b); }
Tensor Tensor::transpose(int64_t a, int64_t b) const { return tapeflow::transpose(*this, a, b); }
Tensor Tensor::t() const { return dim() < 2 ? *this : tapeflow::transpose(*this, 0, 1); }
Tensor Tensor::permute(const Shape& dims) const { return tapeflow::permute(*this, dims); }
Tensor Tensor::squeeze() const { return tapeflow::squeeze(*this); }
Tensor Tensor::squeeze(int64_t d) const { return tapeflow::squeeze(*this, d); }
Tensor Tensor::unsqueeze(int64_t d) const { return tapeflow::unsqueeze(*this, d); }
Tensor Tensor::expand(const Shape& s) const { return tapeflow::expand(*this, s); }
Tensor Tensor::slice(int64_t d, int64_t s, int64_t e, int64_t st) const { return tapeflow::slice(*this, d, s, e, st); }
Tensor Tensor::index_select(int64_t d, const Tensor& i) const { return tapeflow::index_select(*this, d, i); }

Tensor Tensor::sum() const { return tapeflow::sum(*this); }
Tensor Tensor::sum(const Axes& a, bool k) const { return tapeflow::sum(*this, a, k); }
Tensor Tensor::sum(int64_t a, bool k) const { return tapeflow::sum(*this, Axes{a}, k); }
Tensor Tensor::mean() const { return tapeflow::mean(*this); }
Tensor Tensor::mean(const Axes& a, bool k) const { return tapeflow::mean(*this, a, k); }
Tensor Tensor::mean(int64_t a, bool k) const { return tapeflow::mean(*this, Axes{a}, k); }
Tensor Tensor::max() const { return tapeflow::max(*this); }
Tensor Tensor::max(int64_t a, bool k) const { return tapeflow::max(*this, Axes{a}, k); }
Tensor Tensor::min() const { return tapeflow::min(*this); }
Tensor Tensor::min(int64_t a, bool k) const { return tapeflow::min(*this, Axes{a}, k); }
Tensor Tensor::argmax() const { return tapeflow::argmax(*this); }
Tensor Tensor::argmax(int64_t a, bool k) const { return tapeflow::argmax(*this, a, k); }
Tensor Tensor::argmin() const { return tapeflow::argmin(*this); }
Tensor Tensor::argmin(int64_t a, bool k) const { return tapeflow::argmin(*this, a, k); }

Tensor Tensor::neg() const { return tapeflow::neg(*this); }
Tensor Tensor::exp() const { return tapeflow::exp(*this); }
Tensor Tensor::log() const { return tapeflow::log(*this); }
Tensor Tensor::sqrt() const { return tapeflow::sqrt(*this); }
Tensor Tensor::abs() const { return tapeflow::abs(*this); }
Tensor Tensor::tanh() const { return tapeflow::tanh(*this); }
Tensor Tensor::sigmoid() const { return tapeflow::sigmoid(*this); }
Tensor Tensor::relu() const { return tapeflow::relu(*this); }
Tensor Tensor::pow(double e) const { return tapeflow::pow(*this, e); }
Tensor Tensor::pow(const Tensor& e) const { return tapeflow::pow(*this, e); }
Tensor Tensor::softmax(int64_t d) const { return tapeflow::softmax(*this, d); }
Tensor Tensor::log_softmax(int64_t d) const { return tapeflow::log_softmax(*this, d); }
Tensor Tensor::clamp(std::optional<double> lo, std::optional<double> hi) const { return tapeflow::clamp(*this, lo, hi); }
Tensor Tensor::matmul(const Tensor& o) const { return tapeflow::matmul(*this, o); }

namespace {
using detail::BinaryKind;
Tensor& inplace(Tensor& self, BinaryKind kind, const Tensor& other) {
  check_inplace(detail::binary_name(kind), self, &other);
  TAPEFLOW_CHECK(kind != BinaryKind::Div || is_floating(self.dtype()), DTypeError, "div_",
                 "in-place true division needs a floating tensor, got ", self.dtype());
  // The out-of-place result would have the promoted dtype; writing it into a narrower kind
  // (float into int64, anything into bool) would silently truncate, so it is refused as in PyTorch.
  const DType result = promote_types(self.dtype(), other.dtype());
  TAPEFLOW_CHECK(result == self.dtype() || (is_floating(result) && is_floating(self.dtype())), DTypeError,
                 detail::binary_name(kind), "in-place result of dtype ", result, " cannot be written into a ",
                 self.dtype(), " tensor without truncation; convert the tensor to ", result, " first");
  detail::kernel::binary_inplace(kind, self, other);
  return self;
}
Tensor scalar_for(const Tensor& self, double v) { return full({}, v, {.dtype = self.dtype(), .device = self.device()}); }
}  // namespace

Tensor& Tensor::add_(const Tensor& o) { return inplace(*this, BinaryKind::Add, o); }
Tensor& Tensor::add_(double o) { return inplace(*this, BinaryKind::Add, scalar_for(*this, o)); }
Tensor& Tensor::sub_(const Tensor& o) { return inplace(*this, BinaryKind::Sub, o); }
Tensor& Tensor::sub_(double o) { return inplace(*this, BinaryKind::Sub, scalar_for(*this, o)); }
Tensor& Tensor::mul_(const Tensor& o) { return inplace(*this, BinaryKind::Mul, o); }
Tensor& Tensor::mul_(double o) { return inplace(*this, BinaryKind::Mul, scalar_for(*this, o)); }
Tensor& Tensor::div_(const Tensor& o) { return inplace(*this, BinaryKind::Div, o); }
Tensor& Tensor::div_(double o) { return inplace(*this, BinaryKind::Div, scalar_for(*this, o)); }
Tensor& Tensor::zero_() { return fill_(0.0); }
Tensor& Tensor::fill_(double v) {
  check_inplace("fill_", *this, nullptr);
  detail::kernel::fill(*this, v);
  return *this;
}
Tensor& Tensor::copy_(const Tensor& src) {
  check_inplace("copy_", *this, &src);
  detail::kernel::copy_into(*this, src);
  return *this;
}

}  // namespace tapeflow
