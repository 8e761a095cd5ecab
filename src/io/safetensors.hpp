// deltacodec — safetensors files: a validating memory-mapped reader and a streaming writer.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/dtype.hpp"
#include "io/io.hpp"

namespace deltacodec {

using Metadata = std::map<std::string, std::string>;
/// The most `__metadata__` entries a reader keeps (more is refused), so that a
/// header's metadata takes at most about 112 bytes per entry beyond its own text.
inline constexpr size_t kMaxMetadataEntries = 65536;

/// Number of elements of a shape; throws Error on overflow.
uint64_t shape_numel(const Shape& shape);
std::string shape_str(const Shape& shape);

struct TensorInfo {
    std::string name;
    DType dtype = DType::F32;
    Shape shape;
    uint64_t begin = 0, end = 0;  ///< byte range in the data buffer
    uint64_t numel() const;
    uint64_t nbytes() const { return end - begin; }
};

/// A safetensors file, validated as the format's reference reader does
/// (header size and bounds, header starting with '{', UTF-8 JSON with nothing but
/// whitespace after it, known dtypes, no field twice, overflow-checked shapes,
/// whole-byte sizes, offsets that tile the buffer exactly, buffer end = file end),
/// and also refusing what the reference lets through or cannot be stored: a tensor
/// name twice (the reference keeps the last), a raw NUL byte in the header, nesting
/// deeper than 64 levels, more than 255 dimensions, more than kMaxMetadataEntries
/// metadata entries. Unknown fields of a tensor entry are skipped.
class SafetensorsFile {
public:
    static SafetensorsFile open(const std::string& path);
    /// Parses from memory already mapped (used by tests and open()).
    static SafetensorsFile parse(MappedFile file);

    /// Tensors in data-offset order.
    const std::vector<TensorInfo>& tensors() const { return tensors_; }
    const TensorInfo* find(const std::string& name) const;
    const uint8_t* data(const TensorInfo& t) const { return file_.data() + data_start_ + t.begin; }
    const std::optional<Metadata>& metadata() const { return metadata_; }
    const std::string& path() const { return file_.path(); }
    /// Drops a tensor's pages from the resident set after use (streaming).
    void release(const TensorInfo& t) const { file_.release(data_start_ + t.begin, t.nbytes()); }
    void prefetch(const TensorInfo& t) const { file_.prefetch(data_start_ + t.begin, t.nbytes()); }

private:
    MappedFile file_;
    uint64_t data_start_ = 0;
    std::vector<TensorInfo> tensors_;
    std::unordered_map<std::string, size_t> index_;
    std::optional<Metadata> metadata_;
};

struct TensorSpec {
    std::string name;
    DType dtype;
    Shape shape;
};

/// Bytes of a tensor (numel × bits / 8); throws Error when not whole.
uint64_t tensor_nbytes(const TensorSpec& t);

/// Builds a safetensors header (padded with spaces to a multiple of 8) for
/// tensors laid out back to back in the given order.
std::string safetensors_header(const std::vector<TensorSpec>& tensors, const std::optional<Metadata>& metadata);

/// Streams a safetensors file: header first, then each tensor's bytes in order.
class SafetensorsWriter {
public:
    SafetensorsWriter(OutputFile& out, std::vector<TensorSpec> tensors, const std::optional<Metadata>& metadata);
    /// Appends bytes of the current tensor (any number of calls per tensor).
    void write(const void* data, size_t n);
    /// Checks that every tensor got exactly its bytes.
    void finish();

private:
    OutputFile& out_;
    std::vector<TensorSpec> tensors_;
    std::vector<uint64_t> sizes_;
    size_t cur_ = 0;
    uint64_t cur_written_ = 0;
};

}  // namespace deltacodec
