// The time-series walkthrough of Géron's Hands-On Machine Learning, ch. 15, in tapegrad: every
// model of the notebook trained on the notebook's own data (seed 42, bit for bit), with its
// validation MSE beside the notebook's. Run `forecast --help` for the flags.
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <tapegrad/tapegrad.h>

#include <tapegrad/nn/training/fit.h>
#include <tapegrad/optim/adam.h>

#include "csv_forecast.h"
#include "models.h"
#include "ranks.h"
#include "support/cli.h"
#include "support/plot.h"

namespace {

using namespace tg;

// ---- command line -----------------------------------------------------------------------------

const std::vector<std::string> kModels = {
    "naive",        "linear",   "simple_rnn", "deep_rnn",    "deep_rnn_simple_out",
    "iterative_10", "naive_10", "linear_10",  "deep_rnn_10", "seq2seq",
    "lstm",         "gru",      "wavenet",    "conv_gru"};

struct Options {
  int epochs = 20;
  std::uint32_t seed = 42;
  std::optional<std::uint32_t> init_seed;  // weights and shuffles; the data seed when unset
  std::vector<std::string> models = kModels;
  bool json = false, quiet = false, summary = false, quick = false, verbose = false;
  std::string plots;
};

// What is wrong with a --models list (comma-separated names of kModels), or "" when nothing is.
std::string check_models(const std::string& list) {
  if (list.empty()) return "needs at least one model name";
  for (std::size_t start = 0;;) {
    const std::size_t comma = list.find(',', start);
    const std::string m = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (std::find(kModels.begin(), kModels.end(), m) == kModels.end()) return fmt::format("unknown model '{}'", m);
    if (comma == std::string::npos) return "";
    start = comma + 1;
  }
}

// Fills `o` from the command line; an exit status when the program should stop (--help, errors).
std::optional<int> parse(int argc, char** argv, Options& o) {
  cli::CommandLine cl("forecast",
                      "Trains the models of the ch. 15 time-series walkthrough and prints their validation MSE.\n"
                      "To forecast a series of yours from a CSV file: forecast --csv FILE --column NAME\n"
                      "(forecast --csv FILE --help gives its options; docs/forecasting-your-data.md).");
  cl.whole("--epochs", o.epochs, 1, 100000, "epochs per model (default 20)");
  cl.whole("--seed", o.seed, 0, 4294967295u, "data and weights seed (default 42: the notebook's data)", "S");
  cl.whole("--init-seed", o.init_seed, 0, 4294967295u,
           "weights and shuffling seed only, the data staying that of --seed\n"
           "(default: --seed), to see the spread between training runs",
           "S");
  std::string models;
  cl.text("--models", models,
          "models to run, in the given order (default: all)\n"
          "naive, linear, simple_rnn, deep_rnn, deep_rnn_simple_out,\n"
          "iterative_10, naive_10, linear_10, deep_rnn_10, seq2seq, lstm, gru,\n"
          "wavenet, conv_gru",
          "a,b,...")
      ->check(CLI::Validator([](std::string& v) { return check_models(v); }, ""));
  cl.flag("--json", o.json, "one JSON object per model instead of the table");
  cl.text("--plots", o.plots, "write learning curves and forecasts as SVG files into DIR", "DIR");
  cl.flag("--summary", o.summary, "print each model's summary before training it");
  cl.flag("--verbose", o.verbose, "show Keras-like progress for every epoch");
  cl.flag("--quiet", o.quiet, "print only the results");
  cl.quick("a small run for tests: 700/200/100 series, 2 epochs unless --epochs is given", [&] {
    o.quick = true;
    o.epochs = 2;
  });
  if (auto status = cl.parse(argc, argv)) return status;
  if (!models.empty()) {  // checked: names of kModels
    o.models.clear();
    std::stringstream ss(models);
    for (std::string m; std::getline(ss, m, ',');) o.models.push_back(m);
  }
  return std::nullopt;
}

// ---- results ----------------------------------------------------------------------------------

struct Result {
  std::string model;
  std::int64_t params = 0;
  double val_mse = 0;
  std::optional<double> last_step_mse;
  double train_s = 0;
  double notebook = 0;  // the notebook's printed value (last-step MSE for seq2seq, lstm and gru)
  History history;
};

// Validation MSEs printed by the notebook of the walkthrough (Hands-On ML, 2nd edition, chapter 15).
const std::map<std::string, double> kNotebook = {{"naive", 0.020211},
                                                 {"linear", 0.004168},
                                                 {"simple_rnn", 0.010882},
                                                 {"deep_rnn", 0.002624},
                                                 {"deep_rnn_simple_out", 0.002911},
                                                 {"iterative_10", 0.027511},
                                                 {"naive_10", 0.25697},
                                                 {"linear_10", 0.0187},
                                                 {"deep_rnn_10", 0.0085},
                                                 {"seq2seq", 0.0096},
                                                 {"lstm", 0.0086},
                                                 {"gru", 0.0103},
                                                 {"wavenet", 0.0072},
                                                 {"conv_gru", 0.0080}};

// MSE of two tensors of equal shape, as a number.
double mse_value(const Tensor& y_true, const Tensor& y_pred) {
  NoGradGuard no_grad;
  return mse(y_true, y_pred).item();
}

// y[:, -1] of a [N, T, F] tensor, as [N, F].
Tensor last_step(const Tensor& y) {
  NoGradGuard no_grad;
  return select(y, 1, y.size(1) - 1);
}

// The notebook's metric, written as a user would: the MSE of the last time step only.
Tensor last_time_step_mse(const Tensor& y_true, const Tensor& y_pred) {
  return mse(select(y_true, 1, -1), select(y_pred, 1, -1));
}

// y[:, first::2] of a [N, T, F] tensor: the targets of the steps a stride-2 convolution outputs.
Tensor every_second_step(const Tensor& y, std::int64_t first) {
  NoGradGuard no_grad;
  std::vector<Tensor> steps;
  for (std::int64_t t = first; t < y.size(1); t += 2) steps.push_back(select(y, 1, t));
  return stack(steps, 1);
}

// ---- the walkthrough --------------------------------------------------------------------------

class Walkthrough {
 public:
  Walkthrough(const Options& o, const forecast::Ranks& ranks) : o_(o), ranks_(ranks) {
    ForecastSizes sizes;
    if (o.quick) sizes = {.train = 700, .valid = 200, .test = 100, .steps = 50, .ahead = 10};
    Generator one(o.seed), ten(o.seed), s2s(o.seed);  // reseeded for each dataset, as the notebook
    one_ = one_step_data(one, sizes);
    ten_ = ten_step_data(ten, sizes);
    seq_ = seq2seq_data(s2s, sizes);
    // Conv1D(kernel 4, stride 2, valid) turns 50 steps into 24, the ones ending at 3, 5, ..., 49.
    conv_ = seq_;
    conv_.y_train = every_second_step(seq_.y_train, 3);
    conv_.y_valid = every_second_step(seq_.y_valid, 3);
    conv_.y_test = every_second_step(seq_.y_test, 3);
  }

