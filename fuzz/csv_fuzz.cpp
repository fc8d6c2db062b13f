// libFuzzer target for the CSV reader (data/csv): any bytes either parse into a table that keeps
// its promises (rows x columns finite values, one line and, when asked for, one label per row) or
// are refused with a tg::Error. Nothing else may happen: no crash, no other exception, no
// sanitizer report, no leak, no time or memory beyond a bound linear in the input.
//
// The first input byte picks the options: bit 0 header, bits 1-2 the missing policy, bits 3-4
// the invalid policy, bit 5 a date column 0, bit 6 the columns asked for (every one, or column 1
// and the name "b"), bit 7 ';' as the delimiter.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include <tapegrad/core/error.h>
#include <tapegrad/data/csv.h>

namespace {

tg::CsvPolicy policy(unsigned bits) {
  switch (bits & 3u) {
    case 1: return tg::CsvPolicy::drop_row;
    case 2: return tg::CsvPolicy::interpolate;
    default: return tg::CsvPolicy::error;
  }
}

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "read_csv broke a promise: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const unsigned mode = data[0];
  tg::CsvOptions o;
  o.header = (mode & 1u) != 0;
  o.missing = policy(mode >> 1);
  o.invalid = policy(mode >> 3);
  if (mode & 32u) o.date_column = 0;
  if (mode & 64u) o.columns = {1, o.header ? tg::CsvColumn("b") : tg::CsvColumn(2)};
  if (mode & 128u) o.delimiter = ';';
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  tg::CsvTable t;
  try {
    t = tg::parse_csv(text, o, "fuzz input");
  } catch (const tg::Error&) {
    return 0;
  }
  check(t.rows() > 0 && t.cols() > 0, "a table without rows or columns");
  check(t.values.size() == static_cast<std::size_t>(t.rows() * t.cols()), "values != rows x columns");
  check(t.labels.size() == (o.date_column ? t.lines.size() : 0), "labels do not match rows");
  for (double v : t.values) check(std::isfinite(v), "a value that is not finite");
  for (std::size_t i = 1; i < t.lines.size(); ++i) check(t.lines[i] > t.lines[i - 1], "lines out of order");
  const tg::Tensor x = t.tensor(tg::DType::f64);
  check(x.numel() == static_cast<std::int64_t>(t.values.size()), "tensor size");
  return 0;
}
