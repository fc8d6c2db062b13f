// forecast --csv: the forecasting job on a column of a user's CSV file (csv_forecast.h).
#include "csv_forecast.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <tapegrad/tapegrad.h>

#include <tapegrad/data/csv.h>
#include <tapegrad/data/splits.h>
#include <tapegrad/data/transforms.h>
#include <tapegrad/data/windows.h>
#include <tapegrad/nn/training/fit.h>
#include <tapegrad/nn/training/serialize.h>
#include <tapegrad/optim/adam.h>

#include "models.h"
#include "support/cli.h"
#include "support/plot.h"

namespace forecast {
namespace {

using namespace tg;

// ---- command line -----------------------------------------------------------------------------

const std::vector<std::string> kCsvModels = {"naive", "seasonal_naive", "linear", "deep_rnn", "lstm",
                                             "gru",   "conv_gru",       "wavenet"};

bool is_baseline(const std::string& m) { return m == "naive" || m == "seasonal_naive"; }

struct Options {
  std::string csv, column, date, missing = "interpolate";
  std::int64_t window = 24, horizon = 12;
  std::optional<std::int64_t> season;
  std::vector<std::string> models;  // empty: every model that applies
  std::int64_t backtest = 0;
  int epochs = 100;
  std::uint32_t seed = 42;
  bool json = false, quiet = false, quick = false, no_log = false, predict = false;
  std::string plots, save, load;
};

// A bad input, found before any training: main prints it and exits with 2.
struct BadInput {
  std::string what;
};

std::vector<std::string> split_list(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream ss(list);
  for (std::string m; std::getline(ss, m, ',');) out.push_back(m);
  if (!list.empty() && list.back() == ',') out.emplace_back();
  return out;
}

std::string check_models(const std::string& list) {
  if (list.empty()) return "needs at least one model name";
  for (const std::string& m : split_list(list))
    if (std::find(kCsvModels.begin(), kCsvModels.end(), m) == kCsvModels.end())
      return fmt::format("unknown model '{}' (expected {})", m, fmt::join(kCsvModels, ", "));
  return "";
}

std::optional<int> parse(int argc, char** argv, Options& o) {
  cli::CommandLine cl("forecast",
                      "Forecasts a column of a CSV file with baselines and learned models, and prints a\n"
                      "leaderboard on the held-out end of the series (docs/forecasting-your-data.md).");
  cl.text("--csv", o.csv, "the CSV file (a header line naming the columns)", "FILE");
  cl.text("--column", o.column, "the column to forecast, by its name in the header", "NAME");
  cl.text("--date", o.date,
          "a column of labels (dates) shown in the report (default: the first\n"
          "column when it is not the one forecast)",
          "NAME");
  cl.choice("--missing", o.missing, {"interpolate", "drop", "error"},
            "empty or NA cells: interpolated linearly (default), their rows\n"
            "dropped, or an error");
  cl.whole("--window", o.window, 2, 10000, "input steps per window (default 24)", "T");
  cl.whole("--horizon", o.horizon, 1, 10000, "steps forecast at once (default 12)", "H");
  cl.whole("--season", o.season, 2, 10000,
           "the season's length (12 for monthly data): seasonal differencing,\n"
           "the seasonal_naive baseline and MASE against it",
           "S");
  std::string models;
  cl.text("--models", models,
          "models to compare (default: all that apply)\n"
          "naive, seasonal_naive (with --season), linear, deep_rnn, lstm, gru,\n"
          "conv_gru, wavenet",
          "a,b,...")
      ->check(CLI::Validator([](std::string& v) { return check_models(v); }, ""));
  cl.whole("--backtest", o.backtest, 0, 1000,
           "score on K rolling origins, each trained on its past, and average\n"
           "(default 0: one split, the last 20% held out)",
           "K");
  cl.whole("--epochs", o.epochs, 1, 100000, "epochs at most per model, with early stopping (default 100)");
  cl.whole("--seed", o.seed, 0, 4294967295u, "weights and shuffling seed (default 42)", "S");
  cl.flag("--no-log", o.no_log, "no log transform before seasonal differencing");
  cl.flag("--json", o.json, "one JSON object per model (best first) instead of the table");
  cl.flag("--quiet", o.quiet, "print only the leaderboard");
  cl.text("--plots", o.plots, "write the forecasts and learning curves as SVG files into DIR", "DIR");
  cl.text("--save", o.save, "keep the best learned model and its preprocessing in DIR", "DIR");
  cl.text("--load", o.load, "with --predict: the model kept by --save", "DIR");
  cl.flag("--predict", o.predict, "with --load: print the next H values after the file's last window");
  cl.quick("a small run for tests: 3 epochs unless --epochs is given", [&] {
    o.quick = true;
    o.epochs = 3;
  });
  if (auto status = cl.parse(argc, argv)) return status;
  if (!models.empty()) o.models = split_list(models);
  return std::nullopt;
}

// ---- the series -------------------------------------------------------------------------------

struct SeriesData {
  std::vector<double> y;            // the column's values
  std::vector<std::string> labels;  // dates, or empty
  std::int64_t filled = 0, dropped = 0;
};

// The first field of the file's first line (the header's first name), unquoted.
std::string first_header_field(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return "";
  if (line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
  std::string field = line.substr(0, line.find(','));
  while (!field.empty() && (field.back() == '\r' || field.back() == ' ')) field.pop_back();
  if (field.size() >= 2 && field.front() == '"' && field.back() == '"') field = field.substr(1, field.size() - 2);
  return field;
}

SeriesData read_series(const std::string& path, const std::string& column, std::string date,
                       const std::string& missing) {
  if (column.empty()) throw BadInput{"--csv needs --column NAME: the column to forecast"};
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw BadInput{fmt::format("--csv: no file '{}'", path)};
  CsvOptions options;
  options.columns = {CsvColumn(column)};
  if (date.empty()) {
    const std::string first = first_header_field(path);
    if (!first.empty() && first != column) date = first;
  }
  if (!date.empty()) options.date_column = CsvColumn(date);
  const CsvPolicy policy = missing == "interpolate" ? CsvPolicy::interpolate
                           : missing == "drop"      ? CsvPolicy::drop_row
                                                    : CsvPolicy::error;
  options.missing = policy;
  CsvTable table;
  try {
    table = read_csv(path, options);
  } catch (const Error& e) {
    throw BadInput{e.what()};
  }
  SeriesData s;
  s.y = table.values;
  s.labels = table.labels;
  s.filled = table.interpolated;
  s.dropped = static_cast<std::int64_t>(table.dropped_lines.size());
  if (s.y.empty()) throw BadInput{fmt::format("--csv: '{}' has no values in column '{}'", path, column)};
  const auto [lo, hi] = std::minmax_element(s.y.begin(), s.y.end());
  if (*lo == *hi)
    throw BadInput{
        fmt::format("column '{}' of '{}' is constant (every one of its {} values is {}): nothing to forecast", column,
                    path, s.y.size(), *lo)};
  return s;
}

// ---- preprocessing ----------------------------------------------------------------------------

// What the preprocessing does; its parameters come from fitting on a training part.
struct PrepChoice {
  bool log = false;
  std::int64_t difference = 0;  // 0: none
  std::int64_t lag() const { return difference; }
};

// Whether `train` has a trend: a straight line over time explains at least half its variance.
bool has_trend(std::span<const double> train) {
  const double n = static_cast<double>(train.size());
  double mt = (n - 1) / 2, my = 0;
  for (double v : train) my += v;
  my /= n;
  double stt = 0, sty = 0, syy = 0;
  for (std::size_t t = 0; t < train.size(); ++t) {
    const double dt = static_cast<double>(t) - mt, dy = train[t] - my;
    stt += dt * dt, sty += dt * dy, syy += dy * dy;
  }
  return syy > 0 && (sty * sty) / (stt * syy) >= 0.5;
}

PrepChoice choose_prep(const Options& o, const std::vector<double>& y, std::int64_t train_end) {
  PrepChoice c;
  if (o.season) {
    c.log = !o.no_log && std::all_of(y.begin(), y.end(), [](double v) { return v > 0; });
    c.difference = *o.season;
  } else if (has_trend(std::span<const double>(y.data(), static_cast<std::size_t>(train_end)))) {
    c.difference = 1;
  }
  return c;
}

std::string describe(const PrepChoice& c) {
  std::string s = c.log ? "log, " : "";
  if (c.difference) s += fmt::format("difference({}), ", c.difference);
  return s + "standard_scale";
}

// (x - mean) / deviation with given parameters: a StandardScale as it was fitted, read back from
// a saved model's settings. Its fit keeps them.
class FixedScale : public Transform {
 public:
  FixedScale(double mean, double deviation) : mean_(mean), deviation_(deviation) {}
  std::string name() const override { return "standard_scale"; }
  std::unique_ptr<Transform> clone() const override { return std::make_unique<FixedScale>(*this); }
  std::int64_t fitted_columns() const override { return 1; }
  void fit_columns(const std::vector<std::vector<double>>&) override {}
  std::vector<double> forward(std::span<const double> x, std::int64_t) const override {
    std::vector<double> out(x.begin(), x.end());
    for (double& v : out) v = (v - mean_) / deviation_;
    return out;
  }
  void inverse_in_place(std::span<double> values, std::span<const double>, std::int64_t) const override {
    for (double& v : values) v = v * deviation_ + mean_;
  }

 private:
  double mean_, deviation_;
};

Pipeline make_pipeline(const PrepChoice& c, std::optional<std::pair<double, double>> scale = {}) {
  Pipeline p;
  if (c.log) p.add(Log());
  if (c.difference) p.add(Difference(c.difference));
  if (scale)
    p.add(FixedScale(scale->first, scale->second));
  else
    p.add(StandardScale());
  return p;
}

Tensor column_tensor(std::span<const double> v) {
  return from_vector(v, {static_cast<std::int64_t>(v.size()), 1}, DType::f64);
}

// ---- one split: train on the past, forecast the test part ------------------------------------

// Steps (raw indices) of one evaluation: train [0, train_end), validation [train_end, valid_end),
// forecasts whose targets lie in [valid_end, test_end).
struct Fold {
  std::int64_t train_end = 0, valid_end = 0, test_end = 0;
};

struct ModelScore {
  double mae = 0, rmse = 0, mase = 0;
  std::int64_t params = 0;
  double train_s = 0;
  History history;
  std::vector<double> last_forecast;  // from the last origin, in the series' units
  std::shared_ptr<Sequential> net;
};

struct FoldResult {
  std::map<std::string, ModelScore> scores;
  Pipeline prep;
  std::int64_t forecasts = 0;
  std::int64_t last_origin = 0;
};

std::shared_ptr<Sequential> build_model(const std::string& name, std::int64_t window, std::int64_t horizon) {
  auto make = [](Sequential m) { return std::make_shared<Sequential>(std::move(m)); };
  std::shared_ptr<Sequential> m;
  if (name == "linear")
    m = make(Sequential(Input{window, 1}, Flatten(), Dense(horizon)));
  else if (name == "deep_rnn")
    m = make(deep_rnn(horizon));
  else if (name == "lstm")
    m = make(gated_rnn<LSTM>(horizon, Outputs::last_step));
  else if (name == "gru")
    m = make(gated_rnn<GRU>(horizon, Outputs::last_step));
  else if (name == "conv_gru")
    m = make(conv_gru(horizon, Outputs::last_step));
  else if (name == "wavenet")
    m = make(wavenet(horizon));
  else
    throw ValueError(fmt::format("forecast: no learned model '{}'", name));
  m->set_name(name);
  return m;
}

// The model's forecasts [N, H] for inputs x [N, T, 1] (WaveNet forecasts at every step: its last).
Tensor forecast_of(const std::string& name, Sequential& net, const Tensor& x) {
  NoGradGuard no_grad;
  Tensor out = predict(net, x, 256);
  if (name == "wavenet") out = select(out, 1, out.size(1) - 1);
  return out;
}

Tensor to_f32(const Tensor& t) { return from_vector(t.to_vector(), t.shape(), DType::f32); }

class Runner {
 public:
  Runner(const Options& o, const std::vector<double>& y, const PrepChoice& choice, std::vector<std::string> models)
      : o_(o), y_(y), choice_(choice), models_(std::move(models)) {}

  // Checks that the preprocessing and the windows of `f` can be made (BadInput otherwise).
  void check(const Fold& f) const {
    try {
      Pipeline prep = make_pipeline(choice_);
      prep.fit(column_tensor(std::span<const double>(y_.data(), static_cast<std::size_t>(f.train_end))));
      Tensor z = prep.apply(column_tensor(std::span<const double>(y_.data(), static_cast<std::size_t>(f.test_end))));
      (void)windows(z, f, prep.lag());
    } catch (const Error& e) {
      throw BadInput{fmt::format("cannot prepare the series: {}", e.what())};
    }
  }

  FoldResult run(const Fold& f, bool progress) const {
    FoldResult r;
    r.prep = make_pipeline(choice_);
    const auto train_raw = std::span<const double>(y_.data(), static_cast<std::size_t>(f.train_end));
    r.prep.fit(column_tensor(train_raw));
    const std::int64_t lag = r.prep.lag();
    Tensor z =
        to_f32(r.prep.apply(column_tensor(std::span<const double>(y_.data(), static_cast<std::size_t>(f.test_end)))));
    const Parts p = windows(z, f, lag);
    const std::int64_t n = p.test.size(), h = o_.horizon, k = std::max<std::int64_t>(lag, 1);
    r.forecasts = n;
    // Origins (raw steps of the first target) and the values forecast.
    std::vector<std::int64_t> origin(static_cast<std::size_t>(n));
    std::vector<double> truth(static_cast<std::size_t>(n * h)), history(static_cast<std::size_t>(n * k));
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t o = p.test.first_target(i) + lag;
      origin[static_cast<std::size_t>(i)] = o;
      for (std::int64_t j = 0; j < h; ++j)
        truth[static_cast<std::size_t>(i * h + j)] = y_[static_cast<std::size_t>(o + j)];
      for (std::int64_t j = 0; j < k; ++j)
        history[static_cast<std::size_t>(i * k + j)] = y_[static_cast<std::size_t>(o - k + j)];
    }
    r.last_origin = origin.back();
    // MASE's scale: the mean absolute error of the (seasonal) naive forecast in the training part.
    const std::int64_t m = o_.season.value_or(1);
    double scale = 0;
    for (std::int64_t t = m; t < f.train_end; ++t)
      scale += std::abs(y_[static_cast<std::size_t>(t)] - y_[static_cast<std::size_t>(t - m)]);
    scale /= static_cast<double>(f.train_end - m);

    auto score = [&](const std::vector<double>& pred, ModelScore& s) {
      double abs_sum = 0, sq_sum = 0;
      for (std::size_t i = 0; i < pred.size(); ++i) {
        const double e = pred[i] - truth[i];
        abs_sum += std::abs(e), sq_sum += e * e;
      }
      const double count = static_cast<double>(pred.size());
      s.mae = abs_sum / count;
      s.rmse = std::sqrt(sq_sum / count);
      s.mase = scale > 0 ? s.mae / scale : s.mae;
      s.last_forecast.assign(pred.end() - h, pred.end());
    };

    for (const std::string& name : models_) {
      ModelScore s;
      std::vector<double> pred(static_cast<std::size_t>(n * h));
      if (is_baseline(name)) {
        const std::int64_t lag_b = name == "naive" ? 1 : *o_.season;
        for (std::int64_t i = 0; i < n; ++i)
          for (std::int64_t j = 0; j < h; ++j) {
            const std::int64_t o = origin[static_cast<std::size_t>(i)];
            pred[static_cast<std::size_t>(i * h + j)] = y_[static_cast<std::size_t>(o + j - lag_b * (j / lag_b + 1))];
          }
      } else {
        if (progress) fmt::print("{:<16}", name), std::fflush(stdout);
        manual_seed(o_.seed);  // each model's weights depend on the seed only
        s.net = build_model(name, o_.window, h);
        const auto t0 = std::chrono::steady_clock::now();
        s.history = train(name, *s.net, z, p);
        s.train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        s.params = s.net->num_parameters();
        Tensor zhat = from_vector(forecast_of(name, *s.net, p.test_x).to_vector(), {n, h}, DType::f64);
        Tensor yhat = r.prep.inverse(zhat, from_vector(history, {n, k}, DType::f64), 0);
        pred = yhat.to_vector();
        if (progress)
          fmt::print("{} epochs, val_loss {:.4f}  ({:.2f} s)\n", s.history.epochs(), s.history["val_loss"].back(),
                     s.train_s);
      }
      score(pred, s);
      r.scores[name] = std::move(s);
    }
    return r;
  }

 private:
  struct Parts {
    WindowSet train, valid, test;
    Tensor test_x;
  };

  Parts windows(const Tensor& z, const Fold& f, std::int64_t lag) const {
    const WindowOptions wo{.length = o_.window, .horizon = o_.horizon};
    Parts p;
    p.train = WindowSet::for_targets_in(z, wo, {0, f.train_end - lag});
    p.valid = WindowSet::for_targets_in(z, wo, {f.train_end - lag, f.valid_end - lag});
    p.test = WindowSet::for_targets_in(z, wo, {f.valid_end - lag, f.test_end - lag});
    p.test_x = p.test.materialise().first;
    return p;
  }

  History train(const std::string& name, Sequential& net, const Tensor& z, const Parts& p) const {
    auto [x, y] = p.train.materialise();
    auto [xv, yv] = p.valid.materialise();
    if (name == "wavenet") {  // trained on the next H values at every step, as the walkthrough's
      WindowOptions seq{.length = o_.window, .horizon = o_.horizon, .sequence_targets = true};
      y = WindowSet(z, seq, p.train.extent()).materialise().second;
      yv = WindowSet(z, seq, p.valid.extent()).materialise().second;
    }
    Adam opt(net.parameters(), 0.001);
    Generator shuffle(o_.seed);
    EarlyStopping stop("val_loss", 10, /*restore_best_weights=*/true);
    FitOptions fo;
    fo.epochs = o_.epochs;
    fo.optimizer = &opt;
    fo.validation_data = std::make_pair(xv, yv);
    fo.verbose = 0;
    fo.generator = &shuffle;
    fo.callbacks = {&stop};
    return fit(net, x, y, fo);
  }

  const Options& o_;
  const std::vector<double>& y_;
  PrepChoice choice_;
  std::vector<std::string> models_;
};

// The holdout: the last 20% of the series (at least H steps) forecast, the 10% before it (at
// least H steps) for early stopping, the rest for training.
Fold holdout(std::int64_t length, std::int64_t horizon) {
  const std::int64_t test = std::max(horizon, length / 5), valid = std::max(horizon, length / 10);
  return {length - test - valid, length - test, length};
}

// The fewest values a holdout needs: one training window after the preprocessing's lag.
std::int64_t holdout_minimum(std::int64_t window, std::int64_t horizon, std::int64_t lag) {
  for (std::int64_t l = 1;; ++l) {
    const Fold f = holdout(l, horizon);
    if (f.train_end - lag >= window + horizon + 1) return l;
  }
}

std::vector<Fold> backtest_folds(std::int64_t length, const Options& o, std::int64_t lag) {
  // The first fold trains on at least a holdout's worth of values.
  const std::int64_t min_train = holdout_minimum(o.window, o.horizon, lag) - o.horizon;
  std::vector<BacktestFold> folds;
  try {
    folds = rolling_origins(length, {.folds = o.backtest, .horizon = o.horizon, .min_train = min_train});
  } catch (const Error& e) {
    throw BadInput{
        fmt::format("--backtest {}: {} (for --window {} and --horizon {})", o.backtest, e.what(), o.window, o.horizon)};
  }
  std::vector<Fold> out;
  for (const BacktestFold& b : folds) {
    const std::int64_t origin = b.test.begin, valid = std::max(o.horizon, origin / 10);
    out.push_back({origin - valid, origin, b.test.end});
  }
  return out;
}

// ---- output -----------------------------------------------------------------------------------

struct Row {
  std::string model;
  double mae = 0, rmse = 0, mase = 0, train_s = 0;
  std::int64_t params = 0;
};

std::string json_line(const Row& r) {
  return fmt::format(
      R"({{"model": "{}", "mae": {:.6g}, "rmse": {:.6g}, "mase": {:.6g}, "params": {}, "train_s": {:.3f}}})", r.model,
      r.mae, r.rmse, r.mase, r.params, r.train_s);
}

std::string label_of(const SeriesData& s, std::int64_t step) {
  if (s.labels.empty()) return fmt::format("step {}", step);
  return s.labels[static_cast<std::size_t>(step)];
}

void plot(const std::string& dir, const SeriesData& s, const FoldResult& r, std::int64_t from,
          const std::vector<std::string>& models, const std::string& column) {
  std::vector<Series> lines;
  std::vector<double> xs, ys;
  for (std::int64_t t = from; t < static_cast<std::int64_t>(s.y.size()); ++t) {
    xs.push_back(static_cast<double>(t));
    ys.push_back(s.y[static_cast<std::size_t>(t)]);
  }
  lines.push_back({column, xs, ys, "line", "#1f77b4"});
  for (const std::string& m : models) {
    const ModelScore& sc = r.scores.at(m);
    std::vector<double> fx;
    for (std::size_t j = 0; j < sc.last_forecast.size(); ++j) fx.push_back(static_cast<double>(r.last_origin) + j);
    lines.push_back({m, fx, sc.last_forecast, "points", ""});
    if (sc.history.epochs() > 0) {
      std::vector<double> epochs;
      for (int e = 1; e <= sc.history.epochs(); ++e) epochs.push_back(e);
      save_svg(
          dir + "/learning_curve_" + m + ".svg",
          line_plot_svg({{"loss", epochs, sc.history["loss"], "line", "#1f77b4"},
                         {"val_loss", epochs, sc.history["val_loss"], "line", "#ff7f0e"}},
                        {.title = "Learning curve: " + m, .xlabel = "epoch", .ylabel = "MSE (scaled)", .log_y = true}));
    }
  }
  save_svg(dir + "/forecast.svg",
           line_plot_svg(lines, {.title = fmt::format("{}: forecasts from {}", column, label_of(s, r.last_origin)),
                                 .xlabel = "step",
                                 .ylabel = column}));
}

// ---- save and load ----------------------------------------------------------------------------

const char* kSettings = "forecast.txt";
const char* kWeights = "weights.tgw";

void save(const std::string& dir, const std::string& model, const Options& o, const PrepChoice& c,
          const FoldResult& r) {
  const Sequential& net = *r.scores.at(model).net;
  save_weights(net, dir + "/" + kWeights);
  const auto& scale = dynamic_cast<const StandardScale&>(r.prep.stage(r.prep.size() - 1));
  std::string text = fmt::format(
      "format tapegrad-forecast 1\nmodel {}\ncolumn {}\nwindow {}\nhorizon {}\nlog {}\ndifference {}\n"
      "mean {:.17g}\ndeviation {:.17g}\nweights {}\n",
      model, o.column, o.window, o.horizon, c.log ? 1 : 0, c.difference, scale.mean()[0], scale.deviation()[0],
      kWeights);
  const std::string path = dir + "/" + kSettings, tmp = path + ".part";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) throw IOError(fmt::format("--save: cannot write '{}'", tmp));
  }
  std::filesystem::rename(tmp, path);
}

