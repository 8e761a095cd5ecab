// deltacodec — the per-tensor pipeline, in the order of the method.
#include "deltacodec/codec.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "deltacodec/error.hpp"
#include "deltacodec/quantize.hpp"

namespace deltacodec {

bool patch_size_ok(int p) { return p >= kMinPatch && p <= kMaxPatch && p % 8 == 0; }

uint64_t CodedTensor::kept_per_patch() const {
    const uint64_t p2 = static_cast<uint64_t>(patch) * patch;
    if (transform != TransformId::HAAR) return p2;
    switch (bands) {
        case Bands::ALL: return p2;
        case Bands::LL_LH_HL: return p2 / 4 * 3;
        case Bands::LL_ONLY: return p2 / 4;
    }
    return p2;
}

// ---- step 1: the delta -------------------------------------------------------

void DeltaView::read_rows(uint64_t r0, uint64_t n, float* out, float* tmp) const {
    const size_t bs = dtype_size(base_dtype), fs = dtype_size(ft_dtype);
    for (uint64_t i = 0; i < n; ++i) {
        const uint64_t r = r0 + i;
        float* o = out + i * cols;
        to_f32(ft_dtype, static_cast<const uint8_t*>(ft) + r * cols * fs, o, cols);
        to_f32(base_dtype, static_cast<const uint8_t*>(base) + r * cols * bs, tmp, cols);
        for (uint64_t j = 0; j < cols; ++j) o[j] -= tmp[j];
    }
}

namespace {

// Shared, derived facts about a tensor's patch grid and transform.
struct Plan {
    int p;
    uint64_t p2, nr, nc, n, k;
    std::vector<uint32_t> kept;  // kept coefficient positions, row-major
    std::vector<uint8_t> kept_m;
    std::vector<uint8_t> low;    // low-frequency positions
    std::vector<float> qn;       // JPEG table (empty: none)
    std::unique_ptr<Transform> tr;

    Plan(uint64_t rows, uint64_t cols, int patch, TransformId id, Bands bands, bool jpeg) : p(patch) {
        p2 = static_cast<uint64_t>(p) * p;
        nr = (rows + p - 1) / p;
        nc = (cols + p - 1) / p;
        n = nr * nc;
        kept_m = kept_mask(id, bands, p);
        for (uint32_t i = 0; i < p2; ++i)
            if (kept_m[i]) kept.push_back(i);
        k = kept.size();
        low = lowfreq_mask(id, p);
        if (jpeg) qn = jpeg_table(p);
        tr = find_transform(id)->make(p);
    }
};

// ---- step 2: patches (zero padded at the edges) -------------------------------

void gather_patch(const float* strip, uint64_t cols, uint64_t h, uint64_t c0, uint64_t w, int p, float* patch) {
    std::fill(patch, patch + static_cast<size_t>(p) * p, 0.f);
    for (uint64_t i = 0; i < h; ++i) std::memcpy(patch + i * p, strip + i * cols + c0, w * sizeof(float));
}

void scatter_patch(const float* patch, int p, uint64_t h, uint64_t c0, uint64_t w, uint64_t cols, float* strip) {
    for (uint64_t i = 0; i < h; ++i) std::memcpy(strip + i * cols + c0, patch + i * p, w * sizeof(float));
}

double sum_sq(const float* x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; ++i) s += static_cast<double>(x[i]) * x[i];
    return s;
}

void check_alloc(uint64_t n, uint64_t elem, const char* what) {
    if (n > (uint64_t{1} << 40) / elem) throw Error(std::string("tensor too large to code (") + what + ")");
}

}  // namespace

// ---- steps 3–6 ----------------------------------------------------------------

