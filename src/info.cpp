// deltacodec — info: describe and verify a .dcx without its base.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "deltacodec/deltacodec.hpp"
#include "format/record.hpp"
#include "options_json.hpp"

namespace deltacodec {
using json = nlohmann::json;

namespace {
std::vector<std::pair<std::string, std::string>> options_list(const DcxHeader& h) {
    std::vector<std::pair<std::string, std::string>> out;
    for (auto it = h.options.begin(); it != h.options.end(); ++it) {
        const json& v = it.value();
        if (v.is_string())
            out.emplace_back(it.key(), v.get<std::string>());
        else if (v.is_primitive())
            out.emplace_back(it.key(), v.dump());
    }
    return out;
}
}  // namespace

size_t DcxInfo::count(const std::string& kind) const {
    size_t n = 0;
    for (const DcxTensor& t : tensors) n += t.kind == kind;
    return n;
}

std::string DcxInfo::base_fingerprint_hex() const { return fingerprint_hex(base_fingerprint); }

std::string DcxInfo::options_cli() const {
    CompressOptions o;
    std::string unknown;
    for (const auto& [key, value] : options) {
        const OptionRow* row = nullptr;
        for (const OptionRow& r : option_table())
            if (r.recorded() && r.json == key) row = &r;
        try {
            if (row) {
                row->set(o, value);
                continue;
            }
        } catch (const Error&) {  // a value this reader does not take: shown as recorded
        }
        std::string kv = key;
        kv += '=';
        kv += value;
        unknown += ' ';
        unknown += printable(shell_word(kv));
    }
    return cli_flags(o) + unknown;
}

DcxInfo info(const std::string& dcx_arg) {
    const MappedFile f = MappedFile::open_input(dcx_arg);
    const std::string& dcx_path = f.path();  // "<stdin>" for "-"
    DcxReader rd(f);
    const OpenedDcx o = open_dcx(f, rd, true);
    DcxInfo in;
    in.file = dcx_path;
    in.base_name = o.hdr.base_name;
    in.bytes = f.size();
    in.producer = o.hdr.producer;
    in.options = options_list(o.hdr);
    in.directory = o.hdr.directory;
    in.shards = o.hdr.shards.size();
    for (const AuxFile& a : o.files) in.files.emplace_back(a.name, a.data.raw);
    in.dropped_base_tensors = o.hdr.dropped;
    Section s = o.first;
    BaseFingerprint bf;
    uint64_t params = 0, coded_params = 0, coded_bytes = 0;
    for (const ShardSpec& sh : o.hdr.shards) {
        for (const TensorSpec& spec : sh.tensors) {
            const Record rec = parse_record(s, spec, dcx_path);
            const uint64_t numel = shape_numel(spec.shape);
            DcxTensor t;
            t.name = spec.name;
            t.dtype = std::string(dtype_name(spec.dtype));
            t.shape = spec.shape;
            t.stored_bytes = s.size + kSectionOverhead;
            verify_record_blobs(rec, dcx_path + ": tensor '" + spec.name + "'", t);
            bf.add(rec);
            if (rec.method->lossy()) {
                coded_params += numel;
                coded_bytes += t.stored_bytes;
            }
            in.delta_bytes += dtype_nbytes(spec.dtype, numel).value();
            params += numel;
            in.tensors.push_back(std::move(t));
            if (!rd.next(s)) throw Error(dcx_path + ": truncated .dcx file");
        }
    }
    const EndStats end = check_end(f.path(), s, in.tensors.size());
    in.needs_base = bf.any();
    in.base_fingerprint = bf.value();
    in.has_rel_error = end.has_rel_error;
    in.rel_error = end.rel_error;
    in.ratio = f.size() ? static_cast<double>(in.delta_bytes) / f.size() : 0.0;
    in.bits_per_param = coded_params ? 8.0 * coded_bytes / coded_params : 0.0;
    in.bits_per_param_all = params ? 8.0 * f.size() / params : 0.0;
    return in;
}

std::string DcxInfo::to_json() const {
    json j;
    j["file"] = file;
    j["bytes"] = bytes;
    j["producer"] = producer;
    json opts = json::object();
    for (const auto& [k, v] : options) opts[k] = v;
    j["options"] = opts;
    j["options_cli"] = options_cli();
    j["base"] = {{"name", base_name.empty() ? json(nullptr) : json(base_name)},
                 {"fingerprint", needs_base ? json(base_fingerprint_hex()) : json(nullptr)}};
    j["layout"] = directory ? "directory" : "file";
    j["shards"] = shards;
    json fl = json::array();
    for (const auto& [name, n] : files) fl.push_back({{"name", name}, {"bytes", n}});
    j["files"] = fl;
    j["dropped_base_tensors"] = dropped_base_tensors;
    json ts = json::array();
    for (const DcxTensor& t : tensors) {
        json e = {{"name", t.name}, {"dtype", t.dtype},   {"shape", t.shape},
                  {"kind", t.kind}, {"method", t.method}, {"stored_bytes", t.stored_bytes}};
        if (!t.reason.empty()) e["reason"] = t.reason;
        if (!t.transform.empty()) {
            e["transform"] = t.transform;
            e["patch"] = t.patch;
            if (t.levels) e["levels"] = t.levels;
            if (!t.bands.empty()) e["bands"] = t.bands;
            e["widths"] = t.widths;
            e["patches_per_width"] = t.patches_per_width;
        }
        const uint64_t numel = shape_numel(t.shape);
        e["bits_per_param"] = numel ? 8.0 * t.stored_bytes / numel : 0.0;
        ts.push_back(std::move(e));
    }
    j["tensors"] = ts;
    j["end"] = {{"tensors", tensors.size()}, {"stats", json::object()}};
    if (has_rel_error) j["end"]["stats"]["rel_error"] = rel_error;
    j["summary"] = {{"tensors", tensors.size()},
                    {"delta_bytes", delta_bytes},
                    {"ratio", ratio},
                    {"bits_per_param", bits_per_param},
                    {"bits_per_param_all", bits_per_param_all}};
    // Strings come from a file that was checked as UTF-8 JSON or by the name rules;
    // replace rather than throw should anything slip through.
    return j.dump(2, ' ', false, json::error_handler_t::replace);
}

std::string info_json(const std::string& dcx_path) { return info(dcx_path).to_json(); }

bool is_dcx_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st {};
    uint8_t head[sizeof kDcxMagic] = {};
    const bool yes = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                     ::read(fd, head, sizeof head) == static_cast<ssize_t>(sizeof head) &&
                     std::memcmp(head, kDcxMagic, sizeof head) == 0;
    ::close(fd);
    return yes;
}

}  // namespace deltacodec
