#pragma once
/// \file
/// Numeric columns of a CSV file, as a series: `read_csv("co2.csv", {.columns = {"co2"},
/// .date_column = "date"})` gives the values [rows, columns] and the dates as labels.
///
/// The format is RFC 4180's, read leniently where that loses nothing: fields separated by a
/// delimiter (',' by default), records by "\n", "\r\n" or "\r"; a field that starts with '"' is
/// quoted and may hold delimiters, line breaks and doubled quotes (`""` is one `"`); a UTF-8 byte
/// order mark at the start is skipped; blank lines at the end are ignored. Every record has as many
/// fields as the header (or the first record without one): a ragged record, an unterminated quote
/// or text after a closing quote is an IOError naming the line. A UTF-16 file is refused (save it
/// as UTF-8).
///
/// Numbers are read with std::from_chars (a '.' decimal point, an exponent allowed, a leading '+'
/// and spaces around the number accepted; no thousands separators, whatever the locale). A cell is
/// *missing* when it is empty or one of `CsvOptions::missing_values` ("NA", "NaN", ...) and
/// *invalid* when it is anything else that is not a finite number. Each kind follows its own
/// policy, and the default is to refuse it; a missing value never becomes a silent zero:
/// - `error`: a ValueError naming the line, the column and the text found (escaped);
/// - `drop_row`: the record is left out (its line is listed in CsvTable::dropped_lines);
/// - `interpolate`: linear interpolation between the nearest values above and below in the same
///   column, by row position; a value missing at the start or the end of a column has no two
///   neighbours and is a ValueError.
///
/// Files are read with read_file (core/file_io.h): regular files only, at most
/// `CsvOptions::max_bytes`. The parser is the library's own (data/README.md says why).

#include <tapegrad/core/config.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tapegrad/core/dtype.h>
#include <tapegrad/core/tensor.h>

namespace tg {

/// A column of a CSV file, by its name in the header or by its position (0 is the first).
class CsvColumn {
 public:
  /// The column named `name` in the header.
  CsvColumn(std::string name) : name_(std::move(name)) {}  // NOLINT: implicit on purpose
  /// The column named `name` in the header.
  CsvColumn(const char* name) : name_(name) {}  // NOLINT
  /// The column at position `index` (0-based).
  CsvColumn(std::int64_t index) : index_(index) {}  // NOLINT
  /// The column at position `index` (0-based).
  CsvColumn(int index) : index_(index) {}  // NOLINT

  /// True when the column is given by position.
  bool by_index() const { return index_ >= 0 || name_.empty(); }
  /// The name asked for (empty when by position).
  const std::string& name() const { return name_; }
  /// The position asked for (-1 when by name).
  std::int64_t index() const { return index_; }

 private:
  std::string name_;
  std::int64_t index_ = -1;
};

/// What to do with a cell that is not a number (see the file's documentation).
enum class CsvPolicy { error, drop_row, interpolate };

/// How to read a CSV file.
struct CsvOptions {
  /// The numeric columns to read, in the order wanted. Empty: every column but the date column.
  std::vector<CsvColumn> columns;
  /// A column kept as text labels, one per row (dates, as they are written), if any.
  std::optional<CsvColumn> date_column;
  /// The first record names the columns. Without a header, columns are taken by position and
  /// named "column 0", "column 1", ...
  bool header = true;
  /// The field separator (not a double quote, carriage return or line feed).
  char delimiter = ',';
  /// Policy for a missing cell: empty, or one of `missing_values` (after trimming spaces).
  CsvPolicy missing = CsvPolicy::error;
  /// Policy for an invalid cell: text that is not a finite number ("abc", "1,5", "inf").
  CsvPolicy invalid = CsvPolicy::error;
  /// Cell texts that mean "no value", as pandas' default na_values do.
  std::vector<std::string> missing_values = {"NA", "N/A", "NaN", "nan", "null", "NULL", "-", "?"};
  /// The largest file read_csv accepts, in bytes (1 GiB: about 10^8 numbers).
  std::uint64_t max_bytes = std::uint64_t{1} << 30;
};

/// The numeric columns of a CSV file.
struct CsvTable {
  /// The names of the columns read, in the order asked for.
  std::vector<std::string> names;
  /// The values, row-major: values[r * cols() + c]. Every value is finite.
  std::vector<double> values;
  /// The date column's text of each row (empty when no date column was asked for).
  std::vector<std::string> labels;
  /// The line of the file each row comes from (1-based; a quoted field may span lines: the line
  /// its record starts on).
  std::vector<std::int64_t> lines;
  /// Lines of the records left out by the drop_row policy.
  std::vector<std::int64_t> dropped_lines;
  /// Cells filled in by the interpolate policy.
  std::int64_t interpolated = 0;

  /// Number of rows.
  std::int64_t rows() const { return static_cast<std::int64_t>(lines.size()); }
  /// Number of columns read.
  std::int64_t cols() const { return static_cast<std::int64_t>(names.size()); }
  /// The values of one column read, by its name or its position among the columns read.
  /// ValueError when there is no such column.
  std::vector<double> column(const CsvColumn& which) const;
  /// The values as a tensor [rows, cols].
  Tensor tensor(DType dtype = DType::f32) const;
};

/// Reads the numeric columns of the CSV file at `path` (see the file's documentation). IOError
/// when the file cannot be read or is not well-formed CSV; ValueError for a column that is not
/// there and for a cell that is not a number under the `error` policy. Messages start with
/// `read_csv: 'PATH'` (the path given).
CsvTable read_csv(const std::string& path, const CsvOptions& options = {});

/// Parses `text` as read_csv parses a file's bytes; `source` names it in messages.
CsvTable parse_csv(std::string_view text, const CsvOptions& options = {}, std::string_view source = "<text>");

}  // namespace tg