std::optional<CodedTensor> encode_tensor(const DeltaView& dv, const CodecParams& prm, ThreadPool& pool,
                                         TensorStats& stats) {
    if (!patch_size_ok(prm.patch)) throw Error("patch size " + std::to_string(prm.patch) + " is not a multiple of 8 in 8..256");
    const Plan pl(dv.rows, dv.cols, prm.patch, prm.transform, prm.bands, prm.jpeg_table);
    const int p = pl.p;
    const uint64_t cols = dv.cols;
    check_alloc(pl.n, pl.p2 * sizeof(float), "coefficients");

    // Steps 2, 3, 5a: patches, importance, forward transform, per-patch ranges.
    std::vector<float> coef(pl.n * pl.p2), imp(pl.n), lo(pl.n), hi(pl.n);
    std::vector<double> e_patch(pl.n), e_drop(pl.n);
    std::atomic<bool> nonfinite{false};
    pool.parallel_for(pl.nr, [&](size_t pr) {
        const uint64_t r0 = pr * p, h = std::min<uint64_t>(p, dv.rows - r0);
        std::vector<float> strip(h * cols), tmp(cols), patch(pl.p2), scratch(pl.p2);
        dv.read_rows(r0, h, strip.data(), tmp.data());
        for (float v : strip)
            if (!std::isfinite(v)) {
                nonfinite = true;
                return;
            }
        for (uint64_t pc = 0; pc < pl.nc; ++pc) {
            const uint64_t id = pr * pl.nc + pc, c0 = pc * p, w = std::min<uint64_t>(p, cols - c0);
            gather_patch(strip.data(), cols, h, c0, w, p, patch.data());
            e_patch[id] = sum_sq(patch.data(), pl.p2);
            float* c = coef.data() + id * pl.p2;
            pl.tr->forward(patch.data(), c, scratch.data());
            if (prm.post_importance) {
                double s = 0;
                for (uint64_t i = 0; i < pl.p2; ++i)
                    if (pl.low[i]) s += static_cast<double>(c[i]) * c[i];
                imp[id] = static_cast<float>(std::sqrt(s));
            } else {
                imp[id] = static_cast<float>(std::sqrt(e_patch[id]));  // Frobenius norm
            }
            if (!pl.qn.empty())
                for (uint64_t i = 0; i < pl.p2; ++i) c[i] /= pl.qn[i];
            double drop = 0;
            float mn = INFINITY, mx = -INFINITY;
            for (uint64_t i = 0; i < pl.p2; ++i) {
                if (pl.kept_m[i]) {
                    mn = std::min(mn, c[i]);
                    mx = std::max(mx, c[i]);
                } else {
                    drop += static_cast<double>(c[i]) * c[i];
                }
            }
            lo[id] = mn;
            hi[id] = mx;
            e_drop[id] = drop;
        }
    });
    if (nonfinite) return std::nullopt;

    // Step 4: allocation.
    const std::vector<uint8_t> width = allocate_bits(imp, prm.bits);

    CodedTensor ct;
    ct.rows = dv.rows;
    ct.cols = dv.cols;
    ct.patch = p;
    ct.transform = prm.transform;
    ct.bands = prm.transform == TransformId::HAAR ? prm.bands : Bands::ALL;
    ct.flags = static_cast<uint8_t>((prm.jpeg_table ? kFlagJpeg : 0) | (prm.meta_f32 ? kFlagMetaF32 : 0));
    uint8_t present[9] = {};
    float scale = 0;
    for (uint64_t i = 0; i < pl.n; ++i) {
        present[width[i]] = 1;
        if (width[i]) scale = std::max({scale, std::fabs(lo[i]), std::fabs(hi[i])});
    }
    ct.scale = scale;
    uint8_t pal_index[9] = {};
    for (int b = 0; b <= 8; ++b)
        if (present[b]) {
            pal_index[b] = static_cast<uint8_t>(ct.widths.size());
            ct.widths.push_back(static_cast<uint8_t>(b));
        }
    ct.selectors.resize(pl.n);
    for (uint64_t i = 0; i < pl.n; ++i) ct.selectors[i] = pal_index[width[i]];

    // Step 5b: per-patch ranges as stored (f16 fractions of `scale`, rounded outward).
    std::vector<float> qlo(pl.n, 0.f), qhi(pl.n, 0.f);
    std::vector<uint64_t> code_off(pl.n + 1, 0);
    const size_t mb = ct.meta_bytes_per_patch();
    for (uint64_t i = 0; i < pl.n; ++i) {
        code_off[i + 1] = code_off[i] + pl.k * width[i] / 8;
        if (!width[i]) continue;
        uint8_t rec[8];
        if (prm.meta_f32) {
            qlo[i] = lo[i];
            qhi[i] = hi[i];
            std::memcpy(rec, &qlo[i], 4);
            std::memcpy(rec + 4, &qhi[i], 4);
        } else {
            const uint16_t l16 = scale > 0 ? f32_to_f16_down(lo[i] / scale) : 0;
            const uint16_t h16 = scale > 0 ? f32_to_f16_up(hi[i] / scale) : 0;
            qlo[i] = f16_to_f32(l16) * scale;
            qhi[i] = f16_to_f32(h16) * scale;
            rec[0] = static_cast<uint8_t>(l16);
            rec[1] = static_cast<uint8_t>(l16 >> 8);
            rec[2] = static_cast<uint8_t>(h16);
            rec[3] = static_cast<uint8_t>(h16 >> 8);
        }
        ct.meta.insert(ct.meta.end(), rec, rec + mb);
    }
    ct.codes.assign(code_off[pl.n], 0);

    // Steps 5c–6: quantize, pack, and measure the error honestly (Parseval for
    // interior patches; an inverse transform against the real delta at the edges).
    std::vector<double> row_err(pl.nr, 0.0);
    pool.parallel_for(pl.nr, [&](size_t pr) {
        const uint64_t r0 = pr * p, h = std::min<uint64_t>(p, dv.rows - r0);
        const bool edge_row = h < static_cast<uint64_t>(p) || cols % p != 0;
        std::vector<float> strip, tmp;
        if (edge_row) {
            strip.resize(h * cols);
            tmp.resize(cols);
            dv.read_rows(r0, h, strip.data(), tmp.data());
        }
        std::vector<float> vals(pl.k), vhat(pl.k), block(pl.p2), rec(pl.p2), orig(pl.p2), scratch(pl.p2);
        std::vector<uint8_t> q(pl.k);
        double err = 0;
        for (uint64_t pc = 0; pc < pl.nc; ++pc) {
            const uint64_t id = pr * pl.nc + pc, c0 = pc * p, w = std::min<uint64_t>(p, cols - c0);
            const int b = width[id];
            if (b == 0) {
                err += e_patch[id];
                continue;
            }
            const float* c = coef.data() + id * pl.p2;
            for (uint64_t i = 0; i < pl.k; ++i) vals[i] = c[pl.kept[i]];
            quantize(vals.data(), pl.k, b, qlo[id], qhi[id], q.data());
            pack_bits(q.data(), pl.k, b, ct.codes.data() + code_off[id]);
            dequantize(q.data(), pl.k, b, qlo[id], qhi[id], vhat.data());
            const bool interior = h == static_cast<uint64_t>(p) && w == static_cast<uint64_t>(p);
            if (interior) {
                double e = e_drop[id];
                for (uint64_t i = 0; i < pl.k; ++i) {
                    double d = static_cast<double>(vals[i]) - vhat[i];
                    if (!pl.qn.empty()) d *= pl.qn[pl.kept[i]];
                    e += d * d;
                }
                err += e;
            } else {
                std::fill(block.begin(), block.end(), 0.f);
                for (uint64_t i = 0; i < pl.k; ++i) block[pl.kept[i]] = vhat[i];
                if (!pl.qn.empty())
                    for (uint64_t i = 0; i < pl.p2; ++i) block[i] *= pl.qn[i];
                pl.tr->inverse(block.data(), rec.data(), scratch.data());
                gather_patch(strip.data(), cols, h, c0, w, p, orig.data());
                for (uint64_t i = 0; i < h; ++i)
                    for (uint64_t j = 0; j < w; ++j) {
                        const double d = static_cast<double>(rec[i * p + j]) - orig[i * p + j];
                        err += d * d;
                    }
            }
        }
        row_err[pr] = err;
    });
    stats.patches += pl.n;
    for (uint64_t i = 0; i < pl.n; ++i) stats.coded_patches += width[i] != 0;
    for (double e : row_err) stats.err2 += e;
    for (double e : e_patch) stats.ref2 += e;
    return ct;
}

