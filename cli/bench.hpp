// deltacodec — `deltacodec bench`: a rate–distortion table of every method on a
// pair (issue 10 item 6). Each (method, target) is a real compress to a temporary
// file, measured in real bytes, then rebuilt in memory (apply) and timed.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "option_rows.hpp"

namespace deltacodec_cli {

struct BenchArgs {
    std::string base, finetuned;
    std::string methods;  ///< comma list of --method values; empty: every one, and "auto"
    std::string bpp = "0.125,0.25,0.5,1,2";
    std::string plot;  ///< SVG file to write; empty: none
    std::string json;  ///< JSON file to write ("-": stdout); empty: none
    unsigned threads = 0;
    bool quiet = false;
    bool overwrite = false;
    OptionRowArgs codec;  ///< --patch, --levels: compress's own rows, applied where they apply
};

/// Registers the subcommand and its options on `app`.
CLI::App* add_bench_command(CLI::App& app, BenchArgs& a);
/// Checks the --methods and --bpp lists; throws deltacodec::Error naming the flag.
void check_bench_args(const BenchArgs& a);
/// Runs it; throws deltacodec::Error on bad input (usage errors included, worded
/// as such by the caller's handler); returns the exit status.
int run_bench(const BenchArgs& a);

}  // namespace deltacodec_cli
