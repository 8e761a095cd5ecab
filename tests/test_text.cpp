// Name rules and printable text (src/io/text.hpp).
#include <gtest/gtest.h>

#include "io/text.hpp"

using namespace deltacodec;

TEST(Text, Utf8) {
    EXPECT_TRUE(is_valid_utf8(""));
    EXPECT_TRUE(is_valid_utf8("layer.0.weight"));
    EXPECT_TRUE(is_valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
    EXPECT_FALSE(is_valid_utf8("\xc3"));              // truncated
    EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
    EXPECT_FALSE(is_valid_utf8("\xe0\x80\xaf"));      // overlong
    EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate U+D800
    EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // > U+10FFFF
    EXPECT_FALSE(is_valid_utf8("\xff"));
    EXPECT_FALSE(is_valid_utf8("a\x80"));
}

TEST(Text, TensorNames) {
    EXPECT_EQ(tensor_name_problem("model.layers.0.mlp.up_proj.weight"), "");
    EXPECT_NE(tensor_name_problem(""), "");
    EXPECT_NE(tensor_name_problem(std::string("a\0b", 3)), "");
    EXPECT_NE(tensor_name_problem("\xff"), "");
    EXPECT_NE(tensor_name_problem(std::string(65536, 'a')), "");
    EXPECT_EQ(tensor_name_problem(std::string(65535, 'a')), "");
}

TEST(Text, RelativePaths) {
    EXPECT_EQ(relative_path_problem("config.json"), "");
    EXPECT_EQ(relative_path_problem("tokenizer/vocab.json"), "");
    for (const char* bad : {"", "/etc/passwd", "a//b", "a/", "../x", "a/../b", ".", "a\\b", "x\xff"})
        EXPECT_NE(relative_path_problem(bad), "") << bad;
    EXPECT_NE(relative_path_problem(std::string("a\0b", 3)), "");
    EXPECT_NE(relative_path_problem(std::string(256, 'a')), "");
}

TEST(Text, Printable) {
    EXPECT_EQ(printable("plain.name"), "plain.name");
    EXPECT_EQ(printable("a\x1b[2Jb"), "a\\x1b[2Jb");
    EXPECT_EQ(printable("line\nbreak"), "line\\x0abreak");
    EXPECT_EQ(printable("\xc2\x9b"
                        "31m"),
              "\\xc2\\x9b31m");  // C1 CSI
    EXPECT_EQ(printable("caf\xc3\xa9"), "caf\xc3\xa9");
    EXPECT_EQ(printable("bad\xff"), "bad\\xff");
}
