// deltacodec — a model checkpoint: one safetensors file, or a Hugging Face model
// directory (model.safetensors, or shards + model.safetensors.index.json).
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "io/safetensors.hpp"

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
    void prefetch() const { shard->st.prefetch(*info); }
};

class Checkpoint {
public:
    /// Opens and validates a checkpoint; throws Error with a one-line reason.
    /// A directory is listed recursively; a symbolic link inside it (a shard
    /// included) is refused unless `follow_symlinks`, and so are FIFOs, sockets,
    /// devices and names relative_path_problem() refuses. `path` itself, named
    /// by the caller, may be a link.
    static Checkpoint open(const std::string& path, bool follow_symlinks = false);

    bool is_directory() const { return is_dir_; }
    const std::string& path() const { return path_; }
    const std::vector<Shard>& shards() const { return shards_; }
    /// All tensors, shard by shard, each shard in data order.
    const std::vector<TensorRef>& tensors() const { return order_; }
    const TensorRef* find(const std::string& name) const;
    /// The regular files of a directory other than its shards (config.json,
    /// tokenizer files, the index, files in subfolders, safetensors files that
    /// are not shards), as sorted relative paths with '/'; empty for a single file.
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
