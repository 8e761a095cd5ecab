// Issue "Trust": what the readers' shared record parser, info and compress's own
// checks guarantee. Each test here failed (crash, huge memory, escape codes on the
// terminal, or an archive compress wrote and decompress then refused) before.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <zstd.h>

#include <nlohmann/json.hpp>

#include "format/container.hpp"
#include "deltacodec/deltacodec.hpp"
#include "format/header.hpp"
#include "testutil.hpp"

using namespace deltacodec;
using namespace testutil;
using json = nlohmann::json;

namespace {

// Runs the CLI with its address space limited to `limit_mib` (none under a
// sanitizer, which reserves terabytes of shadow); returns exit code and output.
// A reader that tried to allocate what a hostile file declares fails here.
struct Measured {
    int rc = -1;
    std::string output;
};
Measured run_limited(const std::vector<std::string>& args, const std::string& scratch, uint64_t limit_mib) {
    const std::string out = scratch + "/.measured_out";
    std::vector<std::string> full = {DELTACODEC_CLI};
    full.insert(full.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : full) argv.push_back(a.data());
    argv.push_back(nullptr);
    Measured m;
    const pid_t pid = fork();
    if (pid == 0) {
        const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
#if !defined(__SANITIZE_ADDRESS__)
        const rlimit lim{limit_mib << 20, limit_mib << 20};
        setrlimit(RLIMIT_AS, &lim);
#endif
        execv(argv[0], argv.data());
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    m.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    m.output = read_text(out);
    return m;
}

std::vector<uint8_t> bytes_of(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

std::string write_dcx(const std::string& path, const std::vector<std::pair<SectionType, std::vector<uint8_t>>>& secs) {
    OutputFile of(path, true);
    DcxWriter w(of);
    for (const auto& [t, payload] : secs) w.section(t, payload);
    of.commit();
    return path;
}

class Trust : public ::testing::Test {
protected:
    TempDir dir;
    std::string base, ft, dcx;
    void SetUp() override {
        const std::vector<T> b = {make_tensor("enc.w", DType::F16, {64, 64}, gaussian(4096, 0.05, 1)),
                                  make_tensor("enc.norm", DType::F32, {64}, gaussian(64, 1.0, 2))};
        std::vector<T> f = b;
        f[0] = make_tensor("enc.w", DType::F16, {64, 64}, perturb(decode(DType::F16, b[0].bytes.data(), 4096), 64, 64, 0.01, 3));
        base = dir / "base.safetensors";
        ft = dir / "ft.safetensors";
        write_safetensors(base, b);
        write_safetensors(ft, f);
        dcx = dir / "good.dcx";
        const RunResult r = run_cli({"compress", base, ft, "-o", dcx, "-q", "--patch", "16"}, dir.path());
        ASSERT_EQ(r.rc, 0) << r.err;
    }
};

}  // namespace

TEST_F(Trust, ReservedHeaderBytesMustBeZero) {
    std::vector<uint8_t> b = read_bytes(dcx);
    b[13] = 1;
    write_bytes(dir / "r.dcx", b);
    EXPECT_THROW(info(dir / "r.dcx"), Error);
    EXPECT_THROW(decompress(base, dir / "r.dcx", dir / "o.safetensors", {}), Error);
    EXPECT_FALSE(fs::exists(dir / "o.safetensors"));
}

// A 4 KB record declaring 2^30 patches with a 128 MiB zstd-packed selector array
// (all zeros: width 0). info once unpacked it to a byte per patch (1.2 GB); now it
// counts selectors as they stream by. decompress refuses it: the base is 64×64.
TEST_F(Trust, SelectorBombStaysSmallInInfo) {
    const uint64_t side = 1ull << 18;
    const TensorSpec big{"enc.w", DType::F16, {side, side}};
    const uint64_t n = (side / 8) * (side / 8), sel_raw = n / 8;
    std::vector<uint8_t> zeros(sel_raw, 0);
    std::vector<uint8_t> z(ZSTD_compressBound(sel_raw));
    z.resize(ZSTD_compress(z.data(), z.size(), zeros.data(), zeros.size(), 1));
    zeros = {};
    ASSERT_LT(z.size(), 8192u);
    ByteWriter w;
    write_prefix(w, {big.name, MethodId::PATCH, big.dtype, big.shape});
    w.u64(0);  // fingerprint
    w.u8(static_cast<uint8_t>(DType::F16));
    w.u64(side);
    w.u64(side);
    w.u16(8);
    w.u8(1);  // dct
    w.u8(0);
    w.u8(0);
    w.f32(1.0f);
    w.u8(2);
    w.u8(0);
    w.u8(8);
    w.u64(n);
    w.u8(1);  // zstd
    w.u64(sel_raw);
    w.u64(z.size());
    w.bytes(z.data(), z.size());
    for (int i = 0; i < 2; ++i) w.blob(nullptr, 0, false);  // meta, codes: nothing coded
    DcxHeader h;
    h.shards.push_back({"model.safetensors", std::nullopt, {big}});
    const std::string p = write_dcx(dir / "bomb.dcx", {{SectionType::HEADER, header_to_bytes(h)},
                                                       {SectionType::TENSOR, w.buf},
                                                       {SectionType::END, bytes_of(R"({"tensors":1})")}});
    EXPECT_LT(fs::file_size(p), 8192u);
    const DcxInfo in = info(p);
    ASSERT_EQ(in.tensors.size(), 1u);
    EXPECT_EQ(in.tensors[0].patches_per_width, (std::vector<uint64_t>{n, 0}));
    const Measured m = run_limited({"info", p}, dir.path(), 512);
    EXPECT_EQ(m.rc, 0) << m.output;
    EXPECT_THROW(decompress(base, p, dir / "o.safetensors", {}), Error);
    EXPECT_FALSE(fs::exists(dir / "o.safetensors"));
}

// A FILE or WHOLE blob whose zstd frame asks for a 1 GiB window is refused before
// a streaming decoder would allocate it (our writer's frames use at most 512 KiB).
TEST_F(Trust, HugeZstdWindowIsRefused) {
    ByteWriter f;
    f.u32(0xFD2FB528);
    f.u8(0x00);  // no content size, not single segment, no checksum
    f.u8(0xA8);  // window descriptor: exponent 21 → 2^31 bytes
    ByteWriter w;
    const TensorSpec t{"enc.norm", DType::F32, {64}};
    write_prefix(w, {t.name, MethodId::WHOLE, t.dtype, t.shape});
    w.u8(0);
    w.u8(1);
    w.u64(256);
    w.u64(f.buf.size());
    w.bytes(f.buf.data(), f.buf.size());
    DcxHeader h;
    h.shards.push_back({"model.safetensors", std::nullopt, {t}});
    const std::string p = write_dcx(dir / "win.dcx", {{SectionType::HEADER, header_to_bytes(h)},
                                                      {SectionType::TENSOR, w.buf},
                                                      {SectionType::END, bytes_of(R"({"tensors":1})")}});
    EXPECT_THROW(info(p), Error);
}

// END is untrusted: deeply nested stats are refused or ignored, never echoed
// (info once re-printed them with indentation that grew with depth: 1.9 GB).
TEST_F(Trust, NestedEndStatsAreNotEchoed) {
    std::vector<uint8_t> b = read_bytes(dcx);
    const MappedFile f = MappedFile::open(dcx);
    DcxReader rd(f);
    Section s{};
    std::vector<std::pair<SectionType, std::vector<uint8_t>>> secs;
    while (rd.next(s)) secs.push_back({s.type, std::vector<uint8_t>(s.data, s.data + s.size)});
    std::string end = R"({"tensors":2,"stats":{"x":)" + std::string(20000, '[') + std::string(20000, ']') + "}}";
    secs.back().second = bytes_of(end);
    const std::string p = write_dcx(dir / "end.dcx", secs);
    const Measured m = run_limited({"info", "--json", p}, dir.path(), 512);
    EXPECT_TRUE(m.rc == 0 || m.rc == 1) << m.output;
    EXPECT_LT(m.output.size(), 100000u);
}

// Names and the producer string from a file reach the terminal through printable().
TEST_F(Trust, NoTerminalEscapesFromFiles) {
    // A fine-tune with a new tensor whose name carries escape sequences (C0 and C1 CSI).
    const std::string evil = "new\x1b]0;owned\x07\xc2\x9b" "31m";
    std::vector<T> f = {make_tensor("enc.w", DType::F16, {64, 64}, gaussian(4096, 0.05, 1)),
                        make_tensor("enc.norm", DType::F32, {64}, gaussian(64, 1.0, 2)),
                        make_tensor(evil, DType::F32, {4}, {1, 2, 3, 4})};
    write_safetensors(dir / "ft2.safetensors", f);
    RunResult r = run_cli({"compress", base, dir / "ft2.safetensors", "-o", dir / "e.dcx", "-v"}, dir.path());
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.out.find('\x1b'), std::string::npos);
    EXPECT_EQ(r.out.find("\xc2\x9b"), std::string::npos);
    EXPECT_NE(r.out.find("new\\x1b]0;owned\\x07\\xc2\\x9b31m"), std::string::npos) << r.out;
    // A producer string with an escape, in a crafted header.
    const MappedFile mf = MappedFile::open(dir / "e.dcx");
    DcxReader rd(mf);
    Section s{};
    std::vector<std::pair<SectionType, std::vector<uint8_t>>> secs;
    while (rd.next(s)) secs.push_back({s.type, std::vector<uint8_t>(s.data, s.data + s.size)});
    json h = json::parse(secs[0].second.begin(), secs[0].second.end());
    h["producer"] = "evil\x1b[2J\x1b[H";
    secs[0].second = bytes_of(h.dump());
    write_dcx(dir / "p.dcx", secs);
    r = run_cli({"info", dir / "p.dcx"}, dir.path());
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("evil\\x1b[2J"), std::string::npos) << r.out;
}

