// deltacodec — what every method shares: registry look-up and decoder helpers.
#include "methods/method.hpp"

#include <cmath>
#include <cstring>

#include "codec/kernels.hpp"
#include "deltacodec/error.hpp"
#include "deltacodec/options.hpp"

namespace deltacodec {

const MethodTraits* find_method(uint8_t id) {
    for (const MethodTraits* m : method_table())
        if (static_cast<uint8_t>(m->id) == id) return m;
    return nullptr;
}

const MethodTraits& method(MethodId id) {
    const MethodTraits* m = find_method(static_cast<uint8_t>(id));
    if (!m)
        throw Error("internal error: method id " + std::to_string(static_cast<unsigned>(id)) + " is not registered");
    return *m;
}

const MethodTraits* find_method(std::string_view name) {
    for (const MethodTraits* m : method_table())
        if (m->name == name) return m;
    return nullptr;
}

std::vector<std::string> method_values(const MethodTraits& m) {
    if (!m.lossy()) return {};
    return m.values ? m.values() : std::vector<std::string>{std::string(m.name)};
}

bool method_listed(const CompressOptions& o, std::string_view name) {
    std::string_view rest = o.method;
    while (!rest.empty()) {
        const size_t comma = rest.find(',');
        if (rest.substr(0, comma) == name) return true;
        if (comma == std::string_view::npos) break;
        rest = rest.substr(comma + 1);
    }
    return false;
}

std::string method_chosen(const MethodTraits& m, const CompressOptions& o) {
    if (!m.lossy()) return "";
    if (m.chosen) return m.chosen(o);
    return method_listed(o, m.name) || (o.method.empty() && rate_controlled(o)) ? std::string(m.name) : std::string();
}

bool lossless_offered(const MethodTraits& m, const CompressOptions& o) { return !m.chosen || !m.chosen(o).empty(); }

std::vector<std::string> all_method_values() {
    std::vector<std::string> out;
    for (const MethodTraits* m : method_table())
        for (std::string& v : method_values(*m)) out.push_back(std::move(v));
    return out;
}

const MethodTraits* method_for_value(std::string_view value) {
    for (const MethodTraits* m : method_table())
        for (const std::string& v : method_values(*m))
            if (v == value) return m;
    return nullptr;
}

void refuse_method(std::string_view value) {
    std::string list;
    for (const std::string& v : all_method_values()) list += (list.empty() ? "" : ", ") + v;
    throw option_error(*find_option_by_keyword("method"), value, "is not one of " + list);
}

void choose_method(CompressOptions& o, std::string_view value) {
    std::string names;
    std::string_view rest = value;
    while (true) {
        const size_t comma = rest.find(',');
        const std::string_view item = rest.substr(0, comma);
        const MethodTraits* m = method_for_value(item);
        if (!m) refuse_method(value);
        CompressOptions seen;
        seen.method = names;
        if (method_listed(seen, m->name))
            throw option_error(*find_option_by_keyword("method"), value,
                               "names the method '" + std::string(m->name) + "' twice");
        if (m->choose) m->choose(o, item);
        if (!names.empty()) names += ',';  // (not "" + …: GCC 12 warns -Wrestrict on that)
        names += m->name;
        if (comma == std::string_view::npos) break;
        rest = rest.substr(comma + 1);
    }
    o.method = names;
}

std::string chosen_method_value(const CompressOptions& o) {
    std::string out;
    for (const MethodTraits* m : method_table()) {
        const std::string v = method_chosen(*m, o);
        if (!v.empty()) out += (out.empty() ? "" : ",") + v;
    }
    return out.empty() ? o.method : out;
}

bool is_2d_float_delta(const TensorInput& in) {
    const TensorInfo& fi = *in.ft->info;
    if (!in.base) return false;
    const TensorInfo& bi = *in.base->info;
    return bi.shape == fi.shape && fi.shape.size() == 2 && fi.numel() > 0 && dtype_is_compressible(fi.dtype) &&
           dtype_is_compressible(bi.dtype);
}

FloatBase read_float_base(ByteReader& r, const TensorSpec& spec) {
    if (!dtype_is_compressible(spec.dtype) || spec.shape.size() != 2) r.fail("coded record of an uncodable tensor");
    FloatBase b;
    b.fingerprint = r.u64();
    const auto bdt = dtype_from_code(r.u8());
    if (!bdt || !dtype_is_compressible(*bdt)) r.fail("bad base dtype");
    b.dtype = *bdt;
    return b;
}

void write_float_base(ByteWriter& w, const TensorRef& base) {
    const TensorInfo& b = *base.info;
    w.u64(tensor_fingerprint(b.dtype, b.shape, base.data(), b.nbytes()));
    w.u8(static_cast<uint8_t>(b.dtype));
}

ScalarRecon read_scalar_recon(ByteReader& r, std::string_view method, float offset_lo) {
    const std::string m(method);
    ScalarRecon q;
    q.step = r.f32();
    if (!std::isfinite(q.step) || q.step <= 0) r.fail(m + " step is not a finite number > 0");
    q.gain = r.f32();
    if (!std::isfinite(q.gain)) r.fail(m + " gain is not finite");
    q.k = r.u8();
    if (q.k < 1 || q.k > ScalarRecon::kMaxOffsets)
        r.fail(m + " record has " + std::to_string(q.k) + " offsets (1..16)");
    for (unsigned i = 0; i < q.k; ++i) {
        q.offsets[i] = r.f32();
        if (!(q.offsets[i] >= offset_lo && q.offsets[i] <= 1))
            r.fail(m + " reconstruction offset is not in [" + (offset_lo < 0 ? "-1" : "0") + ", 1]");
    }
    return q;
}

const uint8_t* join_chunks(Scratch& scratch, std::vector<std::vector<uint8_t>>& streams, uint64_t& total) {
    total = 0;
    for (const auto& s : streams) total += s.size();
    uint8_t* data = scratch.get(total + 1);
    uint64_t at = 0;
    for (auto& s : streams) {
        std::memcpy(data + at, s.data(), s.size());
        at += s.size();
        s = {};
    }
    return data;
}

RdCurve lossless_curve(uint64_t bytes) {
    RdPoint p;
    p.bytes = bytes;
    p.err2 = 0.0;
    return RdCurve{{p}};
}

uint64_t one_row(const CompressOptions&) { return 1; }

std::optional<RdPoint> measure_point(EncodeFn encode, const TensorInput& in, const CompressOptions& opt,
                                     uint32_t setting, bool lossy) {
    ThreadPool one(1);  // no workers: runs on the calling thread
    Scratch scratch;
    EncodeContext ec{one, scratch, nullptr};
    RdPoint p;
    p.setting = setting;
    std::optional<EncodedRecord> r = encode(in, opt, p, ec);
    if (!r) return std::nullopt;
    ByteWriter w;
    r->write(w);
    p.bytes = w.buf.size();
    p.err2 = lossy ? r->err2 : 0.0;
    return p;
}

BlobRef read_tensor_blob(ByteReader& r, const TensorSpec& spec) {
    const BlobRef b = r.blob_ref();
    // Sub-byte dtypes: numel·bits/8 (whole and bounded: header_from_bytes checked it).
    if (b.raw != tensor_nbytes(spec)) r.fail("blob size does not match its tensor");
    return b;
}

void add_to_base_row(DType base_dtype, const uint8_t* base_row, const float* delta, DType dtype, uint8_t* out,
                     uint64_t cols, float* tmp) {
    const Kernels& k = kernels();
    if (base_dtype == dtype) {  // one fused pass, bit-identical to the three steps below
        switch (dtype) {
            case DType::F16:
                return k.f16_add(reinterpret_cast<const uint16_t*>(base_row), delta, reinterpret_cast<uint16_t*>(out),
                                 cols);
            case DType::BF16:
                return k.bf16_add(reinterpret_cast<const uint16_t*>(base_row), delta, reinterpret_cast<uint16_t*>(out),
                                  cols);
            case DType::F32:
                return k.add(reinterpret_cast<const float*>(base_row), delta, reinterpret_cast<float*>(out), cols);
            default:
                break;
        }
    }
    to_f32(base_dtype, base_row, tmp, cols);
    k.add(tmp, delta, tmp, cols);
    from_f32(dtype, tmp, out, cols);
}

const TensorRef& DecodeContext::base_tensor(DType dtype, const Shape& shape, uint64_t fingerprint) const {
    const std::string& name = spec.name;
    if (!base) throw Error(ctx + ": needs the base checkpoint");
    const TensorRef* b = base->find(name);
    if (!b) throw WrongBase("wrong base: " + base->path() + " has no tensor '" + name + "'", ErrorKind::MISMATCH);
    if (b->info->dtype != dtype || b->info->shape != shape)
        throw WrongBase("wrong base: tensor '" + name + "' of " + base->path() + " has another dtype or shape",
                        ErrorKind::MISMATCH);
    if (tensor_fingerprint(dtype, shape, b->data(), b->info->nbytes()) != fingerprint)
        throw WrongBase(
            "wrong base: tensor '" + name + "' of " + base->path() + " differs from the one this .dcx was made against",
            ErrorKind::MISMATCH);
    return *b;
}

const uint8_t* DecodeContext::blob_view(const BlobRef& b) const {
    if (b.codec == static_cast<uint8_t>(BlobCodec::STORED)) return b.src;
    uint8_t* p = blob.get(b.raw + 1);
    decode_blob(b, p, ctx);
    return p;
}

}  // namespace deltacodec
