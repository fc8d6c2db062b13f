// safetensors (nn/training/safetensors.h): the bytes written, round trips of every dtype, a
// module's weights by name, and files that must be refused with a message saying what was expected
// and what came.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <tapegrad/tapegrad.h>

#include <tapegrad/nn/training/safetensors.h>
#include "support/error_of.h"

namespace tg {
namespace {

namespace fs = std::filesystem;
using tg::testing::error_of;

std::string temp_path(const std::string& name) {
  static int counter = 0;
  return (fs::path(::testing::TempDir()) / fmt::format("tg_safetensors_{}_{}_{}", ::getpid(), counter++, name))
      .string();
}

// A file made of a header (given as JSON text, not padded) and a buffer of `buffer` bytes.
std::vector<unsigned char> file_of(const std::string& header, std::size_t buffer) {
  std::vector<unsigned char> out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<unsigned char>(header.size() >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  for (std::size_t i = 0; i < buffer; ++i) out.push_back(static_cast<unsigned char>(i));
  return out;
}

std::string io_error(const std::vector<unsigned char>& bytes) {
  return error_of<IOError>([&] { parse_safetensors(bytes, "f.safetensors"); });
}

std::vector<std::vector<double>> snapshot(const Module& m) {
  std::vector<std::vector<double>> v;
  for (const Tensor& p : m.parameters()) v.push_back(p.to_vector());
  return v;
}

void randomize(Module& m, std::uint32_t seed) {
  Generator g(seed);
  for (Tensor& p : m.parameters()) p.copy_from(uniform(p.shape(), -1, 1, p.dtype(), &g));
}

Sequential small_model(DType dtype) {
  Sequential m(Input{None, 2}, SimpleRNN(3, {.return_sequences = true}), LSTM(2), Dense(1));
  m.to(dtype);
  return m;
}

// ---- The bytes --------------------------------------------------------------------------------

TEST(Safetensors, WritesTheFormatsHeaderAndLittleEndianBuffers) {
  const NamedTensors tensors = {{"w", tensor({1.0, -2.0}, {2}, DType::f32)}, {"b", tensor({0.5}, {1}, DType::f64)}};
  const std::vector<unsigned char> bytes = safetensors_bytes(tensors, {{"format", "pt"}});
  const std::string want = R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                           R"("b":{"dtype":"F64","shape":[1],"data_offsets":[8,16]}})";
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(bytes[static_cast<std::size_t>(i)]) << (8 * i);
  ASSERT_EQ((8 + n) % 8, 0u) << "the header is padded so that the buffers are 8-byte aligned";
  const std::string header(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n));
  EXPECT_EQ(header.substr(0, want.size()), want);
  EXPECT_EQ(header.find_first_not_of(' ', want.size()), std::string::npos) << "padding is spaces";
  ASSERT_EQ(bytes.size(), 8 + n + 16);
  const unsigned char* buf = bytes.data() + 8 + n;
  const unsigned char one_f32[4] = {0x00, 0x00, 0x80, 0x3f};  // 1.0f, little-endian
  EXPECT_EQ(std::vector<unsigned char>(buf, buf + 4), std::vector<unsigned char>(one_f32, one_f32 + 4));
  const unsigned char half_f64[8] = {0, 0, 0, 0, 0, 0, 0xe0, 0x3f};  // 0.5
  EXPECT_EQ(std::vector<unsigned char>(buf + 8, buf + 16), std::vector<unsigned char>(half_f64, half_f64 + 8));
}

TEST(Safetensors, RoundTripsEveryDtypeRankAndEmptyTensors) {
  Generator g(3);
  const NamedTensors tensors = {
      {"a.f32", uniform({2, 3}, -1, 1, DType::f32, &g)},
      {"b.f64", uniform({4, 1, 2}, -1, 1, DType::f64, &g)},
      {"scalar", scalar(3.25, DType::f64)},
      {"empty", zeros({0, 3}, DType::f32)},
      {"six", uniform({1, 2, 1, 2, 1, 2}, -1, 1, DType::f64, &g)},
      {"name \"with\" \\ quotes\n\x01 and \xc3\xa9", tensor({7.0}, {1}, DType::f32)},
  };
  const SafetensorsMetadata metadata = {{"format", "tapegrad"}, {"note", "a \"quoted\"\tvalue"}};
  const std::string path = temp_path("round.safetensors");
  write_safetensors(path, tensors, metadata);
  const SafetensorsContents back = read_safetensors(path);
  EXPECT_EQ(back.metadata, metadata);
  ASSERT_EQ(back.tensors.size(), tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    SCOPED_TRACE(tensors[i].first);
    EXPECT_EQ(back.tensors[i].first, tensors[i].first);
    EXPECT_EQ(back.tensors[i].second.dtype(), tensors[i].second.dtype());
    EXPECT_EQ(back.tensors[i].second.shape(), tensors[i].second.shape());
    EXPECT_EQ(back.tensors[i].second.to_vector(), tensors[i].second.to_vector());
    EXPECT_FALSE(back.tensors[i].second.requires_grad());
  }
  fs::remove(path);
}

TEST(Safetensors, ReadsEscapesTheWriterDoesNotUse) {
  // \u escapes (with a surrogate pair), \/ and whitespace between tokens, as other writers may use.
  const std::string header =
      "{ \"a\\u00e9\\ud83d\\ude00\\/x\" : { \"shape\" : [ 1 ] ,\n\t\"data_offsets\" : [ 0 , 4 ] , \"dtype\" : "
      "\"F32\" } }";
  const SafetensorsContents c = parse_safetensors(file_of(header, 4), "f");
  ASSERT_EQ(c.tensors.size(), 1u);
  EXPECT_EQ(c.tensors[0].first, "a\xc3\xa9\xf0\x9f\x98\x80/x");
}

TEST(Safetensors, WriterRefusesNamesJsonCannotCarry) {
  const Tensor t = zeros({1});
  EXPECT_NE(error_of<ValueError>([&] {
              safetensors_bytes({{"a", t}, {"a", t}});
            }).find("'a' comes twice"),
            std::string::npos);
  EXPECT_NE(error_of<ValueError>([&] {
              safetensors_bytes({{"bad\xff", t}});
            }).find("not well-formed UTF-8"),
            std::string::npos);
  EXPECT_NE(error_of<ValueError>([&] {
              safetensors_bytes({{"__metadata__", t}});
            }).find("__metadata__"),
            std::string::npos);
  EXPECT_NE(error_of<ValueError>([&] { safetensors_bytes({{"u", Tensor()}}); }).find("undefined"), std::string::npos);
}

// ---- A module's weights ----------------------------------------------------------------------

TEST(Safetensors, ModuleRoundTripPredictsTheSameInBothDtypes) {
  for (DType dtype : {DType::f32, DType::f64}) {
    SCOPED_TRACE(dtype_name(dtype));
    Sequential a = small_model(dtype), b = small_model(dtype);
    randomize(a, 1);
    randomize(b, 2);
    const std::string path = temp_path("model.safetensors");
    save_safetensors(a, path);
    const SafetensorsContents c = read_safetensors(path);
    EXPECT_EQ(c.metadata.at("format"), "tapegrad");
    ASSERT_EQ(c.tensors.size(), a.named_parameters().size());
    EXPECT_EQ(c.tensors[0].first, "simple_rnn.cell.kernel");
    load_safetensors(b, path);
    EXPECT_EQ(snapshot(b), snapshot(a));
    const Tensor x = uniform({2, 4, 2}, -1, 1, dtype);
    EXPECT_EQ(b(x).to_vector(), a(x).to_vector());
    fs::remove(path);
  }
}

TEST(Safetensors, LoadsTensorsInAnyOrderByName) {
  Sequential a = small_model(DType::f64), b = small_model(DType::f64);
  randomize(a, 4);
  NamedTensors reversed = a.named_parameters();
  std::reverse(reversed.begin(), reversed.end());
  const std::vector<unsigned char> bytes = safetensors_bytes(reversed);
  load_safetensors_from_bytes(b, bytes, "reversed");
  EXPECT_EQ(snapshot(b), snapshot(a));
}

TEST(Safetensors, LoadChecksNamesShapesAndDtypesAndChangesNothingWhenItThrows) {
  Sequential a = small_model(DType::f32);
  randomize(a, 5);
  const auto before = snapshot(a);
  NamedTensors params = a.named_parameters();

  NamedTensors missing(params.begin() + 1, params.end());
  EXPECT_NE(error_of<ShapeError>([&] {
              load_safetensors_from_bytes(a, safetensors_bytes(missing), "m");
            }).find("'m' has no tensor 'simple_rnn.cell.kernel'"),
            std::string::npos);

  NamedTensors extra = params;
  extra.emplace_back("dense_1.kernel", zeros({1}));
  EXPECT_NE(error_of<ShapeError>([&] {
              load_safetensors_from_bytes(a, safetensors_bytes(extra), "e");
            }).find("holds tensor 'dense_1.kernel' that the model has no parameter for"),
            std::string::npos);

  NamedTensors reshaped = params;
  reshaped.back().second = zeros({2});
  EXPECT_NE(error_of<ShapeError>([&] {
              load_safetensors_from_bytes(a, safetensors_bytes(reshaped), "s");
            }).find("parameter 'dense.bias' has shape [2] in 's', [1] in the model"),
            std::string::npos);

  NamedTensors retyped = params;
  retyped.back().second = zeros({1}, DType::f64);
  EXPECT_NE(error_of<DTypeError>([&] {
              load_safetensors_from_bytes(a, safetensors_bytes(retyped), "d");
            }).find("parameter 'dense.bias' is float64 in 'd', float32 in the model"),
            std::string::npos);

  // The last parameter is the bad one: every other was checked (and would have been written by a
  // loader that writes as it goes).
  EXPECT_EQ(snapshot(a), before);

  Sequential unbuilt(SimpleRNN(2));
  EXPECT_NE(error_of<ShapeError>([&] {
              load_safetensors_from_bytes(unbuilt, safetensors_bytes(params), "u");
            }).find("build the model"),
            std::string::npos);
}

TEST(Safetensors, ReadsRegularFilesOnly) {
  EXPECT_NE(error_of<IOError>([] { read_safetensors("/nonexistent/w.safetensors"); }).find("load_safetensors"),
            std::string::npos);
  EXPECT_NE(error_of<IOError>([] { read_safetensors("/dev/zero"); }).find("load_safetensors"), std::string::npos);
  EXPECT_NE(error_of<IOError>([] { read_safetensors(::testing::TempDir()); }).find("load_safetensors"),
            std::string::npos);
}

// ---- Files that must be refused ---------------------------------------------------------------

const std::string kOne = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";

TEST(SafetensorsBadFiles, ShortOrTruncatedFiles) {
  EXPECT_NE(io_error({}).find("0 bytes, the header length alone takes 8"), std::string::npos);
  EXPECT_NE(io_error({1, 2, 3}).find("3 bytes"), std::string::npos);
  const std::vector<unsigned char> good = file_of(kOne, 8);
  ASSERT_NO_THROW(parse_safetensors(good, "good"));
  // Every prefix of a good file is refused, as an IOError.
  for (std::size_t n = 0; n < good.size(); ++n) {
    const std::vector<unsigned char> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_NE(io_error(cut).find("load_safetensors: 'f.safetensors'"), std::string::npos) << n << " bytes";
  }
  const std::vector<unsigned char> half(good.begin(), good.end() - 4);
  EXPECT_NE(io_error(half).find("tensor 'a' has data_offsets [0, 8], the buffer holds 4 bytes"), std::string::npos);
}

TEST(SafetensorsBadFiles, HeaderLengthPastTheEndOrHuge) {
  std::vector<unsigned char> f = file_of(kOne, 8);
  f[0] = 0xff;  // header length 255 + ..., more than the file
  EXPECT_NE(io_error(f).find("its header length is"), std::string::npos);
  EXPECT_NE(io_error(f).find("bytes follow it"), std::string::npos);
  for (int i = 0; i < 8; ++i) f[static_cast<std::size_t>(i)] = 0xff;  // 2^64 - 1
  EXPECT_NE(io_error(f).find("18446744073709551615 bytes"), std::string::npos);
  // A header the size of a small file, claimed by a large file: refused by its bound.
  std::vector<unsigned char> big(8 + kMaxSafetensorsHeader + 1, ' ');
  const std::uint64_t n = kMaxSafetensorsHeader + 1;
  for (int i = 0; i < 8; ++i) big[static_cast<std::size_t>(i)] = static_cast<unsigned char>(n >> (8 * i));
  EXPECT_NE(io_error(big).find("claims a header of 100000001 bytes, at most 100000000"), std::string::npos);
}

TEST(SafetensorsBadFiles, MalformedJson) {
  struct Case {
    std::string header, message;
  };
  const Case cases[] = {
      {"", "too short for a JSON object"},
      {"[]", "expected '{' at the start of the header, got '['"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})", "expected ',' or '}' after a tensor's entry"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},})", "expected a string as a tensor name, got '}'"},
      {R"({"a":{"dtype":"F32","shape":[2,],"data_offsets":[0,8]}})", "expected a non-negative integer"},
      {R"({"a":{"dtype":"F32","shape":[02],"data_offsets":[0,8]}})", "leading zero"},
      {R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", "got a negative number"},
      {R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", "got a fraction or an exponent"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551616]}})", "larger than 2^64 - 1"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}})", "exactly two: [begin, end]"},
      {R"({"a":{"dtype":"F32","shape":[2]}})", "lacks \"data_offsets\""},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}})", "unexpected field 'extra'"},
      {R"({"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", "\"dtype\" comes twice"},
      {R"({"a":{"dtype":F32,"shape":[2],"data_offsets":[0,8]}})", "expected a string as the dtype"},
      {R"({"a\q":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", "unknown escape '\\q'"},
      {R"({"a\ud800":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", "high surrogate without its low half"},
      {R"({"a\udc00":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", "lone low surrogate"},
      {"{\"a\x01\":{}}", "control byte 0x01 inside a string"},
      {"{\"a\xff\":{}}", "not well-formed UTF-8"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} x)", "expected the end of the header"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}, "__metadata__": {"k": 1}})",
       "expected a string as the value of metadata 'k'"},
      {R"({"__metadata__":{},"__metadata__":{}})", "\"__metadata__\" comes twice"},
      {R"({"a":{"dtype":"F32","shape":[1,1,1,1,1,1,1],"data_offsets":[0,4]}})", "has more than 6 sizes"},
      {R"({"a)", "a string is not closed"},
  };
  for (const Case& c : cases) {
    const std::string message = io_error(file_of(c.header, 8));
    EXPECT_NE(message.find(c.message), std::string::npos) << c.header << "\n  -> " << message;
    EXPECT_NE(message.find("'f.safetensors'"), std::string::npos) << message;
  }
}

