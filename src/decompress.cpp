// deltacodec — decompress (base + .dcx → fine-tuned checkpoint) and info.
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>

#include "deltacodec/checkpoint.hpp"
#include "deltacodec/deltacodec.hpp"
#include "record.hpp"
#include "text.hpp"

namespace deltacodec {
using json = nlohmann::json;

namespace {

struct Buffers {
    Scratch out, blob;
};

// Hands rebuilt bytes to the writer thread. A method's decoder puts whole tensors
// (stored, or exact deltas) as one piece from the tensor's own buffer set, and
// coded tensors in bands of a few MiB as patch rows are decoded, so the write
// copies from memory that is still in cache. Band buffers alternate; the
// writer's depth of 1 means a buffer is free again once the next submit() returns.
struct Emitter final : BandSink {
    SerialWorker& writer;
    SafetensorsWriter& w;
    Scratch* chunk;  // two buffers, owned outside so that they outlive the writer's jobs
    int flip = 0;
    const uint8_t* band = nullptr;
    Emitter(SerialWorker& wr, SafetensorsWriter& sw, Scratch* c) : writer(wr), w(sw), chunk(c) {}
    uint8_t* band_buffer(size_t n) override {
        uint8_t* p = chunk[flip].get(n);
        band = p;
        return p;
    }
    void put(const uint8_t* p, size_t n) override {
        if (p == band) flip ^= 1, band = nullptr;
        SafetensorsWriter* sw = &w;
        writer.submit([sw, p, n] { sw->write(p, n); });
    }
};

// Decodes one TENSOR record through its method and emits the fine-tune's bytes.
void rebuild_tensor(const Section& s, const TensorSpec& spec, const Checkpoint& base, ThreadPool& pool,
                    const std::string& path, Buffers& buf, BandSink& sink) {
    const Record rec = parse_record(s, spec, path);
    const std::string ctx = path + ": tensor '" + spec.name + "'";
    const DecodeContext dc{pool, &base, spec, ctx, buf.out, buf.blob};
    rec.body->decode(dc, sink);
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
            Emitter emit(writer, w, chunks);
            Section prev{};
            for (const TensorSpec& spec : sh.tensors) {
                if (!have) throw Error(dcx_path + ": truncated .dcx file");
                if (s.type != SectionType::TENSOR)
                    throw Error(dcx_path + ": corrupt .dcx file (missing tensor '" + spec.name + "')");
                rebuild_tensor(s, spec, base, pool, dcx_path, bufs[rep.tensors % 2], emit);
                // submit() returned, so the previous tensor is written: its
                // section's pages can leave our resident set.
                if (prev.size) f.release(prev.offset, prev.size + kSectionOverhead);
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
            stream_blob(a.data, dcx_path + ": file '" + a.name + "'",
                        [&](const uint8_t* p, size_t n) { af.write(p, n); });
            af.commit();
            rep.bytes_written += a.data.raw;
            ++rep.files;
        }
        dir->commit();
    }
    return rep;
}

}  // namespace deltacodec
