// deltacodec — opening single-file and sharded checkpoints.
#include "io/checkpoint.hpp"

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>

#include "deltacodec/error.hpp"
#include "io/index_json.hpp"
#include "io/json_sax.hpp"

namespace deltacodec {

namespace {
bool ends_with(const std::string& s, const std::string& suf) {
    return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

// SAX handler: {"weight_map": {tensor: file, ...}, ...}; other members skipped.
class IndexReader final : public jsonsax::Handler {
public:
    IndexMap out;
    std::map<std::string, uint32_t> ids;  // file → id (few distinct files)

    bool begin(jsonsax::Parser& p, bool object) override {
        if (p.depth() == 0) {
            if (!object) p.fail("no weight_map object");
            return true;
        }
        if (p.depth() == 1 && top_ == "weight_map") {
            if (!object) p.fail("no weight_map object");
            have_map_ = true;
            return true;
        }
        if (p.depth() == 2) p.fail("weight_map entry '" + jsonsax::shorten(name_) + "' is not a string");
        return false;
    }
    void key(jsonsax::Parser& p, std::string_view k) override { (p.depth() == 1 ? top_ : name_) = k; }
    void scalar(jsonsax::Parser& p, const jsonsax::Scalar& v) override {
        if (p.depth() == 0) p.fail("no weight_map object");
        if (p.depth() == 1) {
            if (top_ == "weight_map") p.fail("no weight_map object");
            return;
        }
        if (v.kind != jsonsax::Kind::String)
            p.fail("weight_map entry '" + jsonsax::shorten(name_) + "' is not a string");
        const std::string f(v.s);
        if (!is_plain_file_name(f) || !ends_with(f, ".safetensors"))
            p.fail("weight_map names an unsafe or non-safetensors file '" + jsonsax::shorten(f) + "'");
        const auto id = ids.emplace(f, static_cast<uint32_t>(ids.size())).first->second;
        out.shard_of.emplace(name_, id);  // keys are unique: the parser refuses a key twice
    }
    void end(jsonsax::Parser& p, bool) override {
        if (p.depth() != 0) return;
        if (!have_map_) p.fail("no weight_map object");
        if (out.shard_of.empty()) p.fail("weight_map is empty");
    }

private:
    std::string top_, name_;
    bool have_map_ = false;
};
}  // namespace

IndexMap parse_index_json(const std::vector<uint8_t>& bytes, const std::string& path) {
    IndexReader rd;
    jsonsax::parse(bytes.data(), bytes.size(), rd, jsonsax::Limits{}, path + ": ");
    // Files sorted (the order shards are opened in), ids renumbered to match.
    std::vector<uint32_t> renum(rd.ids.size());
    for (const auto& [f, id] : rd.ids) {
        renum[id] = static_cast<uint32_t>(rd.out.files.size());
        rd.out.files.push_back(f);
    }
    for (auto& [name, id] : rd.out.shard_of) id = renum[id];
    return std::move(rd.out);
}

Checkpoint Checkpoint::open(const std::string& path, bool follow_symlinks) {
    Checkpoint c;
    c.path_ = path;
    if (!path_exists(path)) throw system_error(path, ENOENT);
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
        const IndexMap idx = parse_index_json(read_file(ipath, kMaxIndexJson), ipath);
        for (const std::string& f : idx.files) {
            if (!present.count(f)) throw Error(path + ": shard " + f + " named by the index is missing");
            c.shards_.push_back(Shard{f, SafetensorsFile::open(path + "/" + f)});
        }
        for (const Shard& s : c.shards_) {
            for (const TensorInfo& t : s.st.tensors()) {
                auto it = idx.shard_of.find(t.name);
                if (it == idx.shard_of.end() || idx.files[it->second] != s.file)
                    throw Error(path + ": tensor '" + t.name + "' of " + s.file + " is not mapped to it by the index");
            }
        }
        c.build_index();
        if (c.order_.size() != idx.shard_of.size())
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

Checkpoint Checkpoint::in_memory(const std::string& label, const std::vector<TensorView>& tensors) {
    Checkpoint c;
    c.in_memory_ = true;
    c.shards_.push_back(Shard{label, SafetensorsFile::in_memory(label, tensors)});
    c.path_ = c.shards_.front().st.path();
    c.build_index();
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
    if (in_memory_) return {};
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
