// deltacodec — HEADER JSON (written and validated) and record prefixes.
#include "format/header.hpp"

#include <cstring>
#include <set>
#include <stdexcept>

#include "deltacodec/deltacodec.hpp"
#include "io/json_sax.hpp"
#include "io/text.hpp"

namespace deltacodec {
using json = nlohmann::json;

static_assert(kFormatMajor == kDcxMajor && kFormatMinor == kDcxMinor, "the public format version is spec.hpp's");

std::vector<uint8_t> header_to_bytes(const DcxHeader& h) {
    // Built as text, in linear time; the same bytes as the compact dump of the
    // nlohmann::json (keys sorted) that v1.0 wrote: tests/test_golden.cpp checks them.
    // base_name (added after v1.0) only when given: files without it keep v1.0's bytes.
    std::string s = "{";
    if (!h.base_name.empty()) {
        s += "\"base_name\":";
        jsonsax::append_quoted(s, h.base_name, "base name");
        s += ',';
    }
    s += "\"dropped_base_tensors\":[";
    for (size_t i = 0; i < h.dropped.size(); ++i) {
        if (i) s += ',';
        jsonsax::append_quoted(s, h.dropped[i], "tensor name");
    }
    s += "],\"format\":\"dcx\",\"layout\":\"";
    s += h.directory ? "directory" : "file";
    s += "\",\"options\":";
    s += h.options.dump();
    s += ",\"producer\":";
    jsonsax::append_quoted(s, std::string("deltacodec ") + kVersion, "producer");
    s += ",\"shards\":[";
    for (size_t i = 0; i < h.shards.size(); ++i) {
        const ShardSpec& sh = h.shards[i];
        if (i) s += ',';
        s += "{\"file\":";
        jsonsax::append_quoted(s, sh.file, "shard file name");
        s += ",\"metadata\":";
        if (sh.metadata) {
            jsonsax::append_string_map(s, *sh.metadata);
        } else {
            s += "null";
        }
        s += ",\"tensors\":[";
        for (size_t k = 0; k < sh.tensors.size(); ++k) {
            const TensorSpec& t = sh.tensors[k];
            if (k) s += ',';
            s += "{\"dtype\":\"";
            s += dtype_name(t.dtype);
            s += "\",\"name\":";
            jsonsax::append_quoted(s, t.name, "tensor name");
            s += ",\"shape\":[";
            for (size_t d = 0; d < t.shape.size(); ++d) {
                if (d) s += ',';
                s += std::to_string(t.shape[d]);
            }
            s += "]}";
        }
        s += "]}";
    }
    s += "],\"version\":";
    s += std::to_string(kDcxMajor);
    s += '}';
    return std::vector<uint8_t>(s.begin(), s.end());
}

namespace {

using jsonsax::Kind;
using jsonsax::Parser;
using jsonsax::Scalar;

// A JSON number as read (unsigned, signed or float); nullopt for any other kind.
std::optional<json> number_json(const Scalar& v) {
    if (v.kind == Kind::Unsigned) return json(v.u);
    if (v.kind == Kind::Integer) return json(v.i);
    if (v.kind == Kind::Float) return json(v.d);
    return std::nullopt;
}

// SAX handler: HEADER JSON straight into DcxHeader. Depths: 1 top-level fields;
// 2 options' pairs, shards, dropped names; 3 a shard's fields; 4 metadata pairs,
// tensor entries; 5 a tensor's fields; 6 shape numbers. Unknown fields are skipped.
class HeaderReader final : public jsonsax::Handler {
public:
    DcxHeader h;

    bool begin(Parser& p, bool object) override {
        switch (p.depth()) {
            case 0:
                if (!object) p.fail("not an object");
                return true;
            case 1:
                if (top_ == "options") {
                    if (!object) return false;  // informative only: anything else is skipped
                    h.options = nlohmann::json::object();
                    return true;
                }
                if (top_ == "shards" || top_ == "dropped_base_tensors") {
                    if (object) wrong_type(p, top_);
                    have_shards_ |= top_ == "shards";
                    return true;
                }
                if (top_ == "format" || top_ == "layout") wrong_type(p, top_);
                return false;
            case 2:
                if (top_ == "options") return false;  // not a scalar: skipped
                if (top_ == "dropped_base_tensors") p.fail("dropped_base_tensors holds a non-string");
                if (!object) p.fail("shard is not an object");
                shard_ = ShardSpec{};
                have_file_ = have_tensors_ = false;
                return true;
            case 3:
                if (field_ == "metadata") {
                    if (!object) p.fail("shard metadata is not an object");
                    shard_.metadata.emplace();
                    return true;
                }
                if (field_ == "tensors") {
                    if (object) wrong_type(p, field_);
                    have_tensors_ = true;
                    return true;
                }
                if (field_ == "file") wrong_type(p, field_);
                return false;
            case 4:
                if (field_ == "metadata") p.fail("shard metadata value is not a string");
                if (!object) p.fail("tensor entry is not an object");
                t_ = TensorSpec{};
                have_name_ = have_dtype_ = have_shape_ = false;
                return true;
            case 5:
                if (tfield_ == "shape") {
                    if (object) wrong_type(p, tfield_);
                    dims_.clear();
                    have_shape_ = true;
                    return true;
                }
                if (tfield_ == "name" || tfield_ == "dtype") wrong_type(p, tfield_);
                return false;
            default:
                p.fail("bad shape for '" + t_.name + "'");
        }
    }

