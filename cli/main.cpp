// deltacodec — command-line tool: compress / decompress / info.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "deltacodec/deltacodec.hpp"

using namespace deltacodec;

namespace {

struct ProgressLine {
    bool on;
    std::chrono::steady_clock::time_point last{};
    void operator()(const deltacodec::Progress& p) {
        if (!on) return;
        const size_t done = p.tensors_done, total = p.tensors_total;
        const auto now = std::chrono::steady_clock::now();
        if (done != total && now - last < std::chrono::milliseconds(200)) return;
        last = now;
        std::fprintf(stderr, "\r\033[K[%zu/%zu] %s", done, total, printable(p.tensor).c_str());
        if (done == total) std::fprintf(stderr, "\r\033[K");
        std::fflush(stderr);
    }
};

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

void print_summary(const CompressReport& r, const CompressOptions& o, const std::string& out, int verbosity) {
    std::printf("%s: %s\n", out.c_str(), describe(o).c_str());
    std::printf(
        "  tensors     %zu compressed, %zu kept exactly (%zu lossless delta, %zu stored whole), %zu base-only "
        "dropped\n",
        r.count("coded"), r.count("exact") + r.count("whole"), r.count("exact"), r.count("whole"), r.dropped.size());
    for (const TensorReport& t : r.tensors)
        if (t.kind == "whole" || (verbosity > 1 && t.kind != "coded"))
            std::printf("    %-8s %s (%s)\n", t.kind.c_str(), printable(t.name).c_str(), t.reason.c_str());
    for (const std::string& d : r.dropped) std::printf("    dropped  %s (only in the base)\n", printable(d).c_str());
    if (verbosity > 1)
        for (const TensorReport& t : r.tensors)
            if (t.kind == "coded")
                std::printf("    coded    %s  %.3f bit/param  rel.err %.4f\n", printable(t.name).c_str(),
                            t.bits_per_param(), t.rel_error());
    std::printf("  file size   %s (%llu bytes); delta at fine-tune dtypes %s\n", human(r.dcx_bytes).c_str(),
                static_cast<unsigned long long>(r.dcx_bytes), human(r.delta_bytes).c_str());
    std::printf("  ratio       %.2fx (real bytes on disk, everything counted)\n", r.ratio());
    std::printf("  bits/param  %.4f over compressed tensors (all overheads), %.4f over the whole model\n",
                r.bits_per_param(), r.bits_per_param_all());
    std::printf("  rel. error  %.4f  (||dhat - d|| / ||d|| over compressed tensors)\n", r.rel_error());
}

int usage_error(const CLI::App& app, const std::string& msg) {
    std::fprintf(stderr, "deltacodec: error: %s (see deltacodec %s--help)\n", printable(msg).c_str(),
                 app.get_subcommands().empty() ? "" : (app.get_subcommands()[0]->get_name() + " ").c_str());
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    // Temporaries are removed on SIGINT/SIGTERM/SIGHUP (then the signal kills us as
    // usual); an input that shrinks while mapped ends the run with exit status 1.
    install_signal_handlers();
    CLI::App app{"deltacodec " + std::string(kVersion) +
                 ": store a fine-tuned model as a small compressed delta against its base, and rebuild it"};
    app.set_version_flag("--version", std::string("deltacodec ") + kVersion);
    app.require_subcommand(1);

    // compress: its options are the rows of option_table() (include/deltacodec/options.hpp),
    // each parsed by its row after CLI11 has read the words.
    CompressOptions co;
    std::string c_base, c_ft, c_out, report;
    bool c_quiet = false;
    int c_verbose = 0;
    auto* c = app.add_subcommand("compress", "compress FINETUNED against BASE into a .dcx file");
    c->add_option("BASE", c_base, "base checkpoint (.safetensors file or model directory)")->required();
    c->add_option("FINETUNED", c_ft, "fine-tuned checkpoint (.safetensors file or model directory)")->required();
    c->add_option("-o,--output", c_out, "output .dcx file")->required();
    const std::vector<OptionRow>& rows = option_table();
    std::vector<std::string> values(rows.size());
    const std::unique_ptr<bool[]> flags(new bool[rows.size()]());
    for (size_t i = 0; i < rows.size(); ++i) {
        const OptionRow& r = rows[i];
        std::string help(r.help);
        if (!r.only.empty()) help += " (with " + std::string(r.only) + " only)";
        if (r.kind == OptionKind::FLAG) {
            c->add_flag(std::string(r.cli), flags[i], help);
            continue;
        }
        std::string type(r.value_name);
        if (!r.choices.empty()) {
            type = "{";
            for (const std::string& ch : r.choices) type += (type.size() > 1 ? "," : "") + ch;
            type += "}";
        }
        values[i] = r.default_text();
        CLI::Option* opt = c->add_option(std::string(r.cli), values[i], help)->type_name(type);
        if (!values[i].empty()) opt->default_str(values[i]);
    }
    c->add_option("--report", report, "write a per-tensor JSON report here (committed with OUT)");
    c->add_flag("-q,--quiet", c_quiet, "print nothing but errors");
    c->add_flag("-v,--verbose", c_verbose, "list every tensor in the summary");

    // decompress
    DecompressOptions dopt;
    std::string d_base, d_in, d_out;
    bool d_quiet = false;
    auto* d = app.add_subcommand("decompress", "rebuild the fine-tuned checkpoint from BASE and a .dcx file");
    d->add_option("BASE", d_base, "base checkpoint")->required();
    d->add_option("IN", d_in, ".dcx file")->required();
    d->add_option("-o,--output", d_out, "output .safetensors file, or directory when the fine-tune was one")
        ->required();
    d->add_option("-T,--threads", dopt.threads, "threads (0 = all cores)")
        ->check(CLI::Range(0u, deltacodec::kMaxThreads))
        ->capture_default_str();
    d->add_flag("-f,--force", dopt.overwrite,
                "replace OUT: a regular file, or a directory holding only a previous rebuild's files");
    d->add_flag("--follow-symlinks", dopt.follow_symlinks,
                "read symbolic links inside the base model directory (refused by default)");
    d->add_flag("-q,--quiet", d_quiet, "print nothing but errors");

    // info
    std::string i_in;
    bool i_json = false;
    auto* in = app.add_subcommand("info", "describe and verify a .dcx file");
    in->add_option("IN", i_in, ".dcx file")->required();
    in->add_flag("--json", i_json, "print JSON");

    try {
        app.parse(argc, argv);
        if (*c) {  // a bad option value or combination is a usage error, as a bad flag is
            std::vector<std::pair<const OptionRow*, std::string>> given;
            for (size_t i = 0; i < rows.size(); ++i)
                if (c->count(std::string(rows[i].flag)))
                    given.emplace_back(&rows[i], rows[i].kind == OptionKind::FLAG ? "true" : values[i]);
            set_options(co, given);
        }
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);
        return usage_error(app, e.what());
    } catch (const Error& e) {
        return usage_error(app, e.what());
    }

