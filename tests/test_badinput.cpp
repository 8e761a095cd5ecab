// Bad inputs: through the CLI (exit code, one error line, no output left) and
// hand-crafted hostile .dcx files through the library (refused with an Error).
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <nlohmann/json.hpp>

#include "deltacodec/deltacodec.hpp"
#include "format/container.hpp"
#include "format/header.hpp"
#include "testutil.hpp"

using namespace deltacodec;
using namespace testutil;
using json = nlohmann::json;

namespace {

std::vector<T> base_tensors(uint32_t seed) {
    return {make_tensor("enc.query.weight", DType::F16, {128, 192}, gaussian(128 * 192, 0.05, seed)),
            make_tensor("enc.dense.weight", DType::F32, {100, 70}, gaussian(7000, 0.05, seed + 1)),
            make_tensor("enc.norm.weight", DType::F32, {70}, gaussian(70, 1.0, seed + 2))};
}

std::vector<T> ft_tensors(const std::vector<T>& base, uint32_t seed) {
    std::vector<T> ft = fine_tune_of(base, seed);
    ft.push_back(make_tensor("classifier.weight", DType::F32, {10, 70}, gaussian(700, 0.05, seed + 5)));
    return ft;
}

class BadInput : public ::testing::Test {
protected:
    TempDir dir;
    std::string base, ft, out_dir, good_dcx;

    void SetUp() override {
        const auto b = base_tensors(1);
        out_dir = dir / "out";
        fs::create_directories(out_dir);
        ModelPair p;
        write_pair(dir, b, ft_tensors(b, 2), "good.dcx", {"--method", "dct", "--patch", "16"}, p);
        base = p.base, ft = p.ft, good_dcx = p.dcx;
    }

    // Runs the CLI, expects failure with exactly one `deltacodec: error:` line on stderr and
    // nothing new (no output, no temporary) in the output directory. Returns that line.
    std::string expect_fail(const std::vector<std::string>& args, const std::string& what) {
        const std::vector<std::string> before = dir_entries(out_dir);
        const RunResult r = run_cli(args, dir.path());
        EXPECT_NE(r.rc, 0) << what;
        EXPECT_LT(r.rc, 128) << what << ": killed by a signal";
        const auto lines = r.err_lines();
        EXPECT_EQ(lines.size(), 1u) << what << ": stderr was:\n" << r.err;
        EXPECT_TRUE(!lines.empty() && lines[0].rfind("deltacodec: error: ", 0) == 0) << what << ": " << r.err;
        EXPECT_TRUE(r.err.empty() || r.err.back() == '\n') << what;
        EXPECT_EQ(dir_entries(out_dir), before) << what << ": output directory changed";
        return lines.empty() ? std::string() : lines[0];
    }
    std::string out(const std::string& name) const { return out_dir + "/" + name; }
};

}  // namespace

TEST_F(BadInput, UnrelatedPair) {
    // Same shapes, other names.
    std::vector<T> other = base_tensors(1);
    for (T& t : other) t.name = "other." + t.name;
    write_safetensors(dir / "other.safetensors", other);
    const std::string e = expect_fail({"compress", dir / "other.safetensors", ft, "-o", out("x.dcx")}, "names");
    EXPECT_NE(e.find("base"), std::string::npos) << e;
    // Same names, every 2-D shape different.
    std::vector<T> reshaped = {make_tensor("enc.query.weight", DType::F16, {192, 128}, gaussian(128 * 192, 1, 3)),
                               make_tensor("enc.dense.weight", DType::F32, {70, 100}, gaussian(7000, 1, 4))};
    write_safetensors(dir / "reshaped.safetensors", reshaped);
    expect_fail({"compress", dir / "reshaped.safetensors", ft, "-o", out("x.dcx")}, "shapes");
    // Only integer tensors in common.
    write_safetensors(dir / "ints_a.safetensors", {make_tensor("ids", DType::I64, {4, 4}, std::vector<double>(16, 1))});
    write_safetensors(dir / "ints_b.safetensors", {make_tensor("ids", DType::I64, {4, 4}, std::vector<double>(16, 2))});
    expect_fail({"compress", dir / "ints_a.safetensors", dir / "ints_b.safetensors", "-o", out("x.dcx")}, "ints");
}

TEST_F(BadInput, CorruptAndTruncatedSafetensors) {
    const auto good = read_bytes(ft);
    auto corrupt = good;
    corrupt[8] = '[';  // header no longer a JSON object
    write_bytes(dir / "corrupt.safetensors", corrupt);
    expect_fail({"compress", base, dir / "corrupt.safetensors", "-o", out("x.dcx")}, "corrupt fine-tune");
    expect_fail({"compress", dir / "corrupt.safetensors", ft, "-o", out("x.dcx")}, "corrupt base");
    auto biglen = good;
    biglen[7] = 0x7f;  // header length 2^62+
    write_bytes(dir / "biglen.safetensors", biglen);
    expect_fail({"compress", base, dir / "biglen.safetensors", "-o", out("x.dcx")}, "header length");
    for (size_t cut : {good.size() - 1, good.size() / 2, size_t{100}, size_t{4}, size_t{0}}) {
        write_bytes(dir / "trunc.safetensors", good.data(), cut);
        expect_fail({"compress", base, dir / "trunc.safetensors", "-o", out("x.dcx")},
                    "truncated at " + std::to_string(cut));
    }
    // A corrupt base at decompression time.
    expect_fail({"decompress", dir / "corrupt.safetensors", good_dcx, "-o", out("x.safetensors")}, "corrupt base");
    write_text(dir / "text.safetensors", "hello world, not a model");
    expect_fail({"decompress", dir / "text.safetensors", good_dcx, "-o", out("x.safetensors")}, "text base");
}

TEST_F(BadInput, TruncatedDcx) {
    const auto good = read_bytes(good_dcx);
    ASSERT_GT(good.size(), 100u);
    std::vector<size_t> cuts;
    for (int k = 0; k < 20; ++k) cuts.push_back(good.size() * k / 20);
    cuts.push_back(good.size() - 1);
    for (size_t cut : cuts) {
        const std::string p = dir / "cut.dcx";
        write_bytes(p, good.data(), cut);
        const std::string what = "cut at " + std::to_string(cut) + " of " + std::to_string(good.size());
        expect_fail({"decompress", base, p, "-o", out("x.safetensors")}, what);
        EXPECT_THROW(info_json(p), Error) << what;
    }
    // And the untouched file works.
    const RunResult ok = run_cli({"decompress", base, good_dcx, "-o", out("x.safetensors"), "-q"}, dir.path());
    EXPECT_EQ(ok.rc, 0) << ok.err;
}

