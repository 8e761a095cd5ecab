// deltacodec — .dcx framing, checksums, blobs and the CODED record body.
#include "format/container.hpp"

#include <xxhash.h>

#include <algorithm>
#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_getFrameHeader (exported by libzstd 1.5)
#include <zstd.h>

#include "codec/quantize.hpp"
#include "deltacodec/error.hpp"

namespace deltacodec {

namespace {
constexpr int kZstdLevel = 1;  // measured on a 4-layer 7B-shaped pair: smaller than 3 and no slower
constexpr uint8_t kStored = static_cast<uint8_t>(BlobCodec::STORED), kZstd = static_cast<uint8_t>(BlobCodec::ZSTD);
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

size_t zstd_compress(const uint8_t* data, size_t n, Scratch& out) {
    thread_local std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
    const size_t bound = ZSTD_compressBound(n);
    const size_t zn = ZSTD_compressCCtx(cctx.get(), out.get(bound), bound, data, n, kZstdLevel);
    if (ZSTD_isError(zn)) throw Error(std::string("zstd: ") + ZSTD_getErrorName(zn));
    return zn;
}

void ByteWriter::blob(const uint8_t* data, size_t n, bool entropy) {
    if (entropy && n >= 64) {
        thread_local Scratch z;
        const size_t zn = zstd_compress(data, n, z);
        const uint8_t* zp = z.get(0);
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

BlobRef ByteReader::blob_ref() {
    BlobRef b;
    b.codec = u8();
    b.raw = u64();
    b.stored = u64();
    if (b.stored > remaining()) fail("truncated or corrupt record");
    b.src = bytes(b.stored);
    if (b.codec == kStored) {
        if (b.stored != b.raw) fail("stored blob size mismatch");
        return b;
    }
    if (b.codec != kZstd) fail("unknown blob codec " + std::to_string(b.codec));
    if (!zstd_frame_ok(b.src, b.stored, b.raw)) fail("corrupt zstd blob");
    return b;
}

bool zstd_frame_ok(const uint8_t* src, uint64_t stored, uint64_t raw) {
    // One frame, declaring its content size, a bounded window and a possible ratio.
    ZSTD_frameHeader zfh;
    if (ZSTD_getFrameHeader(&zfh, src, stored) != 0 || zfh.frameType != ZSTD_frame || zfh.frameContentSize != raw ||
        zfh.windowSize > kMaxZstdWindow)
        return false;
    if (raw / kZstdMaxRatio > stored) return false;
    const size_t fsz = ZSTD_findFrameCompressedSize(src, stored);
    return !ZSTD_isError(fsz) && fsz == stored;
}

void decode_blob(const BlobRef& b, uint8_t* out, const std::string& ctx) {
    if (b.codec == kStored) {
        if (b.raw) std::memcpy(out, b.src, b.raw);
        return;
    }
    thread_local std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
    const size_t got = ZSTD_decompressDCtx(dctx.get(), out, b.raw, b.src, b.stored);
    if (ZSTD_isError(got) || got != b.raw) throw Error(ctx + ": corrupt zstd blob");
}

void decode_blob_progressive(const BlobRef& b, uint8_t* out, const std::string& ctx,
                             const std::function<void(uint64_t)>& ready) {
    if (b.codec == kStored) {
        decode_blob(b, out, ctx);
        ready(b.raw);
        return;
    }
    // Input fed in pieces, the whole of `out` as a stable output buffer: zstd
    // decodes straight into it (no window copy) and stops when a piece is used up.
    constexpr size_t kInPiece = 256 << 10;
    std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
    if (!dctx || ZSTD_isError(ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_stableOutBuffer, 1)) ||
        ZSTD_isError(ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, kMaxZstdWindowLog)))
        throw Error(ctx + ": cannot start a zstd decoder");
    ZSTD_outBuffer o{out, static_cast<size_t>(b.raw), 0};
    ZSTD_inBuffer in{b.src, 0, 0};
    for (;;) {
        in.size = static_cast<size_t>(std::min<uint64_t>(b.stored, in.size + kInPiece));
        const size_t out_before = o.pos, in_before = in.pos;
        const size_t r = ZSTD_decompressStream(dctx.get(), &o, &in);
        if (ZSTD_isError(r)) throw Error(ctx + ": corrupt zstd blob");
        if (o.pos > out_before) ready(o.pos);
        if (r == 0) break;  // frame complete
        // Truncated: all input given and no step forward.
        if (in.size == b.stored && in.pos == in_before && o.pos == out_before) throw Error(ctx + ": corrupt zstd blob");
    }
    if (o.pos != b.raw || in.pos != b.stored) throw Error(ctx + ": corrupt zstd blob");
}

void stream_blob_impl(const BlobRef& b, const std::string& ctx, void* sink_ctx,
                      void (*sink)(void*, const uint8_t*, size_t)) {
    constexpr size_t kPiece = 1 << 20;
    if (b.codec == kStored) {
        for (uint64_t off = 0; off < b.raw; off += kPiece)
            sink(sink_ctx, b.src + off, static_cast<size_t>(std::min<uint64_t>(kPiece, b.raw - off)));
        return;
    }
    std::unique_ptr<ZSTD_DStream, size_t (*)(ZSTD_DStream*)> ds(ZSTD_createDStream(), ZSTD_freeDStream);
    if (!ds || ZSTD_isError(ZSTD_DCtx_setParameter(ds.get(), ZSTD_d_windowLogMax, kMaxZstdWindowLog)))
        throw Error(ctx + ": cannot start a zstd decoder");
    std::unique_ptr<uint8_t[]> buf(new uint8_t[kPiece]);
    ZSTD_inBuffer in{b.src, static_cast<size_t>(b.stored), 0};
    uint64_t total = 0;
    for (;;) {
        ZSTD_outBuffer out{buf.get(), kPiece, 0};
        const size_t r = ZSTD_decompressStream(ds.get(), &out, &in);
        if (ZSTD_isError(r) || total + out.pos > b.raw) throw Error(ctx + ": corrupt zstd blob");
        total += out.pos;
        if (out.pos) sink(sink_ctx, buf.get(), out.pos);
        if (r == 0) break;                                                                      // frame complete
        if (in.pos == in.size && out.pos < out.size) throw Error(ctx + ": corrupt zstd blob");  // truncated
    }
    if (total != b.raw || in.pos != in.size) throw Error(ctx + ": corrupt zstd blob");
}

std::vector<uint8_t> ByteReader::blob(uint64_t expected_raw) {
    const BlobRef b = blob_ref();
    if (b.raw != expected_raw) fail("blob size does not match its tensor");
    std::vector<uint8_t> out(b.raw);
    decode_blob(b, out.data(), ctx_);
    return out;
}

std::vector<uint8_t> ByteReader::blob_upto(uint64_t max_raw) {
    const BlobRef b = blob_ref();
    if (b.raw > max_raw) fail("blob size does not match its tensor");
    std::vector<uint8_t> out(b.raw);
    decode_blob(b, out.data(), ctx_);
    return out;
}

const uint8_t* ByteReader::blob_view(uint64_t expected_raw, Scratch& scratch) {
    const BlobRef b = blob_ref();
    if (b.raw != expected_raw) fail("blob size does not match its tensor");
    if (b.codec == kStored) return b.src;
    uint8_t* out = scratch.get(b.raw ? b.raw : 1);
    decode_blob(b, out, ctx_);
    return out;
}

void ByteReader::expect_end() {
    if (pos_ != n_) fail("record has trailing bytes");
}

DcxWriter::DcxWriter(OutputFile& out, Check check) : out_(out), check_(std::move(check)) {
    ByteWriter w;
    w.bytes(kDcxMagic, 8);
    w.u16(kDcxMajor);
    w.u16(kDcxMinor);
    w.u32(0);
    out_.write(w.buf.data(), w.buf.size());
}

void DcxWriter::section(SectionType type, const std::vector<uint8_t>& payload) {
    if (check_) check_(type, payload);
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
    if (f_.size() < kFileHeaderBytes || std::memcmp(f_.data(), kDcxMagic, 8) != 0)
        throw Error(path + ": not a .dcx file");
    ByteReader r(f_.data() + 8, 8, path);
    const uint16_t major = r.u16();
    r.u16();  // minor: a reader accepts any (FORMAT.md)
    if (major != kDcxMajor)
        throw Error(path + ": .dcx format version " + std::to_string(major) +
                    " is not supported (this reader: " + std::to_string(kDcxMajor) + ")");
    if (r.u32() != 0) throw Error(path + ": corrupt .dcx file header (reserved bytes are not zero)");
}

bool DcxReader::next(Section& s) {
    const std::string& path = f_.path();
    if (ended_) return false;
    const uint64_t left = f_.size() - pos_;
    if (left < kSectionOverhead) throw Error(path + ": truncated .dcx file (no END section)");
    ByteReader r(f_.data() + pos_, kSectionHeaderBytes, path);
    const uint32_t type = r.u32();
    const uint32_t flags = r.u32();
    const uint64_t len = r.u64();
    if (flags != 0) throw Error(path + ": corrupt section header at byte " + std::to_string(pos_));
    if (len > left - kSectionOverhead)
        throw Error(path + ": truncated .dcx file (section at byte " + std::to_string(pos_) + " is cut off)");
    const uint8_t* payload = f_.data() + pos_ + kSectionHeaderBytes;
    ByteReader cr(payload + len, kSectionChecksumBytes, path);
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
    pos_ += kSectionOverhead + len;
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
    if (find_transform(ct.transform)->max_levels) w.u8(static_cast<uint8_t>(ct.levels));  // multi-level wavelets only
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

CodedBody parse_coded_body(ByteReader& r, uint64_t rows, uint64_t cols) {
    CodedBody b;
    CodedTensor& ct = b.ct;
    ct.rows = r.u64();
    ct.cols = r.u64();
    if (ct.rows != rows || ct.cols != cols) r.fail("coded shape does not match the tensor's");
    ct.patch = r.u16();
    const uint8_t tr = r.u8(), bands = r.u8();
    if (tr >= std::size(kTransformCodes) || bands >= std::size(kBandsCodes)) r.fail("unknown transform or bands");
    ct.transform = static_cast<TransformId>(tr);
    ct.bands = static_cast<Bands>(bands);
    const TransformEntry* te = find_transform(ct.transform);
    if (!te) r.fail("unknown transform or bands");
    ct.levels = te->max_levels ? r.u8() : te->levels;  // checked by validate_coded_header below
    ct.flags = r.u8();
    ct.scale = r.f32();
    const uint8_t nw = r.u8();
    if (nw == 0 || nw > kMaxWidths) r.fail("bad width table");
    const uint8_t* wp = r.bytes(nw);
    ct.widths.assign(wp, wp + nw);
    if (!patch_size_ok(ct.patch)) r.fail("bad patch size");
    b.n = r.u64();
    if (rows == 0 || cols == 0 || rows > (uint64_t{1} << 40) / cols || b.n != ct.num_patches())
        r.fail("patch count does not match the shape");
    while ((size_t{1} << b.sel_bits) < ct.widths.size()) ++b.sel_bits;
    b.sel = r.blob_ref();
    if (b.sel.raw != packed_size(b.n, b.sel_bits)) r.fail("blob size does not match its tensor");
    b.meta = r.blob_ref();
    b.codes = r.blob_ref();
    try {
        validate_coded_header(ct);
    } catch (const Error& e) {
        r.fail(e.what());
    }
    return b;
}

namespace {
// Patches coded and code bytes implied by per-width patch counts.
void implied_sizes(const CodedBody& b, const std::vector<uint64_t>& per_width, uint64_t& meta, uint64_t& codes) {
    uint64_t coded = 0;
    codes = 0;
    for (size_t w = 0; w < per_width.size(); ++w) {
        coded += b.ct.widths[w] ? per_width[w] : 0;
        codes += per_width[w] * b.ct.code_bytes(b.ct.widths[w]);
    }
    meta = coded * b.ct.meta_bytes_per_patch();
}
}  // namespace

CodedTensor decode_coded_body(const CodedBody& b, const std::string& ctx) {
    CodedTensor ct = b.ct;
    std::vector<uint64_t> per(ct.widths.size(), 0);
    if (b.sel_bits == 0) {  // one width: no selectors stored, none held
        per[0] = b.n;
    } else {
        std::vector<uint8_t> sel(b.sel.raw);
        decode_blob(b.sel, sel.data(), ctx);
        ct.selectors.assign(b.n, 0);
        unpack_bits(sel.data(), b.n, b.sel_bits, ct.selectors.data());
        for (uint8_t v : ct.selectors) {
            if (v >= ct.widths.size()) throw Error(ctx + ": selector out of range");
            ++per[v];
        }
    }
    uint64_t meta = 0, codes = 0;
    implied_sizes(b, per, meta, codes);
    if (b.meta.raw != meta || b.codes.raw != codes) throw Error(ctx + ": blob size does not match its tensor");
    ct.meta.resize(meta);
    decode_blob(b.meta, ct.meta.data(), ctx);
    ct.codes.resize(codes);
    decode_blob(b.codes, ct.codes.data(), ctx);
    try {
        validate_coded(ct);
    } catch (const Error& e) {
        throw Error(ctx + ": " + e.what());
    }
    return ct;
}

std::vector<uint64_t> check_coded_body(const CodedBody& b, const std::string& ctx) {
    const CodedTensor& ct = b.ct;
    std::vector<uint64_t> per(ct.widths.size(), 0);
    if (b.sel_bits == 0) {
        per[0] = b.n;
    } else {
        // Count selectors as they stream by: LSB-first fields of sel_bits bits. When
        // fields do not straddle bytes, a histogram of byte values does it in one
        // increment per byte; the fields are read from the 256 values at the end.
        const uint64_t mask = (uint64_t{1} << b.sel_bits) - 1;
        bool bad = false;
        auto count = [&](uint64_t v, uint64_t times) {
            if (v >= per.size())
                bad = times > 0 || bad;
            else
                per[v] += times;
        };
        if (8 % b.sel_bits == 0) {
            const uint64_t f = 8 / b.sel_bits, full = b.n / f, rem = b.n % f;
            std::vector<uint64_t> hist(256, 0);
            uint64_t pos = 0;
            int last = -1;
            stream_blob(b.sel, ctx, [&](const uint8_t* p, size_t n) {
                const size_t take = static_cast<size_t>(std::min<uint64_t>(n, full > pos ? full - pos : 0));
                for (size_t i = 0; i < take; ++i) ++hist[p[i]];
                if (take < n && pos + take == full) last = p[take];
                pos += n;
            });
            for (int v = 0; v < 256; ++v)
                for (uint64_t k = 0; k < f; ++k) count((static_cast<uint64_t>(v) >> (k * b.sel_bits)) & mask, hist[v]);
            for (uint64_t k = 0; k < rem; ++k) count((static_cast<uint64_t>(last) >> (k * b.sel_bits)) & mask, 1);
        } else {
            uint64_t acc = 0, seen = 0;
            int have = 0;
            stream_blob(b.sel, ctx, [&](const uint8_t* p, size_t n) {
                for (size_t i = 0; i < n; ++i) {
                    acc |= static_cast<uint64_t>(p[i]) << have;
                    have += 8;
                    while (have >= b.sel_bits && seen < b.n) {
                        count(acc & mask, 1);
                        acc >>= b.sel_bits;
                        have -= b.sel_bits;
                        ++seen;
                    }
                }
            });
        }
        if (bad) throw Error(ctx + ": selector out of range");
    }
    uint64_t meta = 0, codes = 0;
    implied_sizes(b, per, meta, codes);
    if (b.meta.raw != meta || b.codes.raw != codes) throw Error(ctx + ": blob size does not match its tensor");
    const size_t mb = ct.meta_bytes_per_patch();
    uint8_t carry[8];
    size_t nc = 0;
    bool finite = true;
    stream_blob(b.meta, ctx, [&](const uint8_t* p, size_t n) {
        for (size_t i = 0; i < n; ++i) {
            carry[nc++] = p[i];
            if (nc == mb) {
                finite = finite && patch_range_ok(carry, mb);
                nc = 0;
            }
        }
    });
    if (!finite) throw Error(ctx + ": corrupt record: non-finite patch range");
    stream_blob(b.codes, ctx, [](const uint8_t*, size_t) {});
    return per;
}

CodedTensor read_coded_body(ByteReader& r, uint64_t rows, uint64_t cols) {
    return decode_coded_body(parse_coded_body(r, rows, cols), r.context());
}

}  // namespace deltacodec
