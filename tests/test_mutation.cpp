// Mutation fuzzing of the .dcx reader, deterministic (a fixed seed), so it runs
// in every `make test` and under the sanitizers. Each mutant changes a section's
// payload and then *repairs its checksum*, so the record parsers (not just the
// checksum) face hostile content. Every mutant must either decode or be refused
// with deltacodec::Error; nothing else (no crash, no other exception, no hang).
#include <gtest/gtest.h>

#include <random>

#include "deltacodec/deltacodec.hpp"
#include "format/container.hpp"
#include "testutil.hpp"

using namespace deltacodec;
using namespace testutil;

TEST(Mutation, HostileRecordsAreRefusedCleanly) {
    TempDir dir;
    const uint64_t r = 40, c = 72;
    const auto b1 = gaussian(r * c, 0.05, 1), b2 = gaussian(16 * 8, 0.05, 2), b3 = gaussian(64, 1, 3);
    write_safetensors(dir / "base.safetensors",
                      {make_tensor("layer.w", DType::F16, {r, c}, b1), make_tensor("layer.v", DType::F32, {16, 8}, b2),
                       make_tensor("norm.weight", DType::BF16, {64}, b3)});
    write_safetensors(dir / "ft.safetensors",
                      {make_tensor("layer.w", DType::F16, {r, c}, perturb(b1, r, c, 0.01, 4)),
                       make_tensor("layer.v", DType::F32, {16, 8}, perturb(b2, 16, 8, 0.01, 5)),
                       make_tensor("norm.weight", DType::BF16, {64}, perturb(b3, 1, 64, 0.01, 6)),
                       make_tensor("new.head", DType::F16, {3, 5}, gaussian(15, 1, 7))});
    std::vector<std::vector<uint8_t>> originals;
    for (const char* cfg : {"dct", "dwt"}) {
        CompressOptions o;
        o.codec.transform = std::string(cfg) == "dct" ? TransformId::DCT : TransformId::HAAR;
        o.codec.patch = 16;
        o.codec.bits = BitSpec::parse("4:0.34,2:0.33,0:0.33");
        o.overwrite = true;
        o.threads = 1;
        compress(dir / "base.safetensors", dir / "ft.safetensors", dir / "orig.dcx", o);
        originals.push_back(read_bytes(dir / "orig.dcx"));
    }

    std::mt19937_64 rng(12345);
    int refused = 0, accepted = 0;
    const int kMutants = 400;
    for (int m = 0; m < kMutants; ++m) {
        std::vector<uint8_t> f = originals[m % originals.size()];
        const auto secs = dcx_sections(f);
        ASSERT_GE(secs.size(), 3u);
        const DcxSection s = secs[rng() % secs.size()];
        if (s.size == 0) continue;
        const int kind = static_cast<int>(rng() % 4);
        const int edits = 1 + static_cast<int>(rng() % 3);
        for (int e = 0; e < edits; ++e) {
            const uint64_t at = s.offset + rng() % s.size;
            switch (kind) {
                case 0:
                    f[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
                    break;  // bit flip
                case 1:
                    f[at] = static_cast<uint8_t>(rng());
                    break;  // random byte
                case 2:
                    f[at] = 0xff;
                    break;  // large values
                case 3:
                    f[at] = 0x00;
                    break;  // zeros
            }
        }
        fix_dcx_checksum(f, s);
        write_bytes(dir / "m.dcx", f);
        bool ok_info = false;
        try {
            info_json(dir / "m.dcx");
            ok_info = true;
        } catch (const Error&) {
        } catch (const std::exception& e) {
            FAIL() << "mutant " << m << ": info threw a non-Error: " << e.what();
        }
        try {
            DecompressOptions d;
            d.overwrite = true;
            d.threads = 1 + m % 2;
            decompress(dir / "base.safetensors", dir / "m.dcx", dir / "out.safetensors", d);
            ++accepted;
        } catch (const Error&) {
            ++refused;
            if (ok_info) {
                // info does not check the base; decompress may still refuse (wrong base, ...).
            }
        } catch (const std::exception& e) {
            FAIL() << "mutant " << m << ": decompress threw a non-Error: " << e.what();
        }
    }
    // Most mutants must be caught; some (a changed code value) are valid files.
    EXPECT_GT(refused, kMutants / 4);
    EXPECT_GT(accepted + refused, kMutants / 2);
}
