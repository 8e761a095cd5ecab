// Method 9, lossless (src/methods/lossless.cpp): its records against a plain reference
// decoder written here (FORMAT.md "LOSSLESS", element by element, rANS planes through
// rans::decode_ref, zstd planes through ZSTD_decompress), golden bytes of a tiny record,
// thread-count invariance, the choice of --lossless-coder, and hostile records refused
// with deltacodec::Error.
#include <gtest/gtest.h>
#include <zstd.h>

#include <cstring>

#include "codec/rans.hpp"
#include "deltacodec/deltacodec.hpp"
#include "format/container.hpp"
#include "format/header.hpp"
#include "method_testutil.hpp"
#include "testutil.hpp"

using namespace deltacodec;
using namespace testutil;

namespace {

// ---- a record, read field by field (FORMAT.md "LOSSLESS") --------------------------

struct Plane {
    uint8_t codec = 0;
    uint32_t len = 0;
    size_t dir_at = 0, data_at = 0;  // offsets in the payload
};
struct Rec {
    TensorPrefix prefix;
    size_t body = 0, chunk_at = 0;
    uint32_t chunk = 0;
    uint64_t numel = 0;
    size_t w = 0;
    std::vector<Plane> planes;  // chunk after chunk, plane after plane
};

Rec split(const std::vector<uint8_t>& p) {
    ByteReader r(p.data(), p.size(), "test");
    auto at = [&] { return p.size() - r.remaining(); };
    Rec rec;
    rec.prefix = read_prefix(r);
    rec.body = at();
    if (static_cast<unsigned>(rec.prefix.method) != 9) return rec;  // another method: the prefix only
    r.u64();
    rec.chunk_at = at();
    rec.chunk = r.u32();
    rec.numel = shape_numel(rec.prefix.shape);
    rec.w = dtype_size(rec.prefix.dtype);
    const uint64_t chunks = (rec.numel + rec.chunk - 1) / rec.chunk;
    for (uint64_t i = 0; i < chunks * rec.w; ++i) {
        Plane pl;
        pl.dir_at = at();
        pl.codec = r.u8();
        pl.len = r.u32();
        rec.planes.push_back(pl);
    }
    size_t data = at();
    for (Plane& pl : rec.planes) pl.data_at = data, data += pl.len;
    EXPECT_EQ(data, p.size());
    return rec;
}

// The reference decoder: every plane into a whole-tensor plane buffer, then element by
// element z → d → base + d (mod 2^(8w)).
std::vector<uint8_t> ref_decode(const std::vector<uint8_t>& p, const Rec& rec, const std::vector<uint8_t>& base) {
    const uint64_t n = rec.numel;
    const size_t w = rec.w;
    std::vector<std::vector<uint8_t>> plane(w, std::vector<uint8_t>(n));
    for (size_t i = 0; i < rec.planes.size(); ++i) {
        const Plane& pl = rec.planes[i];
        const uint64_t c = i / w, k = i % w, b = c * rec.chunk, len = std::min<uint64_t>(n - b, rec.chunk);
        const uint8_t* src = p.data() + pl.data_at;
        uint8_t* out = plane[k].data() + b;
        switch (pl.codec) {
            case 0:
                EXPECT_EQ(pl.len, len);
                std::memcpy(out, src, len);
                break;
            case 1:
                EXPECT_EQ(pl.len, 1u);
                std::memset(out, src[0], len);
                break;
            case 2: {
                ByteReader r(src, pl.len, "ref");
                const rans::Table t = rans::read_table(r);
                const size_t rest = r.remaining();
                const std::vector<uint8_t> s = rans::decode_ref(t, r.bytes(rest), rest, len, "ref");
                std::memcpy(out, s.data(), len);
                break;
            }
            case 3:
                EXPECT_EQ(ZSTD_decompress(out, len, src, pl.len), len);
                break;
            default:
                ADD_FAILURE() << "codec " << int(pl.codec);
        }
    }
    std::vector<uint8_t> ft(n * w);
    for (uint64_t i = 0; i < n; ++i) {
        uint64_t z = 0, x = 0;
        for (size_t k = 0; k < w; ++k) z |= static_cast<uint64_t>(plane[k][i]) << (8 * k);
        for (size_t k = 0; k < w; ++k) x |= static_cast<uint64_t>(base[i * w + k]) << (8 * k);
        const uint64_t d = (z & 1) ? ~(z >> 1) : z >> 1;  // −(z+1)/2 or z/2, mod 2^64
        const uint64_t v = x + d;
        for (size_t k = 0; k < w; ++k) ft[i * w + k] = static_cast<uint8_t>(v >> (8 * k));
    }
    return ft;
}

class Lossless : public MethodPair {
protected:
    // The shared pair and g.big (600 × 1000 f16: 3 chunks of 2^18 elements): its first 300
    // rows unchanged (chunk 0 is all fills, chunk 1 half runs of zeros: zstd's case), the
    // rest a small delta (rANS on the high planes, the low planes raw); and h.same, unchanged.
    void SetUp() override {
        make_pair({{"g.big", DType::F16, DType::F16, 600, 1000}, {"h.same", DType::BF16, DType::BF16, 30, 30}},
                  [this](const std::string& name, std::vector<double>& w) {
                      if (name == "h.same") w = gaussian(900, 0.05, 13);  // the base's values (seed 13)
                      if (name != "g.big") return;
                      const std::vector<double> v = gaussian(600 * 1000, 0.05, 11);
                      for (size_t i = 0; i < 300 * 1000; ++i) w[i] = v[i];
                  });
    }
    CompressReport make(const std::string& out, CompressOptions o = {}) {
        o.exclude = ".";  // every tensor kept exactly
        o.lossless_rans = true;
        o.overwrite = true;
        return compress(base_path, ft_path, out, o);
    }
    const T& named(const std::vector<T>& v, const std::string& name) {
        for (const T& t : v)
            if (t.name == name) return t;
        throw std::runtime_error("no tensor " + name);
    }
};

}  // namespace