TEST(SafetensorsBadFiles, DtypesOtherThanF32AndF64) {
  const std::string f16 = R"({"half":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}})";
  EXPECT_NE(error_of<DTypeError>([&] {
              parse_safetensors(file_of(f16, 8), "f");
            }).find("tensor 'half' is F16; tapegrad reads F32 and F64"),
            std::string::npos);
  const std::string unknown = R"({"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})";
  EXPECT_NE(io_error(file_of(unknown, 8)).find("unknown dtype 'F33' (expected F32 or F64)"), std::string::npos);
}

TEST(SafetensorsBadFiles, OffsetsAndSizes) {
  struct Case {
    std::string header;
    std::size_t buffer;
    std::string message;
  };
  const Case cases[] = {
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
       12, "tensor 'b' at [4, 12] overlaps the tensor before it, which ends at 8"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12,
       "bytes [0, 4) of the buffer belong to no tensor"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 12,
       "its tensors end at byte 8 of the buffer, "
       "the buffer holds 12 bytes"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 8,
       "tensor 'a' has data_offsets [8, 16], the buffer holds 8 bytes"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8, "begin after end"},
      {R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8,
       "tensor 'a' of dtype F32 and shape [3] needs 12 bytes, its data_offsets [0, 8] hold 8"},
      {R"({"a":{"dtype":"F64","shape":[1000000000,1000000000,1000000000],"data_offsets":[0,8]}})", 8,
       "tensor 'a' of shape [1000000000,1000000000,1000000000] has more than 2^63 - 1 bytes"},
      {R"({"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,8]}})", 8, "more than 2^63 - 1 bytes"},
      {R"({"a":{"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,8]}})", 8, "more than 2^63 - 1"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
       16, "tensor name 'a' comes twice"},
  };
  for (const Case& c : cases) {
    const std::string message = io_error(file_of(c.header, c.buffer));
    EXPECT_NE(message.find(c.message), std::string::npos) << c.header << "\n  -> " << message;
  }
}

