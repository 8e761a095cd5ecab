// deltacodec — method 1, exact delta: (ft − base) mod 2^(8w) of each element's
// bits, stored as byte planes (FORMAT.md "EXACT_DELTA"); rebuilt bit for bit.
#include <algorithm>

#include "format/header.hpp"
#include "methods/method.hpp"

namespace deltacodec {
namespace {

bool exact_applicable(const TensorInput& in) {
    const TensorInfo& fi = *in.ft->info;
    return in.base && in.base->info->shape == fi.shape && in.base->info->dtype == fi.dtype &&
           dtype_is_compressible(fi.dtype);
}

// Lossless: one point, at most the tensor's bytes before zstd.
RdCurve exact_analyse(const TensorInput& in, const CompressOptions&) {
    return lossless_curve(8 + kBlobHeaderBytes + in.ft->info->nbytes());
}

std::optional<EncodedRecord> exact_encode(const TensorInput& in, const CompressOptions&, const RdPoint&,
                                          EncodeContext& ec) {
    const TensorInfo& fi = *in.ft->info;
    uint8_t* planes = ec.scratch.get(fi.nbytes() + 1);
    exact_delta_planes(in.base->data(), in.ft->data(), fi.numel(), dtype_size(fi.dtype), planes, ec.pool);
    const TensorRef* base = in.base;
    const uint64_t n = fi.nbytes();
    EncodedRecord r;
    // A zero delta is all zero planes (the scan stops at the first other byte).
    r.unchanged = std::all_of(planes, planes + n, [](uint8_t b) { return b == 0; });
    r.write = [base, planes, n](ByteWriter& w) {
        const TensorInfo& b = *base->info;
        w.u64(tensor_fingerprint(b.dtype, b.shape, base->data(), b.nbytes()));
        w.blob(planes, n, true);
    };
    return r;
}

struct ExactBody final : RecordBody {
    uint64_t fingerprint = 0;
    BlobRef data;

    void decode(const DecodeContext& dc, BandSink& sink) const override {
        const TensorSpec& spec = dc.spec;
        const uint64_t numel = shape_numel(spec.shape);
        const size_t es = dtype_size(spec.dtype);
        const TensorRef& b = dc.base_tensor(spec.dtype, spec.shape, fingerprint);
        // Byte planes interleave every element's bytes across the blob: one band.
        const uint8_t* planes = dc.blob_view(data);
        uint8_t* out = dc.out.get(numel * es + 1);
        apply_exact_delta(b.data(), planes, numel, es, out, dc.pool);
        b.release();
        sink.put(out, numel * es);
    }
    void describe(const std::string& ctx, DcxTensor&) const override {
        stream_blob(data, ctx, [](const uint8_t*, size_t) {});
    }
    std::optional<uint64_t> base_fingerprint() const override { return fingerprint; }
};

std::unique_ptr<const RecordBody> exact_parse(ByteReader& r, const TensorSpec& spec) {
    if (!dtype_is_compressible(spec.dtype)) r.fail("exact delta of a non-float tensor");
    auto b = std::make_unique<ExactBody>();
    b->fingerprint = r.u64();
    b->data = read_tensor_blob(r, spec);
    return b;
}

}  // namespace

extern const MethodTraits kExactDeltaMethod{
    MethodId::EXACT_DELTA, "exact_delta", "exact",      MethodRole::LOSSLESS, "",
    exact_applicable,      exact_analyse, exact_encode, exact_parse};

}  // namespace deltacodec
