// End-to-end tests through the CLI binary: compress → decompress → compare.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "deltacodec/error.hpp"
#include "io/checkpoint.hpp"
#include "testutil.hpp"

using namespace deltacodec;
using namespace testutil;
using json = nlohmann::json;

namespace {

// A synthetic base / fine-tune pair covering every kind of tensor record.
struct Pair {
    std::vector<T> base, ft;
};

Pair make_pair_tensors(uint32_t seed = 7) {
    Pair p;
    auto coded = [&](const std::string& name, DType bdt, DType fdt, uint64_t r, uint64_t c, uint32_t s) {
        const auto b = gaussian(r * c, 0.05, seed + s);
        p.base.push_back(make_tensor(name, bdt, {r, c}, b));
        p.ft.push_back(make_tensor(name, fdt, {r, c}, perturb(b, r, c, 0.004, seed + s + 100)));
    };
    coded("encoder.layer.0.attention.query.weight", DType::F16, DType::F16, 128, 192, 1);
    coded("encoder.layer.0.output.dense.weight", DType::F32, DType::F32, 100, 70, 2);
    coded("encoder.layer.0.mixed.weight", DType::BF16, DType::F16, 128, 128, 3);  // dtype changes
    {  // skipped by the default rule (norm), 1-D: lossless delta
        const auto b = gaussian(192, 1.0, seed + 4);
        p.base.push_back(make_tensor("encoder.layer.0.output.LayerNorm.weight", DType::F16, {192}, b));
        p.ft.push_back(make_tensor("encoder.layer.0.output.LayerNorm.weight", DType::F16, {192},
                                   perturb(b, 1, 192, 0.01, seed + 104)));
    }
    {  // 2-D but skipped by name (embed): lossless delta
        const auto b = gaussian(64 * 96, 0.05, seed + 5);
        p.base.push_back(make_tensor("embeddings.word_embeddings.weight", DType::BF16, {64, 96}, b));
        p.ft.push_back(make_tensor("embeddings.word_embeddings.weight", DType::BF16, {64, 96},
                                   perturb(b, 64, 96, 0.004, seed + 105)));
    }
    {  // integers: carried exactly (changed in the fine-tune)
        std::vector<double> ids(50), ids2(50);
        for (int i = 0; i < 50; ++i) ids[i] = i, ids2[i] = (i * 7919) % 50 - 3000000000.0 * (i % 2);
        p.base.push_back(make_tensor("position_ids", DType::I64, {1, 50}, ids));
        p.ft.push_back(make_tensor("position_ids", DType::I64, {1, 50}, ids2));
    }
    p.base.push_back(make_tensor("scalar.temperature", DType::F32, {}, {1.5}));
    p.ft.push_back(make_tensor("scalar.temperature", DType::F32, {}, {1.625}));
    p.base.push_back(make_tensor("empty.bias", DType::F32, {0}, {}));
    p.ft.push_back(make_tensor("empty.bias", DType::F32, {0}, {}));
    // only in the base: dropped
    p.base.push_back(make_tensor("pooler.dense.weight", DType::F16, {32, 32}, gaussian(1024, 0.05, seed + 6)));
    // shape changed: stored whole
    p.base.push_back(make_tensor("resized.weight", DType::F32, {32, 16}, gaussian(512, 0.05, seed + 7)));
    p.ft.push_back(make_tensor("resized.weight", DType::F32, {48, 16}, gaussian(768, 0.05, seed + 8)));
    // dtype changed on a 1-D tensor: stored whole
    p.base.push_back(make_tensor("dtype.bias", DType::F32, {16}, gaussian(16, 0.05, seed + 9)));
    p.ft.push_back(make_tensor("dtype.bias", DType::F16, {16}, gaussian(16, 0.05, seed + 9)));
    // only in the fine-tune: stored whole
    p.ft.push_back(make_tensor("classifier.weight", DType::F32, {10, 128}, gaussian(1280, 0.05, seed + 10)));
    return p;
}

const std::set<std::string> kCodedNames = {"encoder.layer.0.attention.query.weight",
                                           "encoder.layer.0.output.dense.weight", "encoder.layer.0.mixed.weight"};

double rel_err(const std::vector<double>& base, const std::vector<double>& ft, const std::vector<double>& rebuilt) {
    double e = 0, r = 0;
    for (size_t i = 0; i < base.size(); ++i) {
        const double d = ft[i] - base[i], dh = rebuilt[i] - base[i];
        e += (dh - d) * (dh - d);
        r += d * d;
    }
    return r > 0 ? std::sqrt(e / r) : 0.0;
}

struct Verified {
    size_t coded = 0, exact = 0;
    double err2 = 0, ref2 = 0;  // over coded tensors, recomputed from the rebuilt file
};

// Compares a rebuilt checkpoint with the fine-tune: same layout, names, dtypes, shapes, order;
// lossless tensors bit-exact; coded ones within their reported error. `report` may be null.
// `below_one`: also require each coded tensor's relative error < 1 (the rebuilt delta beats no delta).
Verified verify(const std::string& base_path, const std::string& ft_path, const std::string& out_path,
                const json* report, bool below_one = true) {
    Verified v;
    const Checkpoint base = Checkpoint::open(base_path), ft = Checkpoint::open(ft_path),
                     out = Checkpoint::open(out_path);
    EXPECT_EQ(out.is_directory(), ft.is_directory());
    EXPECT_EQ(out.shards().size(), ft.shards().size());
    for (size_t i = 0; i < std::min(out.shards().size(), ft.shards().size()); ++i) {
        if (ft.is_directory()) {
            EXPECT_EQ(out.shards()[i].file, ft.shards()[i].file);
        }
        EXPECT_EQ(out.shards()[i].st.metadata(), ft.shards()[i].st.metadata());
    }
    std::map<std::string, json> rep;
    if (report)
        for (const json& t : (*report)["tensors"]) rep[t["name"].get<std::string>()] = t;
    EXPECT_EQ(out.tensors().size(), ft.tensors().size());
    for (size_t i = 0; i < std::min(out.tensors().size(), ft.tensors().size()); ++i) {
        const TensorInfo& o = *out.tensors()[i].info;
        const TensorInfo& f = *ft.tensors()[i].info;
        EXPECT_EQ(o.name, f.name);
        EXPECT_EQ(o.dtype, f.dtype) << f.name;
        EXPECT_EQ(o.shape, f.shape) << f.name;
        if (o.name != f.name || o.dtype != f.dtype || o.shape != f.shape) continue;
        const bool coded = report ? rep.at(f.name)["kind"] == "coded" : kCodedNames.count(f.name) > 0;
        if (!coded) {
            ++v.exact;
            EXPECT_EQ(std::memcmp(out.tensors()[i].data(), ft.tensors()[i].data(), f.nbytes()), 0)
                << f.name << " is not bit-exact";
            continue;
        }
        ++v.coded;
        const TensorRef* b = base.find(f.name);
        EXPECT_NE(b, nullptr);
        if (!b) continue;
        const auto bv = decode(b->info->dtype, b->data(), b->info->numel());
        const auto fv = decode(f.dtype, ft.tensors()[i].data(), f.numel());
        const auto ov = decode(o.dtype, out.tensors()[i].data(), o.numel());
        const double re = rel_err(bv, fv, ov);
        for (size_t k = 0; k < bv.size(); ++k) {
            const double d = fv[k] - bv[k], dh = ov[k] - bv[k];
            v.err2 += (dh - d) * (dh - d);
            v.ref2 += d * d;
        }
        if (below_one) {
            EXPECT_LT(re, 1.0) << f.name;
        }
        EXPECT_TRUE(std::isfinite(re)) << f.name;
        if (report) {
            const double stated = rep.at(f.name)["rel_error"].get<double>();
            // Rounding the rebuilt weights to the output dtype adds a little error on top.
            EXPECT_NEAR(re, stated, 0.01 + 0.03 * stated) << f.name;
        }
    }
    return v;
}

class Cli : public ::testing::Test {
protected:
    TempDir dir;
    std::string base_path, ft_path;

