// deltacodec — method 5, lowrank: the 2-D delta Δ (m×n) stored as a truncated SVD
// with quantized factors (FORMAT.md "LOWRANK"), rebuilt as a matrix product.
//
// Encoder: a randomized truncated SVD (Halko, Martinsson & Tropp 2011, algorithms
// 4.4 and 5.1): Y = Δ·Ω with Ω an n×l Gaussian test matrix drawn from a fixed seed
// (l = rank + 10, oversampling), one power iteration with QR re-orthonormalisation
// between the products, Q = orth(Y), B = Qᵀ·Δ, the small SVD B = W·S·Vᵀ by LAPACK
// (sgesdd), U = Q·W. When l = min(m, n) the sketch spans Δ's whole column space
// and the SVD is exact (no power iteration then). The products are blocked GEMMs
// over fixed blocks of 256 rows or columns, BLAS single-threaded inside each, the
// blocks on the ThreadPool: the factors do not depend on the thread count.
//
// Column j of each factor is quantized at b_j bits (midrise uniform, step
// max|x|/2^(b−1), codes q in 0..2^b − 1 standing for y = q − 2^(b−1) + ½); each
// factor's column is then rescaled by its least-squares scale α (so the error is
// orthogonal to the rebuilt column), and the record keeps one f32 per column, the
// product c_j = s_j·α_u·α_v. Rebuilt: Δ̂ = Σ_j c_j·y_u,j·y_v,jᵀ.
//
// Rate control (rate_controlled()): analyse computes the SVD once (l = min(m, n)
// when min(m, n) ≤ 512: exact; otherwise l = 266, ranks up to 256) and returns the
// ladder ranks {1, 2, 3, 4, 6, 8, 12, …} × widths {2, 3, 4, 6, 8}, each point's
// bytes exact (its blobs compressed as encode writes them: same factors, same
// codes) and err2 = (‖Δ‖² − Σ_{j<r} s_j²) + Σ_{j<r} (s_j²‖e_u,j‖²‖v̂_j‖² + s_j²‖e_v,j‖²):
// the truncation error (exact: Δ̂ projects Δ on the span of U_r) plus the
// quantization error of the rank-r product, whose cross terms between columns and
// with the residual have zero mean and are left out (tests/test_method_lowrank.cpp
// checks the estimate against encode's measured error).
#include "methods/lowrank.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>

#include "codec/codec.hpp"
#include "codec/kernels.hpp"
#include "codec/linalg.hpp"
#include "codec/symbol_coder.hpp"
#include "deltacodec/error.hpp"
#include "methods/method.hpp"

