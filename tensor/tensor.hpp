// SPDX-License-Identifier: MIT
#pragma once
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "device.hpp"
#include "dtype.hpp"
#include "error.hpp"
#include "shape.hpp"

namespace tapeflow {

namespace detail {
struct TensorImpl;
}

/// Creation options: `zeros({2, 3}, {.dtype = Float64, .requires_grad = true})`.
struct Options {
  std::optional<DType> dtype = std::nullopt;  ///< empty: the factory's default (Float32, or the values' type)
  Device device = Device::cpu();
  bool requires_grad = false;
};

/// Axes of a reduction; negative axes count from the end, empty means all axes.
using Axes = std::vector<int64_t>;

/// A tensor: a cheap, shared handle to storage plus shape, strides, offset, dtype and device.
/// Copies share data (like LibTorch); use clone() for a deep copy. A default-constructed
/// Tensor is undefined (`defined() == false`), as is `grad()` before any backward.
class Tensor {
 public:
  Tensor();
  explicit Tensor(std::shared_ptr<detail::TensorImpl> impl);
  ~Tensor();
  Tensor(const Tensor&);
  Tensor(Tensor&&) noexcept;
  Tensor& operator=(const Tensor&);
  Tensor& operator=(Tensor&&) noexcept;

  // --- metadata ---------------------------------------------------------
  /// False for an empty handle.
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  /// Strides in elements (not bytes).
  const Shape& strides() const;
  /// Offset of element 0 into the storage, in elements.
  int64_t offset() const;
  /// Size of dimension `dim` (negative counts from the end).
  int64_t size(int64_t dim) const;
  int64_t dim() const;
  int64_t numel() const;
  DType dtype() const;
  Device device() const;
  bool is_contiguous() const;
  /// Bumped by every in-place write to the storage; shared by all views of it.
  uint32_t version() const;
  /// Whether two handles view the same storage.
  bool shares_storage_with(const Tensor& other) const;

  // --- autograd ----------------------------------------------------------
  /// True for leaves marked with requires_grad_() and for results recorded on the tape.
  bool requires_grad() const;
  /// Marks a leaf as requiring grad; throws AutogradError on a recorded result.
  Tensor& requires_grad_(bool requires_grad = true);
  /// True when the tensor was not produced by a recorded op.
  bool is_leaf() const;
  /// Accumulated gradient of a leaf (undefined until a backward reaches it).
  Tensor grad() const;
  /// Replaces (or with an undefined tensor, clears) the accumulated gradient.
  void set_grad(const Tensor& grad);
  /// Name of the op that produced this tensor ("layer1/matmul"), or "" for a leaf.
  std::string grad_fn_name() const;
  /// Back-propagates from this tensor; `gradient` may be omitted for a one-element tensor.
  void backward(const Tensor& gradient = Tensor(), std::optional<bool> retain_graph = std::nullopt,
                bool create_graph = false) const;
  /// Same storage, cut from the tape: the result is a leaf that does not require grad.
  Tensor detach() const;

  // --- values --------------------------------------------------------------
  /// The single value of a one-element tensor, converted to T; throws ValueError otherwise.
  template <typename T>
  T item() const {
    if constexpr (std::is_floating_point_v<T>) return static_cast<T>(item_double());
    else return static_cast<T>(item_int64());
  }
  /// All values in row-major order, converted to T (float, double, int64_t, int, bool...).
  template <typename T>
  std::vector<T> to_vector() const {
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> ||
                  std::is_same_v<T, int64_t>) {
      std::vector<T> out(static_cast<std::size_t>(numel()));
      copy_to_host(out.data(), dtype_of<T>());
      return out;
    } else {
      auto wide = to_vector<std::conditional_t<std::is_floating_point_v<T>, double, int64_t>>();
      return std::vector<T>(wide.begin(), wide.end());
    }
  }
  /// Copies all values, row-major, into `dst` as elements of type `as`.
  void copy_to_host(void* dst, DType as) const;
  double item_double() const;
  int64_t item_int64() const;
  /// Address of element 0 in host memory, for zero-copy interop (`tapeflow/xtensor.hpp`).
  /// Throws DeviceError off the CPU and DTypeError unless T matches dtype(). Mind strides()
  /// and offset() for non-contiguous views. Writes through the pointer bypass the version
  /// counter, as with LibTorch's data_ptr: do not change a tensor the tape has saved.
  template <typename T>
  T* data_ptr() const {
    return static_cast<T*>(data_ptr(dtype_of<std::remove_const_t<T>>()));
  }
  /// Untyped data_ptr: checks that dtype() is `expected`.
  void* data_ptr(DType expected) const;

  // --- conversion and layout ----------------------------------------------
  Tensor to(Device device) const;
  /// Differentiable between floating dtypes.
  Tensor to(DType dtype) const;
  /// This tensor when already contiguous, otherwise a contiguous copy.
  Tensor contiguous() const;
  /// Deep copy (differentiable).
  Tensor clone() const;

  // --- views (share storage; see ops.hpp for the rules) -------------------
  Tensor reshape(const Shape& shape) const;
  Tensor view(const Shape& shape) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  /// Transpose of a matrix (dims 0 and 1; a 1-d tensor is returned as is).
  Tensor t() const;
  Tensor permute(const Shape& dims) const;
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor expand(const Shape& shape) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor index_select(int64_t dim, const Tensor& index) const;