    void SetUp() override {
        const Pair p = make_pair_tensors();
        base_path = dir / "base.safetensors";
        ft_path = dir / "ft.safetensors";
        write_safetensors(base_path, p.base, Metadata{{"format", "pt"}});
        write_safetensors(ft_path, p.ft, Metadata{{"format", "pt"}, {"fine_tuned", "yes"}});
    }

    RunResult cli(const std::vector<std::string>& args) { return run_cli(args, dir.path()); }

    // compress with `opts`, decompress, verify; returns the report.
    json round_trip(const std::vector<std::string>& opts, const std::string& tag, bool below_one = true) {
        const std::string dcx = dir / (tag + ".dcx"), out = dir / (tag + ".safetensors"), rep = dir / (tag + ".json");
        std::vector<std::string> args = {"compress", base_path, ft_path, "-o", dcx, "--report", rep, "-q"};
        args.insert(args.end(), opts.begin(), opts.end());
        const RunResult c = cli(args);
        EXPECT_EQ(c.rc, 0) << tag << ": " << c.err;
        EXPECT_EQ(c.err, "") << tag;
        if (c.rc != 0) return json();
        const RunResult d = cli({"decompress", base_path, dcx, "-o", out, "-q"});
        EXPECT_EQ(d.rc, 0) << tag << ": " << d.err;
        if (d.rc != 0) return json();
        const json r = json::parse(read_text(rep));
        const Verified v = verify(base_path, ft_path, out, &r, below_one);
        EXPECT_EQ(v.coded, 3u) << tag;
        EXPECT_EQ(r["summary"]["tensors_compressed"], 3) << tag;
        const double total = v.ref2 > 0 ? std::sqrt(v.err2 / v.ref2) : 0;
        EXPECT_NEAR(total, r["summary"]["rel_error"].get<double>(), 0.01 + 0.03 * total) << tag;
        if (below_one) {
            EXPECT_LT(r["summary"]["rel_error"].get<double>(), 1.0) << tag;
        }
        EXPECT_GT(r["summary"]["rel_error"].get<double>(), 0.0) << tag;  // lossy: something was lost
        EXPECT_EQ(r["summary"]["dcx_bytes"].get<uint64_t>(), fs::file_size(dcx)) << tag;
        fs::remove(dcx);
        fs::remove(out);
        fs::remove(rep);
        return r;
    }
};

}  // namespace

