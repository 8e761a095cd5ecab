// The method registry: ids explicit, unique and as FORMAT.md lists them; a record
// written by a method this reader does not know is refused by name.
#include <gtest/gtest.h>

#include <set>

#include "deltacodec/deltacodec.hpp"
#include "format/container.hpp"
#include "methods/method.hpp"
#include "pipeline/select.hpp"
#include "testutil.hpp"

using namespace deltacodec;
using namespace testutil;

namespace {
const std::string kGolden = std::string(DELTACODEC_SOURCE_DIR) + "/tests/data/golden";

// Offset of the first TENSOR section's payload in a .dcx image.
uint64_t first_tensor_payload(const std::vector<uint8_t>& f, uint64_t& len) {
    uint64_t pos = kFileHeaderBytes;
    while (pos + kSectionOverhead <= f.size()) {
        uint32_t type = 0;
        for (int i = 3; i >= 0; --i) type = (type << 8) | f[pos + i];
        len = 0;
        for (int i = 7; i >= 0; --i) len = (len << 8) | f[pos + 8 + i];
        if (type == static_cast<uint32_t>(SectionType::TENSOR)) return pos + kSectionHeaderBytes;
        pos += kSectionOverhead + len;
    }
    return 0;
}
}  // namespace

TEST(Methods, RegistryIdsAreUniqueAndMatchTheSpec) {
    const auto& table = method_table();
    std::set<unsigned> ids;
    std::set<std::string_view> names;
    for (size_t i = 0; i < table.size(); ++i) {
        const MethodTraits* m = table[i];
        EXPECT_TRUE(ids.insert(static_cast<unsigned>(m->id)).second) << m->name;
        EXPECT_TRUE(names.insert(m->name).second) << m->name;
        EXPECT_EQ(find_method(static_cast<uint8_t>(m->id)), m);
        EXPECT_EQ(find_method(m->name), m);
        EXPECT_TRUE(m->applicable && m->analyse && m->encode && m->parse) << m->name;
        EXPECT_EQ(m->lossy(), !method_values(*m).empty()) << m->name << ": a lossy method answers to --method";
    }
    // The v1.0 ids keep their meaning.
    EXPECT_EQ(find_method(0)->name, "patch");
    EXPECT_EQ(find_method(1)->name, "exact_delta");
    EXPECT_EQ(find_method(2)->name, "whole");
    EXPECT_EQ(find_method(static_cast<uint8_t>(*ids.rbegin() + 1)), nullptr);
    EXPECT_EQ(find_method(255), nullptr);
}

// Old behaviour: the reader said "unknown record kind", naming neither the id nor why.
TEST(Methods, UnknownMethodIdIsRefusedByName) {
    std::vector<uint8_t> f = read_bytes(kGolden + "/tiny_default.dcx");
    uint64_t len = 0;
    const uint64_t off = first_tensor_payload(f, len);
    ASSERT_GT(off, 0u);
    const uint16_t name_len = static_cast<uint16_t>(f[off] | (f[off + 1] << 8));
    f[off + 2 + name_len] = 250;  // the method byte (no method has it)
    const uint64_t h = xxh3(f.data() + off, len);
    for (int i = 0; i < 8; ++i) f[off + len + i] = static_cast<uint8_t>(h >> (8 * i));
    TempDir dir;
    write_bytes(dir / "new.dcx", f);
    try {
        info(dir / "new.dcx");
        FAIL() << "info accepted an unknown method id";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("unknown method id 250 (written by a newer deltacodec?)"),
                  std::string::npos)
            << e.what();
    }
    try {
        decompress(kGolden + "/tiny_base.safetensors", dir / "new.dcx", dir / "out.safetensors", {});
        FAIL() << "decompress accepted an unknown method id";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("unknown method id 250"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(dir / "out.safetensors"));
}

// Every method's analyse() gives at least one point, and the lossless ones say
// they lose nothing; applicable() agrees with what compress chose for each tensor.
TEST(Methods, AnalyseGivesPointsAndApplicableMatchesTheGoldenChoices) {
    const Checkpoint base = Checkpoint::open(kGolden + "/tiny_base.safetensors");
    const Checkpoint ft = Checkpoint::open(kGolden + "/tiny_ft.safetensors");
    const DcxInfo in = info(kGolden + "/tiny_default.dcx");
    CompressOptions opt;
    size_t checked = 0;
    for (const DcxTensor& t : in.tensors) {
        TensorInput ti;
        ti.ft = ft.find(t.name);
        ti.base = base.find(t.name);
        ASSERT_NE(ti.ft, nullptr) << t.name;
        for (const MethodTraits* m : method_table()) {
            if (m->kind == t.kind) {
                EXPECT_TRUE(m->applicable(ti)) << m->name << " " << t.name;
            }
            if (!m->applicable(ti)) continue;
            const RdCurve c = m->analyse(ti, opt);
            ASSERT_FALSE(c.points.empty()) << m->name;
            EXPECT_GT(c.points[0].bytes, 0u) << m->name;
            if (!m->lossy()) {
                EXPECT_EQ(c.points[0].err2.value_or(-1), 0.0) << m->name;
            }
            ++checked;
        }
        EXPECT_TRUE(method(MethodId::WHOLE).applicable(ti));
    }
    EXPECT_GT(checked, in.tensors.size());
}

