// SPDX-License-Identifier: MIT
// The bad-input catalogue: every kind of misuse a user can commit, one row each, checked for
//   (a) the right tapeflow::Error subclass (never a std:: exception, never a crash),
//   (b) a message naming the op and what is wrong (shapes, dtypes, devices, axis, path, parameter),
//   (c) nothing damaged: every tensor of the world (values, version counter, gradient), the
//       model, the optimizer state, the generator, the files on disk, the tape, the name scope
//       and grad mode are as before, and the world still records, back-propagates and trains.
//
// Categories (the prefix of each row's kind):
//   shape:   broadcast, matmul, conv, linear, losses, reshape/view/expand, concat/stack, layers
//   dtype:   float ops on Int64/Bool, mixed dtypes where not allowed, targets/indices of the wrong type
//   device:  CUDA requested from this CPU-only build (skipped where a GPU exists)
//   axis:    reduction/softmax/transpose/squeeze/slice/index axes out of range, + and -, and 0-d
//   index:   indices out of range (index_select, targets, embedding, one_hot, Sequential, datasets)
//   autograd: backward/grad misuse, in-place on saved tensors and leaves, AnomalyGuard
//   empty:   reductions with no identity over an empty axis, item() of nothing
//   huge:    sizes whose element or byte counts overflow, allocations that cannot succeed
//   file:    files that are not what they claim, truncated, wrong shapes/kind, unwritable places
//   optim:   optimizer and scheduler misuse
//   module:  Module/Sequential misuse
//   layer:   nn layer constructor arguments
//   data:    DataLoader, datasets, SummaryWriter, generator state
//   misc:    undefined tensors, bad scalar arguments
// The valid edge cases next to these (empty tensors that must work) are checked at the end.
#include <tapeflow/tapeflow.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <typeinfo>
#include <vector>

#include "helpers.hpp"
#include "io/temp_dir.hpp"

using namespace tapeflow;

// Custom Functions with broken backwards, at global scope so that errors print their plain names.
// y = 2x with a backward that returns the wrong number of gradients.
struct WrongArity : Function<WrongArity> {
  static Tensor forward(FunctionCtx&, const Tensor& x) { return x * 2.0; }
  static std::vector<Tensor> backward(FunctionCtx&, const Tensor& g) { return {g, g}; }
};
// y = 2x with a backward that returns a gradient of the wrong shape.
struct WrongShape : Function<WrongShape> {
  static Tensor forward(FunctionCtx&, const Tensor& x) { return x * 2.0; }
  static std::vector<Tensor> backward(FunctionCtx&, const Tensor& g) { return {g.sum()}; }
};

using tapeflow::test::bytes_of;
using tapeflow::test::read_bytes;
using tapeflow::test::TempDir;

namespace {

constexpr int64_t k2e40 = int64_t{1} << 40;
constexpr int64_t k2e59 = int64_t{1} << 59;
constexpr int64_t k2e62 = int64_t{1} << 62;

// --- the world a misuse must leave intact --------------------------------------------------------

/// A module that exposes registration, for the registration rows.
struct Registry : nn::Module {
  Registry() : Module("Registry") { register_parameter("w", ones({2})); }
  using Module::register_buffer;
  using Module::register_parameter;
};

struct Inputs {  // a small regression problem for the model
  Tensor x, y;
};

struct World {
  TempDir dir;
  Tensor x;      // float32 [2,3] leaf requiring grad, with a gradient already accumulated
  Tensor plain;  // float32 [2,3], no grad
  Tensor ints;   // int64 [4]
  Tensor flags;  // bool [2]
  Tensor f64v;   // float64 [3]
  std::shared_ptr<nn::Sequential> model;
  std::unique_ptr<optim::SGD> opt;
  Inputs data;
  std::string ckpt;      // an existing checkpoint of the model
  std::vector<Tensor> keep;  // graphs a row's setup builds for its misuse

  World() {
    manual_seed(7);
    x = tensor({1.f, -2.f, 3.f, 0.5f, 4.f, -1.f}, {2, 3}, {.requires_grad = true});
    x.set_grad(full({2, 3}, 0.25));
    plain = tensor({6.f, 5.f, 4.f, 3.f, 2.f, 1.f}, {2, 3});
    ints = tensor({3, 1, 4, 1});
    flags = tensor({true, false});
    f64v = tensor({1.0, 2.0, 3.0});
    model = std::make_shared<nn::Sequential>(nn::Linear(3, 4), nn::ReLU(), nn::Linear(4, 2));
    opt = std::make_unique<optim::SGD>(model->parameters(), optim::SGDOptions{.lr = 0.05, .momentum = 0.9});
    data = {randn({8, 3}), randn({8, 2})};
    train_step();  // the optimizer has momentum buffers: its state is non-trivial
    ckpt = dir.file("model.safetensors");
    io::save(*model, ckpt);
  }

