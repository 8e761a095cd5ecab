// deltacodec_io_paths — how fast this machine moves the bytes a rebuild moves,
// by each way of doing it (issue: rebuild at the speed of cp). Standalone: no
// deltacodec code, so it measures the kernel and the memory, not the codec.
//
//   deltacodec_io_paths SRC_FILE OUT_DIR [REPEAT]
//
// Reads: SRC_FILE (should be in the page cache) by mmap + touch, mmap with
// MADV_SEQUENTIAL / MAP_POPULATE / MADV_HUGEPAGE, and read() into a reusable
// buffer. Writes: a file of SRC_FILE's size into OUT_DIR from a hot 4 MiB buffer
// (what a band decoder hands over) by write() in 1/4/16 MiB calls, by a shared
// mapping (+ fallocate, + MAP_POPULATE), and the yardsticks copy_file_range
// (what `cp` does) and read()+write() of SRC_FILE. Prints wall, user and system
// seconds and GB/s (1e9 bytes) for each, best of REPEAT.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace {

[[noreturn]] void die(const std::string& what) {
    std::perror(what.c_str());
    std::exit(1);
}

struct Times {
    double wall = 1e300, user = 0, sys = 0;
};

double tv(const timeval& t) { return t.tv_sec + t.tv_usec * 1e-6; }

Times measure(const std::function<void()>& f) {
    rusage a{}, b{};
    getrusage(RUSAGE_SELF, &a);
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const auto t1 = std::chrono::steady_clock::now();
    getrusage(RUSAGE_SELF, &b);
    return {std::chrono::duration<double>(t1 - t0).count(), tv(b.ru_utime) - tv(a.ru_utime),
            tv(b.ru_stime) - tv(a.ru_stime)};
}

volatile uint64_t g_sink;

uint64_t touch(const uint8_t* p, size_t n) {  // reads every 64th byte: one per cache line
    uint64_t s = 0;
    for (size_t i = 0; i < n; i += 64) s += p[i];
    return s;
}

