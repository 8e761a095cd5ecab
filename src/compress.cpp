// deltacodec — compress: checkpoint pair → .dcx, tensor by tensor, streamed.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>

#include "codec/codec.hpp"
#include "deltacodec/deltacodec.hpp"
#include "format/header.hpp"
#include "format/record.hpp"
#include "io/checkpoint.hpp"
#include "io/text.hpp"
#include "options_json.hpp"
#include "pipeline/sample.hpp"
#include "pipeline/select.hpp"

namespace deltacodec {
using json = nlohmann::json;

double TensorReport::rel_error() const { return ref2 > 0 ? std::sqrt(err2 / ref2) : 0.0; }
double TensorReport::bits_per_param() const { return params ? 8.0 * stored_bytes / params : 0.0; }

size_t CompressReport::count(const std::string& kind) const {
    size_t n = 0;
    for (const TensorReport& t : tensors) n += t.kind == kind;
    return n;
}
double CompressReport::ratio() const { return dcx_bytes ? static_cast<double>(delta_bytes) / dcx_bytes : 0.0; }
double CompressReport::bits_per_param() const {
    uint64_t bytes = 0, params = 0;
    for (const TensorReport& t : tensors)
        if (t.kind == "coded") bytes += t.stored_bytes, params += t.params;
    return params ? 8.0 * bytes / params : 0.0;
}
double CompressReport::bits_per_param_all() const {
    uint64_t params = 0;
    for (const TensorReport& t : tensors) params += t.params;
    return params ? 8.0 * dcx_bytes / params : 0.0;
}
std::vector<std::pair<std::string, size_t>> CompressReport::methods() const {
    std::vector<std::pair<std::string, size_t>> out;
    for (const MethodTraits* m : method_table()) {
        size_t n = 0;
        for (const TensorReport& t : tensors) n += t.method == m->name;
        if (n) out.emplace_back(std::string(m->name), n);
    }
    return out;
}
bool CompressReport::identical_to_base() const {
    for (const TensorReport& t : tensors)
        if (!t.unchanged) return false;
    return dropped.empty();
}
double CompressReport::rel_error() const {
    double e = 0, r = 0;
    for (const TensorReport& t : tensors)
        if (t.kind == "coded") e += t.err2, r += t.ref2;
    return r > 0 ? std::sqrt(e / r) : 0.0;
}

namespace {

// Reads the finished temporary .dcx back with the readers' own parser (framing,
// checksums, HEADER, FILE names, every record, END): a file our own reader
// refuses is never renamed into place.
void verify_readback(const std::string& temp, const std::string& out_path, size_t tensors) {
    try {
        const MappedFile f = MappedFile::open(temp);
        DcxReader rd(f);
        // Framing, checksums, the HEADER and every record up to its blobs' headers
        // (zstd frame headers included); decoding the blobs again would cost ~10%
        // of compress's time for what zstd itself guarantees.
        const OpenedDcx o = open_dcx(f, rd, false);
        Section s = o.first;
        size_t n = 0;
        for (const ShardSpec& sh : o.hdr.shards)
            for (const TensorSpec& spec : sh.tensors) {
                parse_record(s, spec, temp);
                ++n;
                if (!rd.next(s)) throw Error(temp + ": truncated .dcx file");
            }
        check_end(f.path(), s, n);
        if (n != tensors) throw Error("tensor count " + std::to_string(n));
    } catch (const Error& e) {
        throw Error("the .dcx written for " + out_path + " does not read back (" + e.what() +
                    "); nothing was written: please report this");
    }
}

// The END section's payload: the tensor count and the report's summary without
// what is only known once the file is complete (its size, ratio, bits over the
// whole model) or not part of the format's END (methods, target, warnings).
json end_stats(const CompressReport& rep, const CompressOptions& opt) {
    json stats = json::parse(rep.to_json(opt))["summary"];
    for (const char* k : {"dcx_bytes", "ratio", "bits_per_param_all", "methods", "target", "warnings"}) stats.erase(k);
    return stats;
}

std::vector<uint8_t> end_payload(const CompressReport& rep, const CompressOptions& opt, size_t tensors) {
    const json stats = end_stats(rep, opt);
    const json end = {{"tensors", tensors}, {"stats", stats}};
    const std::string es = end.dump();
    return std::vector<uint8_t>(es.begin(), es.end());
}

// An upper bound of end_payload()'s size whatever the numbers come to: every
// number at its longest text.
uint64_t end_payload_bound(const CompressOptions& opt, size_t tensors) {
    json stats = end_stats(CompressReport{}, opt);
    for (auto& [k, v] : stats.items())
        if (v.is_number_float())
            v = -1.2345678901234567e-300;
        else if (v.is_number())
            v = UINT64_MAX;
    const std::string es = json{{"tensors", tensors}, {"stats", stats}}.dump();
    return es.size() + 32;  // "tensors": at most 20 digits, counted as one: 32 to spare
}

// A section's framing around its payload (type, reserved, length; checksum).
constexpr uint64_t kSectionFraming = 24;

// Rate control: the weight of a tensor's squared error (RdWeight), from one pass
// over its base and delta rows (2-D float deltas; 1 otherwise or for a zero norm).
double distortion_weight(const TensorInput& in, RdWeight rule) {
    if (rule == RdWeight::NONE || !is_2d_float_delta(in)) return 1;
    const TensorInfo& fi = *in.ft->info;
    const TensorInfo& bi = *in.base->info;
    const uint64_t rows = fi.shape[0], cols = fi.shape[1];
    const DeltaView dv{in.base->data(), bi.dtype, in.ft->data(), fi.dtype, rows, cols};
    std::vector<float> d(cols), b(cols);
    double n2 = 0;
    for (uint64_t r = 0; r < rows; ++r) {
        if (rule == RdWeight::BASE) {
            to_f32(bi.dtype, static_cast<const uint8_t*>(in.base->data()) + r * cols * dtype_size(bi.dtype), b.data(),
                   cols);
            for (float x : b) n2 += static_cast<double>(x) * x;
        } else {
            dv.read_rows(r, 1, d.data(), b.data());
            for (float x : d) n2 += static_cast<double>(x) * x;
        }
    }
    return n2 > 0 && std::isfinite(n2) ? 1 / n2 : 1;
}

// Pass 1, analyse: each candidate's rate–distortion points. Without a target one
// cheap point each, in order. Under a target, tensors in parallel (each method's
// ladder measured by encoding it on one thread), and the first non-lossy candidate
// of each tensor (what stores it when no lossy point is chosen, or what an
// unselected tensor is) measured too: the allocator then knows every payload's
// exact bytes. Progress: each tensor's bytes once analysed.
void analyse_all(std::vector<TensorPlan>& plans, const CompressOptions& opt, ThreadPool& pool, ProgressMeter& meter) {
    auto one = [&](TensorPlan& plan, bool measure) {
        // Rate control on a large tensor: row samples, one per group height, made when first needed.
        std::vector<std::pair<uint64_t, std::optional<RowSample>>> samples;
        auto sample_for = [&](const MethodTraits& m) -> const RowSample* {
            if (!measure || !m.sample_rows) return nullptr;
            const uint64_t g = m.sample_rows(opt);
            auto it = std::find_if(samples.begin(), samples.end(), [g](const auto& s) { return s.first == g; });
            if (it == samples.end()) it = samples.emplace(samples.end(), g, RowSample::make(plan.in, g));
            return it->second ? &*it->second : nullptr;
        };
        bool measured = false;
        for (Candidate& c : plan.candidates) {
            TensorInput in = plan.in;
            in.why = c.why;
            const bool lossy = c.method->lossy();
            const RowSample* s = lossy || !measured ? sample_for(*c.method) : nullptr;
            TensorInput sin = s ? s->input() : in;
            sin.why = c.why;
            c.curve = s && lossy ? scale_curve(c.method->analyse(sin, opt), s->scale()) : c.method->analyse(in, opt);
            if (!measure || lossy || measured) continue;
            measured = true;
            const std::optional<RdPoint> p = measure_point(c.method->encode, sin, opt, 0, false);
            if (p) c.curve = s ? scale_curve(RdCurve{{*p}}, s->scale()) : RdCurve{{*p}};
        }
    };
    // The pages of the mapped inputs an analysis touched (a whole-tensor SVD, a row
    // sample) are let go as soon as the tensor is analysed: the encode pass maps them
    // again from the page cache, one tensor at a time, instead of every analysed
    // tensor counting in the resident set until its record is written.
    auto release = [](const TensorPlan& plan) {
        plan.in.ft->release();
        if (plan.in.base) plan.in.base->release();
    };
    if (!rate_controlled(opt)) {
        for (TensorPlan& plan : plans) one(plan, false), release(plan);
        return;
    }
    pool.parallel_for(plans.size(), [&](size_t i) {
        one(plans[i], true);
        plans[i].weight = distortion_weight(plans[i].in, opt.rd_weight);
        release(plans[i]);
        meter.advance(plans[i].in.ft->info->name, plans[i].in.ft->info->nbytes());
    });
}

// "--bpp 0.5" / "bpp=0.5" (or the ratio), for messages.
std::string target_flag(const CompressOptions& opt, bool api) {
    const bool bpp = opt.bpp > 0;
    return std::string(api ? (bpp ? "bpp=" : "ratio=") : (bpp ? "--bpp " : "--ratio ")) +
           number_text(bpp ? opt.bpp : opt.ratio);
}

std::string size_text(uint64_t bytes, uint64_t params, uint64_t delta_bytes) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%llu bytes, %.4f bit/param, ratio %.2f", static_cast<unsigned long long>(bytes),
                  params ? 8.0 * static_cast<double>(bytes) / static_cast<double>(params) : 0.0,
                  bytes ? static_cast<double>(delta_bytes) / static_cast<double>(bytes) : 0.0);
    return buf;
}

