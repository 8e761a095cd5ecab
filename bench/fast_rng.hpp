// deltacodec benchmarks — a fast deterministic generator for synthetic weights:
// splitmix64, with Irwin–Hall(4) normals on 16-bit parts scaled to unit variance
// (tails cut at 3.5σ; fast enough that set-up never dominates a profile).
#pragma once

#include <cstdint>

struct FastRng {
    uint64_t s;
    explicit FastRng(uint64_t seed) : s(seed) {}
    uint64_t next() {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }
    float normal() {
        const uint64_t x = next();
        const float t = static_cast<float>((x & 0xFFFF) + ((x >> 16) & 0xFFFF) + ((x >> 32) & 0xFFFF) + (x >> 48));
        return (t - 2.0f * 65535.0f) * (1.7320508f / 65536.0f);
    }
};
