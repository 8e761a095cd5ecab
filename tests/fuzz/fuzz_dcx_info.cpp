// Fuzz target: `deltacodec info` — the .dcx framing, the HEADER JSON, FILE
// sections and every TENSOR record kind (CODED bodies included), without a base.
// Section checksums are fixed up first (fuzz_common.hpp). Only deltacodec::Error
// may escape; a description that is returned must be valid JSON.
#include <cstdint>
#include <nlohmann/json.hpp>

#include "deltacodec/deltacodec.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static fuzz::MemFile mem;
    std::string bytes(reinterpret_cast<const char*>(data), size);
    fuzz::fix_dcx_checksums(bytes);
    const std::string& path = mem.set(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    std::string info;
    try {
        info = deltacodec::info_json(path);
    } catch (const deltacodec::Error&) {
        return 0;
    }
    if (!nlohmann::json::accept(info)) std::abort();
    return 0;
}
