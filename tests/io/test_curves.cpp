// SPDX-License-Identifier: MIT
// io::CurveWriter, curves_csv, plot_svg and nice_ticks. The CSV is read back by Python's csv
// module and the SVG by Python's XML parser (independent readers); the points drawn are mapped
// back to the data, ticks are checked for 1-2-5 spacing, and NaN/Inf, single points, constant
// series, extreme values and 100,000 points are drawn without a NaN coordinate.
#include "../helpers.hpp"
#include "run_command.hpp"
#include "temp_dir.hpp"

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

using namespace tapeflow;
using tapeflow::test::TempDir;

namespace {

std::string slurp(const std::string& path) {
  const auto bytes = test::read_bytes(path);
  return std::string(bytes.begin(), bytes.end());
}

std::string unhex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

// Rows as Python's csv module reads them: tag (hex of its UTF-8), step, value (float.hex()).
const char* kReadCsv = R"(import csv, sys
with open(sys.argv[1], newline="", encoding="utf-8", errors="surrogateescape") as f:
    rows = list(csv.reader(f))
assert rows[0] == ["tag", "step", "value"], rows[0]
for tag, step, value in rows[1:]:
    print(tag.encode("utf-8", "surrogateescape").hex(), int(step), float(value).hex())
)";

// What the SVG shows, as XML parses it: one "panel" line per <g class="panel">, then its parts.
const char* kReadSvg = R"(import sys, xml.dom.minidom as m
doc = m.parse(sys.argv[1])
root = doc.documentElement
assert root.tagName == "svg"
print("svg", root.getAttribute("width"), root.getAttribute("height"))
def text(e):
    return "".join(n.data for n in e.childNodes if n.nodeType == n.TEXT_NODE)
for g in doc.getElementsByTagName("g"):
    if g.getAttribute("class") != "panel":
        continue
    print("panel", g.getAttribute("transform"))
    for t in g.getElementsByTagName("text"):
        c = t.getAttribute("class")
        if c == "title":
            print("title", text(t).encode().hex())
        elif c in ("xtick", "ytick"):
            print(c, text(t), t.getAttribute("x"), t.getAttribute("y"))
    for r in g.getElementsByTagName("rect"):
        if r.getAttribute("class") == "plot-area":
            print("area", r.getAttribute("x"), r.getAttribute("y"), r.getAttribute("width"), r.getAttribute("height"))
    for p in g.getElementsByTagName("polyline"):
        print("points", p.getAttribute("points").replace(",", " "))
    for c in g.getElementsByTagName("circle"):
        print("circle", c.getAttribute("cx"), c.getAttribute("cy"))
)";

struct Tick {
  std::string label;
  double pos;  // x of an xtick, y (baseline) of a ytick
};
struct Panel {
  std::string transform, title;
  double x = 0, y = 0, w = 0, h = 0;  // the plot area
  std::vector<std::pair<double, double>> points;
  std::vector<std::pair<double, double>> circles;
  std::vector<Tick> xticks, yticks;
  double bottom() const { return y + h; }
};
struct Svg {
  std::string width, height;
  std::vector<Panel> panels;
};

// Runs a Python script (written to `dir`) on `file`; requires it to succeed.
std::string python(const TempDir& dir, const char* script, const std::string& file) {
  const std::string path = dir.write("script.py", std::string(script));
  const auto [status, out] = test::run_command(std::string(TAPEFLOW_TEST_PYTHON) + " '" + path + "' '" + file + "'");
  INFO(out);
  REQUIRE(status == 0);
  return out;
}