TEST_F(Cli, DefaultRoundTripAndRecordKinds) {
    const RunResult c = cli({"compress", base_path, ft_path, "-o", dir / "a.dcx", "--report", dir / "a.json", "-v"});
    ASSERT_EQ(c.rc, 0) << c.err;
    // The summary lists the base-only tensor and the tensors stored whole.
    EXPECT_NE(c.out.find("pooler.dense.weight"), std::string::npos) << c.out;
    EXPECT_NE(c.out.find("dropped"), std::string::npos) << c.out;
    EXPECT_NE(c.out.find("classifier.weight"), std::string::npos) << c.out;
    EXPECT_NE(c.out.find("3 compressed"), std::string::npos) << c.out;
    const json r = json::parse(read_text(dir / "a.json"));
    EXPECT_EQ(r["dropped_base_tensors"], json::array({"pooler.dense.weight"}));
    std::map<std::string, std::pair<std::string, std::string>> kinds;
    for (const json& t : r["tensors"]) kinds[t["name"]] = {t["kind"], t["reason"]};
    EXPECT_EQ(kinds.size(), make_pair_tensors().ft.size());
    for (const std::string& n : kCodedNames) EXPECT_EQ(kinds[n].first, "coded") << n;
    EXPECT_EQ(kinds["classifier.weight"], std::make_pair(std::string("whole"), std::string("new")));
    EXPECT_EQ(kinds["resized.weight"], std::make_pair(std::string("whole"), std::string("reshaped")));
    EXPECT_EQ(kinds["dtype.bias"], std::make_pair(std::string("whole"), std::string("dtype")));
    EXPECT_EQ(kinds["position_ids"], std::make_pair(std::string("whole"), std::string("not-float")));
    EXPECT_EQ(kinds["embeddings.word_embeddings.weight"].first, "exact");
    EXPECT_EQ(kinds["encoder.layer.0.output.LayerNorm.weight"].first, "exact");
    EXPECT_EQ(kinds["scalar.temperature"].first, "exact");
    EXPECT_EQ(kinds.count("pooler.dense.weight"), 0u);

    const RunResult d = cli({"decompress", base_path, dir / "a.dcx", "-o", dir / "out.safetensors"});
    ASSERT_EQ(d.rc, 0) << d.err;
    EXPECT_NE(d.out.find("rebuilt"), std::string::npos);
    const Verified v = verify(base_path, ft_path, dir / "out.safetensors", &r);
    EXPECT_EQ(v.coded, 3u);
    EXPECT_EQ(v.exact, make_pair_tensors().ft.size() - 3);
    const auto out = SafetensorsFile::open(dir / "out.safetensors");
    EXPECT_EQ(out.find("pooler.dense.weight"), nullptr);
    EXPECT_EQ(out.find("encoder.layer.0.mixed.weight")->dtype, DType::F16);  // the fine-tune's dtype
    EXPECT_EQ(out.find("resized.weight")->shape, (Shape{48, 16}));
}

