// libFuzzer target for the safetensors reader (nn/training/safetensors.h) and the torch name map
// (nn/recurrent/torch_names.h): any bytes either load into the model or are refused with a
// tg::Error that leaves the model unchanged. Nothing else may happen: no crash, no other
// exception, no sanitizer report, no leak, no allocation the file's size does not pay for.
//
// The first input byte picks a mode: bit 0 loads the rest by tapegrad's parameter names
// (load_safetensors), otherwise by torch.nn names (load_torch_safetensors). The seeds
// (scripts/make_fuzz_corpus.py) hold both kinds of file for the target's model.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include <tapegrad/tapegrad.h>

#include <tapegrad/nn/recurrent/torch_names.h>
#include <tapegrad/nn/training/safetensors.h>

namespace {

// Parameters "simple_rnn.cell.*", "lstm.cell.*", "dense.*"; torch "0.*_l0", "1.*_l0", "2.weight", "2.bias".
tg::Sequential& model() {
  static tg::Sequential m = [] {
    tg::manual_seed(1);
    return tg::Sequential(tg::Input{tg::None, 1}, tg::SimpleRNN(2, {.return_sequences = true}), tg::LSTM(2),
                          tg::Dense(1));
  }();
  return m;
}

// The parameters' bytes: compared bit for bit, so that NaN weights a previous input loaded still
// compare equal to themselves.
std::vector<unsigned char> snapshot(const tg::Module& m) {
  std::vector<unsigned char> v;
  for (const tg::Tensor& p : m.parameters()) {
    const auto* b = static_cast<const unsigned char*>(p.raw_data());
    v.insert(v.end(), b, b + static_cast<std::size_t>(p.numel()) * tg::dtype_size(p.dtype()));
  }
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool native = (data[0] & 1) != 0;
  const std::span<const unsigned char> bytes(data + 1, size - 1);
  tg::Sequential& m = model();
  const auto before = snapshot(m);
  try {
    if (native)
      tg::load_safetensors_from_bytes(m, bytes, "fuzz input");
    else
      tg::load_torch_safetensors_from_bytes(m, bytes, "fuzz input");
  } catch (const tg::Error&) {
    if (snapshot(m) != before) {
      std::fprintf(stderr, "loading safetensors changed the model and then threw\n");
      std::abort();
    }
    return 0;
  }
  // Loaded: the model must still run (any finite or non-finite weights are the file's business).
  const tg::Tensor y = m(tg::zeros({2, 3, 1}));
  if (y.shape() != tg::Shape{2, 1}) std::abort();
  return 0;
}
