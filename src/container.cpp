// deltacodec — .dcx framing, checksums, blobs and the CODED record body.
#include "deltacodec/container.hpp"

#include <xxhash.h>
#include <zstd.h>

#include "deltacodec/error.hpp"
#include "deltacodec/quantize.hpp"

namespace deltacodec {

namespace {
constexpr int kZstdLevel = 1;  // measured on a 4-layer 7B-shaped pair: smaller than 3 and no slower
enum : uint8_t { kStored = 0, kZstd = 1 };
// zstd decodes at most 128 KiB per block and a block takes at least 4 bytes (an RLE
// block), so n bytes of frame never expand past 32768·n: a frame declaring more is
// corrupt or hostile, refused before anything is allocated for it.
constexpr uint64_t kZstdMaxRatio = 32768;
}  // namespace

uint64_t xxh3(const void* data, size_t n) { return XXH3_64bits(data, n); }

uint64_t tensor_fingerprint(DType dtype, const Shape& shape, const void* data, size_t nbytes) {
    ByteWriter w;
    w.u64(static_cast<uint64_t>(dtype));
    w.u64(shape.size());
    for (uint64_t d : shape) w.u64(d);
    const uint64_t seed = xxh3(w.buf.data(), w.buf.size());
    return XXH3_64bits_withSeed(data, nbytes, seed);
}

void ByteWriter::str16(const std::string& s) {
    if (s.size() > 0xffff) throw Error("name too long: " + s.substr(0, 64) + "...");
    u16(static_cast<uint16_t>(s.size()));
    bytes(s.data(), s.size());
}

void ByteWriter::blob(const uint8_t* data, size_t n, bool entropy) {
    if (entropy && n >= 64) {
        thread_local Scratch z;
        const size_t bound = ZSTD_compressBound(n);
        uint8_t* zp = z.get(bound);
        const size_t zn = ZSTD_compress(zp, bound, data, n, kZstdLevel);
        if (ZSTD_isError(zn)) throw Error(std::string("zstd: ") + ZSTD_getErrorName(zn));
        if (zn < n) {
            u8(kZstd);
            u64(n);
            u64(zn);
            bytes(zp, zn);
            return;
        }
    }
    u8(kStored);
    u64(n);
    u64(n);
    bytes(data, n);
}

void ByteReader::fail(const std::string& why) const { throw Error(ctx_ + ": " + why); }

const uint8_t* ByteReader::bytes(size_t n) {
    if (n > n_ - pos_) fail("truncated or corrupt record");
    const uint8_t* p = p_ + pos_;
    pos_ += n;
    return p;
}
uint8_t ByteReader::u8() { return *bytes(1); }
uint16_t ByteReader::u16() {
    const uint8_t* b = bytes(2);
    return static_cast<uint16_t>(b[0] | (b[1] << 8));
}
uint32_t ByteReader::u32() {
    const uint8_t* b = bytes(4);
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | b[i];
    return v;
}
uint64_t ByteReader::u64() {
    const uint8_t* b = bytes(8);
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | b[i];
    return v;
}
float ByteReader::f32() {
    const uint32_t u = u32();
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
std::string ByteReader::str16() {
    const uint16_t n = u16();
    const uint8_t* b = bytes(n);
    return std::string(reinterpret_cast<const char*>(b), n);
}

std::vector<uint8_t> ByteReader::blob(uint64_t expected_raw) { return blob_impl(expected_raw, true); }
std::vector<uint8_t> ByteReader::blob_upto(uint64_t max_raw) { return blob_impl(max_raw, false); }

std::vector<uint8_t> ByteReader::blob_impl(uint64_t raw_limit, bool exact) {
    const uint8_t codec = u8();
    const uint64_t raw = u64();
    const uint64_t stored = u64();
    if (exact ? raw != raw_limit : raw > raw_limit) fail("blob size does not match its tensor");
    if (stored > remaining()) fail("truncated or corrupt record");
    const uint8_t* src = bytes(stored);
    if (codec == kStored) {
        if (stored != raw) fail("stored blob size mismatch");
        return std::vector<uint8_t>(src, src + stored);
    }
    if (codec != kZstd) fail("unknown blob codec " + std::to_string(codec));
    const unsigned long long fcs = ZSTD_getFrameContentSize(src, stored);
    if (fcs == ZSTD_CONTENTSIZE_ERROR || fcs != raw) fail("corrupt zstd blob");
    if (raw / kZstdMaxRatio > stored) fail("corrupt zstd blob");
    std::vector<uint8_t> out(raw);
    const size_t got = ZSTD_decompress(out.data(), out.size(), src, stored);
    if (ZSTD_isError(got) || got != raw) fail("corrupt zstd blob");
    return out;
}

const uint8_t* ByteReader::blob_view(uint64_t expected_raw, Scratch& scratch) {
    const uint8_t codec = u8();
    const uint64_t raw = u64();
    const uint64_t stored = u64();
    if (raw != expected_raw) fail("blob size does not match its tensor");
    if (stored > remaining()) fail("truncated or corrupt record");
    const uint8_t* src = bytes(stored);
    if (codec == kStored) {
        if (stored != raw) fail("stored blob size mismatch");
        return src;
    }
    if (codec != kZstd) fail("unknown blob codec " + std::to_string(codec));
    const unsigned long long fcs = ZSTD_getFrameContentSize(src, stored);
    if (fcs == ZSTD_CONTENTSIZE_ERROR || fcs != raw) fail("corrupt zstd blob");
    if (raw / kZstdMaxRatio > stored) fail("corrupt zstd blob");
    uint8_t* out = scratch.get(raw ? raw : 1);
    const size_t got = ZSTD_decompress(out, raw, src, stored);
    if (ZSTD_isError(got) || got != raw) fail("corrupt zstd blob");
    return out;
}

void ByteReader::expect_end() {
    if (pos_ != n_) fail("record has trailing bytes");
}

DcxWriter::DcxWriter(OutputFile& out) : out_(out) {
    ByteWriter w;
    w.bytes(kDcxMagic, 8);
    w.u16(kDcxMajor);
    w.u16(kDcxMinor);
    w.u32(0);
    out_.write(w.buf.data(), w.buf.size());
}

void DcxWriter::section(SectionType type, const std::vector<uint8_t>& payload) {
    ByteWriter h;
    h.u32(static_cast<uint32_t>(type));
    h.u32(0);
    h.u64(payload.size());
    out_.write(h.buf.data(), h.buf.size());
    out_.write(payload.data(), payload.size());
    ByteWriter c;
    c.u64(xxh3(payload.data(), payload.size()));
    out_.write(c.buf.data(), c.buf.size());
}

DcxReader::DcxReader(const MappedFile& file) : f_(file) {
    const std::string& path = f_.path();
    if (f_.size() < 16 || std::memcmp(f_.data(), kDcxMagic, 8) != 0) throw Error(path + ": not a .dcx file");
    ByteReader r(f_.data() + 8, 8, path);
    const uint16_t major = r.u16();
    r.u16();
    if (major != kDcxMajor)
        throw Error(path + ": .dcx format version " + std::to_string(major) +
                    " is not supported (this reader: " + std::to_string(kDcxMajor) + ")");
}

bool DcxReader::next(Section& s) {
    const std::string& path = f_.path();
    if (ended_) return false;
    const uint64_t left = f_.size() - pos_;
    if (left < 24) throw Error(path + ": truncated .dcx file (no END section)");
    ByteReader r(f_.data() + pos_, 16, path);
    const uint32_t type = r.u32();
    const uint32_t flags = r.u32();
    const uint64_t len = r.u64();
    if (flags != 0) throw Error(path + ": corrupt section header at byte " + std::to_string(pos_));
    if (len > left - 24)
        throw Error(path + ": truncated .dcx file (section at byte " + std::to_string(pos_) + " is cut off)");
    const uint8_t* payload = f_.data() + pos_ + 16;
    ByteReader cr(payload + len, 8, path);
    if (cr.u64() != xxh3(payload, len))
        throw Error(path + ": checksum mismatch in section at byte " + std::to_string(pos_) + " (corrupt file)");
    switch (static_cast<SectionType>(type)) {
        case SectionType::HEADER:
        case SectionType::FILE:
        case SectionType::TENSOR:
        case SectionType::END:
            break;
        default:
            throw Error(path + ": unknown section type at byte " + std::to_string(pos_));
    }
    s = Section{static_cast<SectionType>(type), payload, len, pos_};
    pos_ += 24 + len;
    if (s.type == SectionType::END) {
        ended_ = true;
        if (pos_ != f_.size()) throw Error(path + ": trailing bytes after the END section");
    }
    return true;
}

void write_coded_body(ByteWriter& w, const CodedTensor& ct, bool entropy) {
    w.u64(ct.rows);
    w.u64(ct.cols);
    w.u16(static_cast<uint16_t>(ct.patch));
    w.u8(static_cast<uint8_t>(ct.transform));
    w.u8(static_cast<uint8_t>(ct.bands));
    w.u8(ct.flags);
    w.f32(ct.scale);
    w.u8(static_cast<uint8_t>(ct.widths.size()));
    w.bytes(ct.widths.data(), ct.widths.size());
    const uint64_t n = ct.num_patches();
    w.u64(n);
    int s = 0;
    while ((size_t{1} << s) < ct.widths.size()) ++s;
    std::vector<uint8_t> sel(packed_size(n, s));
    if (s) pack_bits(ct.selectors.data(), n, s, sel.data());
    w.blob(sel.data(), sel.size(), entropy);
    w.blob(ct.meta.data(), ct.meta.size(), entropy);
    w.blob(ct.codes.data(), ct.codes.size(), entropy);
}

CodedTensor read_coded_body(ByteReader& r, uint64_t rows, uint64_t cols) {
    CodedTensor ct;
    ct.rows = r.u64();
    ct.cols = r.u64();
    if (ct.rows != rows || ct.cols != cols) r.fail("coded shape does not match the tensor's");
    ct.patch = r.u16();
    const uint8_t tr = r.u8(), bands = r.u8();
    if (tr > 1 || bands > 2) r.fail("unknown transform or bands");
    ct.transform = static_cast<TransformId>(tr);
    ct.bands = static_cast<Bands>(bands);
    ct.flags = r.u8();
    ct.scale = r.f32();
    const uint8_t nw = r.u8();
    if (nw == 0 || nw > 9) r.fail("bad width table");
    const uint8_t* wp = r.bytes(nw);
    ct.widths.assign(wp, wp + nw);
    if (!patch_size_ok(ct.patch)) r.fail("bad patch size");
    const uint64_t n = r.u64();
    if (rows == 0 || cols == 0 || rows > (uint64_t{1} << 40) / cols || n != ct.num_patches())
        r.fail("patch count does not match the shape");
    int s = 0;
    while ((size_t{1} << s) < ct.widths.size()) ++s;
    const std::vector<uint8_t> sel = r.blob(packed_size(n, s));
    // Sizes of meta and codes follow from the selectors; check before decompressing.
    uint64_t coded = 0, code_bytes = 0;
    const uint64_t k = ct.kept_per_patch();
    if (s == 0) {  // one width: no selectors stored, none held
        coded = ct.widths[0] ? n : 0;
        code_bytes = n * (k * ct.widths[0] / 8);
    } else {
        ct.selectors.assign(n, 0);
        unpack_bits(sel.data(), n, s, ct.selectors.data());
        for (uint8_t v : ct.selectors) {
            if (v >= nw) r.fail("selector out of range");
            coded += ct.widths[v] != 0;
            code_bytes += k * ct.widths[v] / 8;
        }
    }
    ct.meta = r.blob(coded * ct.meta_bytes_per_patch());
    ct.codes = r.blob(code_bytes);
    validate_coded(ct);
    return ct;
}

}  // namespace deltacodec
