// deltacodec — the static-model rANS coder (rans.hpp).
#include "codec/rans.hpp"

#include <cmath>
#include <cstring>

#include "deltacodec/error.hpp"

namespace deltacodec::rans {

Table make_table(std::vector<uint32_t> freq) {
    Table t;
    t.freq = std::move(freq);
    t.start.resize(t.freq.size());
    uint32_t s = 0;
    for (size_t i = 0; i < t.freq.size(); ++i) t.start[i] = s, s += t.freq[i];
    return t;
}

Table normalize(const uint64_t* counts, size_t n) {
    if (n == 0 || n > kMaxSymbols) throw Error("rans: alphabet of " + std::to_string(n) + " symbols");
    uint64_t total = 0;
    for (size_t s = 0; s < n; ++s) total += counts[s];
    if (total == 0) throw Error("rans: no symbols to model");
    std::vector<uint32_t> f(n, 0);
    int64_t sum = 0;
    for (size_t s = 0; s < n; ++s) {
        if (!counts[s]) continue;
        const unsigned __int128 num = static_cast<unsigned __int128>(counts[s]) * (2 * kScale) + total;
        f[s] = static_cast<uint32_t>(std::max<unsigned __int128>(1, num / (2 * static_cast<unsigned __int128>(total))));
        sum += f[s];
    }
    // Fix the sum greedily, each step the change that costs the fewest bits.
    while (sum != kScale) {
        const bool down = sum > kScale;
        size_t best = n;
        double best_cost = 0;
        for (size_t s = 0; s < n; ++s) {
            if (!counts[s] || (down && f[s] <= 1)) continue;
            const double c = static_cast<double>(counts[s]) * (down ? std::log2(static_cast<double>(f[s]) / (f[s] - 1))
                                                                    : -std::log2(static_cast<double>(f[s] + 1) / f[s]));
            if (best == n || c < best_cost) best = s, best_cost = c;
        }
        if (best == n) throw Error("rans: cannot normalise the frequencies");  // > kScale symbols counted: never
        f[best] += down ? -1 : 1;
        sum += down ? -1 : 1;
    }
    return make_table(std::move(f));
}

double cost_bits(const uint64_t* counts, size_t n, const Table& t) {
    double bits = 0;
    for (size_t s = 0; s < n; ++s)
        if (counts[s])
            bits += static_cast<double>(counts[s]) * (kScaleBits - std::log2(static_cast<double>(t.freq[s])));
    return bits;
}

void write_table(ByteWriter& w, const Table& t) {
    w.u16(static_cast<uint16_t>(t.freq.size()));
    std::vector<uint8_t> v;
    for (uint32_t f : t.freq) put_varint(v, f);
    w.bytes(v.data(), v.size());
}

uint64_t table_bytes(const Table& t) {
    uint64_t b = 2;
    for (uint32_t f : t.freq) b += varint_bytes(f);
    return b;
}

bool get_varint(const uint8_t*& p, const uint8_t* end, unsigned max_bytes, uint64_t& v) {
    v = 0;
    for (unsigned i = 0; i < max_bytes; ++i) {
        if (p == end) return false;
        const uint8_t b = *p++;
        v |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) return b != 0 || i == 0;
    }
    return false;
}

Table read_table(ByteReader& r) {
    const unsigned n = r.u16();
    if (n == 0 || n > kMaxSymbols) r.fail("bad entropy table: " + std::to_string(n) + " symbols (1..256)");
    std::vector<uint32_t> f(n);
    uint64_t sum = 0;
    for (unsigned s = 0; s < n; ++s) {
        uint64_t v = 0;
        for (unsigned i = 0;; ++i) {
            const uint8_t b = r.u8();
            v |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
            if (!(b & 0x80)) {
                if (b == 0 && i > 0) r.fail("bad entropy table: a frequency is not a canonical varint");
                break;
            }
            if (i == 2) r.fail("bad entropy table: a frequency is longer than 3 bytes");
        }
        if (v > kScale) r.fail("bad entropy table: frequency " + std::to_string(v) + " > 2^15");
        f[s] = static_cast<uint32_t>(v);
        sum += v;
    }
    if (sum != kScale) r.fail("bad entropy table: frequencies sum to " + std::to_string(sum) + ", not 2^15");
    return make_table(std::move(f));
}