void validate_coded(const CodedTensor& ct) {
    require(patch_size_ok(ct.patch), "corrupt record: bad patch size " + std::to_string(ct.patch));
    require(ct.rows > 0 && ct.cols > 0, "corrupt record: empty coded tensor");
    require(find_transform(ct.transform) != nullptr, "corrupt record: unknown transform");
    require(ct.transform == TransformId::HAAR || ct.bands == Bands::ALL, "corrupt record: bands on a DCT tensor");
    require((ct.flags & ~(kFlagJpeg | kFlagMetaF32)) == 0, "corrupt record: unknown flags");
    require(!(ct.flags & kFlagJpeg) || ct.transform == TransformId::DCT, "corrupt record: JPEG table on a non-DCT tensor");
    require(std::isfinite(ct.scale) && ct.scale >= 0, "corrupt record: bad scale");
    require(!ct.widths.empty() && ct.widths.size() <= 9, "corrupt record: bad width table");
    for (size_t i = 0; i < ct.widths.size(); ++i) {
        require(ct.widths[i] <= 8, "corrupt record: width above 8");
        require(i == 0 || ct.widths[i] > ct.widths[i - 1], "corrupt record: widths not increasing");
    }
    require(ct.rows <= (uint64_t{1} << 40) / ct.cols, "corrupt record: tensor too large");
    const uint64_t n = ct.num_patches();
    require(ct.selectors.size() == n, "corrupt record: selector count");
    uint64_t coded = 0, code_bytes = 0;
    const uint64_t k = ct.kept_per_patch();
    for (uint8_t s : ct.selectors) {
        require(s < ct.widths.size(), "corrupt record: selector out of range");
        const uint8_t b = ct.widths[s];
        coded += b != 0;
        code_bytes += k * b / 8;
    }
    require(ct.meta.size() == coded * ct.meta_bytes_per_patch(), "corrupt record: metadata size");
    require(ct.codes.size() == code_bytes, "corrupt record: code size");
    const size_t mb = ct.meta_bytes_per_patch();
    for (size_t off = 0; off < ct.meta.size(); off += mb) {
        float lo, hi;
        if (mb == 8) {
            std::memcpy(&lo, &ct.meta[off], 4);
            std::memcpy(&hi, &ct.meta[off + 4], 4);
        } else {
            lo = f16_to_f32(static_cast<uint16_t>(ct.meta[off] | (ct.meta[off + 1] << 8)));
            hi = f16_to_f32(static_cast<uint16_t>(ct.meta[off + 2] | (ct.meta[off + 3] << 8)));
        }
        require(std::isfinite(lo) && std::isfinite(hi), "corrupt record: non-finite patch range");
    }
}

