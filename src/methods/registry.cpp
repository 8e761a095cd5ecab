// deltacodec — the method registry: the method code table of the .dcx format.
// One row per method, in id order; each method's id is written in its own row
// (MethodTraits::id, in its file), explicit and never reused: a retired method's
// id stays listed here as a comment. FORMAT.md's "Method ids" table lists the
// same ids (tests/test_format_spec.cpp checks it against this table).
// Adding a method: its file (src/methods/NAME.cpp, defining a MethodTraits), one
// row here, one test (docs/ARCHITECTURE.md).
#include "methods/method.hpp"

namespace deltacodec {

extern const MethodTraits kPatchMethod;       // methods/patch.cpp
extern const MethodTraits kExactDeltaMethod;  // methods/exact_delta.cpp
extern const MethodTraits kWholeMethod;       // methods/whole.cpp
extern const MethodTraits kBitDeltaMethod;    // methods/bitdelta.cpp
extern const MethodTraits kEcsqMethod;        // methods/ecsq.cpp
extern const MethodTraits kLowRankMethod;     // methods/lowrank.cpp
extern const MethodTraits kSparseMethod;      // methods/sparse.cpp
extern const MethodTraits kSvdMixMethod;      // methods/svdmix.cpp
extern const MethodTraits kHybridMethod;      // methods/hybrid.cpp
extern const MethodTraits kLosslessMethod;    // methods/lossless.cpp

const std::vector<const MethodTraits*>& method_table() {
    static const std::vector<const MethodTraits*> table = {
        &kPatchMethod,       // id 0: patch transform coder (dct/dwt)   since v1.0
        &kExactDeltaMethod,  // id 1: lossless byte-plane delta         since v1.0
        &kWholeMethod,       // id 2: the fine-tune's bytes             since v1.0
        &kBitDeltaMethod,    // id 3: sign + one scale per row          added after 0.1.0
        &kEcsqMethod,        // id 4: dead-zone quantizer + rANS        added after 0.1.0
        &kLowRankMethod,     // id 5: truncated SVD, quantized factors  added after 0.1.0
        &kSparseMethod,      // id 6: kept entries, bitmap + rANS       added after 0.1.0
        &kSvdMixMethod,      // id 7: SVD, bits per direction by RD     added after 0.1.0
        &kHybridMethod,      // id 8: SVD + ecsq-coded residual         added after 0.1.0
        &kLosslessMethod,    // id 9: chunked byte planes, rANS/zstd    added after 0.1.0
        // retired ids (never reuse): none yet
    };
    return table;
}

}  // namespace deltacodec