constexpr size_t kBand = 4u << 20;

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s SRC_FILE OUT_DIR [REPEAT]\n", argv[0]);
        return 2;
    }
    const std::string src = argv[1], out = std::string(argv[2]) + "/io_paths.out";
    const int repeat = argc > 3 ? std::atoi(argv[3]) : 3;
    const int sfd = ::open(src.c_str(), O_RDONLY);
    if (sfd < 0) die(src);
    struct stat st {};
    fstat(sfd, &st);
    const size_t size = static_cast<size_t>(st.st_size);
    std::vector<uint8_t> band(kBand);
    for (size_t i = 0; i < kBand; ++i) band[i] = static_cast<uint8_t>(i * 131 + 7);

    struct Case {
        const char* name;
        std::function<void()> run;
    };
    auto map_read = [&](int flags, int advice) {
        void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | flags, sfd, 0);
        if (m == MAP_FAILED) die("mmap");
        if (advice >= 0) ::madvise(m, size, advice);
        g_sink = touch(static_cast<const uint8_t*>(m), size);
        ::munmap(m, size);
    };
    auto open_out = [&] {
        ::unlink(out.c_str());
        const int fd = ::open(out.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) die(out);
        return fd;
    };
    auto write_all = [&](int fd, const uint8_t* p, size_t n) {
        while (n) {
            const ssize_t k = ::write(fd, p, n);
            if (k <= 0) die("write");
            p += k, n -= static_cast<size_t>(k);
        }
    };
    auto write_calls = [&](size_t call) {
        const int fd = open_out();
        for (size_t off = 0; off < size;) {
            const size_t n = std::min(call, size - off);
            for (size_t k = 0; k < n; k += kBand) write_all(fd, band.data(), std::min(kBand, n - k));
            off += n;
        }
        ::close(fd);
    };
    auto map_write = [&](bool falloc, int flags) {
        const int fd = open_out();
        if (falloc ? ::posix_fallocate(fd, 0, static_cast<off_t>(size)) != 0
                   : ::ftruncate(fd, static_cast<off_t>(size)) != 0)
            die("size");
        void* m = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | flags, fd, 0);
        if (m == MAP_FAILED) die("mmap out");
        auto* d = static_cast<uint8_t*>(m);
        for (size_t off = 0; off < size; off += kBand) std::memcpy(d + off, band.data(), std::min(kBand, size - off));
        ::munmap(m, size);
        ::close(fd);
    };
    std::vector<uint8_t> rbuf(kBand);
    uint8_t* aligned = static_cast<uint8_t*>(std::aligned_alloc(4096, kBand));
    std::memcpy(aligned, band.data(), kBand);
    std::vector<uint8_t> cold(256u << 20);  // a whole large tensor's buffer, as the exact-delta path writes it
    for (size_t i = 0; i < cold.size(); i += 4096) cold[i] = static_cast<uint8_t>(i >> 12);
    // O_DIRECT writes of `call` bytes (padded to 4 KiB; the file is cut to size
    // after), `depth` threads each writing every depth-th piece.
    auto direct = [&](size_t call, int depth) {
        ::unlink(out.c_str());
        const int fd = ::open(out.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0644);
        if (fd < 0) die(out + " (O_DIRECT)");
        std::vector<std::thread> ts;
        for (int t = 0; t < depth; ++t)
            ts.emplace_back([&, t] {
                for (size_t off = t * call; off < size; off += depth * call) {
                    const size_t n = std::min(call, size - off), padded = (n + 4095) / 4096 * 4096;
                    if (::pwrite(fd, aligned, padded, static_cast<off_t>(off)) != static_cast<ssize_t>(padded))
                        die("O_DIRECT write");
                }
            });
        for (std::thread& t : ts) t.join();
        if (::ftruncate(fd, static_cast<off_t>(size)) != 0) die("ftruncate");
        ::fsync(fd);
        ::close(fd);
    };
    auto copy_range = [&](bool sync) {  // what GNU cp 9 does (then `sync`, when asked)
        const int fd = open_out();
        loff_t in = 0;
        while (static_cast<size_t>(in) < size) {
            const ssize_t k = ::copy_file_range(sfd, &in, fd, nullptr, size - static_cast<size_t>(in), 0);
            if (k <= 0) die("copy_file_range");
        }
        if (sync) ::fsync(fd);
        ::close(fd);
    };
    std::vector<Case> cases = {
        {"read: mmap + touch", [&] { map_read(0, -1); }},
        {"read: mmap MADV_SEQUENTIAL", [&] { map_read(0, MADV_SEQUENTIAL); }},
        {"read: mmap MADV_HUGEPAGE", [&] { map_read(0, MADV_HUGEPAGE); }},
        {"read: mmap MAP_POPULATE", [&] { map_read(MAP_POPULATE, -1); }},
        {"read: read() 4 MiB + touch",
         [&] {
             uint64_t s = 0;
             for (off_t off = 0;;) {
                 const ssize_t k = ::pread(sfd, rbuf.data(), kBand, off);
                 if (k <= 0) break;
                 s += touch(rbuf.data(), static_cast<size_t>(k));
                 off += k;
             }
             g_sink = s;
         }},
        {"write: write() 1 MiB calls", [&] { write_calls(1u << 20); }},
        {"write: write() 4 MiB calls", [&] { write_calls(4u << 20); }},
        {"write: write() 16 MiB calls", [&] { write_calls(16u << 20); }},
        {"write: write() 256 MiB calls from a cold buffer",
         [&] {
             const int fd = open_out();
             for (size_t off = 0; off < size;) {
                 const size_t n = std::min(cold.size(), size - off);
                 write_all(fd, cold.data(), n);
                 off += n;
             }
             ::close(fd);
         }},
        {"write: write() 4 MiB calls + fsync",
         [&] {
             const int fd = open_out();
             for (size_t off = 0; off < size; off += kBand) write_all(fd, band.data(), std::min(kBand, size - off));
             ::fsync(fd);
             ::close(fd);
         }},
        {"write: write() 4 MiB + early writeback (sync_file_range) + fsync",
         [&] {
             const int fd = open_out();
             for (size_t off = 0; off < size; off += kBand) {
                 const size_t n = std::min(kBand, size - off);
                 write_all(fd, band.data(), n);
                 ::sync_file_range(fd, static_cast<off_t>(off), static_cast<off_t>(n), SYNC_FILE_RANGE_WRITE);
             }
             ::fsync(fd);
             ::close(fd);
         }},
        {"write: O_DIRECT 4 MiB, 1 in flight (+ fsync)", [&] { direct(kBand, 1); }},
        {"write: O_DIRECT 4 MiB, 2 in flight (+ fsync)", [&] { direct(kBand, 2); }},
        {"write: O_DIRECT 4 MiB, 4 in flight (+ fsync)", [&] { direct(kBand, 4); }},
        {"write: mmap(ftruncate) + memcpy", [&] { map_write(false, 0); }},
        {"write: mmap(fallocate) + memcpy", [&] { map_write(true, 0); }},
        {"write: mmap(fallocate, POPULATE) + memcpy", [&] { map_write(true, MAP_POPULATE); }},
        {"copy: copy_file_range + fsync (cp; sync)", [&] { copy_range(true); }},
        {"copy: copy_file_range (cp)", [&] { copy_range(false); }},
        {"copy: read() + write() 4 MiB",
         [&] {
             const int fd = open_out();
             for (off_t off = 0;;) {
                 const ssize_t k = ::pread(sfd, rbuf.data(), kBand, off);
                 if (k <= 0) break;
                 write_all(fd, rbuf.data(), static_cast<size_t>(k));
                 off += k;
             }
             ::close(fd);
         }},
    };
    std::printf("| path | wall s | user s | sys s | GB/s |\n|---|---:|---:|---:|---:|\n");
    for (const Case& c : cases) {
        Times best;
        for (int r = 0; r < repeat; ++r) {
            const Times t = measure(c.run);
            if (t.wall < best.wall) best = t;
        }
        std::printf("| %s | %.3f | %.3f | %.3f | %.2f |\n", c.name, best.wall, best.user, best.sys,
                    size / best.wall / 1e9);
        std::fflush(stdout);
    }
    ::unlink(out.c_str());
    return 0;
}
