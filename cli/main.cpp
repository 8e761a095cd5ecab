// deltacodec — command-line tool: compress / decompress / info / test.
//
// Conventions (README "Command line"): "-" is standard output for -o (compress's
// .dcx and --report, decompress's single-file output) and standard input for the
// .dcx argument; summaries go to stderr whenever stdout carries data; progress is
// drawn on stderr when it is a terminal; exit status 0 success, 1 error, 2 usage.
#include <sys/ioctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <memory>
#include <string_view>

#include "bench.hpp"
#include "deltacodec/blas_core.hpp"
#include "deltacodec/deltacodec.hpp"
#include "option_rows.hpp"

using namespace deltacodec;

#ifndef DELTACODEC_VERSION
#error "DELTACODEC_VERSION comes from CMake's project(VERSION)"
#endif
static_assert(std::string_view(DELTACODEC_VERSION) == std::string_view(kVersion),
              "CMakeLists.txt's project(VERSION) and deltacodec.hpp's kVersion must agree");

namespace {

constexpr int kExitOk = 0, kExitError = 1, kExitUsage = 2;
constexpr const char* kExitHelp =
    "Exit status: 0 success; 1 error (bad or corrupt input, wrong base, refused or failed output); 2 usage "
    "error (unknown subcommand or option, bad option value, wrong number of arguments). \"-\" is standard "
    "output for -o and standard input for the .dcx argument.";

using Clock = std::chrono::steady_clock;

bool is_stdio_arg(const std::string& s) { return s == "-"; }

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string human(uint64_t b) {
    char buf[32];
    if (b >= (1ull << 30))
        std::snprintf(buf, sizeof buf, "%.2f GiB", b / double(1ull << 30));
    else if (b >= (1ull << 20))
        std::snprintf(buf, sizeof buf, "%.2f MiB", b / double(1ull << 20));
    else if (b >= 1024)
        std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
    else
        std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
    return buf;
}

std::string duration(double s) {
    char buf[32];
    if (s < 60)
        std::snprintf(buf, sizeof buf, s < 10 ? "%.2f s" : "%.1f s", s);
    else if (s < 3600)
        std::snprintf(buf, sizeof buf, "%d:%02d", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
    else
        std::snprintf(buf, sizeof buf, "%d:%02d:%02d", static_cast<int>(s) / 3600, static_cast<int>(s) / 60 % 60,
                      static_cast<int>(s) % 60);
    return buf;
}

// "4096x4096"
std::string shape_text(const Shape& shape) {
    std::string s;
    for (uint64_t d : shape) {
        if (!s.empty()) s += 'x';
        s += std::to_string(d);
    }
    return s;
}

// "2.31 s, 586 MB/s": the closing line's elapsed time and throughput (decimal MB, as dd and zstd).
std::string timing(uint64_t bytes, double s) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s, %.0f MB/s", duration(s).c_str(), s > 0 ? bytes / s / 1e6 : 0.0);
    return buf;
}

// Prints to the summary stream: stdout, or stderr when stdout carries data.
struct Summary {
    FILE* f = stdout;
    bool quiet = false;
    void operator()(const char* fmt, ...) const __attribute__((format(printf, 2, 3))) {
        if (quiet) return;
        va_list ap;
        va_start(ap, fmt);
        std::vfprintf(f, fmt, ap);
        va_end(ap);
    }
};

// One progress line on stderr, redrawn at most 10 times a second with \r and
// cleared at the end: percentage, bytes, MB/s, time left and the current tensor.
struct ProgressLine {
    bool on = false;
    Clock::time_point start = Clock::now(), last{};
    bool drawn = false;

