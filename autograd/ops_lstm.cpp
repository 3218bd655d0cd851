// SPDX-License-Identifier: MIT
// The LSTM layer as one op. Composed from matmul, sigmoid, tanh, slice and *, one step records
// about fifteen entries and allocates each result, and backward replays them all, with T small
// GEMMs for W_hh's gradient: for long sequences that bookkeeping costs more than the math.
// As one op, the layer records once and its backward is one kernel (backends' lstm_backward).
#include "../tensor/detail/check.hpp"
#include "../tensor/detail/kernels.hpp"
#include "detail/lstm.hpp"
#include "detail/node.hpp"
#include "tape.hpp"

namespace tapeflow {

using namespace detail;

namespace {

Tensor fresh(const Shape& shape, const Tensor& like) { return make_tensor(shape, like.dtype(), like.device(), "lstm"); }

Tensor step(const Tensor& x, int64_t t) {  // [T, ...] -> its t-th [...] (a view)
  Shape s(x.shape().begin() + 1, x.shape().end());
  return x.slice(0, t, t + 1).reshape(s);
}

View view_or_none(const Tensor& t, DType dtype) {
  return t.defined() ? impl_of(t).view() : View{nullptr, dtype, 0, nullptr, nullptr};
}

// Inputs (and edges) 0 xg, 1 h0, 2 c0, 3 w_hh, 4 bias (when there is one; c.flag says so).
// Saved: 0-3 those inputs, 4 gates, 5 cell, 6 tanh_cell, 7 y (the output), 8 bias.
struct LstmLayer {
  static constexpr const char* name = "lstm";

  static Tensor forward(Ctx& c, const Tensor& xg, const Tensor& h0, const Tensor& c0, const Tensor& w,
                        const Tensor& bias) {
    const int64_t steps = xg.shape()[0], batch = xg.shape()[1], hs = h0.shape()[1];
    Tensor y = fresh({steps + 1, batch, hs}, xg);
    Tensor gates = fresh(xg.shape(), xg), cell = fresh({steps, batch, hs}, xg), tcell = fresh(cell.shape(), xg);
    impl_of(xg).storage->backend->lstm_forward(impl_of(y).view(), impl_of(gates).view(), impl_of(cell).view(),
                                               impl_of(tcell).view(), impl_of(xg).view(),
                                               view_or_none(bias, xg.dtype()), impl_of(h0).view(),
                                               impl_of(c0).view(), impl_of(w).view());
    for (const Tensor* t : std::initializer_list<const Tensor*>{&xg, &h0, &c0, &w, &gates, &cell, &tcell})
      c.save(*t);
    c.save_output(y);
    c.flag = bias.defined();
    if (c.flag) c.save(bias);
    return y;
  }

  static Grads backward(const Ctx& c, const Tensor& g) {
    // NOTE: the kernel's backward is not recorded; while create_graph records, the same rule
    // runs as differentiable ops instead, so second derivatives stay available.
    if (tape_state().grad_enabled) return recorded_backward(c, g);
    Tensor xg = c.saved(0), h0 = c.saved(1), c0 = c.saved(2), w = c.saved(3);
    Tensor gates = c.saved(4), cell = c.saved(5), tcell = c.saved(6), y = c.saved(7);
    Tensor dy = g.contiguous();
    Tensor dxg = fresh(xg.shape(), xg), dh0 = fresh(h0.shape(), h0), dc0 = fresh(c0.shape(), c0);
    Tensor dw = c.needs_grad(3) ? fresh(w.shape(), w) : Tensor();
    Tensor db = c.needs_grad(4) ? fresh({w.shape()[0]}, w) : Tensor();
    impl_of(xg).storage->backend->lstm_backward(
        impl_of(dxg).view(), view_or_none(db, w.dtype()), impl_of(dh0).view(), impl_of(dc0).view(),
        view_or_none(dw, w.dtype()),
        impl_of(dy).view(), impl_of(y).view(), impl_of(gates).view(), impl_of(cell).view(), impl_of(tcell).view(),
        impl_of(h0).view(), impl_of(c0).view(), impl_of(w).view());
    Grads r;
    r.push_back(c.needs_grad(0) ? dxg : Tensor());
    r.push_back(c.needs_grad(1) ? dh0 : Tensor());
    r.push_back(c.needs_grad(2) ? dc0 : Tensor());
    r.push_back(dw);
    if (c.flag) r.push_back(db);
    return r;
  }