// Rate control: the payloads' budget is the target less everything else in the
// file, all of it exact: `fixed` (the file header, HEADER and FILE sections, and
// an upper bound of the END section), and each record's framing and prefix. With
// the payloads measured exactly by analyse, the file never exceeds the target.
// Refuses a target below the cheapest choice of every tensor; warns (in the
// report) when the target is above storing everything losslessly. `capped`: every
// tensor got a lossless point (no more bytes could lower the error).
std::vector<Choice> allocate_to_target(const std::vector<TensorPlan>& plans, const CompressOptions& opt,
                                       CompressReport& rep, uint64_t fixed, uint64_t params, uint64_t delta_bytes,
                                       bool& capped, uint64_t& payload_budget) {
    for (const TensorPlan& plan : plans) {
        const TensorInfo& fi = *plan.in.ft->info;
        ByteWriter w;
        write_prefix(w, TensorPrefix{fi.name, plan.candidates.at(0).method->id, fi.dtype, fi.shape});
        fixed += kSectionFraming + w.buf.size();
    }
    Budget b;
    b.max_bytes = rep.target_bytes > fixed ? rep.target_bytes - fixed : 0;
    payload_budget = b.max_bytes;
    std::vector<Choice> choices = allocate_lagrangian(plans, b);
    const uint64_t planned = fixed + planned_bytes(plans, choices);
    if (planned > rep.target_bytes) {
        const std::string why = " is below the smallest .dcx these tensors make (" +
                                size_text(planned, params, delta_bytes) + "): ask for at least that";
        throw Error(target_flag(opt, false) + why, target_flag(opt, true) + why, ErrorKind::OPTION);
    }
    capped = true;
    for (size_t i = 0; i < plans.size(); ++i) {
        const RdPoint& p = plans[i].candidates[choices[i].candidate].curve.points[choices[i].point];
        capped = capped && p.err2 && *p.err2 == 0;
    }
    if (capped && planned < rep.target_bytes * 0.98)
        rep.warnings.push_back(target_flag(opt, false) + " is above what storing every tensor losslessly takes (" +
                               size_text(planned, params, delta_bytes) + "): that lossless file is written");
    return choices;
}

