// deltacodec tests — shared helpers: temporary directories, raw files, synthetic
// checkpoints, running the CLI.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "codec/rans.hpp"
#include "deltacodec/types.hpp"
#include "io/dtype.hpp"
#include "io/io.hpp"
#include "io/safetensors.hpp"

namespace testutil {

namespace fs = std::filesystem;
using deltacodec::DType;
using deltacodec::Shape;

/// A fresh directory under testing::TempDir(), removed when destroyed.
class TempDir {
public:
    TempDir() {
        static std::atomic<int> counter{0};
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "dcx";
        for (char& c : name)
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.') c = '_';
        path_ = (fs::path(::testing::TempDir()) /
                 ("dcxtest_" + name + "_" + std::to_string(getpid()) + "_" + std::to_string(counter++)))
                    .string();
        fs::remove_all(path_);
        fs::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string operator/(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

inline std::vector<uint8_t> read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

inline std::string read_text(const std::string& path) {
    const std::vector<uint8_t> b = read_bytes(path);
    return std::string(b.begin(), b.end());
}

inline void write_bytes(const std::string& path, const void* data, size_t n) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
    ASSERT_TRUE(f.good()) << path;
}

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
    write_bytes(path, b.data(), b.size());
}
inline void write_text(const std::string& path, const std::string& s) { write_bytes(path, s.data(), s.size()); }

/// A raw safetensors file: 8-byte length, the header text as given, then `data`.
inline std::vector<uint8_t> raw_safetensors(const std::string& header, const std::vector<uint8_t>& data,
                                            std::optional<uint64_t> declared_len = std::nullopt) {
    std::vector<uint8_t> out(8);
    const uint64_t n = declared_len ? *declared_len : header.size();
    for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
    out.insert(out.end(), header.begin(), header.end());
    out.insert(out.end(), data.begin(), data.end());
    return out;
}

/// One tensor of a synthetic checkpoint: values as doubles, stored at `dtype`
/// (floats rounded to nearest even, integers cast).
struct T {
    std::string name;
    DType dtype;
    Shape shape;
    std::vector<uint8_t> bytes;
};

inline uint64_t numel(const Shape& s) { return deltacodec::shape_numel(s); }

inline std::vector<uint8_t> encode(DType dt, const std::vector<double>& v) {
    const size_t es = deltacodec::dtype_size(dt);
    std::vector<uint8_t> out(v.size() * es);
    for (size_t i = 0; i < v.size(); ++i) {
        uint8_t* o = out.data() + i * es;
        switch (dt) {
            case DType::F32: {
                const float f = static_cast<float>(v[i]);
                std::memcpy(o, &f, 4);
                break;
            }
            case DType::F16: {
                const uint16_t h = deltacodec::f32_to_f16(static_cast<float>(v[i]));
                std::memcpy(o, &h, 2);
                break;
            }
            case DType::BF16: {
                const uint16_t h = deltacodec::f32_to_bf16(static_cast<float>(v[i]));
                std::memcpy(o, &h, 2);
                break;
            }
            case DType::F64:
                std::memcpy(o, &v[i], 8);
                break;
            case DType::I64: {
                const int64_t x = static_cast<int64_t>(v[i]);
                std::memcpy(o, &x, 8);
                break;
            }
            case DType::I32: {
                const int32_t x = static_cast<int32_t>(v[i]);
                std::memcpy(o, &x, 4);
                break;
            }
            case DType::U8:
            case DType::BOOL:
                o[0] = static_cast<uint8_t>(v[i]);
                break;
            default:
                ADD_FAILURE() << "encode: unsupported dtype";
                break;
        }
    }
    return out;
}

/// Float values (as doubles) of a compressible or F64 tensor's bytes.
inline std::vector<double> decode(DType dt, const uint8_t* p, uint64_t n) {
    std::vector<double> out(n);
    if (dt == DType::F64) {
        for (uint64_t i = 0; i < n; ++i) std::memcpy(&out[i], p + 8 * i, 8);
        return out;
    }
    std::vector<float> f(n);
    deltacodec::to_f32(dt, p, f.data(), n);
    for (uint64_t i = 0; i < n; ++i) out[i] = f[i];
    return out;
}

inline T make_tensor(const std::string& name, DType dt, Shape shape, const std::vector<double>& values) {
    return T{name, dt, std::move(shape), encode(dt, values)};
}

/// Gaussian values, deterministic for a seed.
inline std::vector<double> gaussian(uint64_t n, double sigma, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> nd(0.0, sigma);
    std::vector<double> v(n);
    for (double& x : v) x = nd(rng);
    return v;
}

/// base + a delta like a fine-tune's: mostly noise, a weak rank-2 part, row scales varying.
inline std::vector<double> perturb(const std::vector<double>& base, uint64_t rows, uint64_t cols, double sigma,
                                   uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> nd(0.0, 1.0);
    std::vector<double> u(rows * 2), w(cols * 2);
    for (double& x : u) x = nd(rng);
    for (double& x : w) x = nd(rng);
    std::vector<double> out(base.size());
    for (uint64_t i = 0; i < rows; ++i) {
        const double rs = 0.5 + static_cast<double>(i % 7) / 6.0;
        for (uint64_t j = 0; j < cols; ++j) {
            const double lr = (u[2 * i] * w[2 * j] + 0.5 * u[2 * i + 1] * w[2 * j + 1]) / 1.2;
            out[i * cols + j] = base[i * cols + j] + sigma * rs * (0.3 * lr + 0.95 * nd(rng));
        }
    }
    return out;
}

/// A fine-tune of `base`: every tensor perturbed like a fine-tune's delta (σ = 0.004).
inline std::vector<T> fine_tune_of(const std::vector<T>& base, uint32_t seed) {
    std::vector<T> ft;
    for (const T& b : base) {
        const uint64_t rows = b.shape.size() == 2 ? b.shape[0] : 1, cols = b.shape.back();
        const auto v = decode(b.dtype, b.bytes.data(), numel(b.shape));
        ft.push_back(make_tensor(b.name, b.dtype, b.shape, perturb(v, rows, cols, 0.004, seed)));
    }
    return ft;
}

inline void write_safetensors(const std::string& path, const std::vector<T>& tensors,
                              const std::optional<deltacodec::Metadata>& md = std::nullopt) {
    std::vector<deltacodec::TensorSpec> specs;
    for (const T& t : tensors) specs.push_back({t.name, t.dtype, t.shape});
    deltacodec::OutputFile out(path, true);
    deltacodec::SafetensorsWriter w(out, specs, md);
    for (const T& t : tensors) w.write(t.bytes.data(), t.bytes.size());
    w.finish();
    out.commit();
}

struct RunResult {
    int rc = -1;
    std::string out, err;
    /// stderr split into lines (without the final empty one).
    std::vector<std::string> err_lines() const {
        std::vector<std::string> lines;
        size_t pos = 0;
        while (pos < err.size()) {
            const size_t nl = err.find('\n', pos);
            lines.push_back(err.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
            if (nl == std::string::npos) break;
            pos = nl + 1;
        }
        return lines;
    }
};

inline std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

/// Runs the shell command `cmd` with stdin from /dev/null; stdout/stderr captured
/// through files in `scratch`. The status is 128+N for a command killed by signal N.
inline RunResult run_command(const std::string& cmd, const std::string& scratch) {
    static std::atomic<int> counter{0};
    const std::string id = std::to_string(getpid()) + "_" + std::to_string(counter++);
    const std::string o = scratch + "/.cli_out_" + id, e = scratch + "/.cli_err_" + id;
    const std::string full = cmd + " >" + shell_quote(o) + " 2>" + shell_quote(e) + " </dev/null";
    const int st = std::system(full.c_str());
    RunResult r;
    r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    r.out = read_text(o);
    r.err = read_text(e);
    std::error_code ec;
    fs::remove(o, ec);
    fs::remove(e, ec);
    return r;
}

/// Runs the CLI with the given arguments; stdout/stderr captured through files in `scratch`.
inline RunResult run_cli(const std::vector<std::string>& args, const std::string& scratch) {
    std::string cmd = shell_quote(DELTACODEC_CLI);
    for (const std::string& a : args) cmd += " " + shell_quote(a);
    return run_command(cmd, scratch);
}

/// A section of a .dcx file's bytes: its type and where its payload lies.
struct DcxSection {
    uint32_t type;
    uint64_t offset, size;  // payload
};

/// The sections of a .dcx's bytes, as far as their headers go (no checks).
inline std::vector<DcxSection> dcx_sections(const std::vector<uint8_t>& f) {
    std::vector<DcxSection> out;
    uint64_t pos = 16;
    while (pos + 24 <= f.size()) {
        uint32_t type = 0;
        uint64_t len = 0;
        for (int i = 3; i >= 0; --i) type = (type << 8) | f[pos + i];
        for (int i = 7; i >= 0; --i) len = (len << 8) | f[pos + 8 + i];
        out.push_back({type, pos + 16, len});
        pos += 24 + len;
    }
    return out;
}

/// Rewrites the checksum after a section's payload, so that a payload changed on
/// purpose reaches the record parsers.
inline void fix_dcx_checksum(std::vector<uint8_t>& f, const DcxSection& s) {
    const uint64_t h = XXH3_64bits(f.data() + s.offset, s.size);
    for (int i = 0; i < 8; ++i) f[s.offset + s.size + i] = static_cast<uint8_t>(h >> (8 * i));
}

/// What the CLI fixtures start from: `base` and `ft` written to base.safetensors and
/// ft.safetensors in `dir`, and compressed by the CLI (-q, then `args`) into `dcx`.
struct ModelPair {
    std::string base, ft, dcx;
};
inline void write_pair(const TempDir& dir, const std::vector<T>& base, const std::vector<T>& ft, const std::string& dcx,
                       const std::vector<std::string>& args, ModelPair& out) {
    out = {dir / "base.safetensors", dir / "ft.safetensors", dir / dcx};
    write_safetensors(out.base, base);
    write_safetensors(out.ft, ft);
    std::vector<std::string> a = {"compress", out.base, out.ft, "-o", out.dcx, "-q"};
    a.insert(a.end(), args.begin(), args.end());
    const RunResult r = run_cli(a, dir.path());
    ASSERT_EQ(r.rc, 0) << r.err;
}

/// Regular files and directories directly in `dir` (names, sorted), skipping the CLI capture files.
inline std::vector<std::string> dir_entries(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) {
        const std::string n = e.path().filename().string();
        if (n.rfind(".cli_", 0) == 0) continue;
        out.push_back(n);
    }
    std::sort(out.begin(), out.end());
    return out;
}

/// The reference decoder of ecsq-coded symbols (FORMAT.md "ECSQ", also HYBRID's residual):
/// each chunk of `rpc` rows by rans::decode_ref from `p` (rans_len then esc_len bytes a
/// chunk, `lens`), escapes read here; returns q per element (row-major).
inline std::vector<int64_t> ref_ecsq_symbols(const deltacodec::rans::Table& table, const std::vector<uint64_t>& lens,
                                             const uint8_t* p, uint64_t rows, uint64_t cols, uint64_t rpc) {
    std::vector<int64_t> q;
    for (uint64_t c = 0; c * rpc < rows; ++c) {
        const uint64_t n = (std::min<uint64_t>(rows, (c + 1) * rpc) - c * rpc) * cols;
        const std::vector<uint8_t> s = deltacodec::rans::decode_ref(table, p, lens[2 * c], n, "ref");
        const uint8_t* e = p + lens[2 * c];
        for (uint8_t z : s) {
            uint64_t v = z;
            if (z == 255) {
                uint64_t x = 0;
                for (int sh = 0;; sh += 7) {
                    x |= static_cast<uint64_t>(*e & 0x7f) << sh;
                    if (!(*e++ & 0x80)) break;
                }
                v = 255 + x;
            }
            q.push_back(v & 1 ? -static_cast<int64_t>((v + 1) / 2) : static_cast<int64_t>(v / 2));
        }
        EXPECT_EQ(e, p + lens[2 * c] + lens[2 * c + 1]);
        p = e;
    }
    return q;
}

// ---- transforms and the patch coder ---------------------------------------------

/// A p×p patch of standard normal values.
inline std::vector<float> random_patch(int p, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.f, 1.f);
    std::vector<float> x(static_cast<size_t>(p) * p);
    for (float& v : x) v = nd(rng);
    return x;
}
inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    double m = 0;
    for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(double(a[i]) - b[i]));
    return m;
}
inline double energy(const std::vector<float>& a) {
    double s = 0;
    for (float v : a) s += double(v) * v;
    return s;
}
/// The patch coder's parameters: transform, patch size, bit spec, bands, levels.
inline deltacodec::CodecParams codec_params(deltacodec::TransformId t, int p, const char* bits,
                                            deltacodec::Bands b = deltacodec::Bands::ALL, int levels = 1) {
    deltacodec::CodecParams c;
    c.transform = t;
    c.patch = p;
    c.levels = levels;
    c.bits = deltacodec::BitSpec::parse(bits);
    c.bands = b;
    return c;
}

}  // namespace testutil
