// deltacodec — the one reader of .dcx sections (see record.hpp).
#include "format/record.hpp"

#include <cstdio>
#include <set>

#include "deltacodec/error.hpp"
#include "io/text.hpp"

namespace deltacodec {

namespace {

// One FILE section, checked against the HEADER and the names before it.
AuxFile parse_file_section(const Section& s, const DcxHeader& hdr, std::set<std::string>& names,
                           const std::string& path) {
    if (!hdr.directory) throw Error(path + ": corrupt .dcx file (FILE section in a single-file layout)");
    ByteReader r(s.data, s.size, path);
    std::string name = r.str16();
    if (!relative_path_problem(name).empty()) r.fail("unsafe file name in FILE section");
    for (const ShardSpec& sh : hdr.shards)
        if (sh.file == name) r.fail("FILE section would overwrite shard " + name);
    if (!names.insert(name).second) r.fail("file '" + name + "' twice");
    const BlobRef b = r.blob_ref();
    if (b.raw > kMaxAuxFile) r.fail("FILE larger than 1 GiB");
    r.expect_end();
    return AuxFile{std::move(name), b};
}

// After the last FILE section: a name may not also be a folder of another ("a" and
// "a/b"), nor lie inside a shard.
void check_file_folders(const std::vector<AuxFile>& files, const std::set<std::string>& names, const DcxHeader& hdr,
                        const std::string& path) {
    for (const AuxFile& a : files)
        for (size_t p = a.name.find('/'); p != std::string::npos; p = a.name.find('/', p + 1)) {
            const std::string folder = a.name.substr(0, p);
            bool clash = names.count(folder) > 0;
            for (const ShardSpec& sh : hdr.shards) clash = clash || sh.file == folder;
            if (clash)
                throw Error(path + ": corrupt .dcx file (file '" + a.name + "' lies inside the file '" + folder + "')");
        }
}

}  // namespace

OpenedDcx open_dcx(const MappedFile& f, DcxReader& rd, bool verify_files) {
    OpenedDcx o;
    Section s;
    if (!rd.next(s) || s.type != SectionType::HEADER) throw Error(f.path() + ": corrupt .dcx file (no HEADER first)");
    o.hdr = header_from_bytes(s.data, s.size, f.path());
    std::set<std::string> names;
    for (;;) {
        if (!rd.next(s)) throw Error(f.path() + ": truncated .dcx file");
        if (s.type != SectionType::FILE) break;
        AuxFile a = parse_file_section(s, o.hdr, names, f.path());
        if (verify_files) stream_blob(a.data, f.path() + ": file '" + a.name + "'", [](const uint8_t*, size_t) {});
        o.files.push_back(std::move(a));
    }
    check_file_folders(o.files, names, o.hdr, f.path());
    o.first = s;
    return o;
}

SectionSequenceCheck::SectionSequenceCheck(std::string path) : path_(std::move(path)) {}

void SectionSequenceCheck::check(SectionType type, const uint8_t* data, size_t n) {
    const Section s{type, data, n, 0};
    if (ended_) throw Error(path_ + ": a section after END");
    if (!have_header_) {
        if (type != SectionType::HEADER) throw Error(path_ + ": corrupt .dcx file (no HEADER first)");
        hdr_ = header_from_bytes(data, n, path_);
        for (const ShardSpec& sh : hdr_.shards)
            for (const TensorSpec& t : sh.tensors) specs_.push_back(&t);
        have_header_ = true;
        return;
    }
    if (type == SectionType::FILE && !files_done_) {
        files_.push_back(parse_file_section(s, hdr_, names_, path_));
        return;
    }
    if (!files_done_) {
        check_file_folders(files_, names_, hdr_, path_);
        files_done_ = true;
    }
    if (next_ < specs_.size()) {
        parse_record(s, *specs_[next_], path_);
        ++next_;
        return;
    }
    check_end(path_, s, next_);
    ended_ = true;
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

void BaseFingerprint::add(const Record& rec) {
    const std::optional<uint64_t> fp = rec.body->base_fingerprint();
    if (!fp) return;
    any_ = true;
    bytes_.str16(rec.prefix.name);
    bytes_.u64(*fp);
}

uint64_t BaseFingerprint::value() const { return any_ ? xxh3(bytes_.buf.data(), bytes_.buf.size()) : 0; }

BaseFingerprint dcx_base_fingerprint(const MappedFile& f) {
    DcxReader rd(f);
    const OpenedDcx o = open_dcx(f, rd, false);
    BaseFingerprint bf;
    Section s = o.first;
    for (const ShardSpec& sh : o.hdr.shards)
        for (const TensorSpec& spec : sh.tensors) {
            bf.add(parse_record(s, spec, f.path()));
            if (!rd.next(s)) throw Error(f.path() + ": truncated .dcx file");
        }
    return bf;
}

std::string fingerprint_hex(uint64_t fp) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(fp));
    return buf;
}

std::string base_needed(const std::string& name, uint64_t fp) {
    return name.empty() ? "the base with fingerprint " + fingerprint_hex(fp)
                        : "the base '" + name + "' (fingerprint " + fingerprint_hex(fp) + ")";
}

void verify_record_blobs(const Record& rec, const std::string& ctx, DcxTensor& out) {
    out.kind = std::string(rec.method->kind);
    out.method = std::string(rec.method->name);
    rec.body->describe(ctx, out);
}

EndStats check_end(const std::string& path, const Section& s, size_t tensors) {
    if (s.type != SectionType::END)
        throw Error(path + ": corrupt .dcx file (unexpected section after the last tensor)");
    const EndInfo e = parse_end_section(s.data, s.size, path + ": corrupt END section");
    if (e.tensors != tensors) throw Error(path + ": corrupt END section (tensor count)");
    EndStats out;
    out.tensors = tensors;
    if (e.stats.contains("rel_error") && e.stats["rel_error"].is_number()) {
        out.has_rel_error = true;
        out.rel_error = e.stats["rel_error"].get<double>();
    }
    return out;
}

}  // namespace deltacodec
