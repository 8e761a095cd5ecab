// Fuzz target: the safetensors reader (header length, JSON header, dtypes,
// shapes, offsets, metadata) on arbitrary bytes. Only deltacodec::Error may escape.
#include <cstdint>

#include "deltacodec/error.hpp"
#include "fuzz_common.hpp"
#include "io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static fuzz::MemFile mem;
    const std::string& path = mem.set(data, size);
    try {
        const deltacodec::SafetensorsFile st = deltacodec::SafetensorsFile::parse(deltacodec::MappedFile::open(path));
        // Touch what a caller would use: every tensor's range must lie in the file.
        uint64_t sum = 0;
        for (const deltacodec::TensorInfo& t : st.tensors()) {
            if (st.find(t.name) != &t) std::abort();
            if (t.nbytes()) sum += st.data(t)[0] + st.data(t)[t.nbytes() - 1];
            sum += t.numel();
        }
        if (st.metadata())
            for (const auto& [k, v] : *st.metadata()) sum += k.size() + v.size();
        volatile uint64_t keep = sum;
        (void)keep;
    } catch (const deltacodec::Error&) {
    }
    return 0;
}
