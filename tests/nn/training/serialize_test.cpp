#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tapegrad/tapegrad.h>

#include <tapegrad/nn/training/serialize.h>
#include "support/error_of.h"
#include "support/run_in_child.h"

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
  EXPECT_EQ(le(b, 4, 4), 1u);    // version
  EXPECT_EQ(le(b, 8, 4), 2u);    // count
  EXPECT_EQ(le(b, 12, 4), 12u);  // name length
  EXPECT_EQ(std::string(b.begin() + 16, b.begin() + 28), "dense.kernel");
  EXPECT_EQ(b[28], 1);  // float64
  EXPECT_EQ(b[29], 2);  // rank
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

// The temporaries save_weights left next to `path` (named .<name>.<random>.tmp).
std::vector<std::string> temporaries_of(const std::string& path) {
  const std::string prefix = "." + fs::path(path).filename().string() + ".";
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator(fs::path(path).parent_path())) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && e.path().extension() == ".tmp") found.push_back(name);
  }
  return found;
}

TEST(Serialize, UnwritablePathsThrowAndLeaveNothingBehind) {
  Sequential a(Input{2}, Dense(1));
  const std::string missing_dir = temp_path("no_such_dir");
  EXPECT_EQ(error_of<IOError>([&] { save_weights(a, missing_dir + "/w.tgw"); }),
            fmt::format("save_weights: cannot open the directory '{}' to write '{}/w.tgw': No such file or directory",
                        missing_dir, missing_dir));
  const std::string dir = temp_path("a_directory");
  fs::create_directory(dir);
  fs::create_directory(dir + "/child");  // renaming a file over a non-empty directory fails
  EXPECT_NE(error_of<IOError>([&] { save_weights(a, dir); }).find("cannot rename"), std::string::npos);
  EXPECT_TRUE(temporaries_of(dir).empty());
  fs::remove_all(dir);
}

TEST(Serialize, LoadRefusesAFifoAtOnce) {
  const std::string fifo = temp_path("pipe.tgw");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  const auto start = std::chrono::steady_clock::now();
  // In a child process with a timeout, so that waiting for a writer fails the test, not the suite.
  const std::string msg = testing::run_in_child(
      [&] {
        Sequential m(Input{2}, Dense(1));
        return error_of<IOError>([&] { load_weights(m, fifo); });
      },
      std::chrono::seconds(5));
  EXPECT_EQ(msg, fmt::format("load_weights: '{}' is a FIFO (named pipe), not a regular file", fifo));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  fs::remove(fifo);
}

TEST(Serialize, LoadRefusesDevicesAndDirectories) {
  // Read without a bound, /dev/zero fills memory until the process dies: in a child, timed.
  const std::string msg = testing::run_in_child(
      [] {
        Sequential m(Input{2}, Dense(1));
        return error_of<IOError>([&] { load_weights(m, "/dev/zero"); });
      },
      std::chrono::seconds(5));
  EXPECT_EQ(msg, "load_weights: '/dev/zero' is a character device, not a regular file");
  Sequential m(Input{2}, Dense(1));
  const std::string dir = temp_path("dir.tgw");
  fs::create_directory(dir);
  EXPECT_EQ(error_of<IOError>([&] { load_weights(m, dir); }),
            fmt::format("load_weights: '{}' is a directory, not a regular file", dir));
  fs::remove(dir);
}

// A weights file with the given header count and records (each record's elements are zeros), and
// a correct checksum, so only what is tested is wrong.
struct RawRecord {
  std::string name;
  std::uint8_t dtype = 0;
  std::vector<std::uint64_t> dims;
  std::size_t data_bytes = 0;
};

std::vector<unsigned char> weights_file(std::uint32_t count, const std::vector<RawRecord>& records) {
  std::vector<unsigned char> b{'T', 'G', 'W', '1'};
  auto put = [&](std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) b.push_back(static_cast<unsigned char>(v >> (8 * i)));
  };
  put(1, 4);
  put(count, 4);
  for (const RawRecord& r : records) {
    put(r.name.size(), 4);
    b.insert(b.end(), r.name.begin(), r.name.end());
    put(r.dtype, 1);
    put(r.dims.size(), 1);
    for (std::uint64_t d : r.dims) put(d, 8);
    b.insert(b.end(), r.data_bytes, 0);
  }
  put(fnv1a64(b, b.size()), 8);
  return b;
}

TEST(Serialize, CountsAndSizesBeyondTheFileAreRefusedBeforeAllocating) {
  Sequential m(Input{2}, Dense(1));
  const std::string path = temp_path("claims.tgw");
  // 2^32 - 1 parameters claimed (the largest count the format holds) in a 62-byte file.
  const auto claims = weights_file(0xffffffffu, {{"w", 0, {2}, 8}, {"b", 0, {1}, 4}});
  ASSERT_EQ(claims.size(), 62u);
  write_bytes(path, claims, claims.size());
  EXPECT_EQ(error_of<IOError>([&] { load_weights(m, path); }),
            fmt::format("load_weights: '{}' is truncated or corrupt: its header claims 4294967295 parameters, the 42 "
                        "bytes after it hold at most 7",
                        path));
  // One parameter of 2^40 elements.
  const auto huge = weights_file(1, {{"w", 0, {1u << 20, 1u << 20}, 16}});
  write_bytes(path, huge, huge.size());
  EXPECT_EQ(error_of<IOError>([&] { load_weights(m, path); }),
            fmt::format("load_weights: '{}' is corrupt: parameter 'w' has dimension 0 = 1048576", path));
  fs::remove(path);
}

