// deltacodec tests — what the tests of the lossy delta methods (test_method_*.cpp)
// share: a small pair of 2-D float tensors, and the check that a damaged .dcx is
// refused by info() and by apply() with an Error naming the tensor.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "deltacodec/deltacodec.hpp"
#include "testutil.hpp"

namespace testutil {

/// name, base dtype, fine-tune dtype, rows, cols.
using PairShape = std::tuple<std::string, DType, DType, uint64_t, uint64_t>;

/// Per shape a Gaussian base (σ 0.05) and its perturb()ed fine-tune (σ 0.004), seeds
/// 1, 2, … in order; then a 1-D "norm.weight" that no lossy method takes.
inline void small_coded_pair(const std::vector<PairShape>& shapes, std::vector<T>& base, std::vector<T>& ft) {
    uint32_t seed = 1;
    for (const auto& [name, bdt, fdt, rows, cols] : shapes) {
        const std::vector<double> v = gaussian(rows * cols, 0.05, seed++);
        base.push_back(make_tensor(name, bdt, {rows, cols}, v));
        ft.push_back(make_tensor(name, fdt, {rows, cols}, perturb(v, rows, cols, 0.004, seed++)));
    }
    base.push_back(make_tensor("norm.weight", DType::F32, {64}, gaussian(64, 1, 99)));
    ft.push_back(make_tensor("norm.weight", DType::F32, {64}, gaussian(64, 1, 98)));
}

/// A fixture: `dir`, and in it base.safetensors and ft.safetensors written from `base`
/// and `ft` by write_pair().
class CodedPairTest : public ::testing::Test {
protected:
    TempDir dir;
    std::vector<T> base, ft;
    std::string base_path, ft_path;

    /// small_coded_pair(shapes) into base and ft, written to base_path and ft_path.
    void write_pair(const std::vector<PairShape>& shapes) {
        small_coded_pair(shapes, base, ft);
        base_path = dir / "base.safetensors";
        ft_path = dir / "ft.safetensors";
        write_safetensors(base_path, base);
        write_safetensors(ft_path, ft);
    }
};

/// A sink that keeps nothing.
struct DropSink final : deltacodec::TensorSink {
    void begin(const std::string&, DType, const Shape&, uint64_t) override {}
    void write(const uint8_t*, size_t) override {}
};

/// `dcx` is refused by info() and by apply() against `base`, each with a
/// deltacodec::Error whose message names `tensor` and holds `expect`.
inline void expect_refused(const std::string& dcx, const std::string& base, const std::string& tensor,
                           const std::string& expect, const std::string& what) {
    for (const bool use_info : {true, false}) {
        try {
            if (use_info) {
                deltacodec::info(dcx);
            } else {
                DropSink sink;
                deltacodec::apply(base, dcx, sink);
            }
            ADD_FAILURE() << what << ": accepted by " << (use_info ? "info" : "apply");
        } catch (const deltacodec::Error& e) {
            const std::string m = e.what();
            EXPECT_NE(m.find("tensor '" + tensor + "'"), std::string::npos) << what << ": " << m;
            EXPECT_NE(m.find(expect), std::string::npos) << what << ": " << m;
        }
    }
}

/// Flips 1 to 3 random bits of p[from..] (a mutant record).
inline void flip_random_bits(std::vector<uint8_t>& p, size_t from, std::mt19937_64& rng) {
    for (int e = 0, n = 1 + static_cast<int>(rng() % 3); e < n; ++e)
        p[from + rng() % (p.size() - from)] ^= static_cast<uint8_t>(1u << (rng() % 8));
}

/// Whether info() or apply() (one thread) refuses `dcx` with a deltacodec::Error;
/// anything else they throw fails the test.
inline bool refused(const std::string& dcx, const std::string& base) {
    try {
        deltacodec::info(dcx);
        DropSink sink;
        deltacodec::ApplyOptions one;
        one.threads = 1;
        deltacodec::apply(base, dcx, sink, one);
    } catch (const deltacodec::Error&) {
        return true;
    }
    return false;
}

/// A delta holding NaN or infinity is not a lossy method's: with `bad` put into element
/// `at` of ft[0] (written to `ft_path`), `make(dcx)` (a compress with the method) stores
/// ft[0] as an exact delta (reason "non-finite", rebuilt bit for bit) and ft[1] with `method`.
template <typename Make>
void expect_non_finite_falls_back(std::vector<T>& ft, const std::string& ft_path, const std::string& base_path,
                                  const std::string& dcx, size_t at, double bad, const std::string& method, Make make) {
    std::vector<double> v = decode(ft[0].dtype, ft[0].bytes.data(), numel(ft[0].shape));
    v.at(at) = bad;
    ft[0] = make_tensor(ft[0].name, ft[0].dtype, ft[0].shape, v);
    write_safetensors(ft_path, ft);
    const deltacodec::CompressReport rep = make(dcx);
    EXPECT_EQ(rep.tensors[0].kind, "exact");
    EXPECT_EQ(rep.tensors[0].reason, "non-finite");
    EXPECT_EQ(rep.tensors[1].method, method);
    struct One final : deltacodec::TensorSink {
        std::string name;
        std::vector<uint8_t> bytes;
        void begin(const std::string& n, DType, const Shape&, uint64_t) override { name = n; }
        void write(const uint8_t* p, size_t n) override {
            if (name == want) bytes.insert(bytes.end(), p, p + n);
        }
        std::string want;
    } sink;
    sink.want = ft[0].name;
    deltacodec::apply(base_path, dcx, sink);
    EXPECT_EQ(sink.bytes, ft[0].bytes);
}

}  // namespace testutil
