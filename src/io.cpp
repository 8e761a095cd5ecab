// deltacodec — memory maps and atomic outputs (POSIX).
#include "deltacodec/io.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

#include "deltacodec/error.hpp"

namespace deltacodec {
namespace fs = std::filesystem;

namespace {
std::string errno_text() { return std::strerror(errno); }

std::string temp_name_for(const std::string& target) {
    static std::mt19937_64 rng{std::random_device{}()};
    const fs::path t(target);
    const std::string dir = t.has_parent_path() ? t.parent_path().string() + "/" : "";
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, ".%d.%08llx.tmp", static_cast<int>(getpid()),
                  static_cast<unsigned long long>(rng() & 0xffffffffu));
    return dir + "." + t.filename().string() + suffix;
}
}  // namespace

MappedFile MappedFile::open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error("cannot open " + path + ": " + errno_text());
    struct stat st {};
    if (fstat(fd, &st) != 0) {
        const std::string e = errno_text();
        ::close(fd);
        throw Error("cannot stat " + path + ": " + e);
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        throw Error(path + " is not a regular file");
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
    if (p == MAP_FAILED) throw Error("cannot map " + path + ": " + errno_text());
    madvise(p, m.size_, MADV_SEQUENTIAL);
    const uint64_t sz = m.size_;
    m.keep_ = std::shared_ptr<void>(p, [sz](void* q) { munmap(q, sz); });
    m.data_ = static_cast<const uint8_t*>(p);
    return m;
}

void MappedFile::release(uint64_t offset, uint64_t len) const {
    if (!keep_ || len == 0 || offset >= size_) return;
    const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    uint64_t begin = offset / page * page;
    uint64_t end = std::min(size_, offset + len);
    madvise(const_cast<uint8_t*>(data_) + begin, end - begin, MADV_DONTNEED);
}

OutputFile::OutputFile(const std::string& target, bool overwrite)
    : target_(target), temp_(temp_name_for(target)), overwrite_(overwrite) {
    if (!overwrite_ && path_exists(target_))
        throw Error(target_ + " exists (use -f to overwrite)");
    if (is_directory(target_)) throw Error(target_ + " is a directory");
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error("cannot create " + target_ + ": " + errno_text());
    buf_.reserve(1 << 22);
}

OutputFile::~OutputFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!temp_.empty()) ::unlink(temp_.c_str());
}

void OutputFile::flush() {
    size_t off = 0;
    while (off < buf_.size()) {
        const ssize_t n = ::write(fd_, buf_.data() + off, buf_.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw Error("cannot write " + target_ + ": " + errno_text());
        }
        off += static_cast<size_t>(n);
    }
    buf_.clear();
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
                throw Error("cannot write " + target_ + ": " + errno_text());
            }
            off += static_cast<size_t>(w);
        }
        return;
    }
    buf_.insert(buf_.end(), p, p + n);
}

void OutputFile::commit() {
    flush();
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) throw Error("cannot write " + target_ + ": " + errno_text());
    if (!overwrite_ && path_exists(target_)) throw Error(target_ + " exists (use -f to overwrite)");
    if (::rename(temp_.c_str(), target_.c_str()) != 0)
        throw Error("cannot create " + target_ + ": " + errno_text());
    temp_.clear();
}

OutputDir::OutputDir(const std::string& target, bool overwrite)
    : target_(target), overwrite_(overwrite) {
    while (!target_.empty() && target_.size() > 1 && target_.back() == '/') target_.pop_back();
    temp_ = temp_name_for(target_);
    if (path_exists(target_)) {
        if (!overwrite_) throw Error(target_ + " exists (use -f to overwrite)");
        if (!is_directory(target_)) throw Error(target_ + " exists and is not a directory");
    }
    if (::mkdir(temp_.c_str(), 0755) != 0) throw Error("cannot create " + target_ + ": " + errno_text());
}

OutputDir::~OutputDir() {
    if (!committed_) {
        std::error_code ec;
        fs::remove_all(temp_, ec);
    }
}

void OutputDir::commit() {
    std::error_code ec;
    std::string old;
    if (path_exists(target_)) {
        if (!overwrite_) throw Error(target_ + " exists (use -f to overwrite)");
        old = temp_name_for(target_) + ".old";
        if (::rename(target_.c_str(), old.c_str()) != 0)
            throw Error("cannot replace " + target_ + ": " + errno_text());
    }
    if (::rename(temp_.c_str(), target_.c_str()) != 0) {
        const std::string e = errno_text();
        if (!old.empty()) ::rename(old.c_str(), target_.c_str());
        throw Error("cannot create " + target_ + ": " + e);
    }
    committed_ = true;
    if (!old.empty()) fs::remove_all(old, ec);
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
    if (!d) throw Error("cannot read directory " + dir + ": " + errno_text());
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

std::vector<uint8_t> read_file(const std::string& path, uint64_t max_bytes) {
    const MappedFile m = MappedFile::open(path);
    if (m.size() > max_bytes) throw Error(path + " is too large");
    return std::vector<uint8_t>(m.data(), m.data() + m.size());
}

bool same_file(const std::string& a, const std::string& b) {
    struct stat sa {}, sb {};
    return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

bool is_plain_file_name(const std::string& name) {
    if (name.empty() || name == "." || name == ".." || name.size() > 255) return false;
    return name.find_first_of(std::string("/\\\0", 3)) == std::string::npos;
}

}  // namespace deltacodec