Svg read_svg(const TempDir& dir, const std::string& svg_text) {
  const std::string file = dir.write("chart.svg", svg_text);
  std::istringstream in(python(dir, kReadSvg, file));
  Svg s;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string kind;
    ls >> kind;
    if (kind == "svg") {
      ls >> s.width >> s.height;
    } else if (kind == "panel") {
      s.panels.emplace_back();
      std::getline(ls >> std::ws, s.panels.back().transform);
    } else {
      REQUIRE(!s.panels.empty());
      Panel& p = s.panels.back();
      if (kind == "title") {
        std::string hex;
        ls >> hex;
        p.title = unhex(hex);
      } else if (kind == "area") {
        ls >> p.x >> p.y >> p.w >> p.h;
      } else if (kind == "points") {
        double x, y;
        while (ls >> x >> y) p.points.emplace_back(x, y);
      } else if (kind == "circle") {
        double x, y;
        ls >> x >> y;
        p.circles.emplace_back(x, y);
      } else if (kind == "xtick" || kind == "ytick") {
        Tick t;
        double x, y;
        ls >> t.label >> x >> y;
        t.pos = kind == "xtick" ? x : y;
        (kind == "xtick" ? p.xticks : p.yticks).push_back(t);
      }
    }
  }
  return s;
}

// Every coordinate-like attribute value: none may hold "nan" or "inf". (A scan, not std::regex:
// libstdc++'s regex recurses once per character and overflows the stack on a long points="...".)
void check_coordinates_finite(const std::string& svg) {
  int checked = 0;
  for (const char* name : {"x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "width", "height", "points",
                           "transform", "viewBox"}) {
    const std::string key = std::string(" ") + name + "=\"";
    for (std::size_t at = svg.find(key); at != std::string::npos; at = svg.find(key, at + 1)) {
      const std::size_t begin = at + key.size();
      std::string v = svg.substr(begin, svg.find('"', begin) - begin);
      INFO(name << "=\"" << v << "\"");
      for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      CHECK(v.find("nan") == std::string::npos);
      CHECK(v.find("inf") == std::string::npos);
      ++checked;
    }
  }
  CHECK(checked > 0);
}

// Spacing 1, 2 or 5 times a power of ten, every tick a multiple of it, evenly spaced.
void check_nice(const std::vector<double>& ticks) {
  INFO("ticks: " << Catch::Detail::stringify(ticks));
  REQUIRE(ticks.size() >= 2);
  const double step = ticks[1] - ticks[0];
  REQUIRE(step > 0);
  const double exponent = std::floor(std::log10(step) + 1e-9);
  const double mantissa = step / std::pow(10.0, exponent);
  CHECK((std::abs(mantissa - 1) < 1e-6 || std::abs(mantissa - 2) < 1e-6 || std::abs(mantissa - 5) < 1e-6));
  for (std::size_t i = 0; i < ticks.size(); ++i) {
    const double n = ticks[i] / step;
    CHECK(std::abs(n - std::round(n)) < 1e-6);
    if (i > 0) CHECK(std::abs((ticks[i] - ticks[i - 1]) - step) <= 1e-9 * std::max(std::abs(ticks[i]), step));
  }
}

std::vector<double> tick_values(const std::vector<Tick>& ticks) {
  std::vector<double> v;
  for (const auto& t : ticks) v.push_back(std::stod(t.label));
  return v;
}

bool same_double(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::memcmp(&a, &b, sizeof a) == 0;
}

}  // namespace

TEST_CASE("curves_csv: long form, one row per point, tag by tag", "[curves]") {
  io::CurveSeries s;
  s["loss"] = {{0, 1.0}, {1, 0.1}};
  s["acc"] = {{0, 0.5}};
  CHECK(io::curves_csv(s) == "tag,step,value\nacc,0,0.5\nloss,0,1\nloss,1,0.1\n");
  CHECK(io::curves_csv({}) == "tag,step,value\n");
}

