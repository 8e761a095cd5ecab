// deltacodec (internal) — the Method interface: one way of storing one tensor in a
// .dcx TENSOR record. Every method is one row of the registry (registry.cpp); its
// id is the byte after the record's name (FORMAT.md "Method ids"), so a file keeps
// meaning what it meant whatever methods are added later.
//
// A method's life in compress: applicable() → analyse() (pass 1, data-free or
// cheap, small output) → the allocator picks a point → encode() (pass 2, the
// tensor's data, parallel) → EncodedRecord::write() (serial, on the writer
// thread). In decompress, info and compress's read-back: parse() → RecordBody
// (checked up to its blobs) → decode() into a BandSink, or describe().
// Dispatch is per tensor (and per band inside a decoder), never per element.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "deltacodec/deltacodec.hpp"
#include "format/container.hpp"
#include "format/spec.hpp"
#include "io/checkpoint.hpp"
#include "io/progress.hpp"

namespace deltacodec {

/// One tensor of the fine-tune and its namesake in the base (compress side).
struct TensorInput {
    const TensorRef* ft = nullptr;
    const TensorRef* base = nullptr;     ///< same name in the base; nullptr when none
    WholeReason why = WholeReason::NEW;  ///< WHOLE records: the reason code they store
};

/// Whether compress runs under a rate target (`--bpp` / `--ratio`). Then a LOSSY
/// method's analyse() returns its whole ladder of points, in increasing bytes,
/// each with err2 measured (‖Δ̂ − Δ‖² of what encode() at that point rebuilds)
/// and bytes as close as it can estimate to the payload encode() writes (blobs
/// after their codec); the allocator picks one point per tensor. Without a
/// target, analyse() returns the one point the options configure (cheap).
/// analyse() may run for several tensors at once (it must be thread-safe).
inline bool rate_controlled(const CompressOptions& o) { return o.bpp > 0 || o.ratio > 0; }

/// One rate–distortion operating point of a method on a tensor.
struct RdPoint {
    uint64_t bytes = 0;          ///< payload bytes before the blob codec (an estimate where noted)
    std::optional<double> err2;  ///< ‖Δ̂ − Δ‖²; nullopt when analyse does not measure it
    uint32_t setting = 0;        ///< which of the method's settings encode() uses (method-defined)
};
/// What analyse() gives: the points a method offers for a tensor (often one).
struct RdCurve {
    std::vector<RdPoint> points;
    bool estimated = false;  ///< scaled from a row sample (pipeline/sample.hpp): bytes and err2 estimates
};

/// Per-tensor work buffers the caller owns (two sets alternate, so a record's
/// bytes may still be read by the writer thread while the next is encoded).
struct EncodeContext {
    ThreadPool& pool;
    Scratch& scratch;
    ProgressMeter* progress = nullptr;  ///< within() as a large tensor's encoding advances (optional)
};

/// encode()'s result: the parallel work done; `write` serialises the payload
/// (after the record prefix) and runs later on the writer thread.
struct EncodedRecord {
    std::function<void(ByteWriter&)> write;
    double err2 = 0, ref2 = 0;  ///< lossy methods: ‖Δ̂ − Δ‖², ‖Δ‖²
    bool unchanged = false;     ///< the fine-tune's tensor equals the base's (a zero delta)
};

/// Receives a tensor's rebuilt bytes, in order, in bands.
class BandSink {
public:
    virtual ~BandSink() = default;
    /// Memory for the next `n` bytes, to be filled and then passed to put().
    virtual uint8_t* band_buffer(size_t n) = 0;
    /// The next `n` bytes of the tensor are at `p`: a band_buffer(), the mapped
    /// .dcx or base (an unchanged band), or the DecodeContext's scratch (valid
    /// until the caller reuses it).
    virtual void put(const uint8_t* p, size_t n) = 0;
};

/// What a decoder may use: the pool, the base, per-tensor scratch.
struct DecodeContext {
    ThreadPool& pool;
    const Checkpoint* base;  ///< nullptr: no base given (delta methods then fail)
    const TensorSpec& spec;
    const std::string& ctx;  ///< "<file>: tensor '<name>'" for errors
    Scratch& out;
    Scratch& blob;
    /// The base tensor of this record, checked against its dtype, shape and
    /// fingerprint; throws WrongBase("wrong base: ...").
    const TensorRef& base_tensor(DType dtype, const Shape& shape, uint64_t fingerprint) const;
    /// A blob's bytes: a view of the file when stored, else decoded into `blob`.
    const uint8_t* blob_view(const BlobRef& b) const;
};

/// A record's payload, checked up to its blobs (which are not decoded yet).
class RecordBody {
public:
    virtual ~RecordBody() = default;
    /// Rebuilds the fine-tune's tensor into `sink`, in bands of bounded size where
    /// the method's layout allows.
    virtual void decode(const DecodeContext& dc, BandSink& sink) const = 0;
    /// Verifies every blob by streaming (bounded memory, no base needed) and fills
    /// what info shows of this record (kind, reason, method fields).
    virtual void describe(const std::string& ctx, DcxTensor& out) const = 0;
    /// The fingerprint of the base tensor the record is a delta against; nullopt
    /// when it does not use the base.
    virtual std::optional<uint64_t> base_fingerprint() const { return std::nullopt; }
};

/// What DecodeContext::base_tensor() throws: the base given is not the one the
/// .dcx was made against (the rebuild adds which base it needs).
class WrongBase : public Error {
public:
    using Error::Error;
};

/// What a method is for; compress's selection (src/pipeline/select.cpp) offers a
/// selected tensor the chosen LOSSY methods, then the LOSSLESS ones, then WHOLE,
/// each in registry order; an unselected tensor LOSSLESS, then WHOLE.
enum class MethodRole : uint8_t {
    LOSSY,     ///< codes the delta with an error; chosen by `--method`
    LOSSLESS,  ///< a delta rebuilt bit for bit
    WHOLE,     ///< the fine-tune's bytes (the last resort: applies to every tensor)
};

/// One row of the method registry (a table of traits, as ggml's type traits).
/// A method's file defines its row in field order: {id, name, kind, role, summary,
/// applicable, analyse, encode, parse[, values, choose, chosen]}; the hooks left
/// out are nullptr and take the defaults in method.cpp.
struct MethodTraits {
    MethodId id;            ///< the record's method byte: explicit, never reused (FORMAT.md "Method ids")
    std::string_view name;  ///< registry name; FORMAT.md's table lists it in capitals
    std::string_view kind;  ///< what reports and info call its records: "coded", "exact", "whole"
    MethodRole role;
    std::string_view summary = {};  ///< LOSSY: one line for `--method`'s help
    /// Whether the method can store this tensor at all (cheap: shapes and dtypes).
    bool (*applicable)(const TensorInput& in);
    /// Pass 1: the points it offers under `opt`. Must not keep tensor-sized state.
    RdCurve (*analyse)(const TensorInput& in, const CompressOptions& opt);
    /// Pass 2: encodes at `point`; nullopt when the data turns out not to suit
    /// the method (e.g. non-finite values), and the next candidate is tried.
    std::optional<EncodedRecord> (*encode)(const TensorInput& in, const CompressOptions& opt, const RdPoint& point,
                                           EncodeContext& ec);
    /// Reads the payload after the prefix (untrusted); throws Error via `r`.
    std::unique_ptr<const RecordBody> (*parse)(ByteReader& r, const TensorSpec& spec);
    /// LOSSY methods and `--method` (defaults when nullptr: the method answers to its
    /// name and is chosen when CompressOptions::method is its name). `values`: the
    /// `--method` values that choose it; `choose`: sets `o` for one of them;
    /// `chosen`: the value `o` chooses it by, "" when `o` does not choose it.
    std::vector<std::string> (*values)() = nullptr;
    void (*choose)(CompressOptions& o, std::string_view value) = nullptr;
    std::string (*chosen)(const CompressOptions& o) = nullptr;
    /// Rate control on large tensors: the rows one group of a row sample must hold
    /// when this method's bytes and err2 are sums over groups of rows (analyse may
    /// then run on a sample, pipeline/sample.hpp); nullptr: analysed whole.
    uint64_t (*sample_rows)(const CompressOptions& o) = nullptr;

