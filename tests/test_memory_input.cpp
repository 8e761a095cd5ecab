// compress() from tensors in memory (CheckpointSource::memory): read in place,
// the same .dcx bytes as from a safetensors file holding the same tensors.
#include "deltacodec/deltacodec.hpp"
#include "testutil.hpp"

using namespace deltacodec;
using namespace testutil;

namespace {

struct Pair {
    std::vector<T> base, ft;
};

// A small related pair: two coded 2-D tensors (F32, BF16), a lossless one, a new one.
Pair make_pair() {
    Pair p;
    const auto b1 = gaussian(64 * 96, 0.02, 1), b2 = gaussian(64 * 64, 0.02, 2), b3 = gaussian(64, 1.0, 3);
    p.base = {make_tensor("layer.0.weight", DType::F32, {64, 96}, b1),
              make_tensor("layer.1.weight", DType::BF16, {64, 64}, b2),
              make_tensor("layer.0.norm", DType::F16, {64}, b3)};
    p.ft = {make_tensor("layer.0.weight", DType::F32, {64, 96}, perturb(b1, 64, 96, 0.002, 4)),
            make_tensor("layer.1.weight", DType::BF16, {64, 64}, perturb(b2, 64, 64, 0.002, 5)),
            make_tensor("layer.0.norm", DType::F16, {64}, perturb(b3, 1, 64, 0.01, 6)),
            make_tensor("head.weight", DType::F32, {3, 64}, gaussian(3 * 64, 0.1, 7))};
    return p;
}

std::vector<TensorView> views(const std::vector<T>& ts) {
    std::vector<TensorView> v;
    for (const T& t : ts) v.push_back({t.name, t.dtype, t.shape, t.bytes.data(), t.bytes.size()});
    return v;
}

CompressOptions opts() {
    CompressOptions o;
    o.codec.patch = 32;
    o.threads = 2;
    return o;
}

template <class F>
std::string error_of(F f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

// Caught on the old code: there was no way in but files.
TEST(MemoryInput, SameBytesAsFromFiles) {
    TempDir dir;
    const Pair p = make_pair();
    write_safetensors(dir / "base.safetensors", p.base);
    write_safetensors(dir / "ft.safetensors", p.ft);
    const CompressReport rf = compress(dir / "base.safetensors", dir / "ft.safetensors", dir / "f.dcx", opts());
    const CompressReport rm = compress(CheckpointSource::memory(views(p.base), "base"),
                                       CheckpointSource::memory(views(p.ft), "finetuned"), dir / "m.dcx", opts());
    EXPECT_EQ(read_bytes(dir / "f.dcx"), read_bytes(dir / "m.dcx"));
    EXPECT_EQ(rm.count("coded"), 2u);
    EXPECT_EQ(rm.tensors.size(), rf.tensors.size());
    // Mixed: base from its file, fine-tune from memory.
    compress(CheckpointSource::file(dir / "base.safetensors"), CheckpointSource::memory(views(p.ft), "finetuned"),
             dir / "x.dcx", opts());
    EXPECT_EQ(read_bytes(dir / "f.dcx"), read_bytes(dir / "x.dcx"));
    // It rebuilds against the base file.
    decompress(dir / "base.safetensors", dir / "m.dcx", dir / "r.safetensors", {});
    EXPECT_TRUE(fs::exists(dir / "r.safetensors"));
}

TEST(MemoryInput, BadViewsAreRefusedNamingTheTensor) {
    TempDir dir;
    const Pair p = make_pair();
    std::vector<TensorView> ft = views(p.ft);
    ft[1].nbytes -= 2;
    std::string e = error_of([&] {
        compress(CheckpointSource::memory(views(p.base), "base"), CheckpointSource::memory(ft, "finetuned"),
                 dir / "x.dcx", opts());
    });
    EXPECT_NE(e.find("finetuned: tensor 'layer.1.weight' has 8190 bytes"), std::string::npos) << e;
    ft = views(p.ft);
    ft.push_back(ft[0]);
    e = error_of([&] {
        compress(CheckpointSource::memory(views(p.base), "base"), CheckpointSource::memory(ft, "finetuned"),
                 dir / "x.dcx", opts());
    });
    EXPECT_NE(e.find("'layer.0.weight' appears twice"), std::string::npos) << e;
    ft = views(p.ft);
    ft[0].data = nullptr;
    e = error_of([&] {
        compress(CheckpointSource::memory(views(p.base), "base"), CheckpointSource::memory(ft, "finetuned"),
                 dir / "x.dcx", opts());
    });
    EXPECT_NE(e.find("has no data"), std::string::npos) << e;
    // Unrelated: the base shares no 2-D tensor with the fine-tune.
    std::vector<TensorView> base = views(p.base);
    for (TensorView& v : base) v.name += ".other";
    try {
        compress(CheckpointSource::memory(base, "base"), CheckpointSource::memory(views(p.ft), "finetuned"),
                 dir / "x.dcx", opts());
        ADD_FAILURE() << "unrelated pair compressed";
    } catch (const Error& err) {
        EXPECT_EQ(err.kind(), ErrorKind::MISMATCH) << err.what();
    }
    EXPECT_FALSE(fs::exists(dir / "x.dcx"));
}

// An in-memory side has no path: a file named like its label is not an input.
TEST(MemoryInput, LabelIsNotAPath) {
    TempDir dir;
    const Pair p = make_pair();
    const std::string out = dir / "finetuned";
    write_text(out, "an earlier output");
    CompressOptions o = opts();
    o.overwrite = true;
    compress(CheckpointSource::memory(views(p.base), dir / "base"), CheckpointSource::memory(views(p.ft), out), out, o);
    EXPECT_NE(read_text(out), "an earlier output");
}
