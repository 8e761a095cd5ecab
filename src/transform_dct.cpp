// deltacodec — orthonormal 2-D DCT-II per patch (scipy dctn(type=2, norm='ortho')).
#include <cmath>
#include <vector>

#include "deltacodec/transform.hpp"

namespace deltacodec {
namespace {

// Orthonormal DCT-II basis: D[k][n] = a(k) cos(pi (2n+1) k / 2p), a(0)=sqrt(1/p), a(k)=sqrt(2/p).
std::vector<double> dct_basis(int p) {
    std::vector<double> d(static_cast<size_t>(p) * p);
    for (int k = 0; k < p; ++k)
        for (int n = 0; n < p; ++n)
            d[k * p + n] = (k == 0 ? std::sqrt(1.0 / p) : std::sqrt(2.0 / p)) * std::cos(M_PI * (2 * n + 1) * k / (2.0 * p));
    return d;
}

// out = A · B for p×p row-major matrices; the inner loop runs over contiguous
// rows of B and out, which the compiler vectorises.
inline void matmul(const float* a, const float* b, float* out, int p) {
    for (int i = 0; i < p * p; ++i) out[i] = 0.f;
    for (int i = 0; i < p; ++i) {
        float* o = out + i * p;
        for (int k = 0; k < p; ++k) {
            const float aik = a[i * p + k];
            const float* br = b + k * p;
            for (int j = 0; j < p; ++j) o[j] += aik * br[j];
        }
    }
}

// Separable DCT as two matrix products: Y = D X D^T, X = D^T Y D.
class DctTransform final : public Transform {
public:
    explicit DctTransform(int p) : Transform(p), d_(static_cast<size_t>(p) * p), dt_(d_.size()) {
        const std::vector<double> d = dct_basis(p);
        for (int i = 0; i < p; ++i)
            for (int j = 0; j < p; ++j) {
                d_[i * p + j] = static_cast<float>(d[i * p + j]);
                dt_[j * p + i] = static_cast<float>(d[i * p + j]);
            }
    }
    void forward(const float* in, float* out, float* scratch) const override {
        matmul(d_.data(), in, scratch, p_);
        matmul(scratch, dt_.data(), out, p_);
    }
    void inverse(const float* in, float* out, float* scratch) const override {
        matmul(dt_.data(), in, scratch, p_);
        matmul(scratch, d_.data(), out, p_);
    }

private:
    std::vector<float> d_, dt_;
};

}  // namespace

std::unique_ptr<Transform> make_dct(int p) { return std::make_unique<DctTransform>(p); }

void dct2_reference(const float* in, float* out, int p) {
    const std::vector<double> d = dct_basis(p);
    for (int u = 0; u < p; ++u)
        for (int v = 0; v < p; ++v) {
            double s = 0;
            for (int x = 0; x < p; ++x)
                for (int y = 0; y < p; ++y) s += d[u * p + x] * d[v * p + y] * in[x * p + y];
            out[u * p + v] = static_cast<float>(s);
        }
}

void idct2_reference(const float* in, float* out, int p) {
    const std::vector<double> d = dct_basis(p);
    for (int x = 0; x < p; ++x)
        for (int y = 0; y < p; ++y) {
            double s = 0;
            for (int u = 0; u < p; ++u)
                for (int v = 0; v < p; ++v) s += d[u * p + x] * d[v * p + y] * in[u * p + v];
            out[x * p + y] = static_cast<float>(s);
        }
}

}  // namespace deltacodec
