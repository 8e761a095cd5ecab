// deltacodec — a model checkpoint: one safetensors file, or a Hugging Face model
// directory (model.safetensors, or shards + model.safetensors.index.json).
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "deltacodec/safetensors.hpp"

namespace deltacodec {

inline constexpr const char* kIndexFile = "model.safetensors.index.json";

struct Shard {
    std::string file;  ///< file name inside the directory (or the path, for a single file)
    SafetensorsFile st;
};

struct TensorRef {
    const Shard* shard;
    const TensorInfo* info;
    const uint8_t* data() const { return shard->st.data(*info); }
    void release() const { shard->st.release(*info); }
};

class Checkpoint {
public:
    /// Opens and validates a checkpoint; throws Error with a one-line reason.
    static Checkpoint open(const std::string& path);

    bool is_directory() const { return is_dir_; }
    const std::string& path() const { return path_; }
    const std::vector<Shard>& shards() const { return shards_; }
    /// All tensors, shard by shard, each shard in data order.
    const std::vector<TensorRef>& tensors() const { return order_; }
    const TensorRef* find(const std::string& name) const;
    /// Non-tensor regular files of a directory (config.json, tokenizer files,
    /// the index), by name; empty for a single file.
    const std::vector<std::string>& aux_files() const { return aux_; }
    /// Paths of every file the checkpoint consists of (shards and, for a
    /// directory, its other files), for checks that an output replaces none.
    std::vector<std::string> file_paths() const;

    Checkpoint(Checkpoint&&) = default;
    Checkpoint& operator=(Checkpoint&&) = default;

private:
    Checkpoint() = default;
    void build_index();
    bool is_dir_ = false;
    std::string path_;
    std::vector<Shard> shards_;
    std::vector<TensorRef> order_;
    std::unordered_map<std::string, size_t> by_name_;
    std::vector<std::string> aux_;
};

}  // namespace deltacodec
