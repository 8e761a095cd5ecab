// deltacodec (internal) — the one reader of a .dcx's sections: HEADER, FILE and
// TENSOR records parsed and checked up to their blobs, shared by decompress, info
// and compress's read-back check. Blobs are decoded (decompress) or verified by
// streaming in bounded memory (info, read-back) by the caller.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "format/container.hpp"
#include "format/header.hpp"
#include "methods/method.hpp"

namespace deltacodec {

/// A FILE section, checked (name, blob header) but not decoded.
struct AuxFile {
    std::string name;  ///< relative path inside the output directory
    BlobRef data;
};

/// The HEADER and FILE sections of a .dcx; `first` is the section after them.
struct OpenedDcx {
    DcxHeader hdr;
    std::vector<AuxFile> files;
    Section first{};
};

/// Reads HEADER and FILE sections from `rd` (which must be at the start).
/// `verify_files`: also decode each FILE blob by streaming to check it.
OpenedDcx open_dcx(const MappedFile& f, DcxReader& rd, bool verify_files);

/// One TENSOR record, checked against the HEADER's entry for it, blobs not decoded:
/// the prefix, the method that wrote it (from the registry) and its parsed body.
struct Record {
    TensorPrefix prefix;
    const MethodTraits* method = nullptr;
    std::unique_ptr<const RecordBody> body;
};
/// `s` must be a TENSOR section; throws Error naming the tensor otherwise, and
/// "unknown method id N (written by a newer deltacodec?)" for a method this
/// reader does not know.
Record parse_record(const Section& s, const TensorSpec& spec, const std::string& path);

/// What info shows of the END section (informative: written by the compressor).
struct EndStats {
    uint64_t tensors = 0;
    bool has_rel_error = false;
    double rel_error = 0;
};
/// Checks the END section against the number of tensors read; returns its stats.
EndStats check_end(const std::string& path, const Section& s, size_t tensors);

/// The readers' checks of open_dcx(), parse_record() and check_end(), applied to
/// sections one at a time, in file order, from their payloads in memory: the
/// writer's check of a .dcx sent to a stream it cannot read back (framing and
/// checksums, which the writer computes from these payloads, are not re-read).
class SectionSequenceCheck {
public:
    explicit SectionSequenceCheck(std::string path);
    /// The next section; throws Error (naming `path`) where a reader would.
    void check(SectionType type, const uint8_t* data, size_t n);
    /// The END section has been checked.
    bool complete() const { return ended_; }

private:
    std::string path_;
    DcxHeader hdr_;
    std::vector<const TensorSpec*> specs_;
    std::vector<AuxFile> files_;
    std::set<std::string> names_;
    size_t next_ = 0;
    bool have_header_ = false, files_done_ = false, ended_ = false;
};

/// The fingerprint of the base a .dcx needs (FORMAT.md "Base fingerprint of a
/// .dcx"): XXH3-64 over, for each record that uses the base, in file order, its
/// name (u16 length, bytes) and its base tensor's fingerprint (u64).
class BaseFingerprint {
public:
    void add(const Record& rec);
    bool any() const { return any_; }
    uint64_t value() const;  ///< 0 when no record uses the base

private:
    ByteWriter bytes_;
    bool any_ = false;
};
/// The base fingerprint of the mapped .dcx, read again from its start (records
/// parsed, blobs not decoded): for messages about a wrong base.
BaseFingerprint dcx_base_fingerprint(const MappedFile& f);
/// 16 lowercase hex digits.
std::string fingerprint_hex(uint64_t fp);
/// "the base 'NAME' (fingerprint 0123456789abcdef)", or without the name when none is recorded.
std::string base_needed(const std::string& name, uint64_t fp);

/// Streams every blob of a record to check it decodes (bounded memory, no base
/// needed) and describes it as info shows it (`out`'s kind, reason, method fields).
void verify_record_blobs(const Record& rec, const std::string& ctx, DcxTensor& out);

}  // namespace deltacodec