size_t encode(const Table& t, const uint8_t* syms, size_t n, std::vector<uint8_t>& out) {
    return Encoder(t).encode(syms, n, out);
}

Encoder::Encoder(const Table& t) {
    for (size_t s = 0; s < t.freq.size(); ++s) {
        const uint32_t f = t.freq[s];
        if (f == 0) continue;  // x_max 0: refused by encode()
        Sym& e = sym_[s];
        e.x_max = ((kLow >> kScaleBits) << 8) * f;
        e.cmpl = kScale - f;
        if (f == 1) {  // q = x − 1 below, and the bias makes up for it: x·kScale + start
            e.rcp = ~0u;
            e.shift = 0;
            e.bias = t.start[s] + kScale - 1;
        } else {  // ⌊x/f⌋ = ⌊x·⌈2^(31+l)/f⌉ / 2^(31+l)⌋ for x < 2^31, l = ⌈log2 f⌉
            uint32_t l = 0;
            while (f > (1u << l)) ++l;
            e.rcp = static_cast<uint32_t>(((uint64_t{1} << (l + 31)) + f - 1) / f);
            e.shift = l - 1;
            e.bias = t.start[s];
        }
    }
}

size_t Encoder::encode(const uint8_t* syms, size_t n, std::vector<uint8_t>& out) const {
    // Coded backwards into the end of room appended to `out` (at most 2 renormalisation
    // bytes a symbol: x < 2^31 falls below 2^16·freq; 8 for the states), then moved down.
    const size_t at = out.size(), room = 2 * n + 8;
    out.resize(at + room);
    uint8_t* const end = out.data() + at + room;
    uint8_t* p = end;
    uint32_t x0 = kLow, x1 = kLow;
    // x = ⌊x/f⌋·kScale + x mod f + start = x + bias + q·(kScale − f), q = ⌊x/f⌋.
    auto put = [&](uint32_t& x, unsigned s) {
        const Sym& e = sym_[s];
        if (e.x_max == 0) throw Error("rans: symbol " + std::to_string(s) + " has no frequency");
        uint32_t X = x;
        const uint32_t k = static_cast<uint32_t>(X >= e.x_max) + static_cast<uint32_t>((X >> 8) >= e.x_max);
        p[-1] = static_cast<uint8_t>(X);  // written whether or not they are kept (k bytes are)
        p[-2] = static_cast<uint8_t>(X >> 8);
        p -= k;
        X >>= 8 * k;
        const uint32_t q = static_cast<uint32_t>((static_cast<uint64_t>(X) * e.rcp) >> 32) >> e.shift;
        x = X + e.bias + q * e.cmpl;
    };
    size_t i = n;
    if (i & 1) --i, put(x0, syms[i]);  // symbol i uses state i mod 2
    while (i > 0) {
        i -= 2;
        put(x1, syms[i + 1]);
        put(x0, syms[i]);
    }
    const uint32_t x[2] = {x0, x1};
    for (int k = 1; k >= 0; --k) {
        p -= 4;
        for (int b = 0; b < 4; ++b) p[b] = static_cast<uint8_t>(x[k] >> (8 * b));
    }
    const size_t len = static_cast<size_t>(end - p);
    std::memmove(out.data() + at, p, len);
    out.resize(at + len);
    return len;
}

Decoder::Decoder(const Table& t) : sym_(kScale), freq_(t.freq), start_(t.start) {
    for (size_t s = 0; s < freq_.size(); ++s)
        for (uint32_t k = 0; k < freq_[s]; ++k) sym_[start_[s] + k] = static_cast<uint8_t>(s);
}

