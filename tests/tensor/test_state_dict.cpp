// SPDX-License-Identifier: MIT
// operator<< of StateDict: one "name: [shape] dtype" line per entry, in name order. No
// `using namespace tapeflow` here: the operator must be found by ADL from any namespace, as at a
// REPL prompt.
#include <tapeflow/tapeflow.hpp>

#include <catch2/catch.hpp>

#include <sstream>
#include <string>

namespace {

std::string text(const tapeflow::StateDict& state) {
  std::ostringstream os;
  os << state;
  return os.str();
}

}  // namespace

TEST_CASE("state_dict: operator<< prints one line per entry, sorted by name", "[state_dict]") {
  const tapeflow::StateDict state = {
      {"weight", tapeflow::zeros({3, 2})},
      {"bias", tapeflow::zeros({3})},
      {"step", tapeflow::scalar_tensor(2.0, {.dtype = tapeflow::Float64})},
      {"index", tapeflow::arange(4, {.dtype = tapeflow::Int64})},
      {"missing", tapeflow::Tensor()},
  };
  CHECK(text(state) ==
        "bias: [3] float32\n"
        "index: [4] int64\n"
        "missing: undefined\n"
        "step: [] float64\n"
        "weight: [3,2] float32");
  CHECK(text({}) == "(empty)");
}

TEST_CASE("state_dict: a module's state dict prints its dotted names", "[state_dict]") {
  tapeflow::nn::Sequential model(tapeflow::nn::Linear(4, 3), tapeflow::nn::ReLU(), tapeflow::nn::Linear(3, 1));
  CHECK(text(model.state_dict()) ==
        "0.bias: [3] float32\n"
        "0.weight: [3,4] float32\n"
        "2.bias: [1] float32\n"
        "2.weight: [1,3] float32");
}
