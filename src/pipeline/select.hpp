// deltacodec (internal) — compress's first stage, select: per tensor of the
// fine-tune, the ordered list of methods that may store it, from the registry's
// roles (MethodTraits::role) and the options; nothing is read from tensor data.
#pragma once

#include <regex>

#include "io/checkpoint.hpp"
#include "pipeline/allocate.hpp"

namespace deltacodec {

/// What select gives compress: a plan per fine-tune tensor (candidates in order,
/// curves not analysed yet), in the fine-tune's order.
struct Selection {
    std::vector<TensorPlan> plans;
    /// Base and fine-tune share a 2-D float tensor of the same name and shape.
    bool related = false;
};

/// The selection policy. A tensor is *selected* for lossy coding when it is a 2-D
/// float tensor of the base's shape, not empty, and (without --include) has at
/// least p² elements and a name outside kDefaultSkipPattern, or (with --include)
/// matches it; and does not match --exclude. A selected tensor is offered the
/// LOSSY methods `opt` chooses (`--method`: one, or under a rate target a list,
/// by default every lossy method: method_chosen()), then the LOSSLESS methods (reason
/// "non-finite": used when every lossy method declines), then WHOLE; any other
/// tensor the LOSSLESS methods (reason "selection"), then WHOLE with the reason
/// it is not a delta. Each group in registry order, each method only where
/// applicable().
class Selector {
public:
    /// Compiles the regexes and resolves the methods `opt` chooses; throws Error
    /// on a bad regex or a `--method` no lossy method answers to.
    explicit Selector(const CompressOptions& opt);
    Selection select(const Checkpoint& base, const Checkpoint& ft) const;

private:
    const CompressOptions& opt_;
    std::vector<const MethodTraits*> lossy_, lossless_, whole_;
    std::regex skip_, include_, exclude_;
};

}  // namespace deltacodec
