#include <tapegrad/data/csv.h>

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <tapegrad/core/error.h>

#include "support/error_of.h"

namespace tg {
namespace {

// Every part appears in the message of the E that stmt throws.
#define EXPECT_MESSAGE(E, stmt, ...)                                                                \
  do {                                                                                              \
    const std::string msg_ = testing::error_of<E>([&] { (void)(stmt); });                           \
    for (const char* part_ : {__VA_ARGS__}) EXPECT_NE(msg_.find(part_), std::string::npos) << msg_; \
  } while (0)

TEST(Csv, ColumnsByNameAndIndexWithDateLabels) {
  const std::string text = "date,temp,rain\n2020-01,1.5,0\n2020-02,-2e1,3.25\n2020-03,+7,1\n";
  CsvOptions o;
  o.columns = {"rain", 1};
  o.date_column = "date";
  const CsvTable t = parse_csv(text, o);
  EXPECT_EQ(t.names, (std::vector<std::string>{"rain", "temp"}));
  EXPECT_EQ(t.values, (std::vector<double>{0, 1.5, 3.25, -20, 1, 7}));
  EXPECT_EQ(t.labels, (std::vector<std::string>{"2020-01", "2020-02", "2020-03"}));
  EXPECT_EQ(t.lines, (std::vector<std::int64_t>{2, 3, 4}));
  EXPECT_EQ(t.column("temp"), (std::vector<double>{1.5, -20, 7}));
  EXPECT_EQ(t.column(0), (std::vector<double>{0, 3.25, 1}));
  const Tensor x = t.tensor(DType::f64);
  EXPECT_EQ(x.shape(), (Shape{3, 2}));
  EXPECT_EQ(x.to_vector(), t.values);
  EXPECT_MESSAGE(ValueError, t.column("snow"), "no column 'snow'", "rain, temp");
}

TEST(Csv, EveryColumnButTheDateByDefault) {
  CsvOptions o;
  o.date_column = 0;
  const CsvTable t = parse_csv("d,a,b\nx,1,2\ny,3,4\n", o);
  EXPECT_EQ(t.names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(t.values, (std::vector<double>{1, 2, 3, 4}));
}

TEST(Csv, NoHeader) {
  CsvOptions o;
  o.header = false;
  o.columns = {1};
  const CsvTable t = parse_csv("1,10\n2,20\n", o);
  EXPECT_EQ(t.names, (std::vector<std::string>{"column 1"}));
  EXPECT_EQ(t.values, (std::vector<double>{10, 20}));
  EXPECT_EQ(t.lines, (std::vector<std::int64_t>{1, 2}));
  o.columns = {"a"};
  EXPECT_MESSAGE(ValueError, parse_csv("1,10\n", o), "'a' asked for by name", "header is false");
  o.columns = {2};
  EXPECT_MESSAGE(ValueError, parse_csv("1,10\n", o), "column 2 asked for", "2 columns");
}

TEST(Csv, QuotedFieldsCrlfBomAndBlankTrailingLines) {
  const std::string text =
      "\xef\xbb\xbf\"date\",\"value, in \"\"units\"\"\"\r\n"
      "\"1 Jan\nnext line\",\" 4.5 \"\r\n"
      "\"2 Jan\",5\r\n"
      "\r\n\r\n  \n";
  CsvOptions o;
  o.date_column = "date";
  o.columns = {"value, in \"units\""};
  const CsvTable t = parse_csv(text, o);
  EXPECT_EQ(t.values, (std::vector<double>{4.5, 5}));
  EXPECT_EQ(t.labels, (std::vector<std::string>{"1 Jan\nnext line", "2 Jan"}));
  // The second record starts on line 2 and spans two lines: the third starts on line 4.
  EXPECT_EQ(t.lines, (std::vector<std::int64_t>{2, 4}));
  // A lone CR ends a line too; no newline at the end of the file.
  EXPECT_EQ(parse_csv("v\r1\r2", {}).values, (std::vector<double>{1, 2}));
}

TEST(Csv, StructureErrorsAreIOErrorsNamingTheLine) {
  EXPECT_MESSAGE(IOError, parse_csv("a,b\n1,2\n3\n4,5\n", {}, "f.csv"), "read_csv: 'f.csv' line 3",
                 "expected 2 fields (as the header), got 1");
  EXPECT_MESSAGE(IOError, parse_csv("a,b\n1,2\n\n4,5\n", {}), "line 3", "(a blank line)");
  EXPECT_MESSAGE(IOError, parse_csv("a\n1\n\"2\n3\n", {}), "line 3: a quoted field is not closed");
  EXPECT_MESSAGE(IOError, parse_csv("a\n\"1\"x\n", {}), "line 2", "after a closing quote, got 'x'");
  EXPECT_MESSAGE(IOError, parse_csv("", {}), "expected a header, got an empty file");
  EXPECT_MESSAGE(IOError, parse_csv("\n\r\n", {}), "empty file");
  EXPECT_MESSAGE(IOError,
                 parse_csv(std::string("\xff\xfe"
                                       "a\0",
                                       4),
                           {}),
                 "UTF-16");
  EXPECT_MESSAGE(ValueError, parse_csv("a\n", {}), "expected at least one row of values, got none");
}

TEST(Csv, ColumnErrorsNameWhatIsThere) {
  CsvOptions o;
  o.columns = {"price"};
  EXPECT_MESSAGE(ValueError, parse_csv("date,cost\n1,2\n", o), "expected a column named 'price'",
                 "got the columns 'date', 'cost'");
  o.columns = {"x"};
  EXPECT_MESSAGE(ValueError, parse_csv("x,y,x\n1,2,3\n", o), "'x' is ambiguous", "columns 0 and 2");
  o.columns = {};
  o.date_column = "d";
  EXPECT_MESSAGE(ValueError, parse_csv("d\n1\n", o), "besides the date column");
}

TEST(Csv, BadCellsAreErrorsByDefaultNamingLineColumnAndText) {
  CsvOptions o;
  o.columns = {"v"};
  EXPECT_MESSAGE(ValueError, parse_csv("t,v\n1,2\n2,abc\n", o, "s.csv"), "read_csv: 's.csv' line 3, column 'v'",
                 "expected a number, got 'abc'", "options.invalid");
  EXPECT_MESSAGE(ValueError, parse_csv("t,v\n1,\n", o), "line 2, column 'v'", "got an empty cell", "options.missing");
  EXPECT_MESSAGE(ValueError, parse_csv("t,v\n1,NA\n", o), "got 'NA' (a missing value)");
  EXPECT_MESSAGE(ValueError, parse_csv("t,v\n1,inf\n", o), "got 'inf'");
  EXPECT_MESSAGE(ValueError, parse_csv("t,v\n1,1e999\n", o), "got '1e999'");
  EXPECT_MESSAGE(ValueError, parse_csv("t,v\n1,\"1,5\"\n", o), "got '1,5'");
  // Control bytes in the cell are escaped in the message.
  EXPECT_MESSAGE(ValueError, parse_csv("t,v\n1,\x1b[2J\n", o), "got '\\x1b[2J'");
  // Without a header the column is named by position.
  o.header = false;
  o.columns = {1};
  EXPECT_MESSAGE(ValueError, parse_csv("1,2\n2,x\n", o), "line 2, column 1:");
}

TEST(Csv, DropRowPolicy) {
  CsvOptions o;
  o.date_column = "d";
  o.missing = CsvPolicy::drop_row;
  o.invalid = CsvPolicy::drop_row;
  const CsvTable t = parse_csv("d,v,w\na,1,10\nb,,20\nc,3,oops\nd,4,40\n", o);
  EXPECT_EQ(t.values, (std::vector<double>{1, 10, 4, 40}));
  EXPECT_EQ(t.labels, (std::vector<std::string>{"a", "d"}));
  EXPECT_EQ(t.dropped_lines, (std::vector<std::int64_t>{3, 4}));
  // Missing dropped, invalid still an error: each policy applies to its own kind.
  o.invalid = CsvPolicy::error;
  EXPECT_MESSAGE(ValueError, parse_csv("d,v,w\na,1,10\nb,,20\nc,3,oops\n", o), "line 4, column 'w'", "'oops'");
  o.invalid = CsvPolicy::drop_row;
  EXPECT_MESSAGE(ValueError, parse_csv("d,v,w\na,,1\n", o), "got none (1 dropped by the drop_row policy)");
}

TEST(Csv, InterpolatePolicy) {
  CsvOptions o;
  o.missing = CsvPolicy::interpolate;
  const CsvTable t = parse_csv("a,b\n1,10\n,NA\n,40\n4,50\n", o);
  EXPECT_EQ(t.values, (std::vector<double>{1, 10, 2, 25, 3, 40, 4, 50}));
  EXPECT_EQ(t.interpolated, 3);
  EXPECT_MESSAGE(ValueError, parse_csv("a\n\n", o), "at least one row");  // a blank trailing line is no record
  EXPECT_MESSAGE(ValueError, parse_csv("a,b\n,1\n2,3\n", o), "line 2, column 'a'", "at the start",
                 "cannot be interpolated");
  EXPECT_MESSAGE(ValueError, parse_csv("a\n1\n2\nNA\n", o), "line 4, column 'a'", "at the end");
  // Invalid text is not missing: still an error unless its own policy says otherwise.
  EXPECT_MESSAGE(ValueError, parse_csv("a\n1\nx\n3\n", o), "got 'x'");
  o.invalid = CsvPolicy::interpolate;
  EXPECT_EQ(parse_csv("a\n1\nx\n3\n", o).values, (std::vector<double>{1, 2, 3}));
}

TEST(Csv, SingleColumnBlankLineInTheMiddleIsAMissingValue) {
  CsvOptions o;
  EXPECT_MESSAGE(ValueError, parse_csv("a\n1\n\n3\n", o), "line 3", "empty cell");
  o.missing = CsvPolicy::interpolate;
  EXPECT_EQ(parse_csv("a\n1\n\n3\n", o).values, (std::vector<double>{1, 2, 3}));
}

TEST(Csv, OtherDelimiter) {
  CsvOptions o;
  o.delimiter = ';';
  EXPECT_EQ(parse_csv("a;b\n1;2\n", o).values, (std::vector<double>{1, 2}));
  o.delimiter = '"';
  EXPECT_MESSAGE(ValueError, parse_csv("a\n1\n", o), "delimiter");
}

TEST(Csv, ReadsRegularFilesOnlyBoundedBySize) {
  const std::string dir = ::testing::TempDir();
  const std::string path = dir + "/tapegrad_csv_test.csv";
  {
    std::ofstream f(path, std::ios::binary);
    f << "date,v\n2001,1.25\n2002,2.5\n";
  }
  CsvOptions o;
  o.date_column = "date";
  const CsvTable t = read_csv(path, o);
  EXPECT_EQ(t.values, (std::vector<double>{1.25, 2.5}));
  EXPECT_EQ(t.labels, (std::vector<std::string>{"2001", "2002"}));
  o.max_bytes = 8;
  EXPECT_MESSAGE(IOError, read_csv(path, o), "read_csv");
  std::remove(path.c_str());
  EXPECT_MESSAGE(IOError, read_csv(path, {}), "read_csv", "tapegrad_csv_test.csv");
  EXPECT_MESSAGE(IOError, read_csv(dir, {}), "read_csv");
  const std::string fifo = dir + "/tapegrad_csv_test.fifo";
  ::unlink(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_MESSAGE(IOError, read_csv(fifo, {}), "read_csv");
  ::unlink(fifo.c_str());
}

}  // namespace
}  // namespace tg