// The fixed allocator (today's rule) takes each tensor's first candidate at its
// first point, whatever else the curves offer; a tensor with no candidate is an error.
TEST(Methods, FixedAllocatorTakesTheConfiguredPoint) {
    const Checkpoint ft = Checkpoint::open(kGolden + "/tiny_ft.safetensors");
    std::vector<TensorPlan> plans;
    for (const TensorRef& t : ft.tensors()) {
        TensorPlan p;
        p.in.ft = &t;
        RdCurve several{{RdPoint{100, 5.0, 0}, RdPoint{50, 9.0, 1}, RdPoint{10, 40.0, 2}}};
        p.candidates.push_back(Candidate{&method(MethodId::PATCH), WholeReason::NEW, "", several});
        p.candidates.push_back(
            Candidate{&method(MethodId::WHOLE), WholeReason::NEW, "x", RdCurve{{RdPoint{7, 0.0, 0}}}});
        plans.push_back(std::move(p));
    }
    ASSERT_FALSE(plans.empty());
    const std::vector<Choice> c = allocate_fixed(plans, Budget{1});
    ASSERT_EQ(c.size(), plans.size());
    for (const Choice& x : c) {
        EXPECT_EQ(x.candidate, 0u);
        EXPECT_EQ(x.point, 0u);
    }
    EXPECT_EQ(planned_bytes(plans, c), 100u * plans.size());
    plans[0].candidates.clear();
    EXPECT_THROW(allocate_fixed(plans, Budget{}), Error);
}

// Select (src/pipeline/select.cpp) is driven by the registry's roles: a selected
// tensor gets the chosen lossy method, then the lossless one ("non-finite"), then
// whole; any other tensor lossless ("selection") then whole. What it selects is
// what the golden file coded.
TEST(Select, OffersChosenLossyThenLosslessThenWhole) {
    const Checkpoint base = Checkpoint::open(kGolden + "/tiny_base.safetensors");
    const Checkpoint ft = Checkpoint::open(kGolden + "/tiny_ft.safetensors");
    const DcxInfo in = info(kGolden + "/tiny_default.dcx");
    const CompressOptions opt;
    const Selection sel = Selector(opt).select(base, ft);
    EXPECT_TRUE(sel.related);
    ASSERT_EQ(sel.plans.size(), in.tensors.size());
    size_t coded = 0;
    for (size_t i = 0; i < sel.plans.size(); ++i) {
        const TensorPlan& p = sel.plans[i];
        ASSERT_EQ(p.in.ft->info->name, in.tensors[i].name);
        ASSERT_FALSE(p.candidates.empty());
        EXPECT_EQ(p.candidates[0].method->kind, in.tensors[i].kind) << in.tensors[i].name;
        EXPECT_EQ(p.candidates.back().method->role, MethodRole::WHOLE) << in.tensors[i].name;
        for (size_t c = 1; c < p.candidates.size(); ++c)
            EXPECT_LE(static_cast<int>(p.candidates[c - 1].method->role),
                      static_cast<int>(p.candidates[c].method->role));
        if (p.candidates[0].method->lossy()) {
            ++coded;
            EXPECT_EQ(p.candidates[0].method->name, "patch");
            EXPECT_EQ(p.candidates[0].reason, "");
            for (size_t c = 1; c < p.candidates.size(); ++c) EXPECT_EQ(p.candidates[c].reason, "non-finite");
        } else {
            for (const Candidate& c : p.candidates) EXPECT_FALSE(c.method->lossy()) << in.tensors[i].name;
        }
    }
    EXPECT_EQ(coded, in.count("coded"));
    CompressOptions bad;
    bad.method = "no-such-method";
    try {
        Selector s(bad);
        FAIL() << "an unknown method was accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("--method 'no-such-method' is not one of dct, dwt"), std::string::npos)
            << e.what();
    }
}
