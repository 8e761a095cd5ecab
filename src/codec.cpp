// deltacodec — the per-tensor pipeline, in the order of the method.
#include "deltacodec/codec.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "deltacodec/error.hpp"
#include "deltacodec/quantize.hpp"
#include "kernels.hpp"

namespace deltacodec {

bool patch_size_ok(int p) { return p >= kMinPatch && p <= kMaxPatch && p % 8 == 0; }

uint64_t CodedTensor::kept_per_patch() const {
    const uint64_t p2 = static_cast<uint64_t>(patch) * patch;
    if (transform != TransformId::HAAR) return p2;
    switch (bands) {
        case Bands::ALL:
            return p2;
        case Bands::LL_LH_HL:
            return p2 / 4 * 3;
        case Bands::LL_ONLY:
            return p2 / 4;
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
        kernels().sub(o, tmp, o, cols);
    }
}

namespace {

// Shared, derived facts about a tensor's patch grid and transform.
struct Plan {
    int p;
    uint64_t p2, nr, nc, n, k;
    std::vector<uint32_t> kept;  // kept coefficient positions, row-major
    std::vector<uint8_t> kept_m;
    std::vector<uint8_t> low;  // low-frequency positions
    std::vector<float> qn;     // JPEG table (empty: none)
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

// Range shrink factors tried by RangeRule::MSE, largest first (ties keep the larger).
constexpr float kRangeShrink[] = {1.f,  0.9f,  0.8f, 0.7f,  0.6f, 0.5f,  0.42f, 0.35f,
                                  0.3f, 0.25f, 0.2f, 0.15f, 0.1f, 0.05f, 0.f};

// Per-thread scratch that survives across patch rows and tensors: large
// buffers allocated afresh each time cost more in page faults and zeroing
// than the work itself. Contents are garbage on entry.
float* scratch_floats(int slot, size_t n) {
    thread_local std::vector<float> bufs[8];
    std::vector<float>& b = bufs[slot];
    if (b.size() < n) b.resize(n);
    return b.data();
}

void check_alloc(uint64_t n, uint64_t elem, const char* what) {
    if (n > (uint64_t{1} << 40) / elem) throw Error(std::string("tensor too large to code (") + what + ")");
}

}  // namespace

// ---- steps 3–6 ----------------------------------------------------------------
//
// Two streaming passes over the tensor, patch row by patch row, so memory stays
// at a few strips per thread plus the packed output:
//   pass 1: delta → patches → importance (→ transform, for post-transform importance)
//   allocation over the whole tensor
//   pass 2: coded patches only: transform → range → quantize → pack, and the error.
// The per-tensor `scale` that the f16 patch ranges are relative to must be known
// before pass 2; an orthonormal transform never yields a coefficient larger than
// the patch's Frobenius norm, so scale = max norm over coded patches (divided by
// the smallest JPEG table entry when the table is on) bounds every range.

std::optional<CodedTensor> encode_tensor(const DeltaView& dv, const CodecParams& prm, ThreadPool& pool,
                                         TensorStats& stats) {
    if (!patch_size_ok(prm.patch))
        throw Error("patch size " + std::to_string(prm.patch) + " is not a multiple of 8 in 8..256");
    const Plan pl(dv.rows, dv.cols, prm.patch, prm.transform, prm.bands, prm.jpeg_table);
    const int p = pl.p;
    const uint64_t cols = dv.cols;
    check_alloc(pl.n, 64, "patch count");
    const Kernels& kn = kernels();

    // Pass 1 (steps 1–3): importance and energy of every patch.
    std::vector<float> imp(pl.n), norm(pl.n);
    std::vector<double> e_patch(pl.n);
    std::atomic<bool> nonfinite{false};
    pool.parallel_for(pl.nr, [&](size_t pr) {
        const uint64_t r0 = pr * p, h = std::min<uint64_t>(p, dv.rows - r0);
        float* strip = scratch_floats(0, h * cols);
        float* tmp = scratch_floats(1, cols);
        float* patch = scratch_floats(2, pl.p2);
        float* c = scratch_floats(3, pl.p2);
        float* scratch = scratch_floats(4, pl.p2);
        dv.read_rows(r0, h, strip, tmp);
        if (!kn.all_finite(strip, h * cols)) {
            nonfinite = true;
            return;
        }
        for (uint64_t pc = 0; pc < pl.nc; ++pc) {
            const uint64_t id = pr * pl.nc + pc, c0 = pc * p, w = std::min<uint64_t>(p, cols - c0);
            gather_patch(strip, cols, h, c0, w, p, patch);
            e_patch[id] = kn.sum_sq(patch, pl.p2);
            norm[id] = static_cast<float>(std::sqrt(e_patch[id]));
            if (prm.post_importance) {
                pl.tr->forward(patch, c, scratch);
                double s = 0;
                for (uint64_t i = 0; i < pl.p2; ++i)
                    if (pl.low[i]) s += static_cast<double>(c[i]) * c[i];
                imp[id] = static_cast<float>(std::sqrt(s));
            } else {
                imp[id] = norm[id];  // Frobenius norm
            }
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
    float max_norm = 0;
    for (uint64_t i = 0; i < pl.n; ++i) {
        present[width[i]] = 1;
        if (width[i]) max_norm = std::max(max_norm, norm[i]);
    }
    float qmin = 1.f;
    for (float q : pl.qn) qmin = std::min(qmin, q);
    ct.scale = max_norm / qmin;
    uint8_t pal_index[9] = {};
    for (int b = 0; b <= 8; ++b)
        if (present[b]) {
            pal_index[b] = static_cast<uint8_t>(ct.widths.size());
            ct.widths.push_back(static_cast<uint8_t>(b));
        }
    ct.selectors.resize(pl.n);
    std::vector<uint64_t> code_off(pl.n + 1, 0), meta_idx(pl.n, 0);
    uint64_t coded = 0;
    for (uint64_t i = 0; i < pl.n; ++i) {
        ct.selectors[i] = pal_index[width[i]];
        code_off[i + 1] = code_off[i] + pl.k * width[i] / 8;
        meta_idx[i] = coded;
        coded += width[i] != 0;
    }
    if (ct.widths.size() == 1) ct.selectors.clear();
    const size_t mb = ct.meta_bytes_per_patch();
    ct.meta.assign(coded * mb, 0);
    ct.codes.assign(code_off[pl.n], 0);
    const float scale = ct.scale;

    // Pass 2 (steps 5–6): transform, range, quantize, pack; measure the error
    // (Parseval inside the tensor; inverse transform against the delta at edges).
    std::vector<double> row_err(pl.nr, 0.0);
    pool.parallel_for(pl.nr, [&](size_t pr) {
        const uint64_t r0 = pr * p, h = std::min<uint64_t>(p, dv.rows - r0);
        double err = 0;
        bool any = false;
        for (uint64_t pc = 0; pc < pl.nc; ++pc) {
            const uint64_t id = pr * pl.nc + pc;
            if (width[id])
                any = true;
            else
                err += e_patch[id];
        }
        if (!any) {
            row_err[pr] = err;
            return;
        }
        float* strip = scratch_floats(0, h * cols);
        float* tmp = scratch_floats(1, cols);
        float* patch = scratch_floats(2, pl.p2);
        float* c = scratch_floats(3, pl.p2);
        float* scratch = scratch_floats(4, pl.p2);
        float* vals = scratch_floats(5, pl.k);
        float* vhat = scratch_floats(6, pl.k);
        float* rec = scratch_floats(7, pl.p2);
        std::vector<uint8_t> q(pl.k);
        dv.read_rows(r0, h, strip, tmp);
        for (uint64_t pc = 0; pc < pl.nc; ++pc) {
            const uint64_t id = pr * pl.nc + pc, c0 = pc * p, w = std::min<uint64_t>(p, cols - c0);
            const int b = width[id];
            if (b == 0) continue;
            gather_patch(strip, cols, h, c0, w, p, patch);
            pl.tr->forward(patch, c, scratch);
            if (!pl.qn.empty())
                for (uint64_t i = 0; i < pl.p2; ++i) c[i] /= pl.qn[i];
            for (uint64_t i = 0; i < pl.k; ++i) vals[i] = c[pl.kept[i]];
            float lo, hi;
            kn.minmax(vals, pl.k, &lo, &hi);
            // Step 5b: the range as stored (f16 fractions of `scale`, rounded outward).
            uint8_t* mr = ct.meta.data() + meta_idx[id] * mb;
            auto store_range = [&](float& l, float& hgh) {
                if (prm.meta_f32) {
                    std::memcpy(mr, &l, 4);
                    std::memcpy(mr + 4, &hgh, 4);
                } else {
                    const uint16_t l16 = scale > 0 ? f32_to_f16_down(l / scale) : 0;
                    const uint16_t h16 = scale > 0 ? f32_to_f16_up(hgh / scale) : 0;
                    l = f16_to_f32(l16) * scale;
                    hgh = f16_to_f32(h16) * scale;
                    mr[0] = static_cast<uint8_t>(l16);
                    mr[1] = static_cast<uint8_t>(l16 >> 8);
                    mr[2] = static_cast<uint8_t>(h16);
                    mr[3] = static_cast<uint8_t>(h16 >> 8);
                }
            };
            if (prm.range == RangeRule::MSE) {
                // Shrink the range toward zero by the factor (from a fixed list,
                // 0 included) whose stored range gives the least error on this
                // patch's coefficients; 0 rebuilds zeros, so a coded patch never
                // costs more error than dropping it.
                double best_e = INFINITY;
                float best = 1.f;
                for (float f : kRangeShrink) {
                    float l = lo * f, hh = hi * f;
                    store_range(l, hh);
                    kn.quantize(vals, pl.k, b, l, hh, q.data());
                    kn.dequantize(q.data(), pl.k, b, l, hh, vhat);
                    double e = 0;
                    if (pl.qn.empty()) {
                        e = kn.sq_diff_sum(vals, vhat, pl.k);
                    } else {  // error as rebuilt: the JPEG table scales it back up
                        for (uint64_t i = 0; i < pl.k; ++i) {
                            const double d = (static_cast<double>(vals[i]) - vhat[i]) * pl.qn[pl.kept[i]];
                            e += d * d;
                        }
                    }
                    if (e < best_e) best_e = e, best = f;
                }
                lo *= best;
                hi *= best;
            }
            store_range(lo, hi);
            kn.quantize(vals, pl.k, b, lo, hi, q.data());
            pack_bits(q.data(), pl.k, b, ct.codes.data() + code_off[id]);
            kn.dequantize(q.data(), pl.k, b, lo, hi, vhat);
            const bool interior = h == static_cast<uint64_t>(p) && w == static_cast<uint64_t>(p);
            if (interior && pl.qn.empty()) {
                // Parseval: kept-coefficient error plus the energy of the dropped bands.
                double e = e_patch[id] - kn.sum_sq(vals, pl.k);
                e = std::max(e, 0.0) + kn.sq_diff_sum(vals, vhat, pl.k);
                err += e;
            } else {
                std::fill(c, c + pl.p2, 0.f);
                for (uint64_t i = 0; i < pl.k; ++i) c[pl.kept[i]] = vhat[i];
                if (!pl.qn.empty())
                    for (uint64_t i = 0; i < pl.p2; ++i) c[i] *= pl.qn[i];
                pl.tr->inverse(c, rec, scratch);
                for (uint64_t i = 0; i < h; ++i) err += kn.sq_diff_sum(rec + i * p, patch + i * p, w);
            }
        }
        row_err[pr] = err;
    });
    stats.patches += pl.n;
    stats.coded_patches += coded;
    for (double e : row_err) stats.err2 += e;
    for (double e : e_patch) stats.ref2 += e;
    return ct;
}

void validate_coded_header(const CodedTensor& ct) {
    require(patch_size_ok(ct.patch), "corrupt record: bad patch size " + std::to_string(ct.patch));
    require(ct.rows > 0 && ct.cols > 0, "corrupt record: empty coded tensor");
    require(find_transform(ct.transform) != nullptr, "corrupt record: unknown transform");
    require(ct.transform == TransformId::HAAR || ct.bands == Bands::ALL, "corrupt record: bands on a DCT tensor");
    require((ct.flags & ~(kFlagJpeg | kFlagMetaF32)) == 0, "corrupt record: unknown flags");
    require(!(ct.flags & kFlagJpeg) || ct.transform == TransformId::DCT,
            "corrupt record: JPEG table on a non-DCT tensor");
    require(std::isfinite(ct.scale) && ct.scale >= 0, "corrupt record: bad scale");
    require(!ct.widths.empty() && ct.widths.size() <= 9, "corrupt record: bad width table");
    for (size_t i = 0; i < ct.widths.size(); ++i) {
        require(ct.widths[i] <= 8, "corrupt record: width above 8");
        require(i == 0 || ct.widths[i] > ct.widths[i - 1], "corrupt record: widths not increasing");
    }
    require(ct.rows <= (uint64_t{1} << 40) / ct.cols, "corrupt record: tensor too large");
}

bool patch_range_ok(const uint8_t* m, size_t mb) {
    float lo, hi;
    if (mb == 8) {
        std::memcpy(&lo, m, 4);
        std::memcpy(&hi, m + 4, 4);
    } else {
        lo = f16_to_f32(static_cast<uint16_t>(m[0] | (m[1] << 8)));
        hi = f16_to_f32(static_cast<uint16_t>(m[2] | (m[3] << 8)));
    }
    return std::isfinite(lo) && std::isfinite(hi);
}

void validate_coded(const CodedTensor& ct) {
    validate_coded_header(ct);
    const uint64_t n = ct.num_patches();
    uint64_t coded = 0, code_bytes = 0;
    const uint64_t k = ct.kept_per_patch();
    if (ct.widths.size() == 1) {
        require(ct.selectors.empty(), "corrupt record: selector count");
        coded = ct.widths[0] ? n : 0;
        code_bytes = n * (k * ct.widths[0] / 8);
    } else {
        require(ct.selectors.size() == n, "corrupt record: selector count");
        for (uint8_t s : ct.selectors) {
            require(s < ct.widths.size(), "corrupt record: selector out of range");
            const uint8_t b = ct.widths[s];
            coded += b != 0;
            code_bytes += k * b / 8;
        }
    }
    require(ct.meta.size() == coded * ct.meta_bytes_per_patch(), "corrupt record: metadata size");
    require(ct.codes.size() == code_bytes, "corrupt record: code size");
    const size_t mb = ct.meta_bytes_per_patch();
    for (size_t off = 0; off < ct.meta.size(); off += mb)
        require(patch_range_ok(&ct.meta[off], mb), "corrupt record: non-finite patch range");
}

struct TensorDecoder::Impl {
    const CodedTensor& ct;
    Plan pl;
    std::vector<uint64_t> code_off, meta_idx;  // where each patch's codes and metadata start
    Impl(const CodedTensor& c)
        : ct(c),
          pl(c.rows, c.cols, c.patch, c.transform, c.bands, c.flags & kFlagJpeg),
          code_off(pl.n + 1, 0),
          meta_idx(pl.n, 0) {
        uint64_t m = 0;
        for (uint64_t i = 0; i < pl.n; ++i) {
            const uint8_t b = ct.width_of(i);
            code_off[i + 1] = code_off[i] + pl.k * b / 8;
            meta_idx[i] = m;
            m += b != 0;
        }
    }
};

TensorDecoder::TensorDecoder(const CodedTensor& ct) : impl_(std::make_unique<Impl>(ct)) {}
TensorDecoder::~TensorDecoder() = default;
uint64_t TensorDecoder::patch_rows() const { return impl_->pl.nr; }

void TensorDecoder::decode_rows(ThreadPool& pool, uint64_t pr_begin, uint64_t pr_end,
                                const std::function<void(uint64_t, uint64_t, const float*)>& sink) const {
    const CodedTensor& ct = impl_->ct;
    const Plan& pl = impl_->pl;
    const int p = pl.p;
    const bool f32meta = ct.flags & kFlagMetaF32;
    pr_end = std::min(pr_end, pl.nr);
    if (pr_begin >= pr_end) return;
    pool.parallel_for(pr_end - pr_begin, [&](size_t i_row) {
        const uint64_t pr = pr_begin + i_row;
        const uint64_t r0 = pr * p, h = std::min<uint64_t>(p, ct.rows - r0);
        float* strip = scratch_floats(0, h * ct.cols);
        std::fill(strip, strip + h * ct.cols, 0.f);
        float* vhat = scratch_floats(1, pl.k);
        float* block = scratch_floats(2, pl.p2);
        float* rec = scratch_floats(3, pl.p2);
        float* scratch = scratch_floats(4, pl.p2);
        std::vector<uint8_t> q(pl.k);
        for (uint64_t pc = 0; pc < pl.nc; ++pc) {
            const uint64_t id = pr * pl.nc + pc, c0 = pc * p, w = std::min<uint64_t>(p, ct.cols - c0);
            const int b = ct.width_of(id);
            if (b == 0) continue;  // dropped patch: Δ̂ = 0
            float lo, hi;
            const uint8_t* mr = ct.meta.data() + impl_->meta_idx[id] * ct.meta_bytes_per_patch();
            if (f32meta) {
                std::memcpy(&lo, mr, 4);
                std::memcpy(&hi, mr + 4, 4);
            } else {
                lo = f16_to_f32(static_cast<uint16_t>(mr[0] | (mr[1] << 8))) * ct.scale;
                hi = f16_to_f32(static_cast<uint16_t>(mr[2] | (mr[3] << 8))) * ct.scale;
            }
            unpack_bits(ct.codes.data() + impl_->code_off[id], pl.k, b, q.data());
            dequantize(q.data(), pl.k, b, lo, hi, vhat);
            std::fill(block, block + pl.p2, 0.f);
            for (uint64_t i = 0; i < pl.k; ++i) block[pl.kept[i]] = vhat[i];
            if (!pl.qn.empty())
                for (uint64_t i = 0; i < pl.p2; ++i) block[i] *= pl.qn[i];
            pl.tr->inverse(block, rec, scratch);
            scatter_patch(rec, p, h, c0, w, ct.cols, strip);
        }
        sink(r0, h, strip);
    });
}

void decode_tensor(const CodedTensor& ct, ThreadPool& pool,
                   const std::function<void(uint64_t, uint64_t, const float*)>& sink) {
    TensorDecoder d(ct);
    d.decode_rows(pool, 0, d.patch_rows(), sink);
}

}  // namespace deltacodec
