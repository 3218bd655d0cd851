// SPDX-License-Identifier: MIT
// What a training sample leaves behind for a person to look at, all in one folder
// (runs/<sample> by default):
//
//   events.out.tfevents.*   loss, accuracy, weight histograms: tensorboard --logdir runs
//   curves.csv, curves.svg  the same scalars, for people without TensorBoard
//   graph.dot, graph.svg    the tape of one training step (the SVG needs Graphviz's `dot`)
//   model.safetensors, optimizer.safetensors   the checkpoint that --resume continues from
//
// Written against the public API only, as a user would.
#pragma once
#include <tapeflow/tapeflow.hpp>

#include <cstdio>
#include <optional>
#include <string>
#include <sys/stat.h>

namespace samples {

using namespace tapeflow;

class RunLog {
 public:
  explicit RunLog(const std::string& dir) : dir_(dir), events_(dir), curves_(dir + "/curves") {}

  const std::string& dir() const { return dir_; }

  /// One point of a curve, to TensorBoard and to curves.csv/.svg alike.
  void scalar(const std::string& tag, double value, int64_t step) {
    events_.add_scalar(tag, value, step);
    curves_.add(tag, value, step);
  }

  /// A histogram of every parameter, tagged "weights/<dotted name>".
  void histograms(const nn::Module& model, int64_t step) {
    for (const auto& [name, p] : model.named_parameters()) events_.add_histogram("weights/" + name, p, step);
  }

  void text(const std::string& tag, const std::string& text, int64_t step) { events_.add_text(tag, text, step); }

  /// Writes the tape behind `loss` as graph.dot (parameters by name), and graph.svg where
  /// Graphviz is installed. Only the first call does anything: every step's tape is the same.
  void graph(const Tensor& loss, const nn::Module& model) {
    if (graph_written_) return;
    graph_written_ = true;
    io::write_dot(loss, file("graph.dot"), model.named_parameters());
    try {
      has_svg_ = io::render_svg(file("graph.dot"), file("graph.svg"));
    } catch (const IOError& e) {  // a picture that cannot be drawn is no reason to stop training
      std::fprintf(stderr, "note: no graph.svg: %s\n", e.what());
    }
  }

  /// Makes everything logged so far visible: flushes the events, rewrites the curves.
  void flush() {
    events_.flush();
    curves_.write();
  }

  /// Saves model and optimizer after `epoch` completed epochs (each file atomically).
  void save_checkpoint(const nn::Module& model, const optim::Optimizer& optimizer, int64_t epoch) {
    const io::Metadata meta{{"epoch", std::to_string(epoch)}};
    io::save(model, file("model.safetensors"), meta);
    io::save(optimizer, file("optimizer.safetensors"), meta);
  }

  /// Restores the checkpoint in this folder and returns the epochs it had completed, or nothing
  /// when there is none. Throws IOError when the two files disagree (a crash between the saves).
  std::optional<int64_t> load_checkpoint(nn::Module& model, optim::Optimizer& optimizer) {
    if (!exists(file("model.safetensors"))) return std::nullopt;
    const int64_t epoch = saved_epoch(file("model.safetensors"));
    if (saved_epoch(file("optimizer.safetensors")) != epoch)
      throw IOError("resume: " + file("optimizer.safetensors") + " is from another epoch than model.safetensors");
    io::load(model, file("model.safetensors"));
    io::load(optimizer, file("optimizer.safetensors"));
    return epoch;
  }

  /// After a resume: takes back the curve points up to `step` from the earlier run's curves.csv,
  /// so that the curves show the whole run.
  void resume_curves(int64_t step) {
    if (!exists(curves_.csv_path())) return;
    for (const auto& [tag, points] : io::read_curves_csv(curves_.csv_path()))
      for (const auto& [s, value] : points)
        if (s <= step) curves_.add(tag, value, s);
  }

  /// Tells where each picture is.
  void print_where() const {
    std::printf("\nlogs in %s/:\n", dir_.c_str());
    std::printf("  TensorBoard:  tensorboard --logdir %s\n", parent().c_str());
    std::printf("  curves:       %s (data: %s)\n", file("curves.svg").c_str(), file("curves.csv").c_str());
    if (graph_written_)
      std::printf("  graph:        %s\n", has_svg_ ? file("graph.svg").c_str()
                                                   : (file("graph.dot") + " (install graphviz for SVG)").c_str());
    if (exists(file("model.safetensors")))
      std::printf("  checkpoint:   %s (continue with --resume)\n", file("model.safetensors").c_str());
  }

 private:
  std::string file(const std::string& name) const { return dir_ + "/" + name; }
  std::string parent() const {
    const auto slash = dir_.rfind('/');
    return slash == std::string::npos ? "." : dir_.substr(0, slash);
  }
  static bool exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
  }
  static int64_t saved_epoch(const std::string& path) {
    const io::Metadata meta = io::load_metadata(path);
    const auto it = meta.find("epoch");
    if (it == meta.end()) throw IOError("resume: " + path + " has no epoch in its metadata");
    return std::stoll(it->second);
  }

  std::string dir_;
  io::SummaryWriter events_;
  io::CurveWriter curves_;
  bool graph_written_ = false;
  bool has_svg_ = false;
};

}  // namespace samples