TEST_CASE("CurveWriter: the CSV reads back exactly with Python's csv module", "[curves]") {
  TempDir dir;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<double> values = {0.1, 1.0 / 3.0, -0.0, 1e-300, 5e-324, std::numeric_limits<double>::max(),
                                      -2.5e17, nan, inf, -inf, 123456789.123456789};
  const std::vector<std::string> tags = {"loss", "a,b", "say \"hi\"", "two\nlines", " padded ", "θ/grad"};
  io::CurveWriter w(dir.file("run"));
  std::vector<std::tuple<std::string, int64_t, double>> added;
  int64_t step = -3;
  for (const auto& tag : tags)
    for (double v : values) {
      w.add(tag, v, step);
      added.emplace_back(tag, step, v);
      step += 1000000007;
    }
  w.add("loss", 0.25, std::numeric_limits<int64_t>::max());
  added.emplace_back("loss", std::numeric_limits<int64_t>::max(), 0.25);
  w.write();
  REQUIRE(slurp(w.csv_path()) == io::curves_csv(w.series()));

  std::istringstream in(python(dir, kReadCsv, w.csv_path()));
  std::vector<std::tuple<std::string, int64_t, double>> read;
  std::string hex, value;
  long long s;
  while (in >> hex >> s >> value) read.emplace_back(unhex(hex), s, std::strtod(value.c_str(), nullptr));
  REQUIRE(read.size() == added.size());
  // The CSV goes tag by tag (in tag order), each tag's points in the order added.
  std::stable_sort(added.begin(), added.end(),
                   [](const auto& a, const auto& b) { return std::get<0>(a) < std::get<0>(b); });
  for (std::size_t i = 0; i < read.size(); ++i) {
    INFO("row " << i << ": tag '" << std::get<0>(added[i]) << "' value " << std::get<2>(added[i]));
    CHECK(std::get<0>(read[i]) == std::get<0>(added[i]));
    CHECK(std::get<1>(read[i]) == std::get<1>(added[i]));
    CHECK(same_double(std::get<2>(read[i]), std::get<2>(added[i])));
  }
}

TEST_CASE("read_curves_csv: reads back what CurveWriter wrote, and rejects anything else", "[curves]") {
  TempDir dir;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  io::CurveWriter w(dir.file("run"));
  const std::vector<std::string> tags = {"loss", "a,b", "say \"hi\"", "two\nlines", "θ/grad"};
  const std::vector<double> values = {0.1, -0.0, 5e-324, nan, -std::numeric_limits<double>::infinity(), 1e300};
  int64_t step = std::numeric_limits<int64_t>::min();
  for (const auto& tag : tags)
    for (double v : values) w.add(tag, v, step++);
  w.add("loss", 2.0, -5);  // steps need not increase
  w.write();
  const io::CurveSeries back = io::read_curves_csv(w.csv_path());
  REQUIRE(back.size() == w.series().size());
  for (const auto& [tag, points] : w.series()) {
    INFO("tag " << tag);
    REQUIRE(back.count(tag) == 1);
    REQUIRE(back.at(tag).size() == points.size());
    for (std::size_t i = 0; i < points.size(); ++i) {
      CHECK(back.at(tag)[i].first == points[i].first);
      CHECK(same_double(back.at(tag)[i].second, points[i].second));
    }
  }

  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "the last row does not end with a line break"},
      {"step,tag,value\n", "the header is not tag,step,value"},
      {"tag,step,value\nloss,1\n", "line 2: expected 3 fields"},
      {"tag,step,value\nloss,1,2,3\n", "line 2: expected 3 fields"},
      {"tag,step,value\nloss,x,2\n", "line 2: bad step 'x'"},
      {"tag,step,value\nloss,1.5,2\n", "bad step '1.5'"},
      {"tag,step,value\nloss,1,2x\n", "bad value '2x'"},
      {"tag,step,value\nloss,1,\n", "bad value ''"},
      {"tag,step,value\n,1,2\n", "empty tag"},
      {"tag,step,value\n\"loss,1,2\n", "unterminated quoted field"},
      {"tag,step,value\nloss,1,2", "does not end with a line break"},
  };
  for (const auto& [text, message] : bad) {
    INFO("file: " << text);
    const std::string path = dir.write("bad.csv", text);
    CHECK_THROWS_WITH(io::read_curves_csv(path),
                      Catch::Contains("read_curves_csv: " + path) && Catch::Contains(message));
  }
  CHECK_THROWS_AS(io::read_curves_csv(dir.file("missing.csv")), IOError);
}

