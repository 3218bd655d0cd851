// SPDX-License-Identifier: MIT
#include "curves.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <string_view>

#include "../tensor/detail/check.hpp"
#include "detail/atomic_file.hpp"
#include "detail/file.hpp"
#include "detail/utf8.hpp"

namespace tapeflow::io {
namespace {

// Text for XML: markup characters escaped, and what XML 1.0 forbids (invalid UTF-8, control
// characters, U+FFFE/U+FFFF) replaced by '?' so that one odd tag cannot break the whole file.
std::string xml_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    uint32_t cp = 0;
    const std::size_t len = detail::utf8_decode(s, i, cp);
    bool ok = len > 0 && cp != 0xFFFE && cp != 0xFFFF;
    if (ok && len == 1) ok = cp >= 0x20 || cp == '\t' || cp == '\n' || cp == '\r';
    if (!ok) {
      out += '?';
      ++i;
      continue;
    }
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out.append(s.substr(i, len));
    }
    i += len;
  }
  return out;
}

std::string shortest(double v) {
  char buf[64];
  const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  return std::string(buf, end);
}

std::string csv_field(const std::string& s) {
  const bool plain = s.find_first_of(",\"\r\n") == std::string::npos &&
                     (s.empty() || (s.front() != ' ' && s.back() != ' '));
  if (plain) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + '"';
}

