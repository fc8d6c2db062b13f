#include "support/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string_view>

#include <fmt/format.h>

#include <tapegrad/core/error.h>
#include <tapegrad/core/file_io.h>

namespace tg {
namespace {

constexpr const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
constexpr double kLargest = 1e300;  // beyond this, differences of coordinates overflow
constexpr double kCharWidth = 7.0;  // of the 12px sans-serif text, to size margins and legend

enum class Style { line, points, markers, crosses };

Style parse_style(const Series& s) {
  if (s.style == "line") return Style::line;
  if (s.style == "points") return Style::points;
  if (s.style == "markers") return Style::markers;
  if (s.style == "crosses") return Style::crosses;
  throw ValueError(
      fmt::format("line_plot_svg: series '{}' has style '{}', expected line, points, "
                  "markers or crosses",
                  s.label, s.style));
}

std::string xml_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // XML 1.0 allows no control characters but tab, newline and carriage return.
        bool control = static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r';
        out += control ? ' ' : c;
    }
  }
  return out;
}

/// One axis: limits in plot space (log10 of the data on a log axis) and tick positions in data
/// space with their labels.
struct Axis {
  double lo = 0.0, hi = 1.0;
  bool log = false;
  std::vector<double> ticks;
  std::vector<std::string> labels;

  /// Where `v` lies between the limits, 0 at lo and 1 at hi.
  double fraction(double v) const { return ((log ? std::log10(v) : v) - lo) / (hi - lo); }
};

/// The 1, 2 or 5 times a power of ten nearest span / target (about `target` ticks over span).
double nice_step(double span, int target) {
  double raw = span / target;
  double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double f = raw / magnitude;
  return (f < 1.5 ? 1.0 : f < 3.0 ? 2.0 : f < 7.0 ? 5.0 : 10.0) * magnitude;
}

/// Widens [lo, hi] when it is empty (to [0, 1]) or a single value.
void widen_degenerate(double& lo, double& hi) {
  if (!(lo <= hi)) {
    lo = 0.0;
    hi = 1.0;
  } else if (lo == hi) {
    double d = lo == 0.0 ? 1.0 : std::abs(lo) * 0.1;
    lo -= d;
    hi += d;
  }
}

/// Multiples of a 1-2-5 step inside [lo, hi].
void linear_ticks(Axis& axis, double lo, double hi, int target) {
  double step = nice_step(hi - lo, target);
  int decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
  bool general = decimals > 6 || std::max(std::abs(lo), std::abs(hi)) >= 1e6;
  for (double k = std::ceil(lo / step - 1e-9); k <= std::floor(hi / step + 1e-9); k += 1.0) {
    double v = k * step;
    if (std::abs(v) < step * 1e-9) v = 0.0;  // no "-0.0"
    axis.ticks.push_back(v);
    axis.labels.push_back(general ? fmt::format("{:g}", v) : fmt::format("{:.{}f}", v, decimals));
  }
}

/// A linear axis over the data range plus 5% on each side (matplotlib's margins).
Axis linear_axis(double min, double max, int target) {
  widen_degenerate(min, max);
  Axis axis;
  double pad = (max - min) * 0.05;
  axis.lo = min - pad;
  axis.hi = max + pad;
  linear_ticks(axis, axis.lo, axis.hi, target);
  return axis;
}

/// A log axis over the (positive) data range plus 5% of its decades on each side. Ticks at
/// powers of ten when the range spans enough decades, else at 1-2-5 or 1..9 times them.
Axis log_axis(double min, double max, int target) {
  Axis axis;
  axis.log = true;
  double a = std::log10(min), b = std::log10(max);
  if (a == b) {
    a -= 0.5;
    b += 0.5;
  }
  double pad = (b - a) * 0.05;
  axis.lo = a - pad;
  axis.hi = b + pad;

  auto ticks_with = [&](std::initializer_list<int> mantissas, int every) {
    std::vector<double> ticks;
    for (double e = std::floor(axis.lo); e <= std::ceil(axis.hi); e += 1.0) {
      if (static_cast<long long>(e) % every != 0) continue;
      for (int m : mantissas) {
        double v = m * std::pow(10.0, e);
        double u = std::log10(v);
        if (u >= axis.lo - 1e-12 && u <= axis.hi + 1e-12) ticks.push_back(v);
      }
    }
    return ticks;
  };
  int every = std::max(1, static_cast<int>(std::ceil((axis.hi - axis.lo) / target)));
  axis.ticks = ticks_with({1}, every);
  if (axis.ticks.size() < 3) axis.ticks = ticks_with({1, 2, 5}, 1);
  if (axis.ticks.size() < 2) axis.ticks = ticks_with({1, 2, 3, 4, 5, 6, 7, 8, 9}, 1);
  if (axis.ticks.size() < 2) {  // less than a factor of two: plain 1-2-5 steps
    axis.ticks.clear();
    linear_ticks(axis, std::pow(10.0, axis.lo), std::pow(10.0, axis.hi), target);
    return axis;
  }
  for (double v : axis.ticks) axis.labels.push_back(fmt::format("{:g}", v));
  return axis;
}

