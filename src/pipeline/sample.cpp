// deltacodec — rate control's row samples (sample.hpp).
#include "pipeline/sample.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace deltacodec {

std::vector<uint64_t> sample_rows(uint64_t rows, uint64_t cols, uint64_t group) {
    if (group == 0 || rows == 0 || cols == 0 || rows * cols < kSampleMinElements) return {};
    const uint64_t per_group = group * cols;
    const uint64_t groups = std::max(kSampleMinGroups, (kSampleElements + per_group - 1) / per_group);
    if (groups * group * 4 > rows) return {};  // a quarter or more: measure whole
    // Group g starts at the first row of stride g, rounded down to a group boundary.
    std::vector<uint64_t> out;
    out.reserve(groups * group);
    for (uint64_t g = 0; g < groups; ++g) {
        const uint64_t start = rows * g / groups / group * group;
        for (uint64_t r = 0; r < group; ++r) out.push_back(start + r);
    }
    return out;
}

std::optional<RowSample> RowSample::make(const TensorInput& in, uint64_t group) {
    if (!in.ft || !in.base) return std::nullopt;
    const TensorInfo& fi = *in.ft->info;
    const TensorInfo& bi = *in.base->info;
    if (fi.shape.size() != 2 || bi.shape != fi.shape) return std::nullopt;
    const uint64_t rows = fi.shape[0], cols = fi.shape[1];
    const std::vector<uint64_t> pick = sample_rows(rows, cols, group);
    if (pick.empty()) return std::nullopt;
    RowSample s;
    const uint64_t n = pick.size();
    auto gather = [&](const TensorRef& t, std::vector<uint8_t>& out) {
        const uint64_t row_bytes = t.info->nbytes() / rows;  // 2-D floats: whole bytes per row
        out.resize(n * row_bytes);
        const uint8_t* src = t.data();
        for (uint64_t i = 0; i < n; ++i) std::memcpy(out.data() + i * row_bytes, src + pick[i] * row_bytes, row_bytes);
        return row_bytes;
    };
    const uint64_t bb = gather(*in.base, s.base_), fb = gather(*in.ft, s.ft_);
    const Shape shape{n, cols};
    s.cb_ = std::make_unique<Checkpoint>(
        Checkpoint::in_memory("<sample>", {TensorView{fi.name, bi.dtype, shape, s.base_.data(), n * bb}}));
    s.cf_ = std::make_unique<Checkpoint>(
        Checkpoint::in_memory("<sample>", {TensorView{fi.name, fi.dtype, shape, s.ft_.data(), n * fb}}));
    s.in_ = in;
    s.in_.base = &s.cb_->tensors().front();
    s.in_.ft = &s.cf_->tensors().front();
    s.scale_ = static_cast<double>(rows) / static_cast<double>(n);
    return s;
}

RdCurve scale_curve(RdCurve c, double scale) {
    for (RdPoint& p : c.points) {
        p.bytes = static_cast<uint64_t>(std::llround(static_cast<double>(p.bytes) * scale));
        if (p.err2) *p.err2 *= scale;
    }
    c.estimated = true;
    return c;
}

}  // namespace deltacodec