// Every exact tensor is a method-9 record that the plain reference decodes to the
// fine-tune's bytes; apply() gives the same at 1 and 4 threads; the pair exercises all
// four plane codecs (old code: no method 9, the records are method 1).
TEST_F(Lossless, RecordsAndRebuildMatchThePlainReference) {
    const CompressReport rep = make(dir / "l.dcx");
    size_t records = 0, codecs[4] = {};
    for (const auto& [type, payload] : read_sections(dir / "l.dcx")) {
        if (type != SectionType::TENSOR) continue;
        const Rec rec = split(payload);
        if (rec.prefix.name == "d.mixed") {  // a dtype change: whole
            EXPECT_EQ(static_cast<unsigned>(rec.prefix.method), 2u);
            continue;
        }
        ASSERT_EQ(static_cast<unsigned>(rec.prefix.method), 9u) << rec.prefix.name;
        EXPECT_EQ(rec.chunk, 1u << 18);
        for (const Plane& pl : rec.planes) ++codecs[pl.codec];
        EXPECT_EQ(ref_decode(payload, rec, named(base, rec.prefix.name).bytes), named(ft, rec.prefix.name).bytes)
            << rec.prefix.name;
        ++records;
    }
    EXPECT_EQ(records, ft.size() - 1);
    for (int c = 0; c < 4; ++c) EXPECT_GT(codecs[c], 0u) << "codec " << c;
    for (const TensorReport& t : rep.tensors) {
        EXPECT_TRUE(t.name == "d.mixed" || t.method == "lossless") << t.name;
    }
    for (const unsigned threads : {1u, 4u}) {
        MapSink sink;
        ApplyOptions ao;
        ao.threads = threads;
        apply(base_path, dir / "l.dcx", sink, ao);
        for (const T& t : ft) EXPECT_EQ(sink.tensors.at(t.name), t.bytes) << t.name << " threads " << threads;
    }
}

// The same bytes at 1 and 4 threads.
TEST_F(Lossless, OutputDoesNotDependOnThreads) {
    expect_same_bytes_at_1_and_4_threads([&](const std::string& out, const CompressOptions& o) { make(out, o); }, dir);
}