bool plottable(double v, bool log) { return std::isfinite(v) && std::abs(v) <= kLargest && (!log || v > 0.0); }

/// The pixel box of the axes inside the figure.
struct Frame {
  double left, top, right, bottom;
  double px(const Axis& a, double v) const { return left + a.fraction(v) * (right - left); }
  double py(const Axis& a, double v) const { return bottom - a.fraction(v) * (bottom - top); }
};

/// A series resolved for drawing: its style, colour and x values.
struct Resolved {
  const Series* series;
  Style style;
  std::string color;  // escaped
  std::vector<double> x;
};

void draw_marker(std::string& out, Style style, double x, double y, const std::string& color) {
  switch (style) {
    case Style::points:
      out += fmt::format("<circle cx=\"{:.2f}\" cy=\"{:.2f}\" r=\"2.2\" fill=\"{}\"/>\n", x, y, color);
      break;
    case Style::markers:
      out += fmt::format("<circle cx=\"{:.2f}\" cy=\"{:.2f}\" r=\"5\" fill=\"{}\"/>\n", x, y, color);
      break;
    case Style::crosses: {
      constexpr double r = 5.0;
      out += fmt::format(
          "<path d=\"M{:.2f},{:.2f}L{:.2f},{:.2f}M{:.2f},{:.2f}L{:.2f},{:.2f}\" stroke=\"{}\" "
          "stroke-width=\"2\" fill=\"none\"/>\n",
          x - r, y - r, x + r, y + r, x - r, y + r, x + r, y - r, color);
      break;
    }
    case Style::line: break;
  }
}

void draw_series(std::string& out, const Resolved& r, const Axis& ax, const Axis& ay, const Frame& f, bool log_y) {
  const std::vector<double>& ys = r.series->y;
  out += fmt::format("<g class=\"series\" data-label=\"{}\">\n", xml_escape(r.series->label));
  if (r.style == Style::line || r.style == Style::points) {
    std::string run;
    int run_points = 0;
    auto flush = [&] {
      if (run_points >= 2)
        out += fmt::format(
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"{}\" "
            "stroke-linejoin=\"round\" points=\"{}\"/>\n",
            r.color, r.style == Style::line ? "2" : "1.5", run);
      run.clear();
      run_points = 0;
    };
    for (std::size_t i = 0; i < ys.size(); ++i) {
      if (!plottable(r.x[i], false) || !plottable(ys[i], log_y)) {
        flush();  // a gap in the data is a gap in the line
        continue;
      }
      if (run_points++ > 0) run += ' ';
      run += fmt::format("{:.2f},{:.2f}", f.px(ax, r.x[i]), f.py(ay, ys[i]));
    }
    flush();
  }
  if (r.style != Style::line)
    for (std::size_t i = 0; i < ys.size(); ++i)
      if (plottable(r.x[i], false) && plottable(ys[i], log_y))
        draw_marker(out, r.style, f.px(ax, r.x[i]), f.py(ay, ys[i]), r.color);
  out += "</g>\n";
}

struct Point {
  double x, y;
};

/// Pixels the data cover: every point, and for lines a few points along each segment.
std::vector<Point> covered_pixels(const std::vector<Resolved>& resolved, const Axis& ax, const Axis& ay, const Frame& f,
                                  bool log_y) {
  std::vector<Point> out;
  for (const Resolved& r : resolved) {
    const std::vector<double>& ys = r.series->y;
    bool joined = r.style == Style::line || r.style == Style::points;
    bool have_prev = false;
    Point prev{};
    for (std::size_t i = 0; i < ys.size(); ++i) {
      if (!plottable(r.x[i], false) || !plottable(ys[i], log_y)) {
        have_prev = false;
        continue;
      }
      Point p{f.px(ax, r.x[i]), f.py(ay, ys[i])};
      if (joined && have_prev)
        for (double t : {0.2, 0.4, 0.6, 0.8}) out.push_back({prev.x + t * (p.x - prev.x), prev.y + t * (p.y - prev.y)});
      out.push_back(p);
      prev = p;
      have_prev = true;
    }
  }
  return out;
}

