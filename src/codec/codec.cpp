// deltacodec — the per-tensor pipeline, in the order of the method.
#include "codec/codec.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "codec/kernels.hpp"
#include "codec/quantize.hpp"
#include "codec/quantizer.hpp"
#include "codec/symbol_coder.hpp"
#include "deltacodec/error.hpp"
#include "format/spec.hpp"

namespace deltacodec {

bool patch_size_ok(int p) { return p >= kMinPatch && p <= kMaxPatch && p % 8 == 0; }

uint64_t CodedTensor::kept_per_patch() const { return kept_count(transform, bands, patch, levels); }

namespace {
// The stages a record uses. Today every PATCH record uses "minmax" and
// "bitpack"; another quantizer or symbol coder is chosen here from a new PATCH
// flag bit (kKnownPatchFlags, FORMAT.md).
const QuantizerEntry& quantizer_of(const CodedTensor&) { return quantizer_table()[0]; }
const SymbolCoderEntry& symbol_coder_of(const CodedTensor&) { return bitpack_coder(); }
QuantizerConfig side_config(const CodedTensor& ct) {
    QuantizerConfig c;
    c.meta_f32 = ct.flags & kFlagMetaF32;
    c.scale = ct.scale;
    return c;
}
}  // namespace

size_t CodedTensor::meta_bytes_per_patch() const { return quantizer_of(*this).side_bytes(side_config(*this)); }

uint64_t CodedTensor::code_bytes(uint8_t width) const {
    return width ? symbol_coder_of(*this).fixed_bytes(kept_per_patch(), width) : 0;
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
    const TransformEntry* te;
    // Error accounting from the band gains. unit_gain: every band's gain is 1
    // (orthonormal: Parseval holds, the coefficient error is the patch error);
    // otherwise the encoder measures each patch's error by its inverse transform.
    bool unit_gain = true;
    std::vector<double> kw;  // per kept coefficient: JPEG entry × band gain (empty: all 1)

    Plan(uint64_t rows, uint64_t cols, int patch, TransformId id, int levels, Bands bands, bool jpeg)
        : p(patch), te(find_transform(id)) {
        p2 = static_cast<uint64_t>(p) * p;
        nr = (rows + p - 1) / p;
        nc = (cols + p - 1) / p;
        n = nr * nc;
        kept_m = kept_mask(id, bands, p, levels);
        for (uint32_t i = 0; i < p2; ++i)
            if (kept_m[i]) kept.push_back(i);
        k = kept.size();
        low = lowfreq_mask(id, p);
        if (jpeg) qn = jpeg_table(p);
        tr = te->make(p, levels);
        const std::vector<double> g = gain_map(id, p, levels);
        for (double x : g) unit_gain = unit_gain && x == 1.0;
        if (jpeg || !unit_gain) {
            kw.resize(k);
            for (uint64_t i = 0; i < k; ++i) kw[i] = (jpeg ? static_cast<double>(qn[kept[i]]) : 1.0) * g[kept[i]];
        }
    }

    QuantizerConfig quantizer_config(const CodedTensor& ct, RangeRule range) const {
        QuantizerConfig c = side_config(ct);
        c.range = range;
        c.weights = kw.empty() ? nullptr : kw.data();
        return c;
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
// before pass 2; no coefficient exceeds the transform's analysis bound times the
// patch's Frobenius norm (bound 1 for an orthonormal transform), so scale = max
// norm over coded patches × bound (divided by the smallest JPEG table entry when
// the table is on) bounds every range.

std::optional<CodedTensor> encode_tensor(const DeltaView& dv, const CodecParams& prm, ThreadPool& pool,
                                         TensorStats& stats, ProgressMeter* progress) {
    if (!patch_size_ok(prm.patch))
        throw Error("patch size " + std::to_string(prm.patch) + " is not a multiple of 8 in 8..256");
    const TransformEntry* te = find_transform(prm.transform);
    if (!te) throw Error("unknown transform code " + std::to_string(static_cast<int>(prm.transform)));
    const int levels = levels_of(prm.transform, prm.levels);
    if (!levels_ok(prm.transform, prm.patch, levels))
        throw Error(std::string(te->name) + ": " + std::to_string(levels) + " levels do not fit patch size " +
                    std::to_string(prm.patch));
    const Plan pl(dv.rows, dv.cols, prm.patch, prm.transform, levels, prm.bands, prm.jpeg_table);
    const int p = pl.p;
    const uint64_t cols = dv.cols;
    check_alloc(pl.n, 64, "patch count");
    const Kernels& kn = kernels();

    // Pass 1 (steps 1–3): importance and energy of every patch.
    std::vector<float> imp(pl.n), norm(pl.n);
    std::vector<double> e_patch(pl.n);
    std::atomic<bool> nonfinite{false};
    // Progress: patch rows finished over both passes (a pass-1 row and a pass-2 row each count one).
    std::atomic<uint64_t> rows_done{0};
    auto row_done = [&] {
        if (progress) progress->within(++rows_done, 2 * pl.nr);
    };
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
        row_done();
    });
    if (nonfinite) return std::nullopt;

    // Step 4: allocation.
    const std::vector<uint8_t> width = allocate_bits(imp, prm.bits);

    CodedTensor ct;
    ct.rows = dv.rows;
    ct.cols = dv.cols;
    ct.patch = p;
    ct.transform = prm.transform;
    ct.levels = levels;
    ct.bands = bands_offered(prm.transform, prm.bands) ? prm.bands : Bands::ALL;
    ct.flags = static_cast<uint8_t>((prm.jpeg_table ? kFlagJpeg : 0) | (prm.meta_f32 ? kFlagMetaF32 : 0));
    uint8_t present[9] = {};
    float max_norm = 0;
    for (uint64_t i = 0; i < pl.n; ++i) {
        present[width[i]] = 1;
        if (width[i]) max_norm = std::max(max_norm, norm[i]);
    }
    float qmin = 1.f;
    for (float q : pl.qn) qmin = std::min(qmin, q);
    ct.scale = max_norm * pl.te->analysis_bound / qmin;
    uint8_t pal_index[9] = {};
    for (int b = 0; b <= 8; ++b)
        if (present[b]) {
            pal_index[b] = static_cast<uint8_t>(ct.widths.size());
            ct.widths.push_back(static_cast<uint8_t>(b));
        }
    ct.selectors.resize(pl.n);
    std::vector<uint64_t> meta_row(pl.nr + 1, 0);  // first coded patch of each patch row
    uint64_t coded = 0;
    for (uint64_t i = 0; i < pl.n; ++i) {
        ct.selectors[i] = pal_index[width[i]];
        coded += width[i] != 0;
        if ((i + 1) % pl.nc == 0) meta_row[(i + 1) / pl.nc] = coded;
    }
    if (ct.widths.size() == 1) ct.selectors.clear();
    const QuantizerConfig qcfg = pl.quantizer_config(ct, prm.range);
    const std::unique_ptr<Quantizer> quant = quantizer_of(ct).make(qcfg);
    const SymbolCoderEntry& coder = symbol_coder_of(ct);
    const size_t mb = quant->side_bytes();
    ct.meta.assign(coded * mb, 0);
    std::vector<std::vector<uint8_t>> row_codes(pl.nr);  // each patch row's symbol stream

    // Pass 2 (steps 5–6): transform, quantize (fit the side information, then
    // the symbols), code the symbols; measure the error (from the band gains
    // inside the tensor; inverse transform against the delta at edges).
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
            row_done();
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
        std::vector<uint8_t>& out = row_codes[pr];
        if (coder.fixed_bytes) {
            uint64_t row_bytes = 0;
            for (uint64_t pc = 0; pc < pl.nc; ++pc)
                if (width[pr * pl.nc + pc]) row_bytes += coder.fixed_bytes(pl.k, width[pr * pl.nc + pc]);
            out.reserve(row_bytes);
        }
        const std::unique_ptr<SymbolWriter> sw = coder.writer(out);
        uint8_t* side = ct.meta.data() + meta_row[pr] * mb;
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
            quant->code(vals, pl.k, b, side, q.data(), vhat);
            sw->put(q.data(), pl.k, b);
            side += mb;
            const bool interior = h == static_cast<uint64_t>(p) && w == static_cast<uint64_t>(p);
            if (interior && pl.qn.empty() && pl.unit_gain) {
                // Parseval: kept-coefficient error plus the energy of the dropped bands.
                double e = e_patch[id] - kn.sum_sq(vals, pl.k);
                e = std::max(e, 0.0) + kn.sq_diff_sum(vals, vhat, pl.k);
                err += e;
            } else {
                // Not Parseval (edge patch, JPEG table, or a basis that is not
                // orthonormal): the rebuilt patch against the delta.
                std::fill(c, c + pl.p2, 0.f);
                for (uint64_t i = 0; i < pl.k; ++i) c[pl.kept[i]] = vhat[i];
                if (!pl.qn.empty())
                    for (uint64_t i = 0; i < pl.p2; ++i) c[i] *= pl.qn[i];
                pl.tr->inverse(c, rec, scratch);
                for (uint64_t i = 0; i < h; ++i) err += kn.sq_diff_sum(rec + i * p, patch + i * p, w);
            }
        }
        sw->finish();
        row_err[pr] = err;
        row_done();
    });
    // The rows' streams, in row order: the same bytes for every thread count.
    uint64_t code_bytes = 0;
    for (const auto& rc : row_codes) code_bytes += rc.size();
    ct.codes.reserve(code_bytes);
    for (auto& rc : row_codes) {
        ct.codes.insert(ct.codes.end(), rc.begin(), rc.end());
        std::vector<uint8_t>().swap(rc);
    }
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
    require(levels_ok(ct.transform, ct.patch, ct.levels),
            "corrupt record: " + std::to_string(ct.levels) + " levels do not fit transform " +
                std::string(find_transform(ct.transform)->name) + " at patch size " + std::to_string(ct.patch));
    require(bands_offered(ct.transform, ct.bands), "corrupt record: band choice not offered by the transform");
    require((ct.flags & ~kKnownPatchFlags) == 0, "corrupt record: unknown flags");
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

