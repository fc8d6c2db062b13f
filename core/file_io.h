#pragma once
/// \file
/// Whole files read and written safely, for every reader and writer of the library (weights,
/// checkpoints, data files, plots).
///
/// Reading (`read_file`) takes regular files only, bounded by their size: a FIFO, a device
/// (`/dev/zero`), a socket or a directory is refused at once with an IOError, without waiting for
/// a writer or reading without end, and a caller can refuse files above a size it states.
///
/// Writing (`AtomicFile`, `write_file_atomic`) replaces a file atomically: the bytes go to a new,
/// uniquely named temporary file in the target's directory (`.<name>.<random>.tmp`, created with
/// O_EXCL | O_NOFOLLOW, so it never opens an existing file or a symbolic link planted at its
/// name), are flushed to disk (fsync), renamed over the target and the directory is flushed too.
/// A reader, another process saving to the same path at the same moment, or the machine after a
/// crash or a power loss sees the old file or the complete new one, never a part; concurrent saves
/// all succeed and the last rename wins. On any failure the temporary is removed. A file the
/// user keeps at `<path>.tmp` is never touched.
///
/// The new file gets the mode a newly created file gets (0666 less the umask: 0644 under the usual
/// umask 022), not the replaced file's. When the target is a symbolic link, the link itself is
/// replaced by the new file and the file it pointed to is left as it was (as rename(2), `mv` and
/// Python's os.replace do): following it would write into a directory the caller did not name,
/// and a link changed during the save could redirect the write.
///
/// Every IOError message starts with the caller's name (`who`), names the path (escaped with
/// escape_for_message) and gives the system's reason.

#include <tapegrad/core/config.h>

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tg {

/// No bound on the size of a file to read but its own.
inline constexpr std::uint64_t kAnyFileSize = std::numeric_limits<std::uint64_t>::max();

/// The bytes of the regular file at `path` (symbolic links to one are followed). Throws IOError
/// when it cannot be opened or read, is not a regular file, or holds more than `max_bytes`; the
/// message starts with `who` (`load_weights: cannot open 'w.tgw': No such file or directory`).
/// Reads at most the size the file had when opened: a file that grows meanwhile is read up to that
/// size, one that shrinks up to its new end.
std::vector<unsigned char> read_file(const std::string& path, std::string_view who,
                                     std::uint64_t max_bytes = kAnyFileSize);

/// A file being written in pieces that replaces `path` atomically on commit() (see the file's
/// documentation). The temporary is created by the constructor and removed by the destructor
/// unless commit() succeeded, so an exception between the two leaves nothing behind.
///
///     AtomicFile f(path, "save_weights");
///     f.write(header);
///     f.write(body);
///     f.commit();  // path now holds header + body
class AtomicFile {
 public:
  /// Creates the temporary in the directory of `path`. IOError when the path is empty or names a
  /// directory (ends in '/'), or the directory cannot be opened or written.
  AtomicFile(const std::string& path, std::string_view who);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  /// Appends `bytes` to the temporary. IOError (the temporary removed) when the write fails.
  void write(std::span<const unsigned char> bytes);
  /// Appends the bytes of `text`.
  void write(std::string_view text);
  /// Flushes the temporary to disk, renames it over the target and flushes the directory.
  /// IOError when any step fails; the temporary is removed and the target is the old file,
  /// except when only the final flush of the directory fails (the message says so).
  void commit();

  /// The temporary's path, while it exists (for tests and messages).
  const std::string& temporary_path() const { return temp_path_; }

 private:
  void discard() noexcept;
  [[noreturn]] void fail(const std::string& what, int err);

  std::string path_, who_, dir_, name_, temp_name_, temp_path_;
  int dir_fd_ = -1;
  int fd_ = -1;
};

/// Replaces the file at `path` with `bytes` atomically (an AtomicFile written once).
void write_file_atomic(const std::string& path, std::span<const unsigned char> bytes, std::string_view who);
/// Replaces the file at `path` with `text` atomically.
void write_file_atomic(const std::string& path, std::string_view text, std::string_view who);

}  // namespace tg
