// What the tests of a method's records share (tests/test_method_*.cpp): a sink that
// keeps rebuilt tensors, a .dcx as its sections (read, edited, written back with
// their checksums), hostile payloads refused by info and apply, random mutants.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "deltacodec/deltacodec.hpp"
#include "format/container.hpp"
#include "format/header.hpp"
#include "testutil.hpp"

namespace testutil {

/// The f32 delta of a pair's tensor, as the lossy encoders compute it: f32(ft) − f32(base).
inline std::vector<float> delta_of(const T& base, const T& ft) {
    const uint64_t n = numel(ft.shape);
    const std::vector<double> b = decode(base.dtype, base.bytes.data(), n), f = decode(ft.dtype, ft.bytes.data(), n);
    std::vector<float> d(n);
    for (uint64_t i = 0; i < n; ++i) d[i] = static_cast<float>(f[i]) - static_cast<float>(b[i]);
    return d;
}

inline void put_f32(std::vector<uint8_t>& p, size_t at, float v) { std::memcpy(&p[at], &v, 4); }

/// The plain reference of an escaped rANS symbol (FORMAT.md "ECSQ"): symbol z, and when z is
/// 255 the LEB128 varint at *e (advanced past it) added to it.
inline uint64_t ref_unescape(uint8_t z, const uint8_t*& e) {
    if (z != 255) return z;
    uint64_t x = 0;
    for (int sh = 0;; sh += 7) {
        x |= static_cast<uint64_t>(*e & 0x7f) << sh;
        if (!(*e++ & 0x80)) break;
    }
    return 255 + x;
}

struct MapSink final : deltacodec::TensorSink {
    std::map<std::string, std::vector<uint8_t>> tensors;
    std::string cur;
    void begin(const std::string& name, deltacodec::DType, const deltacodec::Shape&, uint64_t) override {
        cur = name, tensors[name].clear();
    }
    void write(const uint8_t* p, size_t n) override { tensors[cur].insert(tensors[cur].end(), p, p + n); }
};

using Sections = std::vector<std::pair<deltacodec::SectionType, std::vector<uint8_t>>>;

inline Sections read_sections(const std::string& path) {
    const deltacodec::MappedFile f = deltacodec::MappedFile::open(path);
    deltacodec::DcxReader rd(f);
    deltacodec::Section s;
    Sections out;
    while (rd.next(s)) out.push_back({s.type, std::vector<uint8_t>(s.data, s.data + s.size)});  // END included
    return out;
}

// FORMAT.md "File": the file header, then each section with its checksum.
inline void write_sections(const std::string& path, const Sections& secs) {
    deltacodec::ByteWriter w;
    w.bytes(deltacodec::kDcxMagic, 8);
    w.u16(deltacodec::kDcxMajor);
    w.u16(deltacodec::kDcxMinor);
    w.u32(0);
    for (const auto& [t, payload] : secs) {
        w.u32(static_cast<uint32_t>(t));
        w.u32(0);
        w.u64(payload.size());
        w.bytes(payload.data(), payload.size());
        w.u64(deltacodec::xxh3(payload.data(), payload.size()));
    }
    write_bytes(path, w.buf);
}

inline void put_u64(std::vector<uint8_t>& p, size_t at, uint64_t v) {
    for (int i = 0; i < 8; ++i) p[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

inline unsigned record_method(const std::vector<uint8_t>& p) {
    deltacodec::ByteReader r(p.data(), p.size(), "test");
    return static_cast<unsigned>(deltacodec::read_prefix(r).method);
}

/// Makes tensor `name` claim `shape` (same ndim) in the HEADER and in its record's
/// prefix, the rest of its record unchanged (a hostile file: the record does not hold
/// what the shape says); returns the record's section index.
inline size_t claim_shape(Sections& secs, const std::string& name, const deltacodec::Shape& shape) {
    size_t at = secs.size();
    for (size_t i = 0; i < secs.size(); ++i) {
        std::vector<uint8_t>& p = secs[i].second;
        if (secs[i].first == deltacodec::SectionType::HEADER) {
            deltacodec::DcxHeader h = deltacodec::header_from_bytes(p.data(), p.size(), "test");
            for (deltacodec::ShardSpec& s : h.shards)
                for (deltacodec::TensorSpec& t : s.tensors)
                    if (t.name == name) t.shape = shape;
            p = deltacodec::header_to_bytes(h);
        } else if (secs[i].first == deltacodec::SectionType::TENSOR) {
            deltacodec::ByteReader r(p.data(), p.size(), "test");
            deltacodec::TensorPrefix pre = deltacodec::read_prefix(r);
            if (pre.name != name) continue;
            const size_t body = p.size() - r.remaining();
            pre.shape = shape;
            deltacodec::ByteWriter w;
            deltacodec::write_prefix(w, pre);
            w.bytes(p.data() + body, p.size() - body);
            p = w.buf;
            at = i;
        }
    }
    EXPECT_LT(at, secs.size()) << name << ": no such record";
    return at;
}

/// info() on `dcx` throws a one-line deltacodec::Error that names `tensor` and says
/// `expect` (anything else, std::bad_alloc included, fails the test).
inline void expect_info_refuses(const std::string& dcx, const std::string& tensor, const std::string& expect) {
    try {
        deltacodec::info(dcx);
        ADD_FAILURE() << dcx << ": accepted by info";
    } catch (const deltacodec::Error& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("tensor '" + tensor + "'"), std::string::npos) << m;
        EXPECT_NE(m.find(expect), std::string::npos) << m;
        EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    }
}

struct HostileCase {
    std::string what, expect;  ///< the edit; what the Error must say
    std::vector<uint8_t> payload;
};

/// Builds HostileCases from one good payload: add(what, expect, edit) copies it and edits the copy.
struct HostileCases {
    const std::vector<uint8_t>& good;
    std::vector<HostileCase> cases;
    template <typename Edit>
    void add(std::string what, std::string expect, Edit&& edit) {
        std::vector<uint8_t> p = good;
        edit(p);
        cases.push_back({std::move(what), std::move(expect), std::move(p)});
    }
};

/// Each case's payload in place of section `at` of `good`: refused by info and by apply
/// with an Error naming `tensor` and saying the case's `expect`.
inline void expect_refused(const Sections& good, size_t at, const std::vector<HostileCase>& cases, const TempDir& dir,
                           const std::string& base_path, const std::string& tensor) {
    for (const HostileCase& c : cases) {
        Sections s = good;
        s[at].second = c.payload;
        write_sections(dir / "bad.dcx", s);
        for (const bool use_info : {true, false}) {
            try {
                if (use_info) {
                    deltacodec::info(dir / "bad.dcx");
                } else {
                    MapSink sink;
                    deltacodec::apply(base_path, dir / "bad.dcx", sink);
                }
                ADD_FAILURE() << c.what << ": accepted by " << (use_info ? "info" : "apply");
            } catch (const deltacodec::Error& e) {
                const std::string m = e.what();
                EXPECT_NE(m.find("tensor '" + tensor + "'"), std::string::npos) << c.what << ": " << m;
                EXPECT_NE(m.find(c.expect), std::string::npos) << c.what << ": " << m;
            }
        }
    }
}

/// `count` mutants of `good`: 1–3 bits flipped in the body (from `body_of(payload)`) of a
/// random record of `method`, checksums repaired; each goes through info and apply (one
/// thread). Returns how many were refused; anything but an Error fails the test.
template <typename BodyOf>
int mutants_refused(const Sections& good, unsigned method, BodyOf&& body_of, int count, const TempDir& dir,
                    const std::string& base_path) {
    std::mt19937_64 rng(2026);
    int refused = 0;
    for (int m = 0; m < count; ++m) {
        Sections s = good;
        size_t at = 0;
        do at = rng() % s.size();
        while (s[at].first != deltacodec::SectionType::TENSOR || record_method(s[at].second) != method);
        std::vector<uint8_t>& p = s[at].second;
        const size_t body = body_of(good[at].second);
        for (int e = 0, n = 1 + static_cast<int>(rng() % 3); e < n; ++e)
            p[body + rng() % (p.size() - body)] ^= static_cast<uint8_t>(1u << (rng() % 8));
        write_sections(dir / "m.dcx", s);
        try {
            deltacodec::info(dir / "m.dcx");
            MapSink sink;
            deltacodec::ApplyOptions one;
            one.threads = 1;
            deltacodec::apply(base_path, dir / "m.dcx", sink, one);
        } catch (const deltacodec::Error&) {
            ++refused;
        }
    }
    return refused;
}

/// `make(path, options)` at 1 and at 4 threads writes the same bytes.
template <typename Make>
void expect_same_bytes_at_1_and_4_threads(Make&& make, const TempDir& dir) {
    deltacodec::CompressOptions o;
    o.threads = 1;
    make(dir / "1.dcx", o);
    o.threads = 4;
    make(dir / "4.dcx", o);
    EXPECT_EQ(read_bytes(dir / "1.dcx"), read_bytes(dir / "4.dcx"));
}

using PairShape = std::tuple<std::string, deltacodec::DType, deltacodec::DType, uint64_t, uint64_t>;

/// The pair a method's tests compress: 2-D tensors that exercise several dtypes, a dtype
/// change (F32 base, F16 fine-tune), padding (100 columns) and a 1-column matrix, then
/// `extra`; each fine-tune a small perturbation of its base (`edit` may change its values);
/// and a 1-D tensor left alone.
class MethodPair : public ::testing::Test {
protected:
    TempDir dir;
    std::vector<T> base, ft;
    std::string base_path = dir / "base.safetensors", ft_path = dir / "ft.safetensors";

    void make_pair(const std::vector<PairShape>& extra = {},
                   const std::function<void(const std::string& name, std::vector<double>& values)>& edit = {}) {
        using deltacodec::DType;
        std::vector<PairShape> shapes = {{"a.f32", DType::F32, DType::F32, 64, 100},
                                         {"b.f16", DType::F16, DType::F16, 48, 256},
                                         {"c.bf16", DType::BF16, DType::BF16, 40, 64},
                                         {"d.mixed", DType::F32, DType::F16, 33, 72},
                                         {"e.column", DType::F32, DType::F32, 20, 1}};
        shapes.insert(shapes.end(), extra.begin(), extra.end());
        uint32_t seed = 1;
        for (const auto& [name, bdt, fdt, rows, cols] : shapes) {
            const std::vector<double> v = gaussian(rows * cols, 0.05, seed++);
            std::vector<double> w = perturb(v, rows, cols, 0.004, seed++);
            if (edit) edit(name, w);
            base.push_back(make_tensor(name, bdt, {rows, cols}, v));
            ft.push_back(make_tensor(name, fdt, {rows, cols}, w));
        }
        base.push_back(make_tensor("norm.weight", DType::F32, {64}, gaussian(64, 1, 99)));
        ft.push_back(make_tensor("norm.weight", DType::F32, {64}, gaussian(64, 1, 98)));
        write_safetensors(base_path, base);
        write_safetensors(ft_path, ft);
    }

    /// make_pair() plus "f.wide" (200 × 3000 F32: 87 rows a chunk of 2^18 values, 3 chunks)
    /// with outliers ±1.2 every 977th value (300σ: escapes at any quantizer step).
    void make_pair_with_wide_outliers() {
        make_pair({{"f.wide", deltacodec::DType::F32, deltacodec::DType::F32, 200, 3000}},
                  [](const std::string& name, std::vector<double>& w) {
                      if (name == "f.wide")
                          for (uint64_t i = 0; i < w.size(); i += 977) w[i] += (i % 2 ? 1.2 : -1.2);
                  });
    }

    /// Compresses the pair to `out` with `o` and `method` for every tensor (`include` ".").
    deltacodec::CompressReport compress_all(const std::string& method, const std::string& out,
                                            deltacodec::CompressOptions o) {
        o.method = method;
        o.include = ".";
        o.overwrite = true;
        return deltacodec::compress(base_path, ft_path, out, o);
    }

    /// Puts `bad` (NaN or infinity) into the first tensor's fine-tune, compresses
    /// with `o` (its method named, `include` "."), and checks that that tensor falls
    /// back to the exact delta (reason "non-finite"), the next keeps `o.method`, and
    /// the rebuild gives the fine-tune's bytes.
    void expect_non_finite_falls_back(double bad, deltacodec::CompressOptions o) {
        std::vector<double> v = decode(ft[0].dtype, ft[0].bytes.data(), 64 * 100);
        v[777] = bad;
        ft[0] = make_tensor(ft[0].name, ft[0].dtype, ft[0].shape, v);
        write_safetensors(ft_path, ft);
        o.include = ".";
        o.overwrite = true;
        const deltacodec::CompressReport rep = deltacodec::compress(base_path, ft_path, dir / "nf.dcx", o);
        EXPECT_EQ(rep.tensors[0].kind, "exact");
        EXPECT_EQ(rep.tensors[0].reason, "non-finite");
        EXPECT_EQ(rep.tensors[1].method, o.method);
        MapSink sink;
        deltacodec::apply(base_path, dir / "nf.dcx", sink);
        EXPECT_EQ(sink.tensors.at(ft[0].name), ft[0].bytes);
    }
};

}  // namespace testutil