bool patch_range_ok(const uint8_t* m, size_t mb) { return minmax_side_ok(mb == 8, m); }

void validate_coded(const CodedTensor& ct) {
    validate_coded_header(ct);
    const uint64_t n = ct.num_patches();
    uint64_t coded = 0, code_bytes = 0;
    uint64_t per_width[9];
    for (size_t i = 0; i < ct.widths.size(); ++i) per_width[i] = ct.code_bytes(ct.widths[i]);
    if (ct.widths.size() == 1) {
        require(ct.selectors.empty(), "corrupt record: selector count");
        coded = ct.widths[0] ? n : 0;
        code_bytes = n * per_width[0];
    } else {
        require(ct.selectors.size() == n, "corrupt record: selector count");
        for (uint8_t s : ct.selectors) {
            require(s < ct.widths.size(), "corrupt record: selector out of range");
            coded += ct.widths[s] != 0;
            code_bytes += per_width[s];
        }
    }
    const size_t mb = ct.meta_bytes_per_patch();
    require(ct.meta.size() == coded * mb, "corrupt record: metadata size");
    require(ct.codes.size() == code_bytes, "corrupt record: code size");
    const std::unique_ptr<Quantizer> quant = quantizer_of(ct).make(side_config(ct));
    for (size_t off = 0; off < ct.meta.size(); off += mb)
        require(quant->side_ok(&ct.meta[off]), "corrupt record: non-finite patch range");
}

