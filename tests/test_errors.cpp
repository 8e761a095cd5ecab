// deltacodec::Error carries what a failure is about (ErrorKind, the errno of a
// failed system call) and, when its message names an option, a second wording
// for the API (api_message(): "pass overwrite=True"), which the Python module
// raises; what() keeps the CLI's words ("use -f").
#include <cerrno>

#include "deltacodec/deltacodec.hpp"
#include "testutil.hpp"

using namespace deltacodec;
using namespace testutil;

namespace {
const std::string kBase = std::string(DELTACODEC_SOURCE_DIR) + "/examples/base.safetensors";
const std::string kFt = std::string(DELTACODEC_SOURCE_DIR) + "/examples/finetuned.safetensors";

// Runs f, which must throw Error; returns it.
template <class F>
Error caught(F f) {
    try {
        f();
    } catch (const Error& e) {
        return e;
    }
    ADD_FAILURE() << "no Error thrown";
    return Error("none");
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

CompressOptions quick() {
    CompressOptions o;
    o.codec.patch = 32;
    o.threads = 2;
    return o;
}
}  // namespace

// Caught on the old code: every Error was one undistinguished kind with the CLI's words.
TEST(Errors, ExistingOutputIsExistsWithBothWordings) {
    TempDir dir;
    const std::string out = dir / "x.dcx";
    compress(kBase, kFt, out, quick());
    const Error e = caught([&] { compress(kBase, kFt, out, quick()); });
    EXPECT_EQ(e.kind(), ErrorKind::EXISTS);
    EXPECT_TRUE(has(e.what(), "exists (use -f to overwrite)")) << e.what();
    EXPECT_TRUE(has(e.api_message(), "exists (pass overwrite=True to replace it)")) << e.api_message();
    EXPECT_FALSE(has(e.api_message(), "-f")) << e.api_message();
    const Error d = caught([&] { decompress(kBase, out, out, {}); });
    EXPECT_EQ(d.kind(), ErrorKind::EXISTS) << d.what();
}

TEST(Errors, MissingInputIsSystemEnoent) {
    TempDir dir;
    const Error e = caught([&] { compress(dir / "missing.safetensors", kFt, dir / "x.dcx", quick()); });
    EXPECT_EQ(e.kind(), ErrorKind::SYSTEM);
    EXPECT_EQ(e.sys_errno(), ENOENT);
    EXPECT_TRUE(has(e.what(), "missing.safetensors")) << e.what();
    EXPECT_STREQ(e.api_message(), e.what());  // names no option: one wording
    const Error i = caught([&] { info(dir / "missing.dcx"); });
    EXPECT_EQ(i.kind(), ErrorKind::SYSTEM);
    EXPECT_EQ(i.sys_errno(), ENOENT);
    const Error w = caught([&] { compress(kBase, kFt, dir / "no/such/dir/x.dcx", quick()); });
    EXPECT_EQ(w.kind(), ErrorKind::SYSTEM) << w.what();
    EXPECT_EQ(w.sys_errno(), ENOENT) << w.what();
}

TEST(Errors, WrongBaseIsMismatchAndCorruptFileIsInvalid) {
    TempDir dir;
    const std::string out = dir / "x.dcx";
    compress(kBase, kFt, out, quick());
    // The fine-tune as the base: same names and shapes, other values.
    const Error m = caught([&] { decompress(kFt, out, dir / "r.safetensors", {}); });
    EXPECT_EQ(m.kind(), ErrorKind::MISMATCH) << m.what();
    EXPECT_TRUE(has(m.what(), "wrong base")) << m.what();
    std::vector<uint8_t> bytes = read_bytes(out);
    bytes.resize(bytes.size() / 2);
    write_bytes(dir / "cut.dcx", bytes);
    const Error c = caught([&] { info(dir / "cut.dcx"); });
    EXPECT_EQ(c.kind(), ErrorKind::INVALID) << c.what();
    EXPECT_EQ(c.sys_errno(), 0);
}

TEST(Errors, SymbolicLinkRefusalNamesTheOptionInEachWording) {
    TempDir dir;
    fs::create_directories(dir / "b");
    fs::create_symlink(kBase, dir / "b/model.safetensors");
    const Error e = caught([&] { compress(dir / "b", kFt, dir / "x.dcx", quick()); });
    EXPECT_TRUE(has(e.what(), "--follow-symlinks")) << e.what();
    EXPECT_TRUE(has(e.api_message(), "follow_symlinks=True")) << e.api_message();
    EXPECT_FALSE(has(e.api_message(), "--")) << e.api_message();
}

TEST(Errors, OptionsSetInTheStructAreWordedByKeyword) {
    TempDir dir;
    CompressOptions o = quick();
    o.codec.patch = 12;
    const Error p = caught([&] { compress(kBase, kFt, dir / "x.dcx", o); });
    EXPECT_EQ(p.kind(), ErrorKind::OPTION);
    EXPECT_TRUE(has(p.what(), "--patch '12' is not a multiple of 8")) << p.what();
    EXPECT_TRUE(has(p.api_message(), "patch=12 is not a multiple of 8")) << p.api_message();
    o = quick();
    o.codec.jpeg_table = true;
    o.codec.transform = TransformId::HAAR;
    const Error j = caught([&] { compress(kBase, kFt, dir / "x.dcx", o); });
    EXPECT_EQ(j.kind(), ErrorKind::OPTION);
    EXPECT_STREQ(j.api_message(), "quant_table='jpeg' applies to method='dct' only");
    o = quick();
    o.include = "(";
    const Error r = caught([&] { compress(kBase, kFt, dir / "x.dcx", o); });
    EXPECT_EQ(r.kind(), ErrorKind::OPTION);
    EXPECT_STREQ(r.what(), "--include '(' is not a valid regular expression");
    EXPECT_STREQ(r.api_message(), "include='(' is not a valid regular expression");
    EXPECT_FALSE(fs::exists(dir / "x.dcx"));
}

// Copying an Error keeps its kind, errno and both wordings.
TEST(Errors, CopiesKeepEverything) {
    const Error a("cli words", "api words", ErrorKind::EXISTS);
    const Error b = a;
    EXPECT_STREQ(b.what(), "cli words");
    EXPECT_STREQ(b.api_message(), "api words");
    EXPECT_EQ(b.kind(), ErrorKind::EXISTS);
    const Error s = system_error("cannot open x", ENOSPC);
    const Error t = s;
    EXPECT_EQ(t.sys_errno(), ENOSPC);
    EXPECT_EQ(t.kind(), ErrorKind::SYSTEM);
    EXPECT_TRUE(has(t.what(), "cannot open x: ")) << t.what();
}