// compress refuses, before writing anything, what the reader would refuse.
TEST_F(Trust, CompressRefusesNamesNoReaderAccepts) {
    const std::vector<uint8_t> data(16, 0);
    for (const std::string& name : {std::string(""), std::string("a\\u0000b")}) {
        const std::string hdr = R"({"enc.w":{"dtype":"F16","shape":[64,64],"data_offsets":[0,8192]},")" + name +
                                R"(":{"dtype":"F32","shape":[4],"data_offsets":[8192,8208]}})";
        std::vector<uint8_t> payload = read_bytes(ft);
        // enc.w of the fine-tune followed by 16 bytes.
        const SafetensorsFile sf = SafetensorsFile::open(ft);
        const TensorInfo* w = sf.find("enc.w");
        std::vector<uint8_t> body(sf.data(*w), sf.data(*w) + w->nbytes());
        body.insert(body.end(), data.begin(), data.end());
        write_bytes(dir / "odd.safetensors", raw_safetensors(hdr, body));
        const RunResult r = run_cli({"compress", base, dir / "odd.safetensors", "-o", dir / "odd.dcx"}, dir.path());
        EXPECT_EQ(r.rc, 1) << name << ": " << r.err;
        EXPECT_NE(r.err.find("a .dcx cannot hold it"), std::string::npos) << r.err;
        EXPECT_FALSE(fs::exists(dir / "odd.dcx"));
    }
}