struct Saved {
  std::string model, column;
  std::int64_t window = 0, horizon = 0;
  PrepChoice prep;
  double mean = 0, deviation = 0;
};

Saved read_saved(const std::string& dir) {
  const std::string path = dir + "/" + kSettings;
  std::ifstream in(path);
  if (!in) throw BadInput{fmt::format("--load: no '{}' (written by forecast --save {})", path, dir)};
  std::map<std::string, std::string> kv;
  for (std::string line; std::getline(in, line);) {
    const auto space = line.find(' ');
    if (space == std::string::npos)
      throw BadInput{fmt::format("--load: '{}': a line without a value: '{}'", path, line)};
    kv[line.substr(0, space)] = line.substr(space + 1);
  }
  auto get = [&](const std::string& key) {
    auto it = kv.find(key);
    if (it == kv.end()) throw BadInput{fmt::format("--load: '{}' has no '{}'", path, key)};
    return it->second;
  };
  auto whole = [&](const std::string& key, std::int64_t lo) {
    auto v = cli::parse_whole<std::int64_t>(get(key), lo, 100000);
    if (!v) throw BadInput{fmt::format("--load: '{}': {} is '{}', not a whole number", path, key, get(key))};
    return *v;
  };
  auto real = [&](const std::string& key) {
    char* end = nullptr;
    const std::string v = get(key);
    const double d = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || !std::isfinite(d))
      throw BadInput{fmt::format("--load: '{}': {} is '{}', not a number", path, key, v)};
    return d;
  };
  if (get("format") != "tapegrad-forecast 1")
    throw BadInput{fmt::format("--load: '{}' is not a forecast settings file", path)};
  Saved s;
  s.model = get("model");
  if (std::find(kCsvModels.begin(), kCsvModels.end(), s.model) == kCsvModels.end() || is_baseline(s.model))
    throw BadInput{fmt::format("--load: '{}': no learned model '{}'", path, s.model)};
  s.column = get("column");
  s.window = whole("window", 2);
  s.horizon = whole("horizon", 1);
  s.prep.log = whole("log", 0) != 0;
  s.prep.difference = whole("difference", 0);
  s.mean = real("mean");
  s.deviation = real("deviation");
  if (!(s.deviation > 0)) throw BadInput{fmt::format("--load: '{}': deviation must be positive", path)};
  return s;
}