Decoder::Stream::Stream(const Decoder& d, const uint8_t* p, size_t len, const std::string& ctx)
    : d_(d), p_(p), end_(p + len), ctx_(ctx) {
    if (len < 8) corrupt("shorter than its two states");
    for (int k = 0; k < 2; ++k) {
        x_[k] = p_[0] | (p_[1] << 8) | (p_[2] << 16) | (static_cast<uint32_t>(p_[3]) << 24);
        p_ += 4;
        if (x_[k] < kLow || x_[k] >= kLow << 8) corrupt("initial state out of range");
    }
}

void Decoder::Stream::corrupt(const char* why) const {
    throw Error(ctx_ + ": corrupt entropy-coded stream (" + why + ")");
}

void Decoder::Stream::get(uint8_t* out, size_t n) {
    const uint8_t* sym = d_.sym_.data();
    const uint32_t* freq = d_.freq_.data();
    const uint32_t* start = d_.start_.data();
    const uint8_t* p = p_;
    uint32_t x[2] = {x_[0], x_[1]};
    size_t k = 0;
    // Keep the pairing of symbol index and state: state (i_ + k) & 1.
    // One symbol from state w, renormalised at once.
    auto one = [&](int w) {
        const uint32_t slot = x[w] & (kScale - 1);
        const uint8_t s = sym[slot];
        x[w] = freq[s] * (x[w] >> kScaleBits) + slot - start[s];
        while (x[w] < kLow) {
            if (p == end_) corrupt("runs past its bytes");
            x[w] = (x[w] << 8) | *p++;
        }
        out[k++] = s;
    };
    if (n && (i_ & 1)) one(1);
    for (; k + 2 <= n; k += 2) {
        for (int w = 0; w < 2; ++w) {
            const uint32_t slot = x[w] & (kScale - 1);
            const uint8_t s = sym[slot];
            x[w] = freq[s] * (x[w] >> kScaleBits) + slot - start[s];
            out[k + w] = s;
        }
        for (int w = 0; w < 2; ++w)
            while (x[w] < kLow) {
                if (p == end_) corrupt("runs past its bytes");
                x[w] = (x[w] << 8) | *p++;
            }
    }
    if (k < n) one(0);
    x_[0] = x[0], x_[1] = x[1];
    p_ = p;
    i_ += n;
}

void Decoder::Stream::finish() const {
    if (p_ != end_) corrupt("bytes left over");
    if (x_[0] != kLow || x_[1] != kLow) corrupt("does not end in its initial states");
}

std::vector<uint8_t> decode_ref(const Table& t, const uint8_t* p, size_t len, size_t n, const std::string& ctx) {
    auto corrupt = [&](const char* why) { throw Error(ctx + ": corrupt entropy-coded stream (" + why + ")"); };
    if (len < 8) corrupt("shorter than its two states");
    size_t at = 0;
    uint32_t x[2];
    for (int k = 0; k < 2; ++k) {
        x[k] = 0;
        for (int b = 0; b < 4; ++b) x[k] |= static_cast<uint32_t>(p[at++]) << (8 * b);
        if (x[k] < kLow || x[k] >= kLow << 8) corrupt("initial state out of range");
    }
    std::vector<uint8_t> out(n);
    for (size_t i = 0; i < n; ++i) {
        uint32_t& X = x[i % 2];
        const uint32_t slot = X % kScale;
        size_t s = 0;  // the symbol whose interval [start, start + freq) holds the slot
        while (!(t.start[s] <= slot && slot < t.start[s] + t.freq[s])) ++s;
        out[i] = static_cast<uint8_t>(s);
        X = t.freq[s] * (X / kScale) + (slot - t.start[s]);
        while (X < kLow) {
            if (at == len) corrupt("runs past its bytes");
            X = X * 256 + p[at++];
        }
    }
    if (at != len) corrupt("bytes left over");
    if (x[0] != kLow || x[1] != kLow) corrupt("does not end in its initial states");
    return out;
}

}  // namespace deltacodec::rans
