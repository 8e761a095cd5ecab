// The static-model rANS coder (src/codec/rans.hpp): round trips on skewed, uniform,
// single-symbol and escape-heavy data; the fast decoder (any piece sizes) against the
// plain reference decoder; sizes at the ideal code length; hostile tables and streams
// refused with deltacodec::Error.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "codec/rans.hpp"
#include "deltacodec/error.hpp"

using namespace deltacodec;

namespace {

std::vector<uint64_t> histogram(const std::vector<uint8_t>& s) {
    std::vector<uint64_t> h(256, 0);
    for (uint8_t v : s) ++h[v];
    size_t n = 256;
    while (n > 1 && h[n - 1] == 0) --n;
    h.resize(n);
    return h;
}

// Decodes with the fast decoder in pieces of `piece` symbols.
std::vector<uint8_t> fast_decode(const rans::Table& t, const std::vector<uint8_t>& bytes, size_t n, size_t piece) {
    const rans::Decoder dec(t);
    const std::string ctx = "test";
    rans::Decoder::Stream st(dec, bytes.data(), bytes.size(), ctx);
    std::vector<uint8_t> out(n);
    for (size_t i = 0; i < n; i += piece) st.get(out.data() + i, std::min(piece, n - i));
    st.finish();
    return out;
}

std::vector<uint8_t> data(const std::string& kind, size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<uint8_t> s(n);
    for (size_t i = 0; i < n; ++i) {
        if (kind == "skewed") {  // geometric: p(0) ≈ 0.9
            unsigned v = 0;
            while (v < 254 && rng() % 10 == 0) ++v;
            s[i] = static_cast<uint8_t>(v);
        } else if (kind == "uniform") {
            s[i] = static_cast<uint8_t>(rng());
        } else if (kind == "single") {
            s[i] = 7;
        } else {  // escape-heavy: the escape symbol half the time
            s[i] = rng() % 2 ? rans::kEscape : static_cast<uint8_t>(rng() % 4);
        }
    }
    return s;
}

}  // namespace

// Every kind of data and length round-trips through both decoders, at the ideal length + ≤ 10 bytes.
TEST(Rans, RoundTripsAndMatchesTheReference) {
    for (const std::string kind : {"skewed", "uniform", "single", "escape"})
        for (const size_t n : {size_t{1}, size_t{2}, size_t{3}, size_t{1000}, size_t{100001}}) {
            const std::vector<uint8_t> s = data(kind, n, static_cast<uint32_t>(n));
            const std::vector<uint64_t> h = histogram(s);
            const rans::Table t = rans::normalize(h.data(), h.size());
            std::vector<uint8_t> bytes = {0xAA};  // encode appends
            const size_t len = rans::encode(t, s.data(), n, bytes);
            ASSERT_EQ(bytes.size(), len + 1);
            bytes.erase(bytes.begin());
            const double ideal = rans::cost_bits(h.data(), h.size(), t) / 8;
            EXPECT_LE(static_cast<double>(len), ideal + 10) << kind << " " << n;
            EXPECT_GE(static_cast<double>(len), ideal - 4) << kind << " " << n;
            EXPECT_EQ(rans::decode_ref(t, bytes.data(), len, n, "test"), s) << kind << " " << n;
            for (const size_t piece : {size_t{1}, size_t{3}, size_t{64}, n})
                EXPECT_EQ(fast_decode(t, bytes, n, piece), s) << kind << " " << n << " piece " << piece;
        }
    // Nothing to code: the two states alone.
    const uint64_t one = 1;
    const rans::Table t = rans::normalize(&one, 1);
    std::vector<uint8_t> bytes;
    EXPECT_EQ(rans::encode(t, nullptr, 0, bytes), 8u);
    EXPECT_TRUE(fast_decode(t, bytes, 0, 1).empty());
}