TEST_F(BadInput, FlippedByteInEachSection) {
    // A directory pair, so the file has HEADER, FILE, TENSOR and END sections.
    fs::create_directories(dir / "bd");
    fs::create_directories(dir / "fd");
    const auto b = base_tensors(1);
    write_safetensors(dir / "bd/model.safetensors", b);
    write_safetensors(dir / "fd/model.safetensors", ft_tensors(b, 2));
    write_text(dir / "fd/config.json", "{\"a\": 1}");
    const std::string dcx = dir / "d.dcx";
    ASSERT_EQ(run_cli({"compress", dir / "bd", dir / "fd", "-o", dcx, "-q"}, dir.path()).rc, 0);
    const auto good = read_bytes(dcx);
    const MappedFile mf = MappedFile::open(dcx);
    DcxReader rd(mf);
    Section s;
    std::vector<Section> sections;
    while (rd.next(s)) sections.push_back(s);
    ASSERT_GE(sections.size(), 4u);
    EXPECT_EQ(sections.front().type, SectionType::HEADER);
    EXPECT_EQ(sections[1].type, SectionType::FILE);
    EXPECT_EQ(sections.back().type, SectionType::END);
    std::vector<std::pair<size_t, std::string>> flips = {{0, "magic"}, {8, "major version"}};
    for (const Section& sec : sections) {
        const std::string t = std::to_string(static_cast<uint32_t>(sec.type)) + "@" + std::to_string(sec.offset);
        flips.push_back({sec.offset + 16 + sec.size / 2, "payload of " + t});
        flips.push_back({sec.offset + 16, "first payload byte of " + t});
        flips.push_back({sec.offset + 16 + sec.size, "checksum of " + t});
        flips.push_back({sec.offset + 1, "type of " + t});
        flips.push_back({sec.offset + 5, "flags of " + t});
        flips.push_back({sec.offset + 9, "length of " + t});
    }
    for (const auto& [pos, what] : flips) {
        ASSERT_LT(pos, good.size()) << what;
        auto bad = good;
        bad[pos] ^= 0x10;
        const std::string p = dir / "flip.dcx";
        write_bytes(p, bad);
        expect_fail({"decompress", dir / "bd", p, "-o", out("o")}, what);
        expect_fail({"info", p}, what);
    }
    const RunResult ok = run_cli({"decompress", dir / "bd", dcx, "-o", out("o"), "-q"}, dir.path());
    EXPECT_EQ(ok.rc, 0) << ok.err;
}

TEST_F(BadInput, WrongBase) {
    // Same names and shapes, different values.
    write_safetensors(dir / "other.safetensors", base_tensors(99));
    const std::string e =
        expect_fail({"decompress", dir / "other.safetensors", good_dcx, "-o", out("x.safetensors")}, "wrong base");
    EXPECT_NE(e.find("wrong base"), std::string::npos) << e;
    // A single value changed in a tensor kept as a lossless delta.
    auto b = base_tensors(1);
    b[2].bytes[5] ^= 1;
    write_safetensors(dir / "almost.safetensors", b);
    const std::string e2 =
        expect_fail({"decompress", dir / "almost.safetensors", good_dcx, "-o", out("x.safetensors")}, "one bit");
    EXPECT_NE(e2.find("wrong base"), std::string::npos) << e2;
    // Another dtype, or a missing tensor.
    b = base_tensors(1);
    b[1] = make_tensor("enc.dense.weight", DType::F16, {100, 70}, decode(DType::F32, b[1].bytes.data(), 7000));
    write_safetensors(dir / "dtype.safetensors", b);
    expect_fail({"decompress", dir / "dtype.safetensors", good_dcx, "-o", out("x.safetensors")}, "dtype");
    b = base_tensors(1);
    b.pop_back();
    write_safetensors(dir / "missing.safetensors", b);
    expect_fail({"decompress", dir / "missing.safetensors", good_dcx, "-o", out("x.safetensors")}, "missing");
    // The fine-tune itself is not the base either.
    expect_fail({"decompress", ft, good_dcx, "-o", out("x.safetensors")}, "fine-tune as base");
}

TEST_F(BadInput, BadOptions) {
    const std::vector<std::string> c = {"compress", base, ft, "-o", out("x.dcx")};
    auto with = [&](std::vector<std::string> extra) {
        std::vector<std::string> a = c;
        a.insert(a.end(), extra.begin(), extra.end());
        return a;
    };
    for (const char* bits : {"2:0.5,0:0.4", "2:0.6,0:0.6", "9:1", "-1:1", "2:0.5,2:0.5", "garbage", "2:x", "2", "",
                             "2:0.5,", ":1", "2:0.5;0:0.5", "2:1.5,0:-0.5", "2:nan"})
        expect_fail(with({"--bits", bits}), std::string("--bits ") + bits);
    for (const char* p : {"7", "12", "0", "-8", "264", "512", "abc", "16.5"})
        expect_fail(with({"--patch", p}), std::string("--patch ") + p);
    expect_fail(with({"--quant-table", "jpeg"}), "jpeg with dwt (default)");
    expect_fail(with({"--method", "dwt", "--quant-table", "jpeg"}), "jpeg with dwt");
    expect_fail(with({"--method", "dct", "--bands", "ll_only"}), "bands with dct");
    expect_fail(with({"--method", "fft"}), "method");
    expect_fail(with({"--bands", "hh"}), "bands");
    expect_fail(with({"--quant-table", "mpeg"}), "quant table");
    expect_fail(with({"--importance", "mid"}), "importance");
    expect_fail(with({"--meta", "f8"}), "meta");
    expect_fail(with({"--entropy", "gzip"}), "entropy");
    expect_fail(with({"--include", "("}), "bad regex");
    expect_fail(with({"--exclude", "[a-"}), "bad regex");
    expect_fail(with({"-T", "x"}), "threads");
    expect_fail(with({"-T", "-1"}), "negative threads");
    // An absurd thread count is refused or capped, never honoured (it once exhausted the machine).
    for (const char* t : {"100000000", "4294967295"}) {
        const RunResult r = run_cli(with({"-T", t, "-q"}), dir.path());
        if (r.rc == 0) {
            EXPECT_EQ(r.err, "");
            ASSERT_EQ(run_cli({"compress", base, ft, "-o", dir / "t1.dcx", "-T", "1", "-q", "-f"}, dir.path()).rc, 0);
            EXPECT_EQ(read_bytes(out("x.dcx")), read_bytes(dir / "t1.dcx"));
            fs::remove(out("x.dcx"));
        } else {
            EXPECT_EQ(r.err_lines().size(), 1u) << r.err;
            EXPECT_EQ(r.err.rfind("deltacodec: error: ", 0), 0u) << r.err;
            EXPECT_TRUE(dir_entries(out_dir).empty());
        }
    }
    expect_fail(with({"--bogus"}), "bad flag");
    expect_fail({"compress", base, ft}, "no -o");
    expect_fail({"compress", base, "-o", out("x.dcx")}, "one input");
    expect_fail({"frobnicate"}, "unknown subcommand");
    expect_fail({}, "no subcommand");
    expect_fail({"info"}, "info without a file");
    expect_fail({"decompress", base, good_dcx, "-o", out("x.safetensors"), "--bits", "2:1"},
                "compress flag on decompress");
}

