// deltacodec — error type shared by the library.
#pragma once

#include <stdexcept>
#include <string>

namespace deltacodec {

/// Every failure the library reports: bad input, corrupt or hostile files,
/// mismatched models, I/O errors. `what()` is one line, meant for a user.
/// Control characters in the message (e.g. from a hostile tensor name) are
/// written as \xNN, so it stays one line whatever the input.
class Error : public std::runtime_error {
public:
    explicit Error(const std::string& msg) : std::runtime_error(one_line(msg)) {}

private:
    static std::string one_line(const std::string& s) {
        static const char* hex = "0123456789abcdef";
        std::string out;
        out.reserve(s.size());
        for (char ch : s) {
            const auto c = static_cast<unsigned char>(ch);
            if (c < 0x20 || c == 0x7f) {
                out += "\\x";
                out += hex[c >> 4];
                out += hex[c & 15];
            } else {
                out += ch;
            }
        }
        return out;
    }
};

/// Throws Error(msg) when `cond` is false.
inline void require(bool cond, const std::string& msg) {
    if (!cond) throw Error(msg);
}

}  // namespace deltacodec