// After writing: the file against its target (within 2%, never over).
void check_target(CompressReport& rep, const CompressOptions& opt, bool capped) {
    const double of = static_cast<double>(rep.dcx_bytes) / static_cast<double>(rep.target_bytes);
    char pct[32];
    std::snprintf(pct, sizeof pct, "%.1f%%", 100 * of);
    if (rep.dcx_bytes > rep.target_bytes)
        rep.warnings.push_back("the file is " + std::to_string(rep.dcx_bytes) + " bytes, " + pct + " of " +
                               target_flag(opt, false) + " (" + std::to_string(rep.target_bytes) +
                               " bytes): over its target; please report this");
    else if (of < 0.98 && !capped)
        rep.warnings.push_back("the file is " + std::string(pct) + " of " + target_flag(opt, false) +
                               ": the tensors' rate steps are coarser than 2% of this model's size");
}

// Rate control from estimated curves (row samples, pipeline/sample.hpp): the
// records' real payloads differ a little from their estimates, so before each
// tensor is encoded the tensors not yet encoded are allocated again, to the
// payload budget less what the earlier ones took (their real bytes once written,
// their planned bytes while the writer still has them). The error left is that
// of the last few tensors' estimates.
class Replanner {
public:
    Replanner(const std::vector<TensorPlan>& plans, std::vector<Choice>& choices, uint64_t budget)
        : plans_(plans), choices_(choices), budget_(budget), planned_(plans.size(), 0), real_(plans.size()) {
        for (auto& r : real_) r.store(kUnknown);
    }
    /// Before tensor `idx` is encoded: its and the later tensors' choices, again,
    /// when a real size has come in since the last time.
    void before(size_t idx) {
        uint64_t spent = 0, seen = 0;
        for (size_t j = 0; j < idx; ++j) {
            const uint64_t r = real_[j].load();
            spent += r == kUnknown ? planned_[j] : r;
            seen += r != kUnknown;
        }
        if (idx == 0 || seen == seen_) return;
        seen_ = seen;
        const std::vector<TensorPlan> rest(plans_.begin() + static_cast<std::ptrdiff_t>(idx), plans_.end());
        Budget b;
        b.max_bytes = budget_ > spent ? budget_ - spent : 0;
        const std::vector<Choice> c = allocate_lagrangian(rest, b);
        std::copy(c.begin(), c.end(), choices_.begin() + static_cast<std::ptrdiff_t>(idx));
    }
    /// Tensor `idx` was encoded at a point planned at `bytes` (the main thread).
    void encoded(size_t idx, uint64_t bytes) { planned_[idx] = bytes; }
    /// Tensor `idx`'s payload took `bytes` (the writer thread).
    void written(size_t idx, uint64_t bytes) { real_[idx].store(bytes); }

private:
    static constexpr uint64_t kUnknown = ~uint64_t{0};
    const std::vector<TensorPlan>& plans_;
    std::vector<Choice>& choices_;
    uint64_t budget_;
    std::vector<uint64_t> planned_;
    std::vector<std::atomic<uint64_t>> real_;
    uint64_t seen_ = 0;
};

}  // namespace

