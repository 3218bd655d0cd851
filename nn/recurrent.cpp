// SPDX-License-Identifier: MIT
// Recurrent cells and layers, composed from differentiable ops (matmul, sigmoid, tanh, slice,
// concat, +, *), so backward, higher derivatives and every backend come for free. The LSTM's
// recurrence is the one exception: it is a single fused op (autograd/ops_lstm.cpp), because per
// step ops cost it more in tape entries, allocations and small GEMMs than the math itself.
//
// Layers are organised for speed: the input projection W_ih·x (with both biases folded in where
// the equations allow it) is taken out of the recurrence (one GEMM over all T*B rows when nothing
// is recorded, one per step on the input's rows when the tape records: see project_steps), so
// each step adds only h·W_hhᵀ, one GEMM for all gates, before slicing the gates apart.
#include "recurrent.hpp"

#include <algorithm>
#include <cmath>

#include "../autograd/detail/lstm.hpp"
#include "../autograd/tape.hpp"
#include "../tensor/ops.hpp"
#include "dropout.hpp"
#include "init.hpp"

namespace tapeflow::nn {

namespace {

enum class Kind { RNNTanh, RNNReLU, LSTM, GRU };

int64_t gate_count(Kind kind) {
  switch (kind) {
    case Kind::RNNTanh:
    case Kind::RNNReLU: return 1;
    case Kind::LSTM: return 4;
    case Kind::GRU: return 3;
  }
  return 1;
}

Kind rnn_kind(RNNNonlinearity nonlinearity) {
  return nonlinearity == RNNNonlinearity::ReLU ? Kind::RNNReLU : Kind::RNNTanh;
}

std::string str(const Shape& s) { return shape_str(s); }

// --- validation --------------------------------------------------------------------------------

/// Checks one cell's or layer's weights against the equations' layout and returns hidden_size.
/// `what` is "" for a cell and "layer k " for a layer.
int64_t check_weights(const std::string& who, const std::string& what, const RecurrentWeights& w, Kind kind,
                      int64_t in_features, DType dtype) {
  const int64_t g = gate_count(kind);
  if (!w.weight_ih.defined() || !w.weight_hh.defined())
    throw ValueError(who + ": " + what + "weight_ih and weight_hh must be defined");
  if (w.weight_hh.dim() != 2 || w.weight_hh.size(0) != g * w.weight_hh.size(1))
    throw ShapeError(who + ": " + what + "weight_hh has shape " + str(w.weight_hh.shape()) + " but must be [" +
                     std::to_string(g) + "*hidden_size, hidden_size]");
  const int64_t h = w.weight_hh.size(1);
  if (w.weight_ih.shape() != Shape{g * h, in_features})
    throw ShapeError(who + ": " + what + "weight_ih has shape " + str(w.weight_ih.shape()) + " but expected " +
                     str({g * h, in_features}) + " (" + std::to_string(g) + "*hidden_size, input features)");
  if (w.bias_ih.defined() != w.bias_hh.defined())
    throw ValueError(who + ": " + what + "bias_ih and bias_hh must be both defined or both undefined");
  for (const Tensor* b : {&w.bias_ih, &w.bias_hh})
    if (b->defined() && b->shape() != Shape{g * h})
      throw ShapeError(who + ": " + what + (b == &w.bias_ih ? "bias_ih" : "bias_hh") + " has shape " +
                       str(b->shape()) + " but expected " + str({g * h}));
  for (const Tensor* t : {&w.weight_ih, &w.weight_hh, &w.bias_ih, &w.bias_hh})
    if (t->defined() && t->dtype() != dtype)
      throw DTypeError(who + ": the input has dtype " + dtype_name(dtype) + " but " + what +
                       "weights have dtype " + dtype_name(t->dtype()) + " (convert one with to())");
  return h;
}

void check_input(const std::string& who, const Tensor& input) {
  if (!input.defined()) throw ValueError(who + ": got an undefined input");
  if (!is_floating(input.dtype()))
    throw DTypeError(who + ": input must be floating, got " + dtype_name(input.dtype()));
}

void check_state(const std::string& who, const char* name, const Tensor& s, const Shape& expected,
                 const char* layout, const Tensor& input) {
  if (!s.defined()) return;
  if (s.shape() != expected)
    throw ShapeError(who + ": " + name + " has shape " + str(s.shape()) + " but expected " + str(expected) + " (" +
                     layout + ") for input " + str(input.shape()));
  if (s.dtype() != input.dtype())
    throw DTypeError(who + ": " + name + " has dtype " + dtype_name(s.dtype()) + " but the input has " +
                     dtype_name(input.dtype()));
  if (s.device() != input.device())
    throw DeviceError(who + ": " + name + " is on " + s.device().str() + " but the input is on " +
                      input.device().str());
}

// --- one time step -------------------------------------------------------------------------------
// `xg` is the input's contribution to the gates [B, G*H], including b_ih and, except for the
// GRU (whose b_hn sits inside r ⊙ (...)), b_hh as well.

Tensor rnn_step(const Tensor& xg, const Tensor& h, const Tensor& w_hh_t, Kind kind) {
  Tensor pre = xg + matmul(h, w_hh_t);
  return kind == Kind::RNNReLU ? relu(pre) : tanh(pre);
}

Tensor gru_step(const Tensor& xg, const Tensor& h, const Tensor& w_hh_t, const Tensor& b_hh, int64_t hs) {
  Tensor hg = matmul(h, w_hh_t);
  if (b_hh.defined()) hg = hg + b_hh;
  Tensor rz = sigmoid(xg.slice(1, 0, 2 * hs) + hg.slice(1, 0, 2 * hs));
  Tensor r = rz.slice(1, 0, hs), z = rz.slice(1, hs, 2 * hs);
  Tensor n = tanh(xg.slice(1, 2 * hs, 3 * hs) + r * hg.slice(1, 2 * hs, 3 * hs));
  return n + z * (h - n);  // = (1 - z) ⊙ n + z ⊙ h
}

/// The gate bias folded into the input projection (see the note on `xg`).
Tensor input_bias(const RecurrentWeights& w, Kind kind) {
  if (!w.bias_ih.defined()) return Tensor();
  return kind == Kind::GRU ? w.bias_ih : w.bias_ih + w.bias_hh;
}

/// LSTM steps over the whole sequence: xg [T, B, 4H] (W_ih·x, without bias) -> y [T+1, B, H]
/// (h_1..h_T, then c_T). The op adds the bias itself: its gradient is then a row sum in the
/// kernel rather than an unbroadcast of a [T*B, 4H] gradient.
Tensor lstm_steps(const Tensor& xg, const Tensor& h, const Tensor& c, const RecurrentWeights& w) {
  return detail::lstm_layer(xg, h, c, w.weight_hh, input_bias(w, Kind::LSTM));
}

// --- cells ---------------------------------------------------------------------------------------

struct CellResult {
  Tensor h;
  Tensor c;
};

CellResult run_cell(const std::string& who, Kind kind, const Tensor& input, const Tensor& h_in,
                    const Tensor& c_in, const RecurrentWeights& w) {
  check_input(who, input);
  if (input.dim() != 1 && input.dim() != 2)
    throw ShapeError(who + ": expected input of rank 2 ([batch, input_size]) or 1 (unbatched [input_size]), got shape " +
                     str(input.shape()));
  const int64_t in = input.size(-1);
  if (w.weight_ih.defined() && w.weight_ih.dim() == 2 && w.weight_ih.size(1) != in)
    throw ShapeError(who + ": input has " + std::to_string(in) + " features (input shape " + str(input.shape()) +
                     ") but input_size is " + std::to_string(w.weight_ih.size(1)));
  const int64_t hs = check_weights(who, "", w, kind, in, input.dtype());
  const bool unbatched = input.dim() == 1;
  const int64_t batch = unbatched ? 1 : input.size(0);
  const Shape state_shape = unbatched ? Shape{hs} : Shape{batch, hs};
  const char* layout = unbatched ? "[hidden_size] for unbatched input" : "[batch, hidden_size]";
  check_state(who, "h", h_in, state_shape, layout, input);
  check_state(who, "c", c_in, state_shape, layout, input);
  if (kind == Kind::LSTM && h_in.defined() != c_in.defined())
    throw ValueError(who + ": the state needs both h and c, or neither (zeros); got only " +
                     (h_in.defined() ? "h" : "c"));

  const Options like{.dtype = input.dtype(), .device = input.device()};
  Tensor x = unbatched ? input.unsqueeze(0) : input;
  Tensor h = h_in.defined() ? h_in.reshape({batch, hs}) : zeros({batch, hs}, like);
  Tensor xg = matmul(x, w.weight_ih.t());
  if (Tensor b = input_bias(w, kind); b.defined() && kind != Kind::LSTM) xg = xg + b;
  CellResult r;
  switch (kind) {
    case Kind::RNNTanh:
    case Kind::RNNReLU: r.h = rnn_step(xg, h, w.weight_hh.t(), kind); break;
    case Kind::GRU: r.h = gru_step(xg, h, w.weight_hh.t(), w.bias_hh, hs); break;
    case Kind::LSTM: {
      Tensor c = c_in.defined() ? c_in.reshape({batch, hs}) : zeros({batch, hs}, like);
      Tensor y = lstm_steps(xg.reshape({1, batch, 4 * hs}), h, c, w);
      r.h = y.slice(0, 0, 1).reshape({batch, hs}), r.c = y.slice(0, 1, 2).reshape({batch, hs});
      break;
    }
  }
  if (unbatched) {
    r.h = r.h.reshape({hs});
    if (r.c.defined()) r.c = r.c.reshape({hs});
  }
  return r;
}

// --- layers --------------------------------------------------------------------------------------

/// Rows [0, steps*batch) of a [steps*batch, F] tensor as `steps` views of `batch` rows each,
/// by halving: a slice's backward builds a zero tensor the size of its source, so slicing each
/// step out of the whole would cost O(T²) in backward; halving costs O(T log T).
void split_steps(const Tensor& x, int64_t steps, int64_t batch, std::vector<Tensor>& out) {
  if (steps == 1) {
    out.push_back(x);
    return;
  }
  const int64_t half = steps / 2;
  split_steps(x.slice(0, 0, half * batch), half, batch, out);
  split_steps(x.slice(0, half * batch, steps * batch), steps - half, batch, out);
}

/// The input's contribution to the gates at every step, [batch, G*H] each, with input_bias()
/// folded in. The input comes either `whole` ([steps*batch, F], time-major rows) or as `pieces`
/// (one [batch, F] tensor per step, what the layer below produced).
/// NOTE: one GEMM over all steps is the fastest forward, but when the tape records, handing each
/// step its slice of that [T*B, G*H] result makes backward build and add zero tensors of the whole
/// result's size (O(T log T) of the large gate width even with split_steps). Per-step GEMMs on
/// the input's own (narrower) rows cost a little more forward and far less backward, so the
/// single GEMM is kept for when nothing is recorded (inference, evaluation).
std::vector<Tensor> project_steps(const Tensor& whole, std::vector<Tensor> pieces, const Tensor& w_ih,
                                  const Tensor& bias, int64_t steps, int64_t batch) {
  const Tensor w_t = w_ih.t();
  bool records = w_ih.requires_grad() || (bias.defined() && bias.requires_grad());
  if (whole.defined()) records = records || whole.requires_grad();
  for (const Tensor& p : pieces) records = records || p.requires_grad();
  records = records && is_grad_enabled();
  std::vector<Tensor> out;
  out.reserve(static_cast<std::size_t>(steps));
  if (!records) {
    Tensor proj = matmul(whole.defined() ? whole : concat(pieces, 0), w_t);
    if (bias.defined()) proj = proj + bias;
    for (int64_t t = 0; t < steps; ++t) out.push_back(proj.slice(0, t * batch, (t + 1) * batch));
    return out;
  }
  if (pieces.empty()) split_steps(whole, steps, batch, pieces);
  for (const Tensor& p : pieces) {
    Tensor g = matmul(p, w_t);
    out.push_back(bias.defined() ? g + bias : g);
  }
  return out;
}

struct LayersResult {
  Tensor output;
  Tensor h;
  Tensor c;
};

LayersResult run_layers(const std::string& who, Kind kind, const Tensor& input, const Tensor& h0, const Tensor& c0,
                        const std::vector<RecurrentWeights>& layers, const functional::RecurrentOptions& o) {
  check_input(who, input);
  const char* time_major = o.batch_first ? "[batch, seq_len, input_size]" : "[seq_len, batch, input_size]";
  if (input.dim() != 3 && input.dim() != 2)
    throw ShapeError(who + ": expected input of rank 3 (" + time_major +
                     ") or 2 (unbatched [seq_len, input_size]), got shape " + str(input.shape()));
  if (layers.empty()) throw ValueError(who + ": needs the weights of at least one layer");
  if (!(o.dropout >= 0.0 && o.dropout <= 1.0))
    throw ValueError(who + ": dropout must be in [0, 1], got " + std::to_string(o.dropout));
  const int64_t in = input.size(-1);
  const Tensor& w0 = layers[0].weight_ih;
  if (w0.defined() && w0.dim() == 2 && w0.size(1) != in)
    throw ShapeError(who + ": input has " + std::to_string(in) + " features (input shape " + str(input.shape()) +
                     ") but input_size is " + std::to_string(w0.size(1)));
  const int64_t num_layers = static_cast<int64_t>(layers.size());
  int64_t hs = 0;
  for (int64_t l = 0; l < num_layers; ++l) {
    const std::string what = num_layers == 1 ? std::string() : "layer " + std::to_string(l) + " ";
    const int64_t h = check_weights(who, what, layers[l], kind, l == 0 ? in : hs, input.dtype());
    if (l > 0 && h != hs)
      throw ShapeError(who + ": layer " + std::to_string(l) + " has hidden_size " + std::to_string(h) +
                       " but layer 0 has " + std::to_string(hs));
    hs = h;
  }
  const bool unbatched = input.dim() == 2;
  const bool batch_first = o.batch_first && !unbatched;  // PyTorch ignores batch_first when unbatched
  const int64_t steps = input.size(batch_first ? 1 : 0);
  const int64_t batch = unbatched ? 1 : input.size(batch_first ? 0 : 1);
  if (steps == 0 || batch == 0)
    throw ShapeError(who + ": input " + str(input.shape()) + " is empty (seq_len and batch must be positive)");
  const Shape state_shape = unbatched ? Shape{num_layers, hs} : Shape{num_layers, batch, hs};
  const char* layout = unbatched ? "[num_layers, hidden_size] for unbatched input" : "[num_layers, batch, hidden_size]";
  check_state(who, "h0", h0, state_shape, layout, input);
  check_state(who, "c0", c0, state_shape, layout, input);
  if (kind == Kind::LSTM && h0.defined() != c0.defined())
    throw ValueError(who + ": the initial state needs both h0 and c0, or neither (zeros); got only " +
                     (h0.defined() ? "h0" : "c0"));

  const Options like{.dtype = input.dtype(), .device = input.device()};
  // Time-major rows: row t*batch + b holds step t of sequence b (a copy only for batch_first or
  // otherwise non-contiguous input).
  Tensor x = batch_first ? input.transpose(0, 1) : input;
  Tensor seq = x.reshape({steps * batch, in});
  auto layer_state = [&](const Tensor& s, int64_t l) {
    return s.defined() ? s.slice(0, l, l + 1).reshape({batch, hs}) : zeros({batch, hs}, like);
  };

  std::vector<Tensor> h_n, c_n, below;  // below: the previous layer's output, one tensor per step
  LayersResult r;
  if (kind == Kind::LSTM) {
    // The input projection of all steps is one GEMM ([T*B, F]·W_ihᵀ, backward one GEMM per
    // gradient too), and the recurrence one op; each layer hands the next its whole output.
    Tensor rows = seq;
    for (int64_t l = 0; l < num_layers; ++l) {
      const RecurrentWeights& w = layers[l];
      Tensor xg = matmul(rows, w.weight_ih.t());
      Tensor y = lstm_steps(xg.reshape({steps, batch, 4 * hs}), layer_state(h0, l), layer_state(c0, l), w);
      Tensor out = y.slice(0, 0, steps);
      h_n.push_back(y.slice(0, steps - 1, steps).reshape({batch, hs}));
      c_n.push_back(y.slice(0, steps, steps + 1).reshape({batch, hs}));
      if (l + 1 < num_layers) {
        if (o.training && o.dropout > 0.0) out = functional::dropout(out, o.dropout, true);
        rows = out.reshape({steps * batch, hs});
      } else {
        r.output = batch_first ? out.transpose(0, 1).contiguous() : out;
      }
    }
  }
  for (int64_t l = 0; l < (kind == Kind::LSTM ? 0 : num_layers); ++l) {
    const RecurrentWeights& w = layers[l];
    std::vector<Tensor> xs = project_steps(l == 0 ? seq : Tensor(), std::move(below), w.weight_ih,
                                           input_bias(w, kind), steps, batch);
    below.clear();
    const Tensor w_hh_t = w.weight_hh.t();  // once: per-step gradients then add up contiguously
    Tensor h = layer_state(h0, l);
    Tensor c = kind == Kind::LSTM ? layer_state(c0, l) : Tensor();
    std::vector<Tensor> outs;
    outs.reserve(static_cast<std::size_t>(steps));
    for (int64_t t = 0; t < steps; ++t) {
      switch (kind) {
        case Kind::RNNTanh:
        case Kind::RNNReLU: h = rnn_step(xs[t], h, w_hh_t, kind); break;
        case Kind::GRU: h = gru_step(xs[t], h, w_hh_t, w.bias_hh, hs); break;
        case Kind::LSTM: break;  // run above, as one op
      }
      outs.push_back(h);
    }
    h_n.push_back(h);
    if (c.defined()) c_n.push_back(c);
    if (l + 1 < num_layers) {
      below = std::move(outs);
      if (o.training && o.dropout > 0.0)
        for (Tensor& t : below) t = functional::dropout(t, o.dropout, true);
    } else {
      // Stacking along dim 1 lays the result out batch-first without a transpose copy.
      r.output = stack(outs, batch_first ? 1 : 0);
    }
  }
  r.h = stack(h_n, 0);
  if (!c_n.empty()) r.c = stack(c_n, 0);
  if (unbatched) {
    r.output = r.output.reshape({steps, hs});
    r.h = r.h.reshape({num_layers, hs});
    if (r.c.defined()) r.c = r.c.reshape({num_layers, hs});
  }
  return r;
}

std::string nonlinearity_name(RNNNonlinearity n) { return n == RNNNonlinearity::ReLU ? "relu" : "tanh"; }

}  // namespace

// --- functional --------------------------------------------------------------------------------

Tensor functional::rnn_cell(const Tensor& input, const Tensor& h, const RecurrentWeights& weights,
                            RNNNonlinearity nonlinearity) {
  return run_cell("rnn_cell", rnn_kind(nonlinearity), input, h, Tensor(), weights).h;
}

LSTMState functional::lstm_cell(const Tensor& input, const LSTMState& state, const RecurrentWeights& weights) {
  CellResult r = run_cell("lstm_cell", Kind::LSTM, input, state.h, state.c, weights);
  return {r.h, r.c};
}

Tensor functional::gru_cell(const Tensor& input, const Tensor& h, const RecurrentWeights& weights) {
  return run_cell("gru_cell", Kind::GRU, input, h, Tensor(), weights).h;
}

RNNOutput functional::rnn(const Tensor& input, const Tensor& h0, const std::vector<RecurrentWeights>& layers,
                          const RecurrentOptions& options) {
  LayersResult r = run_layers("rnn", rnn_kind(options.nonlinearity), input, h0, Tensor(), layers, options);
  return {r.output, r.h};
}

LSTMOutput functional::lstm(const Tensor& input, const LSTMState& state, const std::vector<RecurrentWeights>& layers,
                            const RecurrentOptions& options) {
  LayersResult r = run_layers("lstm", Kind::LSTM, input, state.h, state.c, layers, options);
  return {r.output, r.h, r.c};
}

RNNOutput functional::gru(const Tensor& input, const Tensor& h0, const std::vector<RecurrentWeights>& layers,
                          const RecurrentOptions& options) {
  LayersResult r = run_layers("gru", Kind::GRU, input, h0, Tensor(), layers, options);
  return {r.output, r.h};
}

// --- cells -------------------------------------------------------------------------------------

RecurrentCellBase::RecurrentCellBase(std::string type_name, int64_t in, int64_t hidden, int64_t gates, bool bias)
    : Module(std::move(type_name)), input_size(in), hidden_size(hidden) {
  if (in <= 0 || hidden <= 0)
    throw ValueError(this->type_name() + ": input_size and hidden_size must be positive, got " + std::to_string(in) +
                     " and " + std::to_string(hidden));
  // gates * hidden would wrap for a huge hidden_size (LSTM: 4 * 2^62 is 0) and make a weightless cell.
  shape_numel({gates, hidden, std::max(in, hidden)}, this->type_name().c_str());
  weight_ih = register_parameter("weight_ih", empty({gates * hidden, in}));
  weight_hh = register_parameter("weight_hh", empty({gates * hidden, hidden}));
  if (bias) {
    bias_ih = register_parameter("bias_ih", empty({gates * hidden}));
    bias_hh = register_parameter("bias_hh", empty({gates * hidden}));
  }
  reset_parameters();
}

void RecurrentCellBase::reset_parameters() {
  // LibTorch: every weight and bias U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
  const double k = 1.0 / std::sqrt(static_cast<double>(hidden_size));
  for (Tensor& t : parameters(false)) init::uniform_(t, -k, k);
}

std::string RecurrentCellBase::cell_repr() const {
  std::string s = std::to_string(input_size) + ", " + std::to_string(hidden_size);
  if (!bias_ih.defined()) s += ", bias=false";
  return s;
}

RNNCell::RNNCell(int64_t in, int64_t hidden, RNNCellOptions options)
    : RecurrentCellBase("RNNCell", in, hidden, 1, options.bias), nonlinearity(options.nonlinearity) {}

Tensor RNNCell::forward(const Tensor& input) { return forward(input, Tensor()); }

Tensor RNNCell::forward(const Tensor& input, const Tensor& h) {
  return run_cell(type_name(), rnn_kind(nonlinearity), input, h, Tensor(), weights()).h;
}

std::string RNNCell::extra_repr() const {
  std::string s = cell_repr();
  if (nonlinearity != RNNNonlinearity::Tanh) s += ", nonlinearity=" + nonlinearity_name(nonlinearity);
  return s;
}

LSTMCell::LSTMCell(int64_t in, int64_t hidden, LSTMCellOptions options)
    : RecurrentCellBase("LSTMCell", in, hidden, 4, options.bias) {}

LSTMState LSTMCell::forward(const Tensor& input, const LSTMState& state) {
  CellResult r = run_cell(type_name(), Kind::LSTM, input, state.h, state.c, weights());
  return {r.h, r.c};
}

GRUCell::GRUCell(int64_t in, int64_t hidden, GRUCellOptions options)
    : RecurrentCellBase("GRUCell", in, hidden, 3, options.bias) {}

Tensor GRUCell::forward(const Tensor& input) { return forward(input, Tensor()); }

Tensor GRUCell::forward(const Tensor& input, const Tensor& h) {
  return run_cell(type_name(), Kind::GRU, input, h, Tensor(), weights()).h;
}

// --- layers ------------------------------------------------------------------------------------

RecurrentBase::RecurrentBase(std::string type_name, int64_t in, int64_t hidden, int64_t gates, int64_t layers,
                             bool bias_, bool batch_first_, double dropout_)
    : Module(std::move(type_name)),
      input_size(in),
      hidden_size(hidden),
      num_layers(layers),
      bias(bias_),
      batch_first(batch_first_),
      dropout(dropout_) {
  if (in <= 0 || hidden <= 0 || layers <= 0)
    throw ValueError(this->type_name() + ": input_size, hidden_size and num_layers must be positive, got " +
                     std::to_string(in) + ", " + std::to_string(hidden) + " and " + std::to_string(layers));
  if (!(dropout >= 0.0 && dropout <= 1.0))
    throw ValueError(this->type_name() + ": dropout must be in [0, 1], got " + std::to_string(dropout));
  shape_numel({gates, hidden, std::max(in, hidden)}, this->type_name().c_str());  // as in RecurrentCellBase
  for (int64_t l = 0; l < layers; ++l) {
    const std::string sfx = "_l" + std::to_string(l);
    RecurrentWeights w;
    w.weight_ih = register_parameter("weight_ih" + sfx, empty({gates * hidden, l == 0 ? in : hidden}));
    w.weight_hh = register_parameter("weight_hh" + sfx, empty({gates * hidden, hidden}));
    if (bias) {
      w.bias_ih = register_parameter("bias_ih" + sfx, empty({gates * hidden}));
      w.bias_hh = register_parameter("bias_hh" + sfx, empty({gates * hidden}));
    }
    layers_.push_back(std::move(w));
  }
  reset_parameters();
}

void RecurrentBase::reset_parameters() {
  const double k = 1.0 / std::sqrt(static_cast<double>(hidden_size));
  for (Tensor& t : parameters(false)) init::uniform_(t, -k, k);
}

functional::RecurrentOptions RecurrentBase::run_options() const {
  return {.batch_first = batch_first, .dropout = dropout, .training = is_training()};
}

std::string RecurrentBase::layer_repr() const {
  std::string s = std::to_string(input_size) + ", " + std::to_string(hidden_size);
  if (num_layers != 1) s += ", num_layers=" + std::to_string(num_layers);
  if (!bias) s += ", bias=false";
  if (batch_first) s += ", batch_first=true";
  if (dropout != 0.0) s += ", dropout=" + std::to_string(dropout);
  return s;
}

RNN::RNN(int64_t in, int64_t hidden, RNNOptions o)
    : RecurrentBase("RNN", in, hidden, 1, o.num_layers, o.bias, o.batch_first, o.dropout),
      nonlinearity(o.nonlinearity) {}

RNNOutput RNN::forward(const Tensor& input, const Tensor& h0) {
  LayersResult r = run_layers(type_name(), rnn_kind(nonlinearity), input, h0, Tensor(), layers_, run_options());
  return {r.output, r.h};
}

std::string RNN::extra_repr() const {
  std::string s = layer_repr();
  if (nonlinearity != RNNNonlinearity::Tanh) s += ", nonlinearity=" + nonlinearity_name(nonlinearity);
  return s;
}

LSTM::LSTM(int64_t in, int64_t hidden, LSTMOptions o)
    : RecurrentBase("LSTM", in, hidden, 4, o.num_layers, o.bias, o.batch_first, o.dropout) {}

LSTMOutput LSTM::forward(const Tensor& input, const LSTMState& state) {
  LayersResult r = run_layers(type_name(), Kind::LSTM, input, state.h, state.c, layers_, run_options());
  return {r.output, r.h, r.c};
}

GRU::GRU(int64_t in, int64_t hidden, GRUOptions o)
    : RecurrentBase("GRU", in, hidden, 3, o.num_layers, o.bias, o.batch_first, o.dropout) {}

RNNOutput GRU::forward(const Tensor& input, const Tensor& h0) {
  LayersResult r = run_layers(type_name(), Kind::GRU, input, h0, Tensor(), layers_, run_options());
  return {r.output, r.h};
}

}  // namespace tapeflow::nn
