#include <tapegrad/data/csv.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <utility>

#include <fmt/format.h>

#include <tapegrad/core/error.h>
#include <tapegrad/core/file_io.h>

namespace tg {
namespace {

constexpr double kNoValue = std::numeric_limits<double>::quiet_NaN();

bool is_space(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

/// Splits CSV text into records of fields (RFC 4180, see csv.h), counting lines.
class Records {
 public:
  Records(std::string_view text, char delimiter, std::string prefix)
      : s_(text), delimiter_(delimiter), prefix_(std::move(prefix)) {
    // Blank lines at the end are no records: parsing stops at the last character that is not
    // blank. Found once, so that a long run of blank lines costs one pass.
    std::size_t end = s_.size();
    while (end > 0 && (is_space(s_[end - 1]) || s_[end - 1] == '\n' || s_[end - 1] == '\r')) --end;
    content_end_ = end;
  }

  /// The next record's fields, or false after the last one. `line` is the line it starts on.
  bool next(std::vector<std::string>& fields, std::int64_t& line) {
    if (i_ >= content_end_) return false;
    line = line_;
    std::size_t count = 0;
    for (;;) {
      if (count == fields.size()) fields.emplace_back();
      std::string& field = fields[count++];
      field.clear();
      if (i_ < s_.size() && s_[i_] == '"') {
        read_quoted(field);
      } else {
        const std::size_t start = i_;
        while (i_ < s_.size() && s_[i_] != delimiter_ && s_[i_] != '\n' && s_[i_] != '\r') ++i_;
        field.assign(s_.substr(start, i_ - start));
      }
      if (i_ >= s_.size()) break;
      const char c = s_[i_++];
      if (c == delimiter_) continue;
      end_line(c);
      break;
    }
    fields.resize(count);
    return true;
  }

 private:
  // A line break `c` (already consumed): "\r\n" counts once.
  void end_line(char c) {
    if (c == '\r' && i_ < s_.size() && s_[i_] == '\n') ++i_;
    ++line_;
  }

  void read_quoted(std::string& field) {
    const std::int64_t opened = line_;
    ++i_;
    for (;;) {
      if (i_ >= s_.size())
        throw IOError(fmt::format(
            "{} line {}: a quoted field is not closed (expected a '\"' before the end of the file)", prefix_, opened));
      const char c = s_[i_++];
      if (c == '"') {
        if (i_ < s_.size() && s_[i_] == '"') {
          field += '"';
          ++i_;
          continue;
        }
        break;
      }
      field += c;
      if (c == '\n' || c == '\r') {
        if (c == '\r' && i_ < s_.size() && s_[i_] == '\n') field += s_[i_++];
        ++line_;
      }
    }
    while (i_ < s_.size() && is_space(s_[i_])) ++i_;
    if (i_ < s_.size() && s_[i_] != delimiter_ && s_[i_] != '\n' && s_[i_] != '\r') {
      std::size_t end = i_;
      while (end < s_.size() && end - i_ < 32 && s_[end] != '\n' && s_[end] != '\r') ++end;
      throw IOError(
          fmt::format("{} line {}: expected a delimiter or the end of the line after a closing quote, got '{}'",
                      prefix_, line_, escape_for_message(s_.substr(i_, end - i_))));
    }
  }

  std::string_view s_;
  char delimiter_;
  std::string prefix_;
  std::size_t i_ = 0, content_end_ = 0;
  std::int64_t line_ = 1;
};

enum class Cell { number, missing, invalid };

Cell parse_cell(std::string_view text, const std::vector<std::string>& missing_values, double& value) {
  const std::string_view t = trim(text);
  if (t.empty()) return Cell::missing;
  for (const std::string& m : missing_values)
    if (t == m) return Cell::missing;
  std::string_view digits = t;
  if (digits.size() > 1 && digits.front() == '+' && digits[1] != '-' && digits[1] != '+') digits.remove_prefix(1);
  const char* end = digits.data() + digits.size();
  const auto [ptr, ec] = std::from_chars(digits.data(), end, value);
  if (ec != std::errc() || ptr != end || !std::isfinite(value)) return Cell::invalid;
  return Cell::number;
}

}  // namespace

std::vector<double> CsvTable::column(const CsvColumn& which) const {
  std::int64_t c = -1;
  if (which.by_index()) {
    c = which.index();
  } else {
    const auto it = std::find(names.begin(), names.end(), which.name());
    if (it != names.end()) c = it - names.begin();
  }
  if (c < 0 || c >= cols())
    throw ValueError(
        fmt::format("CsvTable::column: no column {} among the {} read ({})",
                    which.by_index() ? std::to_string(which.index()) : "'" + escape_for_message(which.name()) + "'",
                    cols(), escape_for_message(fmt::format("{}", fmt::join(names, ", ")))));
  std::vector<double> out(static_cast<std::size_t>(rows()));
  for (std::int64_t r = 0; r < rows(); ++r)
    out[static_cast<std::size_t>(r)] = values[static_cast<std::size_t>(r * cols() + c)];
  return out;
}

Tensor CsvTable::tensor(DType dtype) const { return from_vector(values, Shape{rows(), cols()}, dtype); }

CsvTable parse_csv(std::string_view text, const CsvOptions& options, std::string_view source) {
  const std::string prefix = fmt::format("read_csv: '{}'", escape_for_message(source));
  if (options.delimiter == '"' || options.delimiter == '\n' || options.delimiter == '\r')
    throw ValueError(fmt::format("{}: the delimiter cannot be '\"', '\\r' or '\\n', got {}", prefix,
                                 static_cast<int>(options.delimiter)));
  if (text.size() >= 2 && ((text[0] == '\xff' && text[1] == '\xfe') || (text[0] == '\xfe' && text[1] == '\xff')))
    throw IOError(
        fmt::format("{}: expected UTF-8 text, got a UTF-16 byte order mark (save the file as UTF-8)", prefix));
  if (text.substr(0, 3) == "\xef\xbb\xbf") text.remove_prefix(3);

  Records records(text, options.delimiter, prefix);
  std::vector<std::string> fields;
  std::int64_t line = 0;
  if (!records.next(fields, line))
    throw IOError(fmt::format("{}: expected {}, got an empty file", prefix, options.header ? "a header" : "a record"));

  // The columns of the file, and where the ones asked for are.
  const std::size_t width = fields.size();
  std::vector<std::string> file_names(width);
  for (std::size_t c = 0; c < width; ++c)
    file_names[c] = options.header ? std::string(trim(fields[c])) : fmt::format("column {}", c);
  auto label = [&](std::size_t c) {
    return options.header ? fmt::format("column '{}'", escape_for_message(file_names[c])) : file_names[c];
  };
  auto resolve = [&](const CsvColumn& col, const char* what) -> std::size_t {
    if (col.by_index()) {
      if (col.index() < 0 || static_cast<std::uint64_t>(col.index()) >= width)
        throw ValueError(fmt::format("{}: {} {} asked for, but the file has {} column{} (0 to {})", prefix, what,
                                     col.index(), width, width == 1 ? "" : "s", width - 1));
      return static_cast<std::size_t>(col.index());
    }
    if (!options.header)
      throw ValueError(fmt::format("{}: {} '{}' asked for by name, but options.header is false (ask by position)",
                                   prefix, what, escape_for_message(col.name())));
    std::size_t found = width;
    for (std::size_t c = 0; c < width; ++c) {
      if (file_names[c] != trim(col.name())) continue;
      if (found != width)
        throw ValueError(fmt::format("{}: {} '{}' is ambiguous: the header names columns {} and {} so", prefix, what,
                                     escape_for_message(col.name()), found, c));
      found = c;
    }
    if (found == width)
      throw ValueError(fmt::format("{}: expected a {} named '{}', got the columns {}", prefix, what,
                                   escape_for_message(col.name()),
                                   escape_for_message(fmt::format("'{}'", fmt::join(file_names, "', '")))));
    return found;
  };

  std::size_t date = width;
  if (options.date_column) date = resolve(*options.date_column, "date column");
  std::vector<std::size_t> wanted;
  for (const CsvColumn& col : options.columns) wanted.push_back(resolve(col, "column"));
  if (options.columns.empty())
    for (std::size_t c = 0; c < width; ++c)
      if (c != date) wanted.push_back(c);
  if (wanted.empty())
    throw ValueError(fmt::format("{}: expected a numeric column besides the date column, got none", prefix));

  CsvTable table;
  for (std::size_t c : wanted) table.names.push_back(file_names[c]);
  const std::size_t cols = wanted.size();
  bool has_gaps = false;
  std::vector<double> row(cols);

  bool have_record = !options.header;  // without a header, the first record is data
  while (have_record || records.next(fields, line)) {
    have_record = false;
    if (fields.size() != width) {
      const bool blank = fields.size() == 1 && trim(fields[0]).empty();
      throw IOError(fmt::format("{} line {}: expected {} field{} (as the {}), got {}{}", prefix, line, width,
                                width == 1 ? "" : "s", options.header ? "header" : "first record", fields.size(),
                                blank ? " (a blank line)" : ""));
    }
    bool drop = false;
    for (std::size_t k = 0; k < cols; ++k) {
      const std::size_t c = wanted[k];
      double v = 0.0;
      const Cell cell = parse_cell(fields[c], options.missing_values, v);
      if (cell == Cell::number) {
        row[k] = v;
        continue;
      }
      const bool missing = cell == Cell::missing;
      const CsvPolicy policy = missing ? options.missing : options.invalid;
      if (policy == CsvPolicy::error) {
        const std::string_view t = trim(fields[c]);
        throw ValueError(
            fmt::format("{} line {}, {}: expected a number, got {} (options.{} = drop_row or interpolate accepts it)",
                        prefix, line, label(c),
                        t.empty() ? std::string("an empty cell")
                        : missing ? fmt::format("'{}' (a missing value)", escape_for_message(t))
                                  : fmt::format("'{}'", escape_for_message(t)),
                        missing ? "missing" : "invalid"));
      }
      if (policy == CsvPolicy::drop_row) drop = true;
      row[k] = kNoValue;
      has_gaps = true;
    }
    if (drop) {
      table.dropped_lines.push_back(line);
      continue;
    }
    table.values.insert(table.values.end(), row.begin(), row.end());
    table.lines.push_back(line);
    if (date != width) table.labels.push_back(fields[date]);
  }

  const std::int64_t rows = table.rows();
  if (rows == 0)
    throw ValueError(fmt::format(
        "{}: expected at least one row of values, got none{}", prefix,
        table.dropped_lines.empty() ? std::string()
                                    : fmt::format(" ({} dropped by the drop_row policy)", table.dropped_lines.size())));

  // Linear interpolation of the gaps left by the interpolate policy, column by column.
  if (has_gaps) {
    auto at = [&](std::int64_t r, std::size_t k) -> double& {
      return table.values[static_cast<std::size_t>(r) * cols + k];
    };
    for (std::size_t k = 0; k < cols; ++k) {
      std::int64_t r = 0;
      while (r < rows) {
        if (!std::isnan(at(r, k))) {
          ++r;
          continue;
        }
        std::int64_t end = r;
        while (end < rows && std::isnan(at(end, k))) ++end;
        if (r == 0 || end == rows)
          throw ValueError(fmt::format(
              "{} line {}, {}: a value missing at the {} of the column cannot be interpolated (expected a value on "
              "both sides, got none {}); use the drop_row policy or trim the file",
              prefix, table.lines[static_cast<std::size_t>(r)], label(wanted[k]), r == 0 ? "start" : "end",
              r == 0 ? "before it" : "after it"));
        const double a = at(r - 1, k), b = at(end, k);
        const double span = static_cast<double>(end - r + 1);
        for (std::int64_t j = r; j < end; ++j) at(j, k) = a + (b - a) * (static_cast<double>(j - r + 1) / span);
        table.interpolated += end - r;
        r = end;
      }
    }
  }
  return table;
}

CsvTable read_csv(const std::string& path, const CsvOptions& options) {
  const std::vector<unsigned char> bytes = read_file(path, "read_csv", options.max_bytes);
  return parse_csv(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), options, path);
}

}  // namespace tg
