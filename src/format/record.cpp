// deltacodec — the one reader of .dcx sections (see record.hpp).
#include "format/record.hpp"

#include <set>

#include "deltacodec/error.hpp"
#include "io/text.hpp"

namespace deltacodec {

OpenedDcx open_dcx(const MappedFile& f, DcxReader& rd, bool verify_files) {
    OpenedDcx o;
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
        const BlobRef b = r.blob_ref();
        if (b.raw > kMaxAuxFile) r.fail("FILE larger than 1 GiB");
        r.expect_end();
        if (verify_files) stream_blob(b, f.path() + ": file '" + name + "'", [](const uint8_t*, size_t) {});
        o.files.push_back(AuxFile{std::move(name), b});
    }
    // A name may not also be a folder of another ("a" and "a/b"), nor lie inside a shard.
    for (const AuxFile& a : o.files)
        for (size_t p = a.name.find('/'); p != std::string::npos; p = a.name.find('/', p + 1)) {
            const std::string folder = a.name.substr(0, p);
            bool clash = names.count(folder) > 0;
            for (const ShardSpec& sh : o.hdr.shards) clash = clash || sh.file == folder;
            if (clash)
                throw Error(f.path() + ": corrupt .dcx file (file '" + a.name + "' lies inside the file '" + folder +
                            "')");
        }
    o.first = s;
    return o;
}

Record parse_record(const Section& s, const TensorSpec& spec, const std::string& path) {
    if (s.type != SectionType::TENSOR) throw Error(path + ": corrupt .dcx file (missing tensor '" + spec.name + "')");
    ByteReader r(s.data, s.size, path + ": tensor '" + spec.name + "'");
    Record rec;
    rec.prefix = read_prefix(r);
    const TensorPrefix& p = rec.prefix;
    if (p.name != spec.name || p.dtype != spec.dtype || p.shape != spec.shape)
        r.fail("record does not match the header's tensor list (corrupt file)");
    rec.method = find_method(static_cast<uint8_t>(p.method));
    if (!rec.method)
        r.fail("unknown method id " + std::to_string(static_cast<unsigned>(p.method)) +
               " (written by a newer deltacodec?)");
    rec.body = rec.method->parse(r, spec);
    r.expect_end();
    return rec;
}

void verify_record_blobs(const Record& rec, const std::string& ctx, DcxTensor& out) {
    out.kind = std::string(rec.method->kind);
    out.method = std::string(rec.method->name);
    rec.body->describe(ctx, out);
}

EndStats check_end(const MappedFile& f, const Section& s, size_t tensors) {
    if (s.type != SectionType::END)
        throw Error(f.path() + ": corrupt .dcx file (unexpected section after the last tensor)");
    const EndInfo e = parse_end_section(s.data, s.size, f.path() + ": corrupt END section");
    if (e.tensors != tensors) throw Error(f.path() + ": corrupt END section (tensor count)");
    EndStats out;
    out.tensors = tensors;
    if (e.stats.contains("rel_error") && e.stats["rel_error"].is_number()) {
        out.has_rel_error = true;
        out.rel_error = e.stats["rel_error"].get<double>();
    }
    return out;
}

}  // namespace deltacodec
