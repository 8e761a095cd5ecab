// deltacodec (internal) — the HEADER section's JSON and the common tensor-record prefix.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "format/container.hpp"
#include "io/parallel.hpp"
#include "io/safetensors.hpp"

namespace deltacodec {

struct ShardSpec {
    std::string file;
    std::optional<Metadata> metadata;
    std::vector<TensorSpec> tensors;
};

struct DcxHeader {
    bool directory = false;
    std::vector<ShardSpec> shards;
    nlohmann::json options = nlohmann::json::object();
    std::vector<std::string> dropped;
    std::string producer;
    std::string base_name;  ///< informative; "" when not recorded (at most kMaxBaseName bytes kept)
};

/// What the HEADER reader keeps of `options` (informative): at most kMaxOptions
/// scalar members (strings of at most kMaxOptionString bytes, numbers, booleans);
/// other members are skipped. At most kMaxDroppedNames names in dropped_base_tensors.
inline constexpr size_t kMaxOptions = 256;
inline constexpr size_t kMaxOptionString = 4096;
inline constexpr size_t kMaxDroppedNames = size_t{1} << 20;

/// The HEADER's JSON, built as text in linear time (bytes as v1.0 wrote them).
std::vector<uint8_t> header_to_bytes(const DcxHeader& h);
/// Parses and validates untrusted HEADER bytes; `path` prefixes errors. Streaming
/// (no DOM, no recursion): unknown fields are skipped, not stored.
DcxHeader header_from_bytes(const uint8_t* data, size_t n, const std::string& path);

/// What the END section holds: the tensor count, and the numeric members of
/// `stats` (at most kMaxEndStats, a flat object of numbers; other members skipped).
struct EndInfo {
    uint64_t tensors = 0;
    nlohmann::json stats = nlohmann::json::object();
};
inline constexpr size_t kMaxEndStats = 256;
/// Parses untrusted END bytes (`tensors` must be a non-negative integer); `path`
/// prefixes errors. Checking the count against the records is the caller's.
EndInfo parse_end_section(const uint8_t* data, size_t n, const std::string& path);

/// name, method id, dtype, shape: the start of every TENSOR record.
struct TensorPrefix {
    std::string name;
    MethodId method;  ///< any byte: read_prefix() does not judge it, the registry does
    DType dtype;
    Shape shape;
};
void write_prefix(ByteWriter& w, const TensorPrefix& p);
TensorPrefix read_prefix(ByteReader& r);

/// Byte planes of (ft − base) mod 2^(8w) for w-byte elements, and back.
/// `out`/`planes`: numel·w bytes. Work is split over the pool; results do not depend on it.
void exact_delta_planes(const uint8_t* base, const uint8_t* ft, uint64_t numel, size_t w, uint8_t* planes,
                        ThreadPool& pool);
void apply_exact_delta(const uint8_t* base, const uint8_t* planes, uint64_t numel, size_t w, uint8_t* out,
                       ThreadPool& pool);
/// Elements [begin, end) only, into out[0, (end − begin)·w): a band of the rebuild.
void apply_exact_delta_range(const uint8_t* base, const uint8_t* planes, uint64_t numel, size_t w, uint64_t begin,
                             uint64_t end, uint8_t* out, ThreadPool& pool);

}  // namespace deltacodec
