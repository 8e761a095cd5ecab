// deltacodec — allocators (see allocate.hpp).
#include "pipeline/allocate.hpp"

#include <algorithm>

#include "deltacodec/error.hpp"

namespace deltacodec {

std::vector<Choice> allocate_fixed(const std::vector<TensorPlan>& plans, const Budget&) {
    std::vector<Choice> out(plans.size());
    for (size_t i = 0; i < plans.size(); ++i)
        if (plans[i].candidates.empty() || plans[i].candidates[0].curve.points.empty())
            throw Error("internal error: tensor '" + plans[i].in.ft->info->name + "' has no method to store it");
    return out;
}

namespace {

// One offer of a tensor: candidate c's point k, its bytes and weighted error.
struct Offer {
    size_t c = 0, k = 0;
    uint64_t bytes = 0;
    double d = 0;
};

// Every point of every candidate that carries an error, cheapest first (ties: less
// error first, then registry order); empty when none does.
std::vector<Offer> offers_of(const TensorPlan& plan) {
    std::vector<Offer> out;
    for (size_t c = 0; c < plan.candidates.size(); ++c) {
        const std::vector<RdPoint>& pts = plan.candidates[c].curve.points;
        for (size_t k = 0; k < pts.size(); ++k)
            if (pts[k].err2) out.push_back(Offer{c, k, pts[k].bytes, plan.weight * *pts[k].err2});
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const Offer& a, const Offer& b) { return a.bytes != b.bytes ? a.bytes < b.bytes : a.d < b.d; });
    return out;
}

// The lower convex hull of the offers (sorted by bytes): strictly less error for
// more bytes, and slopes that flatten.
std::vector<Offer> lower_hull(const std::vector<Offer>& offers) {
    std::vector<Offer> h;
    for (const Offer& o : offers) {
        if (!h.empty() && o.d >= h.back().d) continue;  // dominated: no less error for no fewer bytes
        while (h.size() >= 2) {
            const Offer &a = h[h.size() - 2], &b = h.back();
            // b lies on or above the segment a→o: not on the hull.
            const long double lhs = static_cast<long double>(a.d - b.d) * static_cast<long double>(o.bytes - a.bytes);
            const long double rhs = static_cast<long double>(a.d - o.d) * static_cast<long double>(b.bytes - a.bytes);
            if (lhs > rhs) break;
            h.pop_back();
        }
        h.push_back(o);
    }
    return h;
}

}  // namespace

std::vector<Choice> allocate_lagrangian(const std::vector<TensorPlan>& plans, const Budget& budget) {
    const size_t n = plans.size();
    std::vector<Choice> out(n);
    std::vector<std::vector<Offer>> offers(n), hulls(n);
    std::vector<size_t> at(n, 0);  // position on the hull
    std::vector<Offer> cur(n);     // the current choice's offer
    uint64_t used = 0;
    for (size_t i = 0; i < n; ++i) {
        offers[i] = offers_of(plans[i]);
        hulls[i] = lower_hull(offers[i]);
        if (hulls[i].empty()) {  // nothing measured: the first candidate's first point, whatever its error
            size_t c = 0;
            while (c < plans[i].candidates.size() && plans[i].candidates[c].curve.points.empty()) ++c;
            if (c == plans[i].candidates.size())
                throw Error("internal error: tensor '" + plans[i].in.ft->info->name + "' has no method to store it");
            cur[i] = Offer{c, 0, plans[i].candidates[c].curve.points[0].bytes, 0};
        } else {
            cur[i] = hulls[i][0];
        }
        used += cur[i].bytes;
    }
    // Equal slopes: every hull segment, steepest first; stop at the first that does not fit.
    struct Step {
        size_t i, j;  // tensor, hull point j → j + 1
        long double slope;
    };
    std::vector<Step> steps;
    for (size_t i = 0; i < n; ++i)
        for (size_t j = 0; j + 1 < hulls[i].size(); ++j) {
            const Offer &a = hulls[i][j], &b = hulls[i][j + 1];
            steps.push_back(
                Step{i, j, static_cast<long double>(a.d - b.d) / static_cast<long double>(b.bytes - a.bytes)});
        }
    std::stable_sort(steps.begin(), steps.end(), [](const Step& a, const Step& b) {
        if (a.slope != b.slope) return a.slope > b.slope;
        return a.i != b.i ? a.i < b.i : a.j < b.j;
    });
    for (const Step& s : steps) {
        if (at[s.i] != s.j) continue;  // an earlier segment of this tensor did not fit
        const Offer& next = hulls[s.i][s.j + 1];
        const uint64_t more = next.bytes - cur[s.i].bytes;
        if (used + more > budget.max_bytes) break;
        used += more;
        cur[s.i] = next;
        at[s.i] = s.j + 1;
    }
    // The budget left: the upgrade (any offer, hull or not) saving the most error
    // per byte that still fits, until none does.
    while (true) {
        size_t best_i = n;
        Offer best;
        long double best_gain = 0;
        for (size_t i = 0; i < n; ++i)
            for (const Offer& o : offers[i]) {
                if (o.bytes <= cur[i].bytes || o.d >= cur[i].d || used + (o.bytes - cur[i].bytes) > budget.max_bytes)
                    continue;
                const long double gain =
                    static_cast<long double>(cur[i].d - o.d) / static_cast<long double>(o.bytes - cur[i].bytes);
                if (best_i == n || gain > best_gain) best_i = i, best = o, best_gain = gain;
            }
        if (best_i == n) break;
        used += best.bytes - cur[best_i].bytes;
        cur[best_i] = best;
    }
    for (size_t i = 0; i < n; ++i) out[i] = Choice{cur[i].c, cur[i].k};
    return out;
}

uint64_t planned_bytes(const std::vector<TensorPlan>& plans, const std::vector<Choice>& choices) {
    uint64_t n = 0;
    for (size_t i = 0; i < plans.size(); ++i)
        n += plans[i].candidates.at(choices.at(i).candidate).curve.points.at(choices.at(i).point).bytes;
    return n;
}

}  // namespace deltacodec