  Result run(const std::string& name) {
    Result r;
    r.model = name;
    r.notebook = kNotebook.at(name);
    if (name == "naive") {
      r.val_mse = mse_value(one_.y_valid, last_step(one_.x_valid));
    } else if (name == "naive_10") {
      NoGradGuard no_grad;
      Tensor last = last_step(ten_.x_valid);  // [N, 1], repeated over the 10 steps
      r.val_mse = mse(ten_.y_valid, broadcast_to(last, ten_.y_valid.shape())).item();
    } else if (name == "linear") {
      r = train(name, Sequential(Input{50, 1}, Flatten(), Dense(1)), one_, 0.001);
    } else if (name == "simple_rnn") {
      r = train(name, Sequential(Input{None, 1}, SimpleRNN(1)), one_, 0.005);
    } else if (name == "deep_rnn") {
      r = train(name, forecast::deep_rnn(1), one_, 0.001);
    } else if (name == "deep_rnn_simple_out") {
      r = train(name,
                Sequential(Input{None, 1}, SimpleRNN(20, {.return_sequences = true}),
                           SimpleRNN(20, {.return_sequences = true}), SimpleRNN(1)),
                one_, 0.001);
    } else if (name == "iterative_10") {
      r = iterative();
    } else if (name == "linear_10") {
      r = train(name, Sequential(Input{50, 1}, Flatten(), Dense(10)), ten_, 0.001);
    } else if (name == "deep_rnn_10") {
      r = train(name, forecast::deep_rnn(10), ten_, 0.001);
    } else if (name == "seq2seq") {
      r = train(name,
                Sequential(Input{None, 1}, SimpleRNN(20, {.return_sequences = true}),
                           SimpleRNN(20, {.return_sequences = true}), TimeDistributed(Dense(10))),
                seq_, 0.01, {{"last_time_step_mse", last_time_step_mse}});
    } else if (name == "lstm") {  // the notebook's seq2seq models with gated cells, Adam's default rate
      r = train(name, forecast::gated_rnn<LSTM>(10, forecast::Outputs::every_step), seq_, 0.001,
                {{"last_time_step_mse", last_time_step_mse}});
    } else if (name == "gru") {
      r = train(name, forecast::gated_rnn<GRU>(10, forecast::Outputs::every_step), seq_, 0.001,
                {{"last_time_step_mse", last_time_step_mse}});
    } else if (name == "wavenet") {
      r = train(name, forecast::wavenet(10), seq_, 0.001, {{"last_time_step_mse", last_time_step_mse}});
    } else if (name == "conv_gru") {
      r = train(name, forecast::conv_gru(10, forecast::Outputs::every_step), conv_, 0.001,
                {{"last_time_step_mse", last_time_step_mse}});
    }
    r.model = name;
    r.notebook = kNotebook.at(name);
    return r;
  }

