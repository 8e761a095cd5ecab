// deltacodec — `deltacodec bench BASE FINETUNED`: for each method and each
// target rate, a real compress (to a temporary file, unlinked as soon as it is
// measured), its real size, error and SNR beside the Gaussian bound, and the
// compress and in-memory rebuild throughput. See README "Command line".
#include "bench.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string_view>

#include "deltacodec/deltacodec.hpp"
#include "deltacodec/options.hpp"

namespace deltacodec_cli {
namespace {

using deltacodec::Error;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::vector<std::string> split_list(std::string_view s) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i <= s.size()) {
        const size_t j = std::min(s.find(',', i), s.size());
        if (j > i) out.emplace_back(s.substr(i, j - i));
        i = j + 1;
    }
    return out;
}

// "auto": every lossy method offered, the allocator choosing per tensor.
constexpr std::string_view kAuto = "auto";

std::vector<std::string> bench_methods(const std::string& given) {
    const deltacodec::OptionRow* row = deltacodec::find_option_by_keyword("method");
    if (row == nullptr) throw Error("internal: no --method row in the option table");
    std::vector<std::string> all = row->choices;
    if (given.empty()) {
        all.emplace_back(kAuto);
        return all;
    }
    std::vector<std::string> out = split_list(given);
    if (out.empty()) throw Error("--methods '" + given + "' names no method");
    for (const std::string& m : out)
        if (m != kAuto && std::find(all.begin(), all.end(), m) == all.end()) {
            std::string list;
            for (const std::string& a : all) list += a + ", ";
            throw Error("--methods: '" + m + "' is not one of " + list + std::string(kAuto));
        }
    return out;
}

std::vector<double> bench_rates(const std::string& given) {
    std::vector<double> out;
    for (const std::string& w : split_list(given)) {
        char* end = nullptr;
        const double v = std::strtod(w.c_str(), &end);
        if (end == w.c_str() || *end != '\0' || !std::isfinite(v) || v <= 0 || v > 64)
            throw Error("--bpp '" + w + "' is not a number of bits per parameter in (0, 64]");
        out.push_back(v);
    }
    if (out.empty()) throw Error("--bpp '" + given + "' names no rate");
    return out;
}

// apply()'s rebuilt bytes, dropped (the rebuild is timed without writing a file).
struct Discard final : deltacodec::TensorSink {
    void begin(const std::string&, deltacodec::DType, const deltacodec::Shape&, uint64_t) override {}
    void write(const uint8_t*, size_t) override {}
    void end() override {}
};

struct Row {
    std::string method;
    double target = 0;
    uint64_t bytes = 0;
    double bpp_all = 0, bpp_coded = 0, ratio = 0, rel_error = 0;
    double snr_db = 0, bound_db = 0;
    double compress_s = 0, rebuild_s = 0;
    uint64_t delta_bytes = 0;
    std::string used;     ///< methods the tensors ended up with: "patch 12, exact_delta 3"
    std::string skipped;  ///< non-empty: the target cannot be met (compress's reason); no file was made
};

std::string methods_used(const deltacodec::CompressReport& r) {
    std::vector<std::pair<std::string, int>> n;
    for (const deltacodec::TensorReport& t : r.tensors) {
        auto it = std::find_if(n.begin(), n.end(), [&](const auto& p) { return p.first == t.method; });
        if (it == n.end())
            n.emplace_back(t.method, 1);
        else
            ++it->second;
    }
    std::string s;
    for (const auto& [m, c] : n) s += (s.empty() ? "" : ", ") + m + " " + std::to_string(c);
    return s;
}

// A unique path in the temporary directory for one run's .dcx.
std::string temp_dcx_path(int run) {
    const std::filesystem::path dir = std::filesystem::temp_directory_path();
    return (dir / ("deltacodec-bench-" + std::to_string(::getpid()) + "-" + std::to_string(run) + ".dcx")).string();
}

