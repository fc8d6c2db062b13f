#include "support/plot.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <tapegrad/core/error.h>
#include <tapegrad/nn/training/fit.h>

namespace tg {
namespace {

// ---- a strict little XML reader: fails the test on anything ill-formed -----------------------

struct Node {
  std::string name;
  std::map<std::string, std::string> attrs;
  std::string text;  // unescaped character data directly inside
  int parent = -1;

  std::string attr(const std::string& key) const {
    auto it = attrs.find(key);
    return it == attrs.end() ? std::string() : it->second;
  }
};

/// Replaces the five XML entities; fails on a bare '&' or '<' or any other entity.
std::string unescape(const std::string& s) {
  static const std::map<std::string, char> entities = {
      {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '<') ADD_FAILURE() << "raw '<' in text: " << s;
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    std::size_t end = s.find(';', i);
    auto it = end == std::string::npos ? entities.end() : entities.find(s.substr(i + 1, end - i - 1));
    if (it == entities.end()) {
      ADD_FAILURE() << "bad entity in: " << s;
      return out;
    }
    out += it->second;
    i = end;
  }
  return out;
}

std::vector<Node> parse_xml(const std::string& s) {
  std::vector<Node> nodes;
  std::vector<int> open;
  std::size_t i = 0;
  auto name_at = [&](std::size_t& j) {
    std::size_t b = j;
    while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '-' || s[j] == ':')) ++j;
    return s.substr(b, j - b);
  };
  while (i < s.size()) {
    if (s[i] != '<') {
      std::size_t end = s.find('<', i);
      if (end == std::string::npos) end = s.size();
      std::string text = unescape(s.substr(i, end - i));
      if (open.empty()) {
        if (text.find_first_not_of(" \n\t\r") != std::string::npos) ADD_FAILURE() << "text outside the root";
      } else {
        nodes[static_cast<std::size_t>(open.back())].text += text;
      }
      i = end;
      continue;
    }
    if (s.compare(i, 2, "</") == 0) {
      std::size_t j = i + 2;
      std::string name = name_at(j);
      if (open.empty() || nodes[static_cast<std::size_t>(open.back())].name != name) {
        ADD_FAILURE() << "unbalanced </" << name << "> at " << i;
        return nodes;
      }
      if (j >= s.size() || s[j] != '>') ADD_FAILURE() << "bad closing tag at " << i;
      open.pop_back();
      i = j + 1;
      continue;
    }
    Node node;
    std::size_t j = i + 1;
    node.name = name_at(j);
    if (node.name.empty()) {
      ADD_FAILURE() << "bad tag at " << i;
      return nodes;
    }
    node.parent = open.empty() ? -1 : open.back();
    if (open.empty() && !nodes.empty()) ADD_FAILURE() << "second root element <" << node.name << ">";
    bool self_closing = false;
    for (;;) {
      while (j < s.size() && std::isspace(static_cast<unsigned char>(s[j]))) ++j;
      if (j >= s.size()) {
        ADD_FAILURE() << "unterminated tag <" << node.name << ">";
        return nodes;
      }
      if (s[j] == '>') break;
      if (s.compare(j, 2, "/>") == 0) {
        self_closing = true;
        ++j;
        break;
      }
      std::string key = name_at(j);
      if (key.empty() || j + 1 >= s.size() || s[j] != '=' || s[j + 1] != '"') {
        ADD_FAILURE() << "bad attribute in <" << node.name << "> at " << j;
        return nodes;
      }
      std::size_t end = s.find('"', j + 2);
      if (end == std::string::npos) {
        ADD_FAILURE() << "unterminated attribute";
        return nodes;
      }
      if (node.attrs.count(key)) ADD_FAILURE() << "duplicate attribute " << key;
      node.attrs[key] = unescape(s.substr(j + 2, end - j - 2));
      j = end + 1;
    }
    nodes.push_back(std::move(node));
    if (!self_closing) open.push_back(static_cast<int>(nodes.size()) - 1);
    i = j + 1;
  }
  if (!open.empty()) ADD_FAILURE() << "<" << nodes[static_cast<std::size_t>(open.back())].name << "> never closed";
  return nodes;
}

