// deltacodec — the compiled part of the Python package: deltacodec._deltacodec.
// The public API, its docstrings, PathLike handling and exception classes are
// in python/deltacodec/__init__.py, which calls these functions with paths as
// bytes (os.fsencode) and tensors as (name, dtype name, shape, array) tuples.
//
// The work runs without the GIL; it is taken back only to call a progress
// callback and, in load(), to allocate each tensor's numpy array. deltacodec::Error
// becomes NativeError(api_message) with `kind` and `errno` attributes, which the
// Python layer turns into its exception classes. The module does not install
// signal handlers (install_signal_handlers() is the program's choice): in Python,
// Ctrl-C arrives as KeyboardInterrupt after the call returns.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>

#include "deltacodec/deltacodec.hpp"
#include "io/dtype.hpp"
#include "options_json.hpp"

namespace py = pybind11;
using namespace deltacodec;

namespace {

py::object from_json(const std::string& s) { return py::module_::import("json").attr("loads")(s); }

const char* kind_name(ErrorKind k) {
    switch (k) {
        case ErrorKind::OPTION:
            return "option";
        case ErrorKind::MISMATCH:
            return "mismatch";
        case ErrorKind::EXISTS:
            return "exists";
        case ErrorKind::SYSTEM:
            return "system";
        case ErrorKind::INVALID:
            break;
    }
    return "invalid";
}

// A Python progress callable as a ProgressFn: called with the GIL taken (compress
// calls it from its writer thread). An exception it raises ends the run: it
// travels through the library as error_already_set and is raised again here.
// The library copies and destroys the ProgressFn without the GIL: the callable is
// held once, behind a shared_ptr, and released with the GIL taken.
ProgressFn progress_fn(const py::object& cb) {
    if (cb.is_none()) return {};
    struct Held {
        py::object fn;
        ~Held() {
            py::gil_scoped_acquire gil;
            fn = py::object();
        }
    };
    auto held = std::make_shared<Held>();
    held->fn = cb;
    return [held](const Progress& p) {
        py::gil_scoped_acquire gil;
        held->fn(p.tensors_done, p.tensors_total, py::str(p.tensor), p.bytes_done, p.bytes_total);
    };
}

// The keywords are the rows of option_table(): each value goes through its row's
// parser, as the CLI's words do. An unknown keyword or a value of the wrong type
// raises TypeError naming the keyword; a bad value raises an OPTION error.
CompressOptions options_from(const py::dict& kwargs) {
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
            case OptionKind::NUMBER:
                if (is_bool || !(py::isinstance<py::float_>(v) || py::isinstance<py::int_>(v)))
                    throw py::type_error("compress() argument '" + key + "' must be float");
                given.emplace_back(row, number_text(v.cast<double>()));
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
    return o;
}

// A threads argument of decompress() or load(), checked by the option table's
// threads row (the range and the words compress's threads= gets).
unsigned threads_from(const py::int_& v) {
    CompressOptions o;
    const std::string text = py::str(static_cast<const py::object&>(v));
    set_options(o, {{find_option_by_keyword("threads"), text}});
    return o.threads;
}

// One side of compress(): a path (bytes) or a list of (name, dtype name, shape,
// C-contiguous little-endian array) tuples, read in place.
CheckpointSource source_from(const py::object& side, const char* label) {
    if (py::isinstance<py::bytes>(side)) return CheckpointSource::file(side.cast<std::string>());
    std::vector<TensorView> views;
    for (const py::handle item : side.cast<py::list>()) {
        const auto t = item.cast<py::tuple>();
        const auto arr = t[3].cast<py::array>();
        if (!(arr.flags() & py::array::c_style)) throw py::type_error("tensor data must be C-contiguous");
        TensorView v;
        v.name = t[0].cast<std::string>();
        const std::string dt = t[1].cast<std::string>();
        const std::optional<DType> d = dtype_from_name(dt);
        if (!d) throw py::value_error("unknown safetensors dtype '" + dt + "'");
        v.dtype = *d;
        for (const py::handle n : t[2].cast<py::tuple>()) v.shape.push_back(n.cast<uint64_t>());
        v.data = arr.data();
        v.nbytes = static_cast<uint64_t>(arr.nbytes());
        views.push_back(std::move(v));
    }
    return CheckpointSource::memory(std::move(views), label);
}

py::object compress_py(const py::object& base, const py::object& finetuned, const py::bytes& out,
                       const py::dict& options, const py::object& progress) {
    CompressOptions o = options_from(options);
    o.progress = progress_fn(progress);
    const CheckpointSource b = source_from(base, "base (in memory)");
    const CheckpointSource f = source_from(finetuned, "finetuned (in memory)");
    const std::string out_path = out;
    std::string report;
    {
        py::gil_scoped_release nogil;
        report = compress(b, f, out_path, o).to_json(o);
    }
    return from_json(report);
}

// The option table, for tests and tools: one dict per row.
py::list compress_options_py() {
    py::list l;
    for (const OptionRow& r : option_table()) {
        py::dict d;
        d["cli"] = std::string(r.flag);
        d["keyword"] = std::string(r.keyword);
        d["json"] = r.recorded() ? py::object(py::str(std::string(r.json))) : py::object(py::none());
        d["kind"] = r.kind == OptionKind::INT      ? "int"
                    : r.kind == OptionKind::NUMBER ? "number"
                    : r.kind == OptionKind::FLAG   ? "flag"
                                                   : "text";
        d["record_default"] = r.record_default;
        d["default"] = r.default_text();
        d["choices"] = r.choices;
        d["only"] = std::string(r.only);
        d["record_default"] = r.record_default;
        d["help"] = std::string(r.help);
        l.append(d);
    }
    return l;
}

py::dict decompress_py(const py::bytes& base, const py::bytes& dcx, const py::bytes& out, const py::int_& threads,
                       bool overwrite, bool follow_symlinks, const py::object& progress) {
    DecompressOptions o;
    o.threads = threads_from(threads);
    o.overwrite = overwrite;
    o.follow_symlinks = follow_symlinks;
    o.progress = progress_fn(progress);
    const std::string b = base, d = dcx, p = out;
    DecompressReport r;
    {
        py::gil_scoped_release nogil;
        r = decompress(b, d, p, o);
    }
    py::dict res;
    res["tensors"] = r.tensors;
    res["files"] = r.files;
    res["bytes_written"] = r.bytes_written;
    res["directory"] = r.directory;
    return res;
}

py::object info_py(const py::bytes& dcx) {
    const std::string d = dcx;
    std::string s;
    {
        py::gil_scoped_release nogil;
        s = info_json(d);
    }
    return from_json(s);
}

// load()'s sink: each tensor straight into a numpy array it allocates (with the
// GIL) in begin(); write() copies a band into it without the GIL. BF16 is kept
// as its uint16 bits or widened to float32 (exact) on the way in.
class ArraySink final : public TensorSink {
public:
    ArraySink(py::dict& out, bool bf16_as_f32) : out_(out), bf16_f32_(bf16_as_f32) {}

