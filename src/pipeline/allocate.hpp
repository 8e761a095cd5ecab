// deltacodec (internal) — compress's plan: per tensor, the candidate methods in
// order of preference with their rate–distortion curves (select + analyse), and
// the allocators that turn the curves and a budget into per-tensor choices.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "methods/method.hpp"

namespace deltacodec {

/// A method that may store a tensor, and what it offers (pass 1's output).
struct Candidate {
    const MethodTraits* method = nullptr;
    WholeReason why = WholeReason::NEW;  ///< WHOLE: the reason code it stores
    std::string reason;                  ///< the report's reason when this candidate is used ("" for the first choice)
    RdCurve curve;
};

/// One tensor of the fine-tune: its inputs and candidates, most preferred first.
/// Small: pointers into the mapped checkpoints and a few points per candidate.
struct TensorPlan {
    TensorInput in;
    std::vector<Candidate> candidates;
    /// Rate control: the weight w of this tensor's squared error in the total
    /// distortion Σ w·err2 (distortion_weight(); 1 = plain squared error).
    double weight = 1;
};

/// An allocator's pick for one tensor: candidates[candidate].curve.points[point].
/// When encoding declines that candidate (e.g. non-finite data), the pipeline
/// falls back to the next candidates' first points, in order.
struct Choice {
    size_t candidate = 0;
    size_t point = 0;
};

/// What an allocator must respect. 0 = no limit.
struct Budget {
    uint64_t max_bytes = 0;  ///< Σ chosen points' bytes over the model
};

/// An allocator: curves and a budget → one choice per tensor.
using Allocator = std::vector<Choice> (*)(const std::vector<TensorPlan>& plans, const Budget& budget);

/// Today's rule: every tensor gets its first candidate at its first point (for
/// the patch coder, the configured per-tensor bit spec); ignores the budget.
std::vector<Choice> allocate_fixed(const std::vector<TensorPlan>& plans, const Budget& budget);

/// Rate control (equal slopes): per tensor the (candidate, point) minimising
/// w·err2 + λ·bytes over every candidate's points that carry an err2 (a lossless
/// one's is 0), with λ the least multiplier whose choices fit Σ bytes ≤
/// budget.max_bytes. Each tensor's points are pruned to the lower convex hull of
/// (bytes, w·err2); the hull segments of all tensors taken in order of falling
/// slope −Δ(w·err2)/Δbytes until the next one does not fit is exactly the
/// solution bisection on λ converges to. The budget left over is then spent
/// greedily (the upgrade with the most error saved per byte that still fits,
/// hull or not) until none fits. Deterministic (ties by tensor index, then
/// point). When even the cheapest point of every tensor exceeds the budget, it
/// returns those cheapest points: the caller compares planned_bytes() with the
/// budget. A tensor none of whose points has an err2 gets its first candidate's
/// first point.
std::vector<Choice> allocate_lagrangian(const std::vector<TensorPlan>& plans, const Budget& budget);

/// Σ of the chosen points' bytes (what the plan's estimate of the payloads is).
uint64_t planned_bytes(const std::vector<TensorPlan>& plans, const std::vector<Choice>& choices);

}  // namespace deltacodec
