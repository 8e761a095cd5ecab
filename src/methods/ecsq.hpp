// deltacodec (internal) — the ecsq quantizer + rANS coder on any source of rows
// (ecsq.cpp defines it): used by ecsq (method 4) on the delta, and by hybrid
// (method 8) on the residual of a low-rank part. The fields written and read here
// are FORMAT.md "ECSQ"'s after the base: step, gain, offsets, rows per chunk,
// table, chunk index, stream blob.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "codec/rans.hpp"
#include "deltacodec/error.hpp"
#include "methods/method.hpp"

namespace deltacodec::ecsq {

inline constexpr unsigned kBuckets = 4;      // K: offsets for |q| = 1, 2, 3 and one for |q| ≥ 4
inline constexpr unsigned kMaxBuckets = 16;  // what a reader accepts

/// Puts row r of the values to code into d (cols floats); tmp: cols floats of scratch.
using RowReader = std::function<void(uint64_t r, float* d, float* tmp)>;

/// The default rows per chunk: about 2^18 symbols, whole rows, at least one.
uint64_t rows_per_chunk(uint64_t rows, uint64_t cols);

/// One step of the ladder: its payload bytes after the base (ideal code lengths)
/// and its err2 (exact over the rows measured).
struct StepPoint {
    float step = 0;
    uint64_t bytes = 0, code_bytes = 0;  ///< code_bytes: the symbols' share of bytes
    double err2 = 0;
};
struct LadderPoints {
    bool finite = true;
    double ref2 = 0;               ///< Σx² of the rows measured
    uint64_t rows_seen = 0;        ///< rows measured (every stride-th)
    std::vector<StepPoint> steps;  ///< coarse to fine
};
/// The ladder's steps alone (coarse to fine: what ladder() measures at, from the RMS of
/// rows 0, stride, 2·stride, …); nullopt when a value is not finite.
std::optional<std::vector<float>> ladder_steps(uint64_t rows, uint64_t cols, uint64_t stride, const RowReader& read);
/// One pass over rows 0, stride, 2·stride, …: every ladder step's point, chunks of `rpc` rows.
LadderPoints ladder(uint64_t rows, uint64_t cols, uint64_t rpc, uint64_t stride, const RowReader& read,
                    bool projection);

/// A coded residual: what write() writes after the base.
struct Code {
    float step = 0;
    float offsets[kBuckets] = {}, gain = 1;
    uint64_t rpc = 0;
    rans::Table table;
    std::vector<uint64_t> lens;
    const uint8_t* data = nullptr;  ///< the stream (in the EncodeContext's scratch)
    uint64_t total = 0;
    double err2 = 0, ref2 = 0;
    void write(ByteWriter& w) const;
};
/// Codes rows [0, rows) at `step` in chunks of `rpc` rows (parallel, same bytes at
/// any thread count); nullopt when a value is not finite.
std::optional<std::shared_ptr<const Code>> encode_rows(uint64_t rows, uint64_t cols, uint64_t rpc, float step,
                                                       bool projection, const RowReader& read, EncodeContext& ec);

/// The coded fields as read (untrusted until read() returns).
struct Residual {
    const char* method = "ecsq";  ///< named in errors
    uint64_t rows = 0, cols = 0, rpc = 0, chunks = 0;
    float step = 0, gain = 0;
    unsigned k = 0;
    float offsets[kMaxBuckets] = {};
    rans::Table table;
    std::vector<uint64_t> lens;  // per chunk: rANS bytes, escape bytes
    std::vector<uint64_t> at;    // per chunk: its offset in the blob
    BlobRef stream;

    void read(ByteReader& r, uint64_t rows, uint64_t cols, const char* method);
    float value(int64_t q) const;
    /// The values of symbols below the escape.
    void lut_of(float* lut) const;
    /// Decodes chunk c, handing each row's values to row(r, float* values); checks the chunk's end.
    template <typename Row>
    void chunk(const rans::Decoder& dec, const float* lut, uint64_t c, const std::string& ctx, Row&& row) const {
        thread_local std::vector<float> delta;
        delta.resize(cols);
        decode_chunk(dec, lut, c, ctx, delta.data(), row);
    }
    /// Decodes every chunk (checks the streams). Its memory does not depend on the
    /// shape the record claims: a row is decoded kSlice symbols at a time.
    void verify(const std::string& ctx) const;

private:
    static constexpr uint64_t kSlice = 1 << 14;
    /// chunk(), each row decoded kSlice symbols at a time into `delta` (cols floats,
    /// then row() is called), or with `delta` null into a slice buffer (row() is not).
    template <typename Row>
    void decode_chunk(const rans::Decoder& dec, const float* lut, uint64_t c, const std::string& ctx, float* delta,
                      Row&& row) const;
};

template <typename Row>
void Residual::decode_chunk(const rans::Decoder& dec, const float* lut, uint64_t c, const std::string& ctx,
                            float* delta, Row&& row) const {
    thread_local std::vector<uint8_t> syms;
    thread_local std::vector<float> slice;
    syms.resize(std::min(cols, kSlice));
    if (!delta) slice.resize(std::min(cols, kSlice));
    const uint8_t* p = stream.src + at[c];
    rans::Decoder::Stream st(dec, p, lens[2 * c], ctx);
    const uint8_t* e = p + lens[2 * c];
    const uint8_t* e_end = e + lens[2 * c + 1];
    for (uint64_t r = c * rpc; r < std::min(rows, (c + 1) * rpc); ++r) {
        for (uint64_t j0 = 0; j0 < cols; j0 += kSlice) {
            const uint64_t n = std::min(kSlice, cols - j0);
            float* out = delta ? delta + j0 : slice.data();
            st.get(syms.data(), n);
            for (uint64_t j = 0; j < n; ++j) {
                const uint8_t s = syms[j];
                if (s < rans::kEscape) {
                    out[j] = lut[s];
                    continue;
                }
                uint64_t v = 0;
                if (!rans::get_varint(e, e_end, 5, v) || v > rans::zigzag(int64_t{1} << 30) - rans::kEscape)
                    throw Error(ctx + ": corrupt " + method + " record (bad escape in chunk " + std::to_string(c) +
                                ")");
                out[j] = value(rans::unzigzag(v + rans::kEscape));
            }
        }
        if (delta) row(r, delta);
    }
    st.finish();
    if (e != e_end)
        throw Error(ctx + ": corrupt " + method + " record (escape bytes left over in chunk " + std::to_string(c) +
                    ")");
}

}  // namespace deltacodec::ecsq
