// safetensors reader/writer and checkpoint directories: round trips and every rejection.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "deltacodec/error.hpp"
#include "io/checkpoint.hpp"
#include "io/safetensors.hpp"
#include "testutil.hpp"

using namespace deltacodec;
using namespace testutil;
using json = nlohmann::json;

namespace {

std::vector<T> sample_tensors() {
    std::vector<T> ts;
    ts.push_back(make_tensor("w.f32", DType::F32, {3, 5}, gaussian(15, 1.0, 1)));
    ts.push_back(make_tensor("w.f16", DType::F16, {4, 2}, gaussian(8, 1.0, 2)));
    ts.push_back(make_tensor("w.bf16", DType::BF16, {7}, gaussian(7, 1.0, 3)));
    ts.push_back(make_tensor("ids", DType::I64, {2, 3}, {0, 1, -2, 3000000000.0, -5, 6}));
    ts.push_back(make_tensor("empty", DType::F32, {0, 4}, {}));
    ts.push_back(make_tensor("scalar", DType::F32, {}, {3.25}));
    ts.push_back(make_tensor("also.empty", DType::F16, {0}, {}));
    return ts;
}

void expect_same(const SafetensorsFile& f, const std::vector<T>& ts) {
    ASSERT_EQ(f.tensors().size(), ts.size());
    for (const T& t : ts) {
        const TensorInfo* i = f.find(t.name);
        ASSERT_NE(i, nullptr) << t.name;
        EXPECT_EQ(i->dtype, t.dtype) << t.name;
        EXPECT_EQ(i->shape, t.shape) << t.name;
        ASSERT_EQ(i->nbytes(), t.bytes.size()) << t.name;
        EXPECT_EQ(i->numel(), numel(t.shape)) << t.name;
        if (!t.bytes.empty()) {
            EXPECT_EQ(std::memcmp(f.data(*i), t.bytes.data(), t.bytes.size()), 0) << t.name;
        }
    }
    EXPECT_EQ(f.find("nope"), nullptr);
}

// A valid two-tensor file built by hand, to be broken one field at a time.
std::string hdr2(const std::string& a_dtype = "\"F32\"", const std::string& a_shape = "[2]",
                 const std::string& a_off = "[0, 8]", const std::string& b_off = "[8, 16]") {
    return "{\"a\": {\"dtype\": " + a_dtype + ", \"shape\": " + a_shape + ", \"data_offsets\": " + a_off +
           "}, \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": " + b_off + "}}";
}

class SafetensorsReject : public ::testing::Test {
protected:
    TempDir dir;
    // Expects SafetensorsFile::open (and Checkpoint::open) to refuse the bytes.
    void expect_reject(const std::vector<uint8_t>& bytes, const std::string& what) {
        const std::string p = dir / "bad.safetensors";
        write_bytes(p, bytes);
        try {
            SafetensorsFile::open(p);
            ADD_FAILURE() << what << ": accepted";
        } catch (const Error& e) {
            // The message names the file (it once lost the path once the map was moved).
            EXPECT_NE(std::string(e.what()).find("bad.safetensors"), std::string::npos) << what << ": " << e.what();
        }
        EXPECT_THROW(Checkpoint::open(p), Error) << what;
    }
    void expect_reject(const std::string& header, size_t data_bytes, const std::string& what) {
        expect_reject(raw_safetensors(header, std::vector<uint8_t>(data_bytes, 0)), what);
    }
};

}  // namespace

TEST(Safetensors, WriteReadRoundTrip) {
    TempDir dir;
    const auto ts = sample_tensors();
    const Metadata md{{"format", "pt"}, {"note", "héllo"}};
    write_safetensors(dir / "a.safetensors", ts, md);
    const auto f = SafetensorsFile::open(dir / "a.safetensors");
    expect_same(f, ts);
    ASSERT_TRUE(f.metadata().has_value());
    EXPECT_EQ(*f.metadata(), md);
    // Tensors come back in data order = written order; data starts 8-aligned.
    for (size_t i = 0; i < ts.size(); ++i) EXPECT_EQ(f.tensors()[i].name, ts[i].name);
    const auto raw = read_bytes(dir / "a.safetensors");
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | raw[i];
    EXPECT_EQ(n % 8, 0u);
    const auto h = json::parse(raw.begin() + 8, raw.begin() + 8 + static_cast<long>(n));
    EXPECT_EQ(h["scalar"]["shape"], json::array());
    EXPECT_EQ(h["__metadata__"]["format"], "pt");
}