    try {
        if (*c) {
            ProgressLine prog{!c_quiet && isatty(2) != 0};
            co.progress = [&prog](const deltacodec::Progress& p) { prog(p); };
            co.report = report;  // written and committed by compress() with the .dcx
            const CompressReport r = compress(c_base, c_ft, c_out, co);
            if (!c_quiet) print_summary(r, co, c_out, c_verbose + 1);
        } else if (*d) {
            ProgressLine prog{!d_quiet && isatty(2) != 0};
            dopt.progress = [&prog](const deltacodec::Progress& p) { prog(p); };
            const DecompressReport r = decompress(d_base, d_in, d_out, dopt);
            if (!d_quiet)
                std::printf("%s: rebuilt %zu tensors%s, %s written\n", d_out.c_str(), r.tensors,
                            r.directory ? (" and " + std::to_string(r.files) + " files").c_str() : "",
                            human(r.bytes_written).c_str());
        } else if (*in) {
            const DcxInfo inf = info(i_in);
            if (i_json) {
                std::printf("%s\n", inf.to_json().c_str());
            } else {
                std::printf("%s: %s, %s layout, %zu shard(s), %zu file(s)\n", printable(i_in).c_str(),
                            printable(inf.producer).c_str(), inf.directory ? "directory" : "file", inf.shards,
                            inf.files.size());
                std::string opts;
                for (const auto& [k, v] : inf.options) opts += (opts.empty() ? "" : " ") + k + "=" + v;
                std::printf("  options  %s\n", printable(opts).c_str());
                std::printf("  tensors  %zu coded, %zu lossless delta, %zu stored whole\n", inf.count("coded"),
                            inf.count("exact"), inf.count("whole"));
                std::printf("  size     %s; ratio %.2fx; %.4f bits/param over coded tensors, %.4f over the model\n",
                            human(inf.bytes).c_str(), inf.ratio, inf.bits_per_param, inf.bits_per_param_all);
                // END is untrusted: its stats are informative.
                if (inf.has_rel_error) std::printf("  rel. error at compression  %.4f\n", inf.rel_error);
                std::printf("  checksums OK\n");
            }
        }
    } catch (const Error& e) {
        std::fprintf(stderr, "deltacodec: error: %s\n", printable(e.what()).c_str());
        return 1;
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "deltacodec: error: out of memory\n");
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "deltacodec: internal error: %s\n", printable(e.what()).c_str());
        return 3;
    }
    return 0;
}
