// core/utf8.h: the one reading of well-formed UTF-8 behind error messages, JSON and safetensors.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include <tapegrad/core/utf8.h>

namespace {

using namespace std::string_view_literals;

TEST(Utf8, SequenceLengthsFollowUnicodeTable3_7) {
  EXPECT_EQ(tg::utf8_sequence_length("a", 0), 1u);
  EXPECT_EQ(tg::utf8_sequence_length("\xc3\xa9", 0), 2u);          // é
  EXPECT_EQ(tg::utf8_sequence_length("\xe2\x82\xac", 0), 3u);      // €
  EXPECT_EQ(tg::utf8_sequence_length("\xf0\x9f\x98\x80", 0), 4u);  // U+1F600
  EXPECT_EQ(tg::utf8_sequence_length("\xf4\x8f\xbf\xbf", 0), 4u);  // U+10FFFF, the last
}

TEST(Utf8, IllFormedSequencesHaveNoLength) {
  EXPECT_EQ(tg::utf8_sequence_length("\x80", 0), 0u);              // a stray continuation byte
  EXPECT_EQ(tg::utf8_sequence_length("\xc0\xaf", 0), 0u);          // overlong '/'
  EXPECT_EQ(tg::utf8_sequence_length("\xe0\x9f\xbf", 0), 0u);      // overlong, three bytes
  EXPECT_EQ(tg::utf8_sequence_length("\xed\xa0\x80", 0), 0u);      // a surrogate, U+D800
  EXPECT_EQ(tg::utf8_sequence_length("\xf0\x8f\xbf\xbf", 0), 0u);  // overlong, four bytes
  EXPECT_EQ(tg::utf8_sequence_length("\xf4\x90\x80\x80", 0), 0u);  // past U+10FFFF
  EXPECT_EQ(tg::utf8_sequence_length("\xf5\x80\x80\x80", 0), 0u);
  EXPECT_EQ(tg::utf8_sequence_length("\xe2\x82", 0), 0u);      // cut short by the end
  EXPECT_EQ(tg::utf8_sequence_length("\xe2\x28\xac", 0), 0u);  // a non-continuation inside
}

TEST(Utf8, ValidWholeStrings) {
  EXPECT_TRUE(tg::valid_utf8(""));
  EXPECT_TRUE(tg::valid_utf8("dense_1/kernel \xc3\xa9\xe2\x82\xac"));
  EXPECT_FALSE(tg::valid_utf8("ok\xff"));
  EXPECT_FALSE(tg::valid_utf8("\xed\xbf\xbf"));
}

TEST(Utf8, AppendWritesEachLengthAndReadsBack) {
  for (char32_t cp : {U'\x41', U'\xe9', U'\x20ac', U'\x1f600', U'\x10ffff'}) {
    std::string s;
    tg::append_utf8(s, cp);
    ASSERT_EQ(tg::utf8_sequence_length(s, 0), s.size()) << static_cast<unsigned>(cp);
    EXPECT_TRUE(tg::valid_utf8(s));
  }
  std::string s;
  tg::append_utf8(s, U'\x20ac');
  EXPECT_EQ(s, "\xe2\x82\xac"sv);
}

}  // namespace
