// Corruption sweep over small golden .dcx files (tests/data/golden): every byte
// flipped, every truncation, and appended bytes. Each damaged file must be
// refused with deltacodec::Error (leaving no output behind) or be harmless: give
// the same description and rebuild to the same bytes as the intact file. Never
// another model, another exception, or a crash. (Mutations that repair the
// section checksums are test_mutation.cpp's and the fuzzers' job: tests/fuzz.)
#include <gtest/gtest.h>

#include <set>

#include "deltacodec/deltacodec.hpp"
#include "testutil.hpp"

using namespace deltacodec;
using namespace testutil;

namespace {

const std::string kGolden = std::string(DELTACODEC_SOURCE_DIR) + "/tests/data/golden";

// In Release, info_json() sees every damaged file; decompress() (about 5x slower)
// sees every one whose damage is in the framing (file header, section headers,
// checksums) and every kPayloadStride-th of the rest: inside a payload the
// checksum refuses them all alike. Under ASan (a Debug build, ~15x slower) info
// also takes framing damage plus every kInfoStride-th byte only.
#if defined(__SANITIZE_ADDRESS__)
constexpr size_t kInfoStride = 3, kPayloadStride = 16;
#else
constexpr size_t kInfoStride = 1, kPayloadStride = 4;
#endif

// Offsets of the framing bytes of a well-formed .dcx: the 16-byte file header and
// each section's 16-byte header and 8-byte checksum.
std::vector<bool> framing_bytes(const std::vector<uint8_t>& f) {
    std::vector<bool> m(f.size() + 1, false);
    for (size_t i = 0; i < 16 && i < f.size(); ++i) m[i] = true;
    size_t pos = 16;
    while (pos + 24 <= f.size()) {
        uint64_t len = 0;
        for (int i = 7; i >= 0; --i) len = (len << 8) | f[pos + 8 + i];
        if (len > f.size() - pos - 24) break;
        for (size_t i = 0; i < 16; ++i) m[pos + i] = true;
        for (size_t i = 0; i < 8; ++i) m[pos + 16 + len + i] = true;
        pos += 24 + len;
    }
    m[f.size()] = true;
    return m;
}

// A scratch directory in memory when the system has one (thousands of small
// writes and renames), else under the test temp directory.
class ScratchDir {
public:
    ScratchDir() {
        std::error_code ec;
        if (fs::is_directory("/dev/shm", ec)) {
            path_ = "/dev/shm/dcxtest_corruption_" + std::to_string(getpid()) + "_" + std::to_string(counter_++);
            fs::create_directories(path_, ec);
        }
        if (path_.empty() || ec) path_ = tmp_.path() + "/sweep";
        fs::create_directories(path_);
    }
    ~ScratchDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    std::string operator/(const std::string& name) const { return path_ + "/" + name; }

private:
    static inline int counter_ = 0;
    TempDir tmp_;
    std::string path_;
};

enum class Outcome { Refused, Same, Different, OtherException };

class Sweep {
public:
    Sweep(const std::string& dcx_name, const std::string& base_name)
        : base_(kGolden + "/" + base_name), dcx_(dir_ / "m.dcx"), out_(dir_ / "out") {
        good_ = read_bytes(kGolden + "/" + dcx_name);
        write_bytes(dcx_, good_);
        ref_info_ = info_json(dcx_);
        decompress(base_, dcx_, out_, options());
        ref_out_ = snapshot();
        fs::remove_all(out_);
    }
    const std::vector<uint8_t>& good() const { return good_; }

    Outcome info(const std::vector<uint8_t>& bytes, std::string* why) {
        write_bytes(dcx_, bytes);
        try {
            return info_json(dcx_) == ref_info_ ? Outcome::Same : Outcome::Different;
        } catch (const Error& e) {
            *why = e.what();
            return Outcome::Refused;
        } catch (const std::exception& e) {
            *why = std::string("not a deltacodec::Error: ") + e.what();
            return Outcome::OtherException;
        }
    }

    Outcome rebuild(const std::vector<uint8_t>& bytes, std::string* why) {
        write_bytes(dcx_, bytes);
        std::error_code ec;
        fs::remove_all(out_, ec);
        try {
            decompress(base_, dcx_, out_, options());
        } catch (const Error& e) {
            *why = e.what();
            if (fs::exists(out_)) {  // a refused file leaves no output behind
                *why += " (but left an output)";
                return Outcome::Different;
            }
            return Outcome::Refused;
        } catch (const std::exception& e) {
            *why = std::string("not a deltacodec::Error: ") + e.what();
            return Outcome::OtherException;
        }
        return snapshot() == ref_out_ ? Outcome::Same : Outcome::Different;
    }

private:
    static DecompressOptions options() {
        DecompressOptions o;
        o.threads = 1;
        return o;
    }
    // The output: one file's bytes, or each file of a directory by name.
    std::map<std::string, std::vector<uint8_t>> snapshot() const {
        std::map<std::string, std::vector<uint8_t>> m;
        if (!fs::is_directory(out_)) {
            m[""] = read_bytes(out_);
        } else {
            for (const auto& e : fs::directory_iterator(out_)) m[e.path().filename()] = read_bytes(e.path());
        }
        return m;
    }

