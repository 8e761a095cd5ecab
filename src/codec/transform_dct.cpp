// deltacodec — orthonormal 2-D DCT-II per patch (scipy dctn(type=2, norm='ortho')).
#include <algorithm>
#include <cmath>
#include <vector>

#include "codec/kernels.hpp"
#include "codec/transform.hpp"

namespace deltacodec {
namespace {

// Orthonormal DCT-II basis: D[k][n] = a(k) cos(pi (2n+1) k / 2p), a(0)=sqrt(1/p), a(k)=sqrt(2/p).
std::vector<double> dct_basis(int p) {
    std::vector<double> d(static_cast<size_t>(p) * p);
    for (int k = 0; k < p; ++k)
        for (int n = 0; n < p; ++n)
            d[k * p + n] =
                (k == 0 ? std::sqrt(1.0 / p) : std::sqrt(2.0 / p)) * std::cos(M_PI * (2 * n + 1) * k / (2.0 * p));
    return d;
}

// Separable DCT. For p a power of two: Lee's fast recursion along each axis,
// each step applied to whole rows at once (so it vectorises), with a transpose
// in between: O(p² log p). Other p: two matrix products, Y = D X Dᵀ.
class DctTransform final : public Transform {
public:
    explicit DctTransform(int p) : Transform(p), d_(static_cast<size_t>(p) * p), dt_(d_.size()) {
        const std::vector<double> d = dct_basis(p);
        for (int i = 0; i < p; ++i)
            for (int j = 0; j < p; ++j) {
                d_[i * p + j] = static_cast<float>(d[i * p + j]);
                dt_[j * p + i] = static_cast<float>(d[i * p + j]);
            }
        fast_ = (p & (p - 1)) == 0;
        for (int n = p; n >= 2; n /= 2)
            for (int i = 0; i < n / 2; ++i)
                c_.push_back(static_cast<float>(0.5 / std::cos(M_PI * (2 * i + 1) / (2.0 * n))));
        for (int k = 0; k < p; ++k) s_.push_back(static_cast<float>(std::sqrt((k == 0 ? 1.0 : 2.0) / p)));
    }
    void forward(const float* in, float* out, float* scratch) const override {
        if (by_products(d_.data(), in, dt_.data(), out, scratch)) return;
        const Kernels& k = kernels();
        k.dct_rows(out, p_, p_, scratch, c_.data());
        scale_rows(out);
        k.transpose(out, scratch, p_);
        k.dct_rows(scratch, p_, p_, out, c_.data());
        scale_rows(scratch);
        k.transpose(scratch, out, p_);
    }
    void inverse(const float* in, float* out, float* scratch) const override {
        if (by_products(dt_.data(), in, d_.data(), out, scratch)) return;
        const Kernels& k = kernels();
        scale_rows(out);
        k.dct_rows_t(out, p_, p_, scratch, c_.data());
        k.transpose(out, scratch, p_);
        scale_rows(scratch);
        k.dct_rows_t(scratch, p_, p_, out, c_.data());
        k.transpose(scratch, out, p_);
    }

private:
    // Other p: out = a·in·b by two matrix products (true). A power of two: `in`
    // copied to `out` for the fast path, which works in place (false).
    bool by_products(const float* a, const float* in, const float* b, float* out, float* scratch) const {
        if (fast_) {
            std::copy(in, in + static_cast<size_t>(p_) * p_, out);
            return false;
        }
        kernels().matmul(a, in, scratch, p_);
        kernels().matmul(scratch, b, out, p_);
        return true;
    }
    void scale_rows(float* x) const {
        for (int i = 0; i < p_; ++i) {
            const float s = s_[i];
            float* r = x + static_cast<size_t>(i) * p_;
            for (int j = 0; j < p_; ++j) r[j] *= s;
        }
    }
    std::vector<float> d_, dt_, c_, s_;
    bool fast_ = false;
};

}  // namespace

std::unique_ptr<Transform> make_dct(int p) { return std::make_unique<DctTransform>(p); }

void dct2_reference(const float* in, float* out, int p) { separable_reference(dct_basis(p), in, out, p, false); }
void idct2_reference(const float* in, float* out, int p) { separable_reference(dct_basis(p), in, out, p, true); }

}  // namespace deltacodec