TEST_F(BadInput, ExistingOutputNeedsForce) {
    write_text(out("x.dcx"), "precious");
    write_text(out("x.safetensors"), "precious too");
    write_text(out("r.json"), "report");
    expect_fail({"compress", base, ft, "-o", out("x.dcx")}, "existing .dcx");
    EXPECT_EQ(read_text(out("x.dcx")), "precious");
    expect_fail({"compress", base, ft, "-o", out("y.dcx"), "--report", out("r.json")}, "existing report");
    EXPECT_EQ(read_text(out("r.json")), "report");
    expect_fail({"decompress", base, good_dcx, "-o", out("x.safetensors")}, "existing output");
    EXPECT_EQ(read_text(out("x.safetensors")), "precious too");
    // A failing run with -f leaves the existing output alone too.
    expect_fail({"decompress", ft, good_dcx, "-o", out("x.safetensors"), "-f"}, "wrong base with -f");
    EXPECT_EQ(read_text(out("x.safetensors")), "precious too");
    expect_fail({"compress", base, dir / "nope.safetensors", "-o", out("x.dcx"), "-f"}, "missing input with -f");
    EXPECT_EQ(read_text(out("x.dcx")), "precious");
    // The output may not replace an input, even with -f.
    const auto ft_bytes = read_bytes(ft), base_bytes = read_bytes(base), dcx_bytes = read_bytes(good_dcx);
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"compress", base, ft, "-o", ft, "-f"},
          std::vector<std::string>{"compress", base, ft, "-o", base, "-f"},
          std::vector<std::string>{"decompress", base, good_dcx, "-o", base, "-f"},
          std::vector<std::string>{"decompress", base, good_dcx, "-o", good_dcx, "-f"}}) {
        const RunResult r = run_cli(args, dir.path());
        EXPECT_NE(r.rc, 0) << args[0] << " -o " << args[4];
        EXPECT_EQ(r.err_lines().size(), 1u) << r.err;
    }
    EXPECT_EQ(read_bytes(ft), ft_bytes);
    EXPECT_EQ(read_bytes(base), base_bytes);
    EXPECT_EQ(read_bytes(good_dcx), dcx_bytes);
    // A directory where a file goes.
    fs::create_directories(out("d.safetensors"));
    expect_fail({"decompress", base, good_dcx, "-o", out("d.safetensors"), "-f"}, "output is a directory");
    expect_fail({"compress", base, ft, "-o", out("d.safetensors"), "-f"}, "dcx output is a directory");
}

TEST_F(BadInput, OutputInsideAnInputDirectory) {
    // A base given as a model directory: its shard is an input too, and a directory
    // output that holds an input would be replaced (removed) whole.
    fs::create_directories(dir / "bd");
    fs::create_directories(dir / "fd");
    fs::copy_file(base, dir / "bd/model.safetensors");
    fs::copy_file(ft, dir / "fd/model.safetensors");
    write_text(dir / "fd/config.json", "{}");
    ASSERT_EQ(run_cli({"compress", dir / "bd", dir / "fd", "-o", dir / "d.dcx", "-q"}, dir.path()).rc, 0);
    const auto shard = read_bytes(dir / "bd/model.safetensors");
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"decompress", dir / "bd", good_dcx, "-o", dir / "bd/model.safetensors", "-f"},
          std::vector<std::string>{"decompress", dir / "bd/model.safetensors", dir / "d.dcx", "-o", dir / "bd", "-f"},
          std::vector<std::string>{"decompress", dir / "bd", dir / "d.dcx", "-o", dir / "bd/../bd/", "-f"},
          std::vector<std::string>{"decompress", base, dir / "d.dcx", "-o", dir.path(), "-f"}}) {
        const RunResult r = run_cli(args, dir.path());
        EXPECT_NE(r.rc, 0) << args[1] << " -o " << args[4];
        EXPECT_EQ(r.err_lines().size(), 1u) << r.err;
        ASSERT_TRUE(fs::exists(dir / "bd/model.safetensors"));
        EXPECT_TRUE(read_bytes(dir / "bd/model.safetensors") == shard) << "the base's shard was replaced";
        ASSERT_TRUE(fs::exists(base));
    }
}

// `-o DIR/model.safetensors -f` must not replace a shard of a base or fine-tune directory.
TEST_F(BadInput, CompressOutputOverAShardOfAnInputDirectory) {
    fs::create_directories(dir / "bd");
    fs::copy_file(base, dir / "bd/model.safetensors");
    const auto shard = read_bytes(dir / "bd/model.safetensors");
    const RunResult r =
        run_cli({"compress", dir / "bd", ft, "-o", dir / "bd/model.safetensors", "-f", "-q"}, dir.path());
    EXPECT_NE(r.rc, 0);
    EXPECT_TRUE(read_bytes(dir / "bd/model.safetensors") == shard) << "the base's shard was replaced";
}

TEST_F(BadInput, UnwritableOutput) {
    expect_fail({"compress", base, ft, "-o", dir / "no/such/dir/x.dcx"}, "missing parent");
    expect_fail({"compress", base, ft, "-o", "/proc/deltacodec_test.dcx"}, "/proc");
    expect_fail({"decompress", base, good_dcx, "-o", dir / "no/such/x.safetensors"}, "missing parent");
    expect_fail({"decompress", base, good_dcx, "-o", "/proc/self/deltacodec_test.safetensors"}, "/proc");
    expect_fail({"compress", base, ft, "-o", out("x.dcx"), "--report", dir / "no/such/r.json"}, "report dir");
    EXPECT_FALSE(fs::exists(dir / "no"));
}

TEST_F(BadInput, MissingInputs) {
    expect_fail({"compress", dir / "nope.safetensors", ft, "-o", out("x.dcx")}, "missing base");
    expect_fail({"compress", base, dir / "nope.safetensors", "-o", out("x.dcx")}, "missing fine-tune");
    expect_fail({"compress", base, dir / "emptydir", "-o", out("x.dcx")}, "missing dir");
    fs::create_directories(dir / "emptydir");
    expect_fail({"compress", base, dir / "emptydir", "-o", out("x.dcx")}, "empty dir");
    expect_fail({"decompress", base, dir / "nope.dcx", "-o", out("x.safetensors")}, "missing dcx");
    expect_fail({"decompress", dir / "nope", good_dcx, "-o", out("x.safetensors")}, "missing base");
    expect_fail({"info", dir / "nope.dcx"}, "info missing");
    expect_fail({"info", dir.path()}, "info on a directory");
    expect_fail({"info", base}, "info on a safetensors file");
    write_text(dir / "empty.dcx", "");
    expect_fail({"info", dir / "empty.dcx"}, "empty dcx");
    expect_fail({"decompress", base, ft, "-o", out("x.safetensors")}, "safetensors given as dcx");
}