/// The numbers of a coordinate attribute ("12.50", "1.00,2.00 3.00,4.00", "M1,2L3,4").
std::vector<double> numbers(const std::string& value) {
  std::vector<double> out;
  for (char c : value)
    if (!std::isdigit(static_cast<unsigned char>(c)) && std::string(".-, ML").find(c) == std::string::npos) {
      ADD_FAILURE() << "not a coordinate: '" << value << "'";
      return out;
    }
  std::string cleaned = value;
  for (char& c : cleaned)
    if (c == ',' || c == 'M' || c == 'L') c = ' ';
  std::istringstream in(cleaned);
  for (double v; in >> v;) out.push_back(v);
  return out;
}

/// Every coordinate is a plain finite number inside the figure.
void expect_coordinates_inside(const std::vector<Node>& nodes, double width, double height) {
  for (const Node& n : nodes)
    for (const char* key : {"x", "y", "cx", "cy", "x1", "y1", "x2", "y2", "r", "points", "d"}) {
      if (!n.attrs.count(key)) continue;
      if (n.name == "rect" && n.attr(key).find('%') != std::string::npos) continue;
      for (double v : numbers(n.attr(key))) {
        ASSERT_TRUE(std::isfinite(v)) << n.name << " " << key;
        EXPECT_GE(v, -1.0) << n.name << " " << key << "=" << n.attr(key);
        EXPECT_LE(v, std::max(width, height) + 1.0) << n.name << " " << key << "=" << n.attr(key);
      }
    }
}

/// The series groups, by their label.
const Node* series_group(const std::vector<Node>& nodes, const std::string& label) {
  for (const Node& n : nodes)
    if (n.name == "g" && n.attr("class") == "series" && n.attr("data-label") == label) return &n;
  return nullptr;
}

/// The children of `parent` named `name`.
std::vector<const Node*> children(const std::vector<Node>& nodes, const Node* parent, const std::string& name) {
  std::vector<const Node*> out;
  for (const Node& n : nodes)
    if (n.parent >= 0 && &nodes[static_cast<std::size_t>(n.parent)] == parent && n.name == name) out.push_back(&n);
  return out;
}

/// Tick labels of one axis (x: centred under the axes, y: right-aligned) with their positions.
std::vector<std::pair<double, std::string>> ticks(const std::vector<Node>& nodes, char axis) {
  std::vector<std::pair<double, std::string>> out;
  for (const Node& n : nodes) {
    if (n.name != "text" || n.parent < 0 || nodes[static_cast<std::size_t>(n.parent)].attr("class") != "ticks")
      continue;
    bool is_y = n.attr("text-anchor") == "end";
    if ((axis == 'y') == is_y) out.emplace_back(std::stod(n.attr(axis == 'x' ? "x" : "y")), n.text);
  }
  return out;
}

bool contains(const std::vector<Node>& nodes, const std::string& name, const std::string& text) {
  for (const Node& n : nodes)
    if (n.name == name && n.text == text) return true;
  return false;
}

std::vector<Series> forecast_figure() {
  Series inputs{"Inputs", {}, {}, "points", "#1f77b4"};
  for (int t = 0; t < 50; ++t) inputs.y.push_back(0.5 * std::sin(0.3 * t) + 0.1 * std::cos(1.7 * t));
  Series target{"Target", {50}, {0.31}, "markers", "#1f77b4"};
  Series prediction{"Prediction", {50}, {0.25}, "crosses", "red"};
  return {inputs, target, prediction};
}

// ---- the SVG ----------------------------------------------------------------------------------

