// deltacodec — public API: compress a fine-tuned checkpoint against its base
// into a .dcx file, rebuild it, and describe a .dcx file.
//
// Every function throws deltacodec::Error with a one-line message on bad input
// (missing, corrupt or hostile files, mismatched models, the wrong base, bad
// options, an existing output without `overwrite`, a full disk). Outputs are
// written under a temporary name and renamed at the end, so a failed call
// leaves no output behind. A program that wants the temporaries removed on
// SIGINT/SIGTERM/SIGHUP/SIGPIPE, and a named error when an input shrinks while
// mapped (SIGBUS), calls install_signal_handlers() (deltacodec/types.hpp) once;
// the library never installs handlers itself.
//
// The path "-" means standard input where a .dcx is read (decompress, apply,
// info: it is copied into an unlinked temporary file first, unless it is a
// regular file) and standard output where an output is written (compress's .dcx
// and report, decompress's single-file output): written in order, with no
// temporary file, so a failed call leaves the bytes already sent (a truncated
// .dcx, which every reader refuses). A terminal is refused either way. Name a
// file called "-" as "./-".
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "deltacodec/error.hpp"
#include "deltacodec/options.hpp"
#include "deltacodec/types.hpp"

namespace deltacodec {

inline constexpr const char* kVersion = "0.1.0";
/// The .dcx format version this library writes (it reads every minor of this major).
inline constexpr int kFormatMajor = 1, kFormatMinor = 0;
/// Longest CompressOptions::base_name, in bytes.
inline constexpr size_t kMaxBaseName = 4096;
/// Names the default layer selection leaves uncompressed (case-insensitive search).
inline constexpr const char* kDefaultSkipPattern = "embed|classifier|pooler|head|norm";

/// How far a compress(), decompress() or apply() call has come. Bytes count the
/// model's tensors: compress, the fine-tune's tensor bytes encoded; decompress and
/// apply, the rebuilt tensor bytes (what a safetensors file of the fine-tune holds
/// after its header). `bytes_total` and `tensors_total` are known from the start.
/// Under a rate target (CompressOptions::bpp / ::ratio) compress counts every
/// tensor twice, analysed (each rate measured) and then encoded: `bytes_total`
/// is twice the tensors' bytes.
struct Progress {
    uint64_t bytes_done = 0, bytes_total = 0;
    size_t tensors_done = 0, tensors_total = 0;  ///< tensors finished (compress: written to the .dcx)
    std::string tensor;                          ///< the tensor being worked on (the last one, at the end)
};

/// Progress callback: called once at the start (all zero done), as work advances
/// (inside large tensors too: per patch row band or decoded band, whenever another
/// 1/1000 of `bytes_total` is done), and once at the end with everything done:
/// at most about 1,000 calls per run, whatever the model's size or number of
/// tensors. Calls never overlap, but may come from one of the library's threads
/// rather than the caller's; keep it quick (the work waits for it). An exception
/// it throws ends the run as an error would (no output is left behind).
using ProgressFn = std::function<void(const Progress&)>;

struct CompressOptions {
    /// The lossy method for the selected tensors, by registry name (e.g. "bitdelta");
    /// empty: the patch coder, configured by `codec`. `--method dct|dwt` leaves it
    /// empty and sets codec.transform; `--method NAME` sets it.
    std::string method;
    CodecParams codec;    ///< the patch coder: transform, patch, bits, bands, JPEG table, importance, metadata
    std::string include;  ///< regex: compress the 2-D tensors whose names match (replaces the default rule)
    std::string exclude;  ///< regex: never compress tensors whose names match
    /// lowrank: rank of the truncated SVD of each delta (capped at min(rows, cols)) and the
    /// width of its factors' codes (1..8 bits). Without a rate target only (a target picks
    /// rank and width per tensor).
    unsigned rank = 16;
    unsigned rank_bits = 4;  ///< 4: the best accuracy per byte on the example pair (docs/RESULTS.md)
    /// Rate target (0 = none): bits per parameter of the whole file (every byte
    /// counted, over every parameter of the fine-tune), or the file's ratio
    /// (Σ params × dtype size / file bytes). At most one of them is set; with one,
    /// the allocator picks per tensor the method and point (rate_controlled()).
    double bpp = 0;
    double ratio = 0;
    /// Under a target: the weight of each tensor's squared error (RdWeight).
    RdWeight rd_weight = RdWeight::NONE;
    /// `--method ecsq` without a rate target: the entropy aimed at, bits per parameter.
    double ecsq_bits = 2;
    /// `--method ecsq`: rescale each tensor's reconstruction so that ⟨Δ̂,Δ⟩ = ‖Δ‖²
    /// (true) instead of the least-squared-error centroids (false).
    bool ecsq_projection = false;
    /// `--method sparse`: which entries of each delta are kept (the largest |Δ|, or a
    /// seeded random subset: DARE), the fraction kept and the kept values' bits
    /// (both without a rate target only), and the scale of the kept values.
    bool sparse_random = false;
    double sparse_keep_frac = 0.1;
    double sparse_bits = 3;
    SparseGain sparse_gain = SparseGain::MSE;
    /// Recorded in the .dcx as its base's name (info shows it); empty: none. UTF-8,
    /// at most kMaxBaseName bytes.
    std::string base_name;
    /// `--lossless-coder rans`: tensors kept exactly are method 9 (lossless: chunked byte
    /// planes, rANS/zstd per plane; smaller, slower today) instead of method 1 (exact_delta).
    bool lossless_rans = false;
    bool entropy = true;           ///< zstd on each stored blob when it is smaller
    unsigned threads = 0;          ///< 0 = every core; output bytes do not depend on it
    bool overwrite = false;        ///< replace an existing regular file (never a link, device or input)
    bool follow_symlinks = false;  ///< read symbolic links inside model directories (refused otherwise)
    /// Also write the JSON report (CompressReport::to_json) here: committed with the
    /// .dcx, under the same rules; it may be neither an input nor the output.
    std::string report;
    ProgressFn progress;
};

struct TensorReport {
    std::string name;
    std::string kind;    ///< "coded", "exact" (lossless delta), "whole" (stored whole)
    std::string method;  ///< the method that stored it (registry name: "patch", "bitdelta", "exact_delta", "whole")
    std::string reason;  ///< why not coded: "selection", "new", "reshaped", "dtype", "not-float", "non-finite"
    std::string dtype;
    Shape shape;
    uint64_t params = 0;
    uint64_t delta_bytes = 0;   ///< params × the fine-tune's dtype size
    uint64_t stored_bytes = 0;  ///< bytes of its section in the .dcx, framing included
    double err2 = 0, ref2 = 0;  ///< coded tensors: ‖Δ̂−Δ‖², ‖Δ‖²
    bool unchanged = false;     ///< equal to the base's tensor of that name (a zero delta)
    double rel_error() const;
    double bits_per_param() const;
};

struct CompressReport {
    std::vector<TensorReport> tensors;
    std::vector<std::string> dropped;  ///< base tensors absent from the fine-tune
    uint64_t dcx_bytes = 0;            ///< the whole file on disk
    uint64_t delta_bytes = 0;          ///< Σ params × fine-tune dtype size
    /// The rate target asked for (CompressOptions::bpp / ::ratio; 0: none) and the
    /// file size in bytes it means (0: no target). The file never exceeds it.
    double target_bpp = 0, target_ratio = 0;
    uint64_t target_bytes = 0;
    /// Rate control: tensors large enough that their methods' points were
    /// estimated from a sample of their rows (then the sizes are corrected as the
    /// records are written; the file still lands within 2% of the target).
    uint64_t target_sampled = 0;
    /// What the caller should hear (the CLI prints each as "deltacodec: warning: ..."):
    /// a target above what storing every tensor losslessly takes (the lossless file
    /// is written, smaller than the target), or a file more than 2% under its target
    /// because the tensors' rate steps are coarser than that.
    std::vector<std::string> warnings;
    size_t count(const std::string& kind) const;
    double ratio() const;               ///< delta_bytes / dcx_bytes
    double bits_per_param() const;      ///< coded tensors: their section bytes × 8 / their params
    double bits_per_param_all() const;  ///< file bits / every parameter
    double rel_error() const;           ///< sqrt(Σ err2 / Σ ref2) over coded tensors
    /// Tensors per method that stored them (registry names), in registry order.
    std::vector<std::pair<std::string, size_t>> methods() const;
    /// True when the fine-tune is the base again: every tensor unchanged, none dropped.
    bool identical_to_base() const;
    /// {"summary": {...}, "options": {...}, "tensors": [...]} as JSON text; the
    /// summary holds "methods" (tensors per method) and, under a rate target,
    /// "target" (bpp, ratio, bytes asked for; achieved_bpp, achieved_ratio, and
    /// of_target = file bytes / target bytes) and "warnings".
    std::string to_json(const CompressOptions& opt) const;
};

CompressReport compress(const std::string& base, const std::string& finetuned, const std::string& out,
                        const CompressOptions& opt);

/// One side of compress(): a checkpoint on disk (a .safetensors file or a model
/// directory), or tensors in memory. `label` names in-memory tensors in messages
/// ("finetuned (in memory): tensor 'x' ...").
struct CheckpointSource {
    std::string path;
    std::vector<TensorView> tensors;
    bool in_memory = false;
    std::string label;
    static CheckpointSource file(std::string path) { return {std::move(path), {}, false, {}}; }
    static CheckpointSource memory(std::vector<TensorView> tensors, std::string label) {
        return {{}, std::move(tensors), true, std::move(label)};
    }
};

/// compress() where either side, or both, may be tensors in memory (read in
/// place, never copied). A fine-tune from memory gives a .dcx that rebuilds a
/// single .safetensors file without `__metadata__`, its tensors in the given
/// order. Names must be unique and each view's bytes match its dtype and shape.
CompressReport compress(const CheckpointSource& base, const CheckpointSource& finetuned, const std::string& out,
                        const CompressOptions& opt);

struct DecompressOptions {
    unsigned threads = 0;
    /// Replace an existing regular file; for a directory output, a directory that
    /// holds nothing but files this rebuild writes (see OutputDir).
    bool overwrite = false;
    bool follow_symlinks = false;  ///< read symbolic links inside a base model directory
    ProgressFn progress;
};

struct DecompressReport {
    size_t tensors = 0, files = 0;
    uint64_t bytes_written = 0;
    bool directory = false;
    /// Every file written, with its bytes: the output itself, or, for a directory,
    /// each shard and other file by its relative path.
    std::vector<std::pair<std::string, uint64_t>> written;
};

/// Rebuilds the fine-tuned checkpoint: a .safetensors file, or a model
/// directory (shards, index, non-tensor files) when the fine-tune was one.
DecompressReport decompress(const std::string& base, const std::string& dcx, const std::string& out,
                            const DecompressOptions& opt);

/// Receives the tensors apply() rebuilds, in the .dcx's output order (shard by
/// shard): begin(), then the tensor's bytes in order in one or more write() calls
/// (bands of a few MiB for coded tensors), then end(). Copy the bytes where you
/// want them (caller-owned memory, a GPU upload, a hash): `data` is valid only
/// during the call.
class TensorSink {
public:
    virtual ~TensorSink() = default;
    virtual void begin(const std::string& name, DType dtype, const Shape& shape, uint64_t nbytes) = 0;
    virtual void write(const uint8_t* data, size_t n) = 0;
    virtual void end() {}
};

struct ApplyOptions {
    unsigned threads = 0;          ///< 0 = every core
    bool follow_symlinks = false;  ///< read symbolic links inside a base model directory
    /// Also decode the FILE sections (a model directory's other files) to check
    /// them, as decompress() does; apply() does not produce them otherwise.
    bool verify_files = false;
    ProgressFn progress;
};

struct ApplyReport {
    size_t tensors = 0;
    uint64_t bytes = 0;  ///< handed to the sink
};

/// Rebuilds the fine-tune's tensors from the base checkpoint and a .dcx into
/// `sink`, writing no file; the bytes are exactly those decompress() writes.
/// Checks everything decompress() checks (the FILE sections' names, not their
/// contents, which apply() does not produce); on Error the sink may already
/// hold tensors: discard them. Memory: two tensors' buffers plus one band.
ApplyReport apply(const std::string& base, const std::string& dcx, TensorSink& sink, const ApplyOptions& opt = {});

/// One tensor record of a .dcx, as info() describes it.
struct DcxTensor {
    std::string name;
    std::string dtype;
    Shape shape;
    std::string kind;    ///< "coded", "exact", "whole"
    std::string method;  ///< the method that wrote the record (registry name)
    std::string reason;  ///< whole: "new", "reshaped", "dtype", "not-float"
    uint64_t stored_bytes = 0;
    // coded only:
    std::string transform, bands;
    int patch = 0;
    int levels = 0;  ///< decomposition levels of db2, db4, cdf97 (0 for dct and dwt)
    std::vector<int> widths;
    std::vector<uint64_t> patches_per_width;
};

/// What info() reads from a .dcx. Every string in it came from the file: print
/// it through a filter for control characters (the CLI does).
struct DcxInfo {
    std::string file;
    uint64_t bytes = 0;
    std::string producer;
    std::vector<std::pair<std::string, std::string>> options;  ///< as recorded (informative)
    /// The base the file needs: the name compress recorded (CompressOptions::base_name;
    /// "" when none was given), and the fingerprint of the base tensors its records
    /// are deltas against (FORMAT.md "Base fingerprint of a .dcx"; needs_base false
    /// when every tensor is stored whole).
    std::string base_name;
    bool needs_base = false;
    uint64_t base_fingerprint = 0;
    bool directory = false;
    size_t shards = 0;
    std::vector<std::pair<std::string, uint64_t>> files;  ///< directory files: name, bytes
    std::vector<std::string> dropped_base_tensors;
    std::vector<DcxTensor> tensors;
    bool has_rel_error = false;
    double rel_error = 0;  ///< recorded at compression (informative)
    uint64_t delta_bytes = 0;
    double ratio = 0, bits_per_param = 0, bits_per_param_all = 0;
    size_t count(const std::string& kind) const;
    /// base_fingerprint as 16 lowercase hex digits.
    std::string base_fingerprint_hex() const;
    /// The recorded options as the CLI spells them, from the option table:
    /// "--method dwt --patch 64 --bits 2:0.5,0:0.5 --bands ll_lh_hl" (options a
    /// newer writer recorded that this reader does not know follow as key=value).
    std::string options_cli() const;
    /// The description as JSON text (the CLI's `info --json`).
    std::string to_json() const;
};

/// Reads and fully verifies a .dcx file (framing, checksums, every record and
/// blob) without a base. Memory: a small multiple of the HEADER's size plus a
/// constant (blobs are checked by streaming), whatever the records declare.
DcxInfo info(const std::string& dcx);
/// info(dcx).to_json().
std::string info_json(const std::string& dcx);

/// True when `path` is a regular file that starts with the .dcx magic bytes (what
/// a reader checks first; the rest is not looked at). Never blocks on a FIFO.
bool is_dcx_file(const std::string& path);

/// The options as the CLI spells them, e.g. "dwt p=64 2:0.5,0:0.5 bands=ll_lh_hl".
std::string describe(const CompressOptions& opt);

}  // namespace deltacodec
