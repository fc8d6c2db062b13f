#pragma once
/// \file
/// A small SVG plotter for learning curves and forecasts, with no dependencies (the examples'
/// support code, not part of the library: link tapegrad_plot). After `History h = fit(...)`:
/// ```
/// tg::Series train{.label = "loss", .y = h["loss"]};  // x: 0, 1, 2, ... (the epochs)
/// tg::Series valid{.label = "val_loss", .y = h["val_loss"]};
/// tg::PlotOptions options{.title = "Learning curves", .xlabel = "epoch", .ylabel = "MSE",
///                         .log_y = true};
/// tg::save_svg("loss.svg", tg::line_plot_svg({train, valid}, options));
/// ```
/// The book's forecast figure is a "points" series for the inputs, a "markers" series for the
/// target and a "crosses" series in red for the predictions.

#include <string>
#include <vector>

namespace tg {

/// One curve or set of points.
struct Series {
  /// Shown in the legend; series without a label are left out of it.
  std::string label = {};
  /// The x coordinates; when empty, 0, 1, 2, ... as many as y.
  std::vector<double> x = {};
  /// The y coordinates. NaN, infinite and (with a log axis) non-positive values, and values
  /// beyond 1e300 in magnitude, are skipped; a line breaks where a point is skipped.
  std::vector<double> y = {};
  /// "line" (a polyline), "points" (a line with a dot at each point), "markers" (dots, as the
  /// book's target, no line) or "crosses" (x marks, no line).
  std::string style = "line";
  /// Any SVG colour ("#1f77b4", "red"); empty picks the next colour of matplotlib's palette.
  std::string color = {};
};

/// Everything about the figure that is not data.
struct PlotOptions {
  /// Above the plot; none when empty.
  std::string title = {};
  /// Under the x axis; none when empty.
  std::string xlabel = {};
  /// Beside the y axis; none when empty.
  std::string ylabel = {};
  int width = 800;     ///< pixels, at least 200
  int height = 450;    ///< pixels, at least 150
  bool log_y = false;  ///< logarithmic y axis (for loss curves)
  bool legend = true;  ///< a legend of the labelled series, top right inside the axes
};

/// An SVG document (starting with `<svg`) plotting `series` on shared axes, with 1-2-5 ticks,
/// a grid, axis labels, a title and a legend. Text is XML-escaped. Throws ValueError for an
/// unknown style, for x and y of different lengths, or for a figure too small.
std::string line_plot_svg(const std::vector<Series>& series, const PlotOptions& options = {});

/// Writes `svg` to `path` atomically (a temporary file next to it, then a rename), so a reader
/// never sees half a file. Throws IOError naming the path when it cannot be written.
void save_svg(const std::string& path, const std::string& svg);

}  // namespace tg
