// SPDX-License-Identifier: MIT
#pragma once
#include "../backend.hpp"

namespace tapeflow::cpu {

/// The reference backend: host memory, strided loops, OpenBLAS GEMM. Float32 and Float64
/// everywhere (gradcheck needs float64), Int64 and Bool where the op takes them.
class CpuBackend final : public detail::Backend {
 public:
  Device device() const override { return Device::cpu(); }
  void* allocate(std::size_t nbytes) override;
  void deallocate(void* ptr, std::size_t nbytes) override;
  void copy_from_host(void* dst, const void* src, std::size_t nbytes) override;
  void copy_to_host(void* dst, const void* src, std::size_t nbytes) override;

  void unary(detail::UnaryKind kind, const detail::View& out, const detail::View& x) override;
  void binary(detail::BinaryKind kind, const detail::View& out, const detail::View& a,
              const detail::View& b) override;
  void where(const detail::View& out, const detail::View& cond, const detail::View& a,
             const detail::View& b) override;
  void copy(const detail::View& out, const detail::View& x) override;
  void fill(const detail::View& out, double value) override;
  void reduce(detail::ReduceKind kind, const detail::View& out, const detail::View& x,
              const bool* reduced) override;
  void matmul(const detail::View& out, const detail::View& a, const detail::View& b) override;
  void softmax(detail::SoftmaxKind kind, const detail::View& out, const detail::View& x,
               int dim) override;
  void cross_entropy(const detail::View& out, const detail::View& logits,
                     const detail::View& targets) override;
  void index_select(const detail::View& out, const detail::View& x, int dim,
                    const detail::View& index) override;
  void index_add(const detail::View& out, int dim, const detail::View& index,
                 const detail::View& src) override;
  void lstm_forward(const detail::View& y, const detail::View& gates, const detail::View& cell,
                    const detail::View& tanh_cell, const detail::View& xg, const detail::View& bias,
                    const detail::View& h0, const detail::View& c0, const detail::View& w_hh) override;
  void lstm_backward(const detail::View& dxg, const detail::View& dbias, const detail::View& dh0,
                     const detail::View& dc0, const detail::View& dw_hh, const detail::View& dy,
                     const detail::View& y, const detail::View& gates, const detail::View& cell,
                     const detail::View& tanh_cell, const detail::View& h0, const detail::View& c0,
                     const detail::View& w_hh) override;
  void im2col(const detail::View& out, const detail::View& x, const detail::Window2d& w,
              double extra_value) override;
  void col2im(const detail::View& out, const detail::View& cols, const detail::Window2d& w) override;
  void max_pool2d(const detail::View& out, const detail::View& argmax, const detail::View& x,
                  const detail::Window2d& w) override;
  void plane_gather(const detail::View& out, const detail::View& x, const detail::View& index) override;
  void plane_scatter_add(const detail::View& out, const detail::View& index, const detail::View& src) override;
  void sgd_update(const detail::View& p, const detail::View& grad, const detail::View& momentum_buffer,
                  bool first_step, const detail::SGDScalars& s) override;
  void adam_update(const detail::View& p, const detail::View& grad, const detail::View& exp_avg,
                   const detail::View& exp_avg_sq, const detail::View& max_exp_avg_sq,
                   const detail::AdamScalars& s) override;
  void rmsprop_update(const detail::View& p, const detail::View& grad, const detail::View& square_avg,
                      const detail::View& grad_avg, const detail::View& momentum_buffer,
                      const detail::RMSpropScalars& s) override;
  void adagrad_update(const detail::View& p, const detail::View& grad, const detail::View& sum,
                      const detail::AdagradScalars& s) override;
};

CpuBackend& cpu_backend();

/// Frees the large buffers the allocator keeps for reuse (allocator.cpp); it also does so
/// itself before reporting that memory ran out.
void release_cached_memory();
/// Bytes the allocator keeps idle for reuse.
std::size_t cached_memory_bytes();


}  // namespace tapeflow::cpu
