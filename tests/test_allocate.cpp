// The rate-control allocator alone (src/pipeline/allocate.cpp), on synthetic
// rate–distortion curves: respects the budget, monotone in it, equal to brute
// force where the Lagrangian solution is exact, and the fixed allocator's rule.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

#include "pipeline/allocate.hpp"

using deltacodec::allocate_fixed;
using deltacodec::allocate_lagrangian;
using deltacodec::Budget;
using deltacodec::Candidate;
using deltacodec::Choice;
using deltacodec::planned_bytes;
using deltacodec::RdCurve;
using deltacodec::RdPoint;
using deltacodec::TensorPlan;

namespace {

RdPoint pt(uint64_t bytes, double err2) {
    RdPoint p;
    p.bytes = bytes;
    p.err2 = err2;
    return p;
}

// A tensor with one lossy candidate (points as given) and one lossless (err2 0).
TensorPlan tensor(std::vector<RdPoint> lossy, uint64_t lossless_bytes, double weight = 1) {
    TensorPlan t;
    t.candidates.push_back(Candidate{nullptr, {}, "", RdCurve{std::move(lossy)}});
    t.candidates.push_back(Candidate{nullptr, {}, "non-finite", RdCurve{{pt(lossless_bytes, 0)}}});
    t.weight = weight;
    return t;
}

double distortion(const std::vector<TensorPlan>& plans, const std::vector<Choice>& ch) {
    double d = 0;
    for (size_t i = 0; i < plans.size(); ++i)
        d += plans[i].weight * *plans[i].candidates[ch[i].candidate].curve.points[ch[i].point].err2;
    return d;
}

// The least distortion within the budget, by trying every combination.
double brute_force(const std::vector<TensorPlan>& plans, uint64_t budget) {
    double best = INFINITY;
    std::vector<Choice> ch(plans.size());
    std::function<void(size_t, uint64_t, double)> go = [&](size_t i, uint64_t bytes, double d) {
        if (bytes > budget) return;
        if (i == plans.size()) {
            best = std::min(best, d);
            return;
        }
        for (size_t c = 0; c < plans[i].candidates.size(); ++c)
            for (const RdPoint& p : plans[i].candidates[c].curve.points)
                go(i + 1, bytes + p.bytes, d + plans[i].weight * *p.err2);
    };
    go(0, 0, 0);
    return best;
}

// Convex curves: err2 = e0·2^(−2b) at b·n/8 bytes (the Gaussian bound's shape).
std::vector<TensorPlan> convex_plans() {
    std::vector<TensorPlan> plans;
    const double e0[] = {100, 10, 1};
    const uint64_t n[] = {1000, 4000, 2000};
    for (int t = 0; t < 3; ++t) {
        std::vector<RdPoint> pts;
        for (int b = 0; b <= 4; ++b) pts.push_back(pt(16 + n[t] * b / 8, e0[t] * std::pow(2.0, -2 * b)));
        plans.push_back(tensor(pts, 20 + n[t] * 2));
    }
    return plans;
}

}  // namespace

TEST(Allocate, LagrangianRespectsTheBudgetAndIsMonotone) {
    const std::vector<TensorPlan> plans = convex_plans();
    double last = INFINITY;
    for (uint64_t budget = 48; budget <= 15000; budget += 97) {
        const std::vector<Choice> ch = allocate_lagrangian(plans, Budget{budget});
        EXPECT_LE(planned_bytes(plans, ch), budget) << budget;
        const double d = distortion(plans, ch);
        EXPECT_LE(d, last + 1e-12) << "more bytes, more error at " << budget;
        last = d;
    }
    // Enough for everything lossless: no error at all.
    const std::vector<Choice> all = allocate_lagrangian(plans, Budget{1u << 30});
    EXPECT_EQ(distortion(plans, all), 0.0);
}