    void operator()(const Progress& p) {
        if (!on) return;
        const bool final = p.tensors_done == p.tensors_total && p.bytes_done == p.bytes_total;
        const Clock::time_point now = Clock::now();
        if (final) {
            clear();
            return;
        }
        if (drawn && now - last < std::chrono::milliseconds(100)) return;
        last = now;
        const double el = std::chrono::duration<double>(now - start).count();
        const double rate = el > 0 ? p.bytes_done / el : 0;  // bytes per second so far
        const double frac = p.bytes_total ? static_cast<double>(p.bytes_done) / p.bytes_total : 0;
        std::string left = "--:--";
        if (rate > 0 && p.bytes_done > 0) left = duration((p.bytes_total - p.bytes_done) / rate);
        char head[160];
        std::snprintf(head, sizeof head, "%3d%%  %s / %s  %.0f MB/s  %s left  [%zu/%zu] ", static_cast<int>(frac * 100),
                      human(p.bytes_done).c_str(), human(p.bytes_total).c_str(), rate / 1e6, left.c_str(),
                      p.tensors_done, p.tensors_total);
        std::string line = head + printable(p.tensor);
        const size_t width = terminal_width();
        if (line.size() >= width) line.resize(width - 1);  // one line: a wrapped line defeats \r
        std::fprintf(stderr, "\r\033[K%s", line.c_str());
        std::fflush(stderr);
        drawn = true;
    }
    void clear() {
        if (!drawn) return;
        std::fprintf(stderr, "\r\033[K");
        std::fflush(stderr);
        drawn = false;
    }
    static size_t terminal_width() {
        winsize ws{};
        if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
        return 80;
    }
};

// --- "did you mean": the nearest known word within a small edit distance ------

// Edits (insert, delete, substitute, swap two neighbours) from a to b: the
// optimal string alignment distance. Words here are command-line arguments.
size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
    for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
    for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
    for (size_t i = 1; i <= a.size(); ++i)
        for (size_t j = 1; j <= b.size(); ++j) {
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1])});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    return d[a.size()][b.size()];
}

// The candidate nearest to `word` (an edit distance of 1 for words of up to 3
// characters, 2 for longer ones, or a prefix of at least 3 characters); "" when
// none is near.
std::string nearest(std::string_view word, const std::vector<std::string>& candidates) {
    if (word.size() > 64) return "";
    std::string best;
    size_t best_d = word.size() <= 3 ? 2 : 3;
    for (const std::string& c : candidates) {
        const size_t d = word.size() >= 3 && c.rfind(word, 0) == 0 ? 1 : edit_distance(word, c);
        if (d < best_d) best = c, best_d = d;
    }
    return best;
}

// A hint for a command line CLI11 refused: an unknown subcommand or long option
// close to a known one. "" when there is nothing to suggest.
std::string typo_hint(CLI::App& app, int argc, char** argv) {
    std::vector<std::string> subs;
    for (const CLI::App* s : app.get_subcommands({})) subs.push_back(s->get_name());
    CLI::App* sub = nullptr;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--") break;
        if (!sub && !a.empty() && a[0] != '-') {
            if (std::find(subs.begin(), subs.end(), a) != subs.end()) {
                sub = app.get_subcommand(a);
                continue;
            }
            const std::string n = nearest(a, subs);
            return "unknown command '" + a + "'" + (n.empty() ? "" : "; did you mean '" + n + "'?");
        }
        if (a.size() > 2 && a.rfind("--", 0) == 0) {
            const std::string name =
                a.substr(2, a.find('=') == std::string::npos ? std::string::npos : a.find('=') - 2);
            std::vector<std::string> longs = {"help"};
            for (const CLI::Option* o : (sub ? sub : &app)->get_options())
                for (const std::string& l : o->get_lnames()) longs.push_back(l);
            if (std::find(longs.begin(), longs.end(), name) != longs.end()) continue;
            const std::string n = nearest(name, longs);
            if (!n.empty()) return "unknown option '--" + name + "'; did you mean '--" + n + "'?";
        }
    }
    return "";
}

int usage_error(CLI::App& app, const std::string& msg, int argc, char** argv) {
    std::string sub;
    for (const CLI::App* s : app.get_subcommands()) sub = s->get_name() + " ";
    const std::string hint = typo_hint(app, argc, argv);
    std::fprintf(stderr, "deltacodec: error: %s (see deltacodec %s--help)\n",
                 printable(hint.empty() ? msg : hint).c_str(), sub.c_str());
    return kExitUsage;
}

