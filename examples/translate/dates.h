#pragma once
// Dates written in words ("April 22, 2019", "22 April 2019", "Apr 22 2019") and their ISO form
// ("2019-04-22"), generated in code, encoded one character a step.

#include <cstdint>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

namespace dates {

inline const char* const kMonths[12] = {"January", "February", "March",     "April",   "May",      "June",
                                        "July",    "August",   "September", "October", "November", "December"};

/// Characters of the written dates; id 0 is padding, so character i of kInputChars has id i + 1.
inline const std::string kInputChars = " ,0123456789ADFJMNOSabceghilmnoprstuvy";
/// Characters of the ISO dates, the decoder's classes; the decoder's input has one more id, the
/// start token.
inline const std::string kOutputChars = "0123456789-";
inline constexpr std::int64_t kInputLength = 18;   // "September 30, 2019"
inline constexpr std::int64_t kOutputLength = 10;  // "2019-04-22"
inline constexpr std::int64_t kInputIds = 39;      // padding + kInputChars
inline constexpr std::int64_t kClasses = 11;
inline constexpr std::int64_t kStart = 11;  // the decoder's start token
inline constexpr std::int64_t kDecoderIds = 12;

struct Example {
  std::string text, iso;
};

inline bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
inline int days_in(int y, int m) {
  static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : days[m - 1];
}

/// `n` random dates from 1950 to 2049, each in one of the three written forms.
inline std::vector<Example> generate(std::int64_t n, tg::Generator& g) {
  std::vector<Example> out;
  out.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const int y = 1950 + static_cast<int>(g.below(100));
    const int m = 1 + static_cast<int>(g.below(12));
    const int d = 1 + static_cast<int>(g.below(static_cast<std::uint64_t>(days_in(y, m))));
    const std::string month = kMonths[m - 1];
    std::string text;
    switch (g.below(3)) {
      case 0: text = month + " " + std::to_string(d) + ", " + std::to_string(y); break;
      case 1: text = std::to_string(d) + " " + month + " " + std::to_string(y); break;
      default: text = month.substr(0, 3) + " " + std::to_string(d) + " " + std::to_string(y); break;
    }
    auto two = [](int v) { return std::string(v < 10 ? "0" : "") + std::to_string(v); };
    out.push_back({text, std::to_string(y) + "-" + two(m) + "-" + two(d)});
  }
  return out;
}

/// One-hot [N, kInputLength + extra_steps, kInputIds]: the text padded at the front (padding id 0
/// one-hot too), followed by `extra_steps` all-zero steps.
inline tg::Tensor encode_inputs(const std::vector<Example>& ex, std::int64_t extra_steps = 0) {
  const std::int64_t steps = kInputLength + extra_steps;
  tg::Tensor x = tg::zeros({static_cast<std::int64_t>(ex.size()), steps, kInputIds});
  float* p = x.data<float>();
  for (std::size_t i = 0; i < ex.size(); ++i) {
    const std::string& s = ex[i].text;
    const auto pad = kInputLength - static_cast<std::int64_t>(s.size());
    for (std::int64_t t = 0; t < kInputLength; ++t) {
      std::int64_t id = 0;
      if (t >= pad) id = static_cast<std::int64_t>(kInputChars.find(s[static_cast<std::size_t>(t - pad)])) + 1;
      p[(static_cast<std::int64_t>(i) * steps + t) * kInputIds + id] = 1.0f;
    }
  }
  return x;
}

/// Class ids [N, kOutputLength] of the ISO dates.
inline tg::Tensor encode_targets(const std::vector<Example>& ex) {
  tg::Tensor y = tg::zeros({static_cast<std::int64_t>(ex.size()), kOutputLength});
  float* p = y.data<float>();
  for (std::size_t i = 0; i < ex.size(); ++i)
    for (std::int64_t t = 0; t < kOutputLength; ++t)
      p[static_cast<std::int64_t>(i) * kOutputLength + t] =
          static_cast<float>(kOutputChars.find(ex[i].iso[static_cast<std::size_t>(t)]));
  return y;
}

/// Teacher forcing: the decoder reads the start token, then the true output shifted by one step,
/// one-hot [N, kOutputLength, kDecoderIds].
inline tg::Tensor decoder_inputs(const tg::Tensor& targets) {
  const std::int64_t n = targets.size(0);
  tg::Tensor d = tg::zeros({n, kOutputLength, kDecoderIds});
  float* p = d.data<float>();
  const float* t = targets.data<float>();
  for (std::int64_t i = 0; i < n; ++i) {
    p[(i * kOutputLength) * kDecoderIds + kStart] = 1.0f;
    for (std::int64_t s = 1; s < kOutputLength; ++s)
      p[(i * kOutputLength + s) * kDecoderIds + static_cast<std::int64_t>(t[i * kOutputLength + s - 1])] = 1.0f;
  }
  return d;
}

/// The characters of class ids (one row of a [N, kOutputLength] tensor).
inline std::string decode(const tg::Tensor& ids, std::int64_t row) {
  std::string s;
  for (std::int64_t t = 0; t < kOutputLength; ++t) s += kOutputChars[static_cast<std::size_t>(ids.at({row, t}))];
  return s;
}

}  // namespace dates