std::string CompressReport::to_json(const CompressOptions& opt) const {
    json s = {{"tensors_compressed", count("coded")},
              {"tensors_lossless", count("exact") + count("whole")},
              {"tensors_exact_delta", count("exact")},
              {"tensors_whole", count("whole")},
              {"tensors_dropped", dropped.size()},
              {"dcx_bytes", dcx_bytes},
              {"delta_bytes", delta_bytes},
              {"ratio", ratio()},
              {"bits_per_param", bits_per_param()},
              {"bits_per_param_all", bits_per_param_all()},
              {"rel_error", rel_error()}};
    uint64_t pc = 0, pa = 0;
    for (const TensorReport& t : tensors) {
        pa += t.params;
        if (t.kind == "coded") pc += t.params;
    }
    s["params_compressed"] = pc;
    s["params_total"] = pa;
    json ms = json::object();
    for (const auto& [name, n] : methods()) ms[name] = n;
    s["methods"] = ms;
    if (target_bytes) {
        s["target"] = {{"bpp", target_bpp},
                       {"ratio", target_ratio},
                       {"bytes", target_bytes},
                       {"sampled_tensors", target_sampled},
                       {"achieved_bpp", bits_per_param_all()},
                       {"achieved_ratio", ratio()},
                       {"of_target", static_cast<double>(dcx_bytes) / static_cast<double>(target_bytes)}};
        s["warnings"] = warnings;
    }
    json ts = json::array();
    for (const TensorReport& t : tensors)
        ts.push_back({{"name", t.name},
                      {"kind", t.kind},
                      {"method", t.method},
                      {"reason", t.reason},
                      {"dtype", t.dtype},
                      {"shape", t.shape},
                      {"params", t.params},
                      {"delta_bytes", t.delta_bytes},
                      {"stored_bytes", t.stored_bytes},
                      {"bits_per_param", t.bits_per_param()},
                      {"rel_error", t.kind == "coded" ? json(t.rel_error()) : json(nullptr)}});
    json j = {{"summary", s}, {"options", options_json(opt)}, {"tensors", ts}, {"dropped_base_tensors", dropped}};
    return j.dump(2);
}

