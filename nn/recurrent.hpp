// SPDX-License-Identifier: MIT
// Recurrent cells (one time step) and layers (a whole sequence, stacked layers) with PyTorch's
// equations, gate order, parameter names, shapes and initialisation, built on differentiable ops:
//
//   nn::LSTM lstm(64, 256, {.num_layers = 2, .batch_first = true});
//   auto [out, h, c] = lstm(x);                  // x [B, T, 64] -> out [B, T, 256], h/c [2, B, 256]
//   auto next = lstm(x2, {h.detach(), c.detach()});   // carry the state on (truncated BPTT)
//
// Bidirectional layers and LSTM projections (proj_size) are not implemented.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "module.hpp"

// The layers' forward(input, state = {}) returns a struct, so it hides (by design, see
// Module::forward) the one-tensor virtual rather than overriding it; do not warn users about it.
// (GCC reports it at Module::forward itself, so only a pragma there could silence GCC 13+.)
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Woverloaded-virtual"
#endif

namespace tapeflow::nn {

/// The activation of a plain (Elman) RNN: h' = act(W_ih x + b_ih + W_hh h + b_hh).
enum class RNNNonlinearity { Tanh, ReLU };

/// LSTM hidden and cell state: [B, H] for a cell, [num_layers, B, H] for a layer (no batch dim
/// for unbatched input). Undefined members mean zeros.
struct LSTMState {
  Tensor h;
  Tensor c;
};

/// What RNN and GRU return: `output` holds the last layer's h at every step ([T, B, H], or
/// [B, T, H] with batch_first), `h` the final state of every layer [num_layers, B, H].
struct RNNOutput {
  Tensor output;
  Tensor h;
};

/// What LSTM returns: RNNOutput plus the final cell state `c` [num_layers, B, H].
struct LSTMOutput {
  Tensor output;
  Tensor h;
  Tensor c;
  /// {h, c}, to pass as the next call's initial state.
  LSTMState state() const { return {h, c}; }
};

/// The weights of one cell or one layer, in PyTorch's layout: weight_ih [G*H, I], weight_hh
/// [G*H, H], bias_ih and bias_hh [G*H] (undefined without bias), with G = 1 (RNN), 4 (LSTM: gates
/// i, f, g, o) or 3 (GRU: r, z, n).
struct RecurrentWeights {
  Tensor weight_ih;
  Tensor weight_hh;
  Tensor bias_ih = {};  ///< `= {}`: `{w_ih, w_hh}` (no bias) compiles without -Wextra warnings
  Tensor bias_hh = {};
};

namespace functional {

/// Options of the functional layers (the modules fill them from their own options).
struct RecurrentOptions {
  /// Input and output are [B, T, features] instead of [T, B, features].
  bool batch_first = false;
  /// Dropout probability on the outputs of every layer but the last, applied only in training.
  double dropout = 0.0;
  bool training = false;
  /// Used by rnn() only.
  RNNNonlinearity nonlinearity = RNNNonlinearity::Tanh;
};

/// One Elman step: input [B, I] (or [I]), h [B, H] (undefined: zeros) -> h' [B, H].
Tensor rnn_cell(const Tensor& input, const Tensor& h, const RecurrentWeights& weights,
                RNNNonlinearity nonlinearity = RNNNonlinearity::Tanh);
/// One LSTM step: i, f, g, o = σ, σ, tanh, σ of (W_ih x + b_ih + W_hh h + b_hh) split in four;
/// c' = f ⊙ c + i ⊙ g; h' = o ⊙ tanh(c').
LSTMState lstm_cell(const Tensor& input, const LSTMState& state, const RecurrentWeights& weights);
/// One GRU step: r, z = σ(W_i{r,z} x + b_i{r,z} + W_h{r,z} h + b_h{r,z});
/// n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)); h' = (1 - z) ⊙ n + z ⊙ h.
Tensor gru_cell(const Tensor& input, const Tensor& h, const RecurrentWeights& weights);

/// Stacked Elman RNN over a sequence, one RecurrentWeights per layer. Input [T, B, I] (or
/// [B, T, I] with batch_first, or [T, I] unbatched); h0 [num_layers, B, H] or undefined (zeros).
RNNOutput rnn(const Tensor& input, const Tensor& h0, const std::vector<RecurrentWeights>& layers,
              const RecurrentOptions& options = {});
/// Stacked LSTM over a sequence; the state's h and c are [num_layers, B, H] (both or neither).
LSTMOutput lstm(const Tensor& input, const LSTMState& state, const std::vector<RecurrentWeights>& layers,
                const RecurrentOptions& options = {});
/// Stacked GRU over a sequence, shapes as rnn().
RNNOutput gru(const Tensor& input, const Tensor& h0, const std::vector<RecurrentWeights>& layers,
              const RecurrentOptions& options = {});

}  // namespace functional

// --- cells ------------------------------------------------------------------------------------

struct RNNCellOptions {
  bool bias = true;
  RNNNonlinearity nonlinearity = RNNNonlinearity::Tanh;
};
struct LSTMCellOptions {
  bool bias = true;
};
struct GRUCellOptions {
  bool bias = true;
};

/// Parameters weight_ih, weight_hh, bias_ih, bias_hh (see RecurrentWeights), all drawn
/// U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)); shared by the three cells.
class RecurrentCellBase : public Module {
 public:
  /// Draws fresh initial values.
  void reset_parameters();
  /// The four parameters (biases undefined without bias), for the functional forms.
  RecurrentWeights weights() const { return {weight_ih, weight_hh, bias_ih, bias_hh}; }

