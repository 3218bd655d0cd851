// SPDX-License-Identifier: MIT
// The seam between tensors and kernels. A backend knows buffers, shapes, strides and dtypes,
// nothing of autograd. One virtual per op family: a new op is a new enum value (ops.def) and a
// `case` in each backend, never a new virtual.
#pragma once
#include <cstddef>
#include <cstdint>

#include "../tensor/device.hpp"
#include "../tensor/dtype.hpp"

namespace tapeflow::detail {

enum class UnaryKind : uint8_t {
#define UNARY(name, str, domain) name,
#include "../tensor/detail/ops.def"
};
enum class BinaryKind : uint8_t {
#define BINARY(name, str, domain) name,
#define COMPARE(name, str) name,
#include "../tensor/detail/ops.def"
};
enum class ReduceKind : uint8_t { Sum, Max, Min, ArgMax, ArgMin };
enum class SoftmaxKind : uint8_t { Softmax, LogSoftmax };

const char* unary_name(UnaryKind k);
const char* binary_name(BinaryKind k);
bool is_comparison(BinaryKind k);

/// A strided operand as kernels see it: `data` already points at element 0 (offset applied);
/// shape and strides (in elements) are borrowed, valid for the call only. Operands of one
/// elementwise call all have the output's rank and shape (inputs broadcast with stride 0).
struct View {
  void* data;
  DType dtype;
  int rank;
  const int64_t* shape;
  const int64_t* strides;

  int64_t numel() const { return product(0, rank); }
  /// The operand seen as [outer(dim), shape[dim], inner(dim)] (softmax, indexing along dim).
  int64_t outer(int dim) const { return product(0, dim); }
  int64_t inner(int dim) const { return product(dim + 1, rank); }

 private:
  int64_t product(int from, int to) const {
    int64_t n = 1;
    for (int i = from; i < to; ++i) n *= shape[i];
    return n;
  }
};

/// A 2-d sliding window over x [N, C, H, W] (conv2d's im2col, pooling): kernel, stride,
/// padding and dilation per axis, and the output size they give.
struct Window2d {
  int64_t kh, kw, sh, sw, ph, pw, dh, dw, oh, ow;
};

/// The scalars of one SGD step on one parameter, as SGD::step combines them (optim/).
struct SGDScalars {
  double lr, momentum, dampening, weight_decay;
  bool nesterov;
};

/// The scalars of one Adam or AdamW step on one parameter, as Adam::step combines them.
struct AdamScalars {
  double beta1, beta2, eps;
  double weight_decay;  ///< L2 term added to the gradient (Adam); 0 for none
  double decay_factor;  ///< p is first scaled by this (AdamW's 1 - lr·wd); 1 for none
  double bias_correction2_sqrt;
  double step_size;  ///< lr / bias_correction1
};

/// The scalars of one RMSprop step on one parameter.
struct RMSpropScalars {
  double lr, alpha, eps, weight_decay, momentum;
};

/// The scalars of one Adagrad step on one parameter.
struct AdagradScalars {
  double lr;  ///< this step's rate: lr / (1 + (t - 1)·lr_decay)
  double weight_decay, eps;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;

  // memory
  virtual void* allocate(std::size_t nbytes) = 0;
  virtual void deallocate(void* ptr, std::size_t nbytes) = 0;
  virtual void copy_from_host(void* dst, const void* src, std::size_t nbytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, std::size_t nbytes) = 0;