TEST(Safetensors, NoMetadataAndEmptyFile) {
    TempDir dir;
    write_safetensors(dir / "a.safetensors", {make_tensor("x", DType::F16, {2}, {1.0, 2.0})});
    const auto f = SafetensorsFile::open(dir / "a.safetensors");
    EXPECT_FALSE(f.metadata().has_value());
    EXPECT_EQ(f.tensors().size(), 1u);
    // A file with no tensor at all is valid.
    write_safetensors(dir / "b.safetensors", {});
    EXPECT_TRUE(SafetensorsFile::open(dir / "b.safetensors").tensors().empty());
    // Header without padding and with tensors listed out of data order.
    const std::string h =
        "{\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]},"
        "\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}";
    write_bytes(dir / "c.safetensors", raw_safetensors(h, {1, 2, 3, 4}));
    const auto c = SafetensorsFile::open(dir / "c.safetensors");
    ASSERT_EQ(c.tensors().size(), 2u);
    EXPECT_EQ(c.tensors()[0].name, "a");
    EXPECT_EQ(c.data(*c.find("b"))[0], 3);
}

TEST(Safetensors, ShardedDirectoryRoundTrip) {
    TempDir dir;
    const auto ts = sample_tensors();
    const std::vector<T> s1(ts.begin(), ts.begin() + 3), s2(ts.begin() + 3, ts.end());
    write_safetensors(dir / "model-00001-of-00002.safetensors", s1, Metadata{{"format", "pt"}});
    write_safetensors(dir / "model-00002-of-00002.safetensors", s2, Metadata{{"format", "pt"}});
    json idx = {{"metadata", {{"total_size", 1234}}}, {"weight_map", json::object()}};
    for (const T& t : s1) idx["weight_map"][t.name] = "model-00001-of-00002.safetensors";
    for (const T& t : s2) idx["weight_map"][t.name] = "model-00002-of-00002.safetensors";
    write_text(dir / kIndexFile, idx.dump(2));
    write_text(dir / "config.json", "{\"hidden_size\": 4}");
    write_text(dir / "tokenizer.json", "{}");
    // A stray safetensors file the index does not name is not part of the checkpoint
    // (no tensors of it), but it is one of the directory's files, carried as such.
    write_safetensors(dir / "stray.safetensors", {make_tensor("zzz", DType::F32, {1}, {1.0})});

    const Checkpoint c = Checkpoint::open(dir.path());
    EXPECT_TRUE(c.is_directory());
    ASSERT_EQ(c.shards().size(), 2u);
    EXPECT_EQ(c.shards()[0].file, "model-00001-of-00002.safetensors");
    EXPECT_EQ(c.shards()[1].file, "model-00002-of-00002.safetensors");
    ASSERT_EQ(c.tensors().size(), ts.size());
    for (size_t i = 0; i < ts.size(); ++i) EXPECT_EQ(c.tensors()[i].info->name, ts[i].name);
    for (const T& t : ts) {
        const TensorRef* r = c.find(t.name);
        ASSERT_NE(r, nullptr) << t.name;
        if (!t.bytes.empty()) {
            EXPECT_EQ(std::memcmp(r->data(), t.bytes.data(), t.bytes.size()), 0) << t.name;
        }
    }
    EXPECT_EQ(c.find("zzz"), nullptr);
    EXPECT_EQ(c.aux_files(),
              (std::vector<std::string>{"config.json", kIndexFile, "stray.safetensors", "tokenizer.json"}));

    // A directory holding just model.safetensors.
    TempDir one;
    write_safetensors(one / "model.safetensors", s1);
    write_text(one / "config.json", "{}");
    const Checkpoint c1 = Checkpoint::open(one.path());
    EXPECT_TRUE(c1.is_directory());
    EXPECT_EQ(c1.tensors().size(), s1.size());
    EXPECT_EQ(c1.aux_files(), std::vector<std::string>{"config.json"});

    // A single file.
    const Checkpoint c2 = Checkpoint::open(one / "model.safetensors");
    EXPECT_FALSE(c2.is_directory());
    EXPECT_TRUE(c2.aux_files().empty());
}

TEST_F(SafetensorsReject, HeaderLengthOverLimit) {
    expect_reject(raw_safetensors(hdr2(), std::vector<uint8_t>(16), 100'000'001), "header length > 1e8");
    expect_reject(raw_safetensors(hdr2(), std::vector<uint8_t>(16), UINT64_MAX), "header length 2^64-1");
}

TEST_F(SafetensorsReject, HeaderPastEof) {
    const std::string h = hdr2();
    expect_reject(raw_safetensors(h, std::vector<uint8_t>(16), h.size() + 17), "header past EOF");
    expect_reject(std::vector<uint8_t>{1, 0, 0}, "shorter than 8 bytes");
    expect_reject(std::vector<uint8_t>{}, "empty file");
}

