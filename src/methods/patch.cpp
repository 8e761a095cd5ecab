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

// Under a rate target, the bit specs the patch coder offers (RdPoint::setting
// indexes this list), for the configured transform, patch size and quantizer:
// nothing, low-rate mixes of 1- or 2-bit patches with the rest dropped (the most
// important fraction coded; 2 bits in steps of 1/32 of the patches at the lowest
// rates, where a 1-bit min/max patch has more squared error than a dropped one),
// uniform widths, and halfway mixes between neighbouring widths: 23 points, each
// measured by an encode.
const std::vector<BitSpec>& patch_ladder() {
    static const std::vector<BitSpec> ladder = [] {
        std::vector<BitSpec> l;
        for (const char* s : {"0:1",
                              "1:0.125,0:0.875",
                              "1:0.25,0:0.75",
                              "1:0.5,0:0.5",
                              "2:0.03125,0:0.96875",
                              "2:0.0625,0:0.9375",
                              "2:0.09375,0:0.90625",
                              "2:0.125,0:0.875",
                              "2:0.1875,0:0.8125",
                              "2:0.25,0:0.75",
                              "2:0.375,0:0.625",
                              "2:0.5,0:0.5",
                              "2:0.75,0:0.25",
                              "1:1",
                              "2:0.5,1:0.5",
                              "2:1",
                              "3:0.5,2:0.5",
                              "3:1",
                              "4:0.5,3:0.5",
                              "4:1",
                              "5:1",
                              "6:1",
                              "8:1"})
            l.push_back(BitSpec::parse(s));
        return l;
    }();
    return ladder;
}

// The codec's parameters at `point`: the configured spec, or the ladder's under a target.
CodecParams params_at(const CompressOptions& opt, const RdPoint& point) {
    CodecParams cp = opt.codec;
    if (rate_controlled(opt)) cp.bits = patch_ladder().at(point.setting);
    return cp;
}

std::optional<EncodedRecord> patch_encode(const TensorInput& in, const CompressOptions& opt, const RdPoint& point,
                                          EncodeContext& ec);

