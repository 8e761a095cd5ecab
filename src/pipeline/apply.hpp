// deltacodec (internal) — the one rebuild loop: every TENSOR record of an opened
// .dcx parsed, decoded through its method into a target, the END section checked.
// decompress() targets files; apply() (public) targets a caller's TensorSink.
#pragma once

#include "format/record.hpp"
#include "methods/method.hpp"

namespace deltacodec {

/// Where rebuilt tensors go: bands of bytes (BandSink) framed by shard and tensor.
class RebuildTarget : public BandSink {
public:
    virtual void begin_shard(const ShardSpec&) {}
    virtual void begin_tensor(const TensorSpec&) {}
    /// The tensor's decoder returned (an asynchronous target may still hold bands).
    virtual void end_tensor() {}
    virtual void end_shard() {}
    /// Finishes anything still in flight, dropping its errors: called before the
    /// buffers that pending bands point into are freed (on an error, too). No-throw.
    virtual void drain() noexcept {}
};

/// Rebuilds every tensor after `o` (read from `rd`) into `target`, shard by shard,
/// and checks the END section; returns the number of tensors. Memory: two sets of
/// per-tensor buffers (a coded tensor's codes; an exact delta's byte planes; a
/// stored tensor is a view of the file), bands of a few MiB, and what the target holds.
size_t rebuild_tensors(const MappedFile& f, DcxReader& rd, const OpenedDcx& o, const Checkpoint& base, ThreadPool& pool,
                       RebuildTarget& target, const ProgressFn& progress);

}  // namespace deltacodec