// The table: Σ = 2^15, every counted symbol ≥ 1 and an uncounted one 0, near the counts' shares.
TEST(Rans, NormalizeKeepsEveryCountedSymbol) {
    std::vector<uint64_t> c(256, 0);
    c[0] = 1'000'000'000;
    for (int s = 1; s < 256; s += 2) c[s] = 1;
    const rans::Table t = rans::normalize(c.data(), c.size());
    uint64_t sum = 0;
    for (size_t s = 0; s < 256; ++s) {
        sum += t.freq[s];
        EXPECT_EQ(t.freq[s] > 0, c[s] > 0) << s;
    }
    EXPECT_EQ(sum, rans::kScale);
    const std::vector<uint64_t> even = {300, 100};
    const rans::Table u = rans::normalize(even.data(), 2);
    EXPECT_EQ(u.freq[0], rans::kScale * 3 / 4);
    EXPECT_THROW(rans::normalize(c.data(), 0), Error);
    const std::vector<uint64_t> zero = {0, 0};
    EXPECT_THROW(rans::normalize(zero.data(), 2), Error);
    // A symbol outside the table cannot be coded.
    std::vector<uint8_t> out;
    const uint8_t bad[] = {1, 2};
    EXPECT_THROW(rans::encode(u, bad, 2, out), Error);
}

// Tables round-trip through their bytes; hostile tables are refused.
TEST(Rans, TablesAreCheckedWhenRead) {
    const std::vector<uint64_t> c = {5, 0, 1, 1000, 3};
    const rans::Table t = rans::normalize(c.data(), c.size());
    ByteWriter w;
    rans::write_table(w, t);
    EXPECT_EQ(w.buf.size(), rans::table_bytes(t));
    ByteReader r(w.buf.data(), w.buf.size(), "t");
    EXPECT_EQ(rans::read_table(r).freq, t.freq);
    auto refused = [](std::vector<uint8_t> b, const std::string& why) {
        ByteReader r(b.data(), b.size(), "t");
        try {
            rans::read_table(r);
            ADD_FAILURE() << why << ": accepted";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
        }
    };
    refused({0, 0}, "0 symbols");
    refused({1, 1, 0x80, 0x80, 2}, "257 symbols");
    refused({2, 0, 0x80, 0x80, 1, 0}, "sum to 16384");               // 2^14 + 0
    refused({1, 0, 0x80, 0x00}, "not a canonical varint");           // 0 in two bytes
    refused({1, 0, 0x80, 0x80, 0x80, 0x01}, "longer than 3 bytes");  // 2^21
    refused({1, 0, 0x81, 0x80, 0x02}, "> 2^15");                     // 32769
    refused({2, 0, 0x80, 0x80, 0x02}, "truncated");                  // a symbol missing
}