  // The kernel's rule in differentiable ops, recomputing the forward from the inputs so that
  // the result depends on them (and on g) as a graph:
  //   dh_t = dy_t + dgates_{t+1}·W_hh;  dc_t = dc_{t+1}·f_{t+1} + dh_t·o_t·(1 - tanh²c_t)
  //   dgates_t = [dc·g·σ'(i), dc·c_{t-1}·σ'(f), dc·i·(1 - g²), dh·tanh(c)·σ'(o)]
  //   dW_hh = Σ_t dgates_tᵀ·h_{t-1}
  static Grads recorded_backward(const Ctx& c, const Tensor& g) {
    Tensor xg = c.saved(0), h0 = c.saved(1), c0 = c.saved(2), w = c.saved(3);
    Tensor bias = c.flag ? c.saved(8) : Tensor();
    const int64_t steps = xg.shape()[0], hs = h0.shape()[1];
    std::vector<Tensor> hs_(1, h0), cs(1, c0), i_(steps), f_(steps), g_(steps), o_(steps), tc_(steps);
    const Tensor w_t = w.t();
    for (int64_t t = 0; t < steps; ++t) {
      Tensor pre = step(xg, t) + matmul(hs_[t], w_t);
      if (bias.defined()) pre = pre + bias;
      i_[t] = sigmoid(pre.slice(1, 0, hs));
      f_[t] = sigmoid(pre.slice(1, hs, 2 * hs));
      g_[t] = tanh(pre.slice(1, 2 * hs, 3 * hs));
      o_[t] = sigmoid(pre.slice(1, 3 * hs, 4 * hs));
      cs.push_back(f_[t] * cs[t] + i_[t] * g_[t]);
      tc_[t] = tanh(cs[t + 1]);
      hs_.push_back(o_[t] * tc_[t]);
    }
    std::vector<Tensor> dgates(steps);
    Tensor dh, dc = step(g, steps);
    for (int64_t t = steps - 1; t >= 0; --t) {
      Tensor dht = dh.defined() ? step(g, t) + dh : step(g, t);
      Tensor dct = dc + dht * o_[t] * (1.0 - tc_[t] * tc_[t]);
      dgates[t] = concat({dct * g_[t] * i_[t] * (1.0 - i_[t]), dct * cs[t] * f_[t] * (1.0 - f_[t]),
                          dct * i_[t] * (1.0 - g_[t] * g_[t]), dht * tc_[t] * o_[t] * (1.0 - o_[t])},
                         1);
      dc = dct * f_[t];
      dh = matmul(dgates[t], w);
    }
    Grads r;
    r.push_back(c.needs_grad(0) ? stack(dgates, 0) : Tensor());
    r.push_back(c.needs_grad(1) ? dh : Tensor());
    r.push_back(c.needs_grad(2) ? dc : Tensor());
    if (c.needs_grad(3)) {
      Tensor dw = matmul(dgates[0].t(), hs_[0]);
      for (int64_t t = 1; t < steps; ++t) dw = dw + matmul(dgates[t].t(), hs_[t]);
      r.push_back(dw);
    } else {
      r.push_back(Tensor());
    }
    if (c.flag) r.push_back(c.needs_grad(4) ? sum(stack(dgates, 0), {0, 1}) : Tensor());
    return r;
  }
};

}  // namespace

Tensor detail::lstm_layer(const Tensor& xg_in, const Tensor& h0_in, const Tensor& c0_in, const Tensor& w_in,
                          const Tensor& bias_in) {
  // nn/recurrent.cpp has validated shapes, dtypes and devices with the layer's own messages;
  // these checks only guard the kernel's assumptions.
  for (const Tensor* t : {&xg_in, &h0_in, &c0_in, &w_in})
    TAPEFLOW_CHECK(t->defined(), ValueError, "lstm", "got an undefined tensor");
  TAPEFLOW_CHECK(xg_in.dim() == 3 && h0_in.dim() == 2 && w_in.dim() == 2 && h0_in.shape() == c0_in.shape() &&
                     xg_in.shape()[1] == h0_in.shape()[0] && xg_in.shape()[2] == 4 * h0_in.shape()[1] &&
                     w_in.shape() == Shape({4 * h0_in.shape()[1], h0_in.shape()[1]}),
                 ShapeError, "lstm", "expects xg [T, B, 4H], h0 and c0 [B, H], w_hh [4H, H], got ", xg_in.shape(),
                 ", ", h0_in.shape(), ", ", c0_in.shape(), ", ", w_in.shape());
  TAPEFLOW_CHECK(is_floating(xg_in.dtype()) && h0_in.dtype() == xg_in.dtype() && c0_in.dtype() == xg_in.dtype() &&
                     w_in.dtype() == xg_in.dtype(),
                 DTypeError, "lstm", "expects one floating dtype, got ", xg_in.dtype(), ", ", h0_in.dtype(), ", ",
                 c0_in.dtype(), ", ", w_in.dtype());
  TAPEFLOW_CHECK(!bias_in.defined() || (bias_in.shape() == Shape{w_in.shape()[0]} && bias_in.dtype() == xg_in.dtype()),
                 ShapeError, "lstm", "expects bias [4H] of the inputs' dtype, got ", bias_in.shape(), " ",
                 bias_in.dtype());
  for (const Tensor* t : {&h0_in, &c0_in, &w_in}) kernel::check_same_device("lstm", xg_in, *t);
  if (bias_in.defined()) kernel::check_same_device("lstm", xg_in, bias_in);
  // The kernel reads contiguous buffers; contiguous() is recorded, so gradients still reach
  // the caller's (possibly strided) tensors.
  const Tensor xg = xg_in.contiguous(), h0 = h0_in.contiguous(), c0 = c0_in.contiguous(), w = w_in.contiguous();
  const Tensor bias = bias_in.defined() ? bias_in.contiguous() : Tensor();
  if (!tape_state().grad_enabled ||
      !(records(xg) || records(h0) || records(c0) || records(w) || (bias.defined() && records(bias)))) {
    Ctx ctx;
    return LstmLayer::forward(ctx, xg, h0, c0, w, bias);
  }
  auto node = new_node(LstmLayer::name, &backward_of<LstmLayer>);
  Tensor y = LstmLayer::forward(node->ctx, xg, h0, c0, w, bias);
  std::vector<Tensor> inputs{xg, h0, c0, w};
  if (bias.defined()) inputs.push_back(bias);
  attach_all(node, y, inputs);
  return y;
}

}  // namespace tapeflow