namespace deltacodec {
namespace lowrank {

constexpr int kPowerIterations = 1;
constexpr uint64_t kBlock = 256;  // rows or columns per block of a pass over Δ
constexpr int kLadderBits[] = {2, 3, 4, 6, 8};

// A point's setting: the width in the top byte, the rank below.
uint32_t setting_of(uint64_t rank, int bits) { return static_cast<uint32_t>(bits) << 24 | static_cast<uint32_t>(rank); }

uint64_t min_dim(const TensorInput& in) { return std::min(in.ft->info->shape[0], in.ft->info->shape[1]); }

// The sketch's width l: fixed by the shape and whether a rate target is set, so
// analyse and every encode of the tensor compute the same factors.
uint64_t ladder_sketch(uint64_t k) { return k <= kExactMaxDim ? k : std::min(k, kLadderMaxRank + kOversample); }

uint64_t sketch_size(uint64_t k, const CompressOptions& opt) {
    if (rate_controlled(opt)) return ladder_sketch(k);
    return std::min<uint64_t>(k, std::min<uint64_t>(opt.rank, k) + kOversample);
}

uint64_t max_rank(uint64_t k, uint64_t l) { return l == k ? k : l - kOversample; }

template <typename F>
void for_blocks(ThreadPool* pool, uint64_t count, F&& f) {
    if (pool)
        pool->parallel_for(count, [&](size_t i) { f(i); });
    else
        for (uint64_t i = 0; i < count; ++i) f(i);
}

uint64_t blocks(uint64_t n, uint64_t b) { return (n + b - 1) / b; }

// Δ is row-major m×n (= column-major n×m).
bool load_delta(const TensorInput& in, ThreadPool* pool, std::vector<float>& a, double& norm2) {
    const TensorInfo& fi = *in.ft->info;
    const TensorInfo& bi = *in.base->info;
    const uint64_t m = fi.shape[0], n = fi.shape[1];
    const DeltaView dv{in.base->data(), bi.dtype, in.ft->data(), fi.dtype, m, n};
    a.resize(m * n);
    const uint64_t nb = blocks(m, kBlock);
    std::vector<double> part(nb);
    std::atomic<bool> finite{true};
    for_blocks(pool, nb, [&](uint64_t b) {
        thread_local std::vector<float> tmp;
        tmp.resize(n);
        const uint64_t r0 = b * kBlock, h = std::min(kBlock, m - r0);
        float* p = a.data() + r0 * n;
        dv.read_rows(r0, h, p, tmp.data());
        if (!kernels().all_finite(p, h * n)) {
            finite = false;
            return;
        }
        double s = 0;
        for (uint64_t i = 0; i < h * n; ++i) s += static_cast<double>(p[i]) * p[i];
        part[b] = s;
    });
    norm2 = 0;
    for (const double s : part) norm2 += s;
    return finite;
}

// N(0, 1) number e of the test matrix, from its index alone (Box–Muller on splitmix64).
uint64_t mix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}
float gaussian(uint64_t e) {
    const double u1 = (static_cast<double>(mix(2 * e) >> 11) + 1) * 0x1p-53;
    const double u2 = static_cast<double>(mix(2 * e + 1) >> 11) * 0x1p-53;
    return static_cast<float>(std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2));
}

Svd randomized_svd(const float* a, uint64_t m, uint64_t n, uint64_t l, ThreadPool* pool) {
    Svd f;
    f.m = m, f.n = n, f.l = l;
    const BlasOneThread one;
    // out (m×l) = Δ·x (x n×l), by blocks of rows; Δ is the column-major n×m `a`, so Δ = aᵀ.
    auto times_delta = [&](const float* x, float* out) {
        for_blocks(pool, blocks(m, kBlock), [&](uint64_t b) {
            const uint64_t i0 = b * kBlock, h = std::min(kBlock, m - i0);
            sgemm(true, false, h, l, n, 1, a + i0 * n, n, x, n, 0, out + i0, m);
        });
    };
    // out (n×l) = Δᵀ·x (x m×l), by blocks of rows of out.
    auto times_delta_t = [&](const float* x, float* out) {
        for_blocks(pool, blocks(n, kBlock), [&](uint64_t b) {
            const uint64_t j0 = b * kBlock, h = std::min(kBlock, n - j0);
            sgemm(false, false, h, l, m, 1, a + j0, n, x, m, 0, out + j0, n);
        });
    };
    std::vector<float> omega(n * l), y(m * l), z(n * l);
    for_blocks(pool, blocks(n * l, 1u << 16), [&](uint64_t b) {
        for (uint64_t e = b << 16; e < std::min(n * l, (b + 1) << 16); ++e) omega[e] = gaussian(e);
    });
    times_delta(omega.data(), y.data());
    omega = {};
    orthonormalize(y.data(), m, l);
    const bool exact = l == std::min(m, n);
    for (int it = 0; !exact && it < kPowerIterations; ++it) {
        times_delta_t(y.data(), z.data());
        orthonormalize(z.data(), n, l);
        times_delta(z.data(), y.data());
        orthonormalize(y.data(), m, l);
    }
    times_delta_t(y.data(), z.data());  // z = Δᵀ·Q = Bᵀ
    f.s.resize(l);
    f.V.resize(n * l);
    std::vector<float> wt(l * l);
    thin_svd(z.data(), n, l, f.s.data(), f.V.data(), wt.data());  // Bᵀ = V·S·Wᵀ
    f.U.resize(m * l);
    sgemm(false, true, m, l, l, 1, y.data(), m, wt.data(), l, 0, f.U.data(), m);  // U = Q·W
    return f;
}