// One run's options: its --method (none for auto), then each of --patch / --levels
// that applies to that method, all through their rows as compress parses them.
// `used`, when given, counts per given row the methods it applied to.
deltacodec::CompressOptions run_options(const BenchArgs& a, const std::string& method,
                                        std::vector<int>* used = nullptr) {
    std::vector<std::pair<const deltacodec::OptionRow*, std::string>> given;
    if (method != kAuto) given.emplace_back(deltacodec::find_option_by_keyword("method"), method);
    deltacodec::CompressOptions chosen;
    deltacodec::set_options(chosen, given);
    const std::vector<std::pair<const deltacodec::OptionRow*, std::string>> codec = a.codec.given();
    for (size_t i = 0; i < codec.size(); ++i)
        if (codec[i].first->applies_to(chosen)) {
            given.push_back(codec[i]);
            if (used) ++(*used)[i];
        }
    deltacodec::CompressOptions o;
    deltacodec::set_options(o, given);
    return o;
}

Row run_one(const BenchArgs& a, const std::string& method, double target, int run) {
    deltacodec::CompressOptions o = run_options(a, method);
    o.bpp = target;
    o.threads = a.threads;
    const std::string path = temp_dcx_path(run);
    Row r;
    r.method = method;
    r.target = target;
    const Clock::time_point t0 = Clock::now();
    deltacodec::CompressReport rep;
    try {
        rep = deltacodec::compress(a.base, a.finetuned, path, o);
    } catch (const Error& e) {
        // A target this pair cannot reach (below its smallest file): a row of the
        // table that says so, not the end of the benchmark.
        if (e.kind() != deltacodec::ErrorKind::OPTION) throw;
        r.skipped = e.what();
        return r;
    }
    r.compress_s = seconds_since(t0);
    // Unlinked at once: the rebuild reads it through the open descriptor, and an
    // interrupted bench leaves nothing behind.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ::unlink(path.c_str());
    if (fd < 0) throw Error("cannot reopen the benchmark's temporary file " + path);
    try {
        Discard sink;
        deltacodec::ApplyOptions ao;
        ao.threads = a.threads;
        const Clock::time_point t1 = Clock::now();
        deltacodec::apply(a.base, "/proc/self/fd/" + std::to_string(fd), sink, ao);
        r.rebuild_s = seconds_since(t1);
    } catch (...) {
        ::close(fd);
        throw;
    }
    ::close(fd);
    r.bytes = rep.dcx_bytes;
    r.delta_bytes = rep.delta_bytes;
    r.bpp_all = rep.bits_per_param_all();
    r.bpp_coded = rep.bits_per_param();
    r.ratio = rep.ratio();
    r.rel_error = rep.rel_error();
    r.snr_db = r.rel_error > 0 ? -20.0 * std::log10(r.rel_error) : INFINITY;
    r.bound_db = 6.02 * r.bpp_coded;  // a Gaussian source at that many bits per coded parameter
    r.used = methods_used(rep);
    return r;
}

nlohmann::json to_json(const std::vector<Row>& rows) {
    nlohmann::json arr = nlohmann::json::array(), skipped = nlohmann::json::array();
    for (const Row& r : rows)
        if (!r.skipped.empty())
            skipped.push_back({{"method", r.method}, {"target_bpp", r.target}, {"reason", r.skipped}});
        else
            arr.push_back({{"method", r.method},
                           {"target_bpp", r.target},
                           {"dcx_bytes", r.bytes},
                           {"bits_per_param_all", r.bpp_all},
                           {"bits_per_param", r.bpp_coded},
                           {"ratio", r.ratio},
                           {"rel_error", r.rel_error},
                           {"snr_db", std::isfinite(r.snr_db) ? nlohmann::json(r.snr_db) : nlohmann::json(nullptr)},
                           {"gaussian_bound_db", r.bound_db},
                           {"compress_s", r.compress_s},
                           {"rebuild_s", r.rebuild_s},
                           {"compress_mb_s", r.compress_s > 0 ? r.delta_bytes / r.compress_s / 1e6 : 0.0},
                           {"rebuild_mb_s", r.rebuild_s > 0 ? r.delta_bytes / r.rebuild_s / 1e6 : 0.0},
                           {"methods_used", r.used}});
    return {{"rows", arr}, {"skipped", skipped}};
}