TEST(Plot, TheHeadersExampleCompilesAndPlotsAHistory) {
  History h;
  h.values["loss"] = {0.5, 0.2, 0.1};
  h.values["val_loss"] = {0.6, 0.3, 0.2};
  const std::string path = (std::filesystem::temp_directory_path() / "tapegrad_plot_header_example.svg").string();
  // plot.h's example, as written there:
  tg::Series train{.label = "loss", .y = h["loss"]};  // x: 0, 1, 2, ... (the epochs)
  tg::Series valid{.label = "val_loss", .y = h["val_loss"]};
  tg::PlotOptions options{.title = "Learning curves", .xlabel = "epoch", .ylabel = "MSE", .log_y = true};
  tg::save_svg(path, tg::line_plot_svg({train, valid}, options));
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::vector<Node> nodes = parse_xml(text.str());
  EXPECT_NE(series_group(nodes, "loss"), nullptr);
  EXPECT_NE(series_group(nodes, "val_loss"), nullptr);
  std::filesystem::remove(path);
}

TEST(Plot, ForecastFigureIsWellFormed) {
  PlotOptions o;
  o.title = "Forecast";
  o.xlabel = "t";
  o.ylabel = "x(t)";
  std::string svg = line_plot_svg(forecast_figure(), o);
  ASSERT_EQ(svg.rfind("<svg", 0), 0u) << svg.substr(0, 40);
  std::vector<Node> nodes = parse_xml(svg);
  ASSERT_FALSE(nodes.empty());
  EXPECT_EQ(nodes[0].name, "svg");
  EXPECT_EQ(nodes[0].attr("xmlns"), "http://www.w3.org/2000/svg");
  EXPECT_EQ(nodes[0].attr("width"), "800");
  EXPECT_EQ(nodes[0].attr("height"), "450");
  expect_coordinates_inside(nodes, 800, 450);

  for (const char* text : {"Forecast", "t", "x(t)", "Inputs", "Target", "Prediction"})
    EXPECT_TRUE(contains(nodes, "text", text)) << text;

  const Node* inputs = series_group(nodes, "Inputs");
  ASSERT_NE(inputs, nullptr);
  EXPECT_EQ(children(nodes, inputs, "polyline").size(), 1u);
  EXPECT_EQ(children(nodes, inputs, "circle").size(), 50u);
  EXPECT_EQ(numbers(children(nodes, inputs, "polyline")[0]->attr("points")).size(), 100u);
  const Node* target = series_group(nodes, "Target");
  ASSERT_NE(target, nullptr);
  EXPECT_EQ(children(nodes, target, "circle").size(), 1u);
  EXPECT_TRUE(children(nodes, target, "polyline").empty());
  const Node* prediction = series_group(nodes, "Prediction");
  ASSERT_NE(prediction, nullptr);
  ASSERT_EQ(children(nodes, prediction, "path").size(), 1u);
  EXPECT_EQ(children(nodes, prediction, "path")[0]->attr("stroke"), "red");

  // the target and the prediction share x = 50, to the right of every input
  double tx = std::stod(children(nodes, target, "circle")[0]->attr("cx"));
  for (const Node* c : children(nodes, inputs, "circle")) EXPECT_LT(std::stod(c->attr("cx")), tx);
  std::vector<double> cross = numbers(children(nodes, prediction, "path")[0]->attr("d"));
  ASSERT_EQ(cross.size(), 8u);
  EXPECT_NEAR((cross[0] + cross[2]) / 2, tx, 1e-9);
  // higher values are drawn higher up
  double ty = std::stod(children(nodes, target, "circle")[0]->attr("cy"));
  EXPECT_LT(ty, (cross[1] + cross[3]) / 2);
}