TEST_F(Cli, EverySeedConfiguration) {
    for (const char* p : {"8", "16", "32", "64"})
        for (const char* bits : {"2:0.5,0:0.5", "4:0.5,0:0.5", "2:0.34,1:0.33,0:0.33", "4:0.34,2:0.33,0:0.33"}) {
            // The seed's min/max quantizer with a 1-bit tier rebuilds a delta worse than none (see
            // CliRange.MseNeverWorseThanNoDelta), so < 1 is only required of the others.
            const bool one_bit = std::string(bits).find("1:") != std::string::npos;
            const json r = round_trip({"--method", "dct", "--patch", p, "--bits", bits, "-T", "2"},
                                      std::string("dct_p") + p + "_" + bits, !one_bit);
            if (r.is_null()) continue;
            EXPECT_EQ(r["options"]["method"], "dct");
            EXPECT_EQ(r["options"]["patch"], std::atoi(p));
        }
    for (const char* bands : {"all", "ll_lh_hl", "ll_only"})
        for (const char* p : {"16", "64"}) {
            const json r =
                round_trip({"--method", "dwt", "--patch", p, "--bands", bands}, std::string("dwt_") + bands + p);
            if (!r.is_null()) {
                EXPECT_EQ(r["options"]["bands"], bands);
            }
        }
    const json j = round_trip({"--method", "dct", "--patch", "16", "--quant-table", "jpeg"}, "jpeg", false);
    if (!j.is_null()) {
        EXPECT_EQ(j["options"]["quant_table"], "jpeg");
    }
    const json q = round_trip({"--method", "dct", "--patch", "16", "--importance", "post"}, "post");
    if (!q.is_null()) {
        EXPECT_EQ(q["options"]["importance"], "post");
    }
    const json w =
        round_trip({"--method", "dwt", "--importance", "post", "--meta", "f32", "--entropy", "none"}, "misc");
    if (!w.is_null()) {
        EXPECT_EQ(w["options"]["meta"], "f32");
    }
}

TEST_F(Cli, MoreBitsLessError) {
    const json lo = round_trip({"--method", "dct", "--patch", "16", "--bits", "2:0.5,0:0.5"}, "lo");
    const json hi = round_trip({"--method", "dct", "--patch", "16", "--bits", "8:1"}, "hi");
    ASSERT_FALSE(lo.is_null());
    ASSERT_FALSE(hi.is_null());
    EXPECT_LT(hi["summary"]["rel_error"].get<double>(), 0.05);
    EXPECT_LT(hi["summary"]["rel_error"].get<double>(), lo["summary"]["rel_error"].get<double>());
    EXPECT_GT(hi["summary"]["dcx_bytes"].get<uint64_t>(), lo["summary"]["dcx_bytes"].get<uint64_t>());
}

TEST_F(Cli, OutputIndependentOfThreads) {
    for (const char* m : {"dct", "dwt"}) {
        const std::string a = dir / (std::string(m) + "1.dcx"), b = dir / (std::string(m) + "2.dcx");
        ASSERT_EQ(cli({"compress", base_path, ft_path, "-o", a, "-T", "1", "-q", "--method", m, "--patch", "16"}).rc,
                  0);
        ASSERT_EQ(cli({"compress", base_path, ft_path, "-o", b, "-T", "2", "-q", "--method", m, "--patch", "16"}).rc,
                  0);
        EXPECT_EQ(read_bytes(a), read_bytes(b)) << m;
        ASSERT_EQ(cli({"decompress", base_path, a, "-o", dir / "o1.safetensors", "-T", "1", "-q", "-f"}).rc, 0);
        ASSERT_EQ(cli({"decompress", base_path, a, "-o", dir / "o2.safetensors", "-T", "2", "-q", "-f"}).rc, 0);
        EXPECT_EQ(read_bytes(dir / "o1.safetensors"), read_bytes(dir / "o2.safetensors")) << m;
    }
}

