// SPDX-License-Identifier: MIT
// The one header users include: `#include <tapeflow/tapeflow.hpp>`. Standard library only.
#pragma once
#include "autograd/function.hpp"
#include "autograd/gradcheck.hpp"
#include "autograd/graph.hpp"
#include "autograd/tape.hpp"
#include "io/io.hpp"
#include "nn/nn.hpp"
#include "optim/optim.hpp"
#include "tensor/device.hpp"
#include "tensor/dtype.hpp"
#include "tensor/error.hpp"
#include "tensor/ops.hpp"
#include "tensor/shape.hpp"
#include "tensor/state_dict.hpp"
#include "tensor/tensor.hpp"
#include "tensor/threads.hpp"

// cling prints a bare expression at its prompt through cling::printValue(const T*); these give
// the operator<< text. Only cling defines __CLING__, so compiled code never sees this block.
// Shape is left out: it is a std::vector<int64_t>, which cling already prints.
#ifdef __CLING__
#include <sstream>
namespace tapeflow::detail {
template <typename T>
std::string repl_text(const T& value) {
  std::ostringstream os;
  os << value;
  return os.str();
}
}  // namespace tapeflow::detail
namespace cling {
inline std::string printValue(const tapeflow::Tensor* value) { return tapeflow::detail::repl_text(*value); }
/// For a DType inside a container: cling prints a bare enum value itself.
inline std::string printValue(const tapeflow::DType* value) { return tapeflow::detail::repl_text(*value); }
inline std::string printValue(const tapeflow::Device* value) { return tapeflow::detail::repl_text(*value); }
inline std::string printValue(const tapeflow::StateDict* value) { return tapeflow::detail::repl_text(*value); }
inline std::string printValue(const tapeflow::Graph* value) { return tapeflow::detail::repl_text(*value); }
/// Every layer and model: a derived-class pointer converts to this better than to const void*.
inline std::string printValue(const tapeflow::nn::Module* value) { return tapeflow::detail::repl_text(*value); }
inline std::string printValue(const tapeflow::optim::Optimizer* value) {
  return tapeflow::detail::repl_text(*value);
}
}  // namespace cling
#endif  // __CLING__
