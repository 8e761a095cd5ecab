// deltacodec — compress option rows as CLI11 options. `compress` takes every row of
// option_table(), `bench` a few (--patch, --levels); either way a row keeps its CLI
// names, help and value type, and its value is parsed by the row itself
// (set_options()), never by a copy of it.
#pragma once

#include <CLI/CLI.hpp>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "deltacodec/options.hpp"

namespace deltacodec_cli {

class OptionRowArgs {
public:
    /// Registers `rows` on `app`.
    void add(CLI::App* app, const std::vector<const deltacodec::OptionRow*>& rows);
    /// The (row, text) pairs given on the command line, in the order add() took them:
    /// what set_options() takes.
    std::vector<std::pair<const deltacodec::OptionRow*, std::string>> given() const;

private:
    struct Arg {
        const deltacodec::OptionRow* row = nullptr;
        std::string value;
        bool flag = false;
        CLI::Option* opt = nullptr;
    };
    std::deque<Arg> args_;  // CLI11 holds pointers to `value` and `flag`: never moved
};

}  // namespace deltacodec_cli
