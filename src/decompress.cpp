// deltacodec — decompress (base + .dcx → fine-tuned checkpoint) and info.
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>

#include "deltacodec/checkpoint.hpp"
#include "deltacodec/deltacodec.hpp"
#include "header.hpp"
#include "kernels.hpp"
#include "text.hpp"

namespace deltacodec {
using json = nlohmann::json;

namespace {

// A FILE section, checked but not held decoded: a FILE may decode to 1 GiB and a
// hostile .dcx may hold many, so each is decoded again, one at a time, when written.
struct AuxFile {
    std::string name;
    Section sec;
    uint64_t bytes;
};

// The decoded contents of a FILE section that open_dcx() has checked.
std::vector<uint8_t> aux_data(const AuxFile& a, const std::string& path) {
    ByteReader r(a.sec.data, a.sec.size, path);
    r.str16();
    return r.blob_upto(kMaxAuxFile);
}

// Reads the HEADER and FILE sections; leaves `rd` at the first TENSOR section.
struct Opened {
    DcxHeader hdr;
    std::vector<AuxFile> files;
    Section first{};  // the first section after the FILE sections
};

Opened open_dcx(const MappedFile& f, DcxReader& rd) {
    Opened o;
    Section s;
    if (!rd.next(s) || s.type != SectionType::HEADER) throw Error(f.path() + ": corrupt .dcx file (no HEADER first)");
    o.hdr = header_from_bytes(s.data, s.size, f.path());
    std::set<std::string> names;
    for (;;) {
        if (!rd.next(s)) throw Error(f.path() + ": truncated .dcx file");
        if (s.type != SectionType::FILE) break;
        if (!o.hdr.directory) throw Error(f.path() + ": corrupt .dcx file (FILE section in a single-file layout)");
        ByteReader r(s.data, s.size, f.path());
        std::string name = r.str16();
        if (!relative_path_problem(name).empty()) r.fail("unsafe file name in FILE section");
        for (const ShardSpec& sh : o.hdr.shards)
            if (sh.file == name) r.fail("FILE section would overwrite shard " + name);
        if (!names.insert(name).second) r.fail("file '" + name + "' twice");
        const uint64_t bytes = r.blob_upto(kMaxAuxFile).size();  // decoded to check it, then dropped
        r.expect_end();
        o.files.push_back(AuxFile{std::move(name), s, bytes});
    }
    // A name may not also be a folder of another ("a" and "a/b"), nor lie inside a shard.
    for (const AuxFile& a : o.files)
        for (size_t p = a.name.find('/'); p != std::string::npos; p = a.name.find('/', p + 1)) {
            const std::string folder = a.name.substr(0, p);
            bool clash = names.count(folder) > 0;
            for (const ShardSpec& sh : o.hdr.shards) clash = clash || sh.file == folder;
            if (clash)
                throw Error(f.path() + ": corrupt .dcx file (file '" + printable(a.name) + "' lies inside the file '" +
                            printable(folder) + "')");
        }
    o.first = s;
    return o;
}

void check_end(const MappedFile& f, const Section& s, size_t tensors) {
    if (s.type != SectionType::END)
        throw Error(f.path() + ": corrupt .dcx file (unexpected section after the last tensor)");
    json j;
    try {
        j = json::parse(s.data, s.data + s.size);
    } catch (const json::exception&) {
        throw Error(f.path() + ": corrupt END section");
    }
    if (!j.is_object() || !j.contains("tensors") || !j["tensors"].is_number_unsigned() ||
        j["tensors"].get<uint64_t>() != tensors)
        throw Error(f.path() + ": corrupt END section (tensor count)");
}

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
    ByteReader r(s.data, s.size, path + ": tensor '" + spec.name + "'");
    const TensorPrefix p = read_prefix(r);
    if (p.name != spec.name || p.dtype != spec.dtype || p.shape != spec.shape)
        r.fail("record does not match the header's tensor list (corrupt file)");
    const uint64_t numel = shape_numel(spec.shape);
    const size_t es = dtype_size(spec.dtype);
    switch (p.kind) {
        case RecordKind::WHOLE: {
            const uint8_t why = r.u8();
            if (why > 3) r.fail("unknown reason code");
            const uint8_t* bytes = r.blob_view(numel * es, buf.blob);
            r.expect_end();
            emit.whole(bytes, numel * es);
            return;
        }
        case RecordKind::EXACT_DELTA: {
            if (!dtype_is_compressible(spec.dtype)) r.fail("exact delta of a non-float tensor");
            const uint64_t fp = r.u64();
            const TensorRef& b = base_tensor(base, spec.name, spec.dtype, spec.shape, fp);
            const uint8_t* planes = r.blob_view(numel * es, buf.blob);
            r.expect_end();
            uint8_t* out = buf.out.get(numel * es + 1);
            apply_exact_delta(b.data(), planes, numel, es, out, pool);
            b.release();
            emit.whole(out, numel * es);
            return;
        }
        case RecordKind::CODED: {
            if (!dtype_is_compressible(spec.dtype) || spec.shape.size() != 2)
                r.fail("coded record of an uncodable tensor");
            const uint64_t fp = r.u64();
            auto bdt = dtype_from_code(r.u8());
            if (!bdt || !dtype_is_compressible(*bdt)) r.fail("bad base dtype");
            // The base first: its tensor really exists, so it bounds the sizes the record declares.
            const TensorRef& b = base_tensor(base, spec.name, *bdt, spec.shape, fp);
            const CodedTensor ct = read_coded_body(r, spec.shape[0], spec.shape[1]);
            r.expect_end();
            const uint64_t cols = ct.cols;
            const size_t bs = dtype_size(*bdt);
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
                        to_f32(*bdt, b.data() + rr * cols * bs, row.data(), cols);
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
    Opened o = open_dcx(f, rd);
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
            const std::vector<uint8_t> data = aux_data(a, dcx_path);
            OutputFile af(dir->path_of(a.name), false);
            af.write(data.data(), data.size());
            af.commit();
            rep.bytes_written += data.size();
            ++rep.files;
        }
        dir->commit();
    }
    return rep;
}

std::string info_json(const std::string& dcx_path) {
    const MappedFile f = MappedFile::open(dcx_path);
    DcxReader rd(f);
    Opened o = open_dcx(f, rd);
    json j;
    j["file"] = dcx_path;
    j["bytes"] = f.size();
    j["producer"] = o.hdr.producer;
    j["options"] = o.hdr.options;
    j["layout"] = o.hdr.directory ? "directory" : "file";
    j["shards"] = o.hdr.shards.size();
    json files = json::array();
    for (const AuxFile& a : o.files) files.push_back({{"name", a.name}, {"bytes", a.bytes}});
    j["files"] = files;
    j["dropped_base_tensors"] = o.hdr.dropped;
    json ts = json::array();
    Section s = o.first;
    uint64_t delta_bytes = 0, params = 0, coded_params = 0, coded_bytes = 0;
    size_t n = 0;
    for (const ShardSpec& sh : o.hdr.shards) {
        for (const TensorSpec& spec : sh.tensors) {
            if (s.type != SectionType::TENSOR)
                throw Error(dcx_path + ": corrupt .dcx file (missing tensor '" + spec.name + "')");
            ByteReader r(s.data, s.size, dcx_path + ": tensor '" + spec.name + "'");
            const TensorPrefix p = read_prefix(r);
            if (p.name != spec.name || p.dtype != spec.dtype || p.shape != spec.shape)
                r.fail("record does not match the header's tensor list (corrupt file)");
            const uint64_t numel = shape_numel(spec.shape);
            json t = {{"name", spec.name},
                      {"dtype", std::string(dtype_name(spec.dtype))},
                      {"shape", spec.shape},
                      {"stored_bytes", s.size + 24}};
            if (p.kind == RecordKind::WHOLE) {
                static const char* why[] = {"new", "reshaped", "dtype", "not-float"};
                const uint8_t w = r.u8();
                if (w > 3) r.fail("unknown reason code");
                r.blob(numel * dtype_size(spec.dtype));
                t["kind"] = "whole";
                t["reason"] = why[w];
            } else if (p.kind == RecordKind::EXACT_DELTA) {
                if (!dtype_is_compressible(spec.dtype)) r.fail("exact delta of a non-float tensor");
                r.u64();
                r.blob(numel * dtype_size(spec.dtype));
                t["kind"] = "exact";
            } else {
                if (!dtype_is_compressible(spec.dtype) || spec.shape.size() != 2)
                    r.fail("coded record of an uncodable tensor");
                r.u64();
                auto bdt = dtype_from_code(r.u8());
                if (!bdt || !dtype_is_compressible(*bdt)) r.fail("bad base dtype");
                const CodedTensor ct = read_coded_body(r, spec.shape[0], spec.shape[1]);
                t["kind"] = "coded";
                t["transform"] = std::string(find_transform(ct.transform)->name);
                t["patch"] = ct.patch;
                if (ct.transform == TransformId::HAAR) t["bands"] = std::string(bands_name(ct.bands));
                t["widths"] = ct.widths;
                std::vector<uint64_t> per(ct.widths.size(), 0);
                if (ct.selectors.empty()) per[0] = ct.num_patches();
                for (uint8_t sel : ct.selectors) ++per[sel];
                t["patches_per_width"] = per;
                coded_params += numel;
                coded_bytes += s.size + 24;
            }
            r.expect_end();
            t["bits_per_param"] = numel ? 8.0 * (s.size + 24) / numel : 0.0;
            delta_bytes += numel * dtype_size(spec.dtype);
            params += numel;
            ts.push_back(t);
            ++n;
            if (!rd.next(s)) throw Error(dcx_path + ": truncated .dcx file");
        }
    }
    check_end(f, s, n);
    j["end"] = json::parse(s.data, s.data + s.size);
    j["tensors"] = ts;
    j["summary"] = {{"tensors", n},
                    {"delta_bytes", delta_bytes},
                    {"ratio", f.size() ? static_cast<double>(delta_bytes) / f.size() : 0.0},
                    {"bits_per_param", coded_params ? 8.0 * coded_bytes / coded_params : 0.0},
                    {"bits_per_param_all", params ? 8.0 * f.size() / params : 0.0}};
    return j.dump(2);
}

}  // namespace deltacodec