  // --- reductions ----------------------------------------------------------
  Tensor sum() const;
  Tensor sum(const Axes& axes, bool keepdim = false) const;
  Tensor sum(int64_t axis, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(const Axes& axes, bool keepdim = false) const;
  Tensor mean(int64_t axis, bool keepdim = false) const;
  Tensor max() const;
  Tensor max(int64_t axis, bool keepdim = false) const;
  Tensor min() const;
  Tensor min(int64_t axis, bool keepdim = false) const;
  Tensor argmax() const;
  Tensor argmax(int64_t axis, bool keepdim = false) const;
  Tensor argmin() const;
  Tensor argmin(int64_t axis, bool keepdim = false) const;

  // --- math ------------------------------------------------------------------
  Tensor neg() const;
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor abs() const;
  Tensor tanh() const;
  Tensor sigmoid() const;
  Tensor relu() const;
  Tensor pow(double exponent) const;
  Tensor pow(const Tensor& exponent) const;
  Tensor softmax(int64_t dim = -1) const;
  Tensor log_softmax(int64_t dim = -1) const;
  Tensor clamp(std::optional<double> min, std::optional<double> max) const;
  Tensor matmul(const Tensor& other) const;

  // --- in place (bump the version; refused while recording a grad-requiring tensor) ---
  Tensor& add_(const Tensor& other);
  Tensor& add_(double other);
  Tensor& sub_(const Tensor& other);
  Tensor& sub_(double other);
  Tensor& mul_(const Tensor& other);
  Tensor& mul_(double other);
  Tensor& div_(const Tensor& other);
  Tensor& div_(double other);
  Tensor& zero_();
  Tensor& fill_(double value);
  /// Copies `src` (broadcast to this shape, converted to this dtype) into this tensor.
  Tensor& copy_(const Tensor& src);

  /// The implementation, for tapeflow's own layers.
  detail::TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<detail::TensorImpl>& impl_ptr() const { return impl_; }

 private:
  std::shared_ptr<detail::TensorImpl> impl_;
};

/// NumPy-style printing: values (elided past 1000 elements), shape and dtype.
std::ostream& operator<<(std::ostream& os, const Tensor& t);
/// Same text as operator<<.
std::string to_string(const Tensor& t);

// --- creation ----------------------------------------------------------------------
// Shapes default to the number of values; Options.dtype converts the values.

Tensor tensor(std::initializer_list<float> values, const Shape& shape = {}, const Options& options = {});
Tensor tensor(std::initializer_list<double> values, const Shape& shape = {}, const Options& options = {});
Tensor tensor(std::initializer_list<int> values, const Shape& shape = {}, const Options& options = {});
Tensor tensor(std::initializer_list<int64_t> values, const Shape& shape = {}, const Options& options = {});
Tensor tensor(std::initializer_list<bool> values, const Shape& shape = {}, const Options& options = {});
Tensor tensor(const std::vector<float>& values, const Shape& shape = {}, const Options& options = {});
Tensor tensor(const std::vector<double>& values, const Shape& shape = {}, const Options& options = {});
Tensor tensor(const std::vector<int64_t>& values, const Shape& shape = {}, const Options& options = {});
/// A 0-d tensor holding `value` (Float32 unless options say otherwise).
Tensor scalar_tensor(double value, const Options& options = {});
/// From raw host memory holding numel(shape) elements of `dtype`, copied.
Tensor from_blob(const void* data, const Shape& shape, DType dtype, const Options& options = {});

Tensor zeros(const Shape& shape, const Options& options = {});
Tensor ones(const Shape& shape, const Options& options = {});
Tensor full(const Shape& shape, double value, const Options& options = {});
/// Uninitialised storage (for outputs that are fully overwritten).
Tensor empty(const Shape& shape, const Options& options = {});
/// Values start, start+step, ... below end (Float32 by default; pass .dtype = Int64 for indices).
Tensor arange(double end, const Options& options = {});
Tensor arange(double start, double end, double step = 1.0, const Options& options = {});
/// `steps` values evenly spaced from start to end inclusive.
Tensor linspace(double start, double end, int64_t steps, const Options& options = {});
/// n×m identity (m defaults to n).
Tensor eye(int64_t n, int64_t m = -1, const Options& options = {});
Tensor zeros_like(const Tensor& t, const Options& options = {});
Tensor ones_like(const Tensor& t, const Options& options = {});
Tensor full_like(const Tensor& t, double value, const Options& options = {});
Tensor empty_like(const Tensor& t, const Options& options = {});

// --- random (one generator per process, reset by manual_seed) -----------------------------
/// Seeds the generator behind every random factory; the same seed gives the same values.
void manual_seed(uint64_t seed);
/// The generator's whole state as text, for set_rng_state (testing::SeedGuard restores it).
std::string get_rng_state();
/// Restores a state from get_rng_state; throws ValueError on anything else.
void set_rng_state(const std::string& state);
/// Uniform on [0, 1).
Tensor rand(const Shape& shape, const Options& options = {});
/// Standard normal.
Tensor randn(const Shape& shape, const Options& options = {});
/// Uniform on [low, high).
Tensor uniform(const Shape& shape, double low, double high, const Options& options = {});
Tensor normal(const Shape& shape, double mean, double stddev, const Options& options = {});
/// Normal with values farther than 2 standard deviations from the mean redrawn.
Tensor truncated_normal(const Shape& shape, double mean = 0.0, double stddev = 1.0,
                        const Options& options = {});
/// Uniform integers in [low, high), Int64 unless options say otherwise.
Tensor randint(int64_t low, int64_t high, const Shape& shape, const Options& options = {});

}  // namespace tapeflow
