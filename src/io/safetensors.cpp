// deltacodec — safetensors reader (validating, memory-mapped) and streaming writer.
#include "io/safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <unordered_set>

#include "deltacodec/error.hpp"
#include "io/json_sax.hpp"
#include "io/text.hpp"

namespace deltacodec {

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

namespace {

// SAX handler: the header straight into TensorInfo and Metadata (see json_sax.hpp).
// Depth 1: the entries; depth 2: an entry's fields or __metadata__'s pairs;
// depth 3: the numbers of shape and data_offsets. Unknown fields of an entry are skipped.
class HeaderReader final : public jsonsax::Handler {
public:
    std::vector<TensorInfo> tensors;
    std::optional<Metadata> metadata;

    bool begin(jsonsax::Parser& p, bool object) override {
        switch (p.depth()) {
            case 0:
                if (!object) p.fail("header is not a JSON object");
                return true;
            case 1:
                if (is_md_) {
                    if (!object) p.fail("__metadata__ is not an object");
                    metadata.emplace();
                    return true;
                }
                if (!object) p.fail("entry '" + name_ + "' lacks dtype, shape or data_offsets");
                cur_ = TensorInfo{};
                have_dtype_ = have_shape_ = false;
                n_off_ = -1;
                return true;
            case 2:
                if (is_md_) p.fail("__metadata__ value of '" + jsonsax::shorten(field_) + "' is not a string");
                if (field_ == "shape") {
                    if (object || have_shape_) p.fail("shape of '" + name_ + "' is not an array");
                    have_shape_ = true;
                    dims_.clear();
                    return true;
                }
                if (field_ == "data_offsets") {
                    if (object) bad_offsets(p);
                    n_off_ = 0;
                    return true;
                }
                if (field_ == "dtype") p.fail("dtype of '" + name_ + "' is not a string");
                return false;  // an unknown field: skipped
            default:
                if (field_ == "shape") p.fail("shape of '" + name_ + "' has a non-integer or negative entry");
                bad_offsets(p);
        }
    }

    void key(jsonsax::Parser& p, std::string_view k) override {
        if (p.depth() == 1) {
            is_md_ = k == "__metadata__";
            if (!is_md_) name_ = k;
        } else {
            field_ = k;
        }
    }

    void scalar(jsonsax::Parser& p, const jsonsax::Scalar& v) override {
        using jsonsax::Kind;
        switch (p.depth()) {
            case 0:
                p.fail("header is not a JSON object");
            case 1:
                if (!is_md_) p.fail("entry '" + name_ + "' lacks dtype, shape or data_offsets");
                if (v.kind != Kind::Null) p.fail("__metadata__ is not an object");
                return;  // "__metadata__": null is no metadata, as the reference reader reads it
            case 2:
                if (is_md_) {
                    if (v.kind != Kind::String)
                        p.fail("__metadata__ value of '" + jsonsax::shorten(field_) + "' is not a string");
                    if (metadata->size() >= kMaxMetadataEntries)
                        p.fail("__metadata__ has more than " + std::to_string(kMaxMetadataEntries) + " entries");
                    metadata->emplace(field_, std::string(v.s));
                    return;
                }
                if (field_ == "dtype") {
                    if (v.kind != Kind::String) p.fail("dtype of '" + name_ + "' is not a string");
                    const auto dt = dtype_from_name(v.s);
                    if (!dt) p.fail("tensor '" + name_ + "' has unknown dtype " + jsonsax::shorten(v.s));
                    cur_.dtype = *dt;
                    have_dtype_ = true;
                } else if (field_ == "shape") {
                    p.fail("shape of '" + name_ + "' is not an array");
                } else if (field_ == "data_offsets") {
                    bad_offsets(p);
                }
                return;  // an unknown field: skipped
            default:
                if (field_ == "shape") {
                    if (v.kind != Kind::Unsigned)
                        p.fail("shape of '" + name_ + "' has a non-integer or negative entry");
                    if (dims_.size() >= kMaxRank)
                        p.fail("shape of '" + name_ + "' has more than " + std::to_string(kMaxRank) + " dimensions");
                    dims_.push_back(v.u);
                    return;
                }
                if (v.kind != Kind::Unsigned || n_off_ >= 2) bad_offsets(p);
                (n_off_++ == 0 ? cur_.begin : cur_.end) = v.u;
        }
    }

    void end(jsonsax::Parser& p, bool) override {
        if (p.depth() == 2 && field_ == "shape") cur_.shape.assign(dims_.begin(), dims_.end());  // exact capacity
        if (p.depth() != 1 || is_md_) return;
        if (!have_dtype_ || !have_shape_ || n_off_ < 0)
            p.fail("entry '" + name_ + "' lacks dtype, shape or data_offsets");
        if (n_off_ != 2) bad_offsets(p);
        if (cur_.end < cur_.begin) p.fail("data_offsets of '" + name_ + "' are reversed");
        cur_.name = name_;
        uint64_t numel;
        try {
            numel = cur_.numel();
        } catch (const Error&) {
            p.fail("shape of '" + name_ + "' overflows");
        }
        if (numel > UINT64_MAX / dtype_bits(cur_.dtype)) p.fail("shape of '" + name_ + "' overflows its byte count");
        const auto nbytes = dtype_nbytes(cur_.dtype, numel);
        if (!nbytes)
            p.fail("tensor '" + name_ + "' has " + std::to_string(numel) + " elements of " +
                   std::string(dtype_name(cur_.dtype)) + ": not a whole number of bytes");
        if (*nbytes != cur_.end - cur_.begin)
            p.fail("tensor '" + name_ + "' has " + std::to_string(cur_.end - cur_.begin) +
                   " bytes, its dtype and shape need " + std::to_string(*nbytes));
        tensors.push_back(std::move(cur_));
    }

private:
    std::string name_, field_;  // the current entry's name, the current field or metadata key
    bool is_md_ = false;
    TensorInfo cur_;
    bool have_dtype_ = false, have_shape_ = false;
    int n_off_ = -1;  // data_offsets read so far; -1: none seen
    std::vector<uint64_t> dims_;