// A .dcx given where a checkpoint is expected: say so, and what was likely meant.
void refuse_dcx_as_checkpoint(const std::string& path, const std::string& base) {
    if (is_dcx_file(path))
        throw Error(path + " is a .dcx file, not a checkpoint; did you mean `deltacodec decompress " + base + " " +
                    path + " -o OUT`?");
}

void print_compress_summary(const Summary& say, const CompressReport& r, const CompressOptions& o,
                            const std::string& out, int verbosity, double secs) {
    say("%s: %s\n", printable(out).c_str(), describe(o).c_str());
    say("  tensors     %zu compressed, %zu kept exactly (%zu lossless delta, %zu stored whole), %zu base-only "
        "dropped\n",
        r.count("coded"), r.count("exact") + r.count("whole"), r.count("exact"), r.count("whole"), r.dropped.size());
    for (const TensorReport& t : r.tensors)
        if (t.kind == "whole" || (verbosity > 1 && t.kind != "coded"))
            say("    %-8s %s (%s)\n", t.kind.c_str(), printable(t.name).c_str(), t.reason.c_str());
    for (const std::string& d : r.dropped) say("    dropped  %s (only in the base)\n", printable(d).c_str());
    if (verbosity > 1)
        for (const TensorReport& t : r.tensors)
            if (t.kind == "coded")
                say("    coded    %s  %s  %.3f bit/param  rel.err %.4f\n", printable(t.name).c_str(), t.method.c_str(),
                    t.bits_per_param(), t.rel_error());
    say("  file size   %s (%llu bytes); delta at fine-tune dtypes %s\n", human(r.dcx_bytes).c_str(),
        static_cast<unsigned long long>(r.dcx_bytes), human(r.delta_bytes).c_str());
    say("  ratio       %.2fx (real bytes of the .dcx, everything counted)\n", r.ratio());
    say("  bits/param  %.4f over compressed tensors (all overheads), %.4f over the whole model\n", r.bits_per_param(),
        r.bits_per_param_all());
    say("  rel. error  %.4f  (||dhat - d|| / ||d|| over compressed tensors)\n", r.rel_error());
    std::string methods;
    for (const auto& [name, n] : r.methods()) methods += (methods.empty() ? "" : ", ") + name + " " + std::to_string(n);
    say("  methods     %s (tensors per method)\n", methods.c_str());
    if (r.target_bytes)
        say("  target      %s %g: %llu bytes; the file is %.2f%% of it (%.4f bit/param, ratio %.2fx)\n",
            o.bpp > 0 ? "--bpp" : "--ratio", o.bpp > 0 ? o.bpp : o.ratio,
            static_cast<unsigned long long>(r.target_bytes), 100.0 * r.dcx_bytes / r.target_bytes,
            r.bits_per_param_all(), r.ratio());
    say("  time        %s of fine-tune tensors\n", timing(r.delta_bytes, secs).c_str());
}