int predict_next(const Options& o) {
  const Saved saved = read_saved(o.load);
  const std::string column = o.column.empty() ? saved.column : o.column;
  const SeriesData s = read_series(o.csv, column, o.date, o.missing);
  Pipeline prep = make_pipeline(saved.prep, std::make_pair(saved.mean, saved.deviation));
  const std::int64_t len = static_cast<std::int64_t>(s.y.size()), k = std::max<std::int64_t>(prep.lag(), 1);
  if (len < saved.window + prep.lag())
    throw BadInput{
        fmt::format("--predict: column '{}' has {} values; the model needs at least {} (a window of {} after "
                    "{} for the preprocessing)",
                    column, len, saved.window + prep.lag(), saved.window, prep.lag())};
  Tensor z;
  try {
    prep.fit(column_tensor(s.y));
    z = to_f32(prep.apply(column_tensor(s.y)));
  } catch (const Error& e) {
    throw BadInput{fmt::format("cannot prepare the series: {}", e.what())};
  }
  auto net = build_model(saved.model, saved.window, saved.horizon);
  try {
    load_weights(*net, o.load + "/" + kWeights);
  } catch (const Error& e) {
    throw BadInput{fmt::format("--load: {}", e.what())};
  }
  Tensor x = reshape(slice(z, 0, z.size(0) - saved.window, saved.window), {1, saved.window, 1});
  Tensor zhat = from_vector(forecast_of(saved.model, *net, x).to_vector(), {1, saved.horizon}, DType::f64);
  std::vector<double> hist(s.y.end() - k, s.y.end());
  const std::vector<double> next = prep.inverse(zhat, from_vector(hist, {1, k}, DType::f64), 0).to_vector();
  if (o.json) {
    for (std::size_t j = 0; j < next.size(); ++j)
      fmt::print(R"({{"step": {}, "{}": {:.6g}}})"
                 "\n",
                 j + 1, column, next[j]);
  } else {
    fmt::print("{} ({}): the next {} values after {}\n", column, saved.model, next.size(), label_of(s, len - 1));
    for (std::size_t j = 0; j < next.size(); ++j) fmt::print("+{:<4} {:.6g}\n", j + 1, next[j]);
  }
  return 0;
}