std::optional<Svd> delta_svd(const TensorInput& in, uint64_t l, ThreadPool* pool, ProgressMeter* progress,
                             std::vector<float>& a, double& norm2) {
    if (!load_delta(in, pool, a, norm2)) return std::nullopt;
    if (progress) progress->within(1, 4);
    return randomized_svd(a.data(), in.ft->info->shape[0], in.ft->info->shape[1], l, pool);
}

// ---- quantizer ------------------------------------------------------------------

// y = q − 2^(b−1) + ½ (x̂ = α·y).
double quantize(const float* x, uint64_t len, int b, uint8_t* q, double& e2, double& r2) {
    const int h = 1 << (b - 1), top = (1 << b) - 1;
    float mx = 0;
    for (uint64_t i = 0; i < len; ++i) mx = std::max(mx, std::fabs(x[i]));
    const double step = static_cast<double>(mx) / h;
    double xy = 0, yy = 0;
    for (uint64_t i = 0; i < len; ++i) {
        const int v = step > 0 ? static_cast<int>(std::floor(x[i] / step)) + h : h;
        q[i] = static_cast<uint8_t>(std::clamp(v, 0, top));
        const double y = q[i] - h + 0.5;
        xy += x[i] * y, yy += y * y;
    }
    const double alpha = xy / yy;
    e2 = 0, r2 = 0;
    for (uint64_t i = 0; i < len; ++i) {
        const double r = alpha * (q[i] - h + 0.5), e = r - x[i];
        e2 += e * e, r2 += r * r;
    }
    return alpha;
}

uint64_t code_bytes(uint64_t len, const std::vector<Column>& cols, size_t count) {
    uint64_t n = 0;
    for (size_t j = 0; j < count; ++j) n += bitpack_coder().fixed_bytes(len, cols[j].bits);
    return n;
}

Quantized quantize_factors(const Svd& f, uint64_t r, int b) {
    return quantize_factors(f, std::vector<uint8_t>(r, static_cast<uint8_t>(b)));
}

Quantized quantize_factors(const Svd& f, const std::vector<uint8_t>& widths) {
    Quantized z;
    std::unique_ptr<SymbolWriter> uw = bitpack_coder().writer(z.ucodes), vw = bitpack_coder().writer(z.vcodes);
    std::vector<uint8_t> q(std::max(f.m, f.n));
    for (uint64_t j = 0; j < widths.size(); ++j) {
        const int b = widths[j];
        if (b == 0) continue;
        double eu, ru, ev, rv;
        const double au = quantize(f.U.data() + j * f.m, f.m, b, q.data(), eu, ru);
        uw->put(q.data(), f.m, b);
        const double av = quantize(f.V.data() + j * f.n, f.n, b, q.data(), ev, rv);
        vw->put(q.data(), f.n, b);
        z.cols.push_back({static_cast<uint8_t>(b), static_cast<float>(f.s[j] * au * av)});
        z.eu2.push_back(eu), z.ev2.push_back(ev), z.vh2.push_back(rv);
    }
    uw->finish(), vw->finish();
    return z;
}

// Rebuilds a factor (len × r, column-major) from its codes: column j is c_j·y (`scaled`) or y.
void dequantize_factor(const uint8_t* codes, uint64_t size, uint64_t len, const std::vector<Column>& cols, bool scaled,
                       float* out) {
    std::unique_ptr<SymbolReader> rd = bitpack_coder().reader(codes, size);
    std::vector<uint8_t> q(len);
    for (size_t j = 0; j < cols.size(); ++j) {
        rd->get(q.data(), len, cols[j].bits);
        const float h = static_cast<float>(1 << (cols[j].bits - 1)) - 0.5f, c = scaled ? cols[j].scale : 1.0f;
        float* o = out + j * len;
        for (uint64_t i = 0; i < len; ++i) o[i] = c * (static_cast<float>(q[i]) - h);
    }
}