  double loss() { return mse_loss((*model)(data.x), data.y).item<double>(); }
  double train_step() {
    opt->zero_grad();
    Tensor l = mse_loss((*model)(data.x), data.y);
    l.backward();
    opt->step();
    return l.item<double>();
  }
  std::vector<Tensor> tensors() const {
    std::vector<Tensor> all{x, plain, ints, flags, f64v};
    for (const Tensor& p : model->parameters()) all.push_back(p);
    return all;
  }
};

struct TensorState {
  Shape shape;
  DType dtype;
  bool requires_grad;
  uint32_t version;
  std::vector<unsigned char> bytes, grad;
  bool has_grad;
  bool operator==(const TensorState&) const = default;
};

TensorState state_of(const Tensor& t) {
  return {t.shape(), t.dtype(), t.requires_grad(), t.version(), bytes_of(t),
          t.grad().defined() ? bytes_of(t.grad()) : std::vector<unsigned char>{}, t.grad().defined()};
}

struct Snapshot {
  std::vector<TensorState> tensors;
  std::vector<std::pair<std::string, std::vector<unsigned char>>> optimizer;
  std::vector<uint8_t> ckpt_bytes;
  std::string rng;
};

Snapshot snapshot(const World& w) {
  Snapshot s;
  for (const Tensor& t : w.tensors()) s.tensors.push_back(state_of(t));
  for (const auto& [name, t] : w.opt->state_dict()) s.optimizer.emplace_back(name, bytes_of(t));
  s.ckpt_bytes = read_bytes(w.ckpt);
  s.rng = get_rng_state();
  return s;
}

/// (c): nothing the misuse touched changed, nothing leaked onto the tape, and the world still
/// records, back-propagates and trains.
void require_intact(World& w, const Snapshot& before, std::size_t live_before) {
  const Snapshot after = snapshot(w);
  REQUIRE(after.tensors.size() == before.tensors.size());
  for (std::size_t i = 0; i < after.tensors.size(); ++i) {
    INFO("world tensor " << i << " (0 x, 1 plain, 2 ints, 3 flags, 4 f64v, then model parameters)");
    CHECK(after.tensors[i].shape == before.tensors[i].shape);
    CHECK(after.tensors[i].dtype == before.tensors[i].dtype);
    CHECK(after.tensors[i].requires_grad == before.tensors[i].requires_grad);
    CHECK(after.tensors[i].version == before.tensors[i].version);
    CHECK(after.tensors[i].bytes == before.tensors[i].bytes);
    CHECK(after.tensors[i].has_grad == before.tensors[i].has_grad);
    CHECK(after.tensors[i].grad == before.tensors[i].grad);
  }
  CHECK(after.optimizer == before.optimizer);
  CHECK(after.ckpt_bytes == before.ckpt_bytes);
  CHECK(after.rng == before.rng);
  CHECK(NameScope::current().empty());
  CHECK(is_grad_enabled());
  CHECK_FALSE(is_anomaly_enabled());
  // Whatever the failed call recorded died with the exception; the row's own graphs go now.
  w.keep.clear();
  CHECK(live_tape_entries() == live_before);

  // The tape still records and differentiates: d/dx sum(x * x) = 2x.
  Tensor y = (w.x * w.x).sum();
  CHECK(y.requires_grad());
  std::vector<Tensor> g = grad({y}, {w.x});
  CHECK(g[0].to_vector<float>() == (w.x * 2.0).to_vector<float>());
  // The model still trains: one step lowers the loss.
  const double l0 = w.loss();
  w.train_step();
  CHECK(w.loss() < l0);
}

// --- one row per kind ------------------------------------------------------------------------------

enum class Want { Shape, DType, Device, Autograd, IO, Value, OutOfMemory, NotImplemented };

const char* want_name(Want w) {
  switch (w) {
    case Want::Shape: return "ShapeError";
    case Want::DType: return "DTypeError";
    case Want::Device: return "DeviceError";
    case Want::Autograd: return "AutogradError";
    case Want::IO: return "IOError";
    case Want::Value: return "ValueError";
    case Want::OutOfMemory: return "OutOfMemoryError";
    case Want::NotImplemented: return "NotImplemented";
  }
  return "?";
}

bool is_class(const Error& e, Want w) {
  switch (w) {
    case Want::Shape: return dynamic_cast<const ShapeError*>(&e) != nullptr;
    case Want::DType: return dynamic_cast<const DTypeError*>(&e) != nullptr;
    case Want::Device: return dynamic_cast<const DeviceError*>(&e) != nullptr;
    case Want::Autograd: return dynamic_cast<const AutogradError*>(&e) != nullptr;
    case Want::IO: return dynamic_cast<const IOError*>(&e) != nullptr;
    case Want::Value: return dynamic_cast<const ValueError*>(&e) != nullptr;
    case Want::OutOfMemory: return dynamic_cast<const OutOfMemoryError*>(&e) != nullptr;
    case Want::NotImplemented: return dynamic_cast<const NotImplemented*>(&e) != nullptr;
  }
  return false;
}

struct Row {
  std::string kind;
  Want want;
  std::vector<std::string> parts;  // the message must contain each (the op first)
  std::function<void(World&)> misuse;
  std::function<void(World&)> setup = nullptr;  // legitimate work before the misuse
  bool needs_no_cuda = false;  // a device row: meaningless where CUDA exists
  bool skip_under_asan = false;  // ASan aborts on impossible allocations instead of failing them
};

const Options f64opt{.dtype = Float64};

// Writes a few bytes that are not any tensor format: the start of a 1x1 PNG.
std::string write_png(const World& w) {
  return w.dir.write("picture.png", std::vector<uint8_t>{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13,
                                                         'I', 'H', 'D', 'R', 0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0});
}

/// Builds a randomly initialised module without moving the generator, so that every row can
/// check that the failing call itself drew nothing.
template <typename Make>
auto built(Make make) {
  const std::string state = get_rng_state();
  auto module = make();
  set_rng_state(state);
  return module;
}

std::vector<Row> catalogue() {
  using W = World;
  std::vector<Row> rows = {
      // --- shape -----------------------------------------------------------------------------------
      {"shape: broadcast of [2,3] and [4]", Want::Shape, {"add", "[2,3]", "[4]"},
       [](W& w) { (void)(w.plain + ones({4})); }},
      {"shape: in-place result larger than the tensor", Want::Shape, {"mul", "[2,2,3]", "[2,3]"},
       [](W& w) { w.plain.mul_(ones({2, 2, 3})); }},
      {"shape: matmul inner dimensions", Want::Shape, {"matmul", "[2,3]", "[4,5]", "3 != 4"},
       [](W& w) { matmul(w.plain, ones({4, 5})); }},
      {"shape: matmul batch dimensions", Want::Shape, {"matmul", "[2,2,3]", "[3,3,4]"},
       [](W&) { matmul(ones({2, 2, 3}), ones({3, 3, 4})); }},
      {"shape: conv2d channel mismatch", Want::Shape, {"conv2d", "[1,2,5,5]", "3"},
       [](W&) { built([] { return nn::Conv2d(3, 1, 3); })(ones({1, 2, 5, 5})); }},
      {"shape: conv2d kernel larger than the input", Want::Shape, {"conv2d", "[7,7]", "[1,1,5,5]"},
       [](W&) { built([] { return nn::Conv2d(1, 1, 7); })(ones({1, 1, 5, 5})); }},
      {"shape: conv2d input of the wrong rank", Want::Shape, {"conv2d", "[5,5]"},
       [](W&) { built([] { return nn::Conv2d(1, 1, 3); })(ones({5, 5})); }},
      {"shape: linear input features", Want::Shape, {"linear", "[2,3]", "[2,4]"},
       [](W& w) { built([] { return nn::Linear(4, 2); })(w.plain); }},
      {"shape: model's third layer gets the wrong width", Want::Shape, {"linear", "[8,4]", "[2,5]"},
       [](W& w) { built([] { return nn::Sequential(nn::Linear(3, 4), nn::ReLU(), nn::Linear(5, 2)); })(w.data.x); }},
      {"shape: cross_entropy targets of the wrong rank", Want::Shape, {"cross_entropy", "[2,3]", "[2,1]"},
       [](W& w) { cross_entropy(w.x, zeros({2, 1}, {.dtype = Int64})); }},
      {"shape: cross_entropy targets of another batch size", Want::Shape, {"cross_entropy", "[2,3]", "[4]"},
       [](W& w) { cross_entropy(w.x, w.ints); }},
      {"shape: mse_loss shapes that do not broadcast", Want::Shape, {"mse_loss", "[2,3]", "[4]"},
       [](W& w) { mse_loss(w.x, ones({4})); }},
      {"shape: reshape to another element count", Want::Shape, {"reshape", "[2,3]", "[4]"},
       [](W& w) { w.x.reshape({4}); }},
      {"shape: reshape with two -1", Want::Shape, {"reshape", "-1"}, [](W& w) { w.x.reshape({-1, -1}); }},
      {"shape: view of a transposed tensor", Want::Shape, {"view", "[3,2]", "reshape()"},
       [](W& w) { w.x.t().view({6}); }},
      {"shape: expand a dimension that is not 1", Want::Shape, {"expand", "[2,3]", "[4,3]"},
       [](W& w) { w.x.expand({4, 3}); }},
      {"shape: concat of mismatched shapes", Want::Shape, {"concat", "[2,4]", "[2,3]"},
       [](W& w) { concat({w.x, ones({2, 4})}, 0); }},
      {"shape: concat of different ranks", Want::Shape, {"concat", "[3]", "[2,3]"},
       [](W& w) { concat({w.x, ones({3})}, 0); }},
      {"shape: stack of mismatched shapes", Want::Shape, {"stack", "[3,2]", "[2,3]"},
       [](W& w) { stack({w.x, ones({3, 2})}); }},
      {"shape: squeeze a dimension that is not 1", Want::Shape, {"squeeze", "[2,3]", "size 3"},
       [](W& w) { w.x.squeeze(1); }},
      {"shape: permute with too few dims", Want::Shape, {"permute", "[0]", "[2,3]"},
       [](W& w) { w.x.permute({0}); }},
      {"shape: LSTM input features", Want::Shape, {"LSTM", "[5,2,3]", "input_size is 4"},
       [](W&) { built([] { return nn::LSTM(4, 3); })(ones({5, 2, 3})); }},
      {"shape: BatchNorm channels", Want::Shape, {"BatchNorm1d", "[4,2]", "C = 3"},
       [](W&) { nn::BatchNorm1d b(3); b(ones({4, 2})); }},
      {"shape: LayerNorm normalized shape", Want::Shape, {"layer_norm", "[2,3]", "[4]"},
       [](W& w) { nn::LayerNorm l({4}); l(w.x); }},
      {"shape: backward seed of the wrong shape", Want::Shape, {"backward", "[2]", "[2,3]"},
       [](W& w) { (w.x * 2.0).backward(ones({2})); }},
      {"shape: set_grad of the wrong shape", Want::Shape, {"set_grad", "[3]", "[2,3]"},
       [](W& w) { w.x.set_grad(ones({3})); }},
      {"shape: custom Function backward returns a wrong-shaped gradient", Want::Shape, {"WrongShape", "[]", "[2,3]"},
       [](W& w) { w.keep[0].backward(); },
       [](W& w) { w.keep = {WrongShape::apply(w.x).sum()}; }},

      // --- dtype -----------------------------------------------------------------------------------
      {"dtype: softmax of Int64", Want::DType, {"softmax", "int64"}, [](W& w) { softmax(w.ints); }},
      {"dtype: matmul of Int64", Want::DType, {"matmul", "int64"},
       [](W& w) { matmul(w.ints.reshape({2, 2}), w.ints.reshape({2, 2})); }},
      {"dtype: mean of Int64", Want::DType, {"mean", "int64"}, [](W& w) { w.ints.mean(); }},
      {"dtype: neg of Bool", Want::DType, {"neg", "bool"}, [](W& w) { (void)(-w.flags); }},
      {"dtype: requires_grad_ on Int64", Want::DType, {"requires_grad_", "int64"},
       [](W& w) { w.ints.requires_grad_(); }},
      {"dtype: conv2d with float64 input and float32 weight", Want::DType, {"conv2d", "float64", "float32"},
       [](W&) { built([] { return nn::Conv2d(1, 1, 3); })(ones({1, 1, 5, 5}, f64opt)); }},
      {"dtype: LSTM cell with float64 input and float32 weights", Want::DType, {"LSTMCell", "float64", "float32"},
       [](W&) { built([] { return nn::LSTMCell(3, 2); })(ones({1, 3}, f64opt)); }},
      {"dtype: cross_entropy with float targets", Want::DType, {"cross_entropy", "float32"},
       [](W& w) { cross_entropy(w.x, tensor({0.f, 1.f})); }},
      {"dtype: cross_entropy with bool targets", Want::DType, {"cross_entropy", "bool"},
       [](W& w) { cross_entropy(w.x, w.flags); }},
      {"dtype: nll_loss with float targets", Want::DType, {"nll_loss", "float32"},
       [](W& w) { nn::functional::nll_loss(log_softmax(w.x), tensor({0.f, 1.f})); }},
      {"dtype: where with a float condition", Want::DType, {"where", "float32"},
       [](W& w) { where(w.plain, w.x, w.plain); }},
      {"dtype: index_select with a float index", Want::DType, {"index_select", "float32"},
       [](W& w) { w.x.index_select(1, tensor({0.f})); }},
      {"dtype: embedding with float indices", Want::DType, {"embedding", "float32"},
       [](W&) { built([] { return nn::Embedding(4, 3); })(tensor({0.f, 1.f})); }},
      {"dtype: in-place float result into an Int64 tensor", Want::DType, {"add", "float32", "int64"},
       [](W& w) { w.ints.add_(tensor({0.5f, 0.5f, 0.5f, 0.5f})); }},
      {"dtype: in-place true division of Int64", Want::DType, {"div_", "int64"}, [](W& w) { w.ints.div_(2.0); }},
      {"dtype: set_grad of another dtype", Want::DType, {"set_grad", "int64", "float32"},
       [](W& w) { w.x.set_grad(zeros({2, 3}, {.dtype = Int64})); }},
      {"dtype: random factory with an integer dtype", Want::DType, {"randn", "int64"},
       [](W&) { randn({3}, {.dtype = Int64}); }},
      {"dtype: Module.to(Int64)", Want::DType, {"Sequential.to", "int64"}, [](W& w) { w.model->to(Int64); }},
      {"dtype: data_ptr of the wrong type", Want::DType, {"data_ptr", "float64", "float32"},
       [](W& w) { w.plain.data_ptr<double>(); }},

      // --- device ------------------------------------------------------------------------------
      {"device: zeros on cuda:0", Want::Device, {"zeros", "cuda:0"},
       [](W&) { zeros({2}, {.device = Device::cuda(0)}); }, nullptr, true},
      {"device: to(cuda:0)", Want::Device, {"to", "cuda:0"}, [](W& w) { w.x.to(Device::cuda(0)); }, nullptr, true},
      {"device: randn on cuda:1 draws nothing", Want::Device, {"randn", "cuda:1"},
       [](W&) { randn({3}, {.device = Device::cuda(1)}); }, nullptr, true},
      {"device: Module.to(cuda:0)", Want::Device, {"cuda:0"}, [](W& w) { w.model->to(Device::cuda(0)); }, nullptr,
       true},

      // --- axis --------------------------------------------------------------------------------
      {"axis: sum over axis 2 of a matrix", Want::Shape, {"sum", "axis 2", "rank 2"}, [](W& w) { w.x.sum(2); }},
      {"axis: mean over axis -3 of a matrix", Want::Shape, {"mean", "axis -3", "rank 2"},
       [](W& w) { w.x.mean(-3); }},
      {"axis: max over axis 5", Want::Shape, {"max", "axis 5"}, [](W& w) { w.x.max(5); }},
      {"axis: argmax over axis -3", Want::Shape, {"argmax", "axis -3"}, [](W& w) { w.x.argmax(-3); }},
      {"axis: repeated reduction axes", Want::Shape, {"sum", "[0,-2]"}, [](W& w) { w.x.sum({0, -2}); }},
      {"axis: softmax over axis 2", Want::Shape, {"softmax", "axis 2"}, [](W& w) { w.x.softmax(2); }},
      {"axis: log_softmax over axis -3", Want::Shape, {"log_softmax", "axis -3"},
       [](W& w) { w.x.log_softmax(-3); }},
      {"axis: transpose of axis 2 and -3", Want::Shape, {"transpose", "axis"}, [](W& w) { w.x.transpose(2, -3); }},
      {"axis: squeeze axis 5 and -3", Want::Shape, {"squeeze", "axis -3"},
       [](W& w) {
         try {
           w.x.squeeze(5);
         } catch (const ShapeError&) {
           w.x.squeeze(-3);
         }
       }},
      {"axis: unsqueeze axis -4 of a matrix", Want::Shape, {"unsqueeze", "axis -4", "rank 3"},
       [](W& w) { w.x.unsqueeze(-4); }},
      {"axis: slice (narrow) along axis 2", Want::Shape, {"slice", "axis 2"}, [](W& w) { w.x.slice(2, 0, 1); }},
      {"axis: index_select (select) along axis -3", Want::Shape, {"index_select", "axis -3"},
       [](W& w) { w.x.index_select(-3, tensor({0})); }},
      {"axis: concat along axis 2", Want::Shape, {"concat", "axis 2"}, [](W& w) { concat({w.x, w.x}, 2); }},
      {"axis: flatten with start after end", Want::Shape, {"flatten", "start_dim 1", "end_dim 0"},
       [](W& w) { w.x.flatten(1, 0); }},
      {"axis: size(0) of a 0-d tensor", Want::Shape, {"size", "0-d"}, [](W& w) { (void)w.x.sum().size(0); }},
      {"axis: softmax over axis 3 of a 0-d tensor", Want::Shape, {"softmax", "axis 3", "rank 0"},
       [](W& w) { w.x.sum().softmax(3); }},
      {"axis: transpose axis 5 of a 0-d tensor", Want::Shape, {"transpose", "axis 5", "rank 0"},
       [](W& w) { w.x.sum().transpose(0, 5); }},

      // --- index -------------------------------------------------------------------------------
      {"index: index_select beyond the size", Want::Value, {"index_select", "index 3", "size 3"},
       [](W& w) { w.x.index_select(1, tensor({0, 3})); }},
      {"index: index_select with a negative index", Want::Value, {"index_select", "index -1"},
       [](W& w) { w.x.index_select(0, tensor({-1})); }},
      {"index: index_select with indices too large and negative names the negative one", Want::Value,
       {"index_select", "index -2", "size 2"}, [](W& w) { w.x.index_select(0, tensor({5, -2, 1})); }},
      {"index: cross_entropy target beyond the classes", Want::Value, {"cross_entropy", "target 3", "3 classes"},
       [](W& w) { cross_entropy(w.x, tensor({0, 3})); }},
      {"index: cross_entropy negative target", Want::Value, {"cross_entropy", "target -1", "3 classes"},
       [](W& w) { cross_entropy(w.x, tensor({-1, 2})); }},
      {"index: nll_loss negative target", Want::Value, {"nll_loss", "target -3", "3 classes"},
       [](W& w) { nn::functional::nll_loss(log_softmax(w.x, 1), tensor({1, -3})); }},
      {"index: embedding index beyond the table", Want::Value, {"embedding", "index 4", "4 embeddings"},
       [](W&) { built([] { return nn::Embedding(4, 3); })(tensor({0, 4})); }},
      {"index: embedding negative index", Want::Value, {"embedding", "index -1", "4 embeddings"},
       [](W&) { built([] { return nn::Embedding(4, 3); })(tensor({-1, 3})); }},
      {"index: one_hot index beyond the classes", Want::Value, {"one_hot", "index 4", "3 classes"},
       [](W& w) { one_hot(w.ints, 3); }},
      {"index: one_hot negative index", Want::Value, {"one_hot", "index -1", "3 classes"},
       [](W&) { one_hot(tensor({2, -1}), 3); }},
      {"index: Sequential index beyond its modules", Want::Value, {"Sequential", "index 3", "3 modules"},
       [](W& w) { (void)(*w.model)[3]; }},
      {"index: dataset example beyond its size", Want::Value, {"TensorDataset", "index 8", "8 examples"},
       [](W& w) { io::TensorDataset(w.data.x, w.data.y).get(8); }},
      {"index: optimizer group that does not exist", Want::Value, {"SGD", "group 2"},
       [](W& w) { (void)w.opt->lr(2); }},
      {"index: item() of a multi-element tensor", Want::Value, {"item", "[2,3]"},
       [](W& w) { (void)w.x.item<float>(); }},

      // --- autograd ----------------------------------------------------------------------------
      {"autograd: backward of a non-scalar without a gradient", Want::Autograd, {"backward", "[2,3]"},
       [](W& w) { (w.x * 2.0).backward(); }},
      {"autograd: backward twice without retain_graph", Want::Autograd, {"sum", "second time", "retain_graph"},
       [](W& w) { w.keep[0].backward(); },
       [](W& w) {
         w.keep = {(w.x * w.x).sum()};
         w.keep[0].backward();
         w.x.set_grad(full({2, 3}, 0.25));
       }},
      {"autograd: grad() of an input that does not require grad", Want::Autograd, {"grad", "input 1", "require grad"},
       [](W& w) { grad({(w.x * w.plain).sum()}, {w.x, w.plain}); }},
      {"autograd: grad() of an unused input without allow_unused", Want::Autograd, {"grad", "input 0", "allow_unused"},
       [](W& w) {
         Tensor u = ones({2}, {.requires_grad = true});
         grad({(w.x * 3.0).sum()}, {u});
       }},
      {"autograd: backward of a tensor without history", Want::Autograd, {"backward", "does not require grad"},
       [](W& w) { w.plain.sum().backward(); }},
      {"autograd: saved tensor changed in place before backward", Want::Autograd, {"mul", "modified in place"},
       [](W& w) { w.keep[0].backward(); },
       [](W& w) {
         Tensor c = w.plain.clone();
         w.keep = {(w.x * c).sum(), c};
         c.add_(1.0);
       }},
      {"autograd: in-place add_ on a leaf that requires grad", Want::Autograd, {"add", "leaf requiring grad", "[2,3]"},
       [](W& w) { w.x.add_(1.0); }},
      {"autograd: in-place copy_ on a leaf that requires grad", Want::Autograd, {"copy_", "leaf requiring grad"},
       [](W& w) { w.x.copy_(w.plain); }},
      {"autograd: in-place op on a recorded result", Want::Autograd, {"fill_", "recorded on the tape"},
       [](W& w) { w.keep[0].fill_(0.0); }, [](W& w) { w.keep = {w.x * 2.0}; }},
      {"autograd: requires_grad_ on a recorded result", Want::Autograd, {"requires_grad_", "mul"},
       [](W& w) { w.keep[0].requires_grad_(false); }, [](W& w) { w.keep = {w.x * 2.0}; }},
      {"autograd: NaN gradient under AnomalyGuard names the op and scope", Want::Autograd,
       {"AnomalyGuard", "block/sqrt", "NaN or Inf"},
       [](W& w) {
         AnomalyGuard anomaly;
         w.keep[0].backward();
       },
       [](W& w) {
         NameScope scope("block");
         w.keep = {sqrt(w.x * 0.0).sum()};
       }},
      {"autograd: a backward failing half way updates no .grad()", Want::Autograd, {"AnomalyGuard", "sqrt"},
       [](W& w) {
         AnomalyGuard anomaly;
         w.keep[0].backward();
       },
       [](W& w) {
         // Recorded first, replayed last: x's other branch has delivered its gradient by then.
         Tensor failing = sqrt(w.x * 0.0).sum();
         Tensor fine = (w.x * 2.0).sum() + (*w.model)(w.data.x).sum();
         w.keep = {failing + fine};
       }},
      {"autograd: non-persistent GradientTape asked twice", Want::Autograd, {"GradientTape.gradient", "once"},
       [](W& w) {
         GradientTape tape;
         Tensor y = (w.x * w.x).sum();
         tape.gradient(y, w.x);
         tape.gradient(y, w.x);
       }},
      {"autograd: custom Function backward returns too many gradients", Want::Autograd, {"WrongArity", "2 gradients"},
       [](W& w) { w.keep[0].backward(); }, [](W& w) { w.keep = {WrongArity::apply(w.x).sum()}; }},
      {"autograd: more seeds than outputs", Want::Value, {"grad", "2 gradients for 1 outputs"},
       [](W& w) { grad({w.x.sum()}, {w.x}, {.grad_outputs = {ones({}), ones({})}}); }},

      // --- empty -------------------------------------------------------------------------------
      {"empty: max over an empty axis", Want::Value, {"max", "empty dimension 0", "[0,3]"},
       [](W&) { zeros({0, 3}).max(0); }},
      {"empty: argmax over an empty axis", Want::Value, {"argmax", "empty dimension 1", "[3,0]"},
       [](W&) { zeros({3, 0}).argmax(1); }},
      {"empty: min of an empty tensor", Want::Value, {"min", "[0]"}, [](W&) { zeros({0}).min(); }},
      {"empty: item() of an empty tensor", Want::Value, {"item", "[0]"}, [](W&) { (void)zeros({0}).item<float>(); }},

      // --- huge --------------------------------------------------------------------------------
      {"huge: every factory refuses 2^40 x 2^40", Want::Shape, {"has too many elements", "[1099511627776,1099511627776]"},
       [](W&) {
         // Each must name itself; the row fails at the first one that does not throw.
         const Shape s{k2e40, k2e40};
         const std::vector<std::pair<std::string, std::function<void()>>> factories = {
             {"zeros", [&] { zeros(s); }},         {"ones", [&] { ones(s); }},
             {"full", [&] { full(s, 1.0); }},     {"empty", [&] { empty(s); }},
             {"rand", [&] { rand(s); }},          {"randn", [&] { randn(s); }},
             {"uniform", [&] { uniform(s, 0, 1); }}, {"normal", [&] { normal(s, 0, 1); }},
             {"truncated_normal", [&] { truncated_normal(s); }}, {"randint", [&] { randint(0, 5, s); }},
             {"from_blob", [&] { float f = 0; from_blob(&f, s, Float32); }}};
         for (const auto& [name, make] : factories) {
           try {
             make();
           } catch (const ShapeError& e) {
             if (std::string(e.what()).rfind(name + ": ", 0) != 0) throw;  // wrong op named: report it
             continue;
           }
           throw InternalError(name + " accepted a 2^80-element shape");
         }
         zeros(s);  // the row's own exception
       }},
      {"huge: 2^62 elements (byte count overflows)", Want::Shape, {"ones", "[4611686018427387904]"},
       [](W&) { ones({k2e62}); }},
      {"huge: eye(2^32) (n*m wraps to 0)", Want::Shape, {"eye", "[4294967296,4294967296]"},
       [](W&) { eye(int64_t{1} << 32); }},
      {"huge: arange with 1e300 elements", Want::Shape, {"arange", "too many elements"},
       [](W&) { arange(0.0, 1e300); }},
      {"huge: linspace with 2^62 steps", Want::Shape, {"linspace", "[4611686018427387904]"},
       [](W&) { linspace(0.0, 1.0, k2e62); }},
      {"huge: reshape to 2^40 x 2^40 x -1", Want::Shape, {"reshape", "[1099511627776,1099511627776]"},
       [](W& w) { w.x.reshape({k2e40, k2e40, -1}); }},
      {"huge: reshape with a size product wrapping to 1", Want::Shape, {"reshape"},
       [](W& w) {
         // 7 * 0x6DB6DB6DB6DB6DB7 == 1 (mod 2^64): an unchecked product would infer -1 as 6.
         w.plain.reshape({7, 0x6DB6DB6DB6DB6DB7, -1});
       }},
      {"huge: expand to 2^40 x 2^40", Want::Shape, {"expand", "[1099511627776,1099511627776]"},
       [](W&) { ones({1, 1}).expand({k2e40, k2e40}); }},
      {"huge: matmul of expanded operands", Want::Shape, {"matmul", "[549755813888,549755813888]"},
       [](W&) {
         Tensor a = ones({1, 1}).expand({k2e40 / 2, 1}), b = ones({1, 1}).expand({1, k2e40 / 2});
         matmul(a, b);
       }},
      {"huge: concat of expanded operands", Want::Shape, {"concat", "[1152921504606846976]"},
       [](W&) {
         Tensor a = ones({1}).expand({k2e59});
         concat({a, a});
       }},
      {"huge: broadcast of expanded operands", Want::Shape, {"add", "[1099511627776,1099511627776]"},
       [](W&) { (void)(ones({1, 1}).expand({k2e40, 1}) + ones({1, 1}).expand({1, k2e40})); }},
      {"huge: one_hot with 2^62 classes", Want::Shape, {"one_hot", "4611686018427387904"},
       [](W& w) { one_hot(w.ints, k2e62); }},
      {"huge: layers whose weights cannot exist", Want::Shape, {"too many elements"},
       [](W&) {
         for (auto make : std::vector<std::pair<std::string, std::function<void()>>>{
                  {"Linear", [] { nn::Linear(k2e40, k2e40); }},
                  {"Embedding", [] { nn::Embedding(k2e40, k2e40); }},
                  {"Conv2d", [] { nn::Conv2d(1, 1, nn::Size2(k2e40, k2e40)); }},
                  {"LSTM", [] { nn::LSTM(1, k2e62); }},  // 4 * 2^62 wraps to 0
                  {"GRUCell", [] { nn::GRUCell(1, k2e62 / 2); }},
                  {"LayerNorm", [] { nn::LayerNorm({k2e40, k2e40}); }}}) {
           try {
             make.second();
           } catch (const ShapeError& e) {
             if (std::string(e.what()).rfind(make.first + ": ", 0) != 0) throw;
             continue;
           }
           throw InternalError(make.first + " accepted sizes that overflow");
         }
         nn::Linear(k2e40, k2e40);
       }},
      {"huge: conv2d padding that overflows the geometry", Want::Shape, {"conv2d", "padding", "4611686018427387904"},
       [](W&) { nn::functional::conv2d(ones({1, 1, 3, 3}), ones({1, 1, 1, 1}), Tensor(), {.padding = k2e62}); }},
      {"huge: conv2d output of 2^82 elements", Want::Shape, {"conv2d", "too many elements"},
       [](W&) { nn::functional::conv2d(ones({1, 1, 3, 3}), ones({1, 1, 1, 1}), Tensor(), {.padding = k2e40}); }},
      {"huge: max_pool2d dilation that overflows", Want::Shape, {"max_pool2d", "dilation", "4611686018427387904"},
       [](W&) { nn::functional::max_pool2d(ones({1, 1, 3, 3}), 3, {.dilation = k2e62}); }},
      // 2^58 bytes: no overflow, but more than any 64-bit address space maps (x86-64 and arm64
      // give user space at most 2^57), so it fails even where the kernel overcommits freely.
      {"huge: allocation that cannot succeed (2^56 floats)", Want::OutOfMemory,
       {"zeros", "cannot allocate", "[72057594037927936]", "out of memory"},
       [](W&) { zeros({int64_t{1} << 56}); }, nullptr, false, true},

      // --- file --------------------------------------------------------------------------------
      {"file: a text file loaded as safetensors", Want::IO, {"load", "notes.txt"},
       [](W& w) { io::load(w.dir.write("notes.txt", "hello, this is not a checkpoint\n")); }},
      {"file: a PNG loaded as safetensors", Want::IO, {"load", "picture.png"}, [](W& w) { io::load(write_png(w)); }},
      {"file: a PNG loaded as IDX", Want::IO, {"read_idx", "picture.png", "not an IDX file"},
       [](W& w) { io::read_idx(write_png(w)); }},
      {"file: a PNG loaded as .npy", Want::IO, {"load_npy", "picture.png", "not a .npy file"},
       [](W& w) { io::load_npy(write_png(w)); }},
      {"file: a checkpoint loaded as .npy", Want::IO, {"load_npy", "model.safetensors"},
       [](W& w) { io::load_npy(w.ckpt); }},
      {"file: a .npy file loaded as safetensors", Want::IO, {"load", "array.npy"},
       [](W& w) {
         io::save_npy(ones({2}), w.dir.file("array.npy"));
         io::load(w.dir.file("array.npy"));
       }},
      {"file: an empty file loaded as a checkpoint", Want::IO, {"load", "empty.safetensors", "empty"},
       [](W& w) { io::load(w.dir.write("empty.safetensors", "")); }},
      {"file: a truncated checkpoint", Want::IO, {"load", "cut.safetensors"},
       [](W& w) {
         std::vector<uint8_t> b = read_bytes(w.ckpt);
         b.resize(b.size() - 5);
         io::load(*w.model, w.dir.write("cut.safetensors", b));
       }},
      {"file: a missing file", Want::IO, {"load", "nowhere.safetensors"},
       [](W& w) { io::load(w.dir.file("nowhere.safetensors")); }},
      {"file: a folder loaded as a checkpoint", Want::IO, {"load", "cannot open"},
       [](W& w) { io::load(w.dir.path().string()); }},
      {"file: a checkpoint of other shapes loaded strictly into a model", Want::IO,
       {"load", "other.safetensors", "0.weight", "[4,5]", "[4,3]"},
       [](W& w) { io::load(*w.model, w.dir.file("other.safetensors")); },
       [](W& w) {
         nn::Sequential other(nn::Linear(5, 4), nn::ReLU(), nn::Linear(4, 2));
         io::save(other, w.dir.file("other.safetensors"));
       }},
      {"file: a checkpoint missing a parameter", Want::IO, {"load", "partial.safetensors", "missing", "2.bias"},
       [](W& w) {
         StateDict sd = w.model->state_dict();
         sd.erase("2.bias");
         io::save(sd, w.dir.file("partial.safetensors"));
         io::load(*w.model, w.dir.file("partial.safetensors"));
       }},
      {"file: an Adam checkpoint loaded into SGD", Want::IO, {"load", "adam.safetensors", "Adam", "SGD"},
       [](W& w) { io::load(*w.opt, w.dir.file("adam.safetensors")); },
       [](W& w) {
         optim::Adam adam(w.model->parameters());
         io::save(adam, w.dir.file("adam.safetensors"));
       }},
      {"file: a model checkpoint loaded into an optimizer", Want::IO, {"load", "model.safetensors", "SGD"},
       [](W& w) { io::load(*w.opt, w.ckpt); }},
      {"file: a refused save leaves the old file", Want::Value, {"save", "model.safetensors", "'broken'", "undefined"},
       [](W& w) { io::save(StateDict{{"broken", Tensor()}, {"ok", ones({2})}}, w.ckpt); }},
      {"file: saving into a folder that does not exist", Want::IO, {"save", "no-such-folder"},
       [](W& w) { io::save(*w.model, w.dir.file("no-such-folder/model.safetensors")); }},
      {"file: SummaryWriter under a regular file", Want::IO, {"SummaryWriter", "model.safetensors", "cannot create"},
       [](W& w) { io::SummaryWriter writer(w.ckpt + "/runs"); }},

      // --- optim -------------------------------------------------------------------------------
      {"optim: negative learning rate", Want::Value, {"SGD", "learning rate", "-0.1"},
       [](W& w) { optim::SGD(w.model->parameters(), {.lr = -0.1}); }},
      {"optim: NaN learning rate set later", Want::Value, {"SGD", "learning rate", "nan"},
       [](W& w) { w.opt->set_lr(std::nan("")); }},
      {"optim: empty parameter list", Want::Value, {"Adam", "empty parameter list"},
       [](W&) { optim::Adam(std::vector<Tensor>{}); }},
      {"optim: a parameter that is not a leaf", Want::Value, {"SGD", "parameter 0", "leaf"},
       [](W& w) { optim::SGD({w.x * 2.0}); }},
      {"optim: a parameter that does not require grad", Want::Value, {"SGD", "parameter 1", "requires grad"},
       [](W& w) { optim::SGD({w.x, w.plain}); }},
      {"optim: a parameter listed twice", Want::Value, {"Adam", "parameter 1", "more than once"},
       [](W& w) { optim::Adam({w.x, w.x}); }},
      {"optim: Adam beta outside [0, 1)", Want::Value, {"Adam", "beta1", "1"},
       [](W& w) { optim::Adam({w.x}, {.betas = {1.0, 0.999}}); }},
      {"optim: apply_gradients with a wrong-shaped gradient", Want::Shape, {"SGD.apply_gradients", "[3]", "[2,3]"},
       [](W& w) {
         optim::SGD sgd({w.x});
         sgd.apply_gradients({{ones({3}), w.x}});
       }},
      {"optim: StepLR with step_size 0", Want::Value, {"StepLR", "step_size", "0"},
       [](W& w) { optim::StepLR(*w.opt, 0); }},
      {"optim: clip_grad_norm_ with a negative norm", Want::Value, {"clip_grad_norm_", "max_norm", "-1"},
       [](W& w) { optim::clip_grad_norm_(w.model->parameters(), -1.0); }},

      // --- module ------------------------------------------------------------------------------
      {"module: registering a parameter name twice", Want::Value, {"Registry", "'w'", "already registered"},
       [](W& w) {
         Registry r;
         r.register_parameter("w", w.plain);  // must not flip plain's requires_grad on the way
       }},
      {"module: a parameter name with a dot", Want::Value, {"Registry", "'a.b'"},
       [](W&) {
         Registry r;
         r.register_buffer("a.b", ones({1}));
       }},
      {"module: load_state_dict missing keys", Want::Value, {"Sequential.load_state_dict", "missing", "0.bias"},
       [](W& w) {
         StateDict sd = w.model->state_dict();
         sd.erase("0.bias");
         w.model->load_state_dict(sd);
       }},
      {"module: load_state_dict unexpected keys", Want::Value, {"Sequential.load_state_dict", "unexpected", "extra"},
       [](W& w) {
         StateDict sd = w.model->state_dict();
         for (auto& [name, t] : sd) t = t.clone() + 1.0;  // a full, changed state: nothing may land
         sd["extra"] = ones({1});
         w.model->load_state_dict(sd);
       }},
      {"module: load_state_dict of wrong shapes", Want::Shape, {"load_state_dict", "0.weight", "[4,5]", "[4,3]"},
       [](W& w) {
         StateDict sd = w.model->state_dict();
         sd["0.weight"] = zeros({4, 5});
         w.model->load_state_dict(sd);
       }},
      {"module: one-tensor forward of a loss module", Want::NotImplemented, {"MSELoss", "forward"},
       [](W& w) {
         nn::MSELoss loss;
         static_cast<nn::Module&>(loss).forward(w.x);
       }},
      {"module: Sequential given a null module", Want::Value, {"Sequential", "null"},
       [](W&) {
         nn::Sequential s;
         s.push_back(std::shared_ptr<nn::Linear>());
       }},

      // --- layer constructor arguments ---------------------------------------------------------
      {"layer: Linear with zero in_features", Want::Value, {"Linear", "in_features", "0"},
       [](W&) { nn::Linear(0, 2); }},
      {"layer: Conv2d with negative channels", Want::Value, {"Conv2d", "-1"}, [](W&) { nn::Conv2d(-1, 1, 3); }},
      {"layer: Conv2d with stride 0", Want::Value, {"conv2d", "stride", "[0,0]"},
       [](W&) { built([] { return nn::Conv2d(1, 1, 3, {.stride = 0}); })(ones({1, 1, 5, 5})); }},
      {"layer: Conv2d groups that do not divide", Want::Value, {"Conv2d", "groups=2", "3"},
       [](W&) { nn::Conv2d(3, 4, 3, {.groups = 2}); }},
      {"layer: MaxPool2d kernel 0", Want::Value, {"max_pool2d", "kernel", "[0,0]"},
       [](W&) { nn::MaxPool2d m(0); m(ones({1, 1, 4, 4})); }},
      {"layer: AvgPool2d padding above half the kernel", Want::Value, {"avg_pool2d", "padding", "[2,2]"},
       [](W&) { nn::AvgPool2d m(2, {.padding = 2}); m(ones({1, 1, 4, 4})); }},
      {"layer: BatchNorm with zero features", Want::Value, {"BatchNorm2d", "num_features", "0"},
       [](W&) { nn::BatchNorm2d(0); }},
      {"layer: BatchNorm with negative eps", Want::Value, {"BatchNorm1d", "eps"},
       [](W&) { nn::BatchNorm1d(3, {.eps = -1e-5}); }},
      {"layer: BatchNorm with momentum above 1", Want::Value, {"BatchNorm1d", "momentum"},
       [](W&) { nn::BatchNorm1d(3, {.momentum = 1.5}); }},
      {"layer: LayerNorm with a negative size", Want::Value, {"LayerNorm", "[4,-3]"}, [](W&) { nn::LayerNorm({4, -3}); }},
      {"layer: Embedding padding_idx out of range", Want::Value, {"Embedding", "padding_idx 9"},
       [](W&) { nn::Embedding(4, 3, {.padding_idx = 9}); }},
      {"layer: Dropout probability 2", Want::Value, {"dropout", "probability", "2"}, [](W&) { nn::Dropout(2.0); }},
      {"layer: LSTM with zero hidden size", Want::Value, {"LSTM", "hidden_size", "0"}, [](W&) { nn::LSTM(3, 0); }},
      {"layer: GRU dropout outside [0, 1]", Want::Value, {"GRU", "dropout"},
       [](W&) { nn::GRU(3, 2, {.num_layers = 2, .dropout = -0.5}); }},

      // --- data --------------------------------------------------------------------------------
      {"data: DataLoader batch size 0", Want::Value, {"DataLoader", "batch_size", "0"},
       [](W& w) { io::DataLoader(io::TensorDataset(w.data.x, w.data.y), {.batch_size = 0}); }},
      {"data: TensorDataset of mismatched lengths", Want::Shape, {"TensorDataset", "[8,3]", "[2]"},
       [](W& w) { io::TensorDataset(w.data.x, w.flags); }},
      {"data: SummaryWriter max_queue 0", Want::Value, {"SummaryWriter", "max_queue"},
       [](W& w) { io::SummaryWriter(w.dir.file("runs"), {.max_queue = 0}); }},
      {"data: histogram of an empty tensor", Want::Value, {"add_histogram", "weights", "empty"},
       [](W& w) {
         io::SummaryWriter writer(w.dir.file("runs"));
         writer.add_histogram("weights", zeros({0}), 0);
       }},
      {"data: set_rng_state with garbage", Want::Value, {"set_rng_state"}, [](W&) { set_rng_state("not a state"); }},

      // --- misc --------------------------------------------------------------------------------
      {"misc: undefined tensor in concat", Want::Value, {"concat", "tensor 1", "undefined"},
       [](W& w) { concat({w.x, Tensor()}); }},
      {"misc: undefined tensor to clone", Want::Value, {"clone", "undefined"}, [](W&) { clone(Tensor()); }},
      {"misc: undefined operand of an in-place add under NoGradGuard", Want::Value, {"add", "undefined"},
       [](W& w) {
         NoGradGuard off;
         w.plain.add_(Tensor());
       }},
      {"misc: clamp with min above max", Want::Value, {"clamp", "min 3", "max 2"},
       [](W& w) { w.x.clamp(3.0, 2.0); }},
      {"misc: arange with step 0", Want::Value, {"arange", "step=0"}, [](W&) { arange(0.0, 5.0, 0.0); }},
      {"misc: binary_cross_entropy of NaN probabilities", Want::Value, {"binary_cross_entropy", "[0, 1]"},
       [](W& w) { nn::functional::binary_cross_entropy(full({2, 3}, std::nan("")), w.plain * 0.0); }},
      {"misc: slice with step 0", Want::Value, {"slice", "step"}, [](W& w) { w.x.slice(0, 0, 2, 0); }},
  };
  return rows;
}

void run_row(const Row& row) {
  if (row.needs_no_cuda && cuda_is_available()) {
    SUCCEED("this build has CUDA and a GPU: nothing to refuse");
    return;
  }
  if (row.skip_under_asan && tapeflow::test::kAddressSanitizer) {
    WARN("skipped under AddressSanitizer, which aborts on an allocation it cannot serve");
    return;
  }
  World w;
  const std::size_t live_before = live_tape_entries();
  if (row.setup) row.setup(w);
  const Snapshot before = snapshot(w);
  std::string message, cls;
  bool threw_error = false, right_class = false;
  try {
    row.misuse(w);
  } catch (const Error& e) {
    threw_error = true;
    message = e.what();
    cls = typeid(e).name();
    right_class = is_class(e, row.want);
  } catch (const std::exception& e) {
    FAIL_CHECK("threw a std:: exception, not a tapeflow::Error: " << typeid(e).name() << ": " << e.what());
  }
  INFO("message: " << message);
  INFO("expected " << want_name(row.want) << ", got " << cls);
  CHECK(threw_error);
  CHECK(right_class);
  for (const std::string& part : row.parts) {
    INFO("the message should contain \"" << part << "\"");
    CHECK(message.find(part) != std::string::npos);
  }
  require_intact(w, before, live_before);
}

}  // namespace