// --lossless-coder zstd (the default) writes method 1, rans method 9, smaller; both
// rebuild the fine-tune. From the CLI too.
TEST_F(Lossless, CoderOptionChoosesTheMethod) {
    CompressOptions o;
    o.exclude = ".";
    o.overwrite = true;
    compress(base_path, ft_path, dir / "z.dcx", o);
    make(dir / "r.dcx");
    for (const auto& [file, method] : {std::pair{"z.dcx", 1u}, std::pair{"r.dcx", 9u}}) {
        for (const auto& [type, payload] : read_sections(dir / file)) {
            ByteReader r(payload.data(), payload.size(), "t");
            if (type == SectionType::TENSOR && read_prefix(r).name != "d.mixed") {
                EXPECT_EQ(record_method(payload), method) << file;
            }
        }
        MapSink sink;
        apply(base_path, dir / file, sink);
        for (const T& t : ft) EXPECT_EQ(sink.tensors.at(t.name), t.bytes) << file << " " << t.name;
    }
    EXPECT_LT(read_bytes(dir / "r.dcx").size(), read_bytes(dir / "z.dcx").size());
    const RunResult r = run_cli(
        {"compress", base_path, ft_path, "-o", dir / "c.dcx", "--exclude", ".", "--lossless-coder", "rans", "-q"},
        dir.path());
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(read_bytes(dir / "c.dcx").size(), read_bytes(dir / "r.dcx").size());
    const RunResult bad =
        run_cli({"compress", base_path, ft_path, "-o", dir / "x.dcx", "--lossless-coder", "lz4", "-q"}, dir.path());
    EXPECT_EQ(bad.rc, 2);
    EXPECT_NE(bad.err.find("is not one of zstd, rans"), std::string::npos) << bad.err;
    const DcxInfo inf = info(dir / "r.dcx");
    size_t n = 0;
    for (const DcxTensor& t : inf.tensors) n += t.method == "lossless" && t.kind == "exact";
    EXPECT_EQ(n, ft.size() - 1);
}

// Golden bytes: the payload of a tiny record (FORMAT.md "LOSSLESS", by hand): 64 f16
// elements, one chunk; the low plane raw, the high plane rANS. And an unchanged tensor:
// two fills of 0. Any change to the writer's choices or the zigzag shows here.
TEST(LosslessGolden, TinyRecordBytes) {
    TempDir dir;
    std::vector<uint16_t> b(64), f(64);
    for (int i = 0; i < 64; ++i) {
        b[i] = static_cast<uint16_t>(0x2000 + 97 * i);
        const int d = (i * 37) % 61 - 30 + (i == 5 ? 300 : 0);  // −30..30, one larger
        f[i] = static_cast<uint16_t>(b[i] + d);
    }
    auto bytes = [](const std::vector<uint16_t>& v) {
        std::vector<uint8_t> o(v.size() * 2);
        std::memcpy(o.data(), v.data(), o.size());
        return o;
    };
    const T bt{"t", DType::F16, {8, 8}, bytes(b)}, ft{"t", DType::F16, {8, 8}, bytes(f)};
    const T bz{"z", DType::F16, {4}, bytes({1, 2, 3, 4})};
    write_safetensors(dir / "b.safetensors", {bt, bz});
    write_safetensors(dir / "f.safetensors", {ft, bz});
    CompressOptions o;
    o.exclude = ".";
    o.lossless_rans = true;
    compress(dir / "b.safetensors", dir / "f.safetensors", dir / "t.dcx", o);
    std::vector<std::vector<uint8_t>> recs;
    for (const auto& [type, payload] : read_sections(dir / "t.dcx"))
        if (type == SectionType::TENSOR) recs.push_back(payload);
    ASSERT_EQ(recs.size(), 2u);
    auto hex = [](const std::vector<uint8_t>& v, size_t from) {
        std::string s;
        char buf[4];
        for (size_t i = from; i < v.size(); ++i) std::snprintf(buf, sizeof buf, "%02x", v[i]), s += buf;
        return s;
    };
    const Rec t = split(recs[0]), z = split(recs[1]);
    // After the prefix and the base fingerprint: chunk, directory, planes.
    EXPECT_EQ(hex(recs[0], t.chunk_at),
              "00000400"
              "0040000000"
              "0210000000"  // chunk 2^18; plane 0 raw (64 bytes), plane 1 rANS (16)
              "3b0e21280720121d2c0333161930002f1a1534042b1e11380827220d3c0c2326"
              "0939101f2a0535141b2e0131181732022d1c13360629200f3a0a25240b3b0e21"
              "0300"
              "80fc01"
              "00"
              "8004"  // rANS table: 3 symbols, frequencies 32256, 0, 512
              "00bad300"
              "001c1c34");
    EXPECT_EQ(hex(recs[1], z.chunk_at),
              "0000040001010000000101000000"
              "0000");
    MapSink sink;
    apply(dir / "b.safetensors", dir / "t.dcx", sink);
    EXPECT_EQ(sink.tensors.at("t"), ft.bytes);
    EXPECT_EQ(sink.tensors.at("z"), bz.bytes);
}

