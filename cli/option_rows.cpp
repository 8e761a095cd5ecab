// deltacodec — compress option rows as CLI11 options (option_rows.hpp).
#include "option_rows.hpp"

namespace deltacodec_cli {

using deltacodec::OptionKind;
using deltacodec::OptionRow;

void OptionRowArgs::add(CLI::App* app, const std::vector<const OptionRow*>& rows) {
    for (const OptionRow* r : rows) {
        Arg& a = args_.emplace_back();
        a.row = r;
        std::string help(r->help);
        if (!r->only.empty()) help += " (with " + std::string(r->only) + " only)";
        if (r->kind == OptionKind::FLAG) {
            a.opt = app->add_flag(std::string(r->cli), a.flag, help);
            continue;
        }
        std::string type(r->value_name);
        if (!r->choices.empty()) {
            type = "{";
            for (const std::string& ch : r->choices) type += (type.size() > 1 ? "," : "") + ch;
            type += "}";
        }
        a.value = r->default_text();
        a.opt = app->add_option(std::string(r->cli), a.value, help)->type_name(type);
        if (!a.value.empty()) a.opt->default_str(a.value);
    }
}

std::vector<std::pair<const OptionRow*, std::string>> OptionRowArgs::given() const {
    std::vector<std::pair<const OptionRow*, std::string>> out;
    for (const Arg& a : args_)
        if (a.opt->count()) out.emplace_back(a.row, a.row->kind == OptionKind::FLAG ? "true" : a.value);
    return out;
}

}  // namespace deltacodec_cli
