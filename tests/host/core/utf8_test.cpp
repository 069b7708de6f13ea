// UTF-8 helpers (host/core/utf8.hpp): quoting a client's bytes in a message so that the message stays valid UTF-8
// and still shows them, and cutting a quoted name short at a character boundary.
#include "core/utf8.hpp"

#include <gtest/gtest.h>

#include <string>

namespace warmup::host {
namespace {

TEST(EscapeInvalidUtf8, ValidTextIsCopiedUnchanged) {
    EXPECT_EQ(escape_invalid_utf8(""), "");
    EXPECT_EQ(escape_invalid_utf8("embed/a"), "embed/a");
    EXPECT_EQ(escape_invalid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
              "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
}

TEST(EscapeInvalidUtf8, EachByteThatBeginsNoValidSequenceIsWrittenAsBackslashXAndItsHexValue) {
    EXPECT_EQ(escape_invalid_utf8("embed/\xff"), "embed/\\xFF");
    EXPECT_EQ(escape_invalid_utf8("\x80\xfe"), "\\x80\\xFE");
    // A truncated sequence: the lead byte is escaped, what follows is read on its own.
    EXPECT_EQ(escape_invalid_utf8("a\xc3"
                                  "b"),
              "a\\xC3b");
    // An overlong form and a UTF-16 surrogate are not UTF-8 either.
    EXPECT_EQ(escape_invalid_utf8("\xc0\xaf"), "\\xC0\\xAF");
    EXPECT_EQ(escape_invalid_utf8("\xed\xa0\x80"), "\\xED\\xA0\\x80");
    // The result is valid UTF-8.
    EXPECT_FALSE(first_invalid_utf8(escape_invalid_utf8("\xff\xc3\xa9\xc3")).has_value());
}

TEST(Utf8Prefix, CutsAtMostMaxBytesAndNeverInsideACharacter) {
    EXPECT_EQ(utf8_prefix("short", 64), "short");
    EXPECT_EQ(utf8_prefix("abcdef", 3), "abc");
    EXPECT_EQ(utf8_prefix("ab\xc3\xa9", 3), "ab");  // "é" does not fit whole
    EXPECT_EQ(utf8_prefix("ab\xc3\xa9", 4), "ab\xc3\xa9");
    EXPECT_EQ(utf8_prefix("a\xf0\x9f\x98\x80"
                          "b",
                          4),
              "a");                                       // a 4-byte character is kept whole or not at all
    EXPECT_EQ(utf8_prefix("a\xff\xff\xff", 2), "a\xff");  // an invalid byte counts as one
}

}  // namespace
}  // namespace warmup::host
