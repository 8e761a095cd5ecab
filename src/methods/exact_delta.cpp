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

// Whether elements [b, e) have a zero delta (every plane's bytes zero there).
bool planes_zero(const uint8_t* planes, uint64_t numel, size_t es, uint64_t b, uint64_t e) {
    for (size_t k = 0; k < es; ++k) {
        const uint8_t* p = planes + k * numel + b;
        uint64_t acc = 0;
        for (uint64_t i = 0; i < e - b; ++i) acc |= p[i];
        if (acc) return false;
    }
    return true;
}

struct ExactBody final : RecordBody {
    uint64_t fingerprint = 0;
    BlobRef data;

    void decode(const DecodeContext& dc, BandSink& sink) const override {
        const TensorSpec& spec = dc.spec;
        const uint64_t numel = shape_numel(spec.shape);
        const size_t es = dtype_size(spec.dtype);
        const TensorRef& b = dc.base_tensor(spec.dtype, spec.shape, fingerprint);
        // Plane k holds byte k of every element, so element i is complete once
        // byte (es−1)·numel + i of the blob is decoded: the last plane, as it
        // arrives, completes bands of elements, which go out while they are in cache.
        constexpr uint64_t kBandBytes = 4u << 20;
        const uint64_t band = std::max<uint64_t>(1, kBandBytes / es), last = (es - 1) * numel;
        uint64_t done = 0;
        auto emit = [&](const uint8_t* planes, uint64_t ready) {
            while (done < ready && (ready - done >= band || ready == numel)) {
                const uint64_t e = std::min(ready, done + band);
                if (planes_zero(planes, numel, es, done, e)) {
                    sink.put(b.data() + done * es, (e - done) * es);  // unchanged: the base's own bytes
                } else {
                    uint8_t* out = sink.band_buffer((e - done) * es + 1);
                    apply_exact_delta_range(b.data(), planes, numel, es, done, e, out, dc.pool);
                    sink.put(out, (e - done) * es);
                }
                done = e;
            }
        };
        if (data.codec == static_cast<uint8_t>(BlobCodec::STORED)) {
            emit(data.src, numel);
        } else {
            uint8_t* planes = dc.blob.get(numel * es + 1);
            decode_blob_progressive(data, planes, dc.ctx, [&](uint64_t n) {
                if (n > last) emit(planes, n - last);
            });
        }
        b.release();
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

// The default coder of tensors kept exactly (`--lossless-coder zstd`; rans: method 9).
std::string exact_chosen(const CompressOptions& o) { return o.lossless_rans ? "" : "zstd"; }

}  // namespace

extern const MethodTraits kExactDeltaMethod{MethodId::EXACT_DELTA,
                                            "exact_delta",
                                            "exact",
                                            MethodRole::LOSSLESS,
                                            "",
                                            exact_applicable,
                                            exact_analyse,
                                            exact_encode,
                                            exact_parse,
                                            nullptr,
                                            nullptr,
                                            exact_chosen,
                                            one_row};

}  // namespace deltacodec