TEST_CASE("plot_svg: one titled panel per tag, well-formed, with odd tags escaped", "[curves]") {
  TempDir dir;
  io::CurveSeries s;
  s["loss"] = {{0, 2.0}, {1, 1.0}};
  s["accuracy"] = {{0, 0.1}, {1, 0.9}};
  s["<b>&\"odd\" 'tag'\x01\xff"] = {{0, 1.0}, {1, 2.0}};
  const Svg svg = read_svg(dir, io::plot_svg(s, {.width = 500, .panel_height = 150}));
  CHECK(svg.width == "500");
  CHECK(svg.height == "450");
  REQUIRE(svg.panels.size() == 3);
  CHECK(svg.panels[0].title == "<b>&\"odd\" 'tag'??");  // control character and bad byte: '?'
  CHECK(svg.panels[1].title == "accuracy");
  CHECK(svg.panels[2].title == "loss");
  CHECK(svg.panels[2].transform == "translate(0,300)");
  for (const auto& p : svg.panels) {
    CHECK(p.points.size() == 2);
    CHECK(p.x + p.w <= 500);
    CHECK(p.bottom() <= 150);
  }
  const Svg empty = read_svg(dir, io::plot_svg({}));
  CHECK(empty.panels.empty());
}

TEST_CASE("plot_svg: points land where the data says; min and max at the plot's edges", "[curves]") {
  TempDir dir;
  io::CurveSeries s;
  // Added out of step order: drawn in step order.
  s["loss"] = {{20, 0.5}, {0, 2.0}, {10, 1.0}, {30, 0.25}, {25, 0.3}};
  const std::string text = io::plot_svg(s);
  check_coordinates_finite(text);
  const Svg svg = read_svg(dir, text);
  REQUIRE(svg.panels.size() == 1);
  const Panel& p = svg.panels[0];
  REQUIRE(p.w > 100);
  REQUIRE(p.points.size() == 5);
  const std::vector<std::pair<double, double>> sorted = {{0, 2.0}, {10, 1.0}, {20, 0.5}, {25, 0.3}, {30, 0.25}};
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    INFO("point " << i);
    const double x = p.x + sorted[i].first / 30.0 * p.w;
    const double y = p.bottom() - (sorted[i].second - 0.25) / 1.75 * p.h;
    CHECK(std::abs(p.points[i].first - x) <= 0.06);
    CHECK(std::abs(p.points[i].second - y) <= 0.06);
  }
  CHECK(std::abs(p.points.front().second - p.y) <= 0.06);       // the maximum at the top
  CHECK(std::abs(p.points.back().second - p.bottom()) <= 0.06);  // the minimum at the bottom
  CHECK(std::abs(p.points.front().first - p.x) <= 0.06);
  CHECK(std::abs(p.points.back().first - (p.x + p.w)) <= 0.06);

  // Ticks: nice values inside the data's range, each drawn where its value maps.
  const auto ys = tick_values(p.yticks);
  check_nice(ys);
  for (std::size_t i = 0; i < ys.size(); ++i) {
    CHECK(ys[i] >= 0.25 - 1e-12);
    CHECK(ys[i] <= 2.0 + 1e-12);
    CHECK(std::abs(p.yticks[i].pos - 4 - (p.bottom() - (ys[i] - 0.25) / 1.75 * p.h)) <= 0.06);  // baseline 4 px low
  }
  const auto xs = tick_values(p.xticks);
  check_nice(xs);
  for (std::size_t i = 0; i < xs.size(); ++i) {
    CHECK(xs[i] == std::round(xs[i]));
    CHECK(std::abs(p.xticks[i].pos - (p.x + xs[i] / 30.0 * p.w)) <= 0.06);
  }
}

