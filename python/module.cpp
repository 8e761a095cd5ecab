// deltacodec — Python bindings (pybind11): compress, decompress, info.
// The work runs without the GIL; errors raise deltacodec.Error. The module does
// not install signal handlers (install_signal_handlers() is the program's choice):
// in Python, Ctrl-C arrives as KeyboardInterrupt after the call returns.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "deltacodec/deltacodec.hpp"

namespace py = pybind11;
using namespace deltacodec;

namespace {

py::object from_json(const std::string& s) { return py::module_::import("json").attr("loads")(s); }

// The keywords are the rows of option_table(): each value goes through its row's
// parser, as the CLI's words do. An unknown keyword or a value of the wrong type
// raises TypeError naming the keyword; a bad value raises deltacodec.Error.
py::object compress_py(const std::string& base, const std::string& finetuned, const std::string& out,
                       const py::kwargs& kwargs) {
    std::vector<std::pair<const OptionRow*, std::string>> given;
    for (const auto& [k, v] : kwargs) {
        const std::string key = py::str(k);
        const OptionRow* row = find_option_by_keyword(key);
        if (!row) throw py::type_error("compress() got an unexpected keyword argument '" + key + "'");
        const bool is_bool = py::isinstance<py::bool_>(v);
        switch (row->kind) {
            case OptionKind::INT:
                if (is_bool || !py::isinstance<py::int_>(v))
                    throw py::type_error("compress() argument '" + key + "' must be int");
                given.emplace_back(row, py::str(v));
                break;
            case OptionKind::FLAG:
                if (!is_bool) throw py::type_error("compress() argument '" + key + "' must be bool");
                given.emplace_back(row, v.cast<bool>() ? "true" : "false");
                break;
            case OptionKind::TEXT:
                if (!py::isinstance<py::str>(v)) throw py::type_error("compress() argument '" + key + "' must be str");
                given.emplace_back(row, v.cast<std::string>());
                break;
        }
    }
    CompressOptions o;
    set_options(o, given);
    std::string report;
    {
        py::gil_scoped_release nogil;
        report = compress(base, finetuned, out, o).to_json(o);
    }
    return from_json(report);
}

// compress()'s docstring: every keyword with its default, from the table.
std::string compress_doc() {
    std::string d =
        "compress(base, finetuned, out, **options)\n\n"
        "Compress FINETUNED against BASE into OUT (.dcx). Returns the report as a dict "
        "({'summary', 'options', 'tensors', ...}); raises deltacodec.Error on bad input or a bad option value, "
        "TypeError on an unknown keyword.\n\nKeyword options (the CLI's compress flags):\n";
    for (const OptionRow& r : option_table()) {
        std::string def = r.default_text();
        if (r.kind == OptionKind::TEXT) def = "'" + def + "'";
        if (r.kind == OptionKind::FLAG) def = def == "true" ? "True" : "False";
        d += "  " + std::string(r.keyword) + "=" + def + "  (" + std::string(r.flag) + ") " + std::string(r.help);
        if (!r.choices.empty()) {
            d += "; one of";
            for (const std::string& c : r.choices) d += " '" + c + "'";
        }
        if (!r.only.empty()) d += "; with " + std::string(r.only) + " only";
        d += "\n";
    }
    return d;
}

// The option table, for tests and tools: one dict per row.
py::list compress_options_py() {
    py::list l;
    for (const OptionRow& r : option_table()) {
        py::dict d;
        d["cli"] = std::string(r.flag);
        d["keyword"] = std::string(r.keyword);
        d["json"] = r.recorded() ? py::object(py::str(std::string(r.json))) : py::object(py::none());
        d["kind"] = r.kind == OptionKind::INT ? "int" : r.kind == OptionKind::FLAG ? "flag" : "text";
        d["default"] = r.default_text();
        d["choices"] = r.choices;
        d["only"] = std::string(r.only);
        d["help"] = std::string(r.help);
        l.append(d);
    }
    return l;
}

py::dict decompress_py(const std::string& base, const std::string& dcx, const std::string& out, unsigned threads,
                       bool overwrite, bool follow_symlinks) {
    DecompressOptions o;
    o.threads = threads;
    o.overwrite = overwrite;
    o.follow_symlinks = follow_symlinks;
    DecompressReport r;
    {
        py::gil_scoped_release nogil;
        r = decompress(base, dcx, out, o);
    }
    py::dict d;
    d["tensors"] = r.tensors;
    d["files"] = r.files;
    d["bytes_written"] = r.bytes_written;
    d["directory"] = r.directory;
    return d;
}

py::object info_py(const std::string& dcx) {
    std::string s;
    {
        py::gil_scoped_release nogil;
        s = info_json(dcx);
    }
    return from_json(s);
}

}  // namespace

PYBIND11_MODULE(deltacodec, m) {
    m.doc() = "Store a fine-tuned model as a small compressed delta (.dcx) against its base, and rebuild it.";
    m.attr("__version__") = kVersion;
    py::register_exception<Error>(m, "Error", PyExc_RuntimeError);
    static const std::string doc = compress_doc();
    m.def("compress", &compress_py, py::arg("base"), py::arg("finetuned"), py::arg("out"), doc.c_str());
    m.def("compress_options", &compress_options_py,
          "The compress option table: a list of dicts (cli, keyword, json, kind, default, choices, only, help).");
    m.def("decompress", &decompress_py, py::arg("base"), py::arg("dcx"), py::arg("out"), py::kw_only(),
          py::arg("threads") = 0, py::arg("overwrite") = false, py::arg("follow_symlinks") = false,
          "Rebuild the fine-tuned checkpoint from BASE and a .dcx file into OUT.");
    m.def("info", &info_py, py::arg("dcx"), "Read and verify a .dcx file; returns its description as a dict.");
}
