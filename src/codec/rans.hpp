// deltacodec (internal) — a static-model rANS entropy coder (after Duda 2013 and
// Giesen's rans_byte): 32-bit states, byte renormalisation, frequencies
// normalised to 2^15, two states interleaved (symbol i uses state i mod 2).
//
// A stream codes n byte symbols of an alphabet of at most 256 with one frequency
// table; its bytes are what encode() returns: the two final states (4 bytes each,
// little-endian, state 0 first) then the renormalisation bytes in decoding order.
// Larger integers go through the escape mapping below (zigzag; values past the
// table as kEscape followed by a LEB128 varint in a side stream), so any integer
// range works. Callers cut long inputs into independent streams (chunks) so that
// decoding is parallel and the bytes do not depend on the thread count.
//
// Readers trust nothing: a table is checked as it is read (read_table), and a
// stream that runs past its bytes, leaves bytes over or does not end in the
// encoder's initial states is refused with Error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "format/container.hpp"

namespace deltacodec::rans {

inline constexpr int kScaleBits = 15;
inline constexpr uint32_t kScale = 1u << kScaleBits;
inline constexpr unsigned kMaxSymbols = 256;
inline constexpr uint32_t kLow = 1u << 23;  ///< states live in [kLow, kLow·256)

/// A normalised frequency table: freq.size() symbols (1..256), Σ freq = kScale.
struct Table {
    std::vector<uint32_t> freq;
    std::vector<uint32_t> start;  ///< cumulative: start[s] = Σ_{t<s} freq[t]
};

/// Frequencies summing to kScale from `n` counts (1 ≤ n ≤ 256, Σ counts > 0): every
/// counted symbol gets at least 1, an uncounted one 0. Deterministic.
Table normalize(const uint64_t* counts, size_t n);
/// A table from frequencies already checked (Σ = kScale).
Table make_table(std::vector<uint32_t> freq);
/// Ideal code length in bits of data with these counts under `t`: Σ counts[s]·log2(kScale/freq[s]).
/// A counted symbol of frequency 0 cannot be coded (the normalise above never makes one).
double cost_bits(const uint64_t* counts, size_t n, const Table& t);

/// Table serialisation (FORMAT.md "ECSQ"): u16 n, then n LEB128 frequencies.
void write_table(ByteWriter& w, const Table& t);
uint64_t table_bytes(const Table& t);
/// Reads and checks a table: 1 ≤ n ≤ 256, each frequency a canonical varint ≤ kScale,
/// Σ = kScale. Fails through `r` ("bad entropy table: ...").
Table read_table(ByteReader& r);

/// Appends the stream coding syms[0, n) to `out`; returns its byte count. Every symbol
/// must be < t.freq.size() with a nonzero frequency.
size_t encode(const Table& t, const uint8_t* syms, size_t n, std::vector<uint8_t>& out);

/// The encoder of one table, made once and used for many streams (thread-safe):
/// per symbol its renormalisation bound and the division by its frequency as a
/// multiplication by a reciprocal (after Giesen's rans_byte; exact for the states
/// used, < 2^31), both states in registers and the renormalisation without branches.
/// Writes the same bytes as the plain division.
class Encoder {
public:
    explicit Encoder(const Table& t);
    /// As encode() above.
    size_t encode(const uint8_t* syms, size_t n, std::vector<uint8_t>& out) const;

private:
    struct Sym {
        uint32_t x_max = 0;  ///< 0: the symbol has no frequency (cannot be coded)
        uint32_t rcp = 0, bias = 0, cmpl = 0, shift = 0;
    };
    Sym sym_[kMaxSymbols];
};
/// Bytes of a stream beyond the ideal code length: at most 8 (the final states) + 2.
inline constexpr uint64_t kStreamOverhead = 8;

/// The fast decoder: a slot → symbol lookup of kScale entries.
class Decoder {
public:
    explicit Decoder(const Table& t);
    /// Decodes a stream of [p, p + len) piecewise: get() n symbols at a time, in
    /// order, then finish(). Throws Error("<ctx>: corrupt entropy-coded stream ...").
    class Stream {
    public:
        Stream(const Decoder& d, const uint8_t* p, size_t len, const std::string& ctx);
        void get(uint8_t* out, size_t n);
        /// Every byte used and both states back at their start value.
        void finish() const;

    private:
        [[noreturn]] void corrupt(const char* why) const;
        const Decoder& d_;
        const uint8_t *p_, *end_;
        const std::string& ctx_;
        uint32_t x_[2];
        uint64_t i_ = 0;  ///< symbols decoded so far (which state comes next)
    };

private:
    friend class Stream;
    std::vector<uint8_t> sym_;  ///< kScale entries
    std::vector<uint32_t> freq_, start_;
};

/// The plain reference decoder: one symbol at a time, the symbol found by a linear
/// search of the cumulative frequencies. Throws as the fast one does.
std::vector<uint8_t> decode_ref(const Table& t, const uint8_t* p, size_t len, size_t n, const std::string& ctx);

// ---- integers through a byte alphabet --------------------------------------------

/// zigzag: 0, −1, 1, −2, 2, … → 0, 1, 2, 3, 4, …
inline uint64_t zigzag(int64_t q) { return q < 0 ? 2 * static_cast<uint64_t>(-q) - 1 : 2 * static_cast<uint64_t>(q); }
inline int64_t unzigzag(uint64_t z) { return z & 1 ? -static_cast<int64_t>((z + 1) / 2) : static_cast<int64_t>(z / 2); }
/// The escape symbol: a zigzag value z ≥ kEscape is coded as kEscape, and z − kEscape
/// as a LEB128 varint in the escape stream.
inline constexpr unsigned kEscape = 255;
inline unsigned varint_bytes(uint64_t v) {
    unsigned n = 1;
    while (v >= 0x80) v >>= 7, ++n;
    return n;
}
inline void put_varint(std::vector<uint8_t>& out, uint64_t v) {
    while (v >= 0x80) out.push_back(static_cast<uint8_t>(v | 0x80)), v >>= 7;
    out.push_back(static_cast<uint8_t>(v));
}
/// Reads a canonical varint of at most `max_bytes` bytes from [*p, end); false when
/// it runs past `end`, is longer, or is not canonical (a trailing zero byte).
bool get_varint(const uint8_t*& p, const uint8_t* end, unsigned max_bytes, uint64_t& v);

}  // namespace deltacodec::rans