// Checks that each column's padding bits (past its last code) are 0, as codes
// stream by in pieces of any size. Every column holds at least one byte.
class PaddingCheck {
public:
    PaddingCheck(const std::string& ctx, const char* method, const char* factor, uint64_t len,
                 const std::vector<Column>& cols)
        : ctx_(ctx), method_(method), factor_(factor), len_(len), cols_(cols) {
        if (!cols_.empty()) end_ = bitpack_coder().fixed_bytes(len_, cols_[0].bits);
    }
    void operator()(const uint8_t* p, size_t n) {
        while (col_ < cols_.size() && end_ <= pos_ + n) {  // column col_'s last byte is in this piece
            const unsigned used = static_cast<unsigned>(len_ * cols_[col_].bits % 8);
            if (used && p[end_ - 1 - pos_] >> used)
                throw Error(ctx_ + ": corrupt " + method_ + " record (padding bits set after column " +
                            std::to_string(col_) + " of " + factor_ + ")");
            if (++col_ < cols_.size()) end_ += bitpack_coder().fixed_bytes(len_, cols_[col_].bits);
        }
        pos_ += n;
    }

private:
    const std::string& ctx_;
    const char *method_, *factor_;
    uint64_t len_;
    const std::vector<Column>& cols_;
    size_t col_ = 0;
    uint64_t pos_ = 0, end_ = 0;  // end_: one past the current column's last byte
};

// ---- the product --------------------------------------------------------------

// One GEMM: t = (V̂_tile·Û_tileᵀ) in column-major terms.
void product_tile(const float* u, uint64_t m, const float* v, uint64_t n, uint64_t r, uint64_t i0, uint64_t h,
                  uint64_t k0, uint64_t w, float* t) {
    sgemm(false, true, w, h, r, 1, v + k0, n, u + i0, m, 0, t, w);
}

// ---- the method -------------------------------------------------------------------

uint64_t raw_bytes(uint64_t m, uint64_t n, uint64_t r, int b) {
    return kFixedBytes + 5 * r + r * (bitpack_coder().fixed_bytes(m, b) + bitpack_coder().fixed_bytes(n, b));
}

RdCurve ladder_of(std::vector<RdPoint> pts) {
    // Increasing bytes; a point that costs more than another without less error is left out.
    std::sort(pts.begin(), pts.end(), [](const RdPoint& x, const RdPoint& y) {
        return x.bytes != y.bytes ? x.bytes < y.bytes : *x.err2 < *y.err2;
    });
    RdCurve c;
    for (const RdPoint& p : pts)
        if (c.points.empty() || *p.err2 < *c.points.back().err2) c.points.push_back(p);
    return c;
}

uint64_t blob_bytes(const uint8_t* p, size_t n, bool entropy) {
    ByteWriter w;
    w.blob(p, n, entropy);
    return w.buf.size() - kBlobHeaderBytes;
}

uint64_t record_bytes(const Quantized& z, uint64_t m, uint64_t n, bool entropy) {
    const size_t r = z.cols.size();
    return kFixedBytes + 5 * r + blob_bytes(z.ucodes.data(), code_bytes(m, z.cols, r), entropy) +
           blob_bytes(z.vcodes.data(), code_bytes(n, z.cols, r), entropy);
}

void rebuild_factors(const Quantized& z, uint64_t m, uint64_t n, std::vector<float>& u, std::vector<float>& v) {
    const uint64_t r = z.cols.size();
    u.resize(m * r), v.resize(n * r);
    dequantize_factor(z.ucodes.data(), z.ucodes.size(), m, z.cols, true, u.data());
    dequantize_factor(z.vcodes.data(), z.vcodes.size(), n, z.cols, false, v.data());
}

void write_factors(ByteWriter& w, const Quantized& z, bool entropy) {
    w.u32(static_cast<uint32_t>(z.cols.size()));
    for (const Column& c : z.cols) {
        w.u8(c.bits);
        w.f32(c.scale);
    }
    w.blob(z.ucodes.data(), z.ucodes.size(), entropy);
    w.blob(z.vcodes.data(), z.vcodes.size(), entropy);
}