TEST_F(BadInput, ControlCharactersStayOnOneLine) {
    // Names and dtypes from the input are quoted in messages; a newline in them must not split the line.
    write_bytes(dir / "nl1.safetensors",
                raw_safetensors("{\"w\": {\"dtype\": \"F\\n32\", \"shape\": [2], \"data_offsets\": [0, 8]}}",
                                std::vector<uint8_t>(8)));
    write_bytes(dir / "nl2.safetensors",
                raw_safetensors("{\"a\\nb\\r\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}",
                                std::vector<uint8_t>(8)));
    for (const char* f : {"nl1.safetensors", "nl2.safetensors"}) {
        const std::string e = expect_fail({"compress", base, dir / f, "-o", out("x.dcx")}, f);
        EXPECT_NE(e.find(f), std::string::npos) << e;
    }
    write_safetensors(dir / "nl3.safetensors", {make_tensor("enc.query.weight\nfake", DType::F16, {4}, {1, 2, 3, 4})});
    expect_fail({"compress", dir / "nl3.safetensors", ft, "-o", out("x.dcx")}, "unrelated, newline name");
}

// ---- hand-crafted hostile .dcx files ------------------------------------------------

namespace {

// The base every crafted file is checked against: w (F16 16×16), v (F32 [8]), ids (I64 [4]).
struct Hostile : public ::testing::Test {
    TempDir dir;
    std::string base, out_dir;
    std::vector<T> bt;

    void SetUp() override {
        bt = {make_tensor("w", DType::F16, {16, 16}, gaussian(256, 0.05, 5)),
              make_tensor("v", DType::F32, {8}, gaussian(8, 1, 6)), make_tensor("ids", DType::I64, {4}, {1, 2, 3, 4})};
        base = dir / "base.safetensors";
        write_safetensors(base, bt);
        out_dir = dir / "out";
        fs::create_directories(out_dir);
    }
    uint64_t fp(size_t i) const {
        return tensor_fingerprint(bt[i].dtype, bt[i].shape, bt[i].bytes.data(), bt[i].bytes.size());
    }

    static std::vector<uint8_t> blob(const std::vector<uint8_t>& data, uint8_t codec = 0,
                                     std::optional<uint64_t> raw = std::nullopt,
                                     std::optional<uint64_t> stored = std::nullopt) {
        ByteWriter w;
        w.u8(codec);
        w.u64(raw ? *raw : data.size());
        w.u64(stored ? *stored : data.size());
        w.bytes(data.data(), data.size());
        return w.buf;
    }

    // Fields of a CODED record of w, each overridable.
    struct Coded {
        uint64_t rows = 16, cols = 16;
        uint16_t patch = 8;
        uint8_t transform = 0, bands = 0, flags = 0, base_dtype = 5;
        float scale = 1.0f;
        std::vector<uint8_t> widths = {0, 8};
        std::optional<uint8_t> n_widths;
        uint64_t n_patches = 4;
        std::vector<uint8_t> sel_blob = blob({0x01});                     // patch 0 at 8 bits, the rest 0
        std::vector<uint8_t> meta_blob = blob({0x00, 0xb8, 0x00, 0x38});  // lo -0.5, hi 0.5 (f16)
        std::vector<uint8_t> codes_blob = blob(std::vector<uint8_t>(64, 128));
        std::vector<uint8_t> tail;
        std::optional<uint64_t> fingerprint;
    };

    std::vector<uint8_t> coded_record(const Coded& c, const std::string& name = "w") const {
        ByteWriter w;
        write_prefix(w, {name, MethodId::PATCH, DType::F16, {16, 16}});
        w.u64(c.fingerprint ? *c.fingerprint : fp(0));
        w.u8(c.base_dtype);
        w.u64(c.rows);
        w.u64(c.cols);
        w.u16(c.patch);
        w.u8(c.transform);
        w.u8(c.bands);
        w.u8(c.flags);
        w.f32(c.scale);
        w.u8(c.n_widths ? *c.n_widths : static_cast<uint8_t>(c.widths.size()));
        w.bytes(c.widths.data(), c.widths.size());
        w.u64(c.n_patches);
        w.bytes(c.sel_blob.data(), c.sel_blob.size());
        w.bytes(c.meta_blob.data(), c.meta_blob.size());
        w.bytes(c.codes_blob.data(), c.codes_blob.size());
        w.bytes(c.tail.data(), c.tail.size());
        return w.buf;
    }

    std::vector<uint8_t> exact_record(size_t i, std::optional<uint64_t> fingerprint = std::nullopt) const {
        ByteWriter w;
        write_prefix(w, {bt[i].name, MethodId::EXACT_DELTA, bt[i].dtype, bt[i].shape});
        w.u64(fingerprint ? *fingerprint : fp(i));
        const auto b = blob(std::vector<uint8_t>(bt[i].bytes.size(), 0));
        w.bytes(b.data(), b.size());
        return w.buf;
    }

    static std::vector<uint8_t> whole_record(const TensorSpec& t, const std::vector<uint8_t>& body_blob,
                                             uint8_t reason = 0) {
        ByteWriter w;
        write_prefix(w, {t.name, MethodId::WHOLE, t.dtype, t.shape});
        w.u8(reason);
        w.bytes(body_blob.data(), body_blob.size());
        return w.buf;
    }

    static DcxHeader header(std::vector<TensorSpec> tensors, bool directory = false,
                            const std::string& shard = "model.safetensors") {
        DcxHeader h;
        h.directory = directory;
        h.shards.push_back({shard, std::nullopt, std::move(tensors)});
        return h;
    }
    static std::vector<uint8_t> bytes_of(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }
    static std::vector<uint8_t> end_section(uint64_t n) { return bytes_of(json{{"tensors", n}}.dump()); }

    using Sections = std::vector<std::pair<SectionType, std::vector<uint8_t>>>;

    std::string write(const Sections& secs, const std::vector<uint8_t>& trailer = {}) {
        const std::string p = dir / "h.dcx";
        {
            OutputFile of(p, true);
            DcxWriter w(of);
            for (const auto& [t, payload] : secs) w.section(t, payload);
            if (!trailer.empty()) of.write(trailer.data(), trailer.size());
            of.commit();
        }
        return p;
    }

