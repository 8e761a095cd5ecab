// deltacodec — memory maps and atomic outputs (POSIX).
#include "io/io.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>

#include "deltacodec/error.hpp"
#include "io/text.hpp"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

namespace deltacodec {
namespace fs = std::filesystem;

namespace {
std::string temp_name_for(const std::string& target) {
    static std::mt19937_64 rng{std::random_device{}()};
    const fs::path t(target);
    const std::string dir = t.has_parent_path() ? t.parent_path().string() + "/" : "";
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, ".%d.%08llx.tmp", static_cast<int>(getpid()),
                  static_cast<unsigned long long>(rng() & 0xffffffffu));
    return dir + "." + t.filename().string() + suffix;
}

int rename2(const char* from, const char* to, unsigned flags) {
    return static_cast<int>(::syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, flags));
}

// fsync of the directory holding `path` (best effort: the rename is done already).
void sync_parent(const std::string& path) {
    const fs::path p(path);
    const std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
}

// ---------------------------------------------------------------------------
// Registry of temporary paths, read by the signal handlers. Fixed size, no
// allocation: a slot's state is 0 free, 1 being changed, 2 a file, 3 a directory.
constexpr int kTempSlots = 64;
struct TempSlot {
    std::atomic<int> state{0};
    char path[PATH_MAX];
};
TempSlot g_temps[kTempSlots];

std::atomic<int> g_cleaning{0};

// Once a signal handler has begun removing the temporaries, a thread about to
// create one waits here for the process to end instead.
void wait_if_cleaning() noexcept {
    if (g_cleaning.load() != 0)
        for (;;) ::pause();
}

// Registered *before* the path is created, so that there is no moment when a
// temporary exists unregistered. Names are ".NAME.PID.RAND.tmp": should creating
// one fail because it exists, that file is a leftover of this naming scheme.
int temp_register(const std::string& path, bool dir) {
    if (path.size() >= PATH_MAX) throw Error("path too long: " + printable(path));
    wait_if_cleaning();
    for (int i = 0; i < kTempSlots; ++i) {
        int expected = 0;
        if (!g_temps[i].state.compare_exchange_strong(expected, 1)) continue;
        std::memcpy(g_temps[i].path, path.c_str(), path.size() + 1);
        g_temps[i].state.store(dir ? 3 : 2, std::memory_order_release);
        return i;
    }
    throw Error("too many outputs open at once (at most " + std::to_string(kTempSlots) + ")");
}

void temp_unregister(int slot) {
    if (slot >= 0) g_temps[slot].state.store(0, std::memory_order_release);
}

