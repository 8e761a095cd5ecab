// deltacodec — method 2, whole: the fine-tune's bytes as they are, with the reason
// they are not a delta (FORMAT.md "WHOLE"). Applies to every tensor.
#include <cstring>

#include "methods/method.hpp"

namespace deltacodec {
namespace {

bool whole_applicable(const TensorInput&) { return true; }

RdCurve whole_analyse(const TensorInput& in, const CompressOptions&) {
    return lossless_curve(1 + kBlobHeaderBytes + in.ft->info->nbytes());
}

std::optional<EncodedRecord> whole_encode(const TensorInput& in, const CompressOptions&, const RdPoint&,
                                          EncodeContext&) {
    const TensorRef* ft = in.ft;
    const WholeReason why = in.why;
    EncodedRecord r;
    // Stored whole though the base has the same tensor (an integer tensor): unchanged when equal.
    const TensorRef* b = in.base;
    r.unchanged = b && b->info->dtype == ft->info->dtype && b->info->shape == ft->info->shape &&
                  std::memcmp(b->data(), ft->data(), ft->info->nbytes()) == 0;
    r.write = [ft, why](ByteWriter& w) {
        w.u8(static_cast<uint8_t>(why));
        w.blob(ft->data(), ft->info->nbytes(), true);
    };
    return r;
}

struct WholeBody final : RecordBody {
    uint8_t why = 0;
    BlobRef data;

    void decode(const DecodeContext& dc, BandSink& sink) const override { sink.put(dc.blob_view(data), data.raw); }
    void describe(const std::string& ctx, DcxTensor& t) const override {
        stream_blob(data, ctx, [](const uint8_t*, size_t) {});
        t.reason = std::string(kWholeReasonCodes[why].name);
    }
};

std::unique_ptr<const RecordBody> whole_parse(ByteReader& r, const TensorSpec& spec) {
    auto b = std::make_unique<WholeBody>();
    b->why = r.u8();
    if (b->why > kMaxWholeReason) r.fail("unknown reason code");
    b->data = read_tensor_blob(r, spec);
    return b;
}

}  // namespace

extern const MethodTraits kWholeMethod{MethodId::WHOLE,  "whole",       "whole",      MethodRole::WHOLE, "",
                                       whole_applicable, whole_analyse, whole_encode, whole_parse};

}  // namespace deltacodec