// Hostile records: each refused by info and by apply with an Error naming the tensor.
TEST_F(Lossless, CorruptRecordsAreRefused) {
    make(dir / "l.dcx");
    const Sections good = read_sections(dir / "l.dcx");
    size_t at = 0;
    while (good[at].first != SectionType::TENSOR || split(good[at].second).prefix.name != "g.big") ++at;
    const std::vector<uint8_t>& p0 = good[at].second;
    const Rec rec = split(p0);
    ASSERT_EQ(rec.planes.size(), 6u);
    auto first = [&](uint8_t codec) {
        for (const Plane& pl : rec.planes)
            if (pl.codec == codec) return pl;
        ADD_FAILURE() << "no plane of codec " << int(codec);
        return rec.planes[0];
    };
    const Plane fill = first(1), rns = first(2), zst = first(3);  // its low planes are rANS, not raw
    std::vector<HostileCase> cases;
    auto add = [&](std::string what, std::string expect, auto edit) {
        std::vector<uint8_t> p = p0;
        edit(p);
        cases.push_back({std::move(what), std::move(expect), std::move(p)});
    };
    auto put_u32 = [](std::vector<uint8_t>& p, size_t i, uint32_t v) {
        for (int k = 0; k < 4; ++k) p[i + k] = static_cast<uint8_t>(v >> (8 * k));
    };
    add("truncated", "lengths add up", [](std::vector<uint8_t>& p) { p.pop_back(); });
    add("byte after", "lengths add up", [](std::vector<uint8_t>& p) { p.push_back(0); });
    add("chunk 0", "lossless chunk of 0 elements", [&](std::vector<uint8_t>& p) { put_u32(p, rec.chunk_at, 0); });
    add("chunk 2^24 + 1", "(1..2^24)", [&](std::vector<uint8_t>& p) { put_u32(p, rec.chunk_at, (1u << 24) + 1); });
    add("chunk 1: a directory of 1.2 M entries", "directory runs past the record",
        [&](std::vector<uint8_t>& p) { put_u32(p, rec.chunk_at, 1); });
    add("unknown codec", "unknown codec 4", [&](std::vector<uint8_t>& p) { p[rns.dir_at] = 4; });
    add("fill length", "fill of 2 bytes", [&](std::vector<uint8_t>& p) { put_u32(p, fill.dir_at + 1, 2); });
    add("rANS too short", "shorter than a table", [&](std::vector<uint8_t>& p) { put_u32(p, rns.dir_at + 1, 10); });
    add("lengths shifted", "plane", [&](std::vector<uint8_t>& p) {
        put_u32(p, rns.dir_at + 1, rns.len - 1);
        put_u32(p, rec.planes[rec.planes.size() - 1].dir_at + 1, rec.planes.back().len + 1);
    });
    add("rANS table sum", "bad entropy table", [&](std::vector<uint8_t>& p) { p[rns.data_at + 2] ^= 1; });
    add("rANS state", "initial state out of range", [&](std::vector<uint8_t>& p) {
        ByteReader r(p.data() + rns.data_at, rns.len, "t");
        rans::read_table(r);
        p[rns.data_at + (rns.len - r.remaining()) + 3] = 0xff;
    });
    add("rANS stream byte", "corrupt entropy-coded stream",
        [&](std::vector<uint8_t>& p) { p[rns.data_at + rns.len - 1] ^= 0x5a; });
    add("zstd frame header", "corrupt zstd frame", [&](std::vector<uint8_t>& p) { p[zst.data_at] ^= 1; });
    add("rANS as zstd", "corrupt zstd frame", [&](std::vector<uint8_t>& p) { p[rns.dir_at] = 3; });
    add("zstd as rANS", "plane", [&](std::vector<uint8_t>& p) { p[zst.dir_at] = 2; });
    add("fill as raw", "raw length", [&](std::vector<uint8_t>& p) { p[fill.dir_at] = 0; });
    expect_refused(good, at, cases, dir, base_path, "g.big");
}

// Random damage to lossless records (checksums repaired): every mutant decodes or is
// refused with an Error; nothing else.
TEST_F(Lossless, MutatedRecordsDecodeOrAreRefused) {
    make(dir / "l.dcx");
    const Sections good = read_sections(dir / "l.dcx");
    const int refused = mutants_refused(
        good, 9, [](const std::vector<uint8_t>& p) { return split(p).body; }, 150, dir, base_path);
    EXPECT_GT(refused, 50);
}