void print_info(const Summary& say, const DcxInfo& inf, int verbosity) {
    say("%s: made by %s; %s, %zu shard(s), %zu other file(s)\n", printable(inf.file).c_str(),
        printable(inf.producer).c_str(), inf.directory ? "a model directory" : "a single .safetensors file", inf.shards,
        inf.files.size());
    if (!inf.needs_base)
        say("  base       none needed (every tensor is stored whole)\n");
    else if (inf.base_name.empty())
        say("  base       fingerprint %s (no name recorded)\n", inf.base_fingerprint_hex().c_str());
    else
        say("  base       '%s', fingerprint %s\n", printable(inf.base_name).c_str(),
            inf.base_fingerprint_hex().c_str());
    say("  options    %s\n", inf.options_cli().c_str());
    say("  tensors    %zu coded, %zu lossless delta, %zu stored whole\n", inf.count("coded"), inf.count("exact"),
        inf.count("whole"));
    std::vector<std::pair<std::string, size_t>> methods;  // in order of first use
    for (const DcxTensor& t : inf.tensors) {
        auto it = std::find_if(methods.begin(), methods.end(), [&](const auto& m) { return m.first == t.method; });
        if (it == methods.end())
            methods.emplace_back(t.method, 1);
        else
            ++it->second;
    }
    std::string ms;
    for (const auto& [name, n] : methods) ms += (ms.empty() ? "" : ", ") + printable(name) + " " + std::to_string(n);
    say("  methods    %s (tensors per method)\n", ms.c_str());
    if (verbosity > 1) {
        for (const DcxTensor& t : inf.tensors) {
            say("    %-6s %s %s [%s] %s%s%s%s\n", t.kind.c_str(), printable(t.name).c_str(), t.dtype.c_str(),
                shape_text(t.shape).c_str(), human(t.stored_bytes).c_str(), t.reason.empty() ? "" : " (",
                t.reason.c_str(), t.reason.empty() ? "" : ")");
        }
        for (const auto& [name, bytes] : inf.files)
            say("    file   %s %s\n", printable(name).c_str(), human(bytes).c_str());
    }
    say("  size       %s; ratio %.2fx; %.4f bits/param over coded tensors, %.4f over the model\n",
        human(inf.bytes).c_str(), inf.ratio, inf.bits_per_param, inf.bits_per_param_all);
    // END is untrusted: its stats are informative.
    if (inf.has_rel_error) say("  rel. error at compression  %.4f\n", inf.rel_error);
    say("  checksums OK\n");
}

// test: every rebuilt byte is dropped; -v lists each tensor once it has rebuilt.
struct DiscardSink final : TensorSink {
    const Summary* list = nullptr;  // set with -v
    std::string name, line;
    void begin(const std::string& n, DType, const Shape& shape, uint64_t nbytes) override {
        if (!list) return;
        name = n;
        line = "[" + shape_text(shape) + "] " + human(nbytes);
    }
    void write(const uint8_t*, size_t) override {}
    void end() override {
        if (list) (*list)("    ok  %s %s\n", printable(name).c_str(), line.c_str());
    }
};

}  // namespace

