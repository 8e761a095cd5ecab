// deltacodec — method 3, bitdelta (sign + one scale per row, after BitDelta, Liu et
// al. 2024): row r of the 2-D delta Δ is stored as the signs of its elements and one
// scale s_r, and rebuilt as Δ̂_r = s_r·sign(Δ_r). For fixed signs b ∈ {±1}, the
// squared error ‖Δ_r − s·b‖² is least at s = ⟨Δ_r, b⟩/n = mean |Δ_r|, so that is
// the scale. 1 bit per parameter plus 32 bits per row (FORMAT.md "BITDELTA").
//
// Scales are f32: f16 would save 16 bits per row (0.004 bit/param at 4096 columns)
// but has no normal numbers below 6.1e-5, where a gentle fine-tune's mean |Δ|
// lies (1e-6..1e-4): its scales would lose most of their precision.
#include <atomic>
#include <cmath>
#include <cstring>

#include "codec/kernels.hpp"
#include "deltacodec/error.hpp"
#include "methods/method.hpp"

namespace deltacodec {
namespace {

uint64_t sign_bytes_per_row(uint64_t cols) { return (cols + 7) / 8; }

std::optional<EncodedRecord> bitdelta_encode(const TensorInput& in, const CompressOptions& opt, const RdPoint&,
                                             EncodeContext& ec);

// The payload before the blob codec: base, scales, signs. Under a rate target,
// the same one point measured by encoding it (bytes after zstd, its error).
RdCurve bitdelta_analyse(const TensorInput& in, const CompressOptions& opt) {
    if (rate_controlled(opt)) {
        std::optional<RdPoint> p = measure_point(bitdelta_encode, in, opt, 0, true);
        return p ? RdCurve{{*p}} : RdCurve{};
    }
    const uint64_t rows = in.ft->info->shape[0], cols = in.ft->info->shape[1];
    RdPoint p;
    p.bytes = 9 + 2 * kBlobHeaderBytes + rows * 4 + rows * sign_bytes_per_row(cols);
    return RdCurve{{p}};
}

void put_f32le(uint8_t* p, float v) {
    uint32_t u;
    std::memcpy(&u, &v, 4);
    for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(u >> (8 * i));
}
float get_f32le(const uint8_t* p) {
    const uint32_t u = p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24);
    float v;
    std::memcpy(&v, &u, 4);
    return v;
}

std::optional<EncodedRecord> bitdelta_encode(const TensorInput& in, const CompressOptions& opt, const RdPoint&,
                                             EncodeContext& ec) {
    const TensorInfo& fi = *in.ft->info;
    const TensorInfo& bi = *in.base->info;
    const uint64_t rows = fi.shape[0], cols = fi.shape[1], rb = sign_bytes_per_row(cols);
    const DeltaView dv{in.base->data(), bi.dtype, in.ft->data(), fi.dtype, rows, cols};
    // One buffer: per-row squared error and energy (doubles first, aligned), scales, signs.
    uint8_t* buf = ec.scratch.get(rows * (16 + 4 + rb) + 1);
    double* err = reinterpret_cast<double*>(buf);
    double* ref = err + rows;
    uint8_t* scales = buf + rows * 16;
    uint8_t* signs = scales + rows * 4;
    std::atomic<bool> finite{true};
    const uint64_t per_item = std::max<uint64_t>(1, (uint64_t{1} << 16) / cols);
    const uint64_t items = (rows + per_item - 1) / per_item;
    std::atomic<uint64_t> items_done{0};
    ec.pool.parallel_for(items, [&](size_t item) {
        thread_local std::vector<float> d, tmp;
        d.resize(cols);
        tmp.resize(cols);
        for (uint64_t r = item * per_item; r < std::min(rows, (item + 1) * per_item); ++r) {
            dv.read_rows(r, 1, d.data(), tmp.data());
            if (!kernels().all_finite(d.data(), cols)) {
                finite = false;
                return;
            }
            double sum = 0;
            for (uint64_t j = 0; j < cols; ++j) sum += std::fabs(d[j]);
            const float s = static_cast<float>(sum / static_cast<double>(cols));
            put_f32le(scales + r * 4, s);
            uint8_t* sg = signs + r * rb;
            std::memset(sg, 0, rb);
            double e2 = 0, r2 = 0;
            for (uint64_t j = 0; j < cols; ++j) {
                const bool neg = d[j] < 0;
                sg[j >> 3] |= static_cast<uint8_t>(neg << (j & 7));
                const double e = static_cast<double>(d[j]) - (neg ? -s : s);
                e2 += e * e;
                r2 += static_cast<double>(d[j]) * d[j];
            }
            err[r] = e2;
            ref[r] = r2;
        }
        if (ec.progress) ec.progress->within(++items_done, items);
    });
    if (!finite) return std::nullopt;  // NaN or infinity in the delta: the next candidate
    EncodedRecord rec;
    for (uint64_t r = 0; r < rows; ++r) rec.err2 += err[r], rec.ref2 += ref[r];
    rec.unchanged = rec.ref2 == 0;
    const TensorRef* base = in.base;
    const bool entropy = opt.entropy;
    rec.write = [base, scales, signs, rows, rb, entropy](ByteWriter& w) {
        write_float_base(w, *base);
        w.blob(scales, rows * 4, entropy);
        w.blob(signs, rows * rb, entropy);
    };
    return rec;
}

// Checks scales (f32 LE, finite, ≥ 0) as they stream by, in pieces of any size.
struct ScaleCheck {
    const std::string& ctx;
    uint64_t row = 0;
    uint8_t part[4] = {};
    size_t have = 0;
    void one(const uint8_t* p) {
        const float s = get_f32le(p);
        if (!std::isfinite(s) || s < 0)
            throw Error(ctx + ": corrupt bitdelta record (scale of row " + std::to_string(row) +
                        " is not a finite number ≥ 0)");
        ++row;
    }
    void operator()(const uint8_t* p, size_t n) {
        while (n) {
            if (have == 0 && n >= 4) {
                one(p), p += 4, n -= 4;
                continue;
            }
            part[have++ & 3] = *p++, --n;
            if (have == 4) one(part), have = 0;
        }
    }
};

// Checks that each row's padding bits (past the last column) are 0, as signs stream by.
struct PaddingCheck {
    const std::string& ctx;
    uint64_t cols, rb, pos = 0;
    void operator()(const uint8_t* p, size_t n) {
        const unsigned used = cols % 8;
        if (used == 0) return;
        // Row ends (the last byte of row k is at k·rb + rb − 1) from the row holding `pos`.
        for (uint64_t at = pos / rb * rb + rb - 1; at < pos + n; at += rb)
            if (p[at - pos] >> used)
                throw Error(ctx + ": corrupt bitdelta record (padding bits set in the signs of row " +
                            std::to_string(at / rb) + ")");
        pos += n;
    }
};

struct BitDeltaBody final : RecordBody {
    FloatBase base;
    uint64_t rows = 0, cols = 0;
    BlobRef scales, signs;

