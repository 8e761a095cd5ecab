// deltacodec — error type shared by the library.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace deltacodec {

/// `s` made safe for a terminal or a log line: control characters (C0, DEL, C1)
/// and bytes that are not UTF-8 are written as \xNN; everything else is kept.
/// Names read from files (tensor names, file names, producer strings) are
/// attacker-controlled: print them through this.
std::string printable(std::string_view s);

/// What an Error is about, for front-ends that map failures to their own types
/// (the Python module's exception classes).
enum class ErrorKind : unsigned char {
    INVALID,   ///< a bad, corrupt, truncated, hostile or unsupported input (the default)
    OPTION,    ///< a bad option value or combination
    MISMATCH,  ///< inputs that do not belong together: the wrong base for a .dcx, unrelated models
    EXISTS,    ///< an output that exists and may not be replaced (or would replace an input)
    SYSTEM,    ///< a system call failed: a missing or unreadable file, a full disk; sys_errno() says why
};

/// Every failure the library reports: bad input, corrupt or hostile files,
/// mismatched models, I/O errors. `what()` is one line, meant for a user:
/// the message goes through printable(), so it stays one line and carries no
/// terminal escape whatever the input. A message that names an option has two
/// wordings: what() names it as the CLI does ("use -f to overwrite"),
/// api_message() by the API's keyword ("pass overwrite=True to replace it"),
/// which the Python module raises; other messages have one.
class Error : public std::runtime_error {
public:
    explicit Error(const std::string& msg, ErrorKind kind = ErrorKind::INVALID, int sys_errno = 0)
        : std::runtime_error(printable(msg)), kind_(kind), errno_(sys_errno) {}
    /// A message that names options: `cli` in the CLI's words, `api` in the API's.
    Error(const std::string& cli, const std::string& api, ErrorKind kind)
        : std::runtime_error(printable(cli)), kind_(kind), api_(printable(api)) {}
    ErrorKind kind() const noexcept { return kind_; }
    /// The errno of a SYSTEM error (ENOENT, EACCES, ENOSPC, ...); 0 otherwise.
    int sys_errno() const noexcept { return errno_; }
    /// The message in the API's words: what() unless it names an option.
    const char* api_message() const noexcept { return api_.what()[0] ? api_.what() : what(); }

private:
    ErrorKind kind_;
    int errno_ = 0;
    std::runtime_error api_{""};  // a reference-counted string: copying an Error does not throw
};

/// An Error for a failed system call: `what` + ": " + strerror(err), kind SYSTEM.
Error system_error(const std::string& what, int err);

/// Throws Error(msg) when `cond` is false.
inline void require(bool cond, const std::string& msg) {
    if (!cond) throw Error(msg);
}

}  // namespace deltacodec
