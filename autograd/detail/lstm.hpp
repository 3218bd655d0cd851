// SPDX-License-Identifier: MIT
// The fused LSTM layer op, for nn/recurrent.cpp (private: users reach it through nn::LSTM,
// nn::LSTMCell and their functional forms).
#pragma once
#include "../../tensor/tensor.hpp"

namespace tapeflow::detail {

/// One LSTM layer over a sequence, differentiable in every input (to any order): xg [T, B, 4H]
/// is the input's share of the gates (W_ih·x, gates i, f, g, o), h0 and c0 [B, H], w_hh
/// [4H, H], bias [4H] (b_ih + b_hh; undefined: none). Returns [T+1, B, H]: h_1..h_T, then c_T.
/// One tape entry for the whole layer; its backward is one kernel, or differentiable ops while
/// create_graph records.
Tensor lstm_layer(const Tensor& xg, const Tensor& h0, const Tensor& c0, const Tensor& w_hh,
                  const Tensor& bias = Tensor());

}  // namespace tapeflow::detail
