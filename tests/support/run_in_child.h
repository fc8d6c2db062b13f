#pragma once
// For tests of calls that might hang or exhaust memory (reading a FIFO, /dev/zero): runs `f` in a
// forked child and returns the text it returns, or "timed out after N ms" when it does not finish
// in time (the child is then killed), so such a bug fails the test instead of hanging the suite.
// The child may map at most 512 MiB more than the parent had (not under the sanitizers, whose
// shadow memory needs more), so a runaway allocation fails fast with std::bad_alloc.

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>

#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace tg::testing {

inline std::string run_in_child(const std::function<std::string()>& f, std::chrono::milliseconds timeout) {
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  const pid_t pid = ::fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    ::close(fds[0]);
#ifndef TAPEGRAD_SANITIZED
    if (std::FILE* statm = std::fopen("/proc/self/statm", "r")) {
      unsigned long pages = 0;
      if (std::fscanf(statm, "%lu", &pages) == 1) {
        const rlim_t limit = static_cast<rlim_t>(pages) * static_cast<rlim_t>(::sysconf(_SC_PAGESIZE)) + (512ul << 20);
        const rlimit r{limit, limit};
        ::setrlimit(RLIMIT_AS, &r);
      }
      std::fclose(statm);
    }
#endif
    std::string result;
    try {
      result = f();
    } catch (...) {
      result = "an exception escaped";
    }
    std::size_t done = 0;
    while (done < result.size()) {
      const ssize_t n = ::write(fds[1], result.data() + done, result.size() - done);
      if (n <= 0) ::_exit(3);
      done += static_cast<std::size_t>(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;  // the deadline is checked at the top
    char buf[4096];
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;  // the child closed its end: done
    result.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (timed_out) return "timed out after " + std::to_string(timeout.count()) + " ms";
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "the child failed, status " + std::to_string(status);
  return result;
}

}  // namespace tg::testing
