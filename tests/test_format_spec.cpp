// docs/FORMAT.md's code tables against src/format/spec.hpp (and the registries
// that hold the same codes): the document cannot drift from the code.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <sstream>

#include "codec/codec.hpp"
#include "codec/transform.hpp"
#include "format/spec.hpp"
#include "methods/method.hpp"
#include "testutil.hpp"

using namespace deltacodec;

namespace {

using Table = std::vector<std::vector<std::string>>;

std::string trim(const std::string& s) {
    const size_t a = s.find_first_not_of(" \t`"), b = s.find_last_not_of(" \t`");
    return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// "### Title" -> rows of its first markdown table, below "## Code tables".
std::map<std::string, Table> code_tables() {
    std::istringstream in(testutil::read_text(std::string(DELTACODEC_SOURCE_DIR) + "/docs/FORMAT.md"));
    std::map<std::string, Table> out;
    std::string line, title;
    bool in_section = false;
    while (std::getline(in, line)) {
        if (line.rfind("## ", 0) == 0) in_section = line == "## Code tables";
        if (!in_section) continue;
        if (line.rfind("### ", 0) == 0) {
            title = line.substr(4);
            continue;
        }
        if (title.empty() || line.empty() || line[0] != '|' || line.find("---") != std::string::npos) continue;
        std::vector<std::string> cells;
        std::istringstream row(line.substr(1));
        for (std::string c; std::getline(row, c, '|');) cells.push_back(trim(c));
        if (!cells.empty() && cells.back().empty()) cells.pop_back();
        if (cells.size() >= 2 && (cells[0] == "code" || cells[0] == "name")) continue;  // header row
        out[title].push_back(cells);
    }
    return out;
}

template <size_t N>
void expect_codes(const std::map<std::string, Table>& t, const std::string& title, const CodeName (&spec)[N]) {
    ASSERT_TRUE(t.count(title)) << "FORMAT.md has no table '" << title << "'";
    const Table& rows = t.at(title);
    ASSERT_EQ(rows.size(), N) << title;
    for (size_t i = 0; i < N; ++i) {
        EXPECT_EQ(std::stoull(rows[i].at(0), nullptr, 0), spec[i].code) << title << " row " << i;
        EXPECT_EQ(rows[i].at(1), spec[i].name) << title << " row " << i;
    }
}

}  // namespace

TEST(FormatSpec, CodeTablesMatchTheSpecHeader) {
    const auto t = code_tables();
    expect_codes(t, "Section types", kSectionTypeCodes);
    expect_codes(t, "Blob codecs", kBlobCodecCodes);
    expect_codes(t, "WHOLE reasons", kWholeReasonCodes);
    expect_codes(t, "PATCH transforms", kTransformCodes);
    expect_codes(t, "PATCH bands", kBandsCodes);
    expect_codes(t, "PATCH flag bits", kPatchFlagBits);
    expect_codes(t, "LOSSLESS plane codecs", kLosslessCodecCodes);
}

// The method code table is the registry: FORMAT.md's "Method ids" lists every
// registered method (its name in capitals), in id order, and nothing else.
TEST(FormatSpec, MethodIdTableMatchesTheRegistry) {
    const auto t = code_tables();
    ASSERT_TRUE(t.count("Method ids")) << "FORMAT.md has no table 'Method ids'";
    std::map<unsigned long long, std::string> doc;
    for (const auto& row : t.at("Method ids")) doc[std::stoull(row.at(0), nullptr, 0)] = row.at(1);
    for (const MethodTraits* m : method_table()) {
        const unsigned id = static_cast<unsigned>(m->id);
        std::string name(m->name);
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::toupper(c); });
        const std::string row = "| " + std::to_string(id) + " | " + name + " |";
        EXPECT_TRUE(doc.count(id) && doc.at(id) == name)
            << "docs/FORMAT.md, \"## Code tables\" > \"### Method ids\": add the row `" << row << "` for method '"
            << m->name << "' (src/methods/registry.cpp)"
            << (doc.count(id) ? ", replacing `| " + std::to_string(id) + " | " + doc.at(id) + " |`" : "");
        doc.erase(id);
    }
    for (const auto& [id, name] : doc)
        ADD_FAILURE() << "docs/FORMAT.md lists method id " << id << " (" << name
                      << ") which no row of method_table() (src/methods/registry.cpp) has: remove it, or move it "
                         "under \"Retired ids\"";
    // In id order, as the registry.
    unsigned prev = 0;
    for (size_t i = 0; i < method_table().size(); ++i) {
        const unsigned id = static_cast<unsigned>(method_table()[i]->id);
        EXPECT_TRUE(i == 0 || id > prev) << "method_table() is not in id order at '" << method_table()[i]->name << "'";
        prev = id;
    }
}