    void key(Parser& p, std::string_view k) override {
        switch (p.depth()) {
            case 1:
                top_ = k;
                break;
            case 2:
                opt_key_ = k;
                break;
            case 3:
                field_ = k;
                break;
            case 4:
                md_key_ = k;
                break;
            default:
                tfield_ = k;
                break;
        }
    }

    void scalar(Parser& p, const Scalar& v) override {
        switch (p.depth()) {
            case 0:
                p.fail("not an object");
            case 1:
                if (top_ == "format" || top_ == "layout") {
                    const bool f = top_ == "format";
                    take_string(p, v, top_, f ? format_ : layout_, f ? have_format_ : have_layout_);
                } else if (top_ == "producer") {
                    if (v.kind == Kind::String) h.producer = v.s;
                } else if (top_ == "base_name") {  // informative: anything else is skipped
                    if (v.kind == Kind::String && v.s.size() <= kMaxBaseName) h.base_name = v.s;
                } else if (top_ == "shards" || top_ == "dropped_base_tensors") {
                    wrong_type(p, top_);
                }
                return;
            case 2:
                if (top_ == "options") return option(v);
                if (top_ == "shards") p.fail("shard is not an object");
                if (v.kind != Kind::String) p.fail("dropped_base_tensors holds a non-string");
                if (h.dropped.size() >= kMaxDroppedNames)
                    p.fail("more than " + std::to_string(kMaxDroppedNames) + " dropped base tensors");
                h.dropped.emplace_back(v.s);
                return;
            case 3:
                if (field_ == "file") {
                    take_string(p, v, field_, shard_.file, have_file_);
                } else if (field_ == "metadata") {
                    if (v.kind != Kind::Null) p.fail("shard metadata is not an object");
                } else if (field_ == "tensors") {
                    wrong_type(p, field_);
                }
                return;
            case 4:
                if (field_ != "metadata") p.fail("tensor entry is not an object");
                if (v.kind != Kind::String) p.fail("shard metadata value is not a string");
                if (shard_.metadata->size() >= kMaxMetadataEntries)
                    p.fail("shard metadata has more than " + std::to_string(kMaxMetadataEntries) + " entries");
                shard_.metadata->emplace(md_key_, std::string(v.s));
                return;
            case 5:
                if (tfield_ == "name") {
                    take_string(p, v, tfield_, t_.name, have_name_);
                } else if (tfield_ == "dtype") {
                    const auto dt = dtype_from_name(string_value(p, v, tfield_));
                    if (!dt) p.fail("unknown dtype " + jsonsax::shorten(v.s));
                    t_.dtype = *dt;
                    have_dtype_ = true;
                } else if (tfield_ == "shape") {
                    wrong_type(p, tfield_);
                }
                return;
            default:
                if (v.kind != Kind::Unsigned) p.fail("bad shape");
                if (dims_.size() >= kMaxRank) p.fail("more than " + std::to_string(kMaxRank) + " dimensions");
                dims_.push_back(v.u);
        }
    }

    void end(Parser& p, bool) override {
        switch (p.depth()) {
            case 0:
                return finish(p);
            case 2:
                if (top_ == "shards") end_shard(p);
                return;
            case 4:
                return end_tensor(p);
            case 5:
                t_.shape.assign(dims_.begin(), dims_.end());
                return;  // exact capacity
            default:
                return;
        }
    }

private:
    std::string top_, opt_key_, field_, md_key_, tfield_;  // the current key at depths 1..5
    std::string format_, layout_;
    bool have_format_ = false, have_layout_ = false, have_shards_ = false;
    ShardSpec shard_;
    bool have_file_ = false, have_tensors_ = false;
    TensorSpec t_;
    bool have_name_ = false, have_dtype_ = false, have_shape_ = false;
    std::vector<uint64_t> dims_;
    jsonsax::StringSet names_, files_;