// SNR (dB) against bits per coded parameter (log2 axis), one line per method,
// and the Gaussian bound 6.02 dB per bit. Plain SVG.
std::string to_svg(const std::vector<Row>& rows) {
    constexpr double W = 720, H = 440, L = 60, R = 170, T = 20, B = 50;
    double xmin = 1e9, xmax = -1e9, ymax = 1;
    for (const Row& r : rows) {
        if (r.bpp_coded <= 0 || !r.skipped.empty()) continue;
        xmin = std::min(xmin, std::log2(r.bpp_coded));
        xmax = std::max(xmax, std::log2(r.bpp_coded));
        if (std::isfinite(r.snr_db)) ymax = std::max(ymax, r.snr_db);
    }
    if (xmin > xmax) xmin = -3, xmax = 1;
    xmin = std::floor(xmin), xmax = std::max(std::ceil(xmax), xmin + 1);
    ymax = std::max(ymax, 6.02 * std::exp2(xmax));
    ymax = std::ceil(ymax / 5) * 5;
    auto X = [&](double bits) { return L + (std::log2(bits) - xmin) / (xmax - xmin) * (W - L - R); };
    auto Y = [&](double db) { return T + (1 - std::clamp(db, 0.0, ymax) / ymax) * (H - T - B); };
    std::string s;
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" font-family=\"sans-serif\" "
                  "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                  W, H);
    s += buf;
    for (double e = xmin; e <= xmax; ++e) {
        std::snprintf(buf, sizeof buf,
                      "<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" stroke=\"#ddd\"/><text x=\"%.1f\" y=\"%g\" "
                      "text-anchor=\"middle\">%g</text>\n",
                      X(std::exp2(e)), T, X(std::exp2(e)), H - B, X(std::exp2(e)), H - B + 16, std::exp2(e));
        s += buf;
    }
    for (double d = 0; d <= ymax; d += ymax / 5) {
        std::snprintf(buf, sizeof buf,
                      "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#ddd\"/><text x=\"%g\" y=\"%.1f\" "
                      "text-anchor=\"end\">%g</text>\n",
                      L, Y(d), W - R, Y(d), L - 6, Y(d) + 4, d);
        s += buf;
    }
    std::snprintf(buf, sizeof buf,
                  "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">bits per coded parameter (real bytes)</text>\n"
                  "<text x=\"14\" y=\"%g\" transform=\"rotate(-90 14 %g)\" text-anchor=\"middle\">SNR of the delta "
                  "(dB)</text>\n",
                  (L + W - R) / 2, H - 12, (T + H - B) / 2, (T + H - B) / 2);
    s += buf;
    // The Gaussian bound.
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\" stroke-dasharray=\"4 3\"/>\n",
                  X(std::exp2(xmin)), Y(6.02 * std::exp2(xmin)), X(std::exp2(xmax)), Y(6.02 * std::exp2(xmax)));
    s += buf;
    static const char* const kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                          "#9467bd", "#8c564b", "#e377c2", "#17becf"};
    std::vector<std::string> methods;
    for (const Row& r : rows)
        if (std::find(methods.begin(), methods.end(), r.method) == methods.end()) methods.push_back(r.method);
    for (size_t m = 0; m < methods.size(); ++m) {
        const char* color = kColors[m % std::size(kColors)];
        std::vector<const Row*> pts;
        for (const Row& r : rows)
            if (r.method == methods[m] && r.skipped.empty() && r.bpp_coded > 0 && std::isfinite(r.snr_db))
                pts.push_back(&r);
        std::sort(pts.begin(), pts.end(), [](const Row* a, const Row* b) { return a->bpp_coded < b->bpp_coded; });
        std::string line;
        for (const Row* p : pts) {
            std::snprintf(buf, sizeof buf, "%.1f,%.1f ", X(p->bpp_coded), Y(p->snr_db));
            line += buf;
            std::snprintf(buf, sizeof buf, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", X(p->bpp_coded),
                          Y(p->snr_db), color);
            s += buf;
        }
        s += "<polyline fill=\"none\" stroke=\"" + std::string(color) + "\" points=\"" + line + "\"/>\n";
        std::snprintf(
            buf, sizeof buf, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"%s\"/><text x=\"%g\" y=\"%g\">",
            W - R + 12, T + 10 + 18.0 * m, W - R + 32, T + 10 + 18.0 * m, color, W - R + 38, T + 14 + 18.0 * m);
        s += buf;
        s += methods[m] + "</text>\n";
    }
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"black\" stroke-dasharray=\"4 3\"/><text "
                  "x=\"%g\" y=\"%g\">Gaussian bound</text>\n</svg>\n",
                  W - R + 12, T + 10 + 18.0 * methods.size(), W - R + 32, T + 10 + 18.0 * methods.size(), W - R + 38,
                  T + 14 + 18.0 * methods.size());
    s += buf;
    return s;
}