// Caught on allocate_fixed: it ignores the budget and the curves. Convex curves
// with equal byte steps (a tensor's next bit costs the same bytes whichever
// tensor it is): equal slopes then reach the brute-force optimum at every budget.
TEST(Allocate, LagrangianReachesTheBruteForceOptimumOnConvexCurves) {
    std::vector<TensorPlan> plans;
    for (double e0 : {100.0, 10.0, 1.0, 30.0}) {
        TensorPlan t;
        std::vector<RdPoint> pts;
        for (int b = 0; b <= 5; ++b) pts.push_back(pt(16 + 250 * b, e0 * std::pow(2.0, -2 * b)));
        t.candidates.push_back(Candidate{nullptr, {}, "", RdCurve{pts}});
        plans.push_back(t);
    }
    for (uint64_t budget = 64; budget <= 5100; budget += 37) {
        const std::vector<Choice> ch = allocate_lagrangian(plans, Budget{budget});
        EXPECT_LE(planned_bytes(plans, ch), budget);
        EXPECT_NEAR(distortion(plans, ch), brute_force(plans, budget), 1e-12) << budget;
    }
    const std::vector<Choice> fixed = allocate_fixed(plans, Budget{2000});
    EXPECT_GT(distortion(plans, fixed), brute_force(plans, 2000));
}

// Random tiny cases (3 tensors, 4 lossy points and a lossless one each, weights):
// never over the budget, never better than brute force (a check of the test), and
// mostly equal to it (the Lagrangian solution is optimal at its own rate; the
// greedy fill of the rest is a heuristic).
TEST(Allocate, LagrangianMatchesBruteForceOnRandomTinyCases) {
    std::mt19937 rng(7);
    int feasible = 0, exact = 0;
    double worst = 1;
    for (int trial = 0; trial < 300; ++trial) {
        std::vector<TensorPlan> plans;
        for (int t = 0; t < 3; ++t) {
            std::vector<RdPoint> pts;
            uint64_t b = 10 + rng() % 50;
            double e = 50 + rng() % 500;
            for (int k = 0; k < 4; ++k) {
                pts.push_back(pt(b, e));
                b += 1 + rng() % 200;
                e *= 0.2 + 0.6 * (rng() % 1000) / 1000.0;
            }
            plans.push_back(tensor(pts, b + rng() % 400, 0.5 + (rng() % 4)));
        }
        const uint64_t budget = 40 + rng() % 2000;
        const std::vector<Choice> ch = allocate_lagrangian(plans, Budget{budget});
        const double best = brute_force(plans, budget);
        if (std::isinf(best)) continue;  // below the cheapest: the next test
        ++feasible;
        ASSERT_LE(planned_bytes(plans, ch), budget);
        const double d = distortion(plans, ch);
        EXPECT_GE(d, best - 1e-9);
        exact += d <= best + 1e-9 * std::max(1.0, best);
        worst = std::max(worst, d / std::max(best, 1e-300));
    }
    EXPECT_GE(feasible, 250);
    EXPECT_GE(exact, feasible * 8 / 10) << "worst ratio " << worst;
}

TEST(Allocate, LagrangianBelowTheCheapestGivesTheCheapestPoints) {
    const std::vector<TensorPlan> plans = convex_plans();
    const std::vector<Choice> ch = allocate_lagrangian(plans, Budget{10});
    EXPECT_EQ(planned_bytes(plans, ch), 48u);  // 16 bytes each: the "0 bits" points
    for (const Choice& c : ch) {
        EXPECT_EQ(c.candidate, 0u);
        EXPECT_EQ(c.point, 0u);
    }
}

// A lossy candidate that declined in analyse (an empty curve) is skipped; the
// weight scales a tensor's error against the others'.
TEST(Allocate, LagrangianSkipsEmptyCurvesAndHonoursWeights) {
    std::vector<TensorPlan> plans = convex_plans();
    plans[0].candidates[0].curve.points.clear();
    std::vector<Choice> ch = allocate_lagrangian(plans, Budget{1u << 30});
    EXPECT_EQ(ch[0].candidate, 1u);
    // Two equal tensors and room to upgrade one: the heavier one gets the bytes.
    std::vector<TensorPlan> two = {tensor({pt(10, 100), pt(110, 1)}, 100000, 1),
                                   tensor({pt(10, 100), pt(110, 1)}, 100000, 3)};
    ch = allocate_lagrangian(two, Budget{130});
    EXPECT_EQ(ch[0].point, 0u);
    EXPECT_EQ(ch[1].point, 1u);
    two[0].weight = 5;
    ch = allocate_lagrangian(two, Budget{130});
    EXPECT_EQ(ch[0].point, 1u);
    EXPECT_EQ(ch[1].point, 0u);
}