TEST_F(Cli, InfoAndForce) {
    const std::string dcx = dir / "a.dcx";
    ASSERT_EQ(cli({"compress", base_path, ft_path, "-o", dcx, "-q", "--report", dir / "r.json"}).rc, 0);
    const RunResult i = cli({"info", dcx});
    ASSERT_EQ(i.rc, 0) << i.err;
    EXPECT_NE(i.out.find("checksums OK"), std::string::npos) << i.out;
    EXPECT_NE(i.out.find("3 coded"), std::string::npos) << i.out;
    const RunResult ij = cli({"info", "--json", dcx});
    ASSERT_EQ(ij.rc, 0) << ij.err;
    const json j = json::parse(ij.out);
    const json r = json::parse(read_text(dir / "r.json"));
    EXPECT_EQ(j["layout"], "file");
    EXPECT_EQ(j["bytes"].get<uint64_t>(), fs::file_size(dcx));
    EXPECT_EQ(j["dropped_base_tensors"], json::array({"pooler.dense.weight"}));
    ASSERT_EQ(j["tensors"].size(), r["tensors"].size());
    for (size_t k = 0; k < r["tensors"].size(); ++k) {
        EXPECT_EQ(j["tensors"][k]["name"], r["tensors"][k]["name"]);
        EXPECT_EQ(j["tensors"][k]["kind"], r["tensors"][k]["kind"]);
    }
    EXPECT_EQ(j["end"]["tensors"], r["tensors"].size());
    EXPECT_NEAR(j["end"]["stats"]["rel_error"].get<double>(), r["summary"]["rel_error"].get<double>(), 1e-9);
    // -f replaces an existing output; the report too.
    const auto before = read_bytes(dcx);
    const RunResult f = cli({"compress", base_path, ft_path, "-o", dcx, "-q", "-f", "--method", "dct", "--patch", "8",
                             "--report", dir / "r.json"});
    ASSERT_EQ(f.rc, 0) << f.err;
    EXPECT_NE(read_bytes(dcx), before);
    EXPECT_EQ(json::parse(read_text(dir / "r.json"))["options"]["method"], "dct");
    EXPECT_EQ(cli({"--version"}).rc, 0);
    EXPECT_EQ(cli({"compress", "--help"}).rc, 0);
}