    // A file with HEADER (w only), one TENSOR record and END.
    std::string one_tensor(const std::vector<uint8_t>& record,
                           std::vector<TensorSpec> tensors = {{"w", DType::F16, {16, 16}}}) {
        return write({{SectionType::HEADER, header_to_bytes(header(std::move(tensors)))},
                      {SectionType::TENSOR, record},
                      {SectionType::END, end_section(1)}});
    }

    void expect_ok(const std::string& p, const std::string& what) {
        EXPECT_NO_THROW(info_json(p)) << what;
        DecompressOptions o;
        o.overwrite = true;
        EXPECT_NO_THROW(decompress(base, p, out_dir + "/ok", o)) << what;
        std::error_code ec;
        fs::remove_all(out_dir + "/ok", ec);
    }

    // Both info and decompress must refuse with an Error and leave nothing behind
    // (`info_too` false: a fault only the base reveals, which info cannot see).
    void expect_refused(const std::string& p, const std::string& what, bool info_too = true) {
        if (info_too) {
            try {
                info_json(p);
                ADD_FAILURE() << what << ": info accepted it";
            } catch (const Error& e) {
                EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << what;
            } catch (const std::exception& e) {
                ADD_FAILURE() << what << ": info threw a non-Error: " << e.what();
            }
        }
        try {
            decompress(base, p, out_dir + "/o", DecompressOptions{});
            ADD_FAILURE() << what << ": decompress accepted it";
        } catch (const Error& e) {
            EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << what;
        } catch (const std::exception& e) {
            ADD_FAILURE() << what << ": decompress threw a non-Error: " << e.what();
        }
        EXPECT_TRUE(dir_entries(out_dir).empty()) << what << ": output left behind";
    }
};

}  // namespace

TEST_F(Hostile, CraftedBaselineIsValid) {
    // The unmodified crafted records decode: the variants below differ in one field.
    expect_ok(one_tensor(coded_record(Coded{})), "coded");
    expect_ok(one_tensor(exact_record(1), {{"v", DType::F32, {8}}}), "exact");
    expect_ok(one_tensor(whole_record({"n", DType::U8, {3}}, blob({1, 2, 3})), {{"n", DType::U8, {3}}}), "whole");
    DcxHeader h = header({{"w", DType::F16, {16, 16}}}, true);
    ByteWriter f;
    f.str16("config.json");
    const auto b = blob(bytes_of("{}"));
    f.bytes(b.data(), b.size());
    const std::string p = write({{SectionType::HEADER, header_to_bytes(h)},
                                 {SectionType::FILE, f.buf},
                                 {SectionType::TENSOR, coded_record(Coded{})},
                                 {SectionType::END, end_section(1)}});
    expect_ok(p, "directory");
    DecompressOptions o;
    decompress(base, p, out_dir + "/d", o);
    EXPECT_EQ(read_text(out_dir + "/d/config.json"), "{}");
    EXPECT_TRUE(fs::exists(out_dir + "/d/model.safetensors"));
    fs::remove_all(out_dir + "/d");
}

TEST_F(Hostile, CodedRecordFields) {
    auto check = [&](const std::function<void(Coded&)>& mut, const std::string& what) {
        Coded c;
        mut(c);
        expect_refused(one_tensor(coded_record(c)), what);
    };
    check([](Coded& c) { c.n_patches = 5; }, "n_patches 5");
    check([](Coded& c) { c.n_patches = 1ull << 60; }, "n_patches 2^60");
    check([](Coded& c) { c.n_patches = 0; }, "n_patches 0");
    check([](Coded& c) { c.widths = {0, 9}; }, "width 9");
    check([](Coded& c) { c.widths = {0, 255}; }, "width 255");
    check([](Coded& c) { c.widths = {8, 0}; }, "widths decreasing");
    check([](Coded& c) { c.widths = {8, 8}; }, "widths repeated");
    check([](Coded& c) { c.widths = {}; }, "no widths");
    check([](Coded& c) { c.widths = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; }, "10 widths");
    check([](Coded& c) { c.n_widths = 200; }, "n_widths past the record");
    check(
        [](Coded& c) {
            c.widths = {0, 2, 8};  // 2-bit selectors; value 3 is out of range
            c.sel_blob = blob({0x03});
        },
        "selector out of range");
    check([](Coded& c) { c.sel_blob = blob({0x01, 0x00}); }, "selector blob too long");
    check([](Coded& c) { c.sel_blob = blob({0x01}, 0, 1ull << 60); }, "selector raw_len 2^60");
    check([](Coded& c) { c.meta_blob = blob({0x00, 0xb8, 0x00, 0x38}, 0, 1ull << 60); }, "meta raw_len 2^60");
    check([](Coded& c) { c.codes_blob = blob(std::vector<uint8_t>(64, 1), 0, 1ull << 60); }, "codes raw_len 2^60");
    check([](Coded& c) { c.codes_blob = blob(std::vector<uint8_t>(64, 1), 0, 64, 1ull << 60); }, "stored_len 2^60");
    check([](Coded& c) { c.codes_blob = blob(std::vector<uint8_t>(63, 1)); }, "codes one byte short");
    check([](Coded& c) { c.meta_blob = blob({0x00, 0xb8, 0x00, 0x7c}); }, "meta hi = +inf");
    check([](Coded& c) { c.meta_blob = blob({0x00, 0xfe, 0x00, 0x38}); }, "meta lo = NaN");
    check([](Coded& c) { c.meta_blob = blob({0x00, 0xb8, 0x00, 0x38}, 7); }, "unknown blob codec");
    check([](Coded& c) { c.codes_blob = blob(std::vector<uint8_t>(64, 0x28), 1); }, "garbage zstd");
    check([](Coded& c) { c.patch = 7; }, "patch 7");
    check([](Coded& c) { c.patch = 0; }, "patch 0");
    check([](Coded& c) { c.patch = 264; }, "patch 264");
    check([](Coded& c) { c.patch = 65528; }, "patch 65528");
    check([](Coded& c) { c.transform = 2; }, "transform 2");
    check([](Coded& c) { c.bands = 3; }, "bands 3");
    check([](Coded& c) { c.bands = 1; }, "bands on a DCT record");
    check([](Coded& c) { c.flags = 0x80; }, "unknown flag");
    check([](Coded& c) { c.transform = 1, c.flags = 1; }, "JPEG flag on haar");
    check([](Coded& c) { c.scale = std::nanf(""); }, "scale NaN");
    check([](Coded& c) { c.scale = INFINITY; }, "scale inf");
    check([](Coded& c) { c.scale = -1; }, "scale negative");
    check([](Coded& c) { c.rows = 8; }, "rows mismatch");
    check([](Coded& c) { c.cols = 1ull << 40; }, "cols 2^40");
    check([](Coded& c) { c.base_dtype = 11; }, "base dtype I64");
    check([](Coded& c) { c.base_dtype = 99; }, "base dtype 99");
    check([](Coded& c) { c.tail = {0}; }, "trailing byte");
    {
        Coded c;
        c.fingerprint = 12345;
        expect_refused(one_tensor(coded_record(c)), "wrong base fingerprint", false);
    }
    // Cut anywhere inside the record body.
    const auto rec = coded_record(Coded{});
    for (size_t cut = 0; cut < rec.size(); cut += 7)
        expect_refused(one_tensor(std::vector<uint8_t>(rec.begin(), rec.begin() + static_cast<long>(cut))),
                       "record cut at " + std::to_string(cut));
}

