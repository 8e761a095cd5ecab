// deltacodec — bit allocation spec parsing and the importance ranking.
#include "codec/allocation.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "deltacodec/error.hpp"

namespace deltacodec {

std::string parse_bit_spec(std::string_view text, BitSpec& spec) {
    spec.tiers.clear();
    if (text.empty()) return "empty";
    double sum = 0;
    while (!text.empty()) {
        const size_t comma = text.find(',');
        const std::string_view item = text.substr(0, comma);
        text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
        if (comma != std::string_view::npos && text.empty()) return "trailing comma";
        const size_t colon = item.find(':');
        if (colon == std::string_view::npos) return "each item is BITS:FRACTION";
        const std::string bits_s(item.substr(0, colon)), frac_s(item.substr(colon + 1));
        int bits = -1;
        auto [p, ec] = std::from_chars(bits_s.data(), bits_s.data() + bits_s.size(), bits);
        if (ec != std::errc() || p != bits_s.data() + bits_s.size()) return "'" + bits_s + "' is not a bit width";
        if (bits < 0 || bits > 8) return "bit width " + bits_s + " is outside 0..8";
        char* end = nullptr;
        const double frac = std::strtod(frac_s.c_str(), &end);
        if (frac_s.empty() || end != frac_s.c_str() + frac_s.size() || !std::isfinite(frac))
            return "'" + frac_s + "' is not a fraction";
        if (frac < 0 || frac > 1) return "fraction " + frac_s + " is outside [0, 1]";
        for (const BitTier& t : spec.tiers)
            if (t.bits == bits) return "bit width " + bits_s + " appears twice";
        spec.tiers.push_back({bits, frac});
        sum += frac;
    }
    if (std::fabs(sum - 1.0) > 1e-3) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "fractions sum to %g, not 1", sum);
        return buf;
    }
    std::stable_sort(spec.tiers.begin(), spec.tiers.end(),
                     [](const BitTier& a, const BitTier& b) { return a.bits > b.bits; });
    return "";
}

BitSpec BitSpec::parse(std::string_view text) {
    BitSpec spec;
    const std::string why = parse_bit_spec(text, spec);
    if (!why.empty()) throw Error("bad allocation spec '" + std::string(text) + "': " + why, ErrorKind::OPTION);
    return spec;
}

std::string BitSpec::str() const {
    std::string s;
    for (const BitTier& t : tiers) {
        char buf[48];
        std::snprintf(buf, sizeof buf, "%s%d:%g", s.empty() ? "" : ",", t.bits, t.fraction);
        s += buf;
    }
    return s;
}

double BitSpec::mean_bits() const {
    double m = 0;
    for (const BitTier& t : tiers) m += t.bits * t.fraction;
    return m;
}

std::vector<uint64_t> tier_counts(const BitSpec& spec, uint64_t n) {
    std::vector<uint64_t> counts;
    double cum = 0;
    uint64_t prev = 0;
    for (size_t k = 0; k < spec.tiers.size(); ++k) {
        cum += spec.tiers[k].fraction;
        uint64_t b = k + 1 == spec.tiers.size() ? n : static_cast<uint64_t>(std::llround(cum * static_cast<double>(n)));
        b = std::clamp(b, prev, n);
        counts.push_back(b - prev);
        prev = b;
    }
    return counts;
}

std::vector<uint8_t> allocate_bits(const std::vector<float>& importance, const BitSpec& spec) {
    const size_t n = importance.size();
    std::vector<uint32_t> order(n);
    std::iota(order.begin(), order.end(), 0u);
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
        return importance[a] != importance[b] ? importance[a] > importance[b] : a < b;
    });
    const std::vector<uint64_t> counts = tier_counts(spec, n);
    std::vector<uint8_t> widths(n, 0);
    size_t r = 0;
    for (size_t k = 0; k < counts.size(); ++k)
        for (uint64_t c = 0; c < counts[k]; ++c) widths[order[r++]] = static_cast<uint8_t>(spec.tiers[k].bits);
    return widths;
}

}  // namespace deltacodec
