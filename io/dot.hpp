// SPDX-License-Identifier: MIT
// Pictures of the recorded tape, as TensorFlow's graph view gave them: Graphviz DOT text, and
// an SVG rendered from it by Graphviz's `dot` program when that is installed.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "../tensor/tensor.hpp"

namespace tapeflow::io {

/// The recorded tape behind `output` (see recorded_graph()) as a Graphviz DOT digraph. Each op is
/// one node labelled with its scoped name ("model/fc1/matmul"); each edge runs from producer to
/// consumer, labelled with the shape it carries ("[64, 256]"); ops recorded in a NameScope sit
/// in a cluster per scope, nested like the scopes. Leaves are boxes: those in `names` (pass
/// `model.named_parameters()`) show their name and are marked as parameters (DOT class
/// "parameter", placed in the scope of the ops that read them); other leaves that require grad
/// are marked as inputs (class "input"). The op that produced `output` has a double border and
/// its shape. Throws ValueError for an undefined tensor.
std::string to_dot(const Tensor& output, const std::vector<std::pair<std::string, Tensor>>& names = {});

/// Writes to_dot(output, names) to `path`, atomically: a failure leaves the previous file as it
/// was. Throws IOError("write_dot: <path>: <what>").
void write_dot(const Tensor& output, const std::string& path,
               const std::vector<std::pair<std::string, Tensor>>& names = {});

/// Runs Graphviz's `dot -Tsvg <dot_path> -o <svg_path>` (found on PATH, no shell involved) and
/// waits for it, at most `timeout_seconds` (then stops it). Returns false, doing nothing, when
/// `dot` is not installed; throws IOError naming dot_path and Graphviz's message when it fails
/// or runs out of time. The SVG replaces svg_path atomically.
bool render_svg(const std::string& dot_path, const std::string& svg_path, double timeout_seconds = 60);

}  // namespace tapeflow::io