    ScratchDir dir_;
    std::string base_, dcx_, out_;
    std::vector<uint8_t> good_;
    std::string ref_info_;
    std::map<std::string, std::vector<uint8_t>> ref_out_;
};

// Checks one damaged file against both entry points; records the offsets found harmless.
void check(Sweep& s, const std::vector<uint8_t>& bytes, const std::string& what, bool rebuild,
           std::set<std::string>* harmless = nullptr) {
    std::string why;
    Outcome o = s.info(bytes, &why);
    EXPECT_TRUE(o == Outcome::Refused || o == Outcome::Same) << what << ": info: " << why;
    bool same = o == Outcome::Same;
    if (rebuild) {
        why.clear();
        o = s.rebuild(bytes, &why);
        EXPECT_TRUE(o == Outcome::Refused || o == Outcome::Same) << what << ": decompress: " << why;
        same = same || o == Outcome::Same;
    }
    if (same && harmless) harmless->insert(what);
}

void flip_every_byte(const std::string& dcx, const std::string& base) {
    Sweep s(dcx, base);
    const std::vector<uint8_t>& good = s.good();
    const std::vector<bool> framing = framing_bytes(good);
    std::set<std::string> harmless;
    for (size_t i = 0; i < good.size(); ++i) {
        if (!framing[i] && i % kInfoStride != 0) continue;
        for (uint8_t mask : {uint8_t{0xff}, uint8_t{0x01}}) {
            std::vector<uint8_t> b = good;
            b[i] ^= mask;
            check(s, b, "byte " + std::to_string(i) + " ^ " + std::to_string(mask),
                  mask == 0xff && (framing[i] || i % kPayloadStride == 0), &harmless);
        }
    }
    // Only the file header's minor version and reserved field (bytes 10..15) are
    // not covered by a check; everything else is magic, major or checksummed.
    for (const std::string& h : harmless) {
        const size_t at = std::stoul(h.substr(5));
        EXPECT_TRUE(at >= 10 && at < 16) << dcx << ": accepted a damaged file: " << h;
    }
}

}  // namespace

TEST(Corruption, EveryByteFlippedSingleFile) { flip_every_byte("tiny_default.dcx", "tiny_base.safetensors"); }

TEST(Corruption, EveryByteFlippedDirectory) { flip_every_byte("dir_default.dcx", "dir_base"); }

TEST(Corruption, EveryTruncationIsRefused) {
    for (const auto& [dcx, base] : {std::pair<std::string, std::string>{"tiny_default.dcx", "tiny_base.safetensors"},
                                    {"dir_default.dcx", "dir_base"}}) {
        Sweep s(dcx, base);
        const std::vector<uint8_t>& good = s.good();
        const std::vector<bool> framing = framing_bytes(good);
        for (size_t n = 0; n < good.size(); ++n) {
            const bool near_framing = framing[n] || (n > 0 && framing[n - 1]);
            if (!near_framing && n % kInfoStride != 0) continue;
            const std::vector<uint8_t> b(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
            std::string why;
            EXPECT_EQ(s.info(b, &why), Outcome::Refused) << dcx << " cut to " << n << " bytes: " << why;
            if (near_framing || n % kPayloadStride == 0) {
                EXPECT_EQ(s.rebuild(b, &why), Outcome::Refused) << dcx << " cut to " << n << " bytes: " << why;
            }
        }
    }
}

TEST(Corruption, AppendedBytesAreRefused) {
    Sweep s("tiny_default.dcx", "tiny_base.safetensors");
    const std::vector<uint8_t>& good = s.good();
    size_t pos = 16, last = 16;  // the last section: END
    while (pos + 24 <= good.size()) {
        uint64_t len = 0;
        for (int i = 7; i >= 0; --i) len = (len << 8) | good[pos + 8 + i];
        last = pos;
        pos += 24 + len;
    }
    ASSERT_EQ(pos, good.size());
    const std::vector<uint8_t> end_section(good.begin() + static_cast<std::ptrdiff_t>(last), good.end());
    std::vector<std::vector<uint8_t>> tails = {
        {0}, {0xff}, std::vector<uint8_t>(24, 0), std::vector<uint8_t>(4096, 0), end_section, good};
    ASSERT_EQ(end_section[0], 0x21);  // "!DNE"
    for (size_t k = 0; k < tails.size(); ++k) {
        std::vector<uint8_t> b = good;
        b.insert(b.end(), tails[k].begin(), tails[k].end());
        std::string why;
        EXPECT_EQ(s.info(b, &why), Outcome::Refused) << "tail " << k << ": " << why;
        EXPECT_EQ(s.rebuild(b, &why), Outcome::Refused) << "tail " << k << ": " << why;
    }
}
