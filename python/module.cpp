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

py::object compress_py(const std::string& base, const std::string& finetuned, const std::string& out,
                       const std::string& method, int patch, const std::string& bits, const std::string& bands,
                       const std::string& quant_table, const std::string& importance, const std::string& meta,
                       const std::string& entropy, const std::string& range, const std::string& include,
                       const std::string& exclude, unsigned threads, bool overwrite, bool follow_symlinks) {
    CompressOptions o;
    const TransformEntry* tr = find_transform(method);
    if (!tr) throw Error("unknown method '" + method + "' (dct or dwt)");
    o.codec.transform = tr->id;
    o.codec.patch = patch;
    o.codec.bits = BitSpec::parse(bits);
    if (!bands_from_name(bands, o.codec.bands)) throw Error("unknown bands '" + bands + "'");
    if (quant_table != "none" && quant_table != "jpeg") throw Error("quant_table is none or jpeg");
    if (importance != "pre" && importance != "post") throw Error("importance is pre or post");
    if (meta != "f16" && meta != "f32") throw Error("meta is f16 or f32");
    if (entropy != "zstd" && entropy != "none") throw Error("entropy is zstd or none");
    if (range != "minmax" && range != "mse") throw Error("range is minmax or mse");
    o.codec.range = range == "mse" ? RangeRule::MSE : RangeRule::MINMAX;
    o.codec.jpeg_table = quant_table == "jpeg";
    o.codec.post_importance = importance == "post";
    o.codec.meta_f32 = meta == "f32";
    o.entropy = entropy == "zstd";
    o.include = include;
    o.exclude = exclude;
    o.threads = threads;
    o.overwrite = overwrite;
    o.follow_symlinks = follow_symlinks;
    std::string report;
    {
        py::gil_scoped_release nogil;
        report = compress(base, finetuned, out, o).to_json(o);
    }
    return from_json(report);
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
    m.def("compress", &compress_py, py::arg("base"), py::arg("finetuned"), py::arg("out"), py::kw_only(),
          py::arg("method") = "dwt", py::arg("patch") = 64, py::arg("bits") = "2:0.5,0:0.5",
          py::arg("bands") = "ll_lh_hl", py::arg("quant_table") = "none", py::arg("importance") = "pre",
          py::arg("meta") = "f16", py::arg("entropy") = "zstd", py::arg("range") = "minmax", py::arg("include") = "",
          py::arg("exclude") = "", py::arg("threads") = 0, py::arg("overwrite") = false,
          py::arg("follow_symlinks") = false,
          "Compress FINETUNED against BASE into OUT (.dcx). Returns the report as a dict "
          "({'summary', 'options', 'tensors', ...}); raises deltacodec.Error on bad input.");
    m.def("decompress", &decompress_py, py::arg("base"), py::arg("dcx"), py::arg("out"), py::kw_only(),
          py::arg("threads") = 0, py::arg("overwrite") = false, py::arg("follow_symlinks") = false,
          "Rebuild the fine-tuned checkpoint from BASE and a .dcx file into OUT.");
    m.def("info", &info_py, py::arg("dcx"), "Read and verify a .dcx file; returns its description as a dict.");
}