  Tensor weight_ih;
  Tensor weight_hh;
  Tensor bias_ih;
  Tensor bias_hh;
  int64_t input_size;
  int64_t hidden_size;

 protected:
  RecurrentCellBase(std::string type_name, int64_t input_size, int64_t hidden_size, int64_t gates, bool bias);
  std::string cell_repr() const;
};

/// Elman cell: input [B, I] (or [I]) and h [B, H] -> h' [B, H]. Throws ShapeError naming the cell
/// and the shapes when they do not fit.
class RNNCell : public RecurrentCellBase {
 public:
  RNNCell(int64_t input_size, int64_t hidden_size, RNNCellOptions options = {});
  /// One step from a zero state.
  Tensor forward(const Tensor& input) override;
  /// One step from `h` (undefined: zeros).
  Tensor forward(const Tensor& input, const Tensor& h);
  using Module::operator();
  Tensor operator()(const Tensor& input, const Tensor& h) { return forward(input, h); }
  std::string extra_repr() const override;

  RNNNonlinearity nonlinearity;
};

/// LSTM cell: input [B, I] and state {h, c} [B, H] each (undefined: zeros) -> {h', c'}.
class LSTMCell : public RecurrentCellBase {
 public:
  LSTMCell(int64_t input_size, int64_t hidden_size, LSTMCellOptions options = {});
  LSTMState forward(const Tensor& input, const LSTMState& state = {});
  LSTMState operator()(const Tensor& input, const LSTMState& state = {}) { return forward(input, state); }
  std::string extra_repr() const override { return cell_repr(); }
};

/// GRU cell: input [B, I] and h [B, H] -> h' [B, H].
class GRUCell : public RecurrentCellBase {
 public:
  GRUCell(int64_t input_size, int64_t hidden_size, GRUCellOptions options = {});
  Tensor forward(const Tensor& input) override;
  Tensor forward(const Tensor& input, const Tensor& h);
  using Module::operator();
  Tensor operator()(const Tensor& input, const Tensor& h) { return forward(input, h); }
  std::string extra_repr() const override { return cell_repr(); }
};

// --- layers over a sequence ---------------------------------------------------------------------

struct RNNOptions {
  int64_t num_layers = 1;
  bool bias = true;
  /// Input and output are [B, T, features] instead of [T, B, features] (states stay
  /// [num_layers, B, H], as in PyTorch).
  bool batch_first = false;
  /// Dropout probability on every layer's output but the last, in training mode only.
  double dropout = 0.0;
  RNNNonlinearity nonlinearity = RNNNonlinearity::Tanh;
};
struct LSTMOptions {
  int64_t num_layers = 1;
  bool bias = true;
  bool batch_first = false;
  double dropout = 0.0;
};
struct GRUOptions {
  int64_t num_layers = 1;
  bool bias = true;
  bool batch_first = false;
  double dropout = 0.0;
};

/// Parameters weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k} for each layer k (layer
/// 0 reads input_size features, the others hidden_size), all drawn
/// U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)); shared by RNN, LSTM and GRU.
class RecurrentBase : public Module {
 public:
  /// Draws fresh initial values.
  void reset_parameters();
  /// One entry per layer, holding the registered parameters (for the functional forms).
  const std::vector<RecurrentWeights>& all_weights() const { return layers_; }

  int64_t input_size;
  int64_t hidden_size;
  int64_t num_layers;
  bool bias;
  bool batch_first;
  double dropout;

 protected:
  RecurrentBase(std::string type_name, int64_t input_size, int64_t hidden_size, int64_t gates,
                int64_t num_layers, bool bias, bool batch_first, double dropout);
  functional::RecurrentOptions run_options() const;
  std::string layer_repr() const;

  std::vector<RecurrentWeights> layers_;
};

/// Stacked Elman RNN: input [T, B, I] ([B, T, I] with batch_first, [T, I] unbatched) and h0
/// [num_layers, B, H] (undefined: zeros) -> {output [T, B, H], h [num_layers, B, H]}. Throws
/// ShapeError naming the layer and the shapes when input or state do not fit.
class RNN : public RecurrentBase {
 public:
  RNN(int64_t input_size, int64_t hidden_size, RNNOptions options = {});
  RNNOutput forward(const Tensor& input, const Tensor& h0 = {});
  RNNOutput operator()(const Tensor& input, const Tensor& h0 = {}) { return forward(input, h0); }
  std::string extra_repr() const override;

  RNNNonlinearity nonlinearity;
};

/// Stacked LSTM: input as RNN, state {h0, c0} [num_layers, B, H] each (both undefined: zeros)
/// -> {output, h, c}.
class LSTM : public RecurrentBase {
 public:
  LSTM(int64_t input_size, int64_t hidden_size, LSTMOptions options = {});
  LSTMOutput forward(const Tensor& input, const LSTMState& state = {});
  LSTMOutput operator()(const Tensor& input, const LSTMState& state = {}) { return forward(input, state); }
  std::string extra_repr() const override { return layer_repr(); }
};

/// Stacked GRU: shapes as RNN.
class GRU : public RecurrentBase {
 public:
  GRU(int64_t input_size, int64_t hidden_size, GRUOptions options = {});
  RNNOutput forward(const Tensor& input, const Tensor& h0 = {});
  RNNOutput operator()(const Tensor& input, const Tensor& h0 = {}) { return forward(input, h0); }
  std::string extra_repr() const override { return layer_repr(); }
};

}  // namespace tapeflow::nn

#if defined(__clang__)
#pragma clang diagnostic pop
#endif