TEST_F(Hostile, HugeDeclaredSizesAllocateNothing) {
    // A header tensor of 2^40 bytes, stored whole by a 20-byte zstd frame that declares
    // that content size: refused before any allocation of that size.
    const TensorSpec big{"w", DType::F16, {1ull << 20, 1ull << 19}};
    ByteWriter z;
    z.u32(0xFD2FB528);  // zstd magic
    z.u8(0xE0);         // single segment, 8-byte content size
    z.u64(1ull << 40);  // frame content size
    z.u8(0x03);         // block header (3 bytes, LE): last block, type RLE,
    z.u8(0x00);
    z.u8(0x10);  // size 131072
    z.u8(0);
    expect_refused(one_tensor(whole_record(big, blob(z.buf, 1, 1ull << 40)), {big}), "zstd bomb header");
    expect_refused(one_tensor(whole_record(big, blob({1, 2, 3}, 0, 1ull << 40)), {big}), "stored 2^40 of 3 bytes");
    expect_refused(one_tensor(whole_record(big, blob({1, 2, 3}, 0, 1ull << 60)), {big}), "raw_len 2^60");
    // A coded record of the same tensor, all patches at width 0 (nothing stored per patch).
    Coded c;
    c.rows = big.shape[0];
    c.cols = big.shape[1];
    c.widths = {0};
    c.n_patches = (big.shape[0] / 8) * (big.shape[1] / 8);
    c.sel_blob = blob({});
    c.meta_blob = blob({});
    c.codes_blob = blob({});
    auto rec = coded_record(c);
    // Rewrite the prefix's shape: coded_record writes [16, 16].
    ByteWriter pre;
    write_prefix(pre, {"w", MethodId::PATCH, DType::F16, {16, 16}});
    ByteWriter pre2;
    write_prefix(pre2, {"w", MethodId::PATCH, DType::F16, big.shape});
    rec.erase(rec.begin(), rec.begin() + static_cast<long>(pre.buf.size()));
    rec.insert(rec.begin(), pre2.buf.begin(), pre2.buf.end());
    // decompress must refuse it (the base's w is 16×16) before building anything per patch;
    // info, which has no base, holds no per-patch data for a one-width record (no selectors).
    const std::string p = one_tensor(rec, {big});
    EXPECT_THROW(decompress(base, p, out_dir + "/o", DecompressOptions{}), Error);
    EXPECT_NO_THROW(info_json(p));
    EXPECT_TRUE(dir_entries(out_dir).empty());
}

TEST_F(Hostile, WholeAndExactRecords) {
    const TensorSpec n3{"n", DType::U8, {3}};
    expect_refused(one_tensor(whole_record(n3, blob({1, 2})), {n3}), "whole: 2 bytes for 3");
    expect_refused(one_tensor(whole_record(n3, blob({1, 2, 3, 4})), {n3}), "whole: 4 bytes for 3");
    expect_refused(one_tensor(whole_record(n3, blob({1, 2, 3}), 4), {n3}), "whole: reason 4");
    expect_refused(one_tensor(whole_record(n3, blob({1, 2, 3}, 0, 3, 4)), {n3}), "whole: stored past the end");
    expect_refused(one_tensor(whole_record(n3, blob({1, 2, 3}, 0, 3, 2)), {n3}), "whole: stored != raw");
    expect_refused(one_tensor(exact_record(1, 99), {{"v", DType::F32, {8}}}), "exact: wrong fingerprint", false);
    {  // exact delta of an integer tensor
        ByteWriter w;
        write_prefix(w, {"ids", MethodId::EXACT_DELTA, DType::I64, {4}});
        w.u64(fp(2));
        const auto b = blob(std::vector<uint8_t>(32, 0));
        w.bytes(b.data(), b.size());
        expect_refused(one_tensor(w.buf, {{"ids", DType::I64, {4}}}), "exact delta of I64");
    }
    {  // record kind 3, dtype code 15, ndim 9
        auto rec = whole_record(n3, blob({1, 2, 3}));
        auto k = rec;
        k[2 + 1] = 3;
        expect_refused(one_tensor(k, {n3}), "kind 3");
        auto d = rec;
        d[2 + 2] = 15;
        expect_refused(one_tensor(d, {n3}), "dtype code 15");
        auto nd = rec;
        nd[2 + 3] = 9;
        expect_refused(one_tensor(nd, {n3}), "ndim 9");
    }
    // Record disagrees with the header: name, dtype, shape.
    expect_refused(one_tensor(whole_record({"m", DType::U8, {3}}, blob({1, 2, 3})), {n3}), "name");
    expect_refused(one_tensor(whole_record({"n", DType::I8, {3}}, blob({1, 2, 3})), {n3}), "dtype");
    expect_refused(one_tensor(whole_record({"n", DType::U8, {3, 1}}, blob({1, 2, 3})), {n3}), "shape");
    // A CODED record for a 1-D or integer tensor.
    {
        auto rec = coded_record(Coded{});
        ByteWriter pre, pre2;
        write_prefix(pre, {"w", MethodId::PATCH, DType::F16, {16, 16}});
        write_prefix(pre2, {"w", MethodId::PATCH, DType::F16, {256}});
        rec.erase(rec.begin(), rec.begin() + static_cast<long>(pre.buf.size()));
        rec.insert(rec.begin(), pre2.buf.begin(), pre2.buf.end());
        expect_refused(one_tensor(rec, {{"w", DType::F16, {256}}}), "coded 1-D");
    }
}