// Whether `out` is `input` itself or lies inside it (a model directory).
bool is_or_inside(const std::string& out, const std::string& input) {
    std::error_code ec;
    const std::filesystem::path in = std::filesystem::weakly_canonical(input, ec);
    if (ec) return false;
    const std::filesystem::path o = std::filesystem::weakly_canonical(out, ec);
    if (ec) return false;
    auto rel = o.lexically_relative(in);
    return !rel.empty() && *rel.begin() != "..";
}

// Refuses an output that write_output would refuse, before any work is done; and
// an output that is an input or inside an input directory, even with -f.
void check_output(const std::string& path, bool overwrite, const char* what,
                  const std::vector<std::string>& inputs = {}) {
    if (path.empty() || path == "-") return;
    for (const std::string& in : inputs)
        if (is_or_inside(path, in))
            throw Error(path + ": is an input (" + in + ") or inside one; " + what + " not written");
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return;
    if (!S_ISREG(st.st_mode)) throw Error(path + ": exists and is not a regular file; " + what + " not written");
    if (!overwrite) throw Error(path + ": exists; use -f to replace it");
}

// Writes `text` to `path` under a temporary name in its directory, then renames
// it over the path: an existing file is replaced only with -f, and never when it
// is not a regular file (a link, a directory, a device).
void write_output(const std::string& path, const std::string& text, bool overwrite, const char* what) {
    if (path == "-") {
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fflush(stdout);
        return;
    }
    check_output(path, overwrite, what);
    const std::filesystem::path p(path);
    std::string tmpl = ((p.has_parent_path() ? p.parent_path() : std::filesystem::path(".")) /
                        ("." + p.filename().string() + ".XXXXXX"))
                           .string();
    const int fd = ::mkstemp(tmpl.data());
    if (fd < 0) throw Error(path + ": cannot create a file next to it: " + std::strerror(errno));
    size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int e = errno;
            ::close(fd);
            ::unlink(tmpl.c_str());
            throw Error(path + ": write failed: " + std::strerror(e));
        }
        done += static_cast<size_t>(n);
    }
    if (::fchmod(fd, 0644) != 0 || ::fsync(fd) != 0 || ::close(fd) != 0 || ::rename(tmpl.c_str(), path.c_str()) != 0) {
        const int e = errno;
        ::unlink(tmpl.c_str());
        throw Error(path + ": cannot be written: " + std::strerror(e));
    }
}

}  // namespace