TEST_CASE("plot_svg: a single point, a constant series, NaN and Inf", "[curves]") {
  TempDir dir;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  io::CurveSeries s;
  s["a_single"] = {{7, 3.5}};
  s["b_constant"] = {{0, 4.0}, {1, 4.0}, {2, 4.0}};
  s["c_gaps"] = {{0, 1.0}, {1, nan}, {2, inf}, {3, 3.0}, {4, -inf}, {5, 2.0}};
  s["d_all_nan"] = {{0, nan}, {1, nan}};
  s["e_extreme"] = {{0, -std::numeric_limits<double>::max()}, {1, std::numeric_limits<double>::max()}};
  const std::string text = io::plot_svg(s);
  check_coordinates_finite(text);
  const Svg svg = read_svg(dir, text);
  REQUIRE(svg.panels.size() == 5);

  const Panel& single = svg.panels[0];
  CHECK(single.points.empty());
  REQUIRE(single.circles.size() == 1);
  CHECK(std::abs(single.circles[0].first - (single.x + single.w / 2)) <= 0.06);
  CHECK(std::abs(single.circles[0].second - (single.y + single.h / 2)) <= 0.06);
  check_nice(tick_values(single.yticks));

  const Panel& constant = svg.panels[1];
  REQUIRE(constant.points.size() == 3);
  for (const auto& pt : constant.points) CHECK(std::abs(pt.second - (constant.y + constant.h / 2)) <= 0.06);
  check_nice(tick_values(constant.yticks));

  const Panel& gaps = svg.panels[2];
  REQUIRE(gaps.points.size() == 3);  // steps 0, 3, 5
  CHECK(std::abs(gaps.points[0].second - gaps.bottom()) <= 0.06);
  CHECK(std::abs(gaps.points[1].second - gaps.y) <= 0.06);
  CHECK(std::abs(gaps.points[2].first - (gaps.x + gaps.w)) <= 0.06);
  CHECK(text.find("3 NaN/Inf not drawn") != std::string::npos);

  const Panel& all_nan = svg.panels[3];
  CHECK(all_nan.points.empty());
  CHECK(all_nan.circles.empty());
  CHECK(text.find("no finite values") != std::string::npos);

  const Panel& extreme = svg.panels[4];
  REQUIRE(extreme.points.size() == 2);
  CHECK(std::abs(extreme.points[0].second - extreme.bottom()) <= 0.06);
  CHECK(std::abs(extreme.points[1].second - extreme.y) <= 0.06);
  check_nice(tick_values(extreme.yticks));
}

TEST_CASE("plot_svg: 100,000 points stay small and keep their spikes", "[curves]") {
  TempDir dir;
  io::CurveSeries s;
  auto& pts = s["loss"];
  for (int64_t i = 0; i < 100000; ++i) pts.emplace_back(i, std::sin(static_cast<double>(i) * 0.001));
  pts[50000].second = 25.0;   // one spike up...
  pts[70001].second = -12.0;  // ...and one down
  const std::string text = io::plot_svg(s);
  INFO("SVG of " << text.size() << " bytes");
  CHECK(text.size() < 80000);
  check_coordinates_finite(text);
  const Svg svg = read_svg(dir, text);
  REQUIRE(svg.panels.size() == 1);
  const Panel& p = svg.panels[0];
  CHECK(p.points.size() <= static_cast<std::size_t>(4 * p.w));
  CHECK(p.points.size() > static_cast<std::size_t>(p.w));
  double top = 1e9, bottom = -1e9;
  for (std::size_t i = 0; i < p.points.size(); ++i) {
    top = std::min(top, p.points[i].second);
    bottom = std::max(bottom, p.points[i].second);
    if (i > 0) CHECK(p.points[i].first >= p.points[i - 1].first);  // still in step order
  }
  CHECK(std::abs(top - p.y) <= 0.06);
  CHECK(std::abs(bottom - p.bottom()) <= 0.06);
  CHECK(std::abs(p.points.front().first - p.x) <= 0.06);
  CHECK(std::abs(p.points.back().first - (p.x + p.w)) <= 0.06);
}