EncodedRecord factor_record(const TensorInput& in, const std::vector<float>& a, double norm2,
                            std::shared_ptr<const Quantized> z, bool entropy, EncodeContext& ec) {
    const uint64_t m = in.ft->info->shape[0], n = in.ft->info->shape[1], r = z->cols.size();
    // The factors as the decoder rebuilds them, and the error of their product, tile by tile.
    std::vector<float> u, v;
    rebuild_factors(*z, m, n, u, v);
    if (ec.progress) ec.progress->within(3, 4);
    std::vector<double> err(blocks(m, kTileRows) * blocks(n, kTileCols));
    {
        const BlasOneThread one;
        for_each_tile(ec.pool, u.data(), m, v.data(), n, r, 0, m,
                      [&](uint64_t i0, uint64_t h, uint64_t k0, uint64_t w, const float* t) {
                          double e2 = 0;
                          for (uint64_t i = 0; i < h; ++i) {
                              const float* d = a.data() + (i0 + i) * n + k0;
                              for (uint64_t j = 0; j < w; ++j) {
                                  const double e = static_cast<double>(t[i * w + j]) - d[j];
                                  e2 += e * e;
                              }
                          }
                          err[i0 / kTileRows * blocks(n, kTileCols) + k0 / kTileCols] = e2;
                      });
    }
    EncodedRecord rec;
    for (const double e : err) rec.err2 += e;
    rec.ref2 = norm2;
    rec.unchanged = norm2 == 0;
    const TensorRef* base = in.base;
    rec.write = [base, z, entropy](ByteWriter& w) {
        write_float_base(w, *base);
        write_factors(w, *z, entropy);
    };
    if (ec.progress) ec.progress->within(4, 4);
    return rec;
}