    [[noreturn]] static void wrong_type(Parser& p, const std::string& k) {
        p.fail("'" + jsonsax::shorten(k) + "' has the wrong type");
    }
    // The value of field `k`, which must be a string.
    static std::string_view string_value(Parser& p, const Scalar& v, const std::string& k) {
        if (v.kind != Kind::String) wrong_type(p, k);
        return v.s;
    }
    // A required string field: its value into `out`, and `have` set.
    static void take_string(Parser& p, const Scalar& v, const std::string& k, std::string& out, bool& have) {
        out = string_value(p, v, k);
        have = true;
    }

    void option(const Scalar& v) {
        if (h.options.size() >= kMaxOptions) return;
        if (v.kind == Kind::String) {
            if (v.s.size() <= kMaxOptionString) h.options[opt_key_] = std::string(v.s);
        } else if (v.kind == Kind::Bool) {
            h.options[opt_key_] = v.b;
        } else if (std::optional<json> n = number_json(v)) {
            h.options[opt_key_] = std::move(*n);
        }
    }

    void end_tensor(Parser& p) {
        if (!have_name_) p.fail("missing 'name'");
        if (!have_dtype_) p.fail("missing 'dtype'");
        if (!have_shape_) p.fail("missing 'shape'");
        const std::string problem = tensor_name_problem(t_.name);
        if (!problem.empty()) p.fail("bad tensor name: " + problem);
        const std::string shown = jsonsax::shorten(t_.name);
        if (!names_.insert(t_.name)) p.fail("tensor '" + shown + "' twice");
        uint64_t numel;
        try {
            numel = shape_numel(t_.shape);
        } catch (const Error&) {
            p.fail("tensor '" + shown + "' is too large");
        }
        const auto nbytes = dtype_nbytes(t_.dtype, numel);
        if (!nbytes && numel <= UINT64_MAX / dtype_bits(t_.dtype))
            p.fail("tensor '" + shown + "' is not a whole number of bytes");
        if (!nbytes || *nbytes > (uint64_t{1} << 50)) p.fail("tensor '" + shown + "' is too large");
        shard_.tensors.push_back(std::move(t_));
    }

    void end_shard(Parser& p) {
        if (!have_file_) p.fail("missing 'file'");
        if (!have_tensors_) p.fail("missing 'tensors'");
        h.shards.push_back(std::move(shard_));
    }

    // The whole document is read: checks that need fields in any order.
    void finish(Parser& p) {
        if (!have_format_) p.fail("missing 'format'");
        if (format_ != "dcx") p.fail("format is not dcx");
        if (!have_layout_) p.fail("missing 'layout'");
        if (layout_ != "file" && layout_ != "directory") p.fail("unknown layout");
        h.directory = layout_ == "directory";
        if (!have_shards_) p.fail("missing 'shards'");
        if (h.shards.empty()) p.fail("no shards");
        if (!h.directory && h.shards.size() != 1) p.fail("a single-file layout has more than one shard");
        if (!h.directory) return;
        for (const ShardSpec& s : h.shards) {
            const std::string shown = jsonsax::shorten(s.file);
            std::string problem = relative_path_problem(s.file);
            if (problem.empty() && (s.file.size() < 12 || s.file.compare(s.file.size() - 12, 12, ".safetensors") != 0))
                problem = "a name not ending in .safetensors";
            if (!problem.empty()) p.fail("unsafe shard file name '" + shown + "' (" + problem + ")");
            if (!files_.insert(s.file)) p.fail("shard '" + shown + "' twice");
        }
    }
};

}  // namespace

DcxHeader header_from_bytes(const uint8_t* data, size_t n, const std::string& path) {
    const std::string prefix = path + ": corrupt .dcx header: ";
    if (n > kMaxHeaderJson) throw Error(prefix + "too large");
    HeaderReader rd;
    jsonsax::parse(data, n, rd, jsonsax::Limits{}, prefix);
    return std::move(rd.h);
}

namespace {
// SAX handler for END: {"tensors": n, "stats": {name: number, ...}, ...}.
class EndReader final : public jsonsax::Handler {
public:
    EndInfo e;