// Without a target, one point, the configured bit spec: its payload size before
// zstd follows from the shape alone (tier_counts does not depend on the data);
// the error is only known after encoding. Under a target, every rung of the
// ladder, each measured by encoding it (exact bytes after zstd, exact error).
RdCurve patch_analyse(const TensorInput& in, const CompressOptions& opt) {
    if (rate_controlled(opt)) {
        RdCurve c;
        for (uint32_t s = 0; s < patch_ladder().size(); ++s) {
            std::optional<RdPoint> p = measure_point(patch_encode, in, opt, s, true);
            if (!p) return {};  // a non-finite delta: the lossless candidate stores it
            c.points.push_back(*p);
        }
        std::stable_sort(c.points.begin(), c.points.end(),
                         [](const RdPoint& a, const RdPoint& b) { return a.bytes < b.bytes; });
        return c;
    }
    const CodecParams& cp = opt.codec;
    const TensorInfo& fi = *in.ft->info;
    CodedTensor shape;
    shape.rows = fi.shape[0];
    shape.cols = fi.shape[1];
    shape.patch = cp.patch;
    shape.transform = cp.transform;
    shape.levels = levels_of(cp.transform, cp.levels);
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

std::optional<EncodedRecord> patch_encode(const TensorInput& in, const CompressOptions& opt, const RdPoint& point,
                                          EncodeContext& ec) {
    const TensorInfo& fi = *in.ft->info;
    const TensorInfo& bi = *in.base->info;
    const DeltaView dv{in.base->data(), bi.dtype, in.ft->data(), fi.dtype, fi.shape[0], fi.shape[1]};
    TensorStats st;
    std::optional<CodedTensor> ct = encode_tensor(dv, params_at(opt, point), ec.pool, st, ec.progress);
    if (!ct) return std::nullopt;  // NaN or infinity in the delta
    auto coded = std::make_shared<CodedTensor>(std::move(*ct));
    const TensorRef* base = in.base;
    const bool entropy = opt.entropy;
    EncodedRecord r;
    r.write = [base, coded, entropy](ByteWriter& w) {
        write_float_base(w, *base);
        write_coded_body(w, *coded, entropy);
    };
    r.err2 = st.err2;
    r.ref2 = st.ref2;
    r.unchanged = st.ref2 == 0;
    return r;
}

struct PatchBody final : RecordBody {
    FloatBase base;
    CodedBody coded;

    void decode(const DecodeContext& dc, BandSink& sink) const override {
        const TensorSpec& spec = dc.spec;
        const size_t es = dtype_size(spec.dtype);
        // The base first: its tensor really exists, so it bounds the sizes the record declares.
        const TensorRef& b = dc.base_tensor(base.dtype, spec.shape, base.fingerprint);
        const CodedTensor ct = decode_coded_body(coded, dc.ctx);
        const uint64_t cols = ct.cols;
        const DType bdt = base.dtype;
        const size_t bs = dtype_size(bdt);
        const TensorDecoder dec(ct);
        // Bands of whole patch rows.
        for_each_band(dc, dec.patch_rows(), static_cast<uint64_t>(ct.patch) * cols * es,
                      [&](uint64_t pr, uint64_t pr_end) {
                          const uint64_t row0 = pr * ct.patch, row1 = std::min<uint64_t>(ct.rows, pr_end * ct.patch);
                          uint8_t* out = sink.band_buffer((row1 - row0) * cols * es + 1);
                          dec.decode_rows(dc.pool, pr, pr_end, [&](uint64_t r0, uint64_t n, const float* strip) {
                              thread_local std::vector<float> row;
                              row.resize(cols);
                              for (uint64_t i = 0; i < n; ++i) {
                                  const uint64_t rr = r0 + i;
                                  add_to_base_row(bdt, b.data() + rr * cols * bs, strip + i * cols, spec.dtype,
                                                  out + (rr - row0) * cols * es, cols, row.data());
                              }
                          });
                          sink.put(out, (row1 - row0) * cols * es);
                      });
        b.release();
    }

    void describe(const std::string& ctx, DcxTensor& t) const override {
        t.patches_per_width = check_coded_body(coded, ctx);
        const CodedTensor& ct = coded.ct;
        t.transform = std::string(find_transform(ct.transform)->name);
        t.patch = ct.patch;
        if (find_transform(ct.transform)->max_levels) t.levels = ct.levels;
        if (find_transform(ct.transform)->has_bands) t.bands = std::string(bands_name(ct.bands));
        t.widths.assign(ct.widths.begin(), ct.widths.end());
    }
    std::optional<uint64_t> base_fingerprint() const override { return base.fingerprint; }
};

std::unique_ptr<const RecordBody> patch_parse(ByteReader& r, const TensorSpec& spec) {
    auto b = std::make_unique<PatchBody>();
    b->base = read_float_base(r, spec);
    b->coded = parse_coded_body(r, spec.shape[0], spec.shape[1]);
    return b;
}

// `--method dct|dwt|db2|db4|cdf97`: the transform's name chooses the patch coder (and its
// transform), which is also the default (CompressOptions::method empty; under a
// rate target, with every other lossy method).
std::vector<std::string> patch_values() {
    std::vector<std::string> v;
    for (const TransformEntry& t : transform_table()) v.emplace_back(t.name);
    return v;
}
void patch_choose(CompressOptions& o, std::string_view value) { o.codec.transform = find_transform(value)->id; }
// Bytes and error are sums over patches: a row sample holds whole rows of patches.
uint64_t patch_sample_rows(const CompressOptions& o) { return o.codec.patch; }

std::string patch_chosen(const CompressOptions& o) {
    return o.method.empty() || method_listed(o, "patch") ? std::string(find_transform(o.codec.transform)->name)
                                                         : std::string();
}

}  // namespace

extern const MethodTraits kPatchMethod{
    MethodId::PATCH,
    "patch",
    "coded",
    MethodRole::LOSSY,
    "the patch transform coder with DCT, one-level Haar, or multi-level db2, db4 or CDF 9/7 by lifting",
    is_2d_float_delta,
    patch_analyse,
    patch_encode,
    patch_parse,
    patch_values,
    patch_choose,
    patch_chosen,
    patch_sample_rows};

}  // namespace deltacodec