// Ranks 1, 2, 3, 4, 6, 8, 12, 16, … (steps of ×1.5 and ×4/3) up to rmax.
std::vector<uint64_t> ladder_ranks(uint64_t rmax) {
    std::vector<uint64_t> out;
    for (uint64_t p = 1; p <= rmax; p *= 2) {
        out.push_back(p);
        if (p >= 2 && p + p / 2 <= rmax) out.push_back(p + p / 2);
    }
    if (out.empty() || out.back() != rmax) out.push_back(rmax);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

RdCurve lowrank_analyse(const TensorInput& in, const CompressOptions& opt) {
    const uint64_t m = in.ft->info->shape[0], n = in.ft->info->shape[1], k = min_dim(in);
    RdPoint one;
    const uint64_t r1 = std::min<uint64_t>(opt.rank, k);
    const int b1 = static_cast<int>(std::clamp(opt.rank_bits, 1u, static_cast<unsigned>(kMaxBits)));
    one.bytes = raw_bytes(m, n, r1, b1);
    one.setting = setting_of(r1, b1);
    if (!rate_controlled(opt)) return RdCurve{{one}};
    std::vector<float> a;
    double norm2 = 0;
    if (!load_delta(in, nullptr, a, norm2)) return RdCurve{{one}};  // encode will decline it
    const uint64_t l = sketch_size(k, opt), rmax = max_rank(k, l);
    const Svd f = randomized_svd(a.data(), m, n, l, nullptr);
    a = {};
    const std::vector<uint64_t> ranks = ladder_ranks(rmax);
    std::vector<RdPoint> pts;
    for (const int b : kLadderBits) {
        const Quantized z = quantize_factors(f, rmax, b);
        double kept = 0, qerr = 0;
        size_t next = 0;
        for (uint64_t j = 0; j < rmax && next < ranks.size(); ++j) {
            const double s2 = static_cast<double>(f.s[j]) * f.s[j];
            kept += s2;
            qerr += s2 * (z.eu2[j] * z.vh2[j] + z.ev2[j]);
            if (j + 1 != ranks[next]) continue;
            const uint64_t r = ranks[next++];
            if (raw_bytes(m, n, r, b) > 2 * m * n) break;  // past the dense delta in f16
            RdPoint p;
            p.bytes = kFixedBytes + 5 * r + blob_bytes(z.ucodes.data(), code_bytes(m, z.cols, r), opt.entropy) +
                      blob_bytes(z.vcodes.data(), code_bytes(n, z.cols, r), opt.entropy);
            p.err2 = std::max(0.0, norm2 - kept) + qerr;
            p.setting = setting_of(r, b);
            pts.push_back(p);
        }
    }
    return ladder_of(std::move(pts));
}

std::optional<EncodedRecord> lowrank_encode(const TensorInput& in, const CompressOptions& opt, const RdPoint& point,
                                            EncodeContext& ec) {
    const uint64_t k = min_dim(in);
    const uint64_t r = point.setting & 0xFFFFFF;
    const int b = static_cast<int>(point.setting >> 24);
    const uint64_t l = sketch_size(k, opt);
    if (r < 1 || r > max_rank(k, l) || b < 1 || b > kMaxBits)
        throw Error("internal error: lowrank setting " + std::to_string(point.setting) + " for tensor '" +
                    in.ft->info->name + "'");
    std::vector<float> a;
    double norm2 = 0;
    const std::optional<Svd> f = delta_svd(in, l, &ec.pool, ec.progress, a, norm2);
    if (!f) return std::nullopt;  // NaN or infinity: the next candidate
    if (ec.progress) ec.progress->within(2, 4);
    return factor_record(in, a, norm2, std::make_shared<const Quantized>(quantize_factors(*f, r, b)), opt.entropy, ec);
}

void Factors::read(ByteReader& r, uint64_t rows_, uint64_t cols_, const char* method_) {
    method = method_, rows = rows_, cols = cols_;
    const std::string name = method;
    const uint64_t k = std::min(rows, cols);
    const uint32_t rank = r.u32();
    if (rank == 0 || rank > k)
        r.fail(name + " rank " + std::to_string(rank) + " is not in 1.." + std::to_string(k) +
               " (the smaller side of the tensor)");
    for (uint32_t j = 0; j < rank; ++j) {  // each read is checked: a short record fails before memory grows
        Column c;
        c.bits = r.u8();
        c.scale = r.f32();
        if (c.bits < 1 || c.bits > kMaxBits)
            r.fail(name + " column " + std::to_string(j) + " has a width of " + std::to_string(c.bits) +
                   " bits (not 1..8)");
        if (!std::isfinite(c.scale) || c.scale < 0)
            r.fail(name + " scale of column " + std::to_string(j) + " is not a finite number ≥ 0");
        columns.push_back(c);
    }
    // rank ≤ min(rows, cols) and numel ≤ 2^50: the sizes below cannot overflow.
    ucodes = r.blob_ref();
    if (ucodes.raw != code_bytes(rows, columns, rank))
        r.fail(name + " U codes blob is not the size its columns' widths give");
    vcodes = r.blob_ref();
    if (vcodes.raw != code_bytes(cols, columns, rank))
        r.fail(name + " V codes blob is not the size its columns' widths give");
}

void Factors::load(const std::string& ctx, std::vector<float>& u, std::vector<float>& v) const {
    const uint64_t r = columns.size();
    u.resize(rows * r), v.resize(cols * r);
    std::vector<uint8_t> codes(std::max(ucodes.raw, vcodes.raw) + 1);
    decode_blob(ucodes, codes.data(), ctx);
    PaddingCheck{ctx, method, "U", rows, columns}(codes.data(), ucodes.raw);
    dequantize_factor(codes.data(), ucodes.raw, rows, columns, true, u.data());
    decode_blob(vcodes, codes.data(), ctx);
    PaddingCheck{ctx, method, "V", cols, columns}(codes.data(), vcodes.raw);
    dequantize_factor(codes.data(), vcodes.raw, cols, columns, false, v.data());
}

void Factors::describe(const std::string& ctx, DcxTensor& out) const {
    stream_blob(ucodes, ctx, PaddingCheck{ctx, method, "U", rows, columns});
    stream_blob(vcodes, ctx, PaddingCheck{ctx, method, "V", cols, columns});
    for (const Column& c : columns)
        if (std::find(out.widths.begin(), out.widths.end(), c.bits) == out.widths.end()) out.widths.push_back(c.bits);
}

struct LowRankBody final : RecordBody {
    FloatBase base;
    Factors f;

    void decode(const DecodeContext& dc, BandSink& sink) const override {
        const TensorSpec& spec = dc.spec;
        const size_t es = dtype_size(spec.dtype), bs = dtype_size(base.dtype);
        // The base first: its tensor really exists, so it bounds the sizes the record declares.
        const TensorRef& bt = dc.base_tensor(base.dtype, spec.shape, base.fingerprint);
        const uint64_t m = f.rows, n = f.cols, r = f.columns.size();
        // The factors, once: Û = c_j·y_u (m×r) and V̂ = y_v (n×r), column-major.
        std::vector<float> u, v;
        f.load(dc.ctx, u, v);
        const BlasOneThread one;
        // Bands of whole tiles (a fixed number of rows: the same products at any thread count).
        const uint64_t per_band = std::max<uint64_t>(1, kBandBytes / (n * es * kTileRows)) * kTileRows;
        for (uint64_t r0 = 0; r0 < m; r0 += per_band) {
            const uint64_t r1 = std::min(m, r0 + per_band);
            uint8_t* out = sink.band_buffer((r1 - r0) * n * es + 1);
            for_each_tile(dc.pool, u.data(), m, v.data(), n, r, r0, r1,
                          [&](uint64_t i0, uint64_t h, uint64_t k0, uint64_t w, const float* t) {
                              thread_local std::vector<float> tmp;
                              tmp.resize(kTileCols);
                              for (uint64_t i = 0; i < h; ++i)
                                  add_to_base_row(base.dtype, bt.data() + ((i0 + i) * n + k0) * bs, t + i * w,
                                                  spec.dtype, out + ((i0 + i - r0) * n + k0) * es, w, tmp.data());
                          });
            sink.put(out, (r1 - r0) * n * es);
        }
        bt.release();
    }

    std::optional<uint64_t> base_fingerprint() const override { return base.fingerprint; }

    void describe(const std::string& ctx, DcxTensor& out) const override { f.describe(ctx, out); }
};

void check_shape(ByteReader& r, const TensorSpec& spec, const char* method) {
    const std::string name = method;
    if (spec.shape[0] == 0 || spec.shape[1] == 0) r.fail(name + " record of an empty tensor");
    if (spec.shape[0] > INT32_MAX || spec.shape[1] > INT32_MAX)
        r.fail(name + " record of a tensor with over 2^31 rows or columns");
}

std::unique_ptr<const RecordBody> parse_record(ByteReader& r, const TensorSpec& spec, const char* method) {
    auto b = std::make_unique<LowRankBody>();
    b->base = read_float_base(r, spec);
    check_shape(r, spec, method);
    b->f.read(r, spec.shape[0], spec.shape[1], method);
    return b;
}

std::unique_ptr<const RecordBody> lowrank_parse(ByteReader& r, const TensorSpec& spec) {
    return parse_record(r, spec, "lowrank");
}

bool applicable(const TensorInput& in) {
    return is_2d_float_delta(in) && in.ft->info->shape[0] <= INT32_MAX && in.ft->info->shape[1] <= INT32_MAX;
}

}  // namespace lowrank

extern const MethodTraits kLowRankMethod{MethodId{5},
                                         "lowrank",
                                         "coded",
                                         MethodRole::LOSSY,
                                         "truncated SVD, factors quantized: (rows + cols) x rank codes",
                                         lowrank::applicable,
                                         lowrank::lowrank_analyse,
                                         lowrank::lowrank_encode,
                                         lowrank::lowrank_parse};

}  // namespace deltacodec