// Coordinates with one decimal: a tenth of a pixel is finer than any screen, and short.
std::string px(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// The spacing nice_ticks() picks: mantissa (1, 2, 5 or 10) times 10^exponent.
struct Spacing {
  double mantissa = 1;
  int exponent = 0;
  double value() const { return mantissa * std::pow(10.0, exponent); }
  // n * spacing, computed so that 3 * 0.1 comes out as the double nearest 0.3.
  double times(double n) const {
    const double v = exponent >= 0 ? n * mantissa * std::pow(10.0, exponent) : n * mantissa / std::pow(10.0, -exponent);
    return v + 0.0;  // no "-0"
  }
};

// Halves first: (hi - lo) overflows for finite values of opposite signs near the limits.
double half_span(double lo, double hi) { return hi / 2 - lo / 2; }

bool ticks_for(double lo, double hi, int target, bool integer, Spacing& sp, double& n0, double& n1) {
  const double raw = half_span(lo, hi) / (std::max(target, 1) / 2.0);
  if (!(raw > 0) || !std::isfinite(raw)) return false;
  sp.exponent = static_cast<int>(std::floor(std::log10(raw)));
  const double norm = raw / std::pow(10.0, sp.exponent);
  sp.mantissa = norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10;
  if (integer && sp.exponent < 0) sp.mantissa = 1, sp.exponent = 0;
  const double step = sp.value();
  if (!std::isfinite(step)) return false;
  n0 = std::ceil(lo / step);
  n1 = std::floor(hi / step);
  // Past 2^52 consecutive multiples are no longer distinct doubles: the range is too narrow.
  constexpr double kExact = 4503599627370496.0;
  return std::abs(n0) < kExact && std::abs(n1) < kExact && n1 >= n0;
}

// n0 * spacing ... n1 * spacing; NOTE: lo / step can round so that the first or last multiple
// falls just outside [lo, hi], and a tick outside the plot would be drawn over the labels.
std::vector<double> ticks_between(double lo, double hi, const Spacing& sp, double n0, double n1) {
  std::vector<double> ticks;
  for (double n = n0; n <= n1; ++n)
    if (const double t = sp.times(n); t >= lo && t <= hi) ticks.push_back(t);
  return ticks;
}

// Tick labels of one axis, all with the same number of decimals: "0.5", "1.0", "1.5".
std::vector<std::string> tick_labels(const std::vector<double>& ticks, const Spacing& sp) {
  const int exponent = sp.mantissa == 10 ? sp.exponent + 1 : sp.exponent;
  double biggest = 0;
  for (double t : ticks) biggest = std::max(biggest, std::abs(t));
  std::vector<std::string> out;
  char buf[64];
  for (double t : ticks) {
    if (exponent >= -4 && biggest < 1e7) {
      std::snprintf(buf, sizeof buf, "%.*f", std::max(0, -exponent), t);
    } else {
      const int magnitude = biggest > 0 ? static_cast<int>(std::floor(std::log10(biggest))) : 0;
      std::snprintf(buf, sizeof buf, "%.*e", std::clamp(magnitude - exponent, 0, 16), t);
    }
    out.emplace_back(buf);
  }
  return out;
}

struct Axis {
  double lo = 0, hi = 1;
  std::vector<double> ticks;
  std::vector<std::string> labels;
  // Where v lands between `from` (at lo) and `to` (at hi).
  double map(double v, double from, double to) const {
    return from + half_span(lo, v) / half_span(lo, hi) * (to - from);
  }
};

// A degenerate range (one value, or differences lost in rounding) is widened around its middle,
// so a constant series draws as a flat line halfway up.
Axis make_axis(double lo, double hi, bool integer) {
  Axis a{lo, hi, {}, {}};
  const double scale = std::max(std::abs(lo), std::abs(hi));
  if (!(half_span(lo, hi) > 1e-12 * scale)) {
    const double mid = lo / 2 + hi / 2;
    const double pad = integer ? 1.0 : mid != 0 ? std::abs(mid) * 0.1 : 1.0;
    a.lo = mid - pad;
    a.hi = mid + pad;
  }
  Spacing sp;
  double n0, n1;
  if (ticks_for(a.lo, a.hi, 5, integer, sp, n0, n1)) {
    a.ticks = ticks_between(a.lo, a.hi, sp, n0, n1);
    a.labels = tick_labels(a.ticks, sp);
  }
  return a;
}

const char* const kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

// Layout of a panel, in pixels: room for tick labels left and below, the title above.
constexpr double kLeft = 72, kRight = 28, kTop = 34, kBottom = 36;

void plot_panel(std::string& svg, const std::string& tag, const CurvePoints& points, int index,
                const PlotOptions& o) {
  const double x0 = kLeft, x1 = o.width - kRight, y0 = kTop, y1 = o.panel_height - kBottom;
  svg += "<g class=\"panel\" transform=\"translate(0," + std::to_string(index * o.panel_height) + ")\">\n";
  svg += "<text class=\"title\" x=\"" + px(x0) + "\" y=\"20\" font-size=\"13\" font-weight=\"bold\">" +
         xml_text(tag) + "</text>\n";

  CurvePoints finite;
  for (const auto& p : points)
    if (std::isfinite(p.second)) finite.push_back(p);
  std::stable_sort(finite.begin(), finite.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  if (!points.empty()) {
    // The newest value, whatever it is: a loss that just turned NaN should be plain to see.
    const auto last = *std::max_element(points.begin(), points.end(),
                                        [](const auto& a, const auto& b) { return a.first < b.first; });
    char buf[96];
    std::snprintf(buf, sizeof buf, "last %.6g at step %lld", last.second, static_cast<long long>(last.first));
    std::string note = buf;
    if (finite.size() < points.size())
      note += ", " + std::to_string(points.size() - finite.size()) + " NaN/Inf not drawn";
    svg += "<text class=\"note\" x=\"" + px(x1) + "\" y=\"20\" text-anchor=\"end\" fill=\"#555\">" +
           xml_text(note) + "</text>\n";
  }
  svg += "<rect class=\"plot-area\" x=\"" + px(x0) + "\" y=\"" + px(y0) + "\" width=\"" + px(x1 - x0) +
         "\" height=\"" + px(y1 - y0) + "\" fill=\"none\" stroke=\"#999\"/>\n";
  if (finite.empty()) {
    svg += "<text x=\"" + px((x0 + x1) / 2) + "\" y=\"" + px((y0 + y1) / 2) +
           "\" text-anchor=\"middle\" fill=\"#999\">no finite values</text>\n</g>\n";
    return;
  }

  double ylo = finite[0].second, yhi = ylo;
  for (const auto& p : finite) ylo = std::min(ylo, p.second), yhi = std::max(yhi, p.second);
  const Axis xa = make_axis(static_cast<double>(finite.front().first), static_cast<double>(finite.back().first), true);
  const Axis ya = make_axis(ylo, yhi, false);

  svg += "<g class=\"grid\" stroke=\"#e5e5e5\">\n";
  for (double t : xa.ticks) {
    const std::string x = px(xa.map(t, x0, x1));
    svg += "<line x1=\"" + x + "\" y1=\"" + px(y0) + "\" x2=\"" + x + "\" y2=\"" + px(y1) + "\"/>\n";
  }
  for (double t : ya.ticks) {
    const std::string y = px(ya.map(t, y1, y0));
    svg += "<line x1=\"" + px(x0) + "\" y1=\"" + y + "\" x2=\"" + px(x1) + "\" y2=\"" + y + "\"/>\n";
  }
  svg += "</g>\n";
  for (std::size_t i = 0; i < xa.ticks.size(); ++i)
    svg += "<text class=\"xtick\" x=\"" + px(xa.map(xa.ticks[i], x0, x1)) + "\" y=\"" + px(y1 + 14) +
           "\" text-anchor=\"middle\">" + xa.labels[i] + "</text>\n";
  for (std::size_t i = 0; i < ya.ticks.size(); ++i)
    svg += "<text class=\"ytick\" x=\"" + px(x0 - 6) + "\" y=\"" + px(ya.map(ya.ticks[i], y1, y0) + 4) +
           "\" text-anchor=\"end\">" + ya.labels[i] + "</text>\n";
  svg += "<text x=\"" + px((x0 + x1) / 2) + "\" y=\"" + px(y1 + 30) +
         "\" text-anchor=\"middle\" fill=\"#555\">step</text>\n";

  // Min/max decimation: past a few points per pixel column, each column keeps its first, lowest,
  // highest and last point, so spikes survive and the size stays bounded by the width.
  struct Pt { double x, y; };
  std::vector<Pt> pts;
  const auto columns = static_cast<std::size_t>(x1 - x0);
  const bool decimate = finite.size() > 4 * columns;
  for (std::size_t i = 0; i < finite.size();) {
    const double xi = xa.map(static_cast<double>(finite[i].first), x0, x1);
    std::size_t end = i + 1;
    if (decimate) {
      const auto col = static_cast<long long>(xi - x0);
      while (end < finite.size() &&
             static_cast<long long>(xa.map(static_cast<double>(finite[end].first), x0, x1) - x0) == col)
        ++end;
    }
    std::size_t lo = i, hi = i;
    for (std::size_t k = i; k < end; ++k) {
      if (finite[k].second < finite[lo].second) lo = k;
      if (finite[k].second > finite[hi].second) hi = k;
    }
    std::size_t keep[4] = {i, std::min(lo, hi), std::max(lo, hi), end - 1};
    for (std::size_t k = 0; k < 4; ++k) {
      if (k > 0 && keep[k] == keep[k - 1]) continue;
      const Pt p{xa.map(static_cast<double>(finite[keep[k]].first), x0, x1), ya.map(finite[keep[k]].second, y1, y0)};
      if (std::isfinite(p.x) && std::isfinite(p.y)) pts.push_back(p);
    }
    i = end;
  }
  const char* color = kColors[index % (sizeof kColors / sizeof kColors[0])];
  if (pts.size() == 1) {
    svg += "<circle class=\"series\" cx=\"" + px(pts[0].x) + "\" cy=\"" + px(pts[0].y) + "\" r=\"3\" fill=\"" +
           color + "\"/>\n";
  } else if (pts.size() > 1) {
    svg += "<polyline class=\"series\" fill=\"none\" stroke=\"" + std::string(color) +
           "\" stroke-width=\"1.5\" stroke-linejoin=\"round\" points=\"";
    for (std::size_t i = 0; i < pts.size(); ++i) {
      if (i) svg += ' ';
      svg += px(pts[i].x);
      svg += ',';
      svg += px(pts[i].y);
    }
    svg += "\"/>\n";
  }
  svg += "</g>\n";
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target, bool integer) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || lo > hi) return {};
  Spacing sp;
  double n0, n1;
  if (lo == hi || !ticks_for(lo, hi, target, integer, sp, n0, n1)) return {lo};
  return ticks_between(lo, hi, sp, n0, n1);
}

