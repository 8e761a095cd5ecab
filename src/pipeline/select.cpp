// deltacodec — compress's selection (select.hpp).
#include "pipeline/select.hpp"

#include "deltacodec/deltacodec.hpp"

namespace deltacodec {
namespace {

// `keyword`: the option the expression came from (nullptr: the built-in rule).
std::regex make_regex(const std::string& re, const char* keyword) {
    try {
        return std::regex(re, std::regex::ECMAScript | std::regex::icase);
    } catch (const std::regex_error&) {
        if (!keyword) throw Error("bad built-in regular expression '" + re + "'");
        throw option_error(*find_option_by_keyword(keyword), re, "is not a valid regular expression");
    }
}

}  // namespace

Selector::Selector(const CompressOptions& opt)
    : opt_(opt),
      skip_(make_regex(kDefaultSkipPattern, nullptr)),
      include_(make_regex(opt.include.empty() ? "." : opt.include, "include")),
      exclude_(make_regex(opt.exclude.empty() ? "." : opt.exclude, "exclude")) {
    for (const MethodTraits* m : method_table()) {
        if (m->role == MethodRole::LOSSY && !method_chosen(*m, opt).empty()) lossy_.push_back(m);
        if (m->role == MethodRole::LOSSLESS && lossless_offered(*m, opt)) lossless_.push_back(m);
        if (m->role == MethodRole::WHOLE) whole_.push_back(m);
    }
    if (lossy_.empty()) refuse_method(opt.method);
}

Selection Selector::select(const Checkpoint& base, const Checkpoint& ft) const {
    Selection out;
    const bool has_inc = !opt_.include.empty(), has_exc = !opt_.exclude.empty();
    const uint64_t p2 = static_cast<uint64_t>(opt_.codec.patch) * opt_.codec.patch;
    for (const TensorRef& t : ft.tensors()) {
        const TensorInfo& fi = *t.info;
        TensorPlan plan;
        plan.in.ft = &t;
        plan.in.base = base.find(fi.name);
        // Why it would be stored whole, were it not a delta.
        WholeReason why = WholeReason::NEW;
        const char* why_s = "new";
        bool selected = false;
        if (const TensorRef* b = plan.in.base) {
            const TensorInfo& bi = *b->info;
            const bool floats = dtype_is_compressible(fi.dtype) && dtype_is_compressible(bi.dtype);
            if (bi.shape != fi.shape) {
                why = WholeReason::RESHAPED, why_s = "reshaped";
            } else {
                if (fi.shape.size() == 2 && floats) out.related = true;
                selected = floats && fi.shape.size() == 2 && fi.numel() > 0;
                if (selected) {
                    if (has_inc)
                        selected = std::regex_search(fi.name, include_);
                    else
                        selected = fi.numel() >= p2 && !std::regex_search(fi.name, skip_);
                    if (has_exc && std::regex_search(fi.name, exclude_)) selected = false;
                }
                if (!dtype_is_compressible(fi.dtype))
                    why = WholeReason::NOT_FLOAT, why_s = "not-float";
                else
                    why = WholeReason::DTYPE_CHANGED, why_s = "dtype";
            }
        }
        auto offer = [&](const std::vector<const MethodTraits*>& group, WholeReason w, const std::string& reason) {
            TensorInput in = plan.in;
            in.why = w;
            for (const MethodTraits* m : group)
                if (m->applicable(in)) plan.candidates.push_back(Candidate{m, w, reason, {}});
        };
        if (selected) {
            // A lossy method declines a delta holding NaN or infinity: then lossless.
            offer(lossy_, why, "");
            offer(lossless_, why, "non-finite");
            offer(whole_, WholeReason::DTYPE_CHANGED, "non-finite");
        } else {
            offer(lossless_, why, "selection");
            offer(whole_, why, why_s);
        }
        out.plans.push_back(std::move(plan));
    }
    return out;
}

}  // namespace deltacodec