int main(int argc, char** argv) {
    deltacodec::reexec_for_blas_core(argv);  // OpenBLAS's kernels on a CPU it does not know
    // Temporaries are removed on SIGINT/SIGTERM/SIGHUP/SIGPIPE (then the signal kills
    // us as usual); an input that shrinks while mapped ends the run with exit status 1.
    install_signal_handlers();
    CLI::App app{"deltacodec " + std::string(kVersion) +
                 ": store a fine-tuned model as a small compressed delta against its base, and rebuild it"};
    app.footer(kExitHelp);  // before the subcommands: they inherit it
    app.set_version_flag("-V,--version", std::string("deltacodec ") + DELTACODEC_VERSION + "\n.dcx format " +
                                             std::to_string(kFormatMajor) + "." + std::to_string(kFormatMinor) +
                                             " (writes " + std::to_string(kFormatMajor) + "." +
                                             std::to_string(kFormatMinor) + ", reads " + std::to_string(kFormatMajor) +
                                             ".x)\nOpenBLAS " + deltacodec::blas_core_name() + " kernels");
    app.require_subcommand(1);

    // Flags every subcommand has.
    struct Verbosity {
        bool quiet = false, progress = false;
        int verbose = 0;
    };
    auto add_verbosity = [](CLI::App* s, Verbosity& v, bool progress, const char* verbose_help) {
        s->add_flag("-q,--quiet", v.quiet, "print nothing but errors");
        s->add_flag("-v,--verbose", v.verbose, verbose_help);
        if (progress)
            s->add_flag("--progress", v.progress,
                        "draw progress on stderr even when it is not a terminal (default: only on a terminal)");
    };

    // compress: its options are the rows of option_table() (include/deltacodec/options.hpp),
    // each parsed by its row after CLI11 has read the words.
    CompressOptions co;
    std::string c_base, c_ft, c_out, report;
    Verbosity cv;
    auto* c = app.add_subcommand("compress", "compress FINETUNED against BASE into a .dcx file");
    c->add_option("BASE", c_base, "base checkpoint (.safetensors file or model directory)")->required();
    c->add_option("FINETUNED", c_ft, "fine-tuned checkpoint (.safetensors file or model directory)")->required();
    c->add_option("-o,--output", c_out, "output .dcx file; - for standard output (written sequentially)")->required();
    deltacodec_cli::OptionRowArgs c_rows;
    {
        std::vector<const OptionRow*> all;
        for (const OptionRow& r : option_table()) all.push_back(&r);
        c_rows.add(c, all);
    }
    c->add_option("--report", report, "write a per-tensor JSON report here (committed with OUT); - for stdout");
    add_verbosity(c, cv, true, "list every tensor in the summary");

    // decompress
    DecompressOptions dopt;
    std::string d_base, d_in, d_out;
    Verbosity dv;
    auto* d = app.add_subcommand("decompress", "rebuild the fine-tuned checkpoint from BASE and a .dcx file");
    d->add_option("BASE", d_base, "base checkpoint")->required();
    d->add_option("IN", d_in, ".dcx file; - for standard input")->required();
    d->add_option("-o,--output", d_out,
                  "output .safetensors file, or directory when the fine-tune was one; - for standard output (a "
                  "single file only)")
        ->required();
    d->add_option("-T,--threads", dopt.threads, "threads (0 = all cores)")
        ->check(CLI::Range(0u, deltacodec::kMaxThreads))
        ->capture_default_str();
    d->add_flag("-f,--force", dopt.overwrite,
                "replace OUT: a regular file, or a directory holding only a previous rebuild's files");
    d->add_flag("--follow-symlinks", dopt.follow_symlinks,
                "read symbolic links inside the base model directory (refused by default)");
    add_verbosity(d, dv, true, "also list the files written");

    // info
    std::string i_in;
    bool i_json = false;
    Verbosity iv;
    auto* in = app.add_subcommand("info", "describe and verify a .dcx file (no base needed)");
    in->add_option("IN", i_in, ".dcx file; - for standard input")->required();
    in->add_flag("--json", i_json, "print JSON");
    add_verbosity(in, iv, false, "also list every tensor record and file");

    // test
    ApplyOptions topt;
    topt.verify_files = true;
    std::string t_base, t_in;
    Verbosity tv;
    auto* t = app.add_subcommand(
        "test",
        "check that a .dcx rebuilds against BASE, writing nothing (every record decoded, every checksum "
        "and base fingerprint checked)");
    t->add_option("BASE", t_base, "base checkpoint")->required();
    t->add_option("IN", t_in, ".dcx file; - for standard input")->required();
    t->add_option("-T,--threads", topt.threads, "threads (0 = all cores)")
        ->check(CLI::Range(0u, deltacodec::kMaxThreads))
        ->capture_default_str();
    t->add_flag("--follow-symlinks", topt.follow_symlinks,
                "read symbolic links inside the base model directory (refused by default)");
    add_verbosity(t, tv, true, "also list every tensor as it is checked");

    // bench
    deltacodec_cli::BenchArgs bargs;
    auto* b = deltacodec_cli::add_bench_command(app, bargs);

    try {
        app.parse(argc, argv);
        if (*b) deltacodec_cli::check_bench_args(bargs);  // a bad list is a usage error
        if (*c) set_options(co, c_rows.given());  // a bad value or combination is a usage error, as a bad flag is
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
        return usage_error(app, e.what(), argc, argv);
    } catch (const Error& e) {
        return usage_error(app, e.what(), argc, argv);
    }

    const Clock::time_point start = Clock::now();
    ProgressLine prog;
    const auto progress_fn = [&prog](const Progress& p) { prog(p); };
    auto progress_on = [](const Verbosity& v) { return v.progress || (!v.quiet && isatty(2) != 0); };
    try {
        if (*c) {
            refuse_dcx_as_checkpoint(c_ft, c_base);
            refuse_dcx_as_checkpoint(c_base, c_ft);
            const Summary say{is_stdio_arg(c_out) || is_stdio_arg(report) ? stderr : stdout, cv.quiet};
            prog.on = progress_on(cv);
            co.progress = progress_fn;
            co.report = report;  // written and committed by compress() with the .dcx
            const CompressReport r = compress(c_base, c_ft, c_out, co);
            prog.clear();
            print_compress_summary(say, r, co, is_stdio_arg(c_out) ? "<stdout>" : c_out, cv.verbose + 1,
                                   seconds_since(start));
            if (!cv.quiet)
                for (const std::string& w : r.warnings) std::fprintf(stderr, "deltacodec: warning: %s\n", w.c_str());
            if (r.identical_to_base() && !cv.quiet)
                std::fprintf(stderr,
                             "deltacodec: warning: %s holds the same tensors as %s (every delta is zero): the .dcx "
                             "rebuilds the base itself\n",
                             printable(c_ft).c_str(), printable(c_base).c_str());
        } else if (*d) {
            refuse_dcx_as_checkpoint(d_base, is_dcx_file(d_in) ? "BASE" : d_in);
            const Summary say{is_stdio_arg(d_out) ? stderr : stdout, dv.quiet};
            prog.on = progress_on(dv);
            dopt.progress = progress_fn;
            const DecompressReport r = decompress(d_base, d_in, d_out, dopt);
            prog.clear();
            say("%s: rebuilt %zu tensors%s, %s written in %s\n",
                is_stdio_arg(d_out) ? "<stdout>" : printable(d_out).c_str(), r.tensors,
                r.directory ? (" and " + std::to_string(r.files) + " files").c_str() : "",
                human(r.bytes_written).c_str(), timing(r.bytes_written, seconds_since(start)).c_str());
            if (dv.verbose)
                for (const auto& [name, bytes] : r.written)
                    say("    wrote  %s %s\n", printable(name).c_str(), human(bytes).c_str());
        } else if (*in) {
            const DcxInfo inf = info(i_in);
            if (iv.quiet) return kExitOk;  // verified: the exit status says so
            if (i_json)
                std::printf("%s\n", inf.to_json().c_str());
            else
                print_info(Summary{stdout, false}, inf, iv.verbose + 1);
        } else if (*b) {
            refuse_dcx_as_checkpoint(bargs.finetuned, bargs.base);
            refuse_dcx_as_checkpoint(bargs.base, bargs.finetuned);
            return deltacodec_cli::run_bench(bargs);
        } else if (*t) {
            refuse_dcx_as_checkpoint(t_base, is_dcx_file(t_in) ? "BASE" : t_in);
            const Summary say{stdout, tv.quiet};
            prog.on = progress_on(tv);
            topt.progress = progress_fn;
            DiscardSink sink;
            if (tv.verbose) sink.list = &say;
            const ApplyReport r = apply(t_base, t_in, sink, topt);
            prog.clear();
            say("%s: OK, %zu tensors (%s) rebuild against %s; %s\n",
                is_stdio_arg(t_in) ? "<stdin>" : printable(t_in).c_str(), r.tensors, human(r.bytes).c_str(),
                printable(t_base).c_str(), timing(r.bytes, seconds_since(start)).c_str());
        }
    } catch (const Error& e) {
        prog.clear();
        std::fprintf(stderr, "deltacodec: error: %s\n", printable(e.what()).c_str());
        return kExitError;
    } catch (const std::bad_alloc&) {
        prog.clear();
        std::fprintf(stderr, "deltacodec: error: out of memory\n");
        return kExitError;
    } catch (const std::exception& e) {
        prog.clear();
        std::fprintf(stderr, "deltacodec: internal error: %s\n", printable(e.what()).c_str());
        return kExitError;
    }
    return kExitOk;
}
