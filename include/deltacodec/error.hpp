// deltacodec — error type shared by the library.
#pragma once

#include <stdexcept>
#include <string>

namespace deltacodec {

/// Every failure the library reports: bad input, corrupt or hostile files,
/// mismatched models, I/O errors. `what()` is one line, meant for a user.
class Error : public std::runtime_error {
public:
    explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

/// Throws Error(msg) when `cond` is false.
inline void require(bool cond, const std::string& msg) {
    if (!cond) throw Error(msg);
}

}  // namespace deltacodec
