// Fuzz target: `deltacodec decompress` — the full decode of a .dcx against a
// small real base (tests/data/golden/tiny_base.safetensors, the base of every
// golden .dcx but example_default), writing into a scratch directory under
// /dev/shm that is emptied after each input. Section checksums are fixed up
// first (fuzz_common.hpp). Only deltacodec::Error may escape, and whatever a
// successful run writes must open again as valid safetensors files.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "deltacodec/deltacodec.hpp"
#include "fuzz_common.hpp"

namespace {
// Every safetensors file decompress() wrote must open again, except a FILE
// section's contents (copied verbatim; only the shards are the writer's).
void check_output(const std::string& out, const std::string& dcx) {
    namespace fs = std::filesystem;
    std::vector<std::string> shards;
    if (!fs::is_directory(out)) {
        shards.push_back(out);
    } else {
        const nlohmann::json info = nlohmann::json::parse(deltacodec::info_json(dcx));
        std::set<std::string> verbatim;
        for (const auto& f : info["files"]) verbatim.insert(f["name"].get<std::string>());
        for (const std::string& f : deltacodec::list_files(out))
            if (!verbatim.count(f)) shards.push_back(out + "/" + f);
    }
    for (const std::string& s : shards) {
        try {
            (void)deltacodec::SafetensorsFile::open(s);
        } catch (const deltacodec::Error& e) {
            std::fprintf(stderr, "decompress wrote an output that does not open: %s\n", e.what());
            std::abort();
        }
    }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static fuzz::MemFile mem;
    static const std::string base = std::string(DELTACODEC_FUZZ_DATA) + "/tiny_base.safetensors";
    static const std::string out = fuzz::scratch_dir("decompress") + "/out";
    std::string bytes(reinterpret_cast<const char*>(data), size);
    fuzz::fix_dcx_checksums(bytes);
    const std::string& path = mem.set(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    deltacodec::DecompressOptions opt;
    opt.threads = 1;
    bool ok = true;
    try {
        deltacodec::decompress(base, path, out, opt);
    } catch (const deltacodec::Error&) {
        ok = false;
    }
    if (ok) check_output(out, path);
    std::error_code ec;
    std::filesystem::remove_all(out, ec);
    return 0;
}