    void begin(const std::string& name, DType dtype, const Shape& shape, uint64_t) override {
        const char* np = numpy_dtype_of(dtype);
        if (!np)
            throw Error("tensor '" + name + "' has dtype " + std::string(dtype_name(dtype)) +
                        " (packed sub-byte elements), which load() cannot give as a numpy array; decompress() "
                        "writes it to a file");
        widen_ = dtype == DType::BF16 && bf16_f32_;
        py::gil_scoped_acquire gil;
        std::vector<py::ssize_t> dims(shape.begin(), shape.end());
        py::array a(py::dtype(np), dims);
        dst_ = static_cast<uint8_t*>(a.mutable_data());
        left_ = static_cast<uint64_t>(a.nbytes());
        out_[py::str(name)] = std::move(a);
        have_odd_ = false;
    }

    void write(const uint8_t* data, size_t n) override {
        if (!widen_) {
            if (n > left_) throw Error("internal error: more bytes than the tensor holds");
            std::memcpy(dst_, data, n);
            dst_ += n;
            left_ -= n;
            return;
        }
        // BF16 → float32: 2 bytes in, 4 out; a band may end between an element's bytes.
        if (have_odd_ && n) {
            const uint8_t pair[2] = {odd_, data[0]};
            put_bf16(pair, 1);
            ++data, --n, have_odd_ = false;
        }
        put_bf16(data, n / 2);
        if (n % 2) odd_ = data[n - 1], have_odd_ = true;
    }