  // Forecast figures (drawn after the models that feed them have run).
  void plot_forecasts(const std::string& dir) {
    const std::int64_t i = 0;  // the first validation series
    auto values = [](const Tensor& t) { return t.to_vector(); };
    auto series_x = [](std::int64_t from, std::int64_t n) {
      std::vector<double> v;
      for (std::int64_t k = 0; k < n; ++k) v.push_back(static_cast<double>(from + k));
      return v;
    };
    NoGradGuard no_grad;
    Tensor x = slice(one_.x_valid, 0, i, 1);
    std::vector<double> xs = values(x);
    if (models_.count("deep_rnn")) {
      Tensor pred = predict(*models_["deep_rnn"], x);
      save_svg(dir + "/forecast_one_step.svg",
               line_plot_svg({{"series", series_x(0, 50), xs, "points", "#1f77b4"},
                              {"target", {50}, values(slice(one_.y_valid, 0, i, 1)), "markers", "#2ca02c"},
                              {"deep_rnn", {50}, values(pred), "markers", "#d62728"}},
                             {.title = "One step ahead (validation series 0)", .xlabel = "t", .ylabel = "x(t)"}));
    }
    Tensor x10 = slice(ten_.x_valid, 0, i, 1);
    std::vector<Series> ten{{"series", series_x(0, 50), values(x10), "points", "#1f77b4"},
                            {"target", series_x(50, 10), values(slice(ten_.y_valid, 0, i, 1)), "markers", "#2ca02c"}};
    const char* colors[] = {"#d62728", "#9467bd", "#ff7f0e"};
    int c = 0;
    for (const char* m : {"deep_rnn_10", "seq2seq", "iterative_10"}) {
      const bool iterative = std::string(m) == "iterative_10";
      if (!models_.count(iterative ? "deep_rnn" : m) || (iterative && !ran_iterative_)) continue;
      Tensor pred;
      if (iterative)
        pred = iterate(*models_["deep_rnn"], x10);
      else if (std::string(m) == "seq2seq")
        pred = last_step(predict(*models_[m], x10));
      else
        pred = predict(*models_[m], x10);
      ten.push_back({m, series_x(50, 10), values(pred), "markers", colors[c++ % 3]});
    }
    if (ten.size() > 2)
      save_svg(dir + "/forecast_ten_steps.svg",
               line_plot_svg(ten, {.title = "Ten steps ahead (validation series 0)", .xlabel = "t", .ylabel = "x(t)"}));
  }

 private:
  Result train(const std::string& name, Sequential model, const ForecastData& d, double lr,
               std::vector<Metric> metrics = {}) {
    const std::uint32_t seed = o_.init_seed.value_or(o_.seed);
    manual_seed(seed);  // each model's weights depend on the seed only, not on the models run before
    model.set_name(name);
    if (o_.summary && !o_.quiet) fmt::print("{}\n", model.summary());
    auto shared = std::make_shared<Sequential>(std::move(model));
    Adam opt(shared->parameters(), lr);
    Generator shuffle(seed);
    FitOptions fo;
    fo.epochs = o_.epochs;
    fo.optimizer = &opt;
    fo.metrics = metrics;
    fo.validation_data = std::make_pair(d.x_valid, d.y_valid);
    fo.verbose = o_.verbose && !o_.quiet ? 1 : 0;
    fo.generator = &shuffle;
    // Under mpirun, data-parallel: the ranks share each batch of 32 (docs/distributed.md).
    fo.process_group = ranks_.group();
    if (32 % ranks_.size() == 0) fo.batch_size = 32 / ranks_.size();
    Result r;
    auto t0 = std::chrono::steady_clock::now();
    r.history = fit(*shared, d.x_train, d.y_train, fo);
    r.train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.params = shared->num_parameters();
    r.val_mse = r.history["val_loss"].back();
    if (!metrics.empty()) r.last_step_mse = r.history["val_" + metrics[0].name].back();
    models_[name] = shared;
    return r;
  }

  // Predicts one step, appends it to the inputs, and repeats: ten values from a one-step model.
  Tensor iterate(Module& model, const Tensor& x) {
    NoGradGuard no_grad;
    Tensor inputs = x;
    std::vector<Tensor> preds;
    for (int k = 0; k < 10; ++k) {
      Tensor y = predict(model, inputs, 1024);  // [N, 1]
      preds.push_back(y);
      inputs = concat(std::vector<Tensor>{inputs, reshape(y, {y.size(0), 1, 1})}, 1);
    }
    return concat(preds, 1);  // [N, 10]
  }

