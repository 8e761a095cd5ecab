// deltacodec — what every method shares: registry look-up and decoder helpers.
#include "methods/method.hpp"

#include "deltacodec/error.hpp"

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

const TensorRef& DecodeContext::base_tensor(DType dtype, const Shape& shape, uint64_t fingerprint) const {
    const std::string& name = spec.name;
    if (!base) throw Error(ctx + ": needs the base checkpoint");
    const TensorRef* b = base->find(name);
    if (!b) throw WrongBase("wrong base: " + base->path() + " has no tensor '" + name + "'");
    if (b->info->dtype != dtype || b->info->shape != shape)
        throw WrongBase("wrong base: tensor '" + name + "' of " + base->path() + " has another dtype or shape");
    if (tensor_fingerprint(dtype, shape, b->data(), b->info->nbytes()) != fingerprint)
        throw WrongBase("wrong base: tensor '" + name + "' of " + base->path() +
                        " differs from the one this .dcx was made against");
    return *b;
}

const uint8_t* DecodeContext::blob_view(const BlobRef& b) const {
    if (b.codec == static_cast<uint8_t>(BlobCodec::STORED)) return b.src;
    uint8_t* p = blob.get(b.raw + 1);
    decode_blob(b, p, ctx);
    return p;
}

}  // namespace deltacodec
