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

/// Every failure the library reports: bad input, corrupt or hostile files,
/// mismatched models, I/O errors. `what()` is one line, meant for a user:
/// the message goes through printable(), so it stays one line and carries no
/// terminal escape whatever the input.
class Error : public std::runtime_error {
public:
    explicit Error(const std::string& msg) : std::runtime_error(printable(msg)) {}
};

/// Throws Error(msg) when `cond` is false.
inline void require(bool cond, const std::string& msg) {
    if (!cond) throw Error(msg);
}

}  // namespace deltacodec