TEST(Plot, TicksAreOneTwoFiveStepsInsideTheAxes) {
  const std::pair<double, double> ranges[] = {{0, 1},         {-0.63, 0.71}, {1, 20},     {0.0031, 0.0049},
                                              {-1234, 98765}, {7, 7},        {1e-7, 3e-7}};
  for (auto [lo, hi] : ranges) {
    Series s{"s", {0, 1}, {lo, hi}, "line", ""};
    std::vector<Node> nodes = parse_xml(line_plot_svg({s}));
    auto y = ticks(nodes, 'y');
    ASSERT_GE(y.size(), 3u) << lo << " " << hi;
    EXPECT_LE(y.size(), 12u) << lo << " " << hi;
    std::vector<double> values;
    for (auto& [pos, label] : y) values.push_back(std::stod(label));
    double step = values[1] - values[0];
    ASSERT_GT(step, 0) << lo << " " << hi;
    double mantissa = step / std::pow(10.0, std::floor(std::log10(step) + 1e-9));
    EXPECT_TRUE(std::abs(mantissa - 1) < 1e-6 || std::abs(mantissa - 2) < 1e-6 || std::abs(mantissa - 5) < 1e-6)
        << "step " << step << " for " << lo << ".." << hi;
    for (std::size_t i = 1; i < values.size(); ++i) {
      EXPECT_NEAR(values[i] - values[i - 1], step, 1e-9 * std::abs(step) + 1e-12);
      EXPECT_LT(y[i].first, y[i - 1].first);  // larger values higher up
    }
    // evenly spaced on screen, and the data fit between the first and last tick's neighbours
    double pixel_step = y[0].first - y[1].first;
    for (std::size_t i = 1; i < y.size(); ++i) EXPECT_NEAR(y[i - 1].first - y[i].first, pixel_step, 0.02);
    EXPECT_LE(values.front(), lo + step) << lo;
    EXPECT_GE(values.back(), hi - step) << hi;
  }
}

TEST(Plot, LogAxisSpacesDecadesEvenly) {
  Series loss{"loss", {1, 2, 3, 4}, {1.0, 0.1, 0.01, 0.001}, "line", ""};
  PlotOptions o;
  o.log_y = true;
  std::vector<Node> nodes = parse_xml(line_plot_svg({loss}, o));
  const Node* g = series_group(nodes, "loss");
  ASSERT_NE(g, nullptr);
  auto lines = children(nodes, g, "polyline");
  ASSERT_EQ(lines.size(), 1u);
  std::vector<double> p = numbers(lines[0]->attr("points"));
  ASSERT_EQ(p.size(), 8u);
  EXPECT_NEAR(p[3] - p[1], p[5] - p[3], 0.02);
  EXPECT_NEAR(p[5] - p[3], p[7] - p[5], 0.02);
  EXPECT_GT(p[3] - p[1], 10.0);
  std::vector<std::string> labels;
  for (auto& [pos, label] : ticks(nodes, 'y')) labels.push_back(label);
  EXPECT_EQ(labels, (std::vector<std::string>{"0.001", "0.01", "0.1", "1"}));
}

TEST(Plot, LogAxisOverLessThanADecadeStillHasTicks) {
  Series loss{"val_loss", {1, 2, 3}, {0.0081, 0.0052, 0.0034}, "points", ""};
  PlotOptions o;
  o.log_y = true;
  std::vector<Node> nodes = parse_xml(line_plot_svg({loss}, o));
  auto y = ticks(nodes, 'y');
  ASSERT_GE(y.size(), 2u);
  for (auto& [pos, label] : y) {
    double v = std::stod(label);
    EXPECT_GT(v, 0.003);
    EXPECT_LT(v, 0.009);
  }
}