    bool lossy() const { return role == MethodRole::LOSSY; }
};

/// A LOSSLESS method: whether `o` offers it (its `chosen` hook says a value; none: always).
bool lossless_offered(const MethodTraits& m, const CompressOptions& o);

/// Every registered method, in id order: the method code table (registry.cpp).
const std::vector<const MethodTraits*>& method_table();
/// The method with this id; nullptr when unknown.
const MethodTraits* find_method(uint8_t id);
const MethodTraits& method(MethodId id);
/// The registered method of this name; nullptr when none.
const MethodTraits* find_method(std::string_view name);

/// MethodTraits::sample_rows of a method whose bytes and error are sums over rows.
uint64_t one_row(const CompressOptions& o);

/// `--method`, through the registry (a LOSSY method's hooks or their defaults).
/// CompressOptions::method holds registry names, comma-separated ("patch",
/// "patch,bitdelta"); empty: the patch coder, or under a rate target every LOSSY
/// method (the default hook's rule; the patch coder's `chosen` says the same).
std::vector<std::string> method_values(const MethodTraits& m);
/// Whether `o.method`'s list names `name`.
bool method_listed(const CompressOptions& o, std::string_view name);
std::string method_chosen(const MethodTraits& m, const CompressOptions& o);
/// Every `--method` value, in registry order; and the LOSSY method a value
/// chooses (nullptr when none).
std::vector<std::string> all_method_values();
const MethodTraits* method_for_value(std::string_view value);
/// Sets `o` for `--method value`, one value or a comma list of them ("dwt,bitdelta":
/// offered together, which needs a rate target: check_rate_target()); throws
/// Error naming the choices when no LOSSY method answers to one, or when a list
/// names a method twice.
void choose_method(CompressOptions& o, std::string_view value);
/// Throws Error("--method 'value' is not one of ...").
[[noreturn]] void refuse_method(std::string_view value);
/// The `--method` value `o` chooses, a comma list in registry order when it
/// chooses several (o.method itself when no method answers to it).
std::string chosen_method_value(const CompressOptions& o);

// ---- what the methods share ----------------------------------------------------

/// A 2-D float tensor whose base has its shape (both F16, BF16 or F32, any mix):
/// what the lossy delta coders apply to.
bool is_2d_float_delta(const TensorInput& in);

/// The base a delta record was made against (FORMAT.md: u64 fingerprint, u8 dtype).
struct FloatBase {
    uint64_t fingerprint = 0;
    DType dtype{};
};
/// Reads `u64 base_fingerprint, u8 base_dtype` (F16, BF16 or F32) of a coded
/// record, after checking that the record's tensor is a 2-D float tensor.
FloatBase read_float_base(ByteReader& r, const TensorSpec& spec);
/// Writes what read_float_base reads, for `base`.
void write_float_base(ByteWriter& w, const TensorRef& base);
/// The reconstruction of a scalar-quantized record (ECSQ, SPARSE): `f32 step` (finite,
/// > 0), `f32 gain` (finite), `u8 K` (1..16), `f32 offset[K]` (each in [offset_lo, 1]).
struct ScalarRecon {
    static constexpr unsigned kMaxOffsets = 16;
    float step = 0, gain = 0;
    unsigned k = 0;
    float offsets[kMaxOffsets] = {};
};
/// Reads and checks it; fails through `r` with messages that start with `method`.
ScalarRecon read_scalar_recon(ByteReader& r, std::string_view method, float offset_lo);
/// A lossless method's curve: one point of `bytes` (before zstd) and no error.
RdCurve lossless_curve(uint64_t bytes);
/// A method's encode() hook.
using EncodeFn = std::optional<EncodedRecord> (*)(const TensorInput& in, const CompressOptions& opt,
                                                  const RdPoint& point, EncodeContext& ec);
/// Under a rate target: the point `setting` of a method measured by encoding it
/// (on the calling thread, with its own scratch: thread-safe) and writing its
/// payload, so bytes are exactly what encode() writes after the blob codec and
/// err2 is its error (0 for a lossless method). nullopt when encode declines
/// (a non-finite delta). Costs one encode; keeps nothing after it returns.
std::optional<RdPoint> measure_point(EncodeFn encode, const TensorInput& in, const CompressOptions& opt,
                                     uint32_t setting, bool lossy);
/// Chunked encoders (ECSQ, SPARSE): the chunks' byte streams one after another in
/// `scratch`, in order (each freed once copied); `total` is their length.
const uint8_t* join_chunks(Scratch& scratch, std::vector<std::vector<uint8_t>>& streams, uint64_t& total);
/// Reads a blob that holds the tensor's own byte count (exact delta, whole).
BlobRef read_tensor_blob(ByteReader& r, const TensorSpec& spec);

/// Output bands of a decoder: about kBandBytes, at least one unit per thread.
inline constexpr uint64_t kBandBytes = 4u << 20;
/// Splits `units` (rows, patch rows) of `unit_bytes` output bytes each into bands
/// and calls band(first, end) for each, in order.
template <typename F>
void for_each_band(const DecodeContext& dc, uint64_t units, uint64_t unit_bytes, F&& band) {
    const uint64_t per_band = std::max<uint64_t>(dc.pool.size(), kBandBytes / std::max<uint64_t>(unit_bytes, 1));
    for (uint64_t u = 0; u < units; u += per_band) band(u, std::min(units, u + per_band));
}
/// A chunked delta decoder's rebuild (ECSQ, SPARSE): chunks of `rpc` rows, a band of
/// chunks at a time, a band's chunks in parallel; `chunk(c, row)` decodes chunk c and
/// calls row(r, delta) for each of its rows r with that row's f32 delta; `b` is the base.
template <typename Chunk>
void rebuild_chunked(const DecodeContext& dc, BandSink& sink, DType base_dtype, const TensorRef& b, uint64_t rows,
                     uint64_t cols, uint64_t rpc, Chunk&& chunk);
/// One output row: f32(base row) + delta, rounded to `dtype` (what every delta
/// coder's decoder does per row); one fused pass when the dtypes match.
/// `tmp`: cols floats (used when they differ).
void add_to_base_row(DType base_dtype, const uint8_t* base_row, const float* delta, DType dtype, uint8_t* out,
                     uint64_t cols, float* tmp);

template <typename Chunk>
void rebuild_chunked(const DecodeContext& dc, BandSink& sink, DType base_dtype, const TensorRef& b, uint64_t rows,
                     uint64_t cols, uint64_t rpc, Chunk&& chunk) {
    const size_t es = dtype_size(dc.spec.dtype), bs = dtype_size(base_dtype);
    for_each_band(dc, (rows + rpc - 1) / rpc, rpc * cols * es, [&](uint64_t c0, uint64_t c1) {
        const uint64_t r0 = c0 * rpc, r1 = std::min(rows, c1 * rpc);
        uint8_t* out = sink.band_buffer((r1 - r0) * cols * es + 1);
        dc.pool.parallel_for(c1 - c0, [&](size_t i) {
            thread_local std::vector<float> tmp;
            tmp.resize(cols);
            chunk(c0 + i, [&](uint64_t r, const float* delta) {
                add_to_base_row(base_dtype, b.data() + r * cols * bs, delta, dc.spec.dtype, out + (r - r0) * cols * es,
                                cols, tmp.data());
            });
        });
        sink.put(out, (r1 - r0) * cols * es);
    });
}

}  // namespace deltacodec
