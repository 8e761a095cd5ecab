// deltacodec — files: read-only memory maps and all-or-nothing outputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "deltacodec/types.hpp"

namespace deltacodec {

/// The path "-" names standard input where a .dcx is read and standard output
/// where an output is written (shown as "<stdin>" / "<stdout>" in messages); a
/// file named "-" is "./-".
inline bool is_stdio(const std::string& path) { return path == "-"; }

/// A read-only memory map of a whole file. Copies share the mapping.
///
/// Only regular files are mapped: a FIFO, a socket or a device is refused without
/// blocking (it is opened with O_NONBLOCK and checked with fstat). Each mapping's
/// address range and path are recorded in a fixed table, so that the SIGBUS
/// handler of install_signal_handlers() can name a file that shrank while mapped.
class MappedFile {
public:
    /// `follow_symlinks` false: a symbolic link as the last component is refused.
    static MappedFile open(const std::string& path, bool follow_symlinks = true);
    /// open(path), except that "-" maps standard input, named "<stdin>": as it is
    /// when it is a regular file (a redirect, at offset 0), otherwise copied first,
    /// 1 MiB at a time, into an unlinked temporary file (O_TMPFILE) in `spool_dir`
    /// (empty: $TMPDIR, else /tmp) that disappears with the mapping whatever
    /// happens: no name ever exists to be left behind. A terminal is refused.
    static MappedFile open_input(const std::string& path, const std::string& spool_dir = "");
    const uint8_t* data() const { return data_; }
    uint64_t size() const { return size_; }
    const std::string& path() const { return path_; }
    /// Drops the pages of [offset, offset+len) from this process's resident set
    /// (they stay in the page cache). Used to bound memory while streaming.
    void release(uint64_t offset, uint64_t len) const;
    /// Starts reading [offset, offset+len) into the page cache in the background
    /// (MADV_WILLNEED): the next tensor's bytes arrive while this one is decoded.
    void prefetch(uint64_t offset, uint64_t len) const;

private:
    /// Maps the regular file open as `fd` (closed here), named `path` in messages.
    static MappedFile map_fd(int fd, const std::string& path);
    std::shared_ptr<void> keep_;
    const uint8_t* data_ = nullptr;
    uint64_t size_ = 0;
    std::string path_;
};

/// A buffered output file written to a temporary name beside its target and
/// renamed onto it by commit(). Destroyed without commit(), it removes the
/// temporary file: a failed run never leaves a partial output. Write errors
/// (a full disk) throw Error. The temporary is registered for removal by the
/// signal handlers of install_signal_handlers() while it exists.
///
/// Without `overwrite` nothing is ever replaced, race-free: the rename is
/// renameat2(RENAME_NOREPLACE), or link() + unlink() where the filesystem
/// refuses that flag. With `overwrite` the target must be absent or a regular
/// file (checked with lstat at construction and again right before the
/// rename): a symbolic link, a directory, a device or a FIFO is never replaced.
/// commit() fsyncs the file before the rename and its directory after it; the
/// writeback starts while the file is written (sync_file_range), so that fsync
/// finds little left to do.
///
/// The target "-" is standard output (target() is then "<stdout>"): bytes go
/// straight to it, in order, with no temporary, no seek and no rename, so a
/// failed run leaves what was already written (a truncated .dcx, which every
/// reader refuses); a terminal is refused at construction.
class OutputFile {
public:
    /// `overwrite`: replace an existing regular file; otherwise an existing target is an error.
    OutputFile(const std::string& target, bool overwrite);
    ~OutputFile();
    OutputFile(const OutputFile&) = delete;
    OutputFile& operator=(const OutputFile&) = delete;

    void write(const void* data, size_t n);
    /// Writes out what is buffered (the temporary file then holds every byte so far).
    void flush();
    uint64_t bytes_written() const { return written_; }
    /// Flushes, fsyncs, closes and renames onto the target.
    void commit();
    /// Throws the Error commit() would throw now for the target (it exists without
    /// `overwrite`, or it is not a regular file); used to commit two files together.
    void check_target() const;
    const std::string& target() const { return target_; }
    /// The temporary file being written (for a read-back check before commit());
    /// empty for standard output.
    const std::string& temp_path() const { return temp_; }
    /// Writing to standard output (no temporary to read back).
    bool is_stream() const { return stream_; }

private:
    std::string target_, temp_;
    int fd_ = -1;
    bool overwrite_, stream_ = false;
    int slot_ = -1;  // in the temporary-path registry
    std::vector<uint8_t> buf_;
    uint64_t written_ = 0;
    uint64_t in_kernel_ = 0;  // bytes handed to write(2)
    uint64_t writeback_ = 0;  // bytes whose writeback has been started
    void start_writeback();
};

/// A directory built under a temporary name and renamed onto its target by
/// commit(); removed (with its contents) if destroyed without commit(), or by
/// the signal handlers of install_signal_handlers().
///
/// `files` are the relative paths ('/'-separated) the caller will write. With
/// `overwrite`, an existing target is replaced only when it is a directory (not
/// a symbolic link) holding nothing but such files: every entry, recursively, is
/// a regular file whose relative path is in `files`, or a folder of one of them.
/// Anything else is refused, naming the first foreign entry: -f never deletes
/// files this rebuild would not write itself. The replacement is one
/// renameat2(RENAME_EXCHANGE); the old directory is then removed.
class OutputDir {
public:
    OutputDir(const std::string& target, bool overwrite, const std::vector<std::string>& files = {});
    ~OutputDir();
    OutputDir(const OutputDir&) = delete;
    OutputDir& operator=(const OutputDir&) = delete;
    /// Path of a file inside the temporary directory (commit moves them all). For a
    /// relative path with '/', creates its folders there first (never following a link).
    std::string path_of(const std::string& rel);
    void commit();

private:
    void check_replaceable(unsigned st_mode) const;  ///< -f may replace this existing target?
    std::string target_, temp_;
    bool overwrite_, committed_ = false;
    int slot_ = -1;
    std::vector<std::string> files_, made_;  // made_: folders created inside temp_
};

// install_signal_handlers(): deltacodec/types.hpp.

bool path_exists(const std::string& path);
bool is_directory(const std::string& path);
/// Regular files directly inside `dir` (names only, sorted).
std::vector<std::string> list_files(const std::string& dir);
/// Every regular file under `dir`, recursively, as sorted relative paths with
/// '/' (byte order, independent of readdir order). Throws Error naming the
/// first entry it cannot carry: a symbolic link (unless `follow_symlinks`; then
/// the link's target counts, and a folder reached twice is refused), a FIFO,
/// socket or device, or a name that relative_path_problem() refuses.
std::vector<std::string> list_tree(const std::string& dir, bool follow_symlinks);
/// Reads a whole (small) file; throws Error past `max_bytes`.
std::vector<uint8_t> read_file(const std::string& path, uint64_t max_bytes, bool follow_symlinks = true);
/// True when `a` and `b` name the same file, existing or not (`..` and symbolic
/// links in existing parts resolved).
bool same_target(const std::string& a, const std::string& b);
/// True when both paths exist and name the same file or directory.
bool same_file(const std::string& a, const std::string& b);
/// True for a plain file name: non-empty, no '/', '\\', NUL, not "." or "..".
bool is_plain_file_name(const std::string& name);

}  // namespace deltacodec