TEST(Plot, SkipsNonFiniteAndNonPositiveOnLogAxes) {
  const double nan = std::nan(""), inf = INFINITY;
  Series s{"gappy", {}, {0.5, 0.4, nan, 0.3, 0.2, inf, 0.1, -inf}, "points", ""};
  Series x_nan{"x", {0, nan, 2}, {1, 2, 3}, "markers", ""};
  std::string svg = line_plot_svg({s, x_nan});
  std::vector<Node> nodes = parse_xml(svg);
  expect_coordinates_inside(nodes, 800, 450);
  const Node* g = series_group(nodes, "gappy");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(children(nodes, g, "polyline").size(), 2u);  // 0.5-0.4 and 0.3-0.2; 0.1 stands alone
  EXPECT_EQ(children(nodes, g, "circle").size(), 5u);
  EXPECT_EQ(children(nodes, series_group(nodes, "x"), "circle").size(), 2u);

  PlotOptions o;
  o.log_y = true;
  Series mixed{"mixed", {}, {1.0, 0.0, -2.0, 0.1, 0.01}, "line", ""};
  nodes = parse_xml(line_plot_svg({mixed}, o));
  expect_coordinates_inside(nodes, 800, 450);
  auto lines = children(nodes, series_group(nodes, "mixed"), "polyline");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(numbers(lines[0]->attr("points")).size(), 4u);  // 0.1 and 0.01
}

TEST(Plot, EmptyFiguresAreFine) {
  for (bool log_y : {false, true}) {
    PlotOptions o;
    o.log_y = log_y;
    std::vector<Node> nodes = parse_xml(line_plot_svg({}, o));
    ASSERT_FALSE(nodes.empty());
    expect_coordinates_inside(nodes, 800, 450);
    nodes = parse_xml(line_plot_svg(
        {Series{"nothing", {}, {}, "line", ""}, Series{"only nan", {}, {std::nan("")}, "markers", ""}}, o));
    expect_coordinates_inside(nodes, 800, 450);
    EXPECT_TRUE(children(nodes, series_group(nodes, "nothing"), "polyline").empty());
    EXPECT_TRUE(contains(nodes, "text", "nothing"));  // still in the legend
  }
  Series one{"one", {}, {3.0}, "line", ""};
  std::vector<Node> nodes = parse_xml(line_plot_svg({one}));
  expect_coordinates_inside(nodes, 800, 450);
  EXPECT_TRUE(children(nodes, series_group(nodes, "one"), "polyline").empty());  // one point, no line
}

TEST(Plot, EscapesText) {
  PlotOptions o;
  o.title = "R&D <loss> \"quoted\" it's";
  o.xlabel = "a<b";
  o.ylabel = "x\x01y";
  Series s{"<script>&amp;", {}, {1, 2}, "line", "red\" onload=\"x"};
  std::string svg = line_plot_svg({s}, o);
  EXPECT_EQ(svg.find("<script>"), std::string::npos);
  EXPECT_EQ(svg.find("\x01"), std::string::npos);
  EXPECT_NE(svg.find("R&amp;D &lt;loss&gt; &quot;quoted&quot; it&apos;s"), std::string::npos);
  std::vector<Node> nodes = parse_xml(svg);
  EXPECT_TRUE(contains(nodes, "text", o.title));
  EXPECT_TRUE(contains(nodes, "text", "a<b"));
  EXPECT_TRUE(contains(nodes, "text", "<script>&amp;"));
  EXPECT_TRUE(contains(nodes, "text", "x y"));
  for (const Node& n : nodes) EXPECT_EQ(n.attrs.count("onload"), 0u);
}

TEST(Plot, PaletteAndColours) {
  Series a{"a", {}, {1, 2}, "line", ""}, b{"b", {}, {2, 1}, "line", "#123456"}, c{"c", {}, {0, 3}, "line", ""};
  std::vector<Node> nodes = parse_xml(line_plot_svg({a, b, c}));
  auto colour = [&](const std::string& label) {
    return children(nodes, series_group(nodes, label), "polyline").at(0)->attr("stroke");
  };
  EXPECT_EQ(colour("a"), "#1f77b4");
  EXPECT_EQ(colour("b"), "#123456");
  EXPECT_EQ(colour("c"), "#ff7f0e");  // the palette skips series with their own colour
}

