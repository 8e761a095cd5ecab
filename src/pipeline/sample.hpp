// deltacodec (internal) — rate control's row samples: a large tensor pair's
// rate–distortion curve estimated from evenly spread groups of its rows.
//
// A method whose bytes and squared error are sums over rows (its traits give
// `sample_rows`: the rows one group must hold, e.g. the patch size) is analysed
// on a copy of some of the rows of the base and the fine-tune, and its points
// are scaled to the whole tensor (bytes and err2 × rows / sampled rows). The
// estimate replaces measuring every point of every method on every element,
// which costs tens of encodes of each tensor; compress corrects what the
// estimate misses as the records are written (src/compress.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "io/checkpoint.hpp"
#include "methods/method.hpp"

namespace deltacodec {

/// Tensors with fewer elements than this are measured whole.
inline constexpr uint64_t kSampleMinElements = uint64_t{1} << 22;
/// About this many elements are sampled (at least kSampleMinGroups groups).
inline constexpr uint64_t kSampleElements = uint64_t{1} << 20;
inline constexpr uint64_t kSampleMinGroups = 8;

/// The rows of a sample: `groups` groups of `group` rows, evenly spread over
/// `rows` (the first at the start of its stride). Empty when sampling would not
/// take under a quarter of the rows or the tensor is small (then: measure whole).
std::vector<uint64_t> sample_rows(uint64_t rows, uint64_t cols, uint64_t group);

/// Copies of a tensor pair's sampled rows, as an input analyse() takes.
class RowSample {
public:
    /// nullopt when the tensor is measured whole (sample_rows() is empty), or
    /// when the input is not a 2-D pair with a base.
    static std::optional<RowSample> make(const TensorInput& in, uint64_t group);
    const TensorInput& input() const { return in_; }
    /// Full rows over sampled rows: what bytes and err2 are scaled by.
    double scale() const { return scale_; }

private:
    std::vector<uint8_t> base_, ft_;
    std::unique_ptr<Checkpoint> cb_, cf_;
    TensorInput in_;
    double scale_ = 1;
};

/// `c` measured on a sample, scaled to the whole tensor; marked estimated.
RdCurve scale_curve(RdCurve c, double scale);

}  // namespace deltacodec
