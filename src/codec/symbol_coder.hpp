// deltacodec (internal) — the patch coder's last stage: quantized symbols to
// bytes and back. Symbols are written and read as a stream, one run per coded
// patch, in patch order; a reader never needs the byte address of a patch's
// codes, only the start of its patch row's stream (rows decode in parallel),
// so an entropy coder can take the place of bit packing.
//
// Coders are chosen once per tensor and called once per patch run: dispatch is
// per patch, never per symbol.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace deltacodec {

/// Appends symbol runs to a byte vector.
class SymbolWriter {
public:
    virtual ~SymbolWriter() = default;
    /// Appends n symbols, each < 2^bits (bits in 1..8).
    virtual void put(const uint8_t* q, size_t n, int bits) = 0;
    /// Completes the stream (flushes any state) in the output vector.
    virtual void finish() = 0;
};

/// Reads symbol runs back in the order they were put; throws Error when the
/// stream ends early.
class SymbolReader {
public:
    virtual ~SymbolReader() = default;
    virtual void get(uint8_t* q, size_t n, int bits) = 0;
};

/// One row of the symbol coder table.
struct SymbolCoderEntry {
    std::string_view name;
    std::unique_ptr<SymbolWriter> (*writer)(std::vector<uint8_t>& out);
    std::unique_ptr<SymbolReader> (*reader)(const uint8_t* data, size_t size);
    /// Bytes of a run of n symbols of `bits` bits for a fixed-rate coder: the
    /// codec sizes the codes blob and finds each patch row's stream from it. A
    /// variable-rate coder has none (nullptr) and must store its row starts.
    uint64_t (*fixed_bytes)(uint64_t n, int bits);
};

const std::vector<SymbolCoderEntry>& symbol_coder_table();
const SymbolCoderEntry* find_symbol_coder(std::string_view name);

/// The first coder, "bitpack": each run packed LSB-first (pack_bits), starting
/// on a byte boundary; today's PATCH `codes` blob.
const SymbolCoderEntry& bitpack_coder();

}  // namespace deltacodec
