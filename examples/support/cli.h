#pragma once
/// \file
/// The example programs' command lines, one way for all of them (the examples' support code, not
/// part of the library; CLI11 parses, these helpers add the rules):
///
/// - a count is a whole number in its range, written in decimal digits and nothing else: `3x`,
///   `2.5`, `1e9`, `0x10`, ` 3` and `-1` (where the range starts at 0) are refused, never cut
///   short or wrapped around; a real number (`--lr`) is finite and in its range;
/// - `--quick` (a preset of small settings) is applied first and every value given on the command
///   line afterwards, whatever the order: `--epochs 5 --quick` trains 5 epochs;
/// - any parse error (an unknown flag, a missing or refused value, a repeated option) prints
///   "<program>: <what>" and the usage on stderr and exits with status 2 before any work;
///   `--help` prints the usage on stdout and exits with 0;
/// - `guarded_main` turns every exception that reaches it into "<program>: <what>" and status 1;
/// - `prepare_output_dir` and `check_output_file` make and check the places results go before
///   any training, so a bad path fails in milliseconds, not at the end of a run.
///
/// ```
/// Config c;
/// tg::cli::CommandLine cl("translate", "Dates in words to ISO dates, two ways.");
/// cl.quick("small data, a few seconds", [&] { c.epochs = 4; c.train = 2000; });
/// cl.whole("--epochs", c.epochs, 1, 100000, "epochs (default 3)");
/// if (auto status = cl.parse(argc, argv)) return *status;
/// ```
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <concepts>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <tapegrad/core/error.h>

namespace tg::cli {

/// `text` as a whole number of type T in [lo, hi]: decimal digits, with a leading '-' only when
/// lo < 0; nullopt for anything else (empty, signs, spaces, exponents, fractions, overflow).
template <std::integral T>
std::optional<T> parse_whole(std::string_view text, T lo, T hi) {
  if (text.empty() || (text[0] == '-' && !std::cmp_less(lo, 0))) return std::nullopt;
  T v{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v, 10);
  if (ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi) return std::nullopt;
  return v;
}

/// `text` as a finite number greater than `above` and at most `hi` (decimal or exponent form,
/// no hexadecimal, no "inf" or "nan"); nullopt otherwise.
inline std::optional<double> parse_real(std::string_view text, double above, double hi) {
  if (text.empty() || text[0] == '+') return std::nullopt;
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v, std::chars_format::general);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v) || v <= above || v > hi)
    return std::nullopt;
  return v;
}

namespace detail {
template <class T>
struct value_of {
  using type = T;
};
template <class T>
struct value_of<std::optional<T>> {
  using type = T;
};

/// The usage line first, then what the program does, then the arguments and options.
class Formatter : public CLI::Formatter {
 public:
  Formatter() {
    label("Usage", "usage");
    label("OPTIONS", "options");
    label("Positionals", "arguments");
    column_width(24);
  }
  std::string make_help(const CLI::App* app, std::string name, CLI::AppFormatMode mode) const override {
    if (mode == CLI::AppFormatMode::Sub) return CLI::Formatter::make_help(app, std::move(name), mode);
    std::ostringstream out;
    out << make_usage(app, name) << app->get_description() << "\n"  // each group starts with a blank line
        << make_positionals(app) << make_groups(app, mode);
    return out.str();
  }
};
}  // namespace detail

/// One program's command line. The targets given to the adders are written by `parse` only, and
/// only for the options the command line holds: their initial values are the defaults.
class CommandLine {
 public:
  /// `program` prefixes every message; `description` follows the usage line in the help.
  CommandLine(std::string program, std::string description)
      : program_(std::move(program)), app_(std::move(description), program_) {
    app_.formatter(std::make_shared<detail::Formatter>());
    app_.option_defaults()->group("options");
    app_.set_help_flag();  // added last, by parse
  }
  CommandLine(const CommandLine&) = delete;
  CommandLine& operator=(const CommandLine&) = delete;

  /// `flag N`: a whole number in [lo, hi] into `target` (an integer or an optional one).
  template <class Target, class T = typename detail::value_of<Target>::type>
  requires std::integral<T> CLI::Option* whole(const std::string& flag, Target& target, std::type_identity_t<T> lo,
                                               std::type_identity_t<T> hi, const std::string& help,
                                               const std::string& type = "N") {
    return add(
        flag, type, help,
        [=](const std::string& v) -> std::string {
          if (parse_whole<T>(v, lo, hi)) return "";
          return fmt::format("expected a whole number in [{}, {}], got '{}'", lo, hi, v);
        },
        [&target, lo, hi](const std::string& v) { target = *parse_whole<T>(v, lo, hi); });
  }

  /// `flag X`: a finite number greater than 0 and at most `hi` into `target`.
  CLI::Option* positive(const std::string& flag, double& target, double hi, const std::string& help,
                        const std::string& type = "X") {
    return add(
        flag, type, help,
        [=](const std::string& v) -> std::string {
          if (parse_real(v, 0.0, hi)) return "";
          return fmt::format("expected a number in (0, {}], got '{}'", hi, v);
        },
        [&target, hi](const std::string& v) { target = *parse_real(v, 0.0, hi); });
  }

  /// `flag TEXT`, or a positional argument when `name` has no leading '-' (shown by its name, not
  /// by `type`): any text, empty included, into `target`. Check it further with `->check(...)`.
  CLI::Option* text(const std::string& name, std::string& target, const std::string& help,
                    const std::string& type = "TEXT") {
    return add(name, type, help, nullptr, [&target](const std::string& v) { target = v; });
  }