TEST_F(SafetensorsReject, InvalidJsonOrUtf8) {
    expect_reject("{\"a\": {\"dtype\": \"F32\", ", 0, "cut JSON");
    expect_reject("not json at all!", 0, "garbage");
    expect_reject("[1, 2, 3]", 0, "JSON array");
    expect_reject("\"str\"   ", 0, "JSON string");
    std::string h = hdr2();
    h.replace(h.find("\"b\""), 3, "\"\xff\xfe\"");
    expect_reject(h, 16, "invalid UTF-8 name");
    std::string h2 = "{\"__metadata__\": {\"k\": \"\xc3\x28\"}}";
    expect_reject(h2, 0, "invalid UTF-8 in metadata");
    expect_reject("{\"__metadata__\": {\"k\": 1}}", 0, "non-string metadata");
    expect_reject("{\"__metadata__\": [1]}", 0, "metadata not an object");
}

TEST_F(SafetensorsReject, UnknownOrBadDtype) {
    expect_reject(hdr2("\"F128\""), 16, "unknown dtype");
    expect_reject(hdr2("\"f32\""), 16, "lowercase dtype");
    expect_reject(hdr2("4"), 16, "numeric dtype");
}

TEST_F(SafetensorsReject, BadShapeEntries) {
    expect_reject(hdr2("\"F32\"", "[-2]"), 16, "negative shape");
    expect_reject(hdr2("\"F32\"", "[2.0]"), 16, "float shape");
    expect_reject(hdr2("\"F32\"", "[\"2\"]"), 16, "string shape");
    expect_reject(hdr2("\"F32\"", "2"), 16, "shape not an array");
    expect_reject(hdr2("\"F32\"", "[2]", "[0, 8.0]"), 16, "float offset");
    expect_reject(hdr2("\"F32\"", "[2]", "[-8, 8]"), 16, "negative offset");
    expect_reject(hdr2("\"F32\"", "[2]", "[0, 8, 9]"), 16, "three offsets");
    expect_reject(hdr2("\"F32\"", "[2]", "[8, 0]", "[8, 16]"), 16, "reversed offsets");
    expect_reject("{\"a\": {\"dtype\": \"F32\", \"shape\": [2]}}", 8, "missing data_offsets");
    expect_reject("{\"a\": 5}", 8, "entry not an object");
}

TEST_F(SafetensorsReject, ShapeOverflow) {
    // 2^32 * 2^32 overflows u64.
    expect_reject(hdr2("\"F32\"", "[4294967296, 4294967296]"), 16, "shape product overflow");
    // Elements fit u64 but bytes do not (2^62 F32 elements).
    expect_reject(hdr2("\"F32\"", "[4611686018427387904]"), 16, "byte count overflow");
    // A zero dimension after huge ones is still checked element by element.
    expect_reject(hdr2("\"F32\"", "[4294967296, 4294967296, 4294967296, 0]", "[0, 0]", "[0, 8]"), 8,
                  "intermediate overflow before a zero");
}

TEST_F(SafetensorsReject, ByteCountMismatch) {
    expect_reject(hdr2("\"F32\"", "[3]"), 16, "shape needs 12 bytes, offsets give 8");
    expect_reject(hdr2("\"F16\"", "[2]"), 16, "F16 needs 4 bytes");
    expect_reject(hdr2("\"F32\"", "[]"), 16, "0-rank needs 4 bytes");
}

TEST_F(SafetensorsReject, OverlapGapTrailingTruncated) {
    expect_reject(hdr2("\"F32\"", "[2]", "[0, 8]", "[4, 12]"), 12, "overlapping offsets");
    expect_reject(hdr2("\"F32\"", "[2]", "[0, 8]", "[0, 8]"), 8, "same offsets twice");
    expect_reject(hdr2("\"F32\"", "[2]", "[0, 8]", "[12, 20]"), 20, "gap between tensors");
    expect_reject(hdr2("\"F32\"", "[2]", "[4, 12]", "[12, 20]"), 20, "gap at the start");
    expect_reject(hdr2(), 17, "trailing byte");
    expect_reject(hdr2(), 15, "truncated data");
    expect_reject(hdr2(), 0, "no data at all");
    // A valid written file cut at several points.
    write_safetensors(dir / "ok.safetensors", sample_tensors());
    const auto full = read_bytes(dir / "ok.safetensors");
    for (size_t cut : {full.size() - 1, full.size() - 4, full.size() / 2, size_t{20}, size_t{8}, size_t{7}})
        expect_reject(std::vector<uint8_t>(full.begin(), full.begin() + static_cast<long>(cut)),
                      "truncated at " + std::to_string(cut));
}

