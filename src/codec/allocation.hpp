// deltacodec — importance-ranked mixed-precision bit allocation (steps 3–4).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "deltacodec/types.hpp"

namespace deltacodec {

// BitTier and BitSpec: deltacodec/types.hpp.

/// Parses an allocation spec into `spec` (BitSpec::parse's rules); returns why
/// `text` is not one ("" when it is), for messages that name the option.
std::string parse_bit_spec(std::string_view text, BitSpec& spec);

/// Number of patches in each tier for n patches: tier k takes the patches
/// ranked [round(n·F(k-1)), round(n·F(k))), F = cumulative fraction, so the
/// counts always sum to n.
std::vector<uint64_t> tier_counts(const BitSpec& spec, uint64_t n);

/// Width per patch: patches sorted by importance (descending; ties by index),
/// then the tiers applied top-down.
std::vector<uint8_t> allocate_bits(const std::vector<float>& importance, const BitSpec& spec);

}  // namespace deltacodec
