// deltacodec — the method registry: one row per method, ids explicit and never
// reused (FORMAT.md "Method ids"; the ids themselves: MethodId in format/spec.hpp).
// Adding a method: its file (src/methods/NAME.cpp, defining a MethodTraits), one
// row here, one test (docs/ARCHITECTURE.md).
#include "methods/method.hpp"

namespace deltacodec {

extern const MethodTraits kPatchMethod;       // methods/patch.cpp
extern const MethodTraits kExactDeltaMethod;  // methods/exact_delta.cpp
extern const MethodTraits kWholeMethod;       // methods/whole.cpp

const std::vector<const MethodTraits*>& method_table() {
    static const std::vector<const MethodTraits*> table = {
        &kPatchMethod,       // id 0: patch transform coder (dct/dwt)   since v1.0
        &kExactDeltaMethod,  // id 1: lossless byte-plane delta         since v1.0
        &kWholeMethod,       // id 2: the fine-tune's bytes             since v1.0
        // retired ids (never reuse): none yet
    };
    return table;
}

}  // namespace deltacodec
