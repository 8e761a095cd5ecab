// deltacodec — one-level orthonormal 2-D Haar DWT per patch (pywt.dwt2('haar')
// up to band naming), coefficients laid out in quadrants [LL LH; HL HH].
#include <cmath>
#include <vector>

#include "codec/kernels.hpp"
#include "codec/transform.hpp"

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

void haar2_reference(const float* in, float* out, int p) { separable_reference(haar_matrix(p), in, out, p, false); }
void ihaar2_reference(const float* in, float* out, int p) { separable_reference(haar_matrix(p), in, out, p, true); }

}  // namespace deltacodec