  // families. `out` is freshly allocated and contiguous unless noted.
  virtual void unary(UnaryKind kind, const View& out, const View& x) = 0;
  /// Comparisons write Bool; the others write the inputs' dtype. `out` may alias `a` (in place).
  virtual void binary(BinaryKind kind, const View& out, const View& a, const View& b) = 0;
  virtual void where(const View& out, const View& cond, const View& a, const View& b) = 0;
  /// Strided copy with dtype conversion; `out` may be any strided view (copy_, contiguous, to).
  virtual void copy(const View& out, const View& x) = 0;
  virtual void fill(const View& out, double value) = 0;
  /// `reduced[d]` marks reduced dims; out has x's rank with size 1 there (keepdim layout).
  virtual void reduce(ReduceKind kind, const View& out, const View& x, const bool* reduced) = 0;
  /// Batched C = A·B: a [..., m, k], b [..., k, n], out [..., m, n] contiguous; batch dims
  /// already broadcast to out's (stride 0 where repeated).
  virtual void matmul(const View& out, const View& a, const View& b) = 0;
  /// Softmax or log-softmax along `dim` of a contiguous x.
  virtual void softmax(SoftmaxKind kind, const View& out, const View& x, int dim) = 0;
  /// out[0] = mean_i (logsumexp(logits[i]) - logits[i, targets[i]]); logits [N, C] contiguous.
  virtual void cross_entropy(const View& out, const View& logits, const View& targets) = 0;
  /// out = x gathered along dim at index (Int64, 1-d).
  virtual void index_select(const View& out, const View& x, int dim, const View& index) = 0;
  /// out (zeroed by the caller) += src scattered along dim at index: index_select's adjoint.
  virtual void index_add(const View& out, int dim, const View& index, const View& src) = 0;
  /// One LSTM layer over T steps, gates in PyTorch's order i, f, g, o; every operand contiguous,
  /// one floating dtype. xg [T, B, 4H] is the input's share of the gates, bias [4H] is added to
  /// every row (none when bias.data is null), h0 and c0 [B, H], w_hh [4H, H]. Writes y
  /// [T+1, B, H] (h_1..h_T, then c_T) and what lstm_backward needs: gates [T, B, 4H] after
  /// their activations, cell [T, B, H] (c_t) and tanh_cell [T, B, H].
  virtual void lstm_forward(const View& y, const View& gates, const View& cell, const View& tanh_cell,
                            const View& xg, const View& bias, const View& h0, const View& c0,
                            const View& w_hh) = 0;
  /// lstm_forward's adjoint for dy [T+1, B, H] (contiguous): writes dxg [T, B, 4H], dh0, dc0
  /// [B, H] and, unless their data is null, dbias [4H] and dw_hh [4H, H] (all overwritten).
  virtual void lstm_backward(const View& dxg, const View& dbias, const View& dh0, const View& dc0,
                             const View& dw_hh, const View& dy, const View& y, const View& gates,
                             const View& cell, const View& tanh_cell, const View& h0, const View& c0,
                             const View& w_hh) = 0;
  /// im2col: x [N, C, H, W] contiguous -> out [C·kh·kw (+1), N·OH·OW], row (c, i, j), column
  /// (n, oh, ow); padding taps are 0; an extra last row, when out has one, is `extra_value`.
  virtual void im2col(const View& out, const View& x, const Window2d& w, double extra_value) = 0;
  /// im2col's adjoint: out [N, C, H, W] = each column entry added into the input element it was
  /// taken from (an extra last row of cols is ignored).
  virtual void col2im(const View& out, const View& cols, const Window2d& w) = 0;
  /// Max pooling of contiguous x [N, C, H, W] (padding taps skipped): out [N, C, OH, OW] and
  /// argmax (Int64, same shape): position in its [H, W] plane of each window's first maximum; a
  /// (dilated) window of padding only gives -inf and argmax -1.
  virtual void max_pool2d(const View& out, const View& argmax, const View& x, const Window2d& w) = 0;
  /// out [N, C, K...] = each [H, W] plane of x gathered at index (Int64, out's shape); 0 where
  /// the index is -1.
  virtual void plane_gather(const View& out, const View& x, const View& index) = 0;
  /// out [N, C, H, W] = zeros with src [N, C, K...] added at index per plane (index -1: not
  /// added): plane_gather's adjoint.
  virtual void plane_scatter_add(const View& out, const View& index, const View& src) = 0;

  // optimizer updates: optim/'s fused path, one pass over a parameter instead of a dozen tensor
  // ops. Every operand is contiguous, of p's floating dtype and shape, in a buffer of its own;
  // an absent one has null data. The float operations and their order are those of the
  // optimizer's tensor-op formulation, each rounded on its own (no fused multiply-add), so
  // both paths give the same bits.
  /// SGD: p -= lr·d, with d the gradient plus weight decay, through the momentum buffer when
  /// it has data (`first_step`: the buffer is set to d rather than updated).
  virtual void sgd_update(const View& p, const View& grad, const View& momentum_buffer, bool first_step,
                          const SGDScalars& s) = 0;
  /// Adam/AdamW: updates p, exp_avg, exp_avg_sq and, when it has data, max_exp_avg_sq (AMSGrad).
  virtual void adam_update(const View& p, const View& grad, const View& exp_avg, const View& exp_avg_sq,
                           const View& max_exp_avg_sq, const AdamScalars& s) = 0;
  /// RMSprop: updates p and square_avg, grad_avg when it has data (centered) and
  /// momentum_buffer when it has data.
  virtual void rmsprop_update(const View& p, const View& grad, const View& square_avg, const View& grad_avg,
                              const View& momentum_buffer, const RMSpropScalars& s) = 0;
  /// Adagrad: updates p and sum.
  virtual void adagrad_update(const View& p, const View& grad, const View& sum, const AdagradScalars& s) = 0;
};

/// The backend serving `device`; throws DeviceError when this build or machine lacks it.
Backend& backend_for(Device device);

}  // namespace tapeflow::detail
