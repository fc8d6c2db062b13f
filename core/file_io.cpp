#include <tapegrad/core/file_io.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tapegrad/core/error.h>

namespace tg {

namespace {

// Paths come from programs, configuration and data files: shown escaped, cut at PATH_MAX.
std::string shown_path(std::string_view path) { return escape_for_message(path, 4096); }

// Refuses a file that is not a regular file, saying what it is.
[[noreturn]] void refuse_non_regular(std::string_view who, const std::string& path, mode_t mode) {
  const char* kind = S_ISDIR(mode)    ? "a directory"
                     : S_ISFIFO(mode) ? "a FIFO (named pipe)"
                     : S_ISCHR(mode)  ? "a character device"
                     : S_ISBLK(mode)  ? "a block device"
                     : S_ISSOCK(mode) ? "a socket"
                                      : "of an unknown kind";
  throw IOError(fmt::format("{}: '{}' is {}, not a regular file", who, shown_path(path), kind));
}

void close_fd(int fd) {
  if (fd >= 0) ::close(fd);
}

// A name no other save picks: the process id, a counter shared by the process's threads and the
// clock, mixed (splitmix64) and written in 12 base-32 letters. Unpredictability is not needed:
// the file is created with O_EXCL, and a name that exists is skipped.
std::string temporary_suffix(int attempt) {
  static std::atomic<std::uint64_t> counter{0};
  std::uint64_t x = (static_cast<std::uint64_t>(::getpid()) << 32) ^ counter.fetch_add(1) ^
                    static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
                    (static_cast<std::uint64_t>(attempt) << 56);
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  x ^= x >> 31;
  constexpr char kLetters[] = "abcdefghijklmnopqrstuvwxyz234567";
  std::string s(12, 'a');
  for (char& c : s) {
    c = kLetters[x & 31];
    x >>= 5;
  }
  return s;
}

}  // namespace

std::vector<unsigned char> read_file(const std::string& path, std::string_view who, std::uint64_t max_bytes) {
  if (path.empty()) throw IOError(fmt::format("{}: the path is empty", who));
  // Refused before opening where possible: opening a device can have effects of its own.
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) refuse_non_regular(who, path, st.st_mode);
  // O_NONBLOCK: should a FIFO take the place of the file after the check, opening it does not wait
  // for a writer, and fstat refuses it.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) throw IOError(fmt::format("{}: cannot open '{}': {}", who, shown_path(path), std::strerror(errno)));
  struct Closer {
    int fd;
    ~Closer() { close_fd(fd); }
  } closer{fd};
  if (::fstat(fd, &st) != 0)
    throw IOError(fmt::format("{}: cannot stat '{}': {}", who, shown_path(path), std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) refuse_non_regular(who, path, st.st_mode);
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > max_bytes)
    throw IOError(
        fmt::format("{}: '{}' holds {} bytes, more than the {} accepted here", who, shown_path(path), size, max_bytes));
  std::vector<unsigned char> bytes;
  if (size > bytes.max_size())
    throw IOError(
        fmt::format("{}: '{}' holds {} bytes, more than this process can address", who, shown_path(path), size));
  bytes.resize(static_cast<std::size_t>(size));
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw IOError(fmt::format("{}: error reading '{}': {}", who, shown_path(path), std::strerror(errno)));
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  bytes.resize(got);
  return bytes;
}

