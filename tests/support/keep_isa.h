#pragma once
// For tests that force a kernel path (tg::set_kernel_isa): puts the path back as it was when the
// test ends, however it ends.

#include <string>

#include <tapegrad/ops/isa.h>

namespace tg::testing {

class KeepIsa {
 public:
  KeepIsa() : saved_(kernel_isa()) {}
  ~KeepIsa() { set_kernel_isa(saved_); }
  KeepIsa(const KeepIsa&) = delete;
  KeepIsa& operator=(const KeepIsa&) = delete;

 private:
  std::string saved_;
};

}  // namespace tg::testing
