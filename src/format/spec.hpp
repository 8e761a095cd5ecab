// deltacodec (internal) — the .dcx format as code: every code, limit and fixed
// layout of docs/FORMAT.md, in one place. Readers and writers use these names;
// tests/test_format_spec.cpp checks FORMAT.md's code tables against this header.
//
// Codes are only ever added: an id, once written by a release, keeps its meaning
// for ever. A retired code stays listed here as a comment and is never reused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "codec/codec.hpp"
#include "codec/transform.hpp"
#include "io/dtype.hpp"

namespace deltacodec {

// ---- file header -------------------------------------------------------------

inline constexpr uint8_t kDcxMagic[8] = {0x89, 'D', 'C', 'X', '\r', '\n', 0x1a, '\n'};
/// A reader refuses any other major version and accepts any minor.
inline constexpr uint16_t kDcxMajor = 1, kDcxMinor = 0;

/// The 16-byte file header, as laid out on disk (little-endian fields).
struct FileHeaderLayout {
    uint8_t magic[8];
    uint16_t major;
    uint16_t minor;
    uint32_t reserved;  ///< 0
};
inline constexpr size_t kFileHeaderBytes = 16;
static_assert(sizeof(FileHeaderLayout) == kFileHeaderBytes);
static_assert(offsetof(FileHeaderLayout, major) == 8 && offsetof(FileHeaderLayout, minor) == 10 &&
              offsetof(FileHeaderLayout, reserved) == 12);

// ---- sections ----------------------------------------------------------------

/// A section: header (type, flags, payload length), payload, XXH3-64 of the payload.
struct SectionHeaderLayout {
    uint32_t type;
    uint32_t flags;  ///< 0
    uint64_t length;
};
inline constexpr size_t kSectionHeaderBytes = 16, kSectionChecksumBytes = 8;
inline constexpr size_t kSectionOverhead = kSectionHeaderBytes + kSectionChecksumBytes;
static_assert(sizeof(SectionHeaderLayout) == kSectionHeaderBytes);
static_assert(offsetof(SectionHeaderLayout, flags) == 4 && offsetof(SectionHeaderLayout, length) == 8);
static_assert(kSectionOverhead == 24);

enum class SectionType : uint32_t { HEADER = 1, FILE = 2, TENSOR = 3, END = 0x454E4421 /* "!DNE" */ };

// ---- TENSOR records ----------------------------------------------------------

/// The byte after a TENSOR record's name: which method wrote the payload
/// (v1.0 called it the record kind). The method code table is the registry
/// (src/methods/registry.cpp): each method's row holds its id. These are names
/// for the v1.0 methods only; a new method writes `MethodId{N}` in its own row.
enum class MethodId : uint8_t {
    PATCH = 0,        ///< patch transform coder (dct/dwt): v1.0's CODED
    EXACT_DELTA = 1,  ///< lossless byte-plane delta
    WHOLE = 2,        ///< the fine-tune's bytes, whole
};
/// WHOLE records: why the tensor is stored whole.
enum class WholeReason : uint8_t { NEW = 0, RESHAPED = 1, DTYPE_CHANGED = 2, NOT_FLOAT = 3 };
inline constexpr uint8_t kMaxWholeReason = 3;

/// Blob codecs (FORMAT.md "Blob").
enum class BlobCodec : uint8_t { STORED = 0, ZSTD = 1 };
/// A blob's header: codec u8, raw_len u64, stored_len u64.
inline constexpr size_t kBlobHeaderBytes = 17;

/// LOSSLESS records (method 9): how one byte plane of one chunk is coded.
enum class LosslessCodec : uint8_t { RAW = 0, FILL = 1, RANS = 2, ZSTD = 3 };
/// LOSSLESS records: the most elements a chunk may have (bounds a decoder's buffers).
inline constexpr uint64_t kMaxLosslessChunk = uint64_t{1} << 24;

/// PATCH records: flag bits (kFlagJpeg, kFlagMetaF32: src/codec/codec.hpp).
inline constexpr uint8_t kKnownPatchFlags = kFlagJpeg | kFlagMetaF32;
static_assert(kFlagJpeg == 1 && kFlagMetaF32 == 2);
static_assert(kMinPatch == 8 && kMaxPatch == 256);
inline constexpr uint8_t kMaxCodeWidth = 8;  ///< bits per coded coefficient
inline constexpr size_t kMaxWidths = 9;      ///< widths 0..8, distinct

// ---- limits ------------------------------------------------------------------

inline constexpr uint64_t kMaxHeaderJson = 64ull << 20;  ///< HEADER section payload
inline constexpr uint64_t kMaxAuxFile = 1ull << 30;      ///< a FILE section's raw_len
/// The most dimensions a tensor may have in a .dcx (its rank is one byte).
inline constexpr size_t kMaxRank = 255;
/// The longest tensor or file name a .dcx can hold (a u16 length).
inline constexpr size_t kMaxNameBytes = 0xffff;
/// Largest zstd window a reader accepts (our writer's frames use at most 512 KiB):
/// bounds what a streaming decode of a hostile frame can allocate.
inline constexpr uint64_t kMaxZstdWindow = 16ull << 20;
inline constexpr int kMaxZstdWindowLog = 24;
static_assert((uint64_t{1} << kMaxZstdWindowLog) == kMaxZstdWindow);
/// zstd decodes at most 128 KiB per block and a block takes at least 4 bytes (an
/// RLE block), so n bytes of frame never expand past 32768·n: a frame declaring
/// more is corrupt or hostile, refused before anything is allocated for it.
inline constexpr uint64_t kZstdMaxRatio = 32768;

// ---- code tables (what FORMAT.md lists; checked by a test) ---------------------

struct CodeName {
    uint32_t code;
    std::string_view name;
};
inline constexpr CodeName kSectionTypeCodes[] = {{1, "HEADER"}, {2, "FILE"}, {3, "TENSOR"}, {0x454E4421, "END"}};
// Method ids: the registry (method_table(), src/methods/registry.cpp).
inline constexpr CodeName kBlobCodecCodes[] = {{0, "stored"}, {1, "zstd"}};
inline constexpr CodeName kWholeReasonCodes[] = {{0, "new"}, {1, "reshaped"}, {2, "dtype"}, {3, "not-float"}};
inline constexpr CodeName kTransformCodes[] = {{0, "dct"}, {1, "haar"}, {2, "db2"}, {3, "db4"}, {4, "cdf97"}};
inline constexpr CodeName kBandsCodes[] = {{0, "all"}, {1, "ll_lh_hl"}, {2, "ll_only"}};
inline constexpr CodeName kLosslessCodecCodes[] = {{0, "raw"}, {1, "fill"}, {2, "rans"}, {3, "zstd"}};
inline constexpr CodeName kPatchFlagBits[] = {{kFlagJpeg, "jpeg"}, {kFlagMetaF32, "meta_f32"}};

static_assert(static_cast<uint32_t>(SectionType::END) == kSectionTypeCodes[3].code);
static_assert(static_cast<uint8_t>(MethodId::PATCH) == 0 && static_cast<uint8_t>(MethodId::EXACT_DELTA) == 1 &&
              static_cast<uint8_t>(MethodId::WHOLE) == 2);
static_assert(static_cast<uint8_t>(TransformId::DCT) == 0 && static_cast<uint8_t>(TransformId::HAAR) == 1 &&
              static_cast<uint8_t>(TransformId::CDF97) == 4);
static_assert(static_cast<uint8_t>(Bands::LL_ONLY) == 2);
static_assert(static_cast<uint8_t>(DType::F16) == 5 && static_cast<uint8_t>(DType::BF16) == 6 &&
              static_cast<uint8_t>(DType::F32) == 9 && static_cast<uint8_t>(DType::F8_E4M3) == 14);

}  // namespace deltacodec
