// SPDX-License-Identifier: MIT
#include "function.hpp"

#include "../tensor/detail/check.hpp"
#include "detail/node.hpp"
#include "tape.hpp"

namespace tapeflow {

void FunctionCtx::save_for_backward(std::vector<Tensor> tensors) {
  versions_.clear();
  for (const Tensor& t : tensors) versions_.push_back(t.defined() ? t.version() : 0);
  saved_ = std::move(tensors);
}

std::vector<Tensor> FunctionCtx::saved() const {
  for (std::size_t i = 0; i < saved_.size(); ++i)
    if (saved_[i].defined() && saved_[i].version() != versions_[i])
      throw AutogradError(name_ + ": saved tensor " + std::to_string(i) +
                          " was modified in place after save_for_backward");
  return saved_;
}

bool FunctionCtx::needs_input_grad(std::size_t i) const {
  return i < needs_input_grad_.size() && needs_input_grad_[i];
}

namespace detail {

NoGradScope::NoGradScope() : previous_(is_grad_enabled()) { set_grad_enabled(false); }
NoGradScope::~NoGradScope() { set_grad_enabled(previous_); }

std::shared_ptr<FunctionCtx> begin_function(const char* name, const std::vector<Tensor>& inputs) {
  auto ctx = std::make_shared<FunctionCtx>();
  // typeid names are mangled ("4Cube"); strip the length prefix of a plain class name.
  std::string n = name;
  std::size_t i = 0;
  while (i < n.size() && std::isdigit(static_cast<unsigned char>(n[i]))) ++i;
  ctx->name_ = i > 0 && i < n.size() ? n.substr(i) : n;
  const bool recording = is_grad_enabled();
  for (const Tensor& t : inputs) ctx->needs_input_grad_.push_back(recording && t.defined() && t.requires_grad());
  return ctx;
}

Tensor record_function(std::shared_ptr<FunctionCtx> ctx, const std::vector<Tensor>& inputs, Tensor output,
                       FunctionBackward backward) {
  TAPEFLOW_CHECK(output.defined(), ValueError, ctx->name_.c_str(), "forward returned an undefined tensor");
  bool any = false;
  for (bool b : ctx->needs_input_grad_) any = any || b;
  if (!any) return output;
  // The forward ran without recording, but its result may still alias an input: give the
  // custom op an output handle of its own.
  if (output.defined()) output = output.detach();
  std::vector<Shape> shapes;
  for (const Tensor& t : inputs) shapes.push_back(t.shape());
  auto node = new_node("function", nullptr);
  auto name = std::make_shared<std::string>(ctx->name_);
  node->name = name->c_str();
  node->custom_backward = [ctx, backward, shapes, name](Node& self, const Tensor& g) {
    std::vector<Tensor> grads = backward(*ctx, g);
    TAPEFLOW_CHECK(grads.size() == shapes.size(), AutogradError, name->c_str(), "backward returned ",
                   grads.size(), " gradients for ", shapes.size(), " tensor inputs");
    Grads out;
    for (std::size_t i = 0; i < grads.size(); ++i) {
      TAPEFLOW_CHECK(!grads[i].defined() || grads[i].shape() == shapes[i], ShapeError, name->c_str(),
                     "backward returned a gradient of shape ", grads[i].shape(), " for input ", i, " of shape ",
                     shapes[i]);
      out.push_back(grads[i]);
    }
    (void)self;
    return out;
  };
  attach_all(node, output, inputs);
  return output;
}

}  // namespace detail
}  // namespace tapeflow
