// libFuzzer target for the weights-file loader (nn/serialize): any bytes either load into the
// model or are refused with a tg::Error that leaves the model unchanged. Nothing else may happen:
// no crash, no other exception, no sanitizer report, no leak.
//
// The first input byte picks a mode: with its low bit set, the last 8 bytes are replaced by the
// correct checksum before loading, so the fuzzer also reaches the comparison with the model that
// only files with a valid checksum get to.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include <tapegrad/tapegrad.h>

#include <tapegrad/nn/training/serialize.h>

namespace {

tg::Sequential& model() {
  static tg::Sequential m = [] {
    tg::manual_seed(1);
    return tg::Sequential(tg::Input{tg::None, 1}, tg::SimpleRNN(2, {.return_sequences = true}), tg::SimpleRNN(2),
                          tg::Dense(1));
  }();
  return m;
}

std::vector<std::vector<double>> snapshot(const tg::Module& m) {
  std::vector<std::vector<double>> v;
  for (const tg::Tensor& p : m.parameters()) v.push_back(p.to_vector());
  return v;
}

std::uint64_t fnv1a64(const unsigned char* p, std::size_t n) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool fix_checksum = (data[0] & 1) != 0;
  std::vector<unsigned char> bytes(data + 1, data + size);
  if (fix_checksum && bytes.size() >= 8) {
    const std::uint64_t h = fnv1a64(bytes.data(), bytes.size() - 8);
    for (int i = 0; i < 8; ++i)
      bytes[bytes.size() - 8 + static_cast<std::size_t>(i)] = static_cast<unsigned char>(h >> (8 * i));
  }
  tg::Sequential& m = model();
  const auto before = snapshot(m);
  try {
    tg::load_weights_from_bytes(m, bytes, "fuzz input");
  } catch (const tg::Error&) {
    if (snapshot(m) != before) {
      std::fprintf(stderr, "load_weights changed the model and then threw\n");
      std::abort();
    }
    return 0;
  }
  // Loaded: the model must still run (any finite or non-finite weights are the file's business).
  const tg::Tensor y = m(tg::zeros({2, 3, 1}));
  if (y.shape() != tg::Shape{2, 1}) std::abort();
  return 0;
}
