// Fuzz target: a model directory's model.safetensors.index.json. The input is
// the index; the directory also holds the two small shards of the golden
// sharded fine-tune (tests/data/golden/dir_ft), so a valid index opens fully and
// mutations reach the index-versus-shard checks. Only deltacodec::Error may escape.
#include <cstdint>
#include <filesystem>

#include "deltacodec/error.hpp"
#include "fuzz_common.hpp"
#include "io/checkpoint.hpp"

namespace {
const std::string& model_dir() {
    static const std::string dir = [] {
        namespace fs = std::filesystem;
        const std::string d = fuzz::scratch_dir("index") + "/model";
        fs::create_directories(d);
        const fs::path src = fs::path(DELTACODEC_FUZZ_DATA) / "dir_ft";
        for (const char* f : {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "config.json"})
            fs::copy_file(src / f, fs::path(d) / f, fs::copy_options::overwrite_existing);
        return d;
    }();
    return dir;
}

// The code under test. (When the index parse is its own function, this is the
// one line to change, e.g. to deltacodec::parse_index_json(bytes, path).)
void open_index(const std::string& dir) { (void)deltacodec::Checkpoint::open(dir); }
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string& dir = model_dir();
    fuzz::write_file(dir + "/" + deltacodec::kIndexFile, data, size);
    try {
        open_index(dir);
    } catch (const deltacodec::Error&) {
    }
    return 0;
}
