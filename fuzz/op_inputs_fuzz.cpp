// libFuzzer target for hostile arguments to ops and layers: the input bytes choose an op or a layer,
// the shapes (ranks 0..4, sizes 0..5, empty tensors included), the dtypes, the values (NaN and
// infinities included) and the axes or sizes, then run forward and, when it succeeds, backward.
// Every outcome must be a result or a tg::Error: no crash, no other exception, no sanitizer report.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include <tapegrad/tapegrad.h>

namespace {

// Reads the fuzzer's bytes as small numbers; zeros once they run out.
class Bytes {
 public:
  Bytes(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::uint8_t next() { return pos_ < size_ ? data_[pos_++] : 0; }
  int in(int lo, int hi) { return lo + next() % (hi - lo + 1); }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

tg::Shape shape(Bytes& b) {
  tg::Shape s;
  const int rank = b.in(0, 4);
  for (int i = 0; i < rank; ++i) s.push_back(b.in(0, 5));
  return s;
}

tg::Tensor tensor(Bytes& b) {
  const tg::Shape s = shape(b);
  const tg::DType dtype = b.next() % 4 == 0 ? tg::DType::f64 : tg::DType::f32;
  tg::Tensor t = tg::zeros(s, dtype);
  std::vector<double> v(static_cast<std::size_t>(t.numel()));
  for (double& x : v) {
    const std::uint8_t c = b.next();
    x = c == 255   ? std::numeric_limits<double>::quiet_NaN()
        : c == 254 ? std::numeric_limits<double>::infinity()
                   : (c - 128) / 16.0;
  }
  if (!v.empty()) t.copy_from(tg::from_vector(v, s, dtype));
  return t;
}

tg::Sequential& deep_rnn() {
  static tg::Sequential m = [] {
    tg::manual_seed(1);
    return tg::Sequential(tg::Input{tg::None, 1}, tg::SimpleRNN(3, {.return_sequences = true}), tg::SimpleRNN(3),
                          tg::Dense(1));
  }();
  return m;
}

tg::Dense& dense() {
  static tg::Dense d(3, 2);
  return d;
}

tg::TimeDistributed& time_distributed() {
  static tg::TimeDistributed td = [] {
    tg::TimeDistributed t(tg::Dense(2));
    t(tg::zeros({1, 1, 3}));  // built for 3 features
    return t;
  }();
  return td;
}

tg::Tensor run(Bytes& b, int op, const tg::Tensor& x, const tg::Tensor& y) {
  std::vector<tg::Tensor> xy{x, y};
  switch (op) {
    case 0: return deep_rnn()(x);
    case 1: return dense()(x);
    case 2: return time_distributed()(x);
    case 3: return tg::matmul(x, y);
    case 4: return tg::add(x, y);
    case 5: return tg::mul(x, y);
    case 6: return tg::concat(xy, b.in(-5, 5));
    case 7: return tg::stack(xy, b.in(-5, 5));
    case 8: return tg::reshape(x, shape(b));
    case 9: return tg::sum(x, {b.in(-5, 5)}, b.next() & 1);
    case 10: return tg::mean(x, {b.in(-5, 5)});
    case 11: return tg::max(x, b.in(-5, 5));
    case 12: return tg::slice(x, b.in(-5, 5), b.in(-2, 6), b.in(-2, 6));
    case 13: return tg::select(x, b.in(-5, 5), b.in(-6, 6));
    case 14: return tg::transpose(x, b.in(-5, 5), b.in(-5, 5));
    case 15: {
      std::vector<int> dims;
      for (int i = 0, n = b.in(0, 4); i < n; ++i) dims.push_back(b.in(-5, 5));
      return tg::permute(x, dims);
    }
    case 16: return tg::broadcast_to(x, shape(b));
    case 17: return tg::mse(y, x);
    case 18: return tg::linear(x, y, tg::zeros({b.in(0, 5)}, x.dtype()));
    case 19: return tg::max(x);
    case 20: return tg::clamp(tg::tanh(x), b.in(-3, 3), b.in(-3, 3));
    default: return tg::sqrt(tg::abs(x)) / y;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes b(data, size);
  const int op = b.in(0, 21);
  const bool grad = b.next() & 1;
  try {
    tg::Tensor x = tensor(b), y = tensor(b);
    if (grad) x.requires_grad_();
    tg::Tensor out = run(b, op, x, y);
    if (out.defined() && (grad || op <= 2)) tg::sum(out).backward();
  } catch (const tg::Error&) {
  }
  return 0;
}