TEST_F(SafetensorsReject, DuplicateNames) {
    const std::string h =
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
        "\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]}}";
    expect_reject(h, 16, "duplicate tensor name");
    expect_reject("{\"__metadata__\": {}, \"__metadata__\": {}}", 0, "duplicate __metadata__");
}

TEST(CheckpointReject, DirectoryProblems) {
    auto make = [](const TempDir& d) {
        write_safetensors(d / "s1.safetensors", {make_tensor("a", DType::F32, {2}, {1, 2})});
        write_safetensors(d / "s2.safetensors", {make_tensor("b", DType::F32, {2}, {3, 4})});
    };
    {  // index names a missing shard
        TempDir d;
        make(d);
        write_text(d / kIndexFile, R"({"weight_map": {"a": "s1.safetensors", "b": "s3.safetensors"}})");
        EXPECT_THROW(Checkpoint::open(d.path()), Error);
    }
    {  // index maps a tensor to a shard that does not hold it
        TempDir d;
        make(d);
        write_text(d / kIndexFile,
                   R"({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors", "c": "s2.safetensors"}})");
        EXPECT_THROW(Checkpoint::open(d.path()), Error);
    }
    {  // index maps a tensor to the wrong shard
        TempDir d;
        make(d);
        write_text(d / kIndexFile, R"({"weight_map": {"a": "s2.safetensors", "b": "s2.safetensors"}})");
        EXPECT_THROW(Checkpoint::open(d.path()), Error);
    }
    {  // a shard holds a tensor the index does not name
        TempDir d;
        make(d);
        write_text(d / kIndexFile, R"({"weight_map": {"a": "s1.safetensors"}})");
        // s2 is not named: only s1 is read, and it matches.
        EXPECT_NO_THROW(Checkpoint::open(d.path()));
        write_safetensors(d / "s1.safetensors",
                          {make_tensor("a", DType::F32, {2}, {1, 2}), make_tensor("x", DType::F32, {1}, {1})});
        EXPECT_THROW(Checkpoint::open(d.path()), Error);
    }
    {  // the same tensor in two shards
        TempDir d;
        write_safetensors(d / "s1.safetensors", {make_tensor("a", DType::F32, {2}, {1, 2})});
        write_safetensors(d / "s2.safetensors", {make_tensor("a", DType::F32, {2}, {1, 2})});
        write_text(d / kIndexFile, R"({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}})");
        EXPECT_THROW(Checkpoint::open(d.path()), Error);
    }
    {  // unsafe or odd shard names, bad index JSON, empty map
        TempDir d;
        make(d);
        for (const char* idx :
             {R"({"weight_map": {"a": "../s1.safetensors"}})", R"({"weight_map": {"a": "sub/s1.safetensors"}})",
              R"({"weight_map": {"a": "s1.bin"}})", R"({"weight_map": {"a": 3}})", R"({"weight_map": {}})",
              R"({"weight_map": []})", R"({"metadata": {}})", "{not json", "[]"}) {
            write_text(d / kIndexFile, idx);
            EXPECT_THROW(Checkpoint::open(d.path()), Error) << idx;
        }
    }
    {  // a corrupt shard
        TempDir d;
        make(d);
        write_text(d / kIndexFile, R"({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}})");
        auto b = read_bytes(d / "s2.safetensors");
        b.pop_back();
        write_bytes(d / "s2.safetensors", b);
        EXPECT_THROW(Checkpoint::open(d.path()), Error);
    }
    {  // neither an index nor model.safetensors; a missing path
        TempDir d;
        make(d);
        EXPECT_THROW(Checkpoint::open(d.path()), Error);
        EXPECT_THROW(Checkpoint::open(d / "missing"), Error);
        EXPECT_THROW(Checkpoint::open(d / "missing.safetensors"), Error);
    }
}

TEST(SafetensorsWriter, RejectsWrongByteCounts) {
    TempDir dir;
    {
        OutputFile out(dir / "x.safetensors", true);
        SafetensorsWriter w(out, {{"a", DType::F32, {2}}, {"e", DType::F32, {0}}, {"b", DType::F16, {1}}},
                            std::nullopt);
        const float a[2] = {1, 2};
        w.write(a, sizeof a);
        EXPECT_ANY_THROW(w.finish());  // b not written yet
        const uint16_t b = 0x3c00;
        w.write(&b, 2);
        EXPECT_NO_THROW(w.finish());
        EXPECT_ANY_THROW(w.write(&b, 1));  // past the last tensor
    }
    // Never committed: no file, no temporary left.
    EXPECT_TRUE(dir_entries(dir.path()).empty());
}
