#include <tapegrad/ops/isa.h>

#include <fmt/format.h>

#include <tapegrad/core/error.h>
#include <tapegrad/ops/kernels/denormal.h>
#include <tapegrad/ops/kernels/dispatch.h>

namespace tg {

std::string_view kernel_isa() { return kernels::isa_name(kernels::active_isa()); }

void set_kernel_isa(std::string_view name) {
  const kernels::IsaRequest r = kernels::isa_from_name(name);
  if (!r.ok) throw ValueError(fmt::format("set_kernel_isa: {}", r.error));
  if (r.automatic)
    kernels::set_active_default();
  else
    kernels::set_active_isa(r.isa);
}

std::vector<std::string_view> kernel_isas_available() {
  std::vector<std::string_view> out;
  for (int i = 0; i < kernels::kIsaCount; ++i) {
    const auto isa = static_cast<kernels::Isa>(i);
    if (kernels::isa_compiled(isa) && kernels::isa_runs(isa)) out.push_back(kernels::isa_name(isa));
  }
  return out;
}

bool set_flush_denormal(bool on) {
  if (!TAPEGRAD_HAS_MXCSR) return false;
  return kernels::detail::g_flush_denormal.exchange(on);
}

bool flush_denormal() { return TAPEGRAD_HAS_MXCSR && kernels::detail::g_flush_denormal.load(); }

}  // namespace tg