  Result iterative() {
    if (!models_.count("deep_rnn")) {  // the notebook forecasts with the deep RNN trained above
      Result base = train("deep_rnn", forecast::deep_rnn(1), one_, 0.001);
      (void)base;
    }
    Result r;
    ran_iterative_ = true;
    auto t0 = std::chrono::steady_clock::now();
    r.val_mse = mse_value(ten_.y_valid, iterate(*models_["deep_rnn"], ten_.x_valid));
    r.train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.params = models_["deep_rnn"]->num_parameters();
    return r;
  }

  const Options& o_;
  const forecast::Ranks& ranks_;
  ForecastData one_, ten_, seq_, conv_;
  std::map<std::string, std::shared_ptr<Module>> models_;
  bool ran_iterative_ = false;
};

std::string json_line(const Result& r) {
  std::string s = fmt::format("{{\"model\": \"{}\", \"params\": {}, \"val_mse\": {:.6g}", r.model, r.params, r.val_mse);
  if (r.last_step_mse) s += fmt::format(", \"last_time_step_mse\": {:.6g}", *r.last_step_mse);
  s += fmt::format(", \"notebook\": {}, \"train_s\": {:.3f}}}", r.notebook, r.train_s);
  return s;
}

void print_table(const std::vector<Result>& results, double total_s) {
  fmt::print("\n{:<21}{:>8}{:>12}{:>12}{:>12}{:>10}\n", "model", "params", "val MSE", "last step", "notebook",
             "train s");
  fmt::print("{}\n", std::string(75, '-'));
  for (const Result& r : results)
    fmt::print("{:<21}{:>8}{:>12.4f}{:>12}{:>12.4f}{:>10.2f}\n", r.model, r.params, r.val_mse,
               r.last_step_mse ? fmt::format("{:.4f}", *r.last_step_mse) : "", r.notebook, r.train_s);
  fmt::print("{}\nall models: {:.1f} s\n", std::string(75, '-'), total_s);
}

void plot_history(const std::string& dir, const Result& r) {
  if (r.history.epochs() == 0) return;
  std::vector<double> epochs;
  for (int e = 1; e <= r.history.epochs(); ++e) epochs.push_back(e);
  std::vector<Series> s{{"loss", epochs, r.history["loss"], "line", "#1f77b4"},
                        {"val_loss", epochs, r.history["val_loss"], "line", "#ff7f0e"}};
  save_svg(
      dir + "/learning_curve_" + r.model + ".svg",
      line_plot_svg(s, {.title = "Learning curve: " + r.model, .xlabel = "epoch", .ylabel = "MSE", .log_y = true}));
}

}  // namespace

int main(int argc, char** argv) {
  // `forecast --csv FILE ...` (or --load DIR) forecasts a user's series: csv_forecast.cpp.
  if (forecast::wants_csv(argc, argv))
    return cli::guarded_main("forecast", [&] { return forecast::csv_main(argc, argv); });
  return cli::guarded_main("forecast", [&] {
    forecast::Ranks ranks(argc, argv);  // MPI under mpirun (with tapegrad::dist), else one process
    Options o;
    if (const auto status = parse(argc, argv, o)) return *status;
    if (ranks.rank() != 0) {  // rank 0 prints and plots for all
      if (!std::freopen("/dev/null", "w", stdout)) return 1;
      o.plots.clear();
    }
    try {
      if (!o.plots.empty()) cli::prepare_output_dir(o.plots, "--plots");  // before any training
      auto t0 = std::chrono::steady_clock::now();
      Walkthrough w(o, ranks);
      std::vector<Result> results;
      for (const std::string& m : o.models) {
        if (!o.quiet && !o.json) fmt::print("{:<21}", m), std::fflush(stdout);
        Result r = w.run(m);
        if (!o.quiet && !o.json)
          fmt::print("val MSE {:.4f}{}  ({:.2f} s)\n", r.val_mse,
                     r.last_step_mse ? fmt::format(", last step {:.4f}", *r.last_step_mse) : "", r.train_s);
        if (o.json) fmt::print("{}\n", json_line(r));
        if (!o.plots.empty()) plot_history(o.plots, r);
        results.push_back(std::move(r));
      }
      const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (!o.plots.empty()) w.plot_forecasts(o.plots);
      if (!o.json) print_table(results, total);
      return 0;
    } catch (const std::exception& e) {
      if (ranks.size() > 1) {  // the other ranks may be waiting for this one
        std::fprintf(stderr, "forecast: %s\n", e.what());
        ranks.abort_all(1);
      }
      throw;  // guarded_main prints it
    }
  });
}
