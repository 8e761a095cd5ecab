// deltacodec — the symbol coder table and its first row, LSB-first bit packing.
#include "codec/symbol_coder.hpp"

#include "codec/quantize.hpp"
#include "deltacodec/error.hpp"

namespace deltacodec {
namespace {

class BitpackWriter final : public SymbolWriter {
public:
    explicit BitpackWriter(std::vector<uint8_t>& out) : out_(out) {}
    void put(const uint8_t* q, size_t n, int bits) override {
        const size_t at = out_.size();
        out_.resize(at + packed_size(n, bits));
        pack_bits(q, n, bits, out_.data() + at);
    }
    void finish() override {}

private:
    std::vector<uint8_t>& out_;
};

class BitpackReader final : public SymbolReader {
public:
    BitpackReader(const uint8_t* data, size_t size) : p_(data), left_(size) {}
    void get(uint8_t* q, size_t n, int bits) override {
        const size_t need = packed_size(n, bits);
        if (need > left_) throw Error("corrupt record: packed codes end early");
        unpack_bits(p_, n, bits, q);
        p_ += need;
        left_ -= need;
    }

private:
    const uint8_t* p_;
    size_t left_;
};

std::unique_ptr<SymbolWriter> bitpack_writer(std::vector<uint8_t>& out) { return std::make_unique<BitpackWriter>(out); }
std::unique_ptr<SymbolReader> bitpack_reader(const uint8_t* data, size_t size) {
    return std::make_unique<BitpackReader>(data, size);
}
uint64_t bitpack_bytes(uint64_t n, int bits) { return (n * static_cast<uint64_t>(bits) + 7) / 8; }

}  // namespace

const std::vector<SymbolCoderEntry>& symbol_coder_table() {
    static const std::vector<SymbolCoderEntry> table = {
        {"bitpack", &bitpack_writer, &bitpack_reader, &bitpack_bytes},
    };
    return table;
}

const SymbolCoderEntry* find_symbol_coder(std::string_view name) {
    for (const SymbolCoderEntry& e : symbol_coder_table())
        if (e.name == name) return &e;
    return nullptr;
}

const SymbolCoderEntry& bitpack_coder() { return symbol_coder_table()[0]; }

}  // namespace deltacodec
