// deltacodec_check_rebuild — checks a rebuilt checkpoint against the fine-tune
// it stands for, using the compress report (--report) to know which tensors
// were coded (lossy) and which were kept exactly.
//
//   deltacodec_check_rebuild BASE FINETUNED REBUILT REPORT.json
//
// Passes (exit 0) when: the rebuilt checkpoint has exactly the fine-tune's
// tensors with the same dtypes and shapes; every tensor the report calls
// "exact" or "whole" is bit-identical; and for the coded tensors together the
// relative error ||R - F|| / ||F - B|| agrees with the report's rel_error
// (which is measured before the final rounding to the checkpoint dtype) within
// 0.5% + 0.002. Also checks the aux files (config.json, index) are identical.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/checkpoint.hpp"
#include "io/dtype.hpp"
#include "io/io.hpp"
#include "io/parallel.hpp"

using namespace deltacodec;

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: %s BASE FINETUNED REBUILT REPORT.json\n", argv[0]);
        return 2;
    }
    try {
        const Checkpoint base = Checkpoint::open(argv[1]), ft = Checkpoint::open(argv[2]),
                         rb = Checkpoint::open(argv[3]);
        nlohmann::json rep;
        std::ifstream(argv[4]) >> rep;
        std::map<std::string, std::string> kind;
        for (const auto& t : rep["tensors"]) kind[t["name"].get<std::string>()] = t["kind"].get<std::string>();
        const double rep_err =
            rep["summary"]["rel_error"].is_number() ? rep["summary"]["rel_error"].get<double>() : 0.0;

        int failures = 0;
        auto fail = [&](const std::string& m) {
            if (++failures <= 10) std::fprintf(stderr, "check: %s\n", m.c_str());
        };
        if (rb.tensors().size() != ft.tensors().size()) fail("tensor count differs");
        if (ft.is_directory()) {
            for (const auto& a : ft.aux_files()) {
                const auto x = read_file(std::string(argv[2]) + "/" + a, 1 << 26);
                if (!path_exists(std::string(argv[3]) + "/" + a)) {
                    fail("aux file " + a + " missing");
                    continue;
                }
                if (read_file(std::string(argv[3]) + "/" + a, 1 << 26) != x) fail("aux file " + a + " differs");
            }
        }
        ThreadPool pool(0);
        double err2 = 0, ref2 = 0;
        size_t exact_ok = 0, coded = 0;
        for (const TensorRef& f : ft.tensors()) {
            const std::string& name = f.info->name;
            const TensorRef* r = rb.find(name);
            if (!r) {
                fail(name + ": missing from the rebuild");
                continue;
            }
            if (r->info->dtype != f.info->dtype || r->info->shape != f.info->shape) {
                fail(name + ": dtype or shape differs");
                continue;
            }
            const std::string k = kind.count(name) ? kind[name] : "?";
            if (k != "coded") {
                if (std::memcmp(r->data(), f.data(), f.info->nbytes()) != 0)
                    fail(name + ": kept " + k + " but not bit-identical");
                else
                    ++exact_ok;
            } else {
                const TensorRef* b = base.find(name);
                if (!b || !dtype_is_compressible(f.info->dtype) || b->info->dtype != f.info->dtype) {
                    fail(name + ": coded but no matching base tensor");
                    continue;
                }
                ++coded;
                const uint64_t n = f.info->numel(), chunk = uint64_t(1) << 18;
                const size_t es = dtype_size(f.info->dtype);
                std::mutex mu;
                pool.parallel_for((n + chunk - 1) / chunk, [&](size_t c) {
                    const uint64_t a = c * chunk, m = std::min(chunk, n - a);
                    std::vector<float> fv(m), rv(m), bv(m);
                    to_f32(f.info->dtype, f.data() + a * es, fv.data(), m);
                    to_f32(f.info->dtype, r->data() + a * es, rv.data(), m);
                    to_f32(f.info->dtype, b->data() + a * es, bv.data(), m);
                    double e = 0, d = 0;
                    for (uint64_t i = 0; i < m; ++i) {
                        const double x = double(rv[i]) - fv[i], y = double(fv[i]) - bv[i];
                        e += x * x;
                        d += y * y;
                    }
                    std::lock_guard<std::mutex> lk(mu);
                    err2 += e;
                    ref2 += d;
                });
            }
            f.release();
            r->release();
        }
        const double rel = ref2 > 0 ? std::sqrt(err2 / ref2) : 0.0;
        if (coded && !(std::fabs(rel - rep_err) <= 0.005 * rep_err + 0.002))
            fail("coded rel.error " + std::to_string(rel) + " disagrees with the report's " + std::to_string(rep_err));
        std::printf("%s: %zu tensors, %zu kept exactly (bit-identical), %zu coded, rel.error %.4f (report %.4f)\n",
                    failures ? "FAIL" : "PASS", ft.tensors().size(), exact_ok, coded, rel, rep_err);
        return failures ? 1 : 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "check: error: %s\n", e.what());
        std::printf("FAIL: %s\n", e.what());
        return 1;
    }
}
