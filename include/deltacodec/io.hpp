// deltacodec — files: read-only memory maps and all-or-nothing outputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace deltacodec {

/// A read-only memory map of a whole file. Copies share the mapping.
class MappedFile {
public:
    static MappedFile open(const std::string& path);
    const uint8_t* data() const { return data_; }
    uint64_t size() const { return size_; }
    const std::string& path() const { return path_; }
    /// Drops the pages of [offset, offset+len) from this process's resident set
    /// (they stay in the page cache). Used to bound memory while streaming.
    void release(uint64_t offset, uint64_t len) const;

private:
    std::shared_ptr<void> keep_;
    const uint8_t* data_ = nullptr;
    uint64_t size_ = 0;
    std::string path_;
};

/// A buffered output file written to a temporary name beside its target and
/// renamed onto it by commit(). Destroyed without commit(), it removes the
/// temporary file: a failed run never leaves a partial output. Write errors
/// (a full disk) throw Error.
class OutputFile {
public:
    /// `overwrite`: replace an existing target; otherwise an existing target is an error.
    OutputFile(const std::string& target, bool overwrite);
    ~OutputFile();
    OutputFile(const OutputFile&) = delete;
    OutputFile& operator=(const OutputFile&) = delete;

    void write(const void* data, size_t n);
    /// Writes out what is buffered (the temporary file then holds every byte so far).
    void flush();
    uint64_t bytes_written() const { return written_; }
    /// Flushes, closes and renames onto the target.
    void commit();
    const std::string& target() const { return target_; }
    /// The temporary file being written (for a read-back check before commit()).
    const std::string& temp_path() const { return temp_; }

private:
    std::string target_, temp_;
    int fd_ = -1;
    bool overwrite_;
    std::vector<uint8_t> buf_;
    uint64_t written_ = 0;
};

/// A directory built under a temporary name and renamed onto its target by
/// commit(); removed (with its contents) if destroyed without commit().
class OutputDir {
public:
    OutputDir(const std::string& target, bool overwrite);
    ~OutputDir();
    OutputDir(const OutputDir&) = delete;
    OutputDir& operator=(const OutputDir&) = delete;
    /// Path of a file inside the temporary directory (commit moves them all).
    std::string path_of(const std::string& name) const { return temp_ + "/" + name; }
    void commit();

private:
    std::string target_, temp_;
    bool overwrite_, committed_ = false;
};

bool path_exists(const std::string& path);
bool is_directory(const std::string& path);
/// Regular files directly inside `dir` (names only, sorted).
std::vector<std::string> list_files(const std::string& dir);
/// Reads a whole (small) file; throws Error past `max_bytes`.
std::vector<uint8_t> read_file(const std::string& path, uint64_t max_bytes);
/// True when both paths exist and name the same file or directory.
bool same_file(const std::string& a, const std::string& b);
/// True for a plain file name: non-empty, no '/', '\\', NUL, not "." or "..".
bool is_plain_file_name(const std::string& name);

}  // namespace deltacodec