TEST_F(Hostile, HeaderJson) {
    const std::vector<uint8_t> rec = coded_record(Coded{});
    auto with_header = [&](const std::string& js, const std::string& what) {
        expect_refused(
            write(
                {{SectionType::HEADER, bytes_of(js)}, {SectionType::TENSOR, rec}, {SectionType::END, end_section(1)}}),
            what);
    };
    const std::string w = R"({"name": "w", "dtype": "F16", "shape": [16, 16]})";
    auto hdr = [&](const std::string& layout, const std::string& shards) {
        return R"({"format": "dcx", "version": 1, "layout": ")" + layout + R"(", "shards": )" + shards + "}";
    };
    // Sanity: the template is accepted.
    expect_ok(write({{SectionType::HEADER,
                      bytes_of(hdr("file", R"([{"file": "model.safetensors", "tensors": [)" + w + "]}]"))},
                     {SectionType::TENSOR, rec},
                     {SectionType::END, end_section(1)}}),
              "template");
    // Shard names follow relative_path_problem(): a relative path inside the output directory may
    // have components ("a/b.safetensors"); nothing may leave it or be ambiguous.
    for (const char* f : {"../evil.safetensors", "a/../../b.safetensors", "a//b.safetensors", "./b.safetensors",
                          "evil.bin", "", "..", "a\\\\b.safetensors", "/etc/x.safetensors"})
        with_header(hdr("directory", std::string(R"([{"file": ")") + f + R"(", "tensors": [)" + w + "]}]"),
                    std::string("shard file '") + f + "'");
    with_header(hdr("directory", R"([{"file": "a.safetensors", "tensors": [)" + w +
                                     R"(]}, {"file": "a.safetensors", "tensors": []}])"),
                "shard twice");
    with_header(hdr("file", R"([{"file": "a.safetensors", "tensors": [)" + w +
                                R"(]}, {"file": "b.safetensors", "tensors": []}])"),
                "two shards in file layout");
    with_header(hdr("tape", R"([{"file": "a.safetensors", "tensors": [)" + w + "]}]"), "layout");
    with_header(hdr("file", "[]"), "no shards");
    with_header(hdr("file", "{}"), "shards not an array");
    with_header(hdr("file", R"([{"file": "m.safetensors", "tensors": [)" + w + "," + w + "]}]"), "tensor twice");
    for (const char* t :
         {R"({"name": "w", "dtype": "F17", "shape": [16, 16]})", R"({"name": "w", "dtype": "F16", "shape": [16, -16]})",
          R"({"name": "w", "dtype": "F16", "shape": [16, 16.0]})",
          R"({"name": "w", "dtype": "F16", "shape": [1,1,1,1,1,1,1,1,1]})",
          R"({"name": "w", "dtype": "F16", "shape": [4294967296, 4294967296, 4294967296]})",
          R"({"name": "w", "dtype": "F16", "shape": [1099511627776, 1099511627776]})",
          R"({"name": "", "dtype": "F16", "shape": [16, 16]})", R"({"name": 3, "dtype": "F16", "shape": [16, 16]})",
          R"({"dtype": "F16", "shape": [16, 16]})", R"(["w", "F16", [16, 16]])"})
        with_header(hdr("file", std::string(R"([{"file": "m.safetensors", "tensors": [)") + t + "]}]"), t);
    with_header(hdr("file", R"([{"file": "m.safetensors", "metadata": {"a": 1}, "tensors": [)" + w + "]}]"),
                "metadata value");
    with_header(hdr("file", R"([{"file": "m.safetensors", "metadata": [], "tensors": [)" + w + "]}]"),
                "metadata array");
    with_header(R"({"format": "zip", "layout": "file", "shards": [{"file": "m.safetensors", "tensors": [)" + w + "]}]}",
                "format");
    with_header(R"({"format": "dcx", "layout": "file", "shards": [{"file": "m.safetensors", "tensors": [)" + w +
                    R"(]}], "dropped_base_tensors": [1]})",
                "dropped not strings");
    with_header(
        "{\"format\": \"dcx\", \"layout\": \"file\", \"shards\": [{\"file\": \"m\xff.safetensors\", \"tensors\": [" +
            w + "]}]}",
        "invalid UTF-8");
    with_header("not json", "not json");
    with_header("[]", "array");
    with_header("", "empty");
}

TEST_F(Hostile, FileSections) {
    const std::vector<uint8_t> rec = coded_record(Coded{});
    auto with_file = [&](const std::vector<std::vector<uint8_t>>& files, const std::string& what,
                         bool directory = true) {
        Sections s = {{SectionType::HEADER, header_to_bytes(header({{"w", DType::F16, {16, 16}}}, directory))}};
        for (const auto& f : files) s.push_back({SectionType::FILE, f});
        s.push_back({SectionType::TENSOR, rec});
        s.push_back({SectionType::END, end_section(1)});
        expect_refused(write(s), what);
    };
    auto file = [](const std::string& name, const std::vector<uint8_t>& b) {
        ByteWriter w;
        w.str16(name);
        w.bytes(b.data(), b.size());
        return w.buf;
    };
    const auto ok_blob = blob(bytes_of("{}"));
    for (const std::string& n :
         std::vector<std::string>{"../x", "a/../../x", "", "..", ".", "/etc/passwd", "a\\b", std::string("a\0b", 3),
                                  "model.safetensors", "a//b", "a/./b", "a/", "a/b/..", "model.safetensors/x"})
        with_file({file(n, ok_blob)}, "FILE named '" + n + "'");
    // A FILE may not be the folder of another ("a" and "a/b", in either order).
    with_file({file("a", ok_blob), file("a/b", ok_blob)}, "file and folder 'a'");
    with_file({file("a/b/c", ok_blob), file("a/b", ok_blob)}, "folder and file 'a/b'");
    {  // Names with '/' are subfolders of the output directory.
        Sections s = {{SectionType::HEADER, header_to_bytes(header({{"w", DType::F16, {16, 16}}}, true))},
                      {SectionType::FILE, file("a/b/c.json", ok_blob)},
                      {SectionType::FILE, file("a/d.json", ok_blob)},
                      {SectionType::TENSOR, rec},
                      {SectionType::END, end_section(1)}};
        const std::string p = write(s);
        EXPECT_NO_THROW(info_json(p));
        EXPECT_NO_THROW(decompress(base, p, out_dir + "/sub", DecompressOptions{}));
        EXPECT_EQ(read_text(out_dir + "/sub/a/b/c.json"), "{}");
        EXPECT_EQ(read_text(out_dir + "/sub/a/d.json"), "{}");
        fs::remove_all(out_dir + "/sub");
    }
    with_file({file("x.json", ok_blob), file("x.json", ok_blob)}, "file twice");
    with_file({file("x.json", blob({1, 2, 3}, 0, 1ull << 60))}, "raw_len 2^60");
    with_file({file("x.json", blob({1, 2, 3}, 0, (1ull << 30) + 1))}, "raw_len 1 GiB + 1");
    with_file({file("x.json", blob({1, 2, 3}, 9))}, "codec 9");
    with_file({file("x.json", blob({1, 2, 3}, 0, 3, 99))}, "stored past the end");
    with_file({file("x.json", ok_blob), file("y.json", ok_blob)}, "FILE in a single-file layout", false);
    auto trailing = file("x.json", ok_blob);
    trailing.push_back(0);
    with_file({trailing}, "trailing byte");
    with_file({std::vector<uint8_t>{0x05, 0x00, 'a'}}, "name cut off");
}

TEST_F(Hostile, ManyLargeFileSectionsAreNotAllHeldInMemory) {
    // 24 FILE sections, each 64 MiB of zeros in a few KiB of zstd: verifying them must not
    // keep 1.5 GiB decoded at once (each FILE may legally decode to 1 GiB).
    const std::vector<uint8_t> zeros(64u << 20, 0);
    Sections s = {{SectionType::HEADER, header_to_bytes(header({{"w", DType::F16, {16, 16}}}, true))}};
    for (int i = 0; i < 24; ++i) {
        ByteWriter w;
        w.str16("f" + std::to_string(i) + ".bin");
        w.blob(zeros.data(), zeros.size(), true);
        ASSERT_LT(w.buf.size(), 1u << 20);
        s.push_back({SectionType::FILE, w.buf});
    }
    s.push_back({SectionType::TENSOR, coded_record(Coded{})});
    s.push_back({SectionType::END, end_section(1)});
    const std::string p = write(s);
    rusage before{}, after{};
    getrusage(RUSAGE_SELF, &before);
    const json j = json::parse(info_json(p));
    getrusage(RUSAGE_SELF, &after);
    ASSERT_EQ(j["files"].size(), 24u);
    EXPECT_EQ(j["files"][0]["bytes"], 64u << 20);
    EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 768L << 10)
        << "peak RSS grew by " << (after.ru_maxrss - before.ru_maxrss) << " KiB";
}

