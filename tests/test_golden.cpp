// Golden bytes: .dcx files written by an earlier release (tests/data/golden/MANIFEST)
// must still rebuild to identical bytes, and compressing their inputs with the same
// options must still give identical .dcx bytes.
#include <cstdio>
#include <sstream>

#include "testutil.hpp"

namespace {
using namespace testutil;

const std::string kGolden = std::string(DELTACODEC_SOURCE_DIR) + "/tests/data/golden";

struct GoldenCase {
    std::string name, base, ft;
    std::vector<std::string> options;
    std::vector<std::pair<std::string, std::string>> rebuilt;  // file (empty: single) -> sha256
};

std::vector<GoldenCase> load_manifest() {
    std::vector<GoldenCase> out;
    std::istringstream in(read_text(kGolden + "/MANIFEST"));
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::vector<std::string> f;
        size_t pos = 0;
        for (;;) {
            const size_t bar = line.find('|', pos);
            f.push_back(line.substr(pos, bar == std::string::npos ? std::string::npos : bar - pos));
            if (bar == std::string::npos) break;
            pos = bar + 1;
        }
        EXPECT_EQ(f.size(), 5u) << line;
        if (f.size() != 5) continue;
        GoldenCase c{f[0], kGolden + "/" + f[1], kGolden + "/" + f[2], {}, {}};
        std::istringstream opts(f[3]);
        for (std::string o; opts >> o;) c.options.push_back(o);
        std::istringstream files(f[4]);
        for (std::string item; std::getline(files, item, ',');) {
            const size_t eq = item.find('=');
            if (eq == std::string::npos)
                c.rebuilt.emplace_back("", item);
            else
                c.rebuilt.emplace_back(item.substr(0, eq), item.substr(eq + 1));
        }
        out.push_back(std::move(c));
    }
    return out;
}

std::string sha256(const std::string& path) {
    const std::string cmd = "sha256sum " + shell_quote(path);
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return "";
    char buf[128] = {};
    const size_t n = std::fread(buf, 1, 64, p);
    pclose(p);
    return std::string(buf, n);
}

TEST(Golden, ManifestHasCases) { EXPECT_GE(load_manifest().size(), 5u); }

TEST(Golden, OldFilesRebuildToIdenticalBytes) {
    for (const GoldenCase& c : load_manifest()) {
        TempDir tmp;
        const std::string out = tmp / "out";
        const RunResult r = run_cli({"decompress", c.base, kGolden + "/" + c.name + ".dcx", "-o", out, "-q"}, tmp.path());
        ASSERT_EQ(r.rc, 0) << c.name << ": " << r.err;
        for (const auto& [file, hash] : c.rebuilt)
            EXPECT_EQ(sha256(file.empty() ? out : out + "/" + file), hash) << c.name << " " << file;
    }
}

TEST(Golden, SameInputsAndOptionsGiveIdenticalBytes) {
    for (const GoldenCase& c : load_manifest()) {
        TempDir tmp;
        std::vector<std::string> args = {"compress", c.base, c.ft, "-o", tmp / "new.dcx", "-q"};
        args.insert(args.end(), c.options.begin(), c.options.end());
        const RunResult r = run_cli(args, tmp.path());
        ASSERT_EQ(r.rc, 0) << c.name << ": " << r.err;
        EXPECT_TRUE(read_bytes(tmp / "new.dcx") == read_bytes(kGolden + "/" + c.name + ".dcx")) << c.name;
    }
}

}  // namespace
