// deltacodec — decompress (base + .dcx → fine-tuned checkpoint) and info.
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>

#include "deltacodec/deltacodec.hpp"
#include "format/record.hpp"
#include "io/checkpoint.hpp"
#include "io/text.hpp"
#include "pipeline/apply.hpp"

namespace deltacodec {
using json = nlohmann::json;

namespace {

// Writes rebuilt tensors to safetensors files, one per shard. Tensor i is
// written on a background thread while tensor i+1 is decoded. Methods put whole
// tensors (stored, or exact deltas) as one piece from their own buffer set, and
// coded tensors in bands of a few MiB, so the write copies from memory that is
// still in cache. Band buffers alternate; the writer's depth of 1 means a buffer
// is free again once the next submit() returns.
struct FileTarget final : RebuildTarget {
    const DecompressOptions& opt;
    OutputDir* dir;
    const std::string& out_path;
    DecompressReport& rep;
    // A single-file output is committed only once the END section has checked out
    // (shards of a directory live in its temporary directory until dir->commit()).
    std::unique_ptr<OutputFile> single;
    // Destroyed in reverse: the writer (finishing its jobs) before what they use.
    std::unique_ptr<OutputFile> of;
    std::unique_ptr<SafetensorsWriter> w;
    Scratch chunk[2];
    std::unique_ptr<SerialWorker> writer;
    int flip = 0;
    const uint8_t* band = nullptr;

    FileTarget(const DecompressOptions& o, OutputDir* d, const std::string& out, DecompressReport& r)
        : opt(o), dir(d), out_path(out), rep(r) {}
    std::string current;  // the shard being written (its relative path)
    void begin_shard(const ShardSpec& sh) override {
        current = sh.file;
        of = std::make_unique<OutputFile>(dir ? dir->path_of(sh.file) : out_path, dir ? false : opt.overwrite);
        w = std::make_unique<SafetensorsWriter>(*of, sh.tensors, sh.metadata);
        writer = std::make_unique<SerialWorker>(1);
    }
    uint8_t* band_buffer(size_t n) override {
        uint8_t* p = chunk[flip].get(n);
        band = p;
        return p;
    }
    void put(const uint8_t* p, size_t n) override {
        if (p == band) flip ^= 1, band = nullptr;
        SafetensorsWriter* sw = w.get();
        writer->submit([sw, p, n] { sw->write(p, n); });
    }
    void drain() noexcept override {
        if (!writer) return;
        try {
            writer->wait();
        } catch (...) {  // the error that stopped the rebuild is already on its way
        }
    }
    void end_shard() override {
        writer->wait();
        writer.reset();
        w->finish();
        w.reset();
        rep.bytes_written += of->bytes_written();
        rep.written.emplace_back(dir ? current : out_path, of->bytes_written());
        if (dir)
            of->commit();
        else
            single = std::move(of);
        of.reset();
    }
};

}  // namespace

DecompressReport decompress(const std::string& base_path, const std::string& dcx_path, const std::string& out_path,
                            const DecompressOptions& opt) {
    // A .dcx on standard input is spooled beside the output, where the output's
    // bytes are about to go anyway (TMPDIR when the output is standard output too).
    const std::filesystem::path out_parent = std::filesystem::path(out_path).parent_path();
    const MappedFile f = MappedFile::open_input(dcx_path, is_stdio(out_path)   ? std::string()
                                                          : out_parent.empty() ? std::string(".")
                                                                               : out_parent.string());
    DcxReader rd(f);
    const OpenedDcx o = open_dcx(f, rd, true);
    if (o.hdr.directory && is_stdio(out_path))
        throw Error(f.path() + " rebuilds a model directory, which cannot be written to standard output");
    const Checkpoint base = Checkpoint::open(base_path, opt.follow_symlinks);
    // The output may not replace an input: the .dcx, the base, any file of a base
    // directory (a shard inside it), nor, for a directory output (replaced whole),
    // a directory holding an input.
    std::vector<std::string> inputs = {base_path};
    if (!is_stdio(dcx_path)) inputs.push_back(dcx_path);
    if (base.is_directory())
        for (const Shard& sh : base.shards()) inputs.push_back(base_path + "/" + sh.file);
    std::error_code ec;
    const std::filesystem::path out_abs = std::filesystem::weakly_canonical(out_path, ec);
    for (const std::string& in : inputs) {
        if (is_stdio(out_path)) break;
        if (same_file(in, out_path))
            throw Error("refusing to overwrite the input " + in + " with the output", ErrorKind::EXISTS);
        const std::filesystem::path in_abs = std::filesystem::weakly_canonical(in, ec);
        if (o.hdr.directory && !out_abs.empty() && !ec) {
            auto o_it = out_abs.begin(), i_it = in_abs.begin();  // is out_abs a proper prefix of in_abs?
            while (o_it != out_abs.end() && i_it != in_abs.end() && *o_it == *i_it) ++o_it, ++i_it;
            if (o_it == out_abs.end() && i_it != in_abs.end())
                throw Error("refusing to replace " + out_path + ": it holds the input " + in, ErrorKind::EXISTS);
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
    } else if (!is_stdio(out_path) && is_directory(out_path)) {
        throw Error(out_path + " is a directory, but this .dcx rebuilds a single .safetensors file", ErrorKind::EXISTS);
    }

    ThreadPool pool(opt.threads);
    FileTarget target(opt, dir.get(), out_path, rep);
    rep.tensors = rebuild_tensors(f, rd, o, base, pool, target, opt.progress);
    if (target.single) target.single->commit();
    if (dir) {
        for (const AuxFile& a : o.files) {
            OutputFile af(dir->path_of(a.name), false);
            stream_blob(a.data, dcx_path + ": file '" + a.name + "'",
                        [&](const uint8_t* p, size_t n) { af.write(p, n); });
            af.commit();
            rep.bytes_written += a.data.raw;
            rep.written.emplace_back(a.name, a.data.raw);
            ++rep.files;
        }
        dir->commit();
    }
    return rep;
}

}  // namespace deltacodec