TEST_CASE("bad input: every kind of misuse throws the right error, says what is wrong and damages nothing",
          "[errors][bad_input]") {
  for (const Row& row : catalogue()) {
    DYNAMIC_SECTION(row.kind) { run_row(row); }
  }
}

TEST_CASE("bad input: the catalogue names at least 40 distinct kinds", "[errors][bad_input]") {
  std::set<std::string> kinds, categories;
  const std::vector<Row> rows = catalogue();
  for (const Row& r : rows) {
    INFO(r.kind);
    CHECK(kinds.insert(r.kind).second);  // no kind twice
    REQUIRE(r.kind.find(": ") != std::string::npos);
    categories.insert(r.kind.substr(0, r.kind.find(": ")));
    CHECK_FALSE(r.parts.empty());
  }
  CHECK(kinds.size() >= 40);
  CHECK(categories == std::set<std::string>{"shape", "dtype", "device", "axis", "index", "autograd", "empty",
                                            "huge", "file", "optim", "module", "layer", "data", "misc"});
}

// --- the valid edge cases next to the errors ------------------------------------------------------

TEST_CASE("bad input: empty tensors give correct results wherever the result is defined", "[errors][bad_input]") {
  SECTION("matmul with a zero inner dimension is all zeros, and so are its gradients") {
    Tensor a = ones({2, 0}, {.requires_grad = true}), b = ones({0, 3}, {.requires_grad = true});
    Tensor c = matmul(a, b);
    CHECK(c.shape() == Shape{2, 3});
    CHECK(c.to_vector<float>() == std::vector<float>(6, 0.f));
    c.sum().backward();
    CHECK(a.grad().shape() == Shape{2, 0});
    CHECK(b.grad().shape() == Shape{0, 3});
  }
  SECTION("matmul with zero outer or batch dimensions is empty") {
    CHECK(matmul(ones({0, 2}), ones({2, 3})).shape() == Shape{0, 3});
    CHECK(matmul(ones({2, 2}), ones({2, 0})).shape() == Shape{2, 0});
    CHECK(matmul(ones({0, 2, 3}), ones({3, 4})).shape() == Shape{0, 2, 4});
  }
  SECTION("sum over an empty axis is 0; mean of nothing is NaN, as in NumPy and PyTorch") {
    CHECK(zeros({3, 0}).sum(1).to_vector<float>() == std::vector<float>(3, 0.f));
    CHECK(zeros({0}).sum().item<float>() == 0.f);
    CHECK(std::isnan(zeros({0}).mean().item<float>()));
    Tensor m = zeros({0, 3}).mean(0);
    CHECK(m.shape() == Shape{3});
    for (float v : m.to_vector<float>()) CHECK(std::isnan(v));
  }
  SECTION("max and argmax along a non-empty axis of an empty tensor are empty") {
    CHECK(zeros({0, 3}).max(1).shape() == Shape{0});
    CHECK(zeros({0, 3}).argmax(1).shape() == Shape{0});
  }
  SECTION("logsumexp over an empty axis is -inf, over -inf values too") {
    for (float v : logsumexp(zeros({3, 0}), {1}).to_vector<float>()) CHECK(v == -INFINITY);
    CHECK(logsumexp(full({2}, -INFINITY), {0}).item<float>() == -INFINITY);
    CHECK(logsumexp(tensor({-INFINITY, 0.f}), {0}).item<float>() == 0.f);
  }
  SECTION("softmax of an empty tensor, concat with an empty tensor, a linear layer on no rows") {
    CHECK(softmax(zeros({0, 3}), 1).shape() == Shape{0, 3});
    CHECK(softmax(zeros({3, 0}), 1).shape() == Shape{3, 0});
    CHECK(concat({ones({2, 3}), zeros({0, 3})}, 0).to_vector<float>() == std::vector<float>(6, 1.f));
    nn::Linear l(3, 2);
    Tensor y = l(zeros({0, 3}));
    CHECK(y.shape() == Shape{0, 2});
    y.sum().backward();
    CHECK(l.weight.grad().to_vector<float>() == std::vector<float>(6, 0.f));
    CHECK(l.bias.grad().to_vector<float>() == std::vector<float>(2, 0.f));
  }
  SECTION("a zero in a shape makes it empty however large the other sizes") {
    CHECK(zeros({0, k2e40}).numel() == 0);
    CHECK(ones({1}).expand({k2e40}).numel() == k2e40);  // a view: nothing is allocated
  }
  SECTION("a slice with a huge step takes the first element") {
    Tensor x = arange(4.0);
    CHECK(x.slice(0, 0, 4, INT64_MAX).to_vector<float>() == std::vector<float>{0.f});
    CHECK(x.slice(0, INT64_MIN, INT64_MAX, k2e62).to_vector<float>() == std::vector<float>{0.f});
    CHECK(x.slice(0, 1, 4, 2).to_vector<float>() == std::vector<float>{1.f, 3.f});
  }
}