// Tensors of 9 and more dimensions (valid safetensors) round-trip; more than 255 are refused.
TEST_F(Trust, HighRankTensorsRoundTripOrAreRefused) {
    std::vector<T> b = {make_tensor("enc.w", DType::F16, {64, 64}, gaussian(4096, 0.05, 1)),
                        make_tensor("nine", DType::F32, {1, 2, 1, 2, 1, 2, 1, 2, 3}, gaussian(48, 1.0, 4))};
    std::vector<T> f = b;
    f[1] = make_tensor("nine", DType::F32, {1, 2, 1, 2, 1, 2, 1, 2, 3}, gaussian(48, 1.0, 5));
    write_safetensors(dir / "b9.safetensors", b);
    write_safetensors(dir / "f9.safetensors", f);
    RunResult r = run_cli({"compress", dir / "b9.safetensors", dir / "f9.safetensors", "-o", dir / "9.dcx"}, dir.path());
    ASSERT_EQ(r.rc, 0) << r.err;
    r = run_cli({"decompress", dir / "b9.safetensors", dir / "9.dcx", "-o", dir / "9.safetensors"}, dir.path());
    ASSERT_EQ(r.rc, 0) << r.err;
    const SafetensorsFile got = SafetensorsFile::open(dir / "9.safetensors");
    const SafetensorsFile want = SafetensorsFile::open(dir / "f9.safetensors");
    const TensorInfo* g = got.find("nine");
    ASSERT_NE(g, nullptr);
    EXPECT_EQ(0, std::memcmp(got.data(*g), want.data(*want.find("nine")), g->nbytes()));

    Shape deep(256, 1);
    f[1] = make_tensor("nine", DType::F32, deep, {1.0});
    write_safetensors(dir / "f256.safetensors", f);
    r = run_cli({"compress", dir / "b9.safetensors", dir / "f256.safetensors", "-o", dir / "256.dcx"}, dir.path());
    EXPECT_EQ(r.rc, 1);
    EXPECT_NE(r.err.find("255"), std::string::npos) << r.err;  // the reader refuses it first
    EXPECT_FALSE(fs::exists(dir / "256.dcx"));
}

// __metadata__ that would make the .dcx header pass 64 MiB is refused by compress
// (the reader's limit), with a message that says so, instead of an unreadable file.
TEST_F(Trust, HeaderOverTheLimitIsRefusedByCompress) {
    const SafetensorsFile sf = SafetensorsFile::open(ft);
    std::string hdr = R"({"__metadata__":{"big":")" + std::string(65u << 20, 'x') + R"("},"enc.w":{"dtype":"F16","shape":[64,64],"data_offsets":[0,8192]},"enc.norm":{"dtype":"F32","shape":[64],"data_offsets":[8192,8448]}})";
    std::vector<uint8_t> body(sf.data(*sf.find("enc.w")), sf.data(*sf.find("enc.w")) + 8192);
    body.insert(body.end(), sf.data(*sf.find("enc.norm")), sf.data(*sf.find("enc.norm")) + 256);
    write_bytes(dir / "meta.safetensors", raw_safetensors(hdr, body));
    hdr.clear();
    const RunResult r = run_cli({"compress", base, dir / "meta.safetensors", "-o", dir / "m.dcx"}, dir.path());
    EXPECT_EQ(r.rc, 1) << r.err;
    EXPECT_NE(r.err.find("over the format's limit"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir / "m.dcx"));
}