    bool begin(Parser& p, bool object) override {
        if (p.depth() == 0) {
            if (!object) p.fail("not an object");
            return true;
        }
        if (p.depth() == 1 && top_ == "tensors") p.fail("the tensor count is not a non-negative integer");
        return p.depth() == 1 && top_ == "stats" && object;  // anything else: skipped
    }
    void key(Parser& p, std::string_view k) override { (p.depth() == 1 ? top_ : stat_) = k; }
    void scalar(Parser& p, const Scalar& v) override {
        if (p.depth() == 0) p.fail("not an object");
        if (p.depth() == 1) {
            if (top_ != "tensors") return;
            if (v.kind != Kind::Unsigned) p.fail("the tensor count is not a non-negative integer");
            e.tensors = v.u;
            have_tensors_ = true;
            return;
        }
        if (e.stats.size() >= kMaxEndStats) return;
        if (std::optional<json> n = number_json(v)) e.stats[stat_] = std::move(*n);
    }
    void end(Parser& p, bool) override {
        if (p.depth() == 0 && !have_tensors_) p.fail("no tensor count");
    }

private:
    std::string top_, stat_;
    bool have_tensors_ = false;
};
}  // namespace

EndInfo parse_end_section(const uint8_t* data, size_t n, const std::string& path) {
    EndReader rd;
    jsonsax::parse(data, n, rd, jsonsax::Limits{}, path + ": corrupt END section: ");
    return std::move(rd.e);
}

void write_prefix(ByteWriter& w, const TensorPrefix& p) {
    w.str16(p.name);
    w.u8(static_cast<uint8_t>(p.method));
    w.u8(static_cast<uint8_t>(p.dtype));
    w.u8(static_cast<uint8_t>(p.shape.size()));
    for (uint64_t d : p.shape) w.u64(d);
}

TensorPrefix read_prefix(ByteReader& r) {
    TensorPrefix p;
    p.name = r.str16();
    p.method = static_cast<MethodId>(r.u8());
    auto dt = dtype_from_code(r.u8());
    if (!dt) r.fail("unknown dtype code");
    p.dtype = *dt;
    const uint8_t nd = r.u8();
    if (nd > kMaxRank) r.fail("too many dimensions");
    for (uint8_t i = 0; i < nd; ++i) p.shape.push_back(r.u64());
    return p;
}

namespace {
// Elements [b, e) of the byte-plane transform; specialised for 2- and 4-byte
// elements so the loops vectorise.
template <typename U>
void planes_range(const uint8_t* base, const uint8_t* ft, uint64_t numel, uint64_t b, uint64_t e, uint8_t* planes) {
    constexpr size_t w = sizeof(U);
    for (uint64_t i = b; i < e; ++i) {
        U x, y;
        std::memcpy(&x, base + i * w, w);
        std::memcpy(&y, ft + i * w, w);
        const U d = static_cast<U>(y - x);
        for (size_t k = 0; k < w; ++k) planes[k * numel + i] = static_cast<uint8_t>(d >> (8 * k));
    }
}
// out[(i − b)·w] for i in [b, e): `out` holds the range only.
template <typename U>
void apply_range(const uint8_t* base, const uint8_t* planes, uint64_t numel, uint64_t b, uint64_t e, uint8_t* out) {
    constexpr size_t w = sizeof(U);
    for (uint64_t i = b; i < e; ++i) {
        U x, d = 0;
        std::memcpy(&x, base + i * w, w);
        for (size_t k = 0; k < w; ++k) d |= static_cast<U>(static_cast<U>(planes[k * numel + i]) << (8 * k));
        const U v = static_cast<U>(x + d);
        std::memcpy(out + (i - b) * w, &v, w);
    }
}
constexpr uint64_t kChunk = 1 << 20;

// Runs f(U{}, b, e) over chunks [b, e) of [0, numel), U the unsigned type of w bytes.
template <typename F>
void by_width_chunks(uint64_t numel, size_t w, ThreadPool& pool, F&& f) {
    const uint64_t chunks = (numel + kChunk - 1) / kChunk;
    pool.parallel_for(chunks, [&](size_t c) {
        const uint64_t b = c * kChunk, e = std::min<uint64_t>(numel, (c + 1) * kChunk);
        switch (w) {
            case 1:
                return f(uint8_t{}, b, e);
            case 2:
                return f(uint16_t{}, b, e);
            case 4:
                return f(uint32_t{}, b, e);
            case 8:
                return f(uint64_t{}, b, e);
        }
        throw std::logic_error("exact delta: bad element size");
    });
}
}  // namespace

void exact_delta_planes(const uint8_t* base, const uint8_t* ft, uint64_t numel, size_t w, uint8_t* planes,
                        ThreadPool& pool) {
    by_width_chunks(numel, w, pool,
                    [&](auto u, uint64_t b, uint64_t e) { planes_range<decltype(u)>(base, ft, numel, b, e, planes); });
}

void apply_exact_delta(const uint8_t* base, const uint8_t* planes, uint64_t numel, size_t w, uint8_t* out,
                       ThreadPool& pool) {
    apply_exact_delta_range(base, planes, numel, w, 0, numel, out, pool);
}

void apply_exact_delta_range(const uint8_t* base, const uint8_t* planes, uint64_t numel, size_t w, uint64_t begin,
                             uint64_t end, uint8_t* out, ThreadPool& pool) {
    by_width_chunks(end - begin, w, pool, [&](auto u, uint64_t b, uint64_t e) {
        apply_range<decltype(u)>(base, planes, numel, begin + b, begin + e, out + b * w);
    });
}

}  // namespace deltacodec