// Truncated, lengthened and bit-flipped streams: both decoders refuse with Error or decode
// the same symbols, never anything else.
TEST(Rans, HostileStreamsAreRefusedAlikeByBothDecoders) {
    const size_t n = 5000;
    const std::vector<uint8_t> s = data("skewed", n, 11);
    const std::vector<uint64_t> h = histogram(s);
    const rans::Table t = rans::normalize(h.data(), h.size());
    std::vector<uint8_t> good;
    rans::encode(t, s.data(), n, good);
    auto both = [&](const std::vector<uint8_t>& b, const std::string& what) {
        std::vector<uint8_t> a, r;
        bool fa = false, fr = false;
        try {
            a = fast_decode(t, b, n, 97);
        } catch (const Error& e) {
            fa = true;
            EXPECT_NE(std::string(e.what()).find("test: corrupt entropy-coded stream"), std::string::npos) << e.what();
        }
        try {
            r = rans::decode_ref(t, b.data(), b.size(), n, "test");
        } catch (const Error&) {
            fr = true;
        }
        EXPECT_EQ(fa, fr) << what;
        if (!fa && !fr) {
            EXPECT_EQ(a, r) << what;
        }
        return fa;
    };
    std::vector<uint8_t> b = good;
    b.pop_back();
    EXPECT_TRUE(both(b, "truncated"));
    b = good;
    b.push_back(0);
    EXPECT_TRUE(both(b, "a byte more"));
    EXPECT_TRUE(both(std::vector<uint8_t>(good.begin(), good.begin() + 7), "7 bytes"));
    b = good;
    b[3] = 0x80;  // state 0 ≥ 2^31
    EXPECT_TRUE(both(b, "state out of range"));
    std::mt19937_64 rng(5);
    int refused = 0;
    for (int m = 0; m < 300; ++m) {
        b = good;
        b[rng() % b.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
        refused += both(b, "mutant " + std::to_string(m));
    }
    EXPECT_GT(refused, 250);  // a flipped bit almost always breaks the final states
}

TEST(Rans, VarintsAndZigzag) {
    for (const int64_t q : {0, -1, 1, -2, 2, -1000, 1 << 30, -(1 << 30)}) EXPECT_EQ(rans::unzigzag(rans::zigzag(q)), q);
    EXPECT_EQ(rans::zigzag(-1), 1u);
    EXPECT_EQ(rans::zigzag(1), 2u);
    for (const uint64_t v : {uint64_t{0}, uint64_t{127}, uint64_t{128}, uint64_t{1} << 31}) {
        std::vector<uint8_t> b;
        rans::put_varint(b, v);
        EXPECT_EQ(b.size(), rans::varint_bytes(v));
        const uint8_t* p = b.data();
        uint64_t got = 0;
        ASSERT_TRUE(rans::get_varint(p, b.data() + b.size(), 5, got));
        EXPECT_EQ(got, v);
        p = b.data();
        EXPECT_FALSE(rans::get_varint(p, b.data() + b.size() - 1, 5, got));  // cut short
    }
    const uint8_t pad[] = {0x85, 0x00};  // 5 written in two bytes
    const uint8_t* p = pad;
    uint64_t v = 0;
    EXPECT_FALSE(rans::get_varint(p, pad + 2, 5, v));
}

namespace {
// The encoder as first written: one division per symbol (the plain reference of
// what rans::Encoder computes with reciprocals).
std::vector<uint8_t> encode_by_division(const rans::Table& t, const std::vector<uint8_t>& syms) {
    std::vector<uint8_t> rev;
    uint32_t x[2] = {rans::kLow, rans::kLow};
    for (size_t i = syms.size(); i-- > 0;) {
        const uint32_t f = t.freq[syms[i]];
        uint32_t& X = x[i & 1];
        while (X >= ((rans::kLow >> rans::kScaleBits) << 8) * f) rev.push_back(static_cast<uint8_t>(X)), X >>= 8;
        X = ((X / f) << rans::kScaleBits) + X % f + t.start[syms[i]];
    }
    std::vector<uint8_t> out;
    for (int k = 0; k < 2; ++k)
        for (int b = 0; b < 4; ++b) out.push_back(static_cast<uint8_t>(x[k] >> (8 * b)));
    out.insert(out.end(), rev.rbegin(), rev.rend());
    return out;
}
}  // namespace

// The reciprocal encoder writes the division's bytes for every kind of frequency: 1,
// powers of two, odd, the whole scale (one symbol), on skewed and flat data; appended
// after what `out` held. Old code: the same (it divided); a wrong reciprocal or
// renormalisation changes bytes.
TEST(Rans, ReciprocalEncoderWritesTheDivisionsBytes) {
    std::mt19937 rng(11);
    std::vector<std::vector<uint32_t>> freqs = {{rans::kScale}, {1, rans::kScale - 1}, {2, 4, 8, rans::kScale - 14}};
    for (int k = 0; k < 20; ++k) {
        const size_t n = 2 + rng() % 255;
        std::vector<uint64_t> counts(n);
        for (auto& c : counts) c = rng() % 3 == 0 ? 0 : 1 + (rng() % 4 == 0 ? rng() % 100000 : rng() % 5);
        counts[rng() % n] = 1;
        freqs.push_back(rans::normalize(counts.data(), n).freq);
    }
    for (const auto& f : freqs) {
        const rans::Table t = rans::make_table(f);
        std::vector<uint8_t> live;
        for (size_t s = 0; s < f.size(); ++s)
            if (f[s]) live.push_back(static_cast<uint8_t>(s));
        for (const size_t len : {size_t{0}, size_t{1}, size_t{2}, size_t{7}, size_t{5000}}) {
            std::vector<uint8_t> syms(len);
            for (auto& s : syms) s = live[rng() % live.size()];
            std::vector<uint8_t> out = {9, 9, 9};
            const size_t got = rans::encode(t, syms.data(), syms.size(), out);
            const std::vector<uint8_t> want = encode_by_division(t, syms);
            ASSERT_EQ(got, want.size());
            ASSERT_EQ(std::vector<uint8_t>(out.begin() + 3, out.end()), want) << f.size() << " symbols, n " << len;
            EXPECT_EQ(rans::decode_ref(t, out.data() + 3, got, len, "test"), syms);
        }
    }
    const rans::Table t = rans::make_table({rans::kScale - 1, 1, 0});
    std::vector<uint8_t> out;
    const uint8_t bad[] = {0, 2, 0};
    EXPECT_THROW(rans::encode(t, bad, 3, out), Error);
    const uint8_t past[] = {3};
    EXPECT_THROW(rans::encode(t, past, 1, out), Error);
}
