// deltacodec (internal) — what the SVD methods share (lowrank.cpp defines it): the
// randomized truncated SVD of a 2-D delta, its factors quantized per column, the
// record's factor part (FORMAT.md "LOWRANK": rank, column table, U and V code
// blobs) with its checks, and the tiled product that rebuilds Û·V̂ᵀ. Used by
// lowrank (method 5), svdmix (7, the same record layout with mixed widths) and
// hybrid (8, the factors plus a quantized residual).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "codec/linalg.hpp"
#include "io/parallel.hpp"
#include "methods/method.hpp"

namespace deltacodec::lowrank {

inline constexpr uint64_t kOversample = 10;
inline constexpr uint64_t kExactMaxDim = 512;    // rate control: exact SVD up to this min(m, n)
inline constexpr uint64_t kLadderMaxRank = 256;  // rate control: the ladder's largest rank above it
inline constexpr uint64_t kTileRows = 64;        // rebuild: rows × columns of one GEMM tile
inline constexpr uint64_t kTileCols = 1024;
inline constexpr int kMaxBits = 8;  // codes are bytes (the bitpack symbol coder)
/// What a record holds before its factors: base (9 bytes), rank (4), two blob headers.
inline constexpr uint64_t kFixedBytes = 9 + 4 + 2 * kBlobHeaderBytes;

uint64_t min_dim(const TensorInput& in);
uint64_t blocks(uint64_t n, uint64_t b);
/// The largest rank offered: all of the sketch when it is exact, else l − oversampling.
uint64_t max_rank(uint64_t k, uint64_t l);
/// Under a rate target: the sketch width of the ladder (exact up to kExactMaxDim).
uint64_t ladder_sketch(uint64_t k);

/// Δ in f32, row-major m×n; its squared norm; false when non-finite.
bool load_delta(const TensorInput& in, ThreadPool* pool, std::vector<float>& a, double& norm2);

/// The rank-l factors of Δ: U m×l, V n×l (column-major), s decreasing.
struct Svd {
    uint64_t m = 0, n = 0, l = 0;
    std::vector<float> U, s, V;
};
/// Randomized SVD of the row-major m×n `a` with a sketch of l columns (exact when
/// l = min(m, n)); blocks on `pool` (nullptr: the calling thread), same result.
Svd randomized_svd(const float* a, uint64_t m, uint64_t n, uint64_t l, ThreadPool* pool);
/// load_delta() then randomized_svd() (progress 1/4 between them); nullopt when Δ is not finite.
std::optional<Svd> delta_svd(const TensorInput& in, uint64_t l, ThreadPool* pool, ProgressMeter* progress,
                             std::vector<float>& a, double& norm2);

/// Codes of x (len values) at b bits (midrise, step max|x|/2^(b−1)); returns the
/// least-squares scale α, and ‖x − α·y‖², ‖α·y‖² through e2, r2.
double quantize(const float* x, uint64_t len, int b, uint8_t* q, double& e2, double& r2);

struct Column {
    uint8_t bits = 0;
    float scale = 0;
};
/// Bytes of the first `count` columns' codes, each len codes.
uint64_t code_bytes(uint64_t len, const std::vector<Column>& cols, size_t count);

/// Quantized factors: codes (each column a bitpack run), the column table, and per
/// column the squared errors.
struct Quantized {
    std::vector<uint8_t> ucodes, vcodes;
    std::vector<Column> cols;
    std::vector<double> eu2, ev2, vh2;  // ‖Û_j/s_j − U_j‖², ‖V̂_j − V_j‖², ‖V̂_j‖²
};
/// The first r columns, each at b bits.
Quantized quantize_factors(const Svd& f, uint64_t r, int b);
/// Column j of the SVD at widths[j] bits (0: left out), for j < widths.size().
Quantized quantize_factors(const Svd& f, const std::vector<uint8_t>& widths);
/// Rebuilds a factor (len × r, column-major) from its codes: column j is c_j·y (`scaled`) or y.
void dequantize_factor(const uint8_t* codes, uint64_t size, uint64_t len, const std::vector<Column>& cols, bool scaled,
                       float* out);
/// Û (m×r, scaled) and V̂ (n×r) as the decoder rebuilds them from z.
void rebuild_factors(const Quantized& z, uint64_t m, uint64_t n, std::vector<float>& u, std::vector<float>& v);

/// A ladder from measured points (err2 set): in increasing bytes, a point that costs
/// more than another without less error left out.
RdCurve ladder_of(std::vector<RdPoint> pts);
/// What ByteWriter::blob writes for these bytes (after its header).
uint64_t blob_bytes(const uint8_t* p, size_t n, bool entropy);
/// The payload bytes of a record of z's factors (the blobs after their codec).
uint64_t record_bytes(const Quantized& z, uint64_t m, uint64_t n, bool entropy);

/// The rows [i0, i0 + h) × columns [k0, k0 + w) of Û·V̂ᵀ into t (row-major, h×w).
void product_tile(const float* u, uint64_t m, const float* v, uint64_t n, uint64_t r, uint64_t i0, uint64_t h,
                  uint64_t k0, uint64_t w, float* t);
/// Calls tile(i0, h, k0, w, t) for every tile of rows [r0, r1), t holding the product;
/// tiles on the pool, BLAS single-threaded in each (the caller holds a BlasOneThread).
/// Tiles start every kTileRows rows from r0: the same products at any thread count.
template <typename F>
void for_each_tile(ThreadPool& pool, const float* u, uint64_t m, const float* v, uint64_t n, uint64_t r, uint64_t r0,
                   uint64_t r1, F&& tile) {
    const uint64_t tr = blocks(r1 - r0, kTileRows), tc = blocks(n, kTileCols);
    pool.parallel_for(tr * tc, [&](size_t id) {
        thread_local std::vector<float> t;
        t.resize(kTileRows * kTileCols);
        const uint64_t i0 = r0 + id / tc * kTileRows, h = std::min(kTileRows, r1 - i0);
        const uint64_t k0 = id % tc * kTileCols, w = std::min(kTileCols, n - k0);
        product_tile(u, m, v, n, r, i0, h, k0, w, t.data());
        tile(i0, h, k0, w, t.data());
    });
}

/// encode()'s record for the factors z of the delta `a` (row-major m×n, ‖a‖² = norm2):
/// err2 measured on the rebuild, tile by tile; the payload is the base then write_factors().
EncodedRecord factor_record(const TensorInput& in, const std::vector<float>& a, double norm2,
                            std::shared_ptr<const Quantized> z, bool entropy, EncodeContext& ec);
/// The factor part of a record: rank, column table, U and V blobs.
void write_factors(ByteWriter& w, const Quantized& z, bool entropy);

/// A record's factor part as read (untrusted until read() returns).
struct Factors {
    const char* method = "lowrank";  ///< named in errors
    uint64_t rows = 0, cols = 0;
    std::vector<Column> columns;
    BlobRef ucodes, vcodes;
    /// Reads what write_factors() writes, for a rows×cols tensor; fails through `r`.
    void read(ByteReader& r, uint64_t rows, uint64_t cols, const char* method);
    /// Decodes and checks both blobs; Û (rows×rank, scaled) and V̂ (cols×rank), column-major.
    void load(const std::string& ctx, std::vector<float>& u, std::vector<float>& v) const;
    /// Verifies both blobs by streaming and lists the widths in `out`.
    void describe(const std::string& ctx, DcxTensor& out) const;
};

/// Checks the shape of a factor record's tensor (nonzero, < 2^31 a side); fails through `r`.
void check_shape(ByteReader& r, const TensorSpec& spec, const char* method);
/// Parses a LOWRANK-layout record (base, factors) of `method` (lowrank, svdmix).
std::unique_ptr<const RecordBody> parse_record(ByteReader& r, const TensorSpec& spec, const char* method);
bool applicable(const TensorInput& in);

}  // namespace deltacodec::lowrank
