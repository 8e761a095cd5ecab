// deltacodec (internal) — the shard index of a model directory (model.safetensors.index.json).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace deltacodec {

/// The index file's weight_map: tensor name → shard file.
struct IndexMap {
    std::vector<std::string> files;                      ///< the shard files it names, sorted, each once
    std::unordered_map<std::string, uint32_t> shard_of;  ///< tensor name → position in `files`
};

/// The most bytes of index file read (a real one is a few MB).
inline constexpr uint64_t kMaxIndexJson = 64ull << 20;

/// Parses untrusted index JSON (streaming, no DOM; members other than weight_map are
/// skipped). Each file must be a plain file name ending in .safetensors; the map must
/// not be empty; no key twice. `path` prefixes errors.
IndexMap parse_index_json(const std::vector<uint8_t>& bytes, const std::string& path);

}  // namespace deltacodec
