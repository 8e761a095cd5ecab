// deltacodec — safetensors reader (validating, memory-mapped) and streaming writer.
#include "deltacodec/safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "deltacodec/error.hpp"

namespace deltacodec {
using json = nlohmann::json;

namespace {
constexpr uint64_t kMaxHeader = 100'000'000;  // the reference reader's limit

uint64_t read_u64le(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}
}  // namespace

uint64_t shape_numel(const Shape& shape) {
    uint64_t n = 1;
    for (uint64_t d : shape) {
        if (d != 0 && n > UINT64_MAX / d) throw Error("tensor shape " + shape_str(shape) + " overflows");
        n *= d;
    }
    return n;
}

std::string shape_str(const Shape& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

uint64_t TensorInfo::numel() const { return shape_numel(shape); }

SafetensorsFile SafetensorsFile::open(const std::string& path) { return parse(MappedFile::open(path)); }

SafetensorsFile SafetensorsFile::parse(MappedFile file) {
    const std::string path = file.path();  // a copy: `file` is moved into the result below
    auto bad = [&](const std::string& why) { return Error(path + ": not a valid safetensors file: " + why); };
    if (file.size() < 8) throw bad("shorter than its 8-byte header length");
    const uint64_t n = read_u64le(file.data());
    if (n > kMaxHeader) throw bad("header length " + std::to_string(n) + " is over the limit");
    if (n > file.size() - 8) throw bad("header runs past the end of the file (truncated?)");
    const char* hb = reinterpret_cast<const char*>(file.data() + 8);

    std::unordered_set<std::string> seen;
    bool duplicate = false;
    std::string dup_name;
    json::parser_callback_t cb = [&](int depth, json::parse_event_t ev, json& parsed) {
        if (ev == json::parse_event_t::key && depth == 1) {
            std::string k = parsed.get<std::string>();
            if (!seen.insert(k).second && !duplicate) {
                duplicate = true;
                dup_name = k;
            }
        }
        return true;
    };
    json h;
    try {
        h = json::parse(hb, hb + n, cb);
    } catch (const json::exception& e) {
        throw bad("header is not valid UTF-8 JSON");
    }
    if (duplicate) throw bad("tensor '" + dup_name + "' appears twice");
    if (!h.is_object()) throw bad("header is not a JSON object");

    SafetensorsFile f;
    f.file_ = std::move(file);
    f.data_start_ = 8 + n;
    const uint64_t buffer = f.file_.size() - f.data_start_;
    for (auto it = h.begin(); it != h.end(); ++it) {
        const std::string& name = it.key();
        const json& v = it.value();
        if (name == "__metadata__") {
            if (!v.is_object()) throw bad("__metadata__ is not an object");
            Metadata md;
            for (auto m = v.begin(); m != v.end(); ++m) {
                if (!m.value().is_string()) throw bad("__metadata__ value of '" + m.key() + "' is not a string");
                md[m.key()] = m.value().get<std::string>();
            }
            f.metadata_ = std::move(md);
            continue;
        }
        if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
            throw bad("entry '" + name + "' lacks dtype, shape or data_offsets");
        const json& dt = v["dtype"];
        const json& sh = v["shape"];
        const json& off = v["data_offsets"];
        if (!dt.is_string()) throw bad("dtype of '" + name + "' is not a string");
        auto dtype = dtype_from_name(dt.get<std::string>());
        if (!dtype) throw bad("tensor '" + name + "' has unknown dtype " + dt.get<std::string>());
        if (!sh.is_array()) throw bad("shape of '" + name + "' is not an array");
        TensorInfo t;
        t.name = name;
        t.dtype = *dtype;
        for (const json& d : sh) {
            if (!d.is_number_unsigned()) throw bad("shape of '" + name + "' has a non-integer or negative entry");
            t.shape.push_back(d.get<uint64_t>());
        }
        if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
            throw bad("data_offsets of '" + name + "' are not two non-negative integers");
        t.begin = off[0].get<uint64_t>();
        t.end = off[1].get<uint64_t>();
        if (t.end < t.begin) throw bad("data_offsets of '" + name + "' are reversed");
        uint64_t numel;
        try {
            numel = t.numel();
        } catch (const Error&) {
            throw bad("shape of '" + name + "' overflows");
        }
        const uint64_t es = dtype_size(t.dtype);
        if (numel > UINT64_MAX / es || numel * es != t.end - t.begin)
            throw bad("tensor '" + name + "' has " + std::to_string(t.end - t.begin) + " bytes, its dtype and shape need " +
                      std::to_string(numel * es));
        f.tensors_.push_back(std::move(t));
    }
    std::sort(f.tensors_.begin(), f.tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    uint64_t pos = 0;
    for (const TensorInfo& t : f.tensors_) {
        if (t.begin != pos)
            throw bad("tensor '" + t.name + "' " + (t.begin < pos ? "overlaps another" : "leaves a gap before it"));
        pos = t.end;
    }
    if (pos != buffer)
        throw bad(pos > buffer ? "tensor data runs past the end of the file (truncated?)"
                               : "trailing bytes after the last tensor");
    for (size_t i = 0; i < f.tensors_.size(); ++i) f.index_[f.tensors_[i].name] = i;
    return f;
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

std::string safetensors_header(const std::vector<TensorSpec>& tensors, const std::optional<Metadata>& metadata) {
    nlohmann::ordered_json h = nlohmann::ordered_json::object();
    if (metadata) {
        nlohmann::ordered_json md = nlohmann::ordered_json::object();
        for (const auto& [k, v] : *metadata) md[k] = v;
        h["__metadata__"] = md;
    }
    uint64_t pos = 0;
    for (const TensorSpec& t : tensors) {
        const uint64_t nb = shape_numel(t.shape) * dtype_size(t.dtype);
        h[t.name] = {{"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape}, {"data_offsets", {pos, pos + nb}}};
        pos += nb;
    }
    std::string s = h.dump();
    while (s.size() % 8) s.push_back(' ');
    return s;
}

SafetensorsWriter::SafetensorsWriter(OutputFile& out, std::vector<TensorSpec> tensors,
                                     const std::optional<Metadata>& metadata)
    : out_(out), tensors_(std::move(tensors)) {
    const std::string h = safetensors_header(tensors_, metadata);
    uint8_t len[8];
    uint64_t n = h.size();
    for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
    out_.write(len, 8);
    out_.write(h.data(), h.size());
    for (const TensorSpec& t : tensors_) sizes_.push_back(shape_numel(t.shape) * dtype_size(t.dtype));
    while (cur_ < sizes_.size() && sizes_[cur_] == 0) ++cur_;
}

void SafetensorsWriter::write(const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    while (n > 0) {
        if (cur_ >= sizes_.size()) throw std::logic_error("SafetensorsWriter: more bytes than tensors");
        const uint64_t take = std::min<uint64_t>(n, sizes_[cur_] - cur_written_);
        out_.write(p, take);
        p += take;
        n -= take;
        cur_written_ += take;
        if (cur_written_ == sizes_[cur_]) {
            ++cur_;
            cur_written_ = 0;
            while (cur_ < sizes_.size() && sizes_[cur_] == 0) ++cur_;
        }
    }
}

void SafetensorsWriter::finish() {
    if (cur_ != sizes_.size()) throw std::logic_error("SafetensorsWriter: tensors left unwritten");
}

}  // namespace deltacodec