    [[noreturn]] void bad_offsets(jsonsax::Parser& p) {
        p.fail("data_offsets of '" + name_ + "' are not two non-negative integers");
    }
};

}  // namespace

SafetensorsFile SafetensorsFile::parse(MappedFile file) {
    const std::string path = file.path();  // a copy: `file` is moved into the result below
    const std::string prefix = path + ": not a valid safetensors file: ";
    auto bad = [&](const std::string& why) { return Error(prefix + why); };
    if (file.size() >= sizeof kDcxMagic && std::memcmp(file.data(), kDcxMagic, sizeof kDcxMagic) == 0)
        throw Error(path + " is a .dcx file (a compressed delta), not a safetensors checkpoint");
    if (file.size() < 8) throw bad("shorter than its 8-byte header length");
    const uint64_t n = read_u64le(file.data());
    if (n > kMaxHeader) throw bad("header length " + std::to_string(n) + " is over the limit");
    if (n > file.size() - 8) throw bad("header runs past the end of the file (truncated?)");
    const uint8_t* hb = file.data() + 8;
    if (n == 0 || hb[0] != '{') throw bad("header does not start with '{'");

    HeaderReader rd;
    jsonsax::Limits lim;  // names and values: bounded by the header's size only, as in the reference reader
    jsonsax::parse(hb, n, rd, lim, prefix);

    SafetensorsFile f;
    f.file_ = std::move(file);
    f.data_start_ = 8 + n;
    f.tensors_ = std::move(rd.tensors);
    f.metadata_ = std::move(rd.metadata);
    const uint64_t buffer = f.file_.size() - f.data_start_;
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
    f.index_.reserve(f.tensors_.size());
    for (size_t i = 0; i < f.tensors_.size(); ++i) f.index_[f.tensors_[i].name] = i;
    return f;
}

SafetensorsFile SafetensorsFile::in_memory(const std::string& label, const std::vector<TensorView>& tensors) {
    SafetensorsFile f;
    f.label_ = label.empty() ? "tensors in memory" : label;
    f.tensors_.reserve(tensors.size());
    f.index_.reserve(tensors.size());
    uint64_t pos = 0;
    for (const TensorView& v : tensors) {
        const std::string ctx = f.label_ + ": tensor '" + v.name + "'";
        if (static_cast<unsigned>(v.dtype) >= kNumDTypes) throw Error(ctx + " has an unknown dtype");
        if (v.name == "__metadata__") throw Error(ctx + ": the name is reserved");
        const uint64_t nb = tensor_nbytes({v.name, v.dtype, v.shape});
        if (nb != v.nbytes)
            throw Error(ctx + " has " + std::to_string(v.nbytes) + " bytes; its dtype " +
                        std::string(dtype_name(v.dtype)) + " and shape " + shape_str(v.shape) + " need " +
                        std::to_string(nb));
        if (nb && !v.data) throw Error(ctx + " has no data");
        if (!f.index_.emplace(v.name, f.tensors_.size()).second) throw Error(ctx + " appears twice");
        TensorInfo t;
        t.name = v.name;
        t.dtype = v.dtype;
        t.shape = v.shape;
        t.begin = pos;
        t.end = pos += nb;
        t.mem = nb ? static_cast<const uint8_t*>(v.data) : reinterpret_cast<const uint8_t*>("");
        f.tensors_.push_back(std::move(t));
    }
    return f;
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

uint64_t tensor_nbytes(const TensorSpec& t) {
    const uint64_t numel = shape_numel(t.shape);
    const auto n = dtype_nbytes(t.dtype, numel);
    if (!n)
        throw Error("tensor '" + t.name + "': shape " + shape_str(t.shape) + " of " + std::string(dtype_name(t.dtype)) +
                    (numel > UINT64_MAX / dtype_bits(t.dtype) ? " overflows its byte count"
                                                              : " is not a whole number of bytes"));
    return *n;
}

std::string safetensors_header(const std::vector<TensorSpec>& tensors, const std::optional<Metadata>& metadata) {
    // Built as text, in linear time; the same bytes as nlohmann::ordered_json's compact dump
    // of {"__metadata__": {...sorted}, name: {"dtype", "shape", "data_offsets"}, ...}.
    std::string s = "{";
    if (metadata) {
        s += "\"__metadata__\":";
        jsonsax::append_string_map(s, *metadata);
    }
    std::unordered_set<std::string_view> names;
    names.reserve(tensors.size());
    uint64_t pos = 0;
    for (const TensorSpec& t : tensors) {
        if (t.name == "__metadata__" || !names.insert(t.name).second)
            throw Error("cannot write tensor '" + t.name + "' twice, or under the name __metadata__");
        const uint64_t nb = tensor_nbytes(t);
        if (s.size() > 1) s += ',';
        jsonsax::append_quoted(s, t.name, "tensor name");
        s += ":{\"dtype\":\"";
        s += dtype_name(t.dtype);
        s += "\",\"shape\":[";
        for (size_t i = 0; i < t.shape.size(); ++i) {
            if (i) s += ',';
            s += std::to_string(t.shape[i]);
        }
        s += "],\"data_offsets\":[" + std::to_string(pos) + "," + std::to_string(pos + nb) + "]}";
        pos += nb;
    }
    s += '}';
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
    for (const TensorSpec& t : tensors_) sizes_.push_back(tensor_nbytes(t));
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