AtomicFile::AtomicFile(const std::string& path, std::string_view who) : path_(path), who_(who) {
  if (path.empty()) throw IOError(fmt::format("{}: the path is empty", who_));
  const std::size_t slash = path.find_last_of('/');
  dir_ = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  name_ = slash == std::string::npos ? path : path.substr(slash + 1);
  if (name_.empty() || name_ == "." || name_ == "..")
    throw IOError(fmt::format("{}: '{}' names a directory, not a file", who_, shown_path(path)));
  // The directory is opened once: the temporary is created, renamed and flushed relative to it, so
  // all three happen in the same directory even if its path is renamed meanwhile.
  dir_fd_ = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd_ < 0)
    throw IOError(fmt::format("{}: cannot open the directory '{}' to write '{}': {}", who_, shown_path(dir_),
                              shown_path(path), std::strerror(errno)));
  // Short enough for NAME_MAX (255) whatever the target's name.
  const std::string stem = name_.size() > 200 ? name_.substr(0, 200) : name_;
  int err = 0;
  for (int attempt = 0; attempt < 100; ++attempt) {
    temp_name_ = "." + stem + "." + temporary_suffix(attempt) + ".tmp";
    fd_ = ::openat(dir_fd_, temp_name_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd_ >= 0) break;
    err = errno;
    if (err != EEXIST) break;
  }
  if (fd_ < 0) {
    close_fd(dir_fd_);
    dir_fd_ = -1;
    throw IOError(fmt::format("{}: cannot create a temporary file in '{}' to write '{}': {}", who_, shown_path(dir_),
                              shown_path(path), std::strerror(err)));
  }
  temp_path_ = slash == std::string::npos ? temp_name_ : path.substr(0, slash + 1) + temp_name_;
}

AtomicFile::~AtomicFile() { discard(); }

void AtomicFile::discard() noexcept {
  close_fd(fd_);
  fd_ = -1;
  if (dir_fd_ >= 0 && !temp_name_.empty()) ::unlinkat(dir_fd_, temp_name_.c_str(), 0);
  temp_name_.clear();
  temp_path_.clear();
  close_fd(dir_fd_);
  dir_fd_ = -1;
}

void AtomicFile::fail(const std::string& what, int err) {
  const std::string message = fmt::format("{}: {}: {}", who_, what, std::strerror(err));
  discard();
  throw IOError(message);
}

void AtomicFile::write(std::span<const unsigned char> bytes) {
  if (fd_ < 0) throw IOError(fmt::format("{}: '{}' was already committed or discarded", who_, shown_path(path_)));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      fail(fmt::format("error writing '{}' (for '{}')", shown_path(temp_path_), shown_path(path_)),
           n < 0 ? errno : EIO);
    done += static_cast<std::size_t>(n);
  }
}

void AtomicFile::write(std::string_view text) {
  write(std::span<const unsigned char>(reinterpret_cast<const unsigned char*>(text.data()), text.size()));
}

void AtomicFile::commit() {
  if (fd_ < 0) throw IOError(fmt::format("{}: '{}' was already committed or discarded", who_, shown_path(path_)));
  if (::fsync(fd_) != 0)
    fail(fmt::format("error flushing '{}' (for '{}') to disk", shown_path(temp_path_), shown_path(path_)), errno);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0)
    fail(fmt::format("error writing '{}' (for '{}')", shown_path(temp_path_), shown_path(path_)), errno);
  if (::renameat(dir_fd_, temp_name_.c_str(), dir_fd_, name_.c_str()) != 0)
    fail(fmt::format("cannot rename '{}' to '{}'", shown_path(temp_path_), shown_path(path_)), errno);
  temp_name_.clear();
  temp_path_.clear();
  // The rename is durable only once the directory entry is on disk too.
  const bool synced = ::fsync(dir_fd_) == 0;
  const int err = errno;
  discard();
  if (!synced)
    throw IOError(fmt::format("{}: wrote '{}' but cannot flush its directory '{}' to disk: {}", who_, shown_path(path_),
                              shown_path(dir_), std::strerror(err)));
}

void write_file_atomic(const std::string& path, std::span<const unsigned char> bytes, std::string_view who) {
  AtomicFile file(path, who);
  file.write(bytes);
  file.commit();
}

void write_file_atomic(const std::string& path, std::string_view text, std::string_view who) {
  AtomicFile file(path, who);
  file.write(text);
  file.commit();
}

}  // namespace tg
