// deltacodec — decompress (base + .dcx → fine-tuned checkpoint) and info.
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>

#include "deltacodec/checkpoint.hpp"
#include "deltacodec/deltacodec.hpp"
#include "kernels.hpp"
#include "record.hpp"
#include "text.hpp"

namespace deltacodec {
using json = nlohmann::json;

namespace {

const TensorRef& base_tensor(const Checkpoint& base, const std::string& name, DType dtype, const Shape& shape,
                             uint64_t fingerprint) {
    const TensorRef* b = base.find(name);
    if (!b) throw Error("wrong base: " + base.path() + " has no tensor '" + name + "'");
    if (b->info->dtype != dtype || b->info->shape != shape)
        throw Error("wrong base: tensor '" + name + "' of " + base.path() + " has another dtype or shape");
    if (tensor_fingerprint(dtype, shape, b->data(), b->info->nbytes()) != fingerprint)
        throw Error("wrong base: tensor '" + name + "' of " + base.path() +
                    " differs from the one this .dcx was made against");
    return *b;
}

struct Buffers {
    Scratch out, blob;
};

// Hands rebuilt bytes to the writer thread. Whole tensors (stored, or exact
// deltas) go as one piece from the tensor's own buffer set; coded tensors go in
// chunks of a few MiB as bands of patch rows are decoded, so the write copies
// from memory that is still in cache. Chunk buffers alternate; the writer's
// depth of 1 means a buffer is free again once the next submit() returns.
struct Emitter {
    SerialWorker& writer;
    SafetensorsWriter& w;
    Scratch* chunk;  // two buffers, owned outside so that they outlive the writer's jobs
    int flip = 0;
    void whole(const uint8_t* p, uint64_t n) {
        SafetensorsWriter* sw = &w;
        writer.submit([sw, p, n] { sw->write(p, n); });
    }
    uint8_t* next_chunk(size_t n) { return chunk[flip].get(n); }
    void submit_chunk(uint64_t n) {
        const uint8_t* p = chunk[flip].get(0);
        flip ^= 1;
        whole(p, n);
    }
};
constexpr uint64_t kChunkBytes = 4u << 20;

// Decodes one TENSOR record and emits the fine-tune's bytes.
void rebuild_tensor(const Section& s, const TensorSpec& spec, const Checkpoint& base, ThreadPool& pool,
                    const std::string& path, Buffers& buf, Emitter& emit) {
    const Record rec = parse_record(s, spec, path);
    const std::string ctx = path + ": tensor '" + spec.name + "'";
    const uint64_t numel = shape_numel(spec.shape);
    const size_t es = dtype_size(spec.dtype);
    // The data of a WHOLE or EXACT_DELTA record: a view of the file when stored, else decoded.
    auto data_view = [&]() -> const uint8_t* {
        if (rec.data.codec == 0) return rec.data.src;
        uint8_t* p = buf.blob.get(rec.data.raw + 1);
        decode_blob(rec.data, p, ctx);
        return p;
    };
    switch (rec.prefix.kind) {
        case RecordKind::WHOLE:
            emit.whole(data_view(), rec.data.raw);  // sub-byte dtypes: numel·bits/8
            return;
        case RecordKind::EXACT_DELTA: {
            const TensorRef& b = base_tensor(base, spec.name, spec.dtype, spec.shape, rec.fingerprint);
            const uint8_t* planes = data_view();
            uint8_t* out = buf.out.get(numel * es + 1);
            apply_exact_delta(b.data(), planes, numel, es, out, pool);
            b.release();
            emit.whole(out, numel * es);
            return;
        }
        case RecordKind::CODED: {
            const DType bdt = rec.base_dtype;
            // The base first: its tensor really exists, so it bounds the sizes the record declares.
            const TensorRef& b = base_tensor(base, spec.name, bdt, spec.shape, rec.fingerprint);
            const CodedTensor ct = decode_coded_body(rec.coded, ctx);
            const uint64_t cols = ct.cols;
            const size_t bs = dtype_size(bdt);
            const TensorDecoder dec(ct);
            const uint64_t band_bytes = static_cast<uint64_t>(ct.patch) * cols * es;
            const uint64_t per_chunk = std::max<uint64_t>(pool.size(), kChunkBytes / std::max<uint64_t>(band_bytes, 1));
            for (uint64_t pr = 0; pr < dec.patch_rows(); pr += per_chunk) {
                const uint64_t pr_end = std::min(dec.patch_rows(), pr + per_chunk);
                const uint64_t row0 = pr * ct.patch, row1 = std::min<uint64_t>(ct.rows, pr_end * ct.patch);
                uint8_t* out = emit.next_chunk((row1 - row0) * cols * es + 1);
                dec.decode_rows(pool, pr, pr_end, [&](uint64_t r0, uint64_t n, const float* strip) {
                    thread_local std::vector<float> row;
                    row.resize(cols);
                    for (uint64_t i = 0; i < n; ++i) {
                        const uint64_t rr = r0 + i;
                        to_f32(bdt, b.data() + rr * cols * bs, row.data(), cols);
                        kernels().add(row.data(), strip + i * cols, row.data(), cols);
                        from_f32(spec.dtype, row.data(), out + (rr - row0) * cols * es, cols);
                    }
                });
                emit.submit_chunk((row1 - row0) * cols * es);
            }
            b.release();
            return;
        }
    }
}

}  // namespace

DecompressReport decompress(const std::string& base_path, const std::string& dcx_path, const std::string& out_path,
                            const DecompressOptions& opt) {
    const MappedFile f = MappedFile::open(dcx_path);
    DcxReader rd(f);
    const OpenedDcx o = open_dcx(f, rd, true);
    const Checkpoint base = Checkpoint::open(base_path, opt.follow_symlinks);
    // The output may not replace an input: the .dcx, the base, any file of a base
    // directory (a shard inside it), nor, for a directory output (replaced whole),
    // a directory holding an input.
    std::vector<std::string> inputs = {base_path, dcx_path};
    if (base.is_directory())
        for (const Shard& sh : base.shards()) inputs.push_back(base_path + "/" + sh.file);
    std::error_code ec;
    const std::filesystem::path out_abs = std::filesystem::weakly_canonical(out_path, ec);
    for (const std::string& in : inputs) {
        if (same_file(in, out_path)) throw Error("refusing to overwrite the input " + in + " with the output");
        const std::filesystem::path in_abs = std::filesystem::weakly_canonical(in, ec);
        if (o.hdr.directory && !out_abs.empty() && !ec) {
            auto o_it = out_abs.begin(), i_it = in_abs.begin();  // is out_abs a proper prefix of in_abs?
            while (o_it != out_abs.end() && i_it != in_abs.end() && *o_it == *i_it) ++o_it, ++i_it;
            if (o_it == out_abs.end() && i_it != in_abs.end())
                throw Error("refusing to replace " + out_path + ": it holds the input " + in);
        }
    }

    DecompressReport rep;
    rep.directory = o.hdr.directory;
    std::unique_ptr<OutputDir> dir;
    if (o.hdr.directory) {
        std::vector<std::string> writes;  // what -f may replace in an existing directory
        for (const ShardSpec& sh : o.hdr.shards) writes.push_back(sh.file);
        for (const AuxFile& a : o.files) writes.push_back(a.name);
        dir = std::make_unique<OutputDir>(out_path, opt.overwrite, writes);
    } else if (is_directory(out_path)) {
        throw Error(out_path + " is a directory, but this .dcx rebuilds a single .safetensors file");
    }

    size_t total = 0;
    for (const ShardSpec& sh : o.hdr.shards) total += sh.tensors.size();
    ThreadPool pool(opt.threads);
    Buffers bufs[2];
    Section s = o.first;
    bool have = true;
    // A single-file output is committed only once the END section has checked out
    // (shards of a directory live in its temporary directory until dir->commit()).
    std::unique_ptr<OutputFile> single;
    for (const ShardSpec& sh : o.hdr.shards) {
        auto ofp = std::make_unique<OutputFile>(dir ? dir->path_of(sh.file) : out_path, dir ? false : opt.overwrite);
        OutputFile& of = *ofp;
        SafetensorsWriter w(of, sh.tensors, sh.metadata);
        {
            // Tensor i is written on a background thread while tensor i+1 is
            // decoded into the other buffer set (depth 1 keeps that safe).
            Scratch chunks[2];  // before the writer: its jobs may read them until it is destroyed
            SerialWorker writer(1);
            Emitter emit{writer, w, chunks, 0};
            Section prev{};
            for (const TensorSpec& spec : sh.tensors) {
                if (!have) throw Error(dcx_path + ": truncated .dcx file");
                if (s.type != SectionType::TENSOR)
                    throw Error(dcx_path + ": corrupt .dcx file (missing tensor '" + spec.name + "')");
                rebuild_tensor(s, spec, base, pool, dcx_path, bufs[rep.tensors % 2], emit);
                // submit() returned, so the previous tensor is written: its
                // section's pages can leave our resident set.
                if (prev.size) f.release(prev.offset, prev.size + 24);
                prev = s;
                ++rep.tensors;
                if (opt.progress) opt.progress(rep.tensors, total, spec.name);
                have = rd.next(s);
            }
            writer.wait();
        }
        w.finish();
        rep.bytes_written += of.bytes_written();
        if (dir)
            of.commit();
        else
            single = std::move(ofp);
    }
    if (!have) throw Error(dcx_path + ": truncated .dcx file (no END section)");
    check_end(f, s, rep.tensors);
    if (single) single->commit();
    if (dir) {
        for (const AuxFile& a : o.files) {
            OutputFile af(dir->path_of(a.name), false);
            stream_blob(a.data, dcx_path + ": file '" + a.name + "'", [&](const uint8_t* p, size_t n) { af.write(p, n); });
            af.commit();
            rep.bytes_written += a.data.raw;
            ++rep.files;
        }
        dir->commit();
    }
    return rep;
}

}  // namespace deltacodec
