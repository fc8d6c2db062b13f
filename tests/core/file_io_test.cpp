#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tapegrad/core/error.h>
#include <tapegrad/core/file_io.h>
#include "support/error_of.h"
#include "support/run_in_child.h"

namespace tg {
namespace {

namespace fs = std::filesystem;
using testing::error_of;
using namespace std::chrono_literals;

// A fresh, empty directory for one test.
fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::path(::testing::TempDir()) / fmt::format("tg_file_io_{}_{}", ::getpid(), name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string contents(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void put(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string as_text(const std::vector<unsigned char>& b) { return {b.begin(), b.end()}; }

TEST(FileIO, ReadsAWholeRegularFileAndFollowsALinkToOne) {
  const fs::path dir = fresh_dir("read");
  std::string text(100000, '\0');
  for (std::size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>(i * 7);
  put(dir / "a.bin", text);
  EXPECT_EQ(as_text(read_file((dir / "a.bin").string(), "test")), text);
  fs::create_symlink(dir / "a.bin", dir / "link.bin");
  EXPECT_EQ(as_text(read_file((dir / "link.bin").string(), "test")), text);
  put(dir / "empty", "");
  EXPECT_TRUE(read_file((dir / "empty").string(), "test").empty());
  fs::remove_all(dir);
}

TEST(FileIO, RefusesFilesAboveTheCallersBound) {
  const fs::path dir = fresh_dir("bound");
  const std::string path = (dir / "a.bin").string();
  put(path, std::string(100, 'x'));
  EXPECT_EQ(read_file(path, "test", 100).size(), 100u);
  EXPECT_EQ(error_of<IOError>([&] { read_file(path, "csv", 99); }),
            fmt::format("csv: '{}' holds 100 bytes, more than the 99 accepted here", path));
  fs::remove_all(dir);
}

TEST(FileIO, RefusesAFifoAtOnceWithoutWaitingForAWriter) {
  const fs::path dir = fresh_dir("fifo");
  const std::string fifo = (dir / "pipe").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  const auto start = std::chrono::steady_clock::now();
  const std::string msg =
      testing::run_in_child([&] { return error_of<IOError>([&] { read_file(fifo, "test"); }); }, 5s);
  EXPECT_EQ(msg, fmt::format("test: '{}' is a FIFO (named pipe), not a regular file", fifo));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  fs::remove_all(dir);
}

TEST(FileIO, RefusesDevicesAndDirectories) {
  const std::string msg =
      testing::run_in_child([] { return error_of<IOError>([] { read_file("/dev/zero", "test"); }); }, 5s);
  EXPECT_EQ(msg, "test: '/dev/zero' is a character device, not a regular file");
  const fs::path dir = fresh_dir("dir");
  EXPECT_EQ(error_of<IOError>([&] { read_file(dir.string(), "test"); }),
            fmt::format("test: '{}' is a directory, not a regular file", dir.string()));
  EXPECT_EQ(error_of<IOError>([&] { read_file((dir / "missing").string(), "test"); }),
            fmt::format("test: cannot open '{}': No such file or directory", (dir / "missing").string()));
  EXPECT_EQ(error_of<IOError>([&] { read_file("", "test"); }), "test: the path is empty");
  fs::remove_all(dir);
}

TEST(FileIO, PathsInMessagesAreEscaped) {
  const fs::path dir = fresh_dir("escape");
  const std::string path = (dir / "a\x1b[2Jb\xff").string();
  const std::string msg = error_of<IOError>([&] { read_file(path, "test"); });
  EXPECT_NE(msg.find("a\\x1b[2Jb\\xff': No such file"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\x1b'), std::string::npos);
  fs::remove_all(dir);
}

TEST(FileIO, AtomicFileWritesAUniqueTemporaryAndRenamesItOnCommit) {
  const fs::path dir = fresh_dir("atomic");
  const fs::path path = dir / "out.txt";
  put(path, "old");
  {
    AtomicFile f(path.string(), "test");
    const fs::path temp = f.temporary_path();
    EXPECT_EQ(temp.parent_path(), dir);
    EXPECT_EQ(temp.filename().string().rfind(".out.txt.", 0), 0u) << temp;
    EXPECT_EQ(temp.extension(), ".tmp");
    f.write(std::string_view("new "));
    f.write(std::string_view("contents"));
    EXPECT_EQ(contents(path), "old");  // nothing visible before the commit
    EXPECT_TRUE(fs::exists(temp));
    f.commit();
    EXPECT_FALSE(fs::exists(temp));
  }
  EXPECT_EQ(contents(path), "new contents");
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"out.txt"});
  // Two files open at once get different temporaries.
  AtomicFile a(path.string(), "test"), b(path.string(), "test");
  EXPECT_NE(a.temporary_path(), b.temporary_path());
  fs::remove_all(dir);
}

TEST(FileIO, AtomicFileNotCommittedLeavesTheTargetAndNoTemporary) {
  const fs::path dir = fresh_dir("discard");
  const fs::path path = dir / "out.txt";
  put(path, "old");
  try {
    AtomicFile f(path.string(), "test");
    f.write(std::string_view("half"));
    throw ValueError("a writer failed half way");
  } catch (const ValueError&) {
  }
  EXPECT_EQ(contents(path), "old");
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"out.txt"});
  fs::remove_all(dir);
}

TEST(FileIO, SaveLeavesAUsersTmpFileAndALinkPlantedThereAlone) {
  const fs::path dir = fresh_dir("tmp_name");
  const fs::path path = dir / "out.txt";
  put(dir / "out.txt.tmp", "the user's own file");
  write_file_atomic(path.string(), std::string_view("one"), "test");
  EXPECT_EQ(contents(dir / "out.txt.tmp"), "the user's own file");
  fs::remove(dir / "out.txt.tmp");
  put(dir / "victim", "precious");
  fs::create_symlink(dir / "victim", dir / "out.txt.tmp");
  write_file_atomic(path.string(), std::string_view("two"), "test");
  EXPECT_EQ(contents(dir / "victim"), "precious");
  EXPECT_TRUE(fs::is_symlink(dir / "out.txt.tmp"));
  EXPECT_EQ(contents(path), "two");
  fs::remove_all(dir);
}

TEST(FileIO, ASymlinkTargetIsReplacedAndWhatItPointedToKept) {
  const fs::path dir = fresh_dir("target_link");
  put(dir / "real.txt", "original");
  fs::create_symlink(dir / "real.txt", dir / "link.txt");
  write_file_atomic((dir / "link.txt").string(), std::string_view("new"), "test");
  EXPECT_FALSE(fs::is_symlink(dir / "link.txt"));
  EXPECT_EQ(contents(dir / "link.txt"), "new");
  EXPECT_EQ(contents(dir / "real.txt"), "original");
  fs::remove_all(dir);
}

TEST(FileIO, NewFilesGetTheModeTheUmaskGives) {
  const fs::path dir = fresh_dir("mode");
  const mode_t saved = ::umask(022);
  write_file_atomic((dir / "a").string(), std::string_view("x"), "test");
  ::umask(077);
  write_file_atomic((dir / "b").string(), std::string_view("x"), "test");
  ::umask(saved);
  struct stat st {};
  ASSERT_EQ(::stat((dir / "a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  ASSERT_EQ(::stat((dir / "b").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  fs::remove_all(dir);
}

TEST(FileIO, FailedWritesSayWhyAndLeaveNothingBehind) {
  const fs::path dir = fresh_dir("fail");
  const std::string missing = (dir / "no_such_dir" / "a.txt").string();
  EXPECT_EQ(error_of<IOError>([&] { write_file_atomic(missing, std::string_view("x"), "test"); }),
            fmt::format("test: cannot open the directory '{}' to write '{}': No such file or directory",
                        (dir / "no_such_dir").string(), missing));
  // A directory in the way: the rename fails and the temporary goes.
  fs::create_directories(dir / "taken" / "child");
  const std::string taken = (dir / "taken").string();
  const std::string msg = error_of<IOError>([&] { write_file_atomic(taken, std::string_view("x"), "test"); });
  EXPECT_EQ(msg.rfind("test: cannot rename '", 0), 0u) << msg;
  EXPECT_NE(msg.find(fmt::format("' to '{}': ", taken)), std::string::npos) << msg;
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"taken"});
  EXPECT_EQ(error_of<IOError>([&] { write_file_atomic(taken + "/", std::string_view("x"), "test"); }),
            fmt::format("test: '{}/' names a directory, not a file", taken));
  EXPECT_EQ(error_of<IOError>([&] { write_file_atomic("", std::string_view("x"), "test"); }),
            "test: the path is empty");
  fs::remove_all(dir);
}

TEST(FileIO, ABareFileNameIsWrittenInTheCurrentDirectory) {
  const fs::path dir = fresh_dir("cwd");
  const fs::path saved = fs::current_path();
  fs::current_path(dir);
  write_file_atomic("bare.txt", std::string_view("here"), "test");
  EXPECT_EQ(as_text(read_file("bare.txt", "test")), "here");
  fs::current_path(saved);
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"bare.txt"});
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tg