    void end() override {
        if (left_ || have_odd_) throw Error("internal error: a tensor got fewer bytes than it holds");
    }

private:
    static const char* numpy_dtype(DType t) {
        switch (t) {
            case DType::BOOL:
                return "?";
            case DType::U8:
            case DType::F8_E5M2:
            case DType::F8_E4M3:
            case DType::F8_E8M0:
                return "u1";  // 8-bit floats: their bits (numpy has no such type)
            case DType::I8:
                return "i1";
            case DType::I16:
                return "<i2";
            case DType::U16:
                return "<u2";
            case DType::F16:
                return "<f2";
            case DType::BF16:
                return nullptr;  // chosen below
            case DType::I32:
                return "<i4";
            case DType::U32:
                return "<u4";
            case DType::F32:
                return "<f4";
            case DType::F64:
                return "<f8";
            case DType::I64:
                return "<i8";
            case DType::U64:
                return "<u8";
            case DType::C64:
                return "<c8";
            case DType::F4:
            case DType::F6_E2M3:
            case DType::F6_E3M2:
                return nullptr;
        }
        return nullptr;
    }
    const char* numpy_dtype_of(DType t) const {
        return t == DType::BF16 ? (bf16_f32_ ? "<f4" : "<u2") : numpy_dtype(t);
    }

    void put_bf16(const uint8_t* src, size_t elems) {
        if (elems * 4 > left_) throw Error("internal error: more bytes than the tensor holds");
        to_f32(DType::BF16, src, reinterpret_cast<float*>(dst_), elems);
        dst_ += elems * 4;
        left_ -= elems * 4;
    }

    py::dict& out_;
    bool bf16_f32_;
    bool widen_ = false, have_odd_ = false;
    uint8_t odd_ = 0;
    uint8_t* dst_ = nullptr;
    uint64_t left_ = 0;
};

py::dict load_py(const py::bytes& base, const py::bytes& dcx, bool bf16_as_f32, const py::int_& threads,
                 bool follow_symlinks, const py::object& progress) {
    ApplyOptions o;
    o.threads = threads_from(threads);
    o.follow_symlinks = follow_symlinks;
    o.progress = progress_fn(progress);
    const std::string b = base, d = dcx;
    py::dict out;
    ArraySink sink(out, bf16_as_f32);
    {
        py::gil_scoped_release nogil;
        apply(b, d, sink, o);
    }
    return out;
}

}  // namespace

PYBIND11_MODULE(_deltacodec, m) {
    m.doc() = "The compiled part of deltacodec; use the deltacodec package, not this module.";
    m.attr("__version__") = kVersion;
    static py::exception<Error> native(m, "NativeError", PyExc_Exception);
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const Error& e) {
            py::object ex = py::reinterpret_borrow<py::object>(native)(e.api_message());
            ex.attr("kind") = kind_name(e.kind());
            ex.attr("errno") = e.sys_errno();
            PyErr_SetObject(native.ptr(), ex.ptr());
        }
    });
    m.def("compress", &compress_py, py::arg("base"), py::arg("finetuned"), py::arg("out"), py::arg("options"),
          py::arg("progress"));
    m.def("compress_options", &compress_options_py);
    m.def("decompress", &decompress_py, py::arg("base"), py::arg("dcx"), py::arg("out"), py::arg("threads"),
          py::arg("overwrite"), py::arg("follow_symlinks"), py::arg("progress"));
    m.def("info", &info_py, py::arg("dcx"));
    m.def("load", &load_py, py::arg("base"), py::arg("dcx"), py::arg("bf16_as_float32"), py::arg("threads"),
          py::arg("follow_symlinks"), py::arg("progress"));
}
