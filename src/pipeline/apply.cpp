// deltacodec — the rebuild loop (apply.hpp) and the public in-memory apply().
#include "pipeline/apply.hpp"

#include "deltacodec/deltacodec.hpp"

namespace deltacodec {

namespace {
// Passes a tensor's bands on to the target, telling the meter how far the tensor is.
struct MeteredSink final : BandSink {
    BandSink& inner;
    ProgressMeter& meter;
    uint64_t done = 0, total = 0;
    MeteredSink(BandSink& s, ProgressMeter& m) : inner(s), meter(m) {}
    uint8_t* band_buffer(size_t n) override { return inner.band_buffer(n); }
    void put(const uint8_t* p, size_t n) override {
        inner.put(p, n);
        done += n;
        meter.within(done, total);
    }
};
/// How much of the .dcx past the current record is read ahead.
constexpr uint64_t kReadAheadBytes = 64u << 20;
}  // namespace

size_t rebuild_tensors(const MappedFile& f, DcxReader& rd, const OpenedDcx& o, const Checkpoint& base, ThreadPool& pool,
                       RebuildTarget& target, const ProgressFn& progress) {
    const std::string& path = f.path();
    size_t total = 0, done = 0;
    uint64_t total_bytes = 0;
    for (const ShardSpec& sh : o.hdr.shards) {
        total += sh.tensors.size();
        for (const TensorSpec& t : sh.tensors) total_bytes += tensor_nbytes(t);
    }
    ProgressMeter meter(progress, total_bytes, total);
    MeteredSink metered(target, meter);
    struct Buffers {
        Scratch out, blob;
    } bufs[2];  // tensor i decodes into one set while tensor i-1's bytes may still be written from the other
    // Declared after bufs, so destroyed first: on any exit, an error included, the
    // target finishes with bands that point into bufs before bufs are freed.
    struct Drain {
        RebuildTarget& t;
        ~Drain() { t.drain(); }
    } drain{target};
    Section s = o.first;
    bool have = true;
    for (const ShardSpec& sh : o.hdr.shards) {
        target.begin_shard(sh);
        Section prev{};
        for (size_t ti = 0; ti < sh.tensors.size(); ++ti) {
            const TensorSpec& spec = sh.tensors[ti];
            if (!have) throw Error(path + ": truncated .dcx file");
            if (s.type != SectionType::TENSOR)
                throw Error(path + ": corrupt .dcx file (missing tensor '" + spec.name + "')");
            const Record rec = parse_record(s, spec, path);
            const std::string ctx = path + ": tensor '" + spec.name + "'";
            Buffers& b = bufs[done % 2];
            const DecodeContext dc{pool, &base, spec, ctx, b.out, b.blob};
            // Read-ahead: the next record's base tensor and the .dcx bytes after this
            // record start coming into the page cache while this one is decoded.
            if (ti + 1 < sh.tensors.size())
                if (const TensorRef* nb = base.find(sh.tensors[ti + 1].name)) nb->prefetch();
            f.prefetch(s.offset + s.size + kSectionOverhead, kReadAheadBytes);
            target.begin_tensor(spec);
            metered.done = 0;
            metered.total = tensor_nbytes(spec);
            meter.begin_tensor(spec.name, metered.total);
            try {
                rec.body->decode(dc, metered);
            } catch (const WrongBase& e) {
                // Say which base the file needs (read from the whole file; blobs not decoded).
                throw Error(std::string(e.what()) + "; " + path + " needs " +
                                base_needed(o.hdr.base_name, dcx_base_fingerprint(f).value()),
                            ErrorKind::MISMATCH);
            }
            target.end_tensor();
            meter.end_tensor();
            meter.tensor_done();
            // The target took this tensor's last band, so (depth-1 writers) the
            // previous one is written: its section's pages can leave our resident set.
            if (prev.size) f.release(prev.offset, prev.size + kSectionOverhead);
            prev = s;
            ++done;
            have = rd.next(s);
        }
        target.end_shard();
    }
    if (!have) throw Error(path + ": truncated .dcx file (no END section)");
    check_end(f.path(), s, done);
    meter.finish();
    return done;
}

namespace {
// Hands each band to the caller's sink at once (valid during the call only).
struct SinkTarget final : RebuildTarget {
    TensorSink& sink;
    Scratch band;
    uint64_t bytes = 0;
    explicit SinkTarget(TensorSink& s) : sink(s) {}
    void begin_tensor(const TensorSpec& t) override { sink.begin(t.name, t.dtype, t.shape, tensor_nbytes(t)); }
    uint8_t* band_buffer(size_t n) override { return band.get(n); }
    void put(const uint8_t* p, size_t n) override {
        sink.write(p, n);
        bytes += n;
    }
    void end_tensor() override { sink.end(); }
};
}  // namespace

ApplyReport apply(const std::string& base_path, const std::string& dcx_path, TensorSink& sink,
                  const ApplyOptions& opt) {
    const MappedFile f = MappedFile::open_input(dcx_path);
    DcxReader rd(f);
    const OpenedDcx o = open_dcx(f, rd, opt.verify_files);  // FILE sections are not apply()'s output
    const Checkpoint base = Checkpoint::open(base_path, opt.follow_symlinks);
    ThreadPool pool(opt.threads);
    SinkTarget t(sink);
    ApplyReport rep;
    rep.tensors = rebuild_tensors(f, rd, o, base, pool, t, opt.progress);
    rep.bytes = t.bytes;
    return rep;
}

}  // namespace deltacodec
