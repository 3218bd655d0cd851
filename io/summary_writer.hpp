// SPDX-License-Identifier: MIT
// TensorBoard summaries: scalars, histograms and text, appended to an event file that TensorBoard
// reads (`tensorboard --logdir <logdir>`), as torch.utils.tensorboard.SummaryWriter writes them.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "../tensor/tensor.hpp"

namespace tapeflow::io {

/// How a SummaryWriter buffers: `SummaryWriter w("runs/exp1", {.max_queue = 100})`.
struct SummaryWriterOptions {
  /// Events held in memory before they are written out (at least 1).
  int max_queue = 10;
  /// Buffered events are written at least this often, in seconds (checked on each add; >= 0).
  double flush_secs = 120;
  /// Appended to the event file's name.
  std::string filename_suffix = "";
};

/// Writes TensorBoard event files: `<logdir>/events.out.tfevents.<unix seconds>.<host>.<pid>.<n>`
/// plus the suffix, a new file per writer. Tags are prefixed by the current NameScope ("train"
/// scope: "loss" becomes "train/loss") and must be non-empty UTF-8 (else ValueError). Events are
/// buffered (see SummaryWriterOptions) and appended to the file; flush() makes them visible to
/// TensorBoard, close() also syncs them to disk. Safe to call from several threads. A failed write
/// throws IOError naming the file, leaves the file's whole records as they were and keeps the
/// events buffered for flush() to retry.
class SummaryWriter {
 public:
  /// Creates `logdir` (and its parents) and the event file, and writes the file's version record.
  /// Throws IOError naming the folder or file when either cannot be created, ValueError for an
  /// empty logdir or bad options.
  explicit SummaryWriter(const std::string& logdir, const SummaryWriterOptions& options = {});
  /// Closes the writer. Never throws: a failure to write what is still buffered is lost, so call
  /// close() first where that matters.
  ~SummaryWriter();
  SummaryWriter(const SummaryWriter&) = delete;
  SummaryWriter& operator=(const SummaryWriter&) = delete;
  /// The moved-from writer can only be destroyed (or assigned to).
  SummaryWriter(SummaryWriter&& other) noexcept;
  SummaryWriter& operator=(SummaryWriter&& other) noexcept;

  /// One scalar (stored as float32, TensorBoard's simple_value). NaN and infinities are kept.
  void add_scalar(const std::string& tag, double value, int64_t step);
  /// Several scalars on one chart: each key goes to its own run `<logdir>/<main_tag>_<key>` (with
  /// the scoped main_tag's '/' turned into '_'), all under the tag `main_tag`, as in PyTorch.
  /// Throws ValueError for a tag or key holding a NUL byte (no folder name can).
  void add_scalars(const std::string& main_tag, const std::map<std::string, double>& values, int64_t step);
  /// A histogram of all the values of a tensor of any dtype, layout and device: `bins`
  /// equal-width buckets from the smallest value to the largest (one bucket when all are equal).
  /// Throws ValueError for an empty tensor, a non-finite value or bins < 1.
  void add_histogram(const std::string& tag, const Tensor& values, int64_t step, int bins = 30);
  /// Text (Markdown), shown by TensorBoard's text plugin.
  void add_text(const std::string& tag, const std::string& text, int64_t step);

  /// Writes every buffered event (of this writer and of its add_scalars runs) to the files; does
  /// nothing once closed.
  void flush();
  /// Flushes, syncs the files to disk and closes them. Adding afterwards throws ValueError;
  /// closing again does nothing.
  void close();

  /// The folder given to the constructor.
  const std::string& logdir() const;
  /// The event file this writer appends to.
  const std::string& file_path() const;

 private:
  struct Impl;
  Impl& checked_impl(const char* op) const;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tapeflow::io
