#include <gtest/gtest.h>

#include <string>

#include <tapegrad/core/error.h>

namespace tg {
namespace {

TEST(EscapeForMessage, PrintableAsciiAndWellFormedUtf8StayAsTheyAre) {
  EXPECT_EQ(escape_for_message("0.cell.recurrent_kernel"), "0.cell.recurrent_kernel");
  EXPECT_EQ(escape_for_message("poids d'entr\xc3\xa9"
                               "e \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x8e\x89"),
            "poids d'entr\xc3\xa9"
            "e \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x8e\x89");
  EXPECT_EQ(escape_for_message(""), "");
}

TEST(EscapeForMessage, ControlCharactersAndTheBackslashAreEscaped) {
  EXPECT_EQ(escape_for_message("a\nb\tc"), "a\\x0ab\\x09c");
  EXPECT_EQ(escape_for_message(std::string("nul\0x", 5)), "nul\\x00x");
  EXPECT_EQ(escape_for_message("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
  EXPECT_EQ(escape_for_message("del\x7f"), "del\\x7f");
  EXPECT_EQ(escape_for_message("c1 \xc2\x9b"
                               "2J"),
            "c1 \\xc2\\x9b2J");  // U+009B, a CSI
  EXPECT_EQ(escape_for_message("abc\xe2\x80\xae"
                               "fed"),
            "abc\\xe2\\x80\\xaefed");                                  // U+202E, RLO
  EXPECT_EQ(escape_for_message("\xe2\x81\xa6x"), "\\xe2\\x81\\xa6x");  // U+2066, LRI
  EXPECT_EQ(escape_for_message("a\\x41"), "a\\\\x41");                 // a literal \x41 stays distinguishable
}

TEST(EscapeForMessage, BytesThatAreNotWellFormedUtf8AreEscapedOneByOne) {
  EXPECT_EQ(escape_for_message("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(escape_for_message("a\x80"
                               "b"),
            "a\\x80b");                                                       // a lone continuation byte
  EXPECT_EQ(escape_for_message("\xc0\xaf"), "\\xc0\\xaf");                    // overlong '/'
  EXPECT_EQ(escape_for_message("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");           // overlong, 3 bytes
  EXPECT_EQ(escape_for_message("\xed\xa0\x80"), "\\xed\\xa0\\x80");           // a surrogate
  EXPECT_EQ(escape_for_message("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // past U+10FFFF
  EXPECT_EQ(escape_for_message("x\xe2\x82"), "x\\xe2\\x82");                  // cut short at the end
  EXPECT_EQ(escape_for_message("\xe2\x82"
                               "A"),
            "\\xe2\\x82"
            "A");  // cut short by ASCII
}

TEST(EscapeForMessage, LongTextIsCutBeforeACharacterAndSaysItsLength) {
  EXPECT_EQ(escape_for_message(std::string(300, 'a')), std::string(256, 'a') + "... (300 bytes)");
  EXPECT_EQ(escape_for_message(std::string(256, 'a')), std::string(256, 'a'));
  // The two bytes of an e-acute straddle the limit: the cut comes before it.
  EXPECT_EQ(escape_for_message(std::string(255, 'a') + "\xc3\xa9"), std::string(255, 'a') + "... (257 bytes)");
  EXPECT_EQ(escape_for_message("abcdef", 3), "abc... (6 bytes)");
  EXPECT_EQ(escape_for_message("\x01\x02\x03\x04", 2), "\\x01\\x02... (4 bytes)");
}

}  // namespace
}  // namespace tg
