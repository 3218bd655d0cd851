// SPDX-License-Identifier: MIT
// Training curves a person can open without TensorBoard: a CSV of every value, and an SVG line
// chart with one panel per tag that any browser shows.
//
// The SVG is written here, by a few hundred lines of text output, rather than by gnuplot or
// matplotlib: a chart of a few series needs axes, ticks and one polyline each, and that is not
// worth a runtime dependency (a program, or a Python with matplotlib) that training machines
// often lack, nor a subprocess per write.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "../tensor/tensor.hpp"

namespace tapeflow::io {

/// One curve: (step, value) in the order they were added.
using CurvePoints = std::vector<std::pair<int64_t, double>>;
/// Curves by tag; panels and CSV rows come in tag order.
using CurveSeries = std::map<std::string, CurvePoints>;

/// Size of the chart plot_svg() draws.
struct PlotOptions {
  /// Width of the chart in pixels (at least 200).
  int width = 640;
  /// Height of each tag's panel in pixels (at least 100).
  int panel_height = 220;
};

/// An SVG line chart: one panel per tag, stacked top to bottom, titled with the tag, its x axis
/// the step and its y axis the value, both ranging exactly over the data and ticked at 1-2-5
/// numbers. Points are drawn in step order; NaN and infinite values are left out. Past about
/// four points per pixel column, each column keeps its first, lowest, highest and last point,
/// so the picture stays the same and the file small (tens of KB) for millions of points.
/// Throws ValueError for sizes below the minimum.
std::string plot_svg(const CurveSeries& series, const PlotOptions& options = {});

/// The CSV text CurveWriter writes: a `tag,step,value` header, then one row per point, tag by
/// tag. Values round-trip exactly (shortest form that reads back as the same double, as
/// std::to_chars writes it: "0.1", "nan", "-inf"); tags with commas, quotes or line breaks are
/// quoted as RFC 4180 says.
std::string curves_csv(const CurveSeries& series);

/// Reads back a file that curves_csv() wrote (to continue a resumed run's curves). Throws
/// IOError naming the file and the line for anything else.
CurveSeries read_curves_csv(const std::string& path);

/// At most about `target` + 1 tick values inside [lo, hi], spaced 1, 2 or 5 times a power of ten
/// and multiples of that spacing (with `integer`, spacing at least 1). Empty when lo or hi is
/// not finite or lo > hi; {lo} when lo == hi.
std::vector<double> nice_ticks(double lo, double hi, int target = 5, bool integer = false);

/// Collects scalars by tag and writes them as <prefix>.csv and <prefix>.svg:
///
///   io::CurveWriter curves("runs/mlp/curves");
///   curves.add("loss", loss.item<double>(), step);
///   if (step % 100 == 0) curves.write();
class CurveWriter {
 public:
  /// Files are written only by write(); their folder must exist then. Throws ValueError for an
  /// empty prefix.
  explicit CurveWriter(std::string path_prefix);

  /// Adds a point; steps need not be increasing or distinct. Throws ValueError for an empty tag.
  void add(const std::string& tag, double value, int64_t step);
  /// Adds a one-element tensor's value (e.g. a loss). Throws ValueError otherwise.
  void add(const std::string& tag, const Tensor& value, int64_t step);
  /// Rewrites both files from everything added so far, each atomically: a failure leaves the
  /// previous file intact. Throws IOError("CurveWriter.write: <path>: <what>").
  void write(const PlotOptions& options = {}) const;

  const CurveSeries& series() const { return series_; }
  std::string csv_path() const { return prefix_ + ".csv"; }
  std::string svg_path() const { return prefix_ + ".svg"; }

 private:
  std::string prefix_;
  CurveSeries series_;
};

}  // namespace tapeflow::io
