// The JSON readers against hostile input (issue 7): the bounded SAX layer, the
// safetensors header (each SafeTensorError of the reference reader, and the
// differentials the audit found), the shard index, the .dcx HEADER and END.
// Every input that once crashed, ran for minutes or ballooned is refused (or read)
// here quickly, with an Error; none of these tests measures time.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "deltacodec/deltacodec.hpp"
#include "deltacodec/error.hpp"
#include "format/header.hpp"
#include "io/checkpoint.hpp"
#include "io/index_json.hpp"
#include "io/json_sax.hpp"
#include "io/safetensors.hpp"
#include "testutil.hpp"

using namespace deltacodec;
using namespace testutil;

namespace {

constexpr size_t kDeep = 150'000;  // the audit's depth: overflowed the stack before

std::string deep_array(size_t n) { return std::string(n, '[') + std::string(n, ']'); }

// Counts what it sees; descends into everything.
struct CountingHandler final : jsonsax::Handler {
    size_t begins = 0, keys = 0, scalars = 0, ends = 0;
    bool descend = true;
    bool begin(jsonsax::Parser&, bool) override {
        ++begins;
        return descend;
    }
    void key(jsonsax::Parser&, std::string_view) override { ++keys; }
    void scalar(jsonsax::Parser&, const jsonsax::Scalar&) override { ++scalars; }
    void end(jsonsax::Parser&, bool) override { ++ends; }
};

// The Error message of parsing `text` with `h`, or "" when accepted.
std::string sax_error(const std::string& text, jsonsax::Handler& h, const jsonsax::Limits& lim = {}) {
    try {
        jsonsax::parse(text.data(), text.size(), h, lim, "doc: ");
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}
std::string sax_error(const std::string& text) {
    CountingHandler h;
    return sax_error(text, h);
}

}  // namespace

// ---------------------------------------------------------------- the SAX layer

TEST(JsonSax, DeepNestingIsRefusedWithoutRecursion) {
    // 150,000 levels: a SIGSEGV through nlohmann's recursive DOM destructor before.
    const std::string e = sax_error(deep_array(kDeep));
    EXPECT_NE(e.find("nested deeper than 64 levels"), std::string::npos) << e;
    EXPECT_EQ(e.rfind("doc: ", 0), 0u) << e;
    // Inside skipped containers too.
    CountingHandler skip;
    skip.descend = false;
    EXPECT_NE(sax_error("{\"a\": " + deep_array(kDeep) + "}", skip).find("nested deeper"), std::string::npos);
    EXPECT_EQ(sax_error(deep_array(64)), "");
    EXPECT_NE(sax_error(deep_array(65)), "");
}

TEST(JsonSax, OnlyOneValueAndWhitespace) {
    EXPECT_EQ(sax_error("{} \t\r\n "), "");
    // nlohmann stops at a NUL ("end of input"): what follows it was never looked at.
    EXPECT_NE(sax_error(std::string("{}\0garbage", 10)).find("NUL byte at byte 2"), std::string::npos);
    EXPECT_NE(sax_error(std::string("{\"a\": \"x\0y\"}", 12)), "");
    EXPECT_NE(sax_error("{} x"), "");
    EXPECT_NE(sax_error("{}{}"), "");
    EXPECT_NE(sax_error("\xEF\xBB\xBF{}").find("byte-order mark"), std::string::npos);
    EXPECT_NE(sax_error(""), "");
    EXPECT_NE(sax_error("{\"a\": 1} /* comment */"), "");
    EXPECT_NE(sax_error("{\"a\": \"\xff\"}"), "");     // not UTF-8
    EXPECT_NE(sax_error("{\"a\": \"\\ud800\"}"), "");  // lone surrogate
    EXPECT_NE(sax_error("[1e999]"), "");               // not finite
}

TEST(JsonSax, DuplicateKeysAnywhereAndThePathOfAnError) {
    EXPECT_NE(sax_error("{\"a\": 1, \"a\": 2}").find("key 'a' appears twice"), std::string::npos);
    // In a skipped object, deep inside: still found, and the message says where.
    CountingHandler skip;
    skip.descend = false;
    const std::string e = sax_error("{\"x\": [0, {\"k\": 1, \"k\": 2}]}", skip);
    EXPECT_NE(e.find("key 'k' appears twice (at $[\"x\"][1][\"k\"])"), std::string::npos) << e;
    // Same key in sibling objects is fine; a key freed by a closed object can come back outside.
    EXPECT_EQ(sax_error("[{\"a\": 1}, {\"a\": 2}, {\"b\": {\"a\": 1}, \"a\": 3}]"), "");
    // Many keys: linear (seeded hash table), each checked.
    std::string big = "{";
    for (int i = 0; i < 200000; ++i) big += (i ? ",\"" : "\"") + std::to_string(i) + "\":0";
    EXPECT_EQ(sax_error(big + "}"), "");
    EXPECT_NE(sax_error(big + ",\"199999\":1}").find("appears twice"), std::string::npos);
}

TEST(JsonSax, LimitsAndSkipping) {
    jsonsax::Limits lim;
    lim.max_key = 3;
    lim.max_string = 4;
    lim.max_members = 2;
    CountingHandler h;
    EXPECT_EQ(sax_error("{\"abc\": \"abcd\", \"b\": [1, 2]}", h, lim), "");
    EXPECT_NE(sax_error("{\"abcd\": 1}", h, lim).find("key of 4 bytes"), std::string::npos);
    EXPECT_NE(sax_error("[\"abcde\"]", h, lim).find("string of 5 bytes"), std::string::npos);
    EXPECT_NE(sax_error("[1, 2, 3]", h, lim).find("more than 2 elements"), std::string::npos);
    // A skipped container's contents reach nobody.
    CountingHandler skip;
    skip.descend = false;
    EXPECT_EQ(sax_error("{\"a\": [1, 2, {\"b\": 3}]}", skip), "");
    EXPECT_EQ(skip.begins, 1u);
    EXPECT_EQ(skip.keys + skip.scalars + skip.ends, 0u);
}

TEST(JsonSax, StringSet) {
    jsonsax::StringSet s;
    for (int i = 0; i < 10000; ++i) EXPECT_TRUE(s.insert("n" + std::to_string(i)));
    for (int i = 0; i < 10000; ++i) EXPECT_FALSE(s.insert("n" + std::to_string(i)));
    EXPECT_TRUE(s.insert(""));
    EXPECT_FALSE(s.insert(""));
    EXPECT_EQ(s.size(), 10001u);
}

// ---------------------------------------------------------------- safetensors

namespace {

class StReader : public ::testing::Test {
protected:
    TempDir dir;
    std::string write(const std::vector<uint8_t>& bytes) {
        const std::string p = dir / "t.safetensors";
        write_bytes(p, bytes);
        return p;
    }
    std::string write(const std::string& header, size_t data_bytes) {
        return write(raw_safetensors(header, std::vector<uint8_t>(data_bytes, 0)));
    }
    // The Error message, or "" if the file was accepted.
    std::string error_of(const std::vector<uint8_t>& bytes) {
        try {
            SafetensorsFile::open(write(bytes));
        } catch (const Error& e) {
            const std::string m = e.what();
            EXPECT_NE(m.find("t.safetensors: not a valid safetensors file: "), std::string::npos) << m;
            return m;
        }
        return "";
    }
    std::string error_of(const std::string& header, size_t data_bytes) {
        return error_of(raw_safetensors(header, std::vector<uint8_t>(data_bytes, 0)));
    }
    static std::string entry(const std::string& name, const std::string& dtype, const std::string& shape, uint64_t b,
                             uint64_t e) {
        return "\"" + name + "\": {\"dtype\": \"" + dtype + "\", \"shape\": " + shape + ", \"data_offsets\": [" +
               std::to_string(b) + ", " + std::to_string(e) + "]}";
    }
};

}  // namespace

// One test per SafeTensorError variant of huggingface/safetensors that a reader can
// meet (InvalidTensorView, JsonError and IoError's other causes are the writer's or
// the view constructor's).

TEST_F(StReader, Reference_HeaderTooSmall) {
    EXPECT_NE(error_of(std::vector<uint8_t>{1, 0, 0, 0, 0, 0, 0}), "");
    EXPECT_NE(error_of(std::vector<uint8_t>{}), "");
}

TEST_F(StReader, Reference_HeaderTooLarge) {
    EXPECT_NE(error_of(raw_safetensors("{}", {}, 100'000'001)).find("over the limit"), std::string::npos);
    EXPECT_NE(error_of(raw_safetensors("{}", {}, UINT64_MAX)), "");
}

TEST_F(StReader, Reference_InvalidHeaderLength) {
    EXPECT_NE(error_of(raw_safetensors("{}", {}, 3)).find("past the end"), std::string::npos);
    EXPECT_NE(error_of(raw_safetensors("{}      ", {}, 100)), "");
}

TEST_F(StReader, Reference_InvalidHeader) {  // not UTF-8
    EXPECT_NE(error_of("{\"\xc3\x28\": {\"dtype\": \"U8\", \"shape\": [0], \"data_offsets\": [0, 0]}}", 0), "");
    EXPECT_NE(error_of("{\"__metadata__\": {\"k\": \"\xed\xa0\x80\"}}", 0), "");  // a surrogate
}

TEST_F(StReader, Reference_InvalidHeaderStart) {
    EXPECT_NE(error_of(" {}     ", 0).find("does not start with '{'"), std::string::npos);
    EXPECT_NE(error_of("[]      ", 0).find("does not start with '{'"), std::string::npos);
    EXPECT_NE(error_of("", 0).find("does not start with '{'"), std::string::npos);
    // A UTF-8 byte-order mark (nlohmann skipped it: a differential).
    EXPECT_NE(error_of("\xEF\xBB\xBF{}   ", 0), "");
}

TEST_F(StReader, Reference_InvalidHeaderDeserialization) {
    EXPECT_NE(error_of("{\"a\": ", 0), "");
    EXPECT_NE(error_of("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}} x", 4), "");
    // A NUL ends nlohmann's input: garbage after it went unseen (a differential).
    EXPECT_NE(error_of(std::string("{}\0\x01garbage", 11), 0), "");
    EXPECT_NE(error_of(std::string("{}\0     ", 8), 0), "");
    // A field twice in one entry: serde refuses it (a differential: nlohmann kept the last).
    EXPECT_NE(error_of("{\"a\": {\"dtype\": \"F32\", \"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4)
                  .find("appears twice"),
              std::string::npos);
    EXPECT_NE(error_of("{\"a\": {\"dtype\": \"U8\", \"shape\": [1], \"shape\": [1], \"data_offsets\": [0, 1]}}", 1),
              "");
    EXPECT_NE(error_of("{\"__metadata__\": {\"k\": \"a\", \"k\": \"b\"}}", 0), "");
    // Types serde's TensorInfo refuses.
    EXPECT_NE(error_of("{\"a\": {\"dtype\": \"F32\", \"shape\": [1.0], \"data_offsets\": [0, 4]}}", 4), "");
    EXPECT_NE(error_of("{\"a\": {\"dtype\": \"F32\", \"shape\": [-0], \"data_offsets\": [0, 0]}}", 0), "");
    EXPECT_NE(error_of("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4, 4]}}", 4), "");
    EXPECT_NE(error_of("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", 4), "");
    EXPECT_NE(error_of("{\"a\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4).find("lacks"), std::string::npos);
    EXPECT_NE(error_of("{\"a\": {\"dtype\": \"F99\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4), "");
    EXPECT_NE(error_of("{\"__metadata__\": {\"k\": 1}}", 0), "");
    EXPECT_NE(error_of("{\"__metadata__\": []}", 0), "");
    EXPECT_NE(error_of("{\"__metadata__\": \"x\"}", 0), "");
}

TEST_F(StReader, Reference_TensorNotFound) {
    const std::string p = write("{" + entry("a", "U8", "[1]", 0, 1) + "}", 1);
    const SafetensorsFile f = SafetensorsFile::open(p);
    EXPECT_NE(f.find("a"), nullptr);
    EXPECT_EQ(f.find("b"), nullptr);
    EXPECT_EQ(f.find(""), nullptr);
}

TEST_F(StReader, Reference_TensorInvalidInfo) {
    EXPECT_NE(error_of("{" + entry("a", "F32", "[3]", 0, 8) + "}", 8).find("need 12"), std::string::npos);
    EXPECT_NE(error_of("{" + entry("a", "F4", "[4]", 0, 4) + "}", 4).find("need 2"), std::string::npos);
}

TEST_F(StReader, Reference_InvalidOffset) {
    EXPECT_NE(
        error_of("{" + entry("a", "U8", "[2]", 0, 2) + ", " + entry("b", "U8", "[2]", 1, 3) + "}", 3).find("overlaps"),
        std::string::npos);
    EXPECT_NE(error_of("{" + entry("a", "U8", "[2]", 1, 3) + "}", 3).find("gap"), std::string::npos);
    EXPECT_NE(error_of("{\"a\": {\"dtype\": \"U8\", \"shape\": [0], \"data_offsets\": [2, 1]}}", 2).find("reversed"),
              std::string::npos);
}

TEST_F(StReader, Reference_MetadataIncompleteBuffer) {
    EXPECT_NE(error_of("{" + entry("a", "U8", "[2]", 0, 2) + "}", 3).find("trailing bytes"), std::string::npos);
    EXPECT_NE(error_of("{" + entry("a", "U8", "[2]", 0, 2) + "}", 1).find("past the end"), std::string::npos);
}

TEST_F(StReader, Reference_ValidationOverflow) {
    EXPECT_NE(error_of("{" + entry("a", "U8", "[4294967296, 4294967296]", 0, 0) + "}", 0).find("overflows"),
              std::string::npos);
    // numel fits, numel × bits does not.
    EXPECT_NE(error_of("{" + entry("a", "F4", "[4611686018427387904]", 0, 0) + "}", 0).find("overflows"),
              std::string::npos);
    EXPECT_NE(error_of("{" + entry("a", "F64", "[2305843009213693952]", 0, 0) + "}", 0).find("overflows"),
              std::string::npos);
}

TEST_F(StReader, Reference_MisalignedSlice) {
    // 3 × 4 bits and 3 × 6 bits are not whole bytes.
    EXPECT_NE(error_of("{" + entry("a", "F4", "[3]", 0, 2) + "}", 2).find("not a whole number of bytes"),
              std::string::npos);
    EXPECT_NE(error_of("{" + entry("a", "F6_E2M3", "[3]", 0, 3) + "}", 3).find("not a whole number of bytes"),
              std::string::npos);
}

TEST_F(StReader, AcceptedAsTheReferenceAccepts) {
    // "__metadata__": null is no metadata (it was refused).
    {
        const SafetensorsFile f = SafetensorsFile::open(write("{\"__metadata__\": null}", 0));
        EXPECT_FALSE(f.metadata().has_value());
    }
    // The newer dtypes, whole-byte and packed; unknown fields skipped; whitespace padding.
    const std::string h = "{" + entry("e8", "F8_E8M0", "[2]", 0, 2) + ", " + entry("f4", "F4", "[2, 3]", 2, 5) + ", " +
                          entry("f6a", "F6_E2M3", "[4]", 5, 8) + ", " + entry("f6b", "F6_E3M2", "[8]", 8, 14) + ", " +
                          entry("c", "C64", "[1]", 14, 22) +
                          ", \"z\": {\"dtype\": \"U8\", \"extra\": {\"x\": [1, {}]}, \"shape\": [], "
                          "\"data_offsets\": [22, 23]}} \t\r\n   ";
    const SafetensorsFile f = SafetensorsFile::open(write(h, 23));
    ASSERT_EQ(f.tensors().size(), 6u);
    EXPECT_EQ(f.find("f4")->dtype, DType::F4);
    EXPECT_EQ(f.find("f4")->nbytes(), 3u);
    EXPECT_EQ(f.find("f6b")->dtype, DType::F6_E3M2);
    EXPECT_EQ(f.find("c")->dtype, DType::C64);
    EXPECT_EQ(f.find("e8")->dtype, DType::F8_E8M0);
    EXPECT_EQ(f.find("z")->shape, Shape{});
}

TEST_F(StReader, RefusedBeyondTheReference) {
    // A tensor name twice (serde keeps the last: ambiguous, so refused).
    EXPECT_NE(error_of("{" + entry("a", "U8", "[1]", 0, 1) + ", " + entry("a", "U8", "[1]", 1, 2) + "}", 2)
                  .find("appears twice"),
              std::string::npos);
    // More dimensions than a .dcx can hold.
    std::string shape = "[";
    for (int i = 0; i < 256; ++i) shape += i ? ",1" : "1";
    EXPECT_NE(error_of("{" + entry("a", "U8", shape + "]", 0, 1) + "}", 1).find("more than 255"), std::string::npos);
    EXPECT_EQ(error_of("{" + entry("a", "U8", shape.substr(0, shape.size() - 2) + "]", 0, 1) + "}", 1), "");
}

TEST_F(StReader, DeepNestingIsRefused) {
    // In an unknown field of an entry, in __metadata__, as an entry, as the shape.
    for (const std::string& h :
         {"{\"a\": {\"x\": " + deep_array(kDeep) + ", \"dtype\": \"U8\", \"shape\": [], \"data_offsets\": [0, 1]}}",
          "{\"__metadata__\": {\"k\": " + deep_array(kDeep) + "}}", "{\"a\": " + deep_array(kDeep) + "}",
          "{\"a\": {\"dtype\": \"U8\", \"shape\": " + deep_array(kDeep) + ", \"data_offsets\": [0, 1]}}"}) {
        EXPECT_NE(error_of(h, 1), "");
    }
    EXPECT_NE(error_of("{\"a\": {\"x\": " + deep_array(kDeep) + "}}", 1).find("nested deeper than 64"),
              std::string::npos);
}

TEST_F(StReader, MetadataEntriesAreCapped) {
    // 65,536 entries are kept; one more is refused (each entry costs ~112 bytes of map beyond its text).
    std::string md = "{\"__metadata__\": {";
    for (size_t i = 0; i < kMaxMetadataEntries; ++i) md += (i ? ",\"" : "\"") + std::to_string(i) + "\":\"\"";
    const SafetensorsFile f = SafetensorsFile::open(write(md + "}}", 0));
    EXPECT_EQ(f.metadata()->size(), kMaxMetadataEntries);
    EXPECT_NE(error_of(md + ",\"x\":\"\"}}", 0).find("more than 65536 entries"), std::string::npos);
}

TEST_F(StReader, HundredThousandTensorsParseAndRebuild) {
    // Quadratic before: 40,000 tensors took 85 s to read, 200,000 over 3 min to rebuild.
    std::vector<TensorSpec> specs;
    for (int i = 0; i < 100000; ++i) specs.push_back({"layer." + std::to_string(i) + ".w", DType::U8, {0}});
    specs.push_back({"last", DType::U8, {3}});
    const std::string h = safetensors_header(specs, Metadata{{"format", "pt"}});
    const SafetensorsFile f = SafetensorsFile::open(write(h, 3));
    ASSERT_EQ(f.tensors().size(), specs.size());
    EXPECT_EQ(f.find("last")->nbytes(), 3u);
    EXPECT_NE(f.find("layer.99999.w"), nullptr);
    std::vector<TensorSpec> again;
    for (const TensorSpec& s : specs) {
        const TensorInfo* t = f.find(s.name);
        again.push_back({t->name, t->dtype, t->shape});
    }
    EXPECT_EQ(safetensors_header(again, f.metadata()), h);
}

TEST(SafetensorsWriter, HeaderBytesAsNlohmannWroteThem) {
    // The v1.0 writer (nlohmann::ordered_json), kept here as the reference for the text builder.
    auto old_header = [](const std::vector<TensorSpec>& tensors, const std::optional<Metadata>& metadata) {
        nlohmann::ordered_json h = nlohmann::ordered_json::object();
        if (metadata) {
            nlohmann::ordered_json md = nlohmann::ordered_json::object();
            for (const auto& [k, v] : *metadata) md[k] = v;
            h["__metadata__"] = md;
        }
        uint64_t pos = 0;
        for (const TensorSpec& t : tensors) {
            const uint64_t nb = shape_numel(t.shape) * dtype_size(t.dtype);
            h[t.name] = {
                {"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape}, {"data_offsets", {pos, pos + nb}}};
            pos += nb;
        }
        std::string s = h.dump();
        while (s.size() % 8) s.push_back(' ');
        return s;
    };
    const std::vector<TensorSpec> specs = {{"a \"quoted\" \\ name\x01\x1f\x7f", DType::F32, {2, 3}},
                                           {"\xc3\xa9t\xc3\xa9/\xe2\x82\xac", DType::BF16, {}},
                                           {"z", DType::I64, {0, 5, 7}},
                                           {"\t\n", DType::U8, {(uint64_t{1} << 61) - 1}}};
    for (const auto& md : {std::optional<Metadata>{}, std::optional<Metadata>{Metadata{}},
                           std::optional<Metadata>{Metadata{{"b", "\"x\"\n"}, {"a", "\xe2\x82\xac"}, {"", ""}}}}) {
        EXPECT_EQ(safetensors_header(specs, md), old_header(specs, md));
        EXPECT_EQ(safetensors_header({}, md), old_header({}, md));
    }
    EXPECT_THROW(safetensors_header({{"a", DType::F4, {3}}}, std::nullopt), Error);     // 12 bits
    EXPECT_THROW(safetensors_header({{"\xff", DType::U8, {1}}}, std::nullopt), Error);  // not UTF-8
    EXPECT_THROW(safetensors_header({{"a", DType::U8, {1}}, {"a", DType::U8, {1}}}, std::nullopt), Error);
    EXPECT_EQ(safetensors_header({{"a", DType::F4, {3, 2}}}, std::nullopt),
              "{\"a\":{\"dtype\":\"F4\",\"shape\":[3,2],\"data_offsets\":[0,3]}} ");
}

// ---------------------------------------------------------------- shard index

TEST(IndexJson, ReadsTheWeightMapAndSkipsTheRest) {
    const std::string j =
        R"({"metadata": {"total_size": 12, "x": [[{}]]}, "weight_map": {"b": "s2.safetensors", "a": "s1.safetensors", "c": "s2.safetensors"}})";
    const IndexMap m = parse_index_json(std::vector<uint8_t>(j.begin(), j.end()), "idx.json");
    EXPECT_EQ(m.files, (std::vector<std::string>{"s1.safetensors", "s2.safetensors"}));
    ASSERT_EQ(m.shard_of.size(), 3u);
    EXPECT_EQ(m.files[m.shard_of.at("a")], "s1.safetensors");
    EXPECT_EQ(m.files[m.shard_of.at("b")], "s2.safetensors");
    EXPECT_EQ(m.files[m.shard_of.at("c")], "s2.safetensors");
}

TEST(IndexJson, Refusals) {
    auto err = [](const std::string& j) -> std::string {
        try {
            parse_index_json(std::vector<uint8_t>(j.begin(), j.end()), "idx.json");
        } catch (const Error& e) {
            EXPECT_EQ(std::string(e.what()).rfind("idx.json: ", 0), 0u) << e.what();
            return e.what();
        }
        return "";
    };
    EXPECT_NE(err(R"({"weight_map": )" + deep_array(kDeep) + "}"), "");
    EXPECT_NE(err(R"({"metadata": )" + deep_array(kDeep) + R"(, "weight_map": {"a": "s.safetensors"}})"), "");
    EXPECT_NE(err(R"({"weight_map": {"a": )" + deep_array(kDeep) + "}}"), "");
    EXPECT_NE(err(R"({"weight_map": {"a": "s.safetensors", "a": "t.safetensors"}})").find("twice"), std::string::npos);
    EXPECT_NE(err(R"({"weight_map": {"a": "s.safetensors"}, "weight_map": {}})"), "");
    EXPECT_NE(err(R"({"weight_map": {"a": "../s.safetensors"}})").find("unsafe"), std::string::npos);
    EXPECT_NE(err(R"({"weight_map": {"a": "s.bin"}})"), "");
    EXPECT_NE(err(R"({"weight_map": {"a": 1}})").find("not a string"), std::string::npos);
    EXPECT_NE(err(R"({"weight_map": {}})").find("empty"), std::string::npos);
    EXPECT_NE(err(R"({"weight_map": []})"), "");
    EXPECT_NE(err(R"({"metadata": {}})"), "");
    EXPECT_NE(err(std::string("{\"weight_map\": {\"a\": \"s.safetensors\"}}") + std::string(1, '\0') + "x"), "");
    EXPECT_NE(err("[]"), "");
}

TEST(IndexJson, DeepIndexThroughCheckpointOpen) {
    TempDir d;
    write_safetensors(d / "s1.safetensors", {make_tensor("a", DType::F32, {2}, {1, 2})});
    write_text(d / kIndexFile, R"({"metadata": )" + deep_array(kDeep) + R"(, "weight_map": {"a": "s1.safetensors"}})");
    EXPECT_THROW(Checkpoint::open(d.path()), Error);
    write_text(d / kIndexFile, R"({"metadata": [[1]], "weight_map": {"a": "s1.safetensors"}})");
    EXPECT_NO_THROW(Checkpoint::open(d.path()));
}

// ---------------------------------------------------------------- .dcx HEADER and END

namespace {

std::string header_error(const std::string& j) {
    try {
        header_from_bytes(reinterpret_cast<const uint8_t*>(j.data()), j.size(), "h.dcx");
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()).rfind("h.dcx: corrupt .dcx header: ", 0), 0u) << e.what();
        return e.what();
    }
    return "";
}
DcxHeader header_of(const std::string& j) {
    return header_from_bytes(reinterpret_cast<const uint8_t*>(j.data()), j.size(), "h.dcx");
}
const std::string kShards =
    R"("shards": [{"file": "m.safetensors", "tensors": [{"name": "w", "dtype": "F16", "shape": [2]}]}])";
std::string hdr(const std::string& extra) {
    return R"({"format": "dcx", "version": 1, "layout": "file", )" + extra + (extra.empty() ? "" : ", ") + kShards +
           "}";
}

}  // namespace

TEST(DcxHeaderReader, DeepNestingIsRefused) {
    // The audit's crash: options nesting arrays 150,000 deep (SIGSEGV in info and decompress).
    EXPECT_NE(header_error(hdr(R"("options": {"a": )" + deep_array(kDeep) + "}")).find("nested deeper than 64"),
              std::string::npos);
    EXPECT_NE(header_error(hdr(R"("options": )" + deep_array(kDeep))), "");
    EXPECT_NE(header_error(hdr(R"("unknown": )" + deep_array(kDeep))), "");
    EXPECT_NE(header_error(R"({"format": "dcx", "layout": "file", "shards": [{"file": "m.safetensors", "x": )" +
                           deep_array(kDeep) + R"(, "tensors": []}]})"),
              "");
    EXPECT_NE(
        header_error(
            R"({"format": "dcx", "layout": "file", "shards": [{"file": "m.safetensors", "tensors": [{"name": "w", "dtype": "F16", "shape": )" +
            deep_array(kDeep) + "}]}]}"),
        "");
    EXPECT_NE(header_error(R"({"format": "dcx", "layout": "file", "shards": )" + deep_array(kDeep) + "}"), "");
}

TEST(DcxHeaderReader, OptionsKeepFlatScalarsOnly) {
    const DcxHeader h =
        header_of(hdr(R"("options": {"method": "dct", "patch": 16, "neg": -3, "x": 0.5, "b": true, "n": null,)"
                      R"( "nested": {"a": [1, 2]}, "arr": [1], "long": ")" +
                      std::string(5000, 'x') + "\"}"));
    EXPECT_EQ(h.options, (nlohmann::json{{"method", "dct"}, {"patch", 16}, {"neg", -3}, {"x", 0.5}, {"b", true}}));
    // Not an object: skipped (informative only).
    EXPECT_EQ(header_of(hdr(R"("options": [1, 2])")).options, nlohmann::json::object());
    // At most 256 members kept.
    std::string many = R"("options": {)";
    for (int i = 0; i < 1000; ++i) many += (i ? ",\"" : "\"") + std::to_string(i) + "\":1";
    EXPECT_EQ(header_of(hdr(many + "}")).options.size(), kMaxOptions);
    EXPECT_NE(header_error(hdr(R"("options": {"a": 1, "a": 2})")).find("twice"), std::string::npos);
}

TEST(DcxHeaderReader, FieldsInAnyOrderRankAndNames) {
    // layout after shards: the shard name rules still apply.
    const std::string dir_after =
        R"({"shards": [{"tensors": [], "file": "sub/m.safetensors"}], "layout": "directory", "format": "dcx"})";
    const DcxHeader h = header_of(dir_after);
    EXPECT_TRUE(h.directory);
    EXPECT_EQ(h.shards.at(0).file, "sub/m.safetensors");
    EXPECT_NE(
        header_error(
            R"({"shards": [{"tensors": [], "file": "../m.safetensors"}], "layout": "directory", "format": "dcx"})")
            .find("unsafe shard file name"),
        std::string::npos);
    // Rank: up to 255 (v1.0 refused more than 8).
    auto with_shape = [](const std::string& shape) {
        return R"({"format": "dcx", "layout": "file", "shards": [{"file": "m.safetensors", "tensors": [{"name": "w", "dtype": "U8", "shape": )" +
               shape + "}]}]}";
    };
    std::string s = "[";
    for (int i = 0; i < 255; ++i) s += i ? ",1" : "1";
    EXPECT_EQ(header_of(with_shape(s + "]")).shards[0].tensors[0].shape.size(), 255u);
    EXPECT_NE(header_error(with_shape(s + ",1]")).find("more than 255"), std::string::npos);
    EXPECT_EQ(header_of(with_shape("[1,1,1,1,1,1,1,1,1]")).shards[0].tensors[0].shape.size(), 9u);
    // Names by tensor_name_problem; unknown fields skipped; sub-byte sizes whole.
    auto with_tensor = [](const std::string& t) {
        return R"({"format": "dcx", "layout": "file", "shards": [{"file": "m.safetensors", "tensors": [)" + t + "]}]}";
    };
    EXPECT_NE(header_error(with_tensor(R"({"name": "a\u0000b", "dtype": "U8", "shape": [1]})")).find("NUL"),
              std::string::npos);
    EXPECT_NE(header_error(with_tensor(R"({"name": "", "dtype": "U8", "shape": [1]})")), "");
    EXPECT_EQ(header_error(with_tensor(R"({"name": "a", "x": {"y": [1]}, "dtype": "F4", "shape": [2]})")), "");
    EXPECT_NE(header_error(with_tensor(R"({"name": "a", "dtype": "F4", "shape": [3]})")).find("whole number"),
              std::string::npos);
    EXPECT_NE(
        header_error(with_tensor(R"({"name": "a", "dtype": "F64", "shape": [140737488355329]})")).find("too large"),
        std::string::npos);
    EXPECT_NE(header_error(with_tensor(R"({"name": "a", "name": "b", "dtype": "U8", "shape": [1]})")), "");
    EXPECT_NE(header_error(with_tensor(R"({"dtype": "U8", "shape": [1]})")).find("missing 'name'"), std::string::npos);
    EXPECT_NE(header_error(R"({"format": "dcx", "layout": "file"})").find("missing 'shards'"), std::string::npos);
    EXPECT_NE(header_error(R"({"layout": "file", )" + kShards + "}").find("missing 'format'"), std::string::npos);
}

TEST(DcxHeaderWriter, BytesAsNlohmannWroteThem) {
    DcxHeader h;
    h.directory = true;
    h.options = {{"method", "dct"}, {"patch", 16}, {"include", "a\"b\\c"}};
    h.dropped = {"x", "\xc3\xa9\x01"};
    h.shards.push_back({"a.safetensors", Metadata{{"format", "pt"}, {"\n", "\""}}, {{"w \"1\"", DType::F16, {3, 4}}}});
    h.shards.push_back({"b.safetensors", std::nullopt, {{"v", DType::F4, {2}}, {"u", DType::C64, {0}}}});
    h.shards.push_back({"c.safetensors", Metadata{}, {}});
    // The v1.0 writer.
    nlohmann::json j;
    j["format"] = "dcx";
    j["version"] = kDcxMajor;
    j["producer"] = std::string("deltacodec ") + kVersion;
    j["options"] = h.options;
    j["layout"] = "directory";
    nlohmann::json shards = nlohmann::json::array();
    for (const ShardSpec& s : h.shards) {
        nlohmann::json js;
        js["file"] = s.file;
        js["metadata"] = s.metadata ? nlohmann::json(*s.metadata) : nlohmann::json(nullptr);
        nlohmann::json ts = nlohmann::json::array();
        for (const TensorSpec& t : s.tensors)
            ts.push_back({{"name", t.name}, {"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape}});
        js["tensors"] = ts;
        shards.push_back(js);
    }
    j["shards"] = shards;
    j["dropped_base_tensors"] = h.dropped;
    const std::vector<uint8_t> got = header_to_bytes(h);
    EXPECT_EQ(std::string(got.begin(), got.end()), j.dump());
    // And it reads back.
    const DcxHeader back = header_from_bytes(got.data(), got.size(), "h.dcx");
    EXPECT_EQ(back.shards.size(), 3u);
    EXPECT_EQ(back.dropped, h.dropped);
    EXPECT_EQ(back.options, h.options);
    EXPECT_EQ(back.shards[0].metadata, h.shards[0].metadata);
    EXPECT_FALSE(back.shards[1].metadata.has_value());
    EXPECT_EQ(back.shards[1].tensors[0].dtype, DType::F4);
}

TEST(EndSection, ReadsCountAndFlatNumericStats) {
    auto end_of = [](const std::string& j) {
        return parse_end_section(reinterpret_cast<const uint8_t*>(j.data()), j.size(), "e.dcx");
    };
    auto err = [&](const std::string& j) -> std::string {
        try {
            end_of(j);
        } catch (const Error& e) {
            EXPECT_EQ(std::string(e.what()).rfind("e.dcx: corrupt END section", 0), 0u) << e.what();
            return e.what();
        }
        return "";
    };
    const EndInfo e = end_of(
        R"({"stats": {"a": 1, "b": -2, "c": 0.25, "s": "x", "n": {"deep": [1]}, "t": true}, "tensors": 7, "other": [1]})");
    EXPECT_EQ(e.tensors, 7u);
    EXPECT_EQ(e.stats, (nlohmann::json{{"a", 1}, {"b", -2}, {"c", 0.25}}));
    EXPECT_EQ(e.stats.dump(), R"({"a":1,"b":-2,"c":0.25})");
    EXPECT_NE(err(R"({"tensors": 1, "stats": )" + deep_array(kDeep) + "}").find("nested deeper"), std::string::npos);
    EXPECT_NE(err(R"({"tensors": 1, "stats": {"a": )" + deep_array(kDeep) + "}}"), "");
    EXPECT_NE(err(deep_array(kDeep)), "");
    EXPECT_NE(err(R"({"stats": {}})"), "");
    EXPECT_NE(err(R"({"tensors": -1})"), "");
    EXPECT_NE(err(R"({"tensors": 1.0})"), "");
    EXPECT_NE(err(R"({"tensors": [1]})"), "");
    EXPECT_NE(err(R"({"tensors": 1, "tensors": 1})"), "");
    EXPECT_NE(err("[]"), "");
    std::string many = R"({"tensors": 0, "stats": {)";
    for (int i = 0; i < 1000; ++i) many += (i ? ",\"" : "\"") + std::to_string(i) + "\":1";
    EXPECT_EQ(end_of(many + "}}").stats.size(), kMaxEndStats);
}

TEST(DcxHeaderReader, DeepOptionsThroughInfoAndDecompress) {
    // The audit's file: a valid .dcx whose HEADER options nest 150,000 deep. info and
    // decompress died of SIGSEGV; now both refuse it with an Error.
    TempDir d;
    const std::vector<T> base = {make_tensor("w", DType::F32, {16, 16}, gaussian(256, 0.05, 1))};
    write_safetensors(d / "base.safetensors", base);
    std::vector<T> ft = base;
    ft[0] = make_tensor("w", DType::F32, {16, 16}, gaussian(256, 0.05, 2));
    write_safetensors(d / "ft.safetensors", ft);
    CompressOptions opt;
    opt.codec.patch = 16;
    compress(d / "base.safetensors", d / "ft.safetensors", d / "ok.dcx", opt);
    // Rewrite the HEADER section with deep options (checksum recomputed by the writer).
    const MappedFile f = MappedFile::open(d / "ok.dcx");
    DcxReader rd(f);
    Section s;
    std::vector<std::pair<SectionType, std::vector<uint8_t>>> secs;
    while (rd.next(s)) secs.push_back({s.type, std::vector<uint8_t>(s.data, s.data + s.size)});
    ASSERT_EQ(secs.at(0).first, SectionType::HEADER);
    DcxHeader h = header_from_bytes(secs[0].second.data(), secs[0].second.size(), "ok.dcx");
    std::string text = std::string(secs[0].second.begin(), secs[0].second.end());
    const size_t at = text.find("\"options\":{") + 11;
    text.insert(at, "\"deep\":" + deep_array(kDeep) + ",");
    secs[0].second.assign(text.begin(), text.end());
    {
        OutputFile of(d / "deep.dcx", true);
        DcxWriter w(of);
        for (const auto& [t, payload] : secs) w.section(t, payload);
        of.commit();
    }
    EXPECT_THROW(info_json(d / "deep.dcx"), Error);
    EXPECT_THROW(decompress(d / "base.safetensors", d / "deep.dcx", d / "out.safetensors", DecompressOptions{}), Error);
    EXPECT_FALSE(fs::exists(d / "out.safetensors"));
    EXPECT_NO_THROW(info_json(d / "ok.dcx"));
}

// ---------------------------------------------------------------- sub-byte dtypes through compress

TEST(SubByteDtypes, CompressStoresThemWholeWithTheirPackedBytes) {
    TempDir d;
    const T w = make_tensor("w", DType::F32, {16, 16}, gaussian(256, 0.05, 1));
    T w2 = make_tensor("w", DType::F32, {16, 16}, gaussian(256, 0.05, 2));
    auto raw = [](const std::string& name, DType dt, Shape shape, std::vector<uint8_t> bytes) {
        return T{name, dt, std::move(shape), std::move(bytes)};
    };
    // F4 [4, 3]: 12 × 4 bits = 6 bytes; F6_E2M3 [4]: 3 bytes; C64 [1]: 8 bytes; F8_E8M0 [2]: 2 bytes.
    write_safetensors(d / "base.safetensors", {w, raw("q", DType::F4, {4, 3}, {1, 2, 3, 4, 5, 6})});
    write_safetensors(d / "ft.safetensors",
                      {w2, raw("q", DType::F4, {4, 3}, {9, 8, 7, 6, 5, 4}), raw("s", DType::F6_E2M3, {4}, {1, 2, 3}),
                       raw("c", DType::C64, {1}, {1, 2, 3, 4, 5, 6, 7, 8}), raw("e", DType::F8_E8M0, {2}, {127, 128})});
    CompressOptions opt;
    opt.codec.patch = 16;
    const CompressReport rep = compress(d / "base.safetensors", d / "ft.safetensors", d / "x.dcx", opt);
    std::map<std::string, const TensorReport*> by;
    for (const TensorReport& t : rep.tensors) by[t.name] = &t;
    ASSERT_EQ(by.size(), 5u);
    EXPECT_EQ(by["q"]->kind, "whole");
    EXPECT_EQ(by["q"]->reason, "not-float");
    EXPECT_EQ(by["q"]->delta_bytes, 6u);
    EXPECT_EQ(by["s"]->kind, "whole");
    EXPECT_EQ(by["s"]->delta_bytes, 3u);
    EXPECT_EQ(by["c"]->kind, "whole");
    EXPECT_EQ(by["e"]->kind, "whole");
    // The records hold exactly the packed bytes, and the HEADER reads back.
    const MappedFile f = MappedFile::open(d / "x.dcx");
    DcxReader rd(f);
    Section s;
    std::map<std::string, std::vector<uint8_t>> stored;
    while (rd.next(s)) {
        if (s.type == SectionType::HEADER) {
            const DcxHeader h = header_from_bytes(s.data, s.size, "x.dcx");
            EXPECT_EQ(h.shards.at(0).tensors.size(), 5u);
        }
        if (s.type != SectionType::TENSOR) continue;
        ByteReader r(s.data, s.size, "x.dcx");
        const TensorPrefix p = read_prefix(r);
        if (p.method != MethodId::WHOLE) continue;
        r.u8();
        stored[p.name] = r.blob(dtype_nbytes(p.dtype, shape_numel(p.shape)).value());
        r.expect_end();
    }
    EXPECT_EQ(stored["q"], (std::vector<uint8_t>{9, 8, 7, 6, 5, 4}));
    EXPECT_EQ(stored["s"], (std::vector<uint8_t>{1, 2, 3}));
    EXPECT_EQ(stored["c"].size(), 8u);
    EXPECT_EQ(stored["e"], (std::vector<uint8_t>{127, 128}));
}