TEST(Serialize, NamesFromTheFileAreEscapedInErrors) {
  Named model("weight");
  const std::string hostile = "w\x1b]0;owned\x07\xff\xfe\nx";
  const std::string path = temp_path("hostile.tgw");
  auto bytes = weights_file(1, {{hostile, 0, {2}, 8}});
  write_bytes(path, bytes, bytes.size());
  const std::string msg = error_of<ShapeError>([&] { load_weights(model, path); });
  EXPECT_EQ(msg,
            "load_weights: parameter 0 is 'w\\x1b]0;owned\\x07\\xff\\xfe\\x0ax' in the file, 'weight' in the model");
  // Corrupt records echo the name too; a long one is cut.
  bytes = weights_file(1, {{std::string(1000, '\x01'), 9, {2}, 8}});
  write_bytes(path, bytes, bytes.size());
  const std::string corrupt = error_of<IOError>([&] { load_weights(model, path); });
  EXPECT_NE(corrupt.find("parameter '\\x01\\x01"), std::string::npos) << corrupt;
  EXPECT_NE(corrupt.find("... (1000 bytes)' has dtype code 9"), std::string::npos) << corrupt;
  EXPECT_EQ(corrupt.find('\x01'), std::string::npos);
  EXPECT_LT(corrupt.size(), 1500u);
  fs::remove(path);
}

TEST(Serialize, SaveLeavesAUsersTmpFileAlone) {
  Sequential a(Input{2}, Dense(1));
  const std::string path = temp_path("users_tmp.tgw");
  write_bytes(path + ".tmp", {'m', 'i', 'n', 'e'}, 4);
  save_weights(a, path);
  EXPECT_EQ(read_bytes(path + ".tmp"), (std::vector<unsigned char>{'m', 'i', 'n', 'e'}));
  Sequential b(Input{2}, Dense(1));
  load_weights(b, path);
  EXPECT_EQ(snapshot(a), snapshot(b));
  fs::remove(path);
  fs::remove(path + ".tmp");
}

TEST(Serialize, SaveDoesNotFollowALinkPlantedAtATemporaryName) {
  // A link where a fixed-name temporary would be (path.tmp): opening it for writing would
  // overwrite the file it points to.
  Sequential a(Input{2}, Dense(1));
  const std::string path = temp_path("planted.tgw"), victim = temp_path("victim.txt");
  write_bytes(victim, {'k', 'e', 'e', 'p'}, 4);
  fs::create_symlink(victim, path + ".tmp");
  save_weights(a, path);
  EXPECT_EQ(read_bytes(victim), (std::vector<unsigned char>{'k', 'e', 'e', 'p'}));
  EXPECT_TRUE(fs::is_symlink(path + ".tmp"));
  Sequential b(Input{2}, Dense(1));
  load_weights(b, path);
  EXPECT_EQ(snapshot(a), snapshot(b));
  fs::remove(path);
  fs::remove(path + ".tmp");
  fs::remove(victim);
}

// Every parameter's value, or NaN when they differ (parts of two saves).
double common_value(const Module& m) {
  const double v = m.parameters().front().to_vector().front();
  for (const Tensor& p : m.parameters())
    for (double x : p.to_vector())
      if (x != v) return std::nan("");
  return v;
}

TEST(Serialize, ConcurrentSavesToOnePathAllSucceedAndReadersSeeWholeFiles) {
  // Two processes save 50 times each to one path while this one loads it in a loop.
  constexpr int kWriters = 2, kSaves = 50;
  auto make = [] { return Sequential(Input{None, 1}, SimpleRNN(16), Dense(1)); };
  const std::string path = temp_path("concurrent.tgw");
  Sequential model = make();
  for (Tensor& p : model.parameters()) p.fill_(0.0);
  save_weights(model, path);
  std::set<double> written{0.0};
  pid_t writers[kWriters];
  for (int w = 0; w < kWriters; ++w) {
    for (int k = 1; k <= kSaves; ++k) written.insert((w + 1) * 1000 + k);
    writers[w] = ::fork();
    ASSERT_GE(writers[w], 0);
    if (writers[w] == 0) {
      int failed = 0;
      for (int k = 1; k <= kSaves; ++k) {
        for (Tensor& p : model.parameters()) p.fill_((w + 1) * 1000 + k);
        try {
          save_weights(model, path);
        } catch (...) {
          ++failed;
        }
      }
      ::_exit(failed);  // the exit status counts the saves that failed
    }
  }
  Sequential reader = make();
  int reads = 0, running = kWriters;
  std::vector<std::string> bad_reads;
  std::set<double> seen;  // the saves the reads caught
  int status[kWriters] = {};
  bool done[kWriters] = {};
  while (running > 0) {
    try {
      load_weights(reader, path);
      const double v = common_value(reader);
      if (!written.count(v)) bad_reads.push_back(fmt::format("a file holding {}", v));
      seen.insert(v);
    } catch (const Error& e) {
      bad_reads.push_back(e.what());
    }
    ++reads;
    for (int w = 0; w < kWriters; ++w)
      if (!done[w] && ::waitpid(writers[w], &status[w], WNOHANG) == writers[w]) {
        done[w] = true;
        --running;
      }
  }
  for (int w = 0; w < kWriters; ++w) {
    ASSERT_TRUE(WIFEXITED(status[w])) << "writer " << w << " status " << status[w];
    EXPECT_EQ(WEXITSTATUS(status[w]), 0) << "saves that failed in writer " << w;
  }
  EXPECT_TRUE(bad_reads.empty()) << bad_reads.size() << " of " << reads
                                 << " reads failed, the first: " << bad_reads.front();
  RecordProperty("reads", reads);
  RecordProperty("saves_seen", static_cast<int>(seen.size()));
  EXPECT_TRUE(temporaries_of(path).empty());
  fs::remove(path);
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
