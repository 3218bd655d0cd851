// SPDX-License-Identifier: MIT
// The cling::printValue overloads at the end of tapeflow.hpp, compiled the way cling sees the
// header: meson builds this file with -D__CLING__ (nothing else in tapeflow or the standard
// library reads that macro, so g++ compiles it like any other test). Each overload must give
// operator<<'s text and win overload resolution against cling's own generic printValue.
#include <iterator>
#include <string>
#include <type_traits>

// Stand-ins, written here, for the generic overloads cling's RuntimePrintValue.h declares: the
// address fallback, the non-pointer fallback and the container printer. Were one of ours to lose
// to them (or tie, which would not compile), the checks below would show it.
namespace cling {
inline std::string printValue(const void*) { return "<address>"; }
template <class T, class = std::enable_if_t<!std::is_pointer_v<T>>>
inline std::string printValue(const T&) {
  return "{not representable}";
}
template <typename C>
inline auto printValue(const C* obj) -> decltype(std::begin(*obj), std::end(*obj), std::string()) {
  return "<collection>";
}
}  // namespace cling

#include <tapeflow/tapeflow.hpp>

#include <catch2/catch.hpp>

#include <sstream>

using namespace tapeflow;

namespace {

template <typename T>
std::string streamed(const T& value) {
  std::ostringstream os;
  os << value;
  return os.str();
}

}  // namespace

TEST_CASE("cling: printValue of a Tensor is its operator<< text", "[cling]") {
  Tensor t = tensor({1.5f, -2.f, 0.25f}, {3});
  CHECK(cling::printValue(&t) == "tensor([ 1.5000, -2.0000,  0.2500], shape=[3], dtype=float32)");
  CHECK(cling::printValue(&t) == streamed(t));
  Tensor w = ones({2, 2}, {.dtype = Float64}).requires_grad_();
  Tensor y = (w * 3.0).sum();
  CHECK(cling::printValue(&w) == streamed(w));
  CHECK(cling::printValue(&y) == streamed(y));
  Tensor none;
  CHECK(cling::printValue(&none) == "tensor(undefined)");
}

TEST_CASE("cling: printValue of DType, Device, StateDict and Graph is their operator<< text", "[cling]") {
  const DType d = Int64;
  CHECK(cling::printValue(&d) == "int64");
  const Device cpu = Device::cpu();
  const Device gpu = Device::cuda(1);
  CHECK(cling::printValue(&cpu) == "cpu");
  CHECK(cling::printValue(&gpu) == "cuda:1");

  // A std::map, but ours is an exact non-template match, so it beats the container printer.
  const StateDict state = {{"b", zeros({2})}, {"a", ones({1, 2}, {.dtype = Float64})}};
  CHECK(cling::printValue(&state) == "a: [1,2] float64\nb: [2] float32");
  CHECK(cling::printValue(&state) == streamed(state));

  Tensor x = ones({2}).requires_grad_();
  const Graph g = recorded_graph((x * x).sum());
  CHECK(cling::printValue(&g) == streamed(g));
  CHECK(cling::printValue(&g).rfind("Graph(2 ops", 0) == 0);

  // Shape is a std::vector<int64_t>: left to cling's container printer on purpose.
  const Shape s = {2, 3};
  CHECK(cling::printValue(&s) == "<collection>");
}

TEST_CASE("cling: printValue of any module or optimizer goes through the base-class overload", "[cling]") {
  nn::Linear fc(2, 3);
  CHECK(cling::printValue(&fc) == "Linear(in_features=2, out_features=3, bias=true)");
  nn::Sequential model(nn::Linear(4, 3), nn::ReLU(), nn::Linear(3, 1));
  CHECK(cling::printValue(&model) == streamed(model));
  CHECK(cling::printValue(&model) == model.str());
  const nn::Module& base = model;
  CHECK(cling::printValue(&base) == model.str());

  optim::SGD sgd(fc.parameters(), {.lr = 0.5});
  CHECK(cling::printValue(&sgd) == streamed(sgd));
  CHECK(cling::printValue(&sgd).rfind("SGD (\nParameter Group 0\n    lr: 0.5\n", 0) == 0);
  optim::AdamW adamw(model.parameters());
  CHECK(cling::printValue(&adamw) == streamed(adamw));
}