// Removes the directory `root` and everything in it, never following a link.
// Async-signal-safe: fixed memory, no recursion (it walks down to a folder with
// no subfolder, empties and removes it, and starts again from the top).
void remove_tree_raw(const char* root) noexcept {
    for (int rounds = 0; rounds < 1000000; ++rounds) {
        int cur = ::open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (cur < 0) {
            if (errno == ENOTDIR || errno == ELOOP) ::unlink(root);
            return;
        }
        int parent = -1;
        char name[256] = {0};
        alignas(8) char buf[8192];
        for (;;) {
            bool descended = false, removed = false;
            for (;;) {
                const long n = ::syscall(SYS_getdents64, cur, buf, sizeof buf);
                if (n <= 0) break;
                for (long off = 0; off < n && !descended;) {
                    struct Dirent64 {
                        uint64_t ino;
                        int64_t off;
                        unsigned short reclen;
                        unsigned char type;
                        char name[1];
                    };
                    const auto* d = reinterpret_cast<const Dirent64*>(buf + off);
                    off += d->reclen;
                    const char* nm = d->name;
                    if ((nm[0] == '.' && nm[1] == 0) || (nm[0] == '.' && nm[1] == '.' && nm[2] == 0)) continue;
                    bool is_dir = d->type == DT_DIR;
                    if (d->type == DT_UNKNOWN) {
                        struct stat st {};
                        is_dir = ::fstatat(cur, nm, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
                    }
                    if (!is_dir) {
                        if (::unlinkat(cur, nm, 0) == 0) removed = true;
                        continue;
                    }
                    const int child = ::openat(cur, nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                    if (child < 0) continue;
                    if (parent >= 0) ::close(parent);
                    parent = cur;
                    cur = child;
                    size_t k = 0;
                    for (; nm[k] && k < sizeof name - 1; ++k) name[k] = nm[k];
                    name[k] = 0;
                    descended = true;
                }
                if (descended) break;
            }
            if (descended) continue;
            if (!removed) break;        // a pass that removed nothing: the folder is as empty as it gets
            ::lseek(cur, 0, SEEK_SET);  // entries removed while reading: read again
        }
        ::close(cur);
        if (parent < 0) {
            // Not empty: another thread added an entry meanwhile; walk again (bounded).
            if (::rmdir(root) != 0 && errno == ENOTEMPTY && rounds < 1000) continue;
            return;
        }
        const int rc = ::unlinkat(parent, name, AT_REMOVEDIR);
        ::close(parent);
        if (rc != 0) return;  // cannot empty it (permissions): give up rather than loop
    }
}

void clean_temps() noexcept {
    // Other threads run on while this one cleans; one that was already creating a
    // file when cleaning began is caught by the second pass (new ones wait).
    for (int pass = 0; pass < 2; ++pass)
        for (TempSlot& s : g_temps) {
            const int st = s.state.load(std::memory_order_acquire);
            if (st == 2) ::unlink(s.path);
            if (st == 3) remove_tree_raw(s.path);
        }
}

// ---------------------------------------------------------------------------
// Table of read-only mappings, for the SIGBUS handler.
constexpr int kMapSlots = 4096;
struct MapSlot {
    std::atomic<int> state{0};  // 0 free, 1 being changed, 2 live
    uintptr_t begin = 0, end = 0;
    const char* path = nullptr;  // printable(), owned by the mapping's deleter
};
MapSlot g_maps[kMapSlots];

int map_register(const void* p, uint64_t size, const char* path) {
    for (int i = 0; i < kMapSlots; ++i) {
        int expected = 0;
        if (!g_maps[i].state.compare_exchange_strong(expected, 1)) continue;
        g_maps[i].begin = reinterpret_cast<uintptr_t>(p);
        g_maps[i].end = g_maps[i].begin + size;
        g_maps[i].path = path;
        g_maps[i].state.store(2, std::memory_order_release);
        return i;
    }
    return -1;  // table full: a fault there is reported without the file's name
}

void write_all(const char* s, size_t n) noexcept {
    while (n > 0) {
        const ssize_t w = ::write(2, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        s += w;
        n -= static_cast<size_t>(w);
    }
}
void write_str(const char* s) noexcept { write_all(s, std::strlen(s)); }

extern "C" void on_term_signal(int sig) {
    if (g_cleaning.exchange(1) != 0) {
        for (;;) ::pause();  // another thread is cleaning up; it ends the process
    }
    clean_temps();
    struct sigaction sa {};
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    ::sigaction(sig, &sa, nullptr);
    ::raise(sig);  // blocked while in this handler: delivered, with the default action, on return
}

extern "C" void on_sigbus(int sig, siginfo_t* si, void*) {
    if (si && si->si_code == BUS_ADRERR) {
        const auto a = reinterpret_cast<uintptr_t>(si->si_addr);
        const char* path = nullptr;
        for (const MapSlot& m : g_maps)
            if (m.state.load(std::memory_order_acquire) == 2 && a >= m.begin && a < m.end) path = m.path;
        write_str("deltacodec: error: ");
        write_str(path ? path : "an input file");
        write_str(" changed or shrank while being read\n");
        if (g_cleaning.exchange(1) != 0) {
            for (;;) ::pause();
        }
        clean_temps();
        ::_exit(1);
    }
    struct sigaction sa {};
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    ::sigaction(sig, &sa, nullptr);
    ::raise(sig);
}

// An Error whose message ends in a hint that names an option, in the CLI's and the API's words.
Error hinted(const std::string& msg, const char* cli_hint, const char* api_hint, ErrorKind kind) {
    return Error(msg + " (" + cli_hint + ")", msg + " (" + api_hint + ")", kind);
}

// Throws when an existing `path` may not be replaced by -f (it is not a regular file).
void check_replaceable_file(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || S_ISREG(st.st_mode)) return;
    if (S_ISDIR(st.st_mode)) throw Error(path + " is a directory", ErrorKind::EXISTS);
    throw hinted(path + (S_ISLNK(st.st_mode) ? " is a symbolic link" : " is not a regular file"),
                 "-f replaces only a regular file", "overwrite=True replaces only a regular file", ErrorKind::EXISTS);
}

Error exists_error(const std::string& path) {
    return hinted(path + " exists", "use -f to overwrite", "pass overwrite=True to replace it", ErrorKind::EXISTS);
}

}  // namespace

void install_signal_handlers() {
    // SIGPIPE too: a reader of standard output that goes away ends the run (as for
    // any filter) without leaving the other outputs' temporaries.
    constexpr int kTermSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
    // Every handler runs with the termination signals blocked.
    sigset_t mask;
    sigemptyset(&mask);
    for (const int sig : kTermSignals) sigaddset(&mask, sig);
    for (const int sig : kTermSignals) {
        struct sigaction old {};
        if (::sigaction(sig, nullptr, &old) != 0 || old.sa_handler == SIG_IGN) continue;
        struct sigaction sa {};
        sa.sa_handler = on_term_signal;
        sa.sa_mask = mask;
        ::sigaction(sig, &sa, nullptr);
    }
    struct sigaction sb {};
    sb.sa_sigaction = on_sigbus;
    sb.sa_flags = SA_SIGINFO;
    sb.sa_mask = mask;
    ::sigaction(SIGBUS, &sb, nullptr);
}

MappedFile MappedFile::open(const std::string& path, bool follow_symlinks) {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | (follow_symlinks ? 0 : O_NOFOLLOW));
    if (fd < 0) {
        if (errno == ELOOP && !follow_symlinks)
            throw hinted(path + " is a symbolic link", "refused; --follow-symlinks reads what it points to",
                         "refused; follow_symlinks=True reads what it points to", ErrorKind::INVALID);
        throw system_error("cannot open " + path, errno);
    }
    return map_fd(fd, path);
}