  /// `flag NAME`: one of `choices` into `target`.
  CLI::Option* choice(const std::string& flag, std::string& target, std::vector<std::string> choices,
                      const std::string& help) {
    const std::string type = fmt::format("{}", fmt::join(choices, "|"));
    return add(
        flag, type, help,
        [choices](const std::string& v) -> std::string {
          for (const std::string& c : choices)
            if (v == c) return "";
          return fmt::format("expected one of {}, got '{}'", fmt::join(choices, ", "), v);
        },
        [&target](const std::string& v) { target = v; });
  }

  /// A flag without a value (`--json`); `target` becomes true when it is given.
  CLI::Option* flag(const std::string& name, bool& target, const std::string& help) {
    CLI::Option* o = add_flag(name, help);
    stores_.push_back([o, &target] {
      if (o->count() > 0) target = true;
    });
    return o;
  }

  /// `--quick`: `preset` runs before any value of the command line is stored, wherever
  /// `--quick` stands, so the values given explicitly win.
  CLI::Option* quick(const std::string& help, std::function<void()> preset) {
    quick_ = add_flag("--quick", help);
    preset_ = std::move(preset);
    return quick_;
  }

  /// Parses the command line and stores the values. nullopt: go on; otherwise the exit status
  /// main returns: 0 after `--help` (usage on stdout), 2 after a bad command line (what is wrong
  /// and the usage on stderr; no target changed).
  std::optional<int> parse(int argc, const char* const* argv) {
    if (app_.get_help_ptr() == nullptr) app_.set_help_flag("-h,--help", "this text");
    try {
      app_.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
      std::fputs(help().c_str(), stdout);
      return 0;
    } catch (const CLI::ParseError& e) {
      std::fprintf(stderr, "%s: %s\n%s", program_.c_str(), e.what(), help().c_str());
      return 2;
    }
    if (quick_ != nullptr && quick_->count() > 0) preset_();
    for (const auto& store : stores_) store();
    return std::nullopt;
  }

  /// The usage text (`--help`).
  std::string help() const { return app_.help(); }

  /// The CLI11 application, for what the adders do not cover.
  CLI::App& app() { return app_; }

 private:
  CLI::Option* add(const std::string& name, const std::string& type, const std::string& help,
                   std::function<std::string(const std::string&)> check,
                   std::function<void(const std::string&)> store) {
    std::string& value = values_.emplace_back();
    // A positional argument is shown by its name alone.
    CLI::Option* o = app_.add_option(name, value, help)->type_name(name.starts_with("-") ? type : "");
    if (check) o->check(CLI::Validator([check](std::string& v) { return check(v); }, ""));
    stores_.push_back([o, &value, store = std::move(store)] {
      if (o->count() > 0) store(value);
    });
    return o;
  }

  // A flag takes no value (`--quick=false` is refused) and is given once.
  CLI::Option* add_flag(const std::string& name, const std::string& help) {
    return app_.add_flag(name, help)->disable_flag_override()->multi_option_policy(CLI::MultiOptionPolicy::Throw);
  }

  std::string program_;
  CLI::App app_;
  std::deque<std::string> values_;             // what CLI11 read, one per option (a deque: stable addresses)
  std::vector<std::function<void()>> stores_;  // the conversions, run after the preset
  CLI::Option* quick_ = nullptr;
  std::function<void()> preset_;
};

/// Runs `body` (main's work, returning the exit status). An exception that reaches here prints
/// "<program>: <what>" on stderr and gives status 1: none leaves main.
template <class Body>
int guarded_main(const char* program, Body&& body) noexcept {
  try {
    return std::forward<Body>(body)();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
  } catch (...) {
    std::fprintf(stderr, "%s: an unknown exception\n", program);
  }
  return 1;
}

namespace detail {
// Throws IOError unless a file can be made in the directory `dir` (a probe, made and removed: the
// permission bits do not tell, e.g. for root or on a read-only file system).
inline void check_writable(const std::filesystem::path& dir, const std::string& what, const std::string& shown) {
  std::string probe = (dir / ".tapegrad_probe_XXXXXX").string();
  const int fd = ::mkstemp(probe.data());
  if (fd < 0)
    throw IOError(fmt::format("{}: cannot write into the directory '{}': {}", what, shown,
                              std::generic_category().message(errno)));
  ::close(fd);
  ::unlink(probe.c_str());
}

inline void make_directory(const std::filesystem::path& dir, const std::string& what, const std::string& shown) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir))
    throw IOError(fmt::format("{}: cannot make the directory '{}': {}", what, shown,
                              ec ? ec.message() : "a file of that name is in the way"));
}
}  // namespace detail

/// Makes the directory `dir` (and its parents) when it is missing and checks that files can be
/// written into it; throws IOError naming `what` (e.g. "--plots") and the path otherwise.
inline void prepare_output_dir(const std::string& dir, const std::string& what) {
  if (dir.empty()) throw IOError(fmt::format("{}: an empty directory name", what));
  detail::make_directory(dir, what, dir);
  detail::check_writable(dir, what, dir);
}

/// Checks that the file `path` can be written: it is not a directory, and its directory exists
/// (made when missing) and takes new files. Throws IOError naming `what` and the path otherwise.
inline void check_output_file(const std::string& path, const std::string& what) {
  if (path.empty()) throw IOError(fmt::format("{}: an empty file name", what));
  const std::filesystem::path p(path);
  std::error_code ec;
  if (std::filesystem::is_directory(p, ec))
    throw IOError(fmt::format("{}: '{}' is a directory, not a file", what, path));
  const std::filesystem::path dir = p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
  detail::make_directory(dir, what, dir.string());
  detail::check_writable(dir, what, dir.string());
}

}  // namespace tg::cli