std::string plot_svg(const CurveSeries& series, const PlotOptions& options) {
  TAPEFLOW_CHECK(options.width >= 200 && options.panel_height >= 100, ValueError, "plot_svg",
                 "the chart must be at least 200 x 100 pixels, got width ", options.width,
                 " and panel_height ", options.panel_height);
  const int height = series.empty() ? 60 : static_cast<int>(series.size()) * options.panel_height;
  const std::string w = std::to_string(options.width), h = std::to_string(height);
  std::string svg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                    w + "\" height=\"" + h + "\" viewBox=\"0 0 " + w + " " + h +
                    "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"11\">\n"
                    "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  if (series.empty()) svg += "<text x=\"20\" y=\"34\" fill=\"#999\">no curves yet</text>\n";
  int index = 0;
  for (const auto& [tag, points] : series) plot_panel(svg, tag, points, index++, options);
  return svg + "</svg>\n";
}

std::string curves_csv(const CurveSeries& series) {
  std::string csv = "tag,step,value\n";
  for (const auto& [tag, points] : series) {
    const std::string field = csv_field(tag);
    for (const auto& [step, value] : points) csv += field + "," + std::to_string(step) + "," + shortest(value) + "\n";
  }
  return csv;
}

CurveSeries read_curves_csv(const std::string& path) {
  static constexpr const char* op = "read_curves_csv";
  const std::string text = detail::read_file(op, path);
  std::size_t pos = 0, line = 1;
  auto fail = [&](const std::string& what) { detail::io_fail(op, path, "line " + std::to_string(line) + ": " + what); };
  // One RFC 4180 field; `end` tells whether it closed the row.
  auto field = [&](bool& end) {
    std::string out;
    if (pos < text.size() && text[pos] == '"') {
      for (++pos;; ++pos) {
        if (pos >= text.size()) fail("unterminated quoted field");
        if (text[pos] == '"') {
          if (pos + 1 < text.size() && text[pos + 1] == '"') {
            out += '"';
            ++pos;
          } else {
            ++pos;
            break;
          }
        } else {
          if (text[pos] == '\n') ++line;
          out += text[pos];
        }
      }
    } else {
      while (pos < text.size() && text[pos] != ',' && text[pos] != '\n') out += text[pos++];
    }
    if (pos >= text.size()) fail("the last row does not end with a line break");
    end = text[pos] == '\n';
    ++pos;
    return out;
  };
  auto row = [&] {
    std::vector<std::string> fields;
    for (bool end = false; !end;) fields.push_back(field(end));
    if (fields.size() != 3) fail("expected 3 fields (tag,step,value), got " + std::to_string(fields.size()));
    return fields;
  };
  if (row() != std::vector<std::string>{"tag", "step", "value"}) fail("the header is not tag,step,value");
  CurveSeries series;
  while (pos < text.size()) {
    ++line;
    const std::vector<std::string> f = row();
    int64_t step = 0;
    double value = 0;
    const auto [step_end, step_err] = std::from_chars(f[1].data(), f[1].data() + f[1].size(), step);
    if (f[1].empty() || step_err != std::errc() || step_end != f[1].data() + f[1].size()) fail("bad step '" + f[1] + "'");
    const auto [value_end, value_err] = std::from_chars(f[2].data(), f[2].data() + f[2].size(), value);
    if (f[2].empty() || value_err != std::errc() || value_end != f[2].data() + f[2].size())
      fail("bad value '" + f[2] + "'");
    if (f[0].empty()) fail("empty tag");
    series[f[0]].emplace_back(step, value);
  }
  return series;
}

CurveWriter::CurveWriter(std::string path_prefix) : prefix_(std::move(path_prefix)) {
  TAPEFLOW_CHECK(!prefix_.empty(), ValueError, "CurveWriter", "empty path prefix");
}

void CurveWriter::add(const std::string& tag, double value, int64_t step) {
  TAPEFLOW_CHECK(!tag.empty(), ValueError, "CurveWriter.add", "empty tag");
  series_[tag].emplace_back(step, value);
}

void CurveWriter::add(const std::string& tag, const Tensor& value, int64_t step) {
  TAPEFLOW_CHECK(value.defined() && value.numel() == 1, ValueError, "CurveWriter.add",
                 "tag '", tag, "' needs a one-element tensor, got ",
                 value.defined() ? shape_str(value.shape()) : std::string("an undefined tensor"));
  add(tag, value.item<double>(), step);
}

void CurveWriter::write(const PlotOptions& options) const {
  const std::string svg = plot_svg(series_, options);  // before writing anything: it may throw
  detail::write_file_atomic("CurveWriter.write", csv_path(), curves_csv(series_));
  detail::write_file_atomic("CurveWriter.write", svg_path(), svg);
}

}  // namespace tapeflow::io
