// deltacodec — allocators (see allocate.hpp).
#include "pipeline/allocate.hpp"

#include "deltacodec/error.hpp"

namespace deltacodec {

std::vector<Choice> allocate_fixed(const std::vector<TensorPlan>& plans, const Budget&) {
    std::vector<Choice> out(plans.size());
    for (size_t i = 0; i < plans.size(); ++i)
        if (plans[i].candidates.empty() || plans[i].candidates[0].curve.points.empty())
            throw Error("internal error: tensor '" + plans[i].in.ft->info->name + "' has no method to store it");
    return out;
}

uint64_t planned_bytes(const std::vector<TensorPlan>& plans, const std::vector<Choice>& choices) {
    uint64_t n = 0;
    for (size_t i = 0; i < plans.size(); ++i)
        n += plans[i].candidates.at(choices.at(i).candidate).curve.points.at(choices.at(i).point).bytes;
    return n;
}

}  // namespace deltacodec