/// The legend of the labelled series, in the corner of the axes that hides the fewest data
/// (upper right on ties, then upper left, lower left, lower right).
void draw_legend(std::string& out, const std::vector<Resolved>& resolved, const Frame& f,
                 const std::vector<Point>& covered) {
  std::size_t entries = 0, chars = 0;
  for (const Resolved& r : resolved)
    if (!r.series->label.empty()) {
      ++entries;
      chars = std::max(chars, r.series->label.size());
    }
  if (entries == 0) return;
  const double row = 18.0, width = 44.0 + static_cast<double>(chars) * kCharWidth;
  const double height = 8.0 + row * static_cast<double>(entries), gap = 8.0;
  const Point corners[] = {{f.right - width - gap, f.top + gap},
                           {f.left + gap, f.top + gap},
                           {f.left + gap, f.bottom - height - gap},
                           {f.right - width - gap, f.bottom - height - gap}};
  Point best = corners[0];
  std::size_t best_hidden = SIZE_MAX;
  for (const Point& c : corners) {
    std::size_t hidden = 0;
    for (const Point& p : covered)
      hidden += p.x >= c.x - 4.0 && p.x <= c.x + width + 4.0 && p.y >= c.y - 4.0 && p.y <= c.y + height + 4.0;
    if (hidden < best_hidden) {
      best_hidden = hidden;
      best = c;
    }
  }
  const double x0 = best.x, y0 = best.y;
  out += "<g class=\"legend\">\n";
  out += fmt::format(
      "<rect x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" height=\"{:.2f}\" rx=\"3\" "
      "fill=\"white\" fill-opacity=\"0.85\" stroke=\"#bbbbbb\"/>\n",
      x0, y0, width, height);
  double y = y0 + 4.0 + row / 2.0;
  for (const Resolved& r : resolved) {
    if (r.series->label.empty()) continue;
    const double sx0 = x0 + 8.0, sx1 = x0 + 30.0, smid = (sx0 + sx1) / 2.0;
    if (r.style == Style::line || r.style == Style::points)
      out += fmt::format(
          "<line x1=\"{:.2f}\" y1=\"{:.2f}\" x2=\"{:.2f}\" y2=\"{:.2f}\" stroke=\"{}\" "
          "stroke-width=\"2\"/>\n",
          sx0, y, sx1, y, r.color);
    draw_marker(out, r.style, smid, y, r.color);
    out += fmt::format("<text x=\"{:.2f}\" y=\"{:.2f}\" dy=\"0.35em\">{}</text>\n", sx1 + 6.0, y,
                       xml_escape(r.series->label));
    y += row;
  }
  out += "</g>\n";
}

}  // namespace