TEST(FormatSpec, SpecTablesMatchTheRegistries) {
    ASSERT_EQ(transform_table().size(), std::size(kTransformCodes));
    for (const CodeName& c : kTransformCodes)
        EXPECT_NE(find_transform(static_cast<TransformId>(c.code)), nullptr) << c.name;
    for (const CodeName& c : kBandsCodes) EXPECT_EQ(bands_name(static_cast<Bands>(c.code)), c.name);
}

TEST(FormatSpec, DtypeTableMatchesTheDtypeCodes) {
    const auto t = code_tables();
    ASSERT_TRUE(t.count("dtypes"));
    const Table& rows = t.at("dtypes");
    ASSERT_EQ(rows.size(), static_cast<size_t>(kNumDTypes)) << "FORMAT.md's dtype table and DType differ in length";
    for (size_t i = 0; i < rows.size(); ++i) {
        EXPECT_EQ(std::stoul(rows[i].at(0)), i);
        const auto dt = dtype_from_code(static_cast<uint8_t>(i));
        ASSERT_TRUE(dt) << i;
        EXPECT_EQ(dtype_name(*dt), rows[i].at(1)) << i;
    }
    EXPECT_FALSE(dtype_from_code(static_cast<uint8_t>(kNumDTypes)));
}

TEST(FormatSpec, LimitsTableMatchesTheSpecHeader) {
    const auto t = code_tables();
    ASSERT_TRUE(t.count("Fixed layouts and limits"));
    const std::map<std::string, uint64_t> spec = {{"kFileHeaderBytes", kFileHeaderBytes},
                                                  {"kSectionHeaderBytes", kSectionHeaderBytes},
                                                  {"kSectionChecksumBytes", kSectionChecksumBytes},
                                                  {"kBlobHeaderBytes", kBlobHeaderBytes},
                                                  {"kDcxMajor", kDcxMajor},
                                                  {"kDcxMinor", kDcxMinor},
                                                  {"kMaxHeaderJson", kMaxHeaderJson},
                                                  {"kMaxAuxFile", kMaxAuxFile},
                                                  {"kMaxNameBytes", kMaxNameBytes},
                                                  {"kMaxRank", kMaxRank},
                                                  {"kMaxZstdWindow", kMaxZstdWindow},
                                                  {"kZstdMaxRatio", kZstdMaxRatio},
                                                  {"kMinPatch", static_cast<uint64_t>(kMinPatch)},
                                                  {"kMaxPatch", static_cast<uint64_t>(kMaxPatch)},
                                                  {"kMaxCodeWidth", kMaxCodeWidth},
                                                  {"kMaxWidths", kMaxWidths},
                                                  {"kMaxLosslessChunk", kMaxLosslessChunk}};
    std::map<std::string, uint64_t> doc;
    for (const auto& row : t.at("Fixed layouts and limits")) doc[row.at(0)] = std::stoull(row.at(1), nullptr, 0);
    EXPECT_EQ(doc, spec);
}

// The fixed layouts, as a writer lays them out (a change here changes every file).
TEST(FormatSpec, FileHeaderBytesAreTheDocumentedOnes) {
    const std::vector<uint8_t> f =
        testutil::read_bytes(std::string(DELTACODEC_SOURCE_DIR) + "/tests/data/golden/tiny_default.dcx");
    ASSERT_GE(f.size(), kFileHeaderBytes + kSectionOverhead);
    EXPECT_TRUE(std::equal(kDcxMagic, kDcxMagic + 8, f.begin()));
    EXPECT_EQ(f[8] | (f[9] << 8), kDcxMajor);
    EXPECT_EQ(f[10] | (f[11] << 8), kDcxMinor);
    EXPECT_EQ(f[kFileHeaderBytes], static_cast<uint8_t>(SectionType::HEADER));
}