TEST_F(Hostile, Framing) {
    const auto hdr = header_to_bytes(header({{"w", DType::F16, {16, 16}}}));
    const auto rec = coded_record(Coded{});
    const Sections good = {{SectionType::HEADER, hdr}, {SectionType::TENSOR, rec}, {SectionType::END, end_section(1)}};
    expect_ok(write(good), "framing template");
    expect_refused(write({{SectionType::TENSOR, rec}, {SectionType::HEADER, hdr}, {SectionType::END, end_section(1)}}),
                   "TENSOR before HEADER");
    expect_refused(write({{SectionType::HEADER, hdr},
                          {SectionType::HEADER, hdr},
                          {SectionType::TENSOR, rec},
                          {SectionType::END, end_section(1)}}),
                   "two HEADERs");
    expect_refused(write({{SectionType::HEADER, hdr}, {SectionType::TENSOR, rec}}), "no END");
    expect_refused(write({{SectionType::HEADER, hdr}, {SectionType::END, end_section(0)}}), "missing tensor");
    expect_refused(write({{SectionType::HEADER, hdr},
                          {SectionType::TENSOR, rec},
                          {SectionType::TENSOR, rec},
                          {SectionType::END, end_section(2)}}),
                   "extra tensor");
    expect_refused(write({{SectionType::HEADER, hdr}, {SectionType::TENSOR, rec}, {SectionType::END, end_section(2)}}),
                   "END count");
    expect_refused(write({{SectionType::HEADER, hdr}, {SectionType::TENSOR, rec}, {SectionType::END, bytes_of("{")}}),
                   "END not JSON");
    expect_refused(write({{SectionType::HEADER, hdr}, {SectionType::TENSOR, rec}, {SectionType::END, bytes_of("[1]")}}),
                   "END not an object");
    expect_refused(write({{SectionType::HEADER, hdr},
                          {SectionType::TENSOR, rec},
                          {SectionType::END, end_section(1)},
                          {SectionType::END, end_section(1)}}),
                   "two ENDs");
    expect_refused(write(good, {0}), "a trailing byte");
    expect_refused(write({{SectionType::HEADER, hdr},
                          {SectionType::TENSOR, rec},
                          {static_cast<SectionType>(7), {}},
                          {SectionType::END, end_section(1)}}),
                   "unknown section type");
    expect_refused(write({{SectionType::HEADER, hdr},
                          {SectionType::FILE, {}},
                          {SectionType::TENSOR, rec},
                          {SectionType::END, end_section(1)}}),
                   "empty FILE");
    // Edits of the raw bytes: magic, major version, flags, a length past the end, a huge length.
    const auto raw = read_bytes(write(good));
    auto edit = [&](size_t pos, std::vector<uint8_t> v, const std::string& what) {
        auto b = raw;
        std::copy(v.begin(), v.end(), b.begin() + static_cast<long>(pos));
        write_bytes(dir / "e.dcx", b);
        expect_refused(dir / "e.dcx", what);
    };
    edit(1, {'X'}, "magic");
    edit(8, {2, 0}, "major 2");
    edit(16 + 4, {1}, "section flags");
    edit(16 + 8, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, "length 2^63");
    edit(16 + 8, {0xe8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "length 2^64-24");
    edit(16 + 8, {static_cast<uint8_t>(raw.size()), static_cast<uint8_t>(raw.size() >> 8), 0, 0, 0, 0, 0, 0},
         "length past the end");
    // A newer minor version is accepted.
    auto minor = raw;
    minor[10] = 5;
    write_bytes(dir / "minor.dcx", minor);
    expect_ok(dir / "minor.dcx", "minor 5");
}

TEST_F(Hostile, CliReportsOneLine) {
    Coded c;
    c.widths = {0, 9};
    const std::string p = one_tensor(coded_record(c));
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"info", p}, std::vector<std::string>{"info", "--json", p},
          std::vector<std::string>{"decompress", base, p, "-o", out_dir + "/x.safetensors"}}) {
        const RunResult r = run_cli(args, dir.path());
        EXPECT_EQ(r.rc, 1) << args[0];
        ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
        EXPECT_EQ(r.err.rfind("deltacodec: error: ", 0), 0u) << r.err;
        EXPECT_EQ(r.out, "");
    }
    // An END whose stats are of the wrong type is still described (or refused) cleanly.
    const std::string e = write({{SectionType::HEADER, header_to_bytes(header({{"w", DType::F16, {16, 16}}}))},
                                 {SectionType::TENSOR, coded_record(Coded{})},
                                 {SectionType::END, bytes_of(R"({"tensors": 1, "stats": {"rel_error": "high"}})")}});
    const RunResult r = run_cli({"info", e}, dir.path());
    EXPECT_TRUE(r.rc == 0 || (r.rc == 1 && r.err.rfind("deltacodec: error: ", 0) == 0)) << r.rc << " " << r.err;
    EXPECT_TRUE(dir_entries(out_dir).empty());
}
