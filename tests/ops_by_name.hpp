// SPDX-License-Identifier: MIT
// The public function behind each tensor/detail/ops.def row, by the row's name: the tables
// generated from ops.def (the gradient checks in autograd/test_gradcheck.cpp, the CUDA parity
// rows in cuda/test_cuda.cpp) look their ops up here. A new ops.def row gets its entry here;
// both tables' coverage tests fail until it has one.
#pragma once
#include <tapeflow/tapeflow.hpp>

#include <functional>
#include <map>
#include <string>

namespace tapeflow::test {

using UnaryFn = std::function<Tensor(const Tensor&)>;
using BinaryFn = std::function<Tensor(const Tensor&, const Tensor&)>;

/// UNARY rows.
inline const std::map<std::string, UnaryFn>& unary_op_fns() {
  static const std::map<std::string, UnaryFn> m = {
      {"neg", [](const Tensor& x) { return neg(x); }},
      {"exp", [](const Tensor& x) { return exp(x); }},
      {"log", [](const Tensor& x) { return log(x); }},
      {"sqrt", [](const Tensor& x) { return sqrt(x); }},
      {"abs", [](const Tensor& x) { return abs(x); }},
      {"tanh", [](const Tensor& x) { return tanh(x); }},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }},
      {"relu", [](const Tensor& x) { return relu(x); }},
      {"erf", [](const Tensor& x) { return erf(x); }},
  };
  return m;
}

/// BINARY and COMPARE rows.
inline const std::map<std::string, BinaryFn>& binary_op_fns() {
  static const std::map<std::string, BinaryFn> m = {
      {"add", [](const Tensor& a, const Tensor& b) { return add(a, b); }},
      {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); }},
      {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); }},
      {"div", [](const Tensor& a, const Tensor& b) { return div(a, b); }},
      {"pow", [](const Tensor& a, const Tensor& b) { return pow(a, b); }},
      {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }},
      {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }},
      {"eq", [](const Tensor& a, const Tensor& b) { return eq(a, b); }},
      {"ne", [](const Tensor& a, const Tensor& b) { return ne(a, b); }},
      {"lt", [](const Tensor& a, const Tensor& b) { return lt(a, b); }},
      {"le", [](const Tensor& a, const Tensor& b) { return le(a, b); }},
      {"gt", [](const Tensor& a, const Tensor& b) { return gt(a, b); }},
      {"ge", [](const Tensor& a, const Tensor& b) { return ge(a, b); }},
  };
  return m;
}

}  // namespace tapeflow::test
