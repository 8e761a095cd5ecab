// deltacodec — one-level orthonormal 2-D Haar DWT per patch (pywt.dwt2('haar')
// up to band naming), coefficients laid out in quadrants [LL LH; HL HH].
#include <cmath>
#include <vector>

#include "deltacodec/transform.hpp"
#include "kernels.hpp"

namespace deltacodec {
namespace {

class HaarTransform final : public Transform {
public:
    explicit HaarTransform(int p) : Transform(p) {}
    void forward(const float* in, float* out, float* t) const override { kernels().haar_forward(in, out, t, p_); }
    void inverse(const float* in, float* out, float* t) const override { kernels().haar_inverse(in, out, t, p_); }
};

// 1-D orthonormal Haar analysis matrix H (p×p): rows 0..h-1 averages, h..p-1 differences.
std::vector<double> haar_matrix(int p) {
    const int h = p / 2;
    std::vector<double> m(static_cast<size_t>(p) * p, 0.0);
    const double s = 1.0 / std::sqrt(2.0);
    for (int j = 0; j < h; ++j) {
        m[j * p + 2 * j] = s;
        m[j * p + 2 * j + 1] = s;
        m[(h + j) * p + 2 * j] = s;
        m[(h + j) * p + 2 * j + 1] = -s;
    }
    return m;
}

}  // namespace

std::unique_ptr<Transform> make_haar(int p) { return std::make_unique<HaarTransform>(p); }

// Reference: Y = H X H^T with the explicit matrix, in double.
void haar2_reference(const float* in, float* out, int p) {
    const std::vector<double> m = haar_matrix(p);
    for (int u = 0; u < p; ++u)
        for (int v = 0; v < p; ++v) {
            double s = 0;
            for (int x = 0; x < p; ++x)
                for (int y = 0; y < p; ++y) s += m[u * p + x] * m[v * p + y] * in[x * p + y];
            out[u * p + v] = static_cast<float>(s);
        }
}

void ihaar2_reference(const float* in, float* out, int p) {
    const std::vector<double> m = haar_matrix(p);
    for (int x = 0; x < p; ++x)
        for (int y = 0; y < p; ++y) {
            double s = 0;
            for (int u = 0; u < p; ++u)
                for (int v = 0; v < p; ++v) s += m[u * p + x] * m[v * p + y] * in[u * p + v];
            out[x * p + y] = static_cast<float>(s);
        }
}

}  // namespace deltacodec