MappedFile MappedFile::map_fd(int fd, const std::string& path) {
    struct stat st {};
    if (fstat(fd, &st) != 0) {
        const int e = errno;
        ::close(fd);
        throw system_error("cannot stat " + path, e);
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        if (S_ISDIR(st.st_mode)) throw Error(path + " is a directory", ErrorKind::SYSTEM, EISDIR);
        throw Error(path + " is not a regular file (a FIFO, socket or device)");
    }
    MappedFile m;
    m.path_ = path;
    m.size_ = static_cast<uint64_t>(st.st_size);
    if (m.size_ == 0) {
        ::close(fd);
        static const uint8_t empty = 0;
        m.data_ = &empty;
        return m;
    }
    void* p = mmap(nullptr, m.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) throw system_error("cannot map " + path, errno);
    madvise(p, m.size_, MADV_SEQUENTIAL);
    const uint64_t sz = m.size_;
    const std::string shown = printable(path);
    char* name = new char[shown.size() + 1];
    std::memcpy(name, shown.c_str(), shown.size() + 1);
    const int slot = map_register(p, sz, name);
    m.keep_ = std::shared_ptr<void>(p, [sz, slot, name](void* q) {
        if (slot >= 0) g_maps[slot].state.store(0, std::memory_order_release);
        munmap(q, sz);
        delete[] name;
    });
    m.data_ = static_cast<const uint8_t*>(p);
    return m;
}

namespace {
// Copies `in` to the end into `out`; throws Error naming `what` and `where`.
void copy_fd(int in, int out, const std::string& what, const std::string& where) {
    std::vector<char> buf(size_t{1} << 20);
    for (;;) {
        const ssize_t n = ::read(in, buf.data(), buf.size());
        if (n == 0) return;
        if (n < 0) {
            if (errno == EINTR) continue;
            throw system_error("cannot read " + what, errno);
        }
        for (ssize_t off = 0; off < n;) {
            const ssize_t w = ::write(out, buf.data() + off, static_cast<size_t>(n - off));
            if (w < 0) {
                if (errno == EINTR) continue;
                throw system_error("cannot copy " + what + " to a temporary file in " + where, errno);
            }
            off += w;
        }
    }
}
}  // namespace

