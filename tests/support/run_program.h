#pragma once
// What the example-program tests share: running a built binary and reading what it printed.

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace tg::testing {

/// A finished program: its exit status (-1 when it did not exit normally) and its output.
struct Outcome {
  int status = -1;
  std::string out;
};

/// Runs `binary args` with stdin from /dev/null; `out` holds its stdout and stderr together.
inline Outcome run(const std::string& binary, const std::string& args) {
  Outcome r;
  const std::string cmd = binary + " " + args + " 2>&1 </dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, p)) r.out.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

}  // namespace tg::testing
