// Writing and reading a .dcx through streams: the per-section check compress runs
// when its output is a pipe (SectionSequenceCheck), and `test`/apply's check of
// a model directory's other files (ApplyOptions::verify_files).
#include <gtest/gtest.h>
#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_frameHeaderSize (exported by libzstd 1.5)
#include <zstd.h>

#include "deltacodec/deltacodec.hpp"
#include "format/record.hpp"
#include "testutil.hpp"

using namespace deltacodec;
using namespace testutil;

namespace {

// A base / fine-tune directory pair whose fine-tune carries a compressible config.json
// (stored as a zstd blob in a FILE section).
void write_dirs(const TempDir& dir) {
    const auto b = gaussian(64 * 64, 0.05, 1);
    fs::create_directories(dir / "base");
    fs::create_directories(dir / "ft");
    write_safetensors(dir / "base/model.safetensors", {make_tensor("w", DType::F16, {64, 64}, b)});
    write_safetensors(dir / "ft/model.safetensors",
                      {make_tensor("w", DType::F16, {64, 64}, perturb(b, 64, 64, 0.004, 2))});
    std::string cfg = "{\n";
    for (int i = 0; i < 200; ++i) cfg += "  \"key_" + std::to_string(i) + "\": \"value\",\n";
    write_text(dir / "ft/config.json", cfg + "  \"end\": 1\n}\n");
}

}  // namespace

// Every section of a real .dcx passes, in order; anything a reader would refuse is
// refused, section by section, before it would be sent.
TEST(Stream, SectionSequenceCheckFollowsTheReaders) {
    TempDir dir;
    write_dirs(dir);
    CompressOptions o;
    compress(dir / "base", dir / "ft", dir / "x.dcx", o);
    const std::vector<uint8_t> f = read_bytes(dir / "x.dcx");
    const std::vector<DcxSection> secs = dcx_sections(f);
    ASSERT_EQ(secs.size(), 4u);  // HEADER, FILE, TENSOR, END
    auto feed = [&](SectionSequenceCheck& c, const DcxSection& s, const std::vector<uint8_t>& bytes) {
        c.check(static_cast<SectionType>(s.type), bytes.data() + s.offset, s.size);
    };
    {
        SectionSequenceCheck c("<stdout>");
        for (const DcxSection& s : secs) {
            EXPECT_FALSE(c.complete());
            EXPECT_NO_THROW(feed(c, s, f));
        }
        EXPECT_TRUE(c.complete());
        EXPECT_THROW(feed(c, secs[3], f), Error) << "nothing after END";
    }
    {
        SectionSequenceCheck c("<stdout>");
        EXPECT_THROW(feed(c, secs[1], f), Error) << "HEADER first";
    }
    {
        SectionSequenceCheck c("<stdout>");
        feed(c, secs[0], f);
        feed(c, secs[1], f);
        EXPECT_THROW(feed(c, secs[3], f), Error) << "END before the tensor";
    }
    {
        SectionSequenceCheck c("<stdout>");
        feed(c, secs[0], f);
        feed(c, secs[1], f);
        EXPECT_THROW(feed(c, secs[1], f), Error) << "the same file twice";
    }
    {  // a record whose name does not match the HEADER's
        std::vector<uint8_t> g = f;
        g[secs[2].offset + 2] ^= 1;
        SectionSequenceCheck c("<stdout>");
        feed(c, secs[0], g);
        feed(c, secs[1], g);
        try {
            feed(c, secs[2], g);
            ADD_FAILURE() << "a mismatched record must throw";
        } catch (const Error& e) {
            EXPECT_EQ(std::string(e.what()).rfind("<stdout>: tensor 'w'", 0), 0u) << e.what();
        }
    }
}

// A FILE whose zstd frame is corrupt (checksum repaired): `test` finds it, as decompress
// and info do; apply() alone does not decode FILE sections unless asked.
// Caught on the old code: apply() had no verify_files, so `test` would have said OK.
TEST(Stream, TestChecksTheOtherFilesOfADirectory) {
    TempDir dir;
    write_dirs(dir);
    CompressOptions o;
    compress(dir / "base", dir / "ft", dir / "x.dcx", o);
    std::vector<uint8_t> f = read_bytes(dir / "x.dcx");
    const DcxSection file = dcx_sections(f)[1];
    ASSERT_EQ(static_cast<SectionType>(file.type), SectionType::FILE);
    const uint64_t name_len = f[file.offset] | (f[file.offset + 1] << 8);
    const uint64_t blob = file.offset + 2 + name_len;
    ASSERT_EQ(f[blob], 1) << "the config travels as a zstd blob";
    const uint64_t frame = blob + 17, end = file.offset + file.size;
    const size_t fh = ZSTD_frameHeaderSize(f.data() + frame, end - frame);
    ASSERT_FALSE(ZSTD_isError(fh));

    struct Nothing final : TensorSink {
        void begin(const std::string&, DType, const Shape&, uint64_t) override {}
        void write(const uint8_t*, size_t) override {}
    } sink;
    ApplyOptions verify;
    verify.verify_files = true;
    // The first byte of the compressed data whose change leaves the frame's structure
    // sound (the reader's checks before decoding pass) but its content undecodable.
    bool found = false;
    for (uint64_t at = frame + fh + 3; at < end && !found; ++at) {
        std::vector<uint8_t> g = f;
        g[at] ^= 0xff;
        fix_dcx_checksum(g, file);
        write_bytes(dir / "bad.dcx", g);
        try {
            apply(dir / "base", dir / "bad.dcx", sink);
        } catch (const Error&) {
            continue;  // refused before decoding: not the case under test
        }
        try {
            apply(dir / "base", dir / "bad.dcx", sink, verify);
        } catch (const Error&) {
            found = true;
        }
    }
    ASSERT_TRUE(found) << "no corruption of the frame's content that only decoding finds";
    const RunResult t = run_cli({"test", dir / "base", dir / "bad.dcx"}, dir.path());
    EXPECT_EQ(t.rc, 1);
    EXPECT_NE(t.err.find("file 'config.json'"), std::string::npos) << t.err;
    EXPECT_EQ(run_cli({"test", dir / "base", dir / "x.dcx", "-q"}, dir.path()).rc, 0);
}