TEST(Plot, LegendCanBeTurnedOffAndAvoidsTheData) {
  Series rising{"rising", {}, {}, "points", ""};
  for (int i = 0; i < 40; ++i) rising.y.push_back(i);  // fills the lower left and upper right
  std::vector<Node> nodes = parse_xml(line_plot_svg({rising}));
  const Node* legend = nullptr;
  for (const Node& n : nodes)
    if (n.name == "g" && n.attr("class") == "legend") legend = &n;
  ASSERT_NE(legend, nullptr);
  const Node* box = children(nodes, legend, "rect").at(0);
  double bx = std::stod(box->attr("x")), by = std::stod(box->attr("y"));
  double bw = std::stod(box->attr("width")), bh = std::stod(box->attr("height"));
  for (const Node* c : children(nodes, series_group(nodes, "rising"), "circle")) {
    double cx = std::stod(c->attr("cx")), cy = std::stod(c->attr("cy"));
    EXPECT_FALSE(cx >= bx && cx <= bx + bw && cy >= by && cy <= by + bh) << cx << "," << cy;
  }

  PlotOptions o;
  o.legend = false;
  nodes = parse_xml(line_plot_svg({rising}, o));
  for (const Node& n : nodes) EXPECT_NE(n.attr("class"), "legend");
}

TEST(Plot, RejectsBadArguments) {
  EXPECT_THROW(line_plot_svg({Series{"s", {}, {1, 2}, "dashed", ""}}), ValueError);
  EXPECT_THROW(line_plot_svg({Series{"s", {1, 2, 3}, {1, 2}, "line", ""}}), ValueError);
  PlotOptions tiny;
  tiny.width = 50;
  EXPECT_THROW(line_plot_svg({}, tiny), ValueError);
  try {
    line_plot_svg({Series{"mine", {1, 2, 3}, {1, 2}, "line", ""}});
  } catch (const ValueError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("mine"), std::string::npos) << what;
    EXPECT_NE(what.find("3 x values and 2 y values"), std::string::npos) << what;
  }
}

TEST(Plot, CustomSizeIsRespected) {
  PlotOptions o;
  o.width = 300;
  o.height = 200;
  o.title = "small";
  o.xlabel = "epoch";
  o.ylabel = "loss";
  std::vector<Node> nodes = parse_xml(line_plot_svg(forecast_figure(), o));
  EXPECT_EQ(nodes[0].attr("viewBox"), "0 0 300 200");
  expect_coordinates_inside(nodes, 300, 200);
  for (const Node& n : nodes)
    if (n.name == "circle") {
      EXPECT_LE(std::stod(n.attr("cx")), 300.0);
      EXPECT_LE(std::stod(n.attr("cy")), 200.0);
    }
}

// ---- saving -----------------------------------------------------------------------------------

TEST(Plot, SaveWritesTheWholeFileAndNoTemporary) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(::testing::TempDir()) / "tapegrad_plot_test";
  fs::create_directories(dir);
  fs::path path = dir / "forecast.svg";
  std::string svg = line_plot_svg(forecast_figure());
  save_svg(path.string(), "old contents");
  save_svg(path.string(), svg);
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), svg);
  for (const auto& entry : fs::directory_iterator(dir))
    EXPECT_EQ(entry.path().filename(), "forecast.svg") << "left behind: " << entry.path();
  fs::remove_all(dir);
}

TEST(Plot, SaveToAnUnwritablePathThrowsIOError) {
  namespace fs = std::filesystem;
  std::string missing_dir = (fs::path(::testing::TempDir()) / "tapegrad_no_such_dir" / "a.svg").string();
  EXPECT_THROW(save_svg(missing_dir, "<svg/>"), IOError);
  try {
    save_svg(missing_dir, "<svg/>");
  } catch (const IOError& e) {
    EXPECT_NE(std::string(e.what()).find(missing_dir), std::string::npos) << e.what();
  }
  // a directory in the way of the file
  fs::path dir = fs::path(::testing::TempDir()) / "tapegrad_plot_dir_in_the_way";
  fs::create_directories(dir / "x.svg" / "child");
  EXPECT_THROW(save_svg((dir / "x.svg").string(), "<svg/>"), IOError);
  EXPECT_FALSE(fs::exists(dir / "x.svg.tmp"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tg