struct TensorDecoder::Impl {
    const CodedTensor& ct;
    Plan pl;
    std::unique_ptr<Quantizer> quant;
    const SymbolCoderEntry& coder;
    // Per patch row: where its symbol stream starts in `codes`, and its first
    // coded patch (its side information's index in `meta`).
    std::vector<uint64_t> code_row, meta_row;
    Impl(const CodedTensor& c)
        : ct(c),
          pl(c.rows, c.cols, c.patch, c.transform, c.levels, c.bands, c.flags & kFlagJpeg),
          quant(quantizer_of(c).make(pl.quantizer_config(c, RangeRule::MINMAX))),
          coder(symbol_coder_of(c)),
          code_row(pl.nr + 1, 0),
          meta_row(pl.nr + 1, 0) {
        // A fixed-rate coder's row starts follow from the widths; a variable-rate
        // one would store them.
        uint64_t wbytes[9] = {};
        for (int b = 1; b <= 8; ++b) wbytes[b] = coder.fixed_bytes(pl.k, b);
        uint64_t m = 0, off = 0;
        for (uint64_t i = 0; i < pl.n; ++i) {
            const uint8_t b = ct.width_of(i);
            off += wbytes[b];
            m += b != 0;
            if ((i + 1) % pl.nc == 0) code_row[(i + 1) / pl.nc] = off, meta_row[(i + 1) / pl.nc] = m;
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
    const Quantizer& quant = *impl_->quant;
    const int p = pl.p;
    const size_t mb = quant.side_bytes();
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
        const uint64_t c_begin = impl_->code_row[pr], c_end = impl_->code_row[pr + 1];
        const std::unique_ptr<SymbolReader> sr = impl_->coder.reader(ct.codes.data() + c_begin, c_end - c_begin);
        const uint8_t* side = ct.meta.data() + impl_->meta_row[pr] * mb;
        for (uint64_t pc = 0; pc < pl.nc; ++pc) {
            const uint64_t id = pr * pl.nc + pc, c0 = pc * p, w = std::min<uint64_t>(p, ct.cols - c0);
            const int b = ct.width_of(id);
            if (b == 0) continue;  // dropped patch: Δ̂ = 0
            sr->get(q.data(), pl.k, b);
            quant.dequantize(q.data(), pl.k, b, side, vhat);
            side += mb;
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