MappedFile MappedFile::open_input(const std::string& path, const std::string& spool_dir) {
    if (!is_stdio(path)) return open(path);
    const std::string name = "<stdin>";
    if (::isatty(0)) throw Error(name + " is a terminal: pipe a .dcx into it, or give its file name");
    struct stat st {};
    if (::fstat(0, &st) == 0 && S_ISREG(st.st_mode) && ::lseek(0, 0, SEEK_CUR) == 0) {
        const int fd = ::fcntl(0, F_DUPFD_CLOEXEC, 3);
        if (fd < 0) throw system_error("cannot read " + name, errno);
        return map_fd(fd, name);
    }
    std::string dir = spool_dir;
    if (dir.empty()) {
        const char* t = std::getenv("TMPDIR");
        dir = t && *t ? t : "/tmp";
    }
    // No name at any moment: nothing to remove on an error or a signal.
    int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
        // A filesystem without O_TMPFILE: a named file, registered for the signal
        // handlers while it has its name, and unlinked at once.
        const std::string tmp = dir + "/.deltacodec-stdin." + std::to_string(getpid()) + ".tmp";
        const int slot = temp_register(tmp, false);
        fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0) ::unlink(tmp.c_str());
        temp_unregister(slot);
    }
    if (fd < 0) throw system_error("cannot create a temporary file in " + dir + " to hold " + name, errno);
    try {
        copy_fd(0, fd, name, dir);
    } catch (...) {
        ::close(fd);
        throw;
    }
    return map_fd(fd, name);
}

namespace {
void advise_range(const uint8_t* data, uint64_t size, uint64_t offset, uint64_t len, int advice) {
    if (!data || len == 0 || offset >= size) return;
    const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    const uint64_t begin = offset / page * page, end = std::min(size, offset + len);
    madvise(const_cast<uint8_t*>(data) + begin, end - begin, advice);
}
}  // namespace

void MappedFile::release(uint64_t offset, uint64_t len) const {
    if (keep_) advise_range(data_, size_, offset, len, MADV_DONTNEED);
}

void MappedFile::prefetch(uint64_t offset, uint64_t len) const {
    if (keep_) advise_range(data_, size_, offset, len, MADV_WILLNEED);
}

OutputFile::OutputFile(const std::string& target, bool overwrite)
    : target_(is_stdio(target) ? "<stdout>" : target), overwrite_(overwrite), stream_(is_stdio(target)) {
    if (stream_) {
        if (::isatty(1))
            throw Error(
                "refusing to write binary data to a terminal (<stdout>): redirect standard output, or "
                "name an output file");
        fd_ = ::fcntl(1, F_DUPFD_CLOEXEC, 3);
        if (fd_ < 0) throw system_error("cannot write <stdout>", errno);
        buf_.reserve(1 << 22);
        return;
    }
    temp_ = temp_name_for(target);
    check_target();
    slot_ = temp_register(temp_, false);
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd_ < 0) {
        const int e = errno;
        temp_unregister(slot_);
        temp_.clear();  // not ours: the destructor must not remove it
        throw system_error("cannot create " + target_, e);
    }
    buf_.reserve(1 << 22);
}

OutputFile::~OutputFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!temp_.empty()) ::unlink(temp_.c_str());
    temp_unregister(slot_);
}

void OutputFile::check_target() const {
    if (stream_ || !path_exists(target_)) return;
    if (!overwrite_) {
        if (deltacodec::is_directory(target_)) throw Error(target_ + " is a directory", ErrorKind::EXISTS);
        throw exists_error(target_);
    }
    check_replaceable_file(target_);
}

void OutputFile::flush() {
    size_t off = 0;
    while (off < buf_.size()) {
        const ssize_t n = ::write(fd_, buf_.data() + off, buf_.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw system_error("cannot write " + target_, errno);
        }
        off += static_cast<size_t>(n);
    }
    in_kernel_ += buf_.size();
    buf_.clear();
    start_writeback();
}

