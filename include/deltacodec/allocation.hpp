// deltacodec — importance-ranked mixed-precision bit allocation (steps 3–4).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace deltacodec {

struct BitTier {
    int bits;         ///< 0..8; 0 = patch dropped (rebuilt as zeros)
    double fraction;  ///< share of the tensor's patches
};

/// An allocation spec `BITS:FRACTION,...`, e.g. `2:0.34,1:0.33,0:0.33`.
struct BitSpec {
    std::vector<BitTier> tiers;  ///< sorted by bits, highest first

    /// Parses and validates (widths 0..8, each once, fractions in [0,1]
    /// summing to 1 within 1e-3); throws Error with the reason.
    static BitSpec parse(std::string_view text);
    std::string str() const;
    /// Expected bits per coded coefficient (Σ bits·fraction).
    double mean_bits() const;
};

/// Number of patches in each tier for n patches: tier k takes the patches
/// ranked [round(n·F(k-1)), round(n·F(k))), F = cumulative fraction, so the
/// counts always sum to n.
std::vector<uint64_t> tier_counts(const BitSpec& spec, uint64_t n);

/// Width per patch: patches sorted by importance (descending; ties by index),
/// then the tiers applied top-down.
std::vector<uint8_t> allocate_bits(const std::vector<float>& importance, const BitSpec& spec);

}  // namespace deltacodec
