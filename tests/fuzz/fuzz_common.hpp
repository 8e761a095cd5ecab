// deltacodec fuzz targets — shared helpers: the library's readers take paths, so
// each input is handed over as a memfd (/proc/self/fd/N) or as a file in a
// per-process scratch directory under /dev/shm, removed at exit.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

#include "format/container.hpp"

namespace fuzz {

[[noreturn]] inline void die(const char* what) {
    std::perror(what);
    std::abort();
}

/// An anonymous in-memory file that is rewritten with each input.
class MemFile {
public:
    MemFile() {
        fd_ = memfd_create("dcxfuzz", MFD_CLOEXEC);
        if (fd_ < 0) die("memfd_create");
        path_ = "/proc/self/fd/" + std::to_string(fd_);
    }
    /// Replaces the contents with `data`; returns a path that opens them.
    const std::string& set(const uint8_t* data, size_t size) {
        if (ftruncate(fd_, 0) != 0) die("ftruncate");
        size_t done = 0;
        while (done < size) {
            const ssize_t n = pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
            if (n <= 0) die("pwrite");
            done += static_cast<size_t>(n);
        }
        return path_;
    }

private:
    int fd_ = -1;
    std::string path_;
};

/// A fresh directory /dev/shm/dcxfuzz_<name>_<pid> (falls back to the temp
/// directory), removed at normal exit.
inline const std::string& scratch_dir(const std::string& name) {
    static std::string dir;
    if (!dir.empty()) return dir;
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path root = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
    dir = (root / ("dcxfuzz_" + name + "_" + std::to_string(getpid()))).string();
    fs::remove_all(dir, ec);
    fs::create_directories(dir);
    std::atexit([] {
        std::error_code e;
        std::filesystem::remove_all(dir, e);
    });
    return dir;
}

inline void write_file(const std::string& path, const uint8_t* data, size_t size) {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) die(path.c_str());
    if (size && std::fwrite(data, 1, size, f) != size) die(path.c_str());
    if (std::fclose(f) != 0) die(path.c_str());
}

/// Rewrites the checksum of every complete section of a .dcx image so that
/// mutations reach the record parsers instead of stopping at the XXH3 check
/// (the check itself is covered by the corruption sweep in test_corruption.cpp).
/// Set DELTACODEC_FUZZ_DUMP=<file> to save the bytes the library sees, e.g. to
/// reproduce a finding with the CLI.
inline void fix_dcx_checksums(std::string& b) {
    auto rd64 = [&](size_t at) {
        uint64_t v = 0;
        for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[at + i]);
        return v;
    };
    size_t pos = 16;
    while (b.size() >= 24 && pos <= b.size() - 24) {
        const uint64_t len = rd64(pos + 8);
        if (len > b.size() - 24 - pos) break;
        const uint64_t h = deltacodec::xxh3(b.data() + pos + 16, len);
        for (int i = 0; i < 8; ++i) b[pos + 16 + len + i] = static_cast<char>(h >> (8 * i));
        pos += 24 + len;
    }
    if (const char* dump = std::getenv("DELTACODEC_FUZZ_DUMP"))
        write_file(dump, reinterpret_cast<const uint8_t*>(b.data()), b.size());
}

}  // namespace fuzz