void decode_tensor(const CodedTensor& ct, ThreadPool& pool,
                   const std::function<void(uint64_t, uint64_t, const float*)>& sink) {
    const Plan pl(ct.rows, ct.cols, ct.patch, ct.transform, ct.bands, ct.flags & kFlagJpeg);
    const int p = pl.p;
    const bool f32meta = ct.flags & kFlagMetaF32;
    // Where each patch's codes and metadata start.
    std::vector<uint64_t> code_off(pl.n + 1, 0), meta_idx(pl.n, 0);
    uint64_t m = 0;
    for (uint64_t i = 0; i < pl.n; ++i) {
        const uint8_t b = ct.widths[ct.selectors[i]];
        code_off[i + 1] = code_off[i] + pl.k * b / 8;
        meta_idx[i] = m;
        m += b != 0;
    }
    pool.parallel_for(pl.nr, [&](size_t pr) {
        const uint64_t r0 = pr * p, h = std::min<uint64_t>(p, ct.rows - r0);
        std::vector<float> strip(h * ct.cols, 0.f), vhat(pl.k), block(pl.p2), rec(pl.p2), scratch(pl.p2);
        std::vector<uint8_t> q(pl.k);
        for (uint64_t pc = 0; pc < pl.nc; ++pc) {
            const uint64_t id = pr * pl.nc + pc, c0 = pc * p, w = std::min<uint64_t>(p, ct.cols - c0);
            const int b = ct.widths[ct.selectors[id]];
            if (b == 0) continue;  // dropped patch: Δ̂ = 0
            float lo, hi;
            const uint8_t* mr = ct.meta.data() + meta_idx[id] * ct.meta_bytes_per_patch();
            if (f32meta) {
                std::memcpy(&lo, mr, 4);
                std::memcpy(&hi, mr + 4, 4);
            } else {
                lo = f16_to_f32(static_cast<uint16_t>(mr[0] | (mr[1] << 8))) * ct.scale;
                hi = f16_to_f32(static_cast<uint16_t>(mr[2] | (mr[3] << 8))) * ct.scale;
            }
            unpack_bits(ct.codes.data() + code_off[id], pl.k, b, q.data());
            dequantize(q.data(), pl.k, b, lo, hi, vhat.data());
            std::fill(block.begin(), block.end(), 0.f);
            for (uint64_t i = 0; i < pl.k; ++i) block[pl.kept[i]] = vhat[i];
            if (!pl.qn.empty())
                for (uint64_t i = 0; i < pl.p2; ++i) block[i] *= pl.qn[i];
            pl.tr->inverse(block.data(), rec.data(), scratch.data());
            scatter_patch(rec.data(), p, h, c0, w, ct.cols, strip.data());
        }
        sink(r0, h, strip.data());
    });
}

}  // namespace deltacodec