// commit() fsyncs, so each byte written must reach the disk before the output
// exists: start that writeback as soon as each 8 MiB is in the page cache, not
// all at once at the end, so the disk works while the caller computes the rest.
// Waiting for the range 64 MiB behind bounds the dirty pages a large output holds.
// Advisory: a filesystem that refuses it loses nothing (fsync still runs).
void OutputFile::start_writeback() {
    if (stream_) return;  // standard output: not ours to sync (a pipe cannot be)
    constexpr uint64_t kStep = 8u << 20, kLag = 8;
    while (in_kernel_ - writeback_ >= kStep) {
        ::sync_file_range(fd_, static_cast<off_t>(writeback_), kStep, SYNC_FILE_RANGE_WRITE);
        if (writeback_ >= kLag * kStep)
            ::sync_file_range(fd_, static_cast<off_t>(writeback_ - kLag * kStep), kStep,
                              SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
        writeback_ += kStep;
    }
}

void OutputFile::write(const void* data, size_t n) {
    if (fd_ < 0) throw std::logic_error("OutputFile::write after commit");
    const auto* p = static_cast<const uint8_t*>(data);
    written_ += n;
    if (buf_.size() + n > buf_.capacity()) flush();
    if (n >= buf_.capacity()) {  // large write: bypass the buffer
        size_t off = 0;
        while (off < n) {
            const ssize_t w = ::write(fd_, p + off, n - off);
            if (w < 0) {
                if (errno == EINTR) continue;
                throw system_error("cannot write " + target_, errno);
            }
            off += static_cast<size_t>(w);
        }
        in_kernel_ += n;
        start_writeback();
        return;
    }
    buf_.insert(buf_.end(), p, p + n);
}

void OutputFile::commit() {
    flush();
    const int fd = fd_;
    fd_ = -1;
    if (::fsync(fd) != 0 && errno != EINVAL) {
        const int e = errno;
        ::close(fd);
        throw system_error("cannot write " + target_, e);
    }
    if (::close(fd) != 0) throw system_error("cannot write " + target_, errno);
    if (stream_) return;
    if (overwrite_) {
        check_target();  // right before the rename: still absent or a regular file
        if (::rename(temp_.c_str(), target_.c_str()) != 0) throw system_error("cannot create " + target_, errno);
    } else if (rename2(temp_.c_str(), target_.c_str(), RENAME_NOREPLACE) != 0) {
        if (errno == EEXIST) throw exists_error(target_);
        if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
            throw system_error("cannot create " + target_, errno);
        // The filesystem refuses the flag: link() never replaces either.
        if (::link(temp_.c_str(), target_.c_str()) == 0) {
            ::unlink(temp_.c_str());
        } else if (errno == EEXIST) {
            throw exists_error(target_);
        } else if (errno == EPERM || errno == EOPNOTSUPP || errno == ENOSYS) {
            // No hard links either (vfat and the like): check, then rename (not race-free).
            check_target();
            if (::rename(temp_.c_str(), target_.c_str()) != 0) throw system_error("cannot create " + target_, errno);
        } else {
            throw system_error("cannot create " + target_, errno);
        }
    }
    temp_.clear();
    temp_unregister(slot_);
    slot_ = -1;
    sync_parent(target_);
}

namespace {
// The first entry under `dir` that is not a regular file in `files` nor a folder
// of one of them, as a relative path; "" when there is none. Iterative; it only
// goes into folders of `files`, so its depth is bounded by theirs.
std::string foreign_entry(const std::string& dir, const std::set<std::string>& files,
                          const std::set<std::string>& folders) {
    std::vector<std::string> pending = {""};
    while (!pending.empty()) {
        const std::string rel = pending.back();
        pending.pop_back();
        const std::string here = rel.empty() ? dir : dir + "/" + rel;
        DIR* d = ::opendir(here.c_str());
        if (!d) throw system_error("cannot read directory " + here, errno);
        std::vector<std::string> names;
        while (dirent* e = ::readdir(d)) {
            const std::string n = e->d_name;
            if (n != "." && n != "..") names.push_back(n);
        }
        ::closedir(d);
        std::sort(names.begin(), names.end());
        std::vector<std::string> sub;
        for (const std::string& n : names) {
            const std::string r = rel.empty() ? n : rel + "/" + n;
            struct stat st {};
            if (::lstat((dir + "/" + r).c_str(), &st) != 0) return r;
            if (S_ISREG(st.st_mode) && files.count(r)) continue;
            if (S_ISDIR(st.st_mode) && folders.count(r)) {
                sub.push_back(r);
                continue;
            }
            return r;
        }
        pending.insert(pending.end(), sub.rbegin(), sub.rend());
    }
    return "";
}

std::set<std::string> folders_of(const std::vector<std::string>& files) {
    std::set<std::string> out;
    for (const std::string& f : files)
        for (size_t p = f.find('/'); p != std::string::npos; p = f.find('/', p + 1)) out.insert(f.substr(0, p));
    return out;
}
}  // namespace

// An existing target (its lstat mode) that -f may replace: a real directory
// holding nothing but files this rebuild writes (a previous rebuild).
void OutputDir::check_replaceable(unsigned st_mode) const {
    if (S_ISLNK(st_mode))
        throw hinted(target_ + " is a symbolic link", "-f replaces only a directory",
                     "overwrite=True replaces only a directory", ErrorKind::EXISTS);
    if (!S_ISDIR(st_mode)) throw Error(target_ + " exists and is not a directory", ErrorKind::EXISTS);
    const std::set<std::string> fs(files_.begin(), files_.end());
    const std::string foreign = foreign_entry(target_, fs, folders_of(files_));
    if (!foreign.empty())
        throw hinted("refusing to replace " + target_ + ": it holds " + foreign + ", which this rebuild does not write",
                     "-f replaces only a previous rebuild", "overwrite=True replaces only a previous rebuild",
                     ErrorKind::EXISTS);
}

OutputDir::OutputDir(const std::string& target, bool overwrite, const std::vector<std::string>& files)
    : target_(target), overwrite_(overwrite), files_(files) {
    while (!target_.empty() && target_.size() > 1 && target_.back() == '/') target_.pop_back();
    temp_ = temp_name_for(target_);
    struct stat st {};
    if (::lstat(target_.c_str(), &st) == 0) {
        if (!overwrite_) throw exists_error(target_);
        check_replaceable(st.st_mode);
    }
    slot_ = temp_register(temp_, true);
    if (::mkdir(temp_.c_str(), 0755) != 0) {
        const int e = errno;
        temp_unregister(slot_);
        slot_ = -1;
        committed_ = true;  // nothing of ours to remove
        throw system_error("cannot create " + target_, e);
    }
}

OutputDir::~OutputDir() {
    if (!committed_) remove_tree_raw(temp_.c_str());
    temp_unregister(slot_);
}

std::string OutputDir::path_of(const std::string& rel) {
    const std::string problem = relative_path_problem(rel);
    if (!problem.empty()) throw Error("cannot write '" + printable(rel) + "': " + problem);
    const size_t last = rel.rfind('/');
    if (last != std::string::npos) {
        wait_if_cleaning();
        int fd = ::open(temp_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) throw system_error("cannot open " + temp_, errno);
        size_t pos = 0;
        while (pos < last) {
            const size_t slash = rel.find('/', pos);
            const std::string comp = rel.substr(pos, slash - pos);
            const bool made = ::mkdirat(fd, comp.c_str(), 0755) == 0;
            const int e = errno;
            const int next = ::openat(fd, comp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            const int e_open = errno;
            ::close(fd);
            if (!made && e != EEXIST) throw system_error("cannot create folder " + printable(rel.substr(0, slash)), e);
            if (next < 0) throw system_error("cannot create folder " + printable(rel.substr(0, slash)), e_open);
            if (made) made_.push_back(rel.substr(0, slash));
            fd = next;
            pos = slash + 1;
        }
        ::close(fd);
    }
    return temp_ + "/" + rel;
}

void OutputDir::commit() {
    for (const std::string& m : made_) sync_parent(temp_ + "/" + m + "/.");
    sync_parent(temp_ + "/.");
    struct stat st {};
    if (::lstat(target_.c_str(), &st) != 0) {
        if (rename2(temp_.c_str(), target_.c_str(), RENAME_NOREPLACE) != 0) {
            if (errno == EEXIST || errno == ENOTEMPTY) throw exists_error(target_);
            if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
                throw system_error("cannot create " + target_, errno);
            // No flag: a directory rename replaces at most an empty directory.
            if (::rename(temp_.c_str(), target_.c_str()) != 0) throw system_error("cannot create " + target_, errno);
        }
        committed_ = true;
    } else {
        if (!overwrite_) throw exists_error(target_);
        check_replaceable(st.st_mode);
        if (rename2(temp_.c_str(), target_.c_str(), RENAME_EXCHANGE) == 0) {
            committed_ = true;
            remove_tree_raw(temp_.c_str());  // the previous rebuild, now under the temporary name
        } else {
            if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
                throw system_error("cannot replace " + target_, errno);
            const std::string old = temp_name_for(target_) + ".old";
            if (::rename(target_.c_str(), old.c_str()) != 0) throw system_error("cannot replace " + target_, errno);
            if (::rename(temp_.c_str(), target_.c_str()) != 0) {
                const int e = errno;
                ::rename(old.c_str(), target_.c_str());
                throw system_error("cannot create " + target_, e);
            }
            committed_ = true;
            remove_tree_raw(old.c_str());
        }
    }
    temp_unregister(slot_);
    slot_ = -1;
    sync_parent(target_);
}

bool path_exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

bool is_directory(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::vector<std::string> list_files(const std::string& dir) {
    std::vector<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    if (!d) throw system_error("cannot read directory " + dir, errno);
    while (dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        struct stat st {};
        if (::stat((dir + "/" + name).c_str(), &st) == 0 && S_ISREG(st.st_mode)) out.push_back(name);
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::string> list_tree(const std::string& dir, bool follow_symlinks) {
    std::vector<std::string> out;
    std::vector<std::string> pending = {""};  // folders still to read (relative); no recursion
    std::set<std::pair<dev_t, ino_t>> seen;
    struct stat top {};
    if (::stat(dir.c_str(), &top) == 0) seen.insert({top.st_dev, top.st_ino});
    while (!pending.empty()) {
        const std::string rel = pending.back();
        pending.pop_back();
        const std::string here = rel.empty() ? dir : dir + "/" + rel;
        DIR* d = ::opendir(here.c_str());
        if (!d) throw system_error("cannot read directory " + printable(here), errno);
        std::vector<std::string> names;
        while (dirent* e = ::readdir(d)) {
            const std::string n = e->d_name;
            if (n != "." && n != "..") names.push_back(n);
        }
        ::closedir(d);
        for (const std::string& n : names) {
            const std::string r = rel.empty() ? n : rel + "/" + n;
            const std::string full = dir + "/" + r;
            const std::string problem = relative_path_problem(r);
            if (!problem.empty()) throw Error(printable(full) + ": cannot carry a file with " + problem);
            struct stat st {};
            if (::lstat(full.c_str(), &st) != 0) throw system_error("cannot stat " + printable(full), errno);
            if (S_ISLNK(st.st_mode)) {
                if (!follow_symlinks)
                    throw hinted(
                        printable(full) + " is a symbolic link",
                        "refused: it may point outside the model; --follow-symlinks reads what it points to",
                        "refused: it may point outside the model; follow_symlinks=True reads what it points to",
                        ErrorKind::INVALID);
                if (::stat(full.c_str(), &st) != 0)
                    throw system_error(printable(full) + " is a symbolic link to nothing", errno);
            }
            if (S_ISREG(st.st_mode)) {
                out.push_back(r);
            } else if (S_ISDIR(st.st_mode)) {
                if (!seen.insert({st.st_dev, st.st_ino}).second)
                    throw Error(printable(full) + " leads to a folder already read (a symbolic-link loop?)");
                pending.push_back(r);
            } else {
                throw Error(printable(full) +
                            " is not a regular file or folder (a FIFO, socket or device): "
                            "cannot carry it");
            }
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<uint8_t> read_file(const std::string& path, uint64_t max_bytes, bool follow_symlinks) {
    const MappedFile m = MappedFile::open(path, follow_symlinks);
    if (m.size() > max_bytes) throw Error(path + " is too large");
    return std::vector<uint8_t>(m.data(), m.data() + m.size());
}

bool same_file(const std::string& a, const std::string& b) {
    struct stat sa {
    }, sb{};
    return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

bool same_target(const std::string& a, const std::string& b) {
    if (same_file(a, b)) return true;
    std::error_code e1, e2;
    const fs::path ca = fs::weakly_canonical(fs::absolute(a, e1), e1);
    const fs::path cb = fs::weakly_canonical(fs::absolute(b, e2), e2);
    return !e1 && !e2 && ca == cb;
}

bool is_plain_file_name(const std::string& name) {
    if (name.empty() || name == "." || name == ".." || name.size() > 255) return false;
    return name.find_first_of(std::string("/\\\0", 3)) == std::string::npos;
}

}  // namespace deltacodec
