// deltacodec (internal) — the HEADER section's JSON and the common tensor-record prefix.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "deltacodec/container.hpp"
#include "deltacodec/parallel.hpp"
#include <memory>
#include "deltacodec/safetensors.hpp"

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
};

std::vector<uint8_t> header_to_bytes(const DcxHeader& h);
/// Parses and validates untrusted HEADER bytes; `path` prefixes errors.
DcxHeader header_from_bytes(const uint8_t* data, size_t n, const std::string& path);

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


}  // namespace deltacodec