    void decode(const DecodeContext& dc, BandSink& sink) const override {
        const TensorSpec& spec = dc.spec;
        const size_t es = dtype_size(spec.dtype), bs = dtype_size(base.dtype);
        const uint64_t rb = sign_bytes_per_row(cols);
        // The base first: its tensor really exists, so it bounds the sizes the record declares.
        const TensorRef& b = dc.base_tensor(base.dtype, spec.shape, base.fingerprint);
        std::vector<uint8_t> sc(scales.raw + 1);
        decode_blob(scales, sc.data(), dc.ctx);
        ScaleCheck{dc.ctx}(sc.data(), scales.raw);
        const uint8_t* sg = dc.blob_view(signs);
        PaddingCheck{dc.ctx, cols, rb}(sg, signs.raw);
        for_each_band(dc, rows, cols * es, [&](uint64_t r0, uint64_t r1) {
            uint8_t* out = sink.band_buffer((r1 - r0) * cols * es + 1);
            dc.pool.parallel_for(r1 - r0, [&](size_t i) {
                const uint64_t r = r0 + i;
                thread_local std::vector<float> delta, tmp;
                delta.resize(cols);
                tmp.resize(cols);
                const float s = get_f32le(sc.data() + r * 4);
                const float v[2] = {s, -s};
                const uint8_t* bits = sg + r * rb;
                for (uint64_t j = 0; j < cols; ++j) delta[j] = v[(bits[j >> 3] >> (j & 7)) & 1];
                add_to_base_row(base.dtype, b.data() + r * cols * bs, delta.data(), spec.dtype, out + i * cols * es,
                                cols, tmp.data());
            });
            sink.put(out, (r1 - r0) * cols * es);
        });
        b.release();
    }

    std::optional<uint64_t> base_fingerprint() const override { return base.fingerprint; }

    void describe(const std::string& ctx, DcxTensor&) const override {
        stream_blob(scales, ctx, ScaleCheck{ctx});
        stream_blob(signs, ctx, PaddingCheck{ctx, cols, sign_bytes_per_row(cols)});
    }
};

std::unique_ptr<const RecordBody> bitdelta_parse(ByteReader& r, const TensorSpec& spec) {
    auto b = std::make_unique<BitDeltaBody>();
    b->base = read_float_base(r, spec);
    b->rows = spec.shape[0];
    b->cols = spec.shape[1];
    // numel > 0 and at most 2^50 bytes (the HEADER's check): rows·4 and rows·rb cannot overflow.
    if (b->rows == 0 || b->cols == 0) r.fail("bitdelta record of an empty tensor");
    b->scales = r.blob_ref();
    if (b->scales.raw != b->rows * 4) r.fail("bitdelta scales blob is not 4 bytes per row");
    b->signs = r.blob_ref();
    if (b->signs.raw != b->rows * sign_bytes_per_row(b->cols))
        r.fail("bitdelta signs blob is not ceil(cols/8) bytes per row");
    return b;
}

}  // namespace

extern const MethodTraits kBitDeltaMethod{MethodId{3},
                                          "bitdelta",
                                          "coded",
                                          MethodRole::LOSSY,
                                          "sign of the delta + one scale per row: 1 bit/param",
                                          is_2d_float_delta,
                                          bitdelta_analyse,
                                          bitdelta_encode,
                                          bitdelta_parse,
                                          nullptr,
                                          nullptr,
                                          nullptr,
                                          one_row};

}  // namespace deltacodec