TEST_F(Cli, ShardedDirectoryRoundTrip) {
    const Pair p = make_pair_tensors(11);
    auto write_dir = [](const std::string& d, const std::vector<T>& ts, bool is_ft) {
        fs::create_directories(d);
        const size_t half = ts.size() / 2;
        const std::string s1 = "model-00001-of-00002.safetensors", s2 = "model-00002-of-00002.safetensors";
        write_safetensors(d + "/" + s1, std::vector<T>(ts.begin(), ts.begin() + static_cast<long>(half)),
                          Metadata{{"format", "pt"}});
        write_safetensors(d + "/" + s2, std::vector<T>(ts.begin() + static_cast<long>(half), ts.end()),
                          Metadata{{"format", "pt"}});
        json idx = {{"metadata", {{"total_size", 4242}}}, {"weight_map", json::object()}};
        for (size_t i = 0; i < ts.size(); ++i) idx["weight_map"][ts[i].name] = i < half ? s1 : s2;
        write_text(d + "/model.safetensors.index.json", idx.dump(2) + "\n");
        write_text(d + "/config.json", is_ft ? "{\"num_labels\": 10,\n \"x\": \"é\"}\n" : "{\"num_labels\": 2}\n");
        std::string tok = "{\"vocab\": {";
        for (int i = 0; i < 3000; ++i) tok += "\"t" + std::to_string(i) + "\": " + std::to_string(i) + ",";
        tok += "\"end\": 0}}";
        write_text(d + "/tokenizer.json", tok);
        std::vector<uint8_t> bin(777);
        for (size_t i = 0; i < bin.size(); ++i) bin[i] = static_cast<uint8_t>(i * 31 + 7);
        write_bytes(d + "/special.bin", bin);  // arbitrary bytes, incompressible-ish
        write_text(d + "/empty.txt", "");
    };
    const std::string bd = dir / "base_dir", fd = dir / "ft_dir", od = dir / "out_dir";
    write_dir(bd, p.base, false);
    write_dir(fd, p.ft, true);
    const RunResult c = cli({"compress", bd, fd, "-o", dir / "d.dcx", "-q", "--report", dir / "d.json", "--method",
                             "dct", "--patch", "32"});
    ASSERT_EQ(c.rc, 0) << c.err;
    const RunResult i = cli({"info", "--json", dir / "d.dcx"});
    ASSERT_EQ(i.rc, 0) << i.err;
    const json ij = json::parse(i.out);
    EXPECT_EQ(ij["layout"], "directory");
    EXPECT_EQ(ij["shards"], 2);
    EXPECT_EQ(ij["files"].size(), 5u);
    const RunResult d = cli({"decompress", bd, dir / "d.dcx", "-o", od});
    ASSERT_EQ(d.rc, 0) << d.err;
    EXPECT_EQ(dir_entries(od), dir_entries(fd));
    for (const std::string& f : dir_entries(fd))
        if (f.find(".safetensors") == std::string::npos || f == "model.safetensors.index.json") {
            EXPECT_EQ(read_bytes(od + "/" + f), read_bytes(fd + "/" + f)) << f;
        }
    const json r = json::parse(read_text(dir / "d.json"));
    const Verified v = verify(bd, fd, od, &r);
    EXPECT_EQ(v.coded, 3u);
    // Rebuilding over an existing directory needs -f, and then replaces it.
    const RunResult d2 = cli({"decompress", bd, dir / "d.dcx", "-o", od, "-q"});
    EXPECT_NE(d2.rc, 0);
    // -f replaces a previous rebuild (a changed file of it included)...
    write_text(od + "/config.json", "changed");
    const RunResult d3 = cli({"decompress", bd, dir / "d.dcx", "-o", od, "-q", "-f"});
    ASSERT_EQ(d3.rc, 0) << d3.err;
    EXPECT_EQ(dir_entries(od), dir_entries(fd));
    EXPECT_EQ(read_bytes(od + "/config.json"), read_bytes(fd + "/config.json"));
    // ...but never a directory holding anything else (tests/test_outputs.cpp has more).
    write_text(od + "/leftover.txt", "x");
    const RunResult d4 = cli({"decompress", bd, dir / "d.dcx", "-o", od, "-q", "-f"});
    EXPECT_EQ(d4.rc, 1);
    EXPECT_NE(d4.err.find("leftover.txt"), std::string::npos) << d4.err;
    EXPECT_EQ(read_text(od + "/leftover.txt"), "x");
    fs::remove(od + "/leftover.txt");
    EXPECT_EQ(dir_entries(dir.path()), (std::vector<std::string>{"base.safetensors", "base_dir", "d.dcx", "d.json",
                                                                 "ft.safetensors", "ft_dir", "out_dir"}));
}

TEST_F(Cli, SingleFileModelDirectory) {
    // A directory with model.safetensors and config.json (no index) rebuilds as a directory.
    const Pair p = make_pair_tensors(3);
    fs::create_directories(dir / "b");
    fs::create_directories(dir / "f");
    write_safetensors(dir / "b/model.safetensors", p.base);
    write_safetensors(dir / "f/model.safetensors", p.ft);
    write_text(dir / "f/config.json", "{}");
    ASSERT_EQ(cli({"compress", dir / "b", dir / "f", "-o", dir / "x.dcx", "-q"}).rc, 0);
    const RunResult d = cli({"decompress", dir / "b", dir / "x.dcx", "-o", dir / "o", "-q"});
    ASSERT_EQ(d.rc, 0) << d.err;
    EXPECT_EQ(dir_entries(dir / "o"), (std::vector<std::string>{"config.json", "model.safetensors"}));
    verify(dir / "b", dir / "f", dir / "o", nullptr);
    // The base may be given as the single file of a directory checkpoint, and vice versa.
    const RunResult d2 = cli({"decompress", dir / "b/model.safetensors", dir / "x.dcx", "-o", dir / "o2", "-q"});
    ASSERT_EQ(d2.rc, 0) << d2.err;
    EXPECT_EQ(read_bytes(dir / "o/model.safetensors"), read_bytes(dir / "o2/model.safetensors"));
}

