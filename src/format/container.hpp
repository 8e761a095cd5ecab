// deltacodec — the .dcx container: sections, byte-level records, blobs (FORMAT.md).
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "codec/codec.hpp"
#include "io/io.hpp"
#include "io/safetensors.hpp"
// Codes, limits, layouts. Internal (this header becomes internal too, next step of
// issue 8); the relative path serves every in-tree consumer without src/ on its path.
#include "format/spec.hpp"

namespace deltacodec {

/// A grow-only byte buffer whose contents are not initialised (for reuse
/// across tensors: fresh large allocations cost page faults and zeroing).
class Scratch {
public:
    uint8_t* get(size_t n) {
        if (n > cap_) {
            p_.reset(new uint8_t[n]);
            cap_ = n;
        }
        return p_.get();
    }

private:
    std::unique_ptr<uint8_t[]> p_;
    size_t cap_ = 0;
};

/// A blob as stored in a record (FORMAT.md "Blobs"), checked but not decoded:
/// its header agrees with itself, its bytes lie inside the record, and a zstd blob
/// is exactly one frame that declares `raw` bytes, a window of at most
/// kMaxZstdWindow and a ratio of at most kZstdMaxRatio.
struct BlobRef {
    uint8_t codec = 0;  ///< 0 = stored, 1 = zstd
    uint64_t raw = 0, stored = 0;
    const uint8_t* src = nullptr;
};

/// Whether [src, src + stored) is exactly one zstd frame that declares `raw` bytes, a
/// window of at most kMaxZstdWindow and a ratio of at most kZstdMaxRatio (what
/// blob_ref() checks of a zstd blob, from the frame header only).
bool zstd_frame_ok(const uint8_t* src, uint64_t stored, uint64_t raw);
/// Compresses [data, data + n) as one zstd frame at the level blobs use, into `out`;
/// returns its size. Thread-safe (a context per thread).
size_t zstd_compress(const uint8_t* data, size_t n, Scratch& out);

/// Decodes a checked blob into `out` (blob.raw bytes); throws Error("<ctx>: corrupt ...").
void decode_blob(const BlobRef& blob, uint8_t* out, const std::string& ctx);
/// Decodes a checked blob into `out` (blob.raw bytes) as decode_blob does, calling
/// `ready(n)` each time more of it is there: out[0, n) is final (n grows to
/// blob.raw). So a consumer can use the front while the rest decodes.
void decode_blob_progressive(const BlobRef& blob, uint8_t* out, const std::string& ctx,
                             const std::function<void(uint64_t)>& ready);
/// Decodes a checked blob in pieces of at most 1 MiB, handing each to `sink`, in
/// memory bounded by kMaxZstdWindow whatever `blob.raw` declares. Throws Error.
template <typename Sink>
void stream_blob(const BlobRef& blob, const std::string& ctx, Sink&& sink);
void stream_blob_impl(const BlobRef& blob, const std::string& ctx, void* sink_ctx,
                      void (*sink)(void*, const uint8_t*, size_t));
template <typename Sink>
void stream_blob(const BlobRef& blob, const std::string& ctx, Sink&& sink) {
    stream_blob_impl(blob, ctx, &sink, [](void* c, const uint8_t* p, size_t n) { (*static_cast<Sink*>(c))(p, n); });
}

/// Appends little-endian values to a byte buffer.
class ByteWriter {
public:
    std::vector<uint8_t> buf;
    void u8(uint8_t v) { buf.push_back(v); }
    void u16(uint16_t v) { le(v, 2); }
    void u32(uint32_t v) { le(v, 4); }
    void u64(uint64_t v) { le(v, 8); }
    void f32(float v) {
        uint32_t u;
        std::memcpy(&u, &v, 4);
        le(u, 4);
    }
    void bytes(const void* p, size_t n) {
        const auto* b = static_cast<const uint8_t*>(p);
        buf.insert(buf.end(), b, b + n);
    }
    void str16(const std::string& s);
    /// A blob: zstd-compressed when `entropy` is on and that is smaller.
    void blob(const uint8_t* data, size_t n, bool entropy);

private:
    void le(uint64_t v, int n) {
        for (int i = 0; i < n; ++i) buf.push_back(static_cast<uint8_t>(v >> (8 * i)));
    }
};

/// Reads little-endian values from untrusted bytes; every read is bounds-checked
/// and failure throws Error("<context>: truncated or corrupt record").
class ByteReader {
public:
    ByteReader(const uint8_t* p, size_t n, std::string context) : p_(p), n_(n), ctx_(std::move(context)) {}
    uint8_t u8();
    uint16_t u16();
    uint32_t u32();
    uint64_t u64();
    float f32();
    const uint8_t* bytes(size_t n);
    std::string str16();
    /// Reads and checks a blob's header without decoding it (see BlobRef).
    BlobRef blob_ref();
    /// Reads a blob whose decoded size must equal `expected_raw`.
    std::vector<uint8_t> blob(uint64_t expected_raw);
    /// Reads a blob whose decoded size must equal `expected_raw`, without a
    /// copy when it is stored (the view points into the input) and into
    /// `scratch` otherwise. Valid while the input and `scratch` are.
    const uint8_t* blob_view(uint64_t expected_raw, Scratch& scratch);
    /// Reads a blob of at most `max_raw` bytes.
    std::vector<uint8_t> blob_upto(uint64_t max_raw);
    size_t remaining() const { return n_ - pos_; }
    void expect_end();
    [[noreturn]] void fail(const std::string& why) const;
    const std::string& context() const { return ctx_; }

private:
    const uint8_t* p_;
    size_t n_, pos_ = 0;
    std::string ctx_;
};

uint64_t xxh3(const void* data, size_t n);
/// Fingerprint of a base tensor (FORMAT.md): XXH3 of its bytes, seeded by dtype and shape.
uint64_t tensor_fingerprint(DType dtype, const Shape& shape, const void* data, size_t nbytes);

/// Writes sections to an OutputFile.
class DcxWriter {
public:
    /// Checks each section's payload before it is written (an Error it throws stops the write).
    using Check = std::function<void(SectionType type, const std::vector<uint8_t>& payload)>;
    explicit DcxWriter(OutputFile& out, Check check = {});
    void section(SectionType type, const std::vector<uint8_t>& payload);
    uint64_t bytes() const { return out_.bytes_written(); }

private:
    OutputFile& out_;
    Check check_;
};

struct Section {
    SectionType type;
    const uint8_t* data;
    uint64_t size;
    uint64_t offset;  ///< of the section start in the file
};

/// Iterates the sections of a mapped .dcx, verifying framing and checksums.
class DcxReader {
public:
    explicit DcxReader(const MappedFile& file);
    /// False after the END section (and then the file must end there).
    bool next(Section& s);

private:
    const MappedFile& f_;
    uint64_t pos_ = kFileHeaderBytes;
    bool ended_ = false;
};

}  // namespace deltacodec

namespace deltacodec {
/// CODED body after the common tensor prefix (FORMAT.md), both directions.
void write_coded_body(ByteWriter& w, const CodedTensor& ct, bool entropy);
/// A CODED body read and checked up to its blobs, which are not decoded yet.
struct CodedBody {
    CodedTensor ct;  ///< fixed fields only: selectors, meta and codes empty
    uint64_t n = 0;  ///< patches
    int sel_bits = 0;
    BlobRef sel, meta, codes;
};
CodedBody parse_coded_body(ByteReader& r, uint64_t rows, uint64_t cols);
/// Decodes its blobs into a validated CodedTensor (memory: the tensor's own codes).
CodedTensor decode_coded_body(const CodedBody& b, const std::string& ctx);
/// Verifies its blobs by streaming, in bounded memory whatever the declared
/// shape (for info); returns the patches per width.
std::vector<uint64_t> check_coded_body(const CodedBody& b, const std::string& ctx);
/// Reads and validates a CODED body for a tensor of the given 2-D shape.
CodedTensor read_coded_body(ByteReader& r, uint64_t rows, uint64_t cols);
}  // namespace deltacodec
