// Fuzz target: `deltacodec decompress` — the full decode of a .dcx against a
// small real base (tests/data/golden/tiny_base.safetensors, the base of every
// golden .dcx but example_default), writing into a scratch directory under
// /dev/shm that is emptied after each input. Section checksums are fixed up
// first (fuzz_common.hpp). Only deltacodec::Error may escape, and whatever a
// successful run writes must open again as valid safetensors files.
#include <cstdint>
#include <filesystem>
#include <set>
#include <vector>

#include "deltacodec/deltacodec.hpp"
#include "fuzz_common.hpp"

namespace {
// Names of the FILE sections of a .dcx image (their contents are copied verbatim,
// so only the other files of a directory output are the safetensors writer's).
std::set<std::string> file_section_names(const std::string& b) {
    std::set<std::string> names;
    size_t pos = 16;
    while (b.size() >= 24 && pos <= b.size() - 24) {
        uint64_t len = 0;
        for (int i = 7; i >= 0; --i) len = (len << 8) | static_cast<uint8_t>(b[pos + 8 + i]);
        if (len > b.size() - 24 - pos) break;
        if (static_cast<uint8_t>(b[pos]) == 2 && len >= 2) {
            const size_t n = static_cast<uint8_t>(b[pos + 16]) | static_cast<uint8_t>(b[pos + 17]) << 8;
            if (n <= len - 2) names.insert(b.substr(pos + 18, n));
        }
        pos += 24 + len;
    }
    return names;
}

// Every safetensors file decompress() wrote must open again.
void check_output(const std::string& out, const std::string& dcx_bytes) {
    namespace fs = std::filesystem;
    std::vector<std::string> shards;
    if (!fs::is_directory(out)) {
        shards.push_back(out);
    } else {
        const std::set<std::string> verbatim = file_section_names(dcx_bytes);
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
    if (ok) check_output(out, bytes);
    std::error_code ec;
    std::filesystem::remove_all(out, ec);
    return 0;
}