TEST_F(Cli, IncludeExclude) {
    const std::string rep = dir / "r.json";
    ASSERT_EQ(
        cli({"compress", base_path, ft_path, "-o", dir / "a.dcx", "-q", "--report", rep, "--exclude", "mixed"}).rc, 0);
    json r = json::parse(read_text(rep));
    EXPECT_EQ(r["summary"]["tensors_compressed"], 2);
    ASSERT_EQ(cli({"compress", base_path, ft_path, "-o", dir / "b.dcx", "-q", "-f", "--report", rep, "--include",
                   "embeddings|query", "--patch", "16"})
                  .rc,
              0);
    r = json::parse(read_text(rep));
    EXPECT_EQ(r["summary"]["tensors_compressed"], 2);
    ASSERT_EQ(cli({"decompress", base_path, dir / "b.dcx", "-o", dir / "b.safetensors", "-q"}).rc, 0);
    const Verified v = verify(base_path, ft_path, dir / "b.safetensors", &r);
    EXPECT_EQ(v.coded, 2u);
}

TEST(CliExample, TinyVitPairRoundTrips) {
    TempDir dir;
    const std::string base = std::string(DELTACODEC_SOURCE_DIR) + "/examples/base.safetensors",
                      ft = std::string(DELTACODEC_SOURCE_DIR) + "/examples/finetuned.safetensors";
    const RunResult c =
        run_cli({"compress", base, ft, "-o", dir / "ex.dcx", "-q", "--report", dir / "ex.json"}, dir.path());
    ASSERT_EQ(c.rc, 0) << c.err;
    const RunResult d = run_cli({"decompress", base, dir / "ex.dcx", "-o", dir / "ex.safetensors", "-q"}, dir.path());
    ASSERT_EQ(d.rc, 0) << d.err;
    const json r = json::parse(read_text(dir / "ex.json"));
    EXPECT_GT(r["summary"]["tensors_compressed"].get<int>(), 0);
    EXPECT_GT(r["summary"]["ratio"].get<double>(), 4.0);  // fp16 delta at ~1 bit/param of the coded tensors
    const Verified v = verify(base, ft, dir / "ex.safetensors", &r);
    EXPECT_EQ(v.coded, r["summary"]["tensors_compressed"].get<size_t>());
    EXPECT_GT(v.exact, 0u);
    EXPECT_EQ(SafetensorsFile::open(dir / "ex.safetensors").metadata(), SafetensorsFile::open(ft).metadata());
}

// The seed's per-patch [lo, hi] = [min, max] rebuilds every kept coefficient at ±max of its patch
// at 1 bit, and the JPEG table amplifies high-frequency error back by up to ~12×: the rebuilt delta
// is then further from the true delta than no delta at all (rel. error > 1; 1.9 at p=32, 8.5 with
// jpeg on the example pair). That is the seed's method and stays the default; `--range mse` picks,
// per patch, the shrunk range with the least error (0 included), so it never does worse than
// dropping the patch. (Task accuracy is another matter: see docs/RESULTS.md.)
TEST(CliRange, MseNeverWorseThanNoDelta) {
    TempDir dir;
    const std::string base = std::string(DELTACODEC_SOURCE_DIR) + "/examples/base.safetensors",
                      ft = std::string(DELTACODEC_SOURCE_DIR) + "/examples/finetuned.safetensors";
    const std::vector<std::vector<std::string>> configs = {
        {"--method", "dct", "--patch", "8", "--bits", "2:0.34,1:0.33,0:0.33"},
        {"--method", "dct", "--patch", "64", "--bits", "2:0.34,1:0.33,0:0.33"},
        {"--method", "dct", "--patch", "64", "--quant-table", "jpeg"},
        {"--method", "dct", "--patch", "32", "--bits", "2:0.34,1:0.33,0:0.33", "--quant-table", "jpeg"},
    };
    for (const auto& cfg : configs) {
        std::vector<std::string> args = {"compress", base, ft,         "-o",          dir / "x.dcx",
                                         "-q",       "-f", "--report", dir / "x.json"};
        args.insert(args.end(), cfg.begin(), cfg.end());
        ASSERT_EQ(run_cli(args, dir.path()).rc, 0);
        const double minmax = json::parse(read_text(dir / "x.json"))["summary"]["rel_error"].get<double>();
        args.push_back("--range");
        args.push_back("mse");
        ASSERT_EQ(run_cli(args, dir.path()).rc, 0);
        const json rep = json::parse(read_text(dir / "x.json"));
        EXPECT_EQ(rep["options"]["range"], "mse");
        const double mse = rep["summary"]["rel_error"].get<double>();
        EXPECT_LT(mse, 1.0) << cfg.back();
        EXPECT_LT(mse, minmax) << cfg.back();
    }
}
