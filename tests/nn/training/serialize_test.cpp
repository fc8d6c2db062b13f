#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <unistd.h>

#include <tapegrad/tapegrad.h>

#include <tapegrad/nn/training/serialize.h>
#include "support/error_of.h"

namespace tg {
namespace {

namespace fs = std::filesystem;

// A fresh file name in the test's temporary directory.
std::string temp_path(const std::string& name) {
  static int counter = 0;
  return (fs::path(::testing::TempDir()) / fmt::format("tg_serialize_{}_{}_{}", ::getpid(), counter++, name)).string();
}

std::vector<unsigned char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::vector<unsigned char>& bytes, std::size_t n) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(n));
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

std::uint64_t fnv1a64(const std::vector<unsigned char>& b, std::size_t n) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

std::uint64_t le(const std::vector<unsigned char>& b, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<std::uint64_t>(b[at + static_cast<std::size_t>(i)]) << (8 * i);
  return v;
}

using testing::error_of;

TEST(Serialize, RoundTripRestoresEveryParameterExactly) {
  for (DType dtype : {DType::f32, DType::f64}) {
    Sequential a(Input{None, 1}, SimpleRNN(3), Dense(2));
    Sequential b(Input{None, 1}, SimpleRNN(3), Dense(2));
    a.to(dtype);
    b.to(dtype);
    randomize(a, 1);
    randomize(b, 2);
    ASSERT_NE(snapshot(a), snapshot(b));
    const std::string path = temp_path("roundtrip.tgw");
    save_weights(a, path);
    EXPECT_FALSE(fs::exists(path + ".tmp"));
    load_weights(b, path);
    EXPECT_EQ(snapshot(a), snapshot(b)) << dtype_name(dtype);
    fs::remove(path);
  }
}

TEST(Serialize, FileFollowsTheDocumentedLayout) {
  Sequential m(Input{4}, Dense(3));  // dense.kernel [4,3], dense.bias [3]
  m.to(DType::f64);
  randomize(m, 5);
  const std::string path = temp_path("layout.tgw");
  save_weights(m, path);
  const auto b = read_bytes(path);
  const std::size_t kernel = 4 + 12 + 1 + 1 + 16 + 12 * 8, bias = 4 + 10 + 1 + 1 + 8 + 3 * 8;
  ASSERT_EQ(b.size(), 12 + kernel + bias + 8);
  EXPECT_EQ(std::string(b.begin(), b.begin() + 4), "TGW1");
  EXPECT_EQ(le(b, 4, 4), 1u);   // version
  EXPECT_EQ(le(b, 8, 4), 2u);   // count
  EXPECT_EQ(le(b, 12, 4), 12u); // name length
  EXPECT_EQ(std::string(b.begin() + 16, b.begin() + 28), "dense.kernel");
  EXPECT_EQ(b[28], 1);            // float64
  EXPECT_EQ(b[29], 2);            // rank
  EXPECT_EQ(le(b, 30, 8), 4u);
  EXPECT_EQ(le(b, 38, 8), 3u);
  double first;
  const std::uint64_t bits = le(b, 46, 8);
  std::memcpy(&first, &bits, 8);
  EXPECT_EQ(first, m.parameters()[0].to_vector()[0]);
  EXPECT_EQ(le(b, b.size() - 8, 8), fnv1a64(b, b.size() - 8));
  fs::remove(path);
}

TEST(Serialize, TruncatedFilesAreRejectedAndTheModelIsUnchanged) {
  Sequential a(Input{None, 1}, SimpleRNN(2), Dense(1));
  randomize(a, 3);
  const std::string path = temp_path("full.tgw"), cut = temp_path("cut.tgw");
  save_weights(a, path);
  const auto bytes = read_bytes(path);
  Sequential b(Input{None, 1}, SimpleRNN(2), Dense(1));
  randomize(b, 4);
  const auto before = snapshot(b);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    write_bytes(cut, bytes, n);
    const std::string msg = error_of<IOError>([&] { load_weights(b, cut); });
    EXPECT_NE(msg.find("load_weights: '" + cut + "'"), std::string::npos) << n << " bytes: " << msg;
    ASSERT_EQ(snapshot(b), before) << n << " bytes";
  }
  write_bytes(cut, bytes, 0);
  EXPECT_NE(error_of<IOError>([&] { load_weights(b, cut); }).find("not a tapegrad weights file"), std::string::npos);
  write_bytes(cut, bytes, bytes.size() - 20);
  EXPECT_NE(error_of<IOError>([&] { load_weights(b, cut); }).find("truncated"), std::string::npos);
  fs::remove(path);
  fs::remove(cut);
}