CLI::App* add_bench_command(CLI::App& app, BenchArgs& a) {
    auto* b = app.add_subcommand(
        "bench",
        "rate-distortion table of each method on BASE/FINETUNED: real bytes, bits/param, rel. error, SNR beside "
        "the Gaussian bound, compress and rebuild throughput (each run compresses to a temporary file)");
    b->add_option("BASE", a.base, "base checkpoint")->required();
    b->add_option("FINETUNED", a.finetuned, "fine-tuned checkpoint")->required();
    b->add_option("--methods", a.methods,
                  "comma list of --method values, and 'auto' (every method, chosen per tensor by rate control); "
                  "default: all of them");
    b->add_option("--bpp", a.bpp, "comma list of target bits per parameter (the whole file over every parameter)")
        ->capture_default_str();
    a.codec.add(b, {deltacodec::find_option_by_keyword("patch"), deltacodec::find_option_by_keyword("levels")});
    b->add_option("--plot", a.plot, "write an SVG plot of SNR against bits per coded parameter here");
    b->add_option("--json", a.json, "write the table as JSON here (- for standard output)");
    b->add_option("-T,--threads", a.threads, "threads (0 = all cores)")
        ->check(CLI::Range(0u, deltacodec::kMaxThreads))
        ->capture_default_str();
    b->add_flag("-f,--force", a.overwrite, "replace an existing --plot / --json file");
    b->add_flag("-q,--quiet", a.quiet, "print nothing but errors (the --json/--plot files are still written)");
    return b;
}

void check_bench_args(const BenchArgs& a) {
    const std::vector<std::string> methods = bench_methods(a.methods);
    bench_rates(a.bpp);
    const std::vector<std::pair<const deltacodec::OptionRow*, std::string>> codec = a.codec.given();
    std::vector<int> used(codec.size());
    for (const std::string& m : methods) run_options(a, m, &used);  // a bad value or combination
    for (size_t i = 0; i < codec.size(); ++i)
        if (!used[i]) throw deltacodec::inapplicable_error(*codec[i].first, codec[i].second);
}

int run_bench(const BenchArgs& a) {
    const std::vector<std::string> methods = bench_methods(a.methods);
    const std::vector<double> rates = bench_rates(a.bpp);
    check_output(a.json, a.overwrite, "JSON", {a.base, a.finetuned});
    check_output(a.plot, a.overwrite, "plot", {a.base, a.finetuned});
    if (!a.json.empty() && a.json == a.plot) throw Error("--json and --plot name the same file " + a.json);
    FILE* out = a.json == "-" ? stderr : stdout;
    if (!a.quiet) {
        std::fprintf(out, "%-10s %6s %12s %8s %8s %9s %9s %8s %8s %9s %9s  %s\n", "method", "target", "bytes", "bpp",
                     "bpp-coded", "ratio", "rel.err", "SNR dB", "bound", "comp MB/s", "rebuild", "tensors by method");
        std::fflush(out);
    }
    std::vector<Row> rows;
    int run = 0;
    for (const std::string& m : methods)
        for (double t : rates) {
            const Row r = run_one(a, m, t, run++);
            rows.push_back(r);
            if (!a.quiet && !r.skipped.empty()) {
                std::fprintf(out, "%-10s %6g  not reached: %s\n", r.method.c_str(), r.target, r.skipped.c_str());
                std::fflush(out);
            } else if (!a.quiet) {
                std::fprintf(out, "%-10s %6g %12llu %8.4f %9.4f %9.2f %9.4f %8.2f %8.2f %9.0f %9.0f  %s\n",
                             r.method.c_str(), r.target, static_cast<unsigned long long>(r.bytes), r.bpp_all,
                             r.bpp_coded, r.ratio, r.rel_error, r.snr_db, r.bound_db,
                             r.compress_s > 0 ? r.delta_bytes / r.compress_s / 1e6 : 0.0,
                             r.rebuild_s > 0 ? r.delta_bytes / r.rebuild_s / 1e6 : 0.0, r.used.c_str());
                std::fflush(out);
            }
        }
    if (!a.json.empty()) write_output(a.json, to_json(rows).dump(2) + "\n", a.overwrite, "JSON");
    if (!a.plot.empty()) write_output(a.plot, to_svg(rows), a.overwrite, "plot");
    return 0;
}

}  // namespace deltacodec_cli