std::string line_plot_svg(const std::vector<Series>& series, const PlotOptions& options) {
  if (options.width < 200 || options.height < 150)
    throw ValueError(
        fmt::format("line_plot_svg: figure must be at least 200x150 pixels, got {}x{}", options.width, options.height));
  const bool log_y = options.log_y;

  std::vector<Resolved> resolved;
  std::size_t next_color = 0;
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (const Series& s : series) {
    Resolved r{&s, parse_style(s), {}, s.x};
    if (!s.x.empty() && s.x.size() != s.y.size())
      throw ValueError(
          fmt::format("line_plot_svg: series '{}' has {} x values and {} y values", s.label, s.x.size(), s.y.size()));
    if (r.x.empty())
      for (std::size_t i = 0; i < s.y.size(); ++i) r.x.push_back(static_cast<double>(i));
    r.color = xml_escape(s.color.empty() ? kPalette[next_color++ % std::size(kPalette)] : s.color);
    for (std::size_t i = 0; i < s.y.size(); ++i) {
      if (!plottable(r.x[i], false) || !plottable(s.y[i], log_y)) continue;
      xmin = std::min(xmin, r.x[i]);
      xmax = std::max(xmax, r.x[i]);
      ymin = std::min(ymin, s.y[i]);
      ymax = std::max(ymax, s.y[i]);
    }
    resolved.push_back(std::move(r));
  }
  if (log_y && !(ymin <= ymax)) ymin = ymax = 1.0;  // nothing to plot: one decade around 1
  // about one tick per 100 pixels across and per 60 pixels up
  const int x_target = std::clamp(options.width / 100, 3, 9);
  const int y_target = std::clamp(options.height / 60, 3, 8);
  Axis ax = linear_axis(xmin, xmax, x_target);
  Axis ay = log_y ? log_axis(ymin, ymax, y_target) : linear_axis(ymin, ymax, y_target);

  std::size_t label_chars = 0;
  for (const std::string& l : ay.labels) label_chars = std::max(label_chars, l.size());
  const double w = options.width, h = options.height;
  Frame f;
  f.left = (options.ylabel.empty() ? 10.0 : 32.0) + static_cast<double>(label_chars) * kCharWidth + 8.0;
  f.top = options.title.empty() ? 14.0 : 38.0;
  f.right = w - 20.0;
  f.bottom = h - (options.xlabel.empty() ? 28.0 : 50.0);

  std::string out;
  out += fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} "
      "{1}\" "
      "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n",
      options.width, options.height);
  out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  if (!options.title.empty())
    out += fmt::format(
        "<text x=\"{:.2f}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\" "
        "font-weight=\"bold\">{}</text>\n",
        (f.left + f.right) / 2.0, xml_escape(options.title));

  // grid and tick labels
  out += "<g class=\"grid\" stroke=\"#e5e5e5\" stroke-width=\"1\">\n";
  for (double v : ax.ticks) {
    double x = f.px(ax, v);
    out += fmt::format("<line x1=\"{0:.2f}\" y1=\"{1:.2f}\" x2=\"{0:.2f}\" y2=\"{2:.2f}\"/>\n", x, f.top, f.bottom);
  }
  for (double v : ay.ticks) {
    double y = f.py(ay, v);
    out += fmt::format("<line x1=\"{1:.2f}\" y1=\"{0:.2f}\" x2=\"{2:.2f}\" y2=\"{0:.2f}\"/>\n", y, f.left, f.right);
  }
  out += "</g>\n<g class=\"ticks\" fill=\"#333333\">\n";
  for (std::size_t i = 0; i < ax.ticks.size(); ++i)
    out += fmt::format("<text x=\"{:.2f}\" y=\"{:.2f}\" text-anchor=\"middle\">{}</text>\n", f.px(ax, ax.ticks[i]),
                       f.bottom + 17.0, xml_escape(ax.labels[i]));
  for (std::size_t i = 0; i < ay.ticks.size(); ++i)
    out += fmt::format("<text x=\"{:.2f}\" y=\"{:.2f}\" dy=\"0.35em\" text-anchor=\"end\">{}</text>\n", f.left - 6.0,
                       f.py(ay, ay.ticks[i]), xml_escape(ay.labels[i]));
  out += "</g>\n";
  out += fmt::format(
      "<rect class=\"frame\" x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" height=\"{:.2f}\" "
      "fill=\"none\" stroke=\"#555555\"/>\n",
      f.left, f.top, f.right - f.left, f.bottom - f.top);
  if (!options.xlabel.empty())
    out += fmt::format("<text x=\"{:.2f}\" y=\"{:.2f}\" text-anchor=\"middle\" font-size=\"13\">{}</text>\n",
                       (f.left + f.right) / 2.0, h - 12.0, xml_escape(options.xlabel));
  if (!options.ylabel.empty()) {
    double cy = (f.top + f.bottom) / 2.0;
    out += fmt::format(
        "<text x=\"18\" y=\"{0:.2f}\" transform=\"rotate(-90 18 {0:.2f})\" "
        "text-anchor=\"middle\" font-size=\"13\">{1}</text>\n",
        cy, xml_escape(options.ylabel));
  }

  for (const Resolved& r : resolved) draw_series(out, r, ax, ay, f, log_y);
  if (options.legend) draw_legend(out, resolved, f, covered_pixels(resolved, ax, ay, f, log_y));
  out += "</svg>\n";
  return out;
}

void save_svg(const std::string& path, const std::string& svg) { write_file_atomic(path, svg, "save_svg"); }

}  // namespace tg