TEST(Serialize, AnyFlippedByteIsRejected) {
  Sequential a(Input{None, 1}, SimpleRNN(2), Dense(1));
  randomize(a, 3);
  const std::string path = temp_path("flip.tgw");
  save_weights(a, path);
  const auto bytes = read_bytes(path);
  Sequential b(Input{None, 1}, SimpleRNN(2), Dense(1));
  randomize(b, 4);
  const auto before = snapshot(b);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto bad = bytes;
    bad[i] ^= 0x10;
    write_bytes(path, bad, bad.size());
    const std::string msg = error_of<IOError>([&] { load_weights(b, path); });
    EXPECT_EQ(msg.rfind("load_weights: ", 0), 0u) << "byte " << i << ": " << msg;
    ASSERT_EQ(snapshot(b), before) << "byte " << i;
  }
  // A flip in the last element's bytes leaves the structure intact: only the checksum sees it.
  auto bad = bytes;
  bad[bytes.size() - 9] ^= 0x01;
  write_bytes(path, bad, bad.size());
  EXPECT_NE(error_of<IOError>([&] { load_weights(b, path); }).find("checksum"), std::string::npos);
  fs::remove(path);
}

TEST(Serialize, OtherVersionAndNonWeightFiles) {
  Sequential a(Input{2}, Dense(1));
  const std::string path = temp_path("version.tgw");
  save_weights(a, path);
  auto bytes = read_bytes(path);
  bytes[4] = 2;
  write_bytes(path, bytes, bytes.size());
  EXPECT_NE(error_of<IOError>([&] { load_weights(a, path); }).find("format version 2, this build reads version 1"),
            std::string::npos);
  write_bytes(path, {'h', 'e', 'l', 'l', 'o', '\n'}, 6);
  EXPECT_NE(error_of<IOError>([&] { load_weights(a, path); }).find("not a tapegrad weights file"), std::string::npos);
  EXPECT_NE(error_of<IOError>([&] { load_weights(a, path + ".missing"); }).find("cannot open"), std::string::npos);
  fs::remove(path);
}

TEST(Serialize, OtherArchitectureNamesTheFirstMismatch) {
  Sequential a(Input{4}, Dense(20), Dense(20));
  const std::string path = temp_path("arch.tgw");
  save_weights(a, path);

  Sequential shape(Input{4}, Dense(20), Dense(1));
  randomize(shape, 9);
  auto before = snapshot(shape);
  EXPECT_EQ(error_of<ShapeError>([&] { load_weights(shape, path); }),
            "load_weights: parameter 'dense_1.kernel' has shape [20,20] in the file, [20,1] in the model");
  EXPECT_EQ(snapshot(shape), before);  // dense.kernel matched, but nothing was copied

  Sequential count(Input{4}, Dense(20));
  EXPECT_EQ(error_of<ShapeError>([&] { load_weights(count, path); }),
            fmt::format("load_weights: '{}' holds 4 parameters, the model has 2", path));

  Sequential unbuilt(Dense(20), Dense(20));
  EXPECT_NE(error_of<ShapeError>([&] { load_weights(unbuilt, path); }).find("build the model"), std::string::npos);

  Sequential names(Input{None, 4}, SimpleRNN(20), Dense(20));  // 5 parameters: different count
  EXPECT_NE(error_of<ShapeError>([&] { load_weights(names, path); }).find("holds 4 parameters, the model has 5"),
            std::string::npos);

  Sequential dtype(Input{4}, Dense(20), Dense(20));
  dtype.to(DType::f64);
  EXPECT_EQ(error_of<DTypeError>([&] { load_weights(dtype, path); }),
            "load_weights: parameter 'dense.kernel' is float32 in the file, float64 in the model");
  fs::remove(path);
}

struct Named : Module {
  explicit Named(const char* name) : Module("Named") { w = register_parameter(name, zeros({2})); }
  Tensor forward(const Tensor& x) override { return x * w; }
  Tensor w;
};

TEST(Serialize, ParameterNamesMustMatch) {
  Named a("weight"), b("scale");
  const std::string path = temp_path("names.tgw");
  save_weights(a, path);
  EXPECT_EQ(error_of<ShapeError>([&] { load_weights(b, path); }),
            "load_weights: parameter 0 is 'weight' in the file, 'scale' in the model");
  fs::remove(path);
}

TEST(Serialize, UnwritablePathsThrowAndLeaveNothingBehind) {
  Sequential a(Input{2}, Dense(1));
  const std::string missing_dir = temp_path("no_such_dir") + "/w.tgw";
  EXPECT_NE(error_of<IOError>([&] { save_weights(a, missing_dir); }).find("save_weights: cannot open '" + missing_dir + ".tmp'"),
            std::string::npos);
  const std::string dir = temp_path("a_directory");
  fs::create_directory(dir);
  fs::create_directory(dir + "/child");  // renaming a file over a non-empty directory fails
  EXPECT_NE(error_of<IOError>([&] { save_weights(a, dir); }).find("cannot rename"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir + ".tmp"));
  fs::remove_all(dir);
}

TEST(Serialize, SaveReplacesAnExistingFile) {
  Sequential a(Input{2}, Dense(1));
  const std::string path = temp_path("replace.tgw");
  write_bytes(path, {'o', 'l', 'd'}, 3);
  save_weights(a, path);
  Sequential b(Input{2}, Dense(1));
  randomize(b, 7);
  load_weights(b, path);
  EXPECT_EQ(snapshot(a), snapshot(b));
  fs::remove(path);
}

}  // namespace
}  // namespace tg