TEST(SafetensorsBadFiles, NamesAreEscapedInMessages) {
  const std::string header = "{\"\\u001b[2Jevil\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}";
  const std::string message = io_error(file_of(header, 8));
  EXPECT_NE(message.find("'\\x1b[2Jevil'"), std::string::npos) << message;
  EXPECT_EQ(message.find('\x1b'), std::string::npos);
}

TEST(SafetensorsBadFiles, EveryHeaderByteChangedLoadsOrThrowsATypedErrorAndKeepsTheModel) {
  Sequential m = small_model(DType::f32);
  randomize(m, 6);
  const std::vector<unsigned char> good = safetensors_bytes(m.named_parameters());
  const auto before = snapshot(m);
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(good[static_cast<std::size_t>(i)]) << (8 * i);
  int refused = 0;
  for (std::size_t i = 0; i < 8 + n; ++i) {
    for (unsigned char v : {0x00, 0x22, 0x31, 0x5c, 0x7d, 0xff}) {
      std::vector<unsigned char> bad = good;
      if (bad[i] == v) continue;
      bad[i] = v;
      try {
        load_safetensors_from_bytes(m, bad, "mutant");
        load_safetensors_from_bytes(m, good, "good");  // a mutant that loads: put the weights back
      } catch (const Error&) {
        ++refused;
      }
      ASSERT_EQ(snapshot(m), before) << "byte " << i << " set to " << int(v);
    }
  }
  EXPECT_GT(refused, 0);
}

}  // namespace
}  // namespace tg