// ---- the job ----------------------------------------------------------------------------------

int run(const Options& o) {
  if (!o.load.empty() || o.predict) {
    if (o.load.empty() || !o.predict) throw BadInput{"--load DIR and --predict go together"};
    if (o.csv.empty()) throw BadInput{"--load needs --csv FILE: the series to continue"};
    return predict_next(o);
  }
  if (o.csv.empty()) throw BadInput{"--csv FILE is needed"};
  std::vector<std::string> models = o.models;
  if (models.empty())
    for (const std::string& m : kCsvModels)
      if (m != "seasonal_naive" || o.season) models.push_back(m);
  for (const std::string& m : models)
    if (m == "seasonal_naive" && !o.season)
      throw BadInput{"--models seasonal_naive needs --season S (the season's length)"};
  if (o.window < 4 && std::find(models.begin(), models.end(), "conv_gru") != models.end())
    throw BadInput{fmt::format("conv_gru needs --window 4 or more (its convolution's kernel), got {}", o.window)};
  const bool learned = std::any_of(models.begin(), models.end(), [](const std::string& m) { return !is_baseline(m); });
  if (!o.save.empty() && !learned) throw BadInput{"--save keeps a learned model: --models lists none"};
  const SeriesData s = read_series(o.csv, o.column, o.date, o.missing);
  const auto len = static_cast<std::int64_t>(s.y.size());

  const Fold first = holdout(len, o.horizon);
  const PrepChoice choice = choose_prep(o, s.y, std::max<std::int64_t>(first.train_end, 2));
  const std::int64_t need = holdout_minimum(o.window, o.horizon, choice.lag());
  if (len < need)
    throw BadInput{fmt::format(
        "column '{}' has {} values: too short for --window {} and --horizon {}{}, which need at "
        "least {} (the last 30% are held out)",
        o.column, len, o.window, o.horizon, choice.lag() ? fmt::format(" after {}", describe(choice)) : "", need)};
  const std::vector<Fold> folds = o.backtest > 0 ? backtest_folds(len, o, choice.lag()) : std::vector<Fold>{first};
  Runner runner(o, s.y, choice, models);
  for (const Fold& f : folds) runner.check(f);
  if (!o.plots.empty()) cli::prepare_output_dir(o.plots, "--plots");
  if (!o.save.empty()) cli::prepare_output_dir(o.save, "--save");

  const bool text = !o.json && !o.quiet;
  if (text) {
    fmt::print("{}, column '{}': {} values", o.csv, o.column, len);
    if (!s.labels.empty()) fmt::print(", {} to {}", s.labels.front(), s.labels.back());
    if (s.filled) fmt::print(" ({} missing, interpolated)", s.filled);
    if (s.dropped) fmt::print(" ({} rows with a missing value dropped)", s.dropped);
    fmt::print("\npreprocessing: {}, fitted on each training part\n", describe(choice));
    if (o.backtest > 0)
      fmt::print("backtest: {} origins from {} to {}, each trained on its past, {} steps scored\n", folds.size(),
                 label_of(s, folds.front().valid_end), label_of(s, folds.back().valid_end), o.horizon);
    else
      fmt::print("held out: the last {} values ({} to {}); training on the first {}, early stopping on the next {}\n",
                 first.test_end - first.valid_end, label_of(s, first.valid_end), label_of(s, len - 1), first.train_end,
                 first.valid_end - first.train_end);
  }

  std::map<std::string, Row> sums;
  FoldResult last;
  for (std::size_t i = 0; i < folds.size(); ++i) {
    if (text && folds.size() > 1) fmt::print("origin {} ({})\n", i + 1, label_of(s, folds[i].valid_end));
    last = runner.run(folds[i], text);
    if (text && folds.size() == 1)
      fmt::print("{} forecasts of {} steps from windows of {}\n", last.forecasts, o.horizon, o.window);
    for (const auto& [m, sc] : last.scores) {
      Row& row = sums[m];
      row.model = m;
      row.mae += sc.mae, row.rmse += sc.rmse, row.mase += sc.mase, row.train_s += sc.train_s;
      row.params = sc.params;
    }
  }
  std::vector<Row> rows;
  for (auto& [m, row] : sums) {
    const double k = static_cast<double>(folds.size());
    row.mae /= k, row.rmse /= k, row.mase /= k;
    rows.push_back(row);
  }
  // Best first, ties by name (the order of `sums`): std::sort, as std::stable_sort's buffer is an
  // alloc-dealloc mismatch to AddressSanitizer with libstdc++ 12.
  std::sort(rows.begin(), rows.end(),
            [](const Row& a, const Row& b) { return a.mase != b.mase ? a.mase < b.mase : a.model < b.model; });

  if (o.json) {
    for (const Row& r : rows) fmt::print("{}\n", json_line(r));
  } else {
    fmt::print("\n{:<5}{:<16}{:>12}{:>12}{:>9}{:>9}{:>10}\n", "rank", "model", "MAE", "RMSE", "MASE", "params",
               "train s");
    fmt::print("{}\n", std::string(73, '-'));
    for (std::size_t i = 0; i < rows.size(); ++i)
      fmt::print("{:<5}{:<16}{:>12.4g}{:>12.4g}{:>9.3f}{:>9}{:>10.2f}\n", i + 1, rows[i].model, rows[i].mae,
                 rows[i].rmse, rows[i].mase, rows[i].params, rows[i].train_s);
    fmt::print("MASE: the MAE over that of the in-sample {} forecast (below 1 beats it)\n",
               o.season ? fmt::format("seasonal naive (lag {})", *o.season) : std::string("naive"));
  }
  if (!o.plots.empty()) {
    const std::int64_t from = std::max<std::int64_t>(0, folds.back().valid_end - 3 * o.window);
    plot(o.plots, s, last, from, models, o.column);
  }
  if (!o.save.empty()) {
    const auto best = std::find_if(rows.begin(), rows.end(), [](const Row& r) { return !is_baseline(r.model); });
    save(o.save, best->model, o, choice, last);
    if (!o.json) fmt::print("saved {} to {}\n", best->model, o.save);
  }
  return 0;
}

}  // namespace

bool wants_csv(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--csv" || a == "--load" || a.starts_with("--csv=") || a.starts_with("--load=")) return true;
  }
  return false;
}

int csv_main(int argc, char** argv) {
  Options o;
  if (const auto status = parse(argc, argv, o)) return *status;
  try {
    return run(o);
  } catch (const BadInput& e) {
    std::fprintf(stderr, "forecast: %s\n", e.what.c_str());
    return 2;
  }
}

}  // namespace forecast