CompressReport compress(const std::string& base_path, const std::string& ft_path, const std::string& out_path,
                        const CompressOptions& opt) {
    return compress(CheckpointSource::file(base_path), CheckpointSource::file(ft_path), out_path, opt);
}

CompressReport compress(const CheckpointSource& base_src, const CheckpointSource& ft_src, const std::string& out_path,
                        const CompressOptions& opt) {
    const CodecParams& cp = opt.codec;
    // The checks set_options() makes, for options set directly in the struct.
    if (!patch_size_ok(cp.patch))
        throw option_error(*find_option_by_keyword("patch"), std::to_string(cp.patch), kPatchSizeProblem);
    if (cp.jpeg_table && cp.transform != TransformId::DCT)
        throw inapplicable_error(*find_option_by_keyword("quant_table"), "jpeg");
    check_levels(opt);
    check_rate_target(opt);
    const Selector selector(opt);

    // The same file twice is a slip of the keyboard, never a fine-tune: refused. (A
    // different file with the same tensors is compressed, and the report says so:
    // CompressReport::identical_to_base().)
    if (!base_src.in_memory && !ft_src.in_memory && same_file(base_src.path, ft_src.path))
        throw Error("the base and the fine-tune are the same file (" + base_src.path + "): there is no delta to store",
                    ErrorKind::MISMATCH);
    auto open = [&](const CheckpointSource& src) {
        return src.in_memory ? Checkpoint::in_memory(src.label, src.tensors)
                             : Checkpoint::open(src.path, opt.follow_symlinks);
    };
    const Checkpoint base = open(base_src);
    const Checkpoint ft = open(ft_src);
    const std::string &base_path = base.path(), &ft_path = ft.path();  // in messages
    std::vector<std::string> inputs;
    for (const Checkpoint* c : {&base, &ft}) {
        if (!c->is_in_memory()) inputs.push_back(c->path());
        for (const std::string& f : c->file_paths()) inputs.push_back(f);
    }
    for (const std::string& in : inputs) {
        if (!is_stdio(out_path) && same_file(in, out_path))
            throw Error("refusing to overwrite the input " + in + " with the output", ErrorKind::EXISTS);
        if (!opt.report.empty() && same_file(in, opt.report))
            throw Error("refusing to overwrite the input " + in + " with the report", ErrorKind::EXISTS);
    }
    if (!opt.report.empty() && (is_stdio(opt.report) ? is_stdio(out_path) : same_target(opt.report, out_path)))
        throw Error("the report and the output are the same file: " + opt.report, ErrorKind::OPTION);
    for (const std::string& f : ft.aux_files()) {
        struct stat st {};
        const std::string p = ft.path() + "/" + f;
        if (::stat(p.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) > kMaxAuxFile)
            throw Error(printable(p) + " is larger than 1 GiB, the most a .dcx carries for a file other than a shard");
    }

    // Select: every tensor's candidate methods, most preferred first.
    Selection sel = selector.select(base, ft);
    std::vector<TensorPlan>& plans = sel.plans;
    // Refuse what no reader would accept, before writing anything.
    for (const TensorRef& t : ft.tensors()) {
        const TensorInfo& fi = *t.info;
        const std::string why = tensor_name_problem(fi.name);
        if (!why.empty())
            throw Error(ft_path + ": a tensor has " + why + " ('" + fi.name + "'); a .dcx cannot hold it");
        if (fi.shape.size() > kMaxRank)
            throw Error(ft_path + ": tensor '" + fi.name + "' has " + std::to_string(fi.shape.size()) +
                        " dimensions; a .dcx holds at most " + std::to_string(kMaxRank));
    }
    if (!sel.related)
        throw Error("base and fine-tune share no 2-D float tensor of the same name and shape: " + base_path +
                        " is not the base of " + ft_path,
                    ErrorKind::MISMATCH);

    DcxHeader hdr;
    hdr.directory = ft.is_directory();
    hdr.options = options_json(opt);
    if (opt.base_name.size() > kMaxBaseName)
        throw Error("the base name is longer than " + std::to_string(kMaxBaseName) + " bytes");
    hdr.base_name = opt.base_name;
    for (const Shard& s : ft.shards()) {
        ShardSpec ss{ft.is_directory() ? s.file : std::string("model.safetensors"), s.st.metadata(), {}};
        for (const TensorInfo& t : s.st.tensors()) ss.tensors.push_back({t.name, t.dtype, t.shape});
        hdr.shards.push_back(std::move(ss));
    }
    CompressReport rep;
    for (const TensorRef& t : base.tensors())
        if (!ft.find(t.info->name)) rep.dropped.push_back(t.info->name);
    hdr.dropped = rep.dropped;

    for (const ShardSpec& ss : hdr.shards) {
        const std::string why = relative_path_problem(ss.file);
        if (!why.empty())
            throw Error(ft_path + ": shard file '" + ss.file + "' has " + why + "; a .dcx cannot hold it");
    }
    const std::vector<uint8_t> header_bytes = header_to_bytes(hdr);
    if (header_bytes.size() > kMaxHeaderJson)
        throw Error(ft_path + ": its tensor list and metadata make a .dcx header of " +
                    std::to_string(header_bytes.size() >> 20) + " MiB, over the format's limit of " +
                    std::to_string(kMaxHeaderJson >> 20) + " MiB");

    OutputFile out(out_path, opt.overwrite);
    // The report's temporary is created before any work, so an existing or
    // unwritable report fails early; it is committed right after the .dcx.
    std::unique_ptr<OutputFile> report_file;
    if (!opt.report.empty()) report_file = std::make_unique<OutputFile>(opt.report, opt.overwrite);
    // Standard output cannot be read back: each section is checked by the readers'
    // parsers before it is sent instead (framing and checksums are computed from it).
    SectionSequenceCheck stream_check("<stdout>");
    DcxWriter::Check check;
    if (out.is_stream())
        check = [&stream_check](SectionType t, const std::vector<uint8_t>& p) {
            try {
                stream_check.check(t, p.data(), p.size());
            } catch (const Error& e) {
                throw Error(std::string("the .dcx written to <stdout> does not check out (") + e.what() +
                            "): please report this");
            }
        };
    DcxWriter dcx(out, check);
    dcx.section(SectionType::HEADER, header_bytes);
    for (const std::string& f : ft.aux_files()) {
        const std::vector<uint8_t> data = read_file(ft.path() + "/" + f, kMaxAuxFile, opt.follow_symlinks);
        ByteWriter w;
        w.str16(f);
        w.blob(data.data(), data.size(), true);
        dcx.section(SectionType::FILE, w.buf);
    }

    // Analyse (pass 1): each candidate's rate–distortion points; small output,
    // nothing tensor-sized kept. Allocate: one choice per tensor.
    ThreadPool pool(opt.threads);
    const bool rc = rate_controlled(opt);
    uint64_t total_bytes = 0, total_params = 0;
    for (const TensorPlan& plan : plans)
        total_bytes += plan.in.ft->info->nbytes(), total_params += plan.in.ft->info->numel();
    ProgressMeter meter(opt.progress, rc ? 2 * total_bytes : total_bytes, plans.size());
    analyse_all(plans, opt, pool, meter);
    std::vector<Choice> choices;
    bool capped = false;
    uint64_t payload_budget = 0;
    if (!rc) {
        choices = allocate_fixed(plans, Budget{});
    } else {
        rep.target_bpp = opt.bpp;
        rep.target_ratio = opt.ratio;
        rep.target_bytes = static_cast<uint64_t>(opt.bpp > 0 ? opt.bpp * static_cast<double>(total_params) / 8
                                                             : static_cast<double>(total_bytes) / opt.ratio);
        choices =
            allocate_to_target(plans, opt, rep, dcx.bytes() + kSectionFraming + end_payload_bound(opt, plans.size()),
                               total_params, total_bytes, capped, payload_budget);
    }
    for (const TensorPlan& p : plans)
        rep.target_sampled +=
            std::any_of(p.candidates.begin(), p.candidates.end(), [](const Candidate& c) { return c.curve.estimated; });
    const bool estimated = rep.target_sampled > 0;
    Replanner replan(plans, choices, payload_budget);

    // Encode and write (pass 2). The parallel encoding of tensor i+1 overlaps
    // with the serial part of tensor i (record building with zstd, checksum,
    // write) on a background thread. Depth 1: job i has finished before tensor
    // i+2 reuses its buffers.
    ByteWriter w;  // used by the writer thread only; capacity reused
    Scratch scratch[2];
    rep.tensors.resize(plans.size());
    SerialWorker writer(1);
    for (size_t idx = 0; idx < plans.size(); ++idx) {
        const TensorPlan& plan = plans[idx];
        const TensorInfo& fi = *plan.in.ft->info;
        EncodeContext ec{pool, scratch[idx % 2], &meter};
        if (estimated) replan.before(idx);
        meter.begin_tensor(fi.name, fi.nbytes());
        const Candidate* used = nullptr;
        std::optional<EncodedRecord> enc;
        bool unchanged = false;
        for (size_t c = choices[idx].candidate; c < plan.candidates.size() && !enc; ++c) {
            if (plan.candidates[c].curve.points.empty()) continue;  // declined in analyse (a non-finite delta)
            used = &plan.candidates[c];
            TensorInput in = plan.in;
            in.why = used->why;
            const size_t point = c == choices[idx].candidate ? choices[idx].point : 0;
            enc = used->method->encode(in, opt, used->curve.points.at(point), ec);
            // A lossy coder given an unchanged tensor (‖Δ‖ = 0) would spend bytes on
            // nothing: the next candidate, the lossless delta, stores it in a few
            // bytes, and the rebuild copies the base's bytes (no decoding).
            if (enc && used->method->lossy() && enc->ref2 == 0 && c + 1 < plan.candidates.size()) {
                enc.reset();
                unchanged = true;
            }
        }
        if (!enc) throw Error("internal error: no method stored tensor '" + fi.name + "'");
        if (estimated)
            replan.encoded(
                idx,
                used->curve.points.at(used == &plan.candidates[choices[idx].candidate] ? choices[idx].point : 0).bytes);
        meter.end_tensor();
        TensorReport tr;
        tr.name = fi.name;
        tr.dtype = std::string(dtype_name(fi.dtype));
        tr.shape = fi.shape;
        tr.params = fi.numel();
        tr.delta_bytes = fi.nbytes();
        tr.kind = std::string(used->method->kind);
        tr.method = std::string(used->method->name);
        tr.reason = unchanged && !used->method->lossy() ? std::string("unchanged") : used->reason;
        if (used->method->lossy()) tr.err2 = enc->err2, tr.ref2 = enc->ref2;
        tr.unchanged = enc->unchanged;
        const TensorPrefix pre{fi.name, used->method->id, fi.dtype, fi.shape};
        writer.submit([&, idx, pre, enc = std::move(*enc), tr = std::move(tr)]() mutable {
            const TensorPlan& plan = plans[idx];
            w.buf.clear();
            write_prefix(w, pre);
            const size_t prefix = w.buf.size();
            enc.write(w);
            const uint64_t before = dcx.bytes();
            const uint64_t payload = w.buf.size() - prefix;
            dcx.section(SectionType::TENSOR, w.buf);
            if (estimated) replan.written(idx, payload);
            tr.stored_bytes = dcx.bytes() - before;
            rep.delta_bytes += tr.delta_bytes;
            rep.tensors[idx] = std::move(tr);
            plan.in.ft->release();
            if (plan.in.base) plan.in.base->release();
            meter.tensor_done();
        });
    }
    writer.wait();

    dcx.section(SectionType::END, end_payload(rep, opt, plans.size()));
    out.flush();
    if (!out.is_stream())
        verify_readback(out.temp_path(), out_path, plans.size());
    else if (!stream_check.complete())
        throw Error("the .dcx written to <stdout> ended early: please report this");
    rep.dcx_bytes = out.bytes_written();
    if (rc) check_target(rep, opt, capped);
    if (report_file) {
        const std::string js = rep.to_json(opt) + "\n";
        report_file->write(js.data(), js.size());
        report_file->check_target();  // both outputs or neither
    }
    out.commit();
    if (report_file) {
        try {
            report_file->commit();
        } catch (...) {
            if (!opt.overwrite && !out.is_stream()) ::unlink(out_path.c_str());  // created by this run a moment ago
            throw;
        }
    }
    meter.finish();
    return rep;
}

}  // namespace deltacodec
