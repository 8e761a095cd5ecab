// deltacodec — opening single-file and sharded checkpoints.
#include "deltacodec/checkpoint.hpp"

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "deltacodec/error.hpp"

namespace deltacodec {
using json = nlohmann::json;

namespace {
bool ends_with(const std::string& s, const std::string& suf) {
    return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}
}  // namespace

Checkpoint Checkpoint::open(const std::string& path, bool follow_symlinks) {
    Checkpoint c;
    c.path_ = path;
    if (!path_exists(path)) throw Error(path + ": no such file or directory");
    if (!deltacodec::is_directory(path)) {
        c.shards_.push_back(Shard{path, SafetensorsFile::open(path)});
        c.build_index();
        return c;
    }
    c.is_dir_ = true;
    // Every file, subfolders included (sorted relative paths); symbolic links,
    // FIFOs, devices and unsafe names refused here, before anything is read.
    const std::vector<std::string> files = list_tree(path, follow_symlinks);
    const std::set<std::string> present(files.begin(), files.end());
    if (present.count(kIndexFile)) {
        const std::string ipath = path + "/" + kIndexFile;
        const std::vector<uint8_t> raw = read_file(ipath, 256u << 20);
        json idx;
        try {
            idx = json::parse(raw.begin(), raw.end());
        } catch (const json::exception&) {
            throw Error(ipath + ": not valid JSON");
        }
        if (!idx.is_object() || !idx.contains("weight_map") || !idx["weight_map"].is_object())
            throw Error(ipath + ": no weight_map object");
        std::map<std::string, std::string> weight_map;
        std::set<std::string> shard_names;
        for (auto it = idx["weight_map"].begin(); it != idx["weight_map"].end(); ++it) {
            if (!it.value().is_string()) throw Error(ipath + ": weight_map entry '" + it.key() + "' is not a string");
            const std::string f = it.value().get<std::string>();
            if (!is_plain_file_name(f) || !ends_with(f, ".safetensors"))
                throw Error(ipath + ": weight_map names an unsafe or non-safetensors file '" + f + "'");
            weight_map[it.key()] = f;
            shard_names.insert(f);
        }
        if (shard_names.empty()) throw Error(ipath + ": weight_map is empty");
        for (const std::string& f : shard_names) {
            if (!present.count(f)) throw Error(path + ": shard " + f + " named by the index is missing");
            c.shards_.push_back(Shard{f, SafetensorsFile::open(path + "/" + f)});
        }
        for (const Shard& s : c.shards_) {
            for (const TensorInfo& t : s.st.tensors()) {
                auto it = weight_map.find(t.name);
                if (it == weight_map.end() || it->second != s.file)
                    throw Error(path + ": tensor '" + t.name + "' of " + s.file + " is not mapped to it by the index");
            }
        }
        c.build_index();
        if (c.order_.size() != weight_map.size())
            throw Error(ipath + ": weight_map names tensors that no shard holds");
    } else if (present.count("model.safetensors")) {
        c.shards_.push_back(Shard{"model.safetensors", SafetensorsFile::open(path + "/model.safetensors")});
        c.build_index();
    } else {
        throw Error(path + ": directory has neither model.safetensors nor " + kIndexFile);
    }
    // Everything that is not a shard of the checkpoint travels as a file: the
    // index, config and tokenizer files, files in subfolders, and safetensors
    // files that the index does not name (or beside model.safetensors).
    std::set<std::string> shard_files;
    for (const Shard& s : c.shards_) shard_files.insert(s.file);
    for (const std::string& f : files)
        if (!shard_files.count(f)) c.aux_.push_back(f);
    return c;
}

void Checkpoint::build_index() {
    order_.clear();
    by_name_.clear();
    for (const Shard& s : shards_) {
        for (const TensorInfo& t : s.st.tensors()) {
            if (by_name_.count(t.name)) throw Error(path_ + ": tensor '" + t.name + "' appears in two shards");
            by_name_[t.name] = order_.size();
            order_.push_back(TensorRef{&s, &t});
        }
    }
}

std::vector<std::string> Checkpoint::file_paths() const {
    std::vector<std::string> out;
    if (!is_dir_) return {path_};
    for (const Shard& s : shards_) out.push_back(path_ + "/" + s.file);
    for (const std::string& f : aux_) out.push_back(path_ + "/" + f);
    return out;
}

const TensorRef* Checkpoint::find(const std::string& name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &order_[it->second];
}

}  // namespace deltacodec