TEST_CASE("nice_ticks: 1-2-5 spacing inside the range", "[curves]") {
  CHECK(io::nice_ticks(0, 1) == std::vector<double>{0, 0.2, 0.4, 0.6, 0.8, 1});  // exactly these doubles
  CHECK(io::nice_ticks(0, 3, 5, true) == std::vector<double>{0, 1, 2, 3});
  CHECK(io::nice_ticks(0, 1000) == std::vector<double>{0, 200, 400, 600, 800, 1000});
  CHECK(io::nice_ticks(-0.3, 0.3) == std::vector<double>{-0.2, 0, 0.2});
  CHECK(io::nice_ticks(2, 2) == std::vector<double>{2});
  CHECK(io::nice_ticks(1, 1 + 1e-16 * 2) == std::vector<double>{1});
  CHECK(io::nice_ticks(2, 1).empty());
  CHECK(io::nice_ticks(std::nan(""), 1).empty());
  CHECK(io::nice_ticks(0, std::numeric_limits<double>::infinity()).empty());
  check_nice(io::nice_ticks(-std::numeric_limits<double>::max(), std::numeric_limits<double>::max()));
  // Ranges of every magnitude and sign.
  uint64_t state = 12345;
  auto uniform = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) / 9007199254740992.0;
  };
  for (int i = 0; i < 500; ++i) {
    const double scale = std::pow(10.0, std::floor(uniform() * 40 - 20));
    const double lo = (uniform() * 2 - 1) * scale;
    const double hi = lo + uniform() * scale + scale * 1e-6;
    const auto t = io::nice_ticks(lo, hi);
    INFO("range [" << lo << ", " << hi << "]");
    CHECK(t.size() >= 2);
    CHECK(t.size() <= 7);
    CHECK(t.front() >= lo);
    CHECK(t.back() <= hi);
    check_nice(t);
  }
}

TEST_CASE("CurveWriter: write() replaces both files atomically", "[curves]") {
  TempDir dir;
  const std::string prefix = dir.file("train");
  dir.write("train.csv", std::string("old csv"));
  dir.write("train.svg", std::string("old svg"));
  io::CurveWriter w(prefix);
  CHECK(w.csv_path() == prefix + ".csv");
  CHECK(w.svg_path() == prefix + ".svg");
  w.add("loss", 1.5, 0);
  w.add("loss", tensor({0.75f}), 1);  // a one-element tensor
  w.write();
  CHECK(slurp(w.csv_path()) == "tag,step,value\nloss,0,1.5\nloss,1,0.75\n");
  CHECK(slurp(w.svg_path()) == io::plot_svg(w.series()));
  w.add("loss", 0.5, 2);
  w.write();
  CHECK(slurp(w.csv_path()) == "tag,step,value\nloss,0,1.5\nloss,1,0.75\nloss,2,0.5\n");
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"train.csv", "train.svg"});  // no temporary files left

  io::CurveWriter lost(dir.file("missing/train"));
  lost.add("loss", 1.0, 0);
  try {
    lost.write();
    FAIL("no IOError");
  } catch (const IOError& e) {
    const std::string msg = e.what();
    CHECK(msg.rfind("CurveWriter.write: " + dir.file("missing/train.csv") + ": ", 0) == 0);
  }
}

TEST_CASE("CurveWriter: bad arguments are ValueErrors", "[curves]") {
  CHECK_THROWS_AS(io::CurveWriter(""), ValueError);
  io::CurveWriter w("unused");
  CHECK_THROWS_AS(w.add("", 1.0, 0), ValueError);
  CHECK_THROWS_AS(w.add("loss", zeros({2}), 0), ValueError);
  CHECK_THROWS_AS(w.add("loss", Tensor(), 0), ValueError);
  CHECK(w.series().empty());
  CHECK_THROWS_AS(io::plot_svg({}, {.width = 100}), ValueError);
  CHECK_THROWS_AS(io::plot_svg({}, {.panel_height = 10}), ValueError);
}
