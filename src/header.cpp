// deltacodec — HEADER JSON (written and validated) and record prefixes.
#include "header.hpp"

#include <cstring>
#include <set>
#include <stdexcept>

#include "deltacodec/deltacodec.hpp"

namespace deltacodec {
using json = nlohmann::json;

std::vector<uint8_t> header_to_bytes(const DcxHeader& h) {
    json j;
    j["format"] = "dcx";
    j["version"] = kDcxMajor;
    j["producer"] = std::string("deltacodec ") + kVersion;
    j["options"] = h.options;
    j["layout"] = h.directory ? "directory" : "file";
    json shards = json::array();
    for (const ShardSpec& s : h.shards) {
        json js;
        js["file"] = s.file;
        js["metadata"] = s.metadata ? json(*s.metadata) : json(nullptr);
        json ts = json::array();
        for (const TensorSpec& t : s.tensors)
            ts.push_back({{"name", t.name}, {"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape}});
        js["tensors"] = ts;
        shards.push_back(js);
    }
    j["shards"] = shards;
    j["dropped_base_tensors"] = h.dropped;
    const std::string s = j.dump();
    return std::vector<uint8_t>(s.begin(), s.end());
}

DcxHeader header_from_bytes(const uint8_t* data, size_t n, const std::string& path) {
    auto bad = [&](const std::string& why) { return Error(path + ": corrupt .dcx header: " + why); };
    if (n > kMaxHeaderJson) throw bad("too large");
    json j;
    try {
        j = json::parse(data, data + n);
    } catch (const json::exception&) {
        throw bad("not valid JSON");
    }
    if (!j.is_object()) throw bad("not an object");
    auto field = [&](const json& o, const char* k, json::value_t t) -> const json& {
        if (!o.contains(k)) throw bad(std::string("missing '") + k + "'");
        const json& v = o[k];
        const bool ok = v.type() == t || (t == json::value_t::number_unsigned && v.is_number_unsigned());
        if (!ok) throw bad(std::string("'") + k + "' has the wrong type");
        return v;
    };
    DcxHeader h;
    if (field(j, "format", json::value_t::string).get<std::string>() != "dcx") throw bad("format is not dcx");
    if (j.contains("producer") && j["producer"].is_string()) h.producer = j["producer"].get<std::string>();
    if (j.contains("options") && j["options"].is_object()) h.options = j["options"];
    const std::string layout = field(j, "layout", json::value_t::string).get<std::string>();
    if (layout != "file" && layout != "directory") throw bad("unknown layout");
    h.directory = layout == "directory";
    const json& shards = field(j, "shards", json::value_t::array);
    if (shards.empty()) throw bad("no shards");
    if (!h.directory && shards.size() != 1) throw bad("a single-file layout has more than one shard");
    std::set<std::string> files, names;
    for (const json& js : shards) {
        if (!js.is_object()) throw bad("shard is not an object");
        ShardSpec s;
        s.file = field(js, "file", json::value_t::string).get<std::string>();
        if (h.directory) {
            if (!is_plain_file_name(s.file) || s.file.size() < 12 ||
                s.file.compare(s.file.size() - 12, 12, ".safetensors") != 0)
                throw bad("unsafe shard file name '" + s.file + "'");
            if (!files.insert(s.file).second) throw bad("shard '" + s.file + "' twice");
        }
        if (js.contains("metadata") && !js["metadata"].is_null()) {
            const json& md = js["metadata"];
            if (!md.is_object()) throw bad("shard metadata is not an object");
            Metadata m;
            for (auto it = md.begin(); it != md.end(); ++it) {
                if (!it.value().is_string()) throw bad("shard metadata value is not a string");
                m[it.key()] = it.value().get<std::string>();
            }
            s.metadata = std::move(m);
        }
        for (const json& jt : field(js, "tensors", json::value_t::array)) {
            if (!jt.is_object()) throw bad("tensor entry is not an object");
            TensorSpec t;
            t.name = field(jt, "name", json::value_t::string).get<std::string>();
            if (t.name.empty() || t.name.size() > 0xffff || t.name.find('\0') != std::string::npos)
                throw bad("bad tensor name");
            if (!names.insert(t.name).second) throw bad("tensor '" + t.name + "' twice");
            auto dt = dtype_from_name(field(jt, "dtype", json::value_t::string).get<std::string>());
            if (!dt) throw bad("unknown dtype for '" + t.name + "'");
            t.dtype = *dt;
            const json& sh = field(jt, "shape", json::value_t::array);
            if (sh.size() > 8) throw bad("too many dimensions for '" + t.name + "'");
            for (const json& d : sh) {
                if (!d.is_number_unsigned()) throw bad("bad shape for '" + t.name + "'");
                t.shape.push_back(d.get<uint64_t>());
            }
            const uint64_t numel = shape_numel(t.shape);
            if (numel > (uint64_t{1} << 50) / dtype_size(t.dtype)) throw bad("tensor '" + t.name + "' is too large");
            s.tensors.push_back(std::move(t));
        }
        h.shards.push_back(std::move(s));
    }
    if (j.contains("dropped_base_tensors")) {
        const json& d = field(j, "dropped_base_tensors", json::value_t::array);
        for (const json& n : d) {
            if (!n.is_string()) throw bad("dropped_base_tensors holds a non-string");
            h.dropped.push_back(n.get<std::string>());
        }
    }
    return h;
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
    if (nd > 8) r.fail("too many dimensions");
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
template <typename U>
void apply_range(const uint8_t* base, const uint8_t* planes, uint64_t numel, uint64_t b, uint64_t e, uint8_t* out) {
    constexpr size_t w = sizeof(U);
    for (uint64_t i = b; i < e; ++i) {
        U x, d = 0;
        std::memcpy(&x, base + i * w, w);
        for (size_t k = 0; k < w; ++k) d |= static_cast<U>(static_cast<U>(planes[k * numel + i]) << (8 * k));
        const U v = static_cast<U>(x + d);
        std::memcpy(out + i * w, &v, w);
    }
}
constexpr uint64_t kChunk = 1 << 20;

template <typename F>
void by_chunks(uint64_t numel, ThreadPool& pool, F&& f) {
    const uint64_t chunks = (numel + kChunk - 1) / kChunk;
    pool.parallel_for(chunks, [&](size_t c) { f(c * kChunk, std::min<uint64_t>(numel, (c + 1) * kChunk)); });
}
}  // namespace

void exact_delta_planes(const uint8_t* base, const uint8_t* ft, uint64_t numel, size_t w, uint8_t* planes,
                        ThreadPool& pool) {
    by_chunks(numel, pool, [&](uint64_t b, uint64_t e) {
        switch (w) {
            case 1: planes_range<uint8_t>(base, ft, numel, b, e, planes); break;
            case 2: planes_range<uint16_t>(base, ft, numel, b, e, planes); break;
            case 4: planes_range<uint32_t>(base, ft, numel, b, e, planes); break;
            case 8: planes_range<uint64_t>(base, ft, numel, b, e, planes); break;
            default: throw std::logic_error("exact delta: bad element size");
        }
    });
}

void apply_exact_delta(const uint8_t* base, const uint8_t* planes, uint64_t numel, size_t w, uint8_t* out,
                       ThreadPool& pool) {
    by_chunks(numel, pool, [&](uint64_t b, uint64_t e) {
        switch (w) {
            case 1: apply_range<uint8_t>(base, planes, numel, b, e, out); break;
            case 2: apply_range<uint16_t>(base, planes, numel, b, e, out); break;
            case 4: apply_range<uint32_t>(base, planes, numel, b, e, out); break;
            case 8: apply_range<uint64_t>(base, planes, numel, b, e, out); break;
            default: throw std::logic_error("exact delta: bad element size");
        }
    });
}

}  // namespace deltacodec
