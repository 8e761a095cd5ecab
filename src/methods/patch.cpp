// deltacodec — method 0, the patch transform coder (the seed's Delta-DCT/DWT):
// delta → p×p patches → importance → bit allocation → transform → quantize → pack.
// The per-tensor pipeline itself is codec.cpp; this file is its record: what it
// applies to, what it costs, how its payload is written, read, rebuilt, described.
#include <algorithm>

#include "codec/kernels.hpp"
#include "codec/quantize.hpp"
#include "deltacodec/error.hpp"
#include "methods/method.hpp"

namespace deltacodec {
namespace {

bool patch_applicable(const TensorInput& in) {
    const TensorInfo& fi = *in.ft->info;
    if (!in.base) return false;
    const TensorInfo& bi = *in.base->info;
    return bi.shape == fi.shape && fi.shape.size() == 2 && fi.numel() > 0 && dtype_is_compressible(fi.dtype) &&
           dtype_is_compressible(bi.dtype);
}

// One point, the configured bit spec: its payload size before zstd follows from
// the shape alone (tier_counts does not depend on the data); the error is only
// known after encoding.
RdCurve patch_analyse(const TensorInput& in, const CompressOptions& opt) {
    const CodecParams& cp = opt.codec;
    const TensorInfo& fi = *in.ft->info;
    CodedTensor shape;
    shape.rows = fi.shape[0];
    shape.cols = fi.shape[1];
    shape.patch = cp.patch;
    shape.transform = cp.transform;
    shape.bands = bands_offered(cp.transform, cp.bands) ? cp.bands : Bands::ALL;
    shape.flags = cp.meta_f32 ? kFlagMetaF32 : 0;
    const uint64_t n = shape.num_patches();
    const std::vector<uint64_t> counts = tier_counts(cp.bits, n);
    uint64_t codes = 0, coded = 0;
    for (size_t t = 0; t < counts.size(); ++t) {
        codes += counts[t] * shape.code_bytes(static_cast<uint8_t>(cp.bits.tiers[t].bits));
        if (cp.bits.tiers[t].bits) coded += counts[t];
    }
    int s = 0;
    while ((size_t{1} << s) < cp.bits.tiers.size()) ++s;
    RdPoint p;
    p.bytes = 64 + packed_size(n, s) + coded * shape.meta_bytes_per_patch() + codes;
    return RdCurve{{p}};
}

std::optional<EncodedRecord> patch_encode(const TensorInput& in, const CompressOptions& opt, const RdPoint&,
                                          EncodeContext& ec) {
    const TensorInfo& fi = *in.ft->info;
    const TensorInfo& bi = *in.base->info;
    const DeltaView dv{in.base->data(), bi.dtype, in.ft->data(), fi.dtype, fi.shape[0], fi.shape[1]};
    TensorStats st;
    std::optional<CodedTensor> ct = encode_tensor(dv, opt.codec, ec.pool, st, ec.progress);
    if (!ct) return std::nullopt;  // NaN or infinity in the delta
    auto coded = std::make_shared<CodedTensor>(std::move(*ct));
    const TensorRef* base = in.base;
    const bool entropy = opt.entropy;
    EncodedRecord r;
    r.write = [base, coded, entropy](ByteWriter& w) {
        const TensorInfo& b = *base->info;
        w.u64(tensor_fingerprint(b.dtype, b.shape, base->data(), b.nbytes()));
        w.u8(static_cast<uint8_t>(b.dtype));
        write_coded_body(w, *coded, entropy);
    };
    r.err2 = st.err2;
    r.ref2 = st.ref2;
    r.unchanged = st.ref2 == 0;
    return r;
}

struct PatchBody final : RecordBody {
    uint64_t fingerprint = 0;
    DType base_dtype{};
    CodedBody coded;

    void decode(const DecodeContext& dc, BandSink& sink) const override {
        const TensorSpec& spec = dc.spec;
        const size_t es = dtype_size(spec.dtype);
        // The base first: its tensor really exists, so it bounds the sizes the record declares.
        const TensorRef& b = dc.base_tensor(base_dtype, spec.shape, fingerprint);
        const CodedTensor ct = decode_coded_body(coded, dc.ctx);
        const uint64_t cols = ct.cols;
        const DType bdt = base_dtype;
        const size_t bs = dtype_size(bdt);
        const TensorDecoder dec(ct);
        // Bands of patch rows of about kBandBytes, at least one patch row per thread.
        constexpr uint64_t kBandBytes = 4u << 20;
        const uint64_t band_bytes = static_cast<uint64_t>(ct.patch) * cols * es;
        const uint64_t per_band = std::max<uint64_t>(dc.pool.size(), kBandBytes / std::max<uint64_t>(band_bytes, 1));
        for (uint64_t pr = 0; pr < dec.patch_rows(); pr += per_band) {
            const uint64_t pr_end = std::min(dec.patch_rows(), pr + per_band);
            const uint64_t row0 = pr * ct.patch, row1 = std::min<uint64_t>(ct.rows, pr_end * ct.patch);
            uint8_t* out = sink.band_buffer((row1 - row0) * cols * es + 1);
            dec.decode_rows(dc.pool, pr, pr_end, [&](uint64_t r0, uint64_t n, const float* strip) {
                thread_local std::vector<float> row;
                row.resize(cols);
                for (uint64_t i = 0; i < n; ++i) {
                    const uint64_t rr = r0 + i;
                    to_f32(bdt, b.data() + rr * cols * bs, row.data(), cols);
                    kernels().add(row.data(), strip + i * cols, row.data(), cols);
                    from_f32(spec.dtype, row.data(), out + (rr - row0) * cols * es, cols);
                }
            });
            sink.put(out, (row1 - row0) * cols * es);
        }
        b.release();
    }

    void describe(const std::string& ctx, DcxTensor& t) const override {
        t.patches_per_width = check_coded_body(coded, ctx);
        const CodedTensor& ct = coded.ct;
        t.transform = std::string(find_transform(ct.transform)->name);
        t.patch = ct.patch;
        if (find_transform(ct.transform)->has_bands) t.bands = std::string(bands_name(ct.bands));
        t.widths.assign(ct.widths.begin(), ct.widths.end());
    }
    std::optional<uint64_t> base_fingerprint() const override { return fingerprint; }
};

std::unique_ptr<const RecordBody> patch_parse(ByteReader& r, const TensorSpec& spec) {
    if (!dtype_is_compressible(spec.dtype) || spec.shape.size() != 2) r.fail("coded record of an uncodable tensor");
    auto b = std::make_unique<PatchBody>();
    b->fingerprint = r.u64();
    const auto bdt = dtype_from_code(r.u8());
    if (!bdt || !dtype_is_compressible(*bdt)) r.fail("bad base dtype");
    b->base_dtype = *bdt;
    b->coded = parse_coded_body(r, spec.shape[0], spec.shape[1]);
    return b;
}

}  // namespace

extern const MethodTraits kPatchMethod;
const MethodTraits kPatchMethod{MethodId::PATCH,  "patch",       "coded",      true,
                                patch_applicable, patch_analyse, patch_encode, patch_parse};

}  // namespace deltacodec
