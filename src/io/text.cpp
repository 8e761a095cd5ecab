// deltacodec — UTF-8 checks, name rules and printable text (see text.hpp).
#include "io/text.hpp"

#include <cstring>

namespace deltacodec {

namespace {
// Length of the well-formed UTF-8 sequence starting at s[i], or 0 (RFC 3629, table 3-7 of Unicode).
size_t utf8_seq(std::string_view s, size_t i) {
    const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = b(i);
    if (c < 0x80) return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 2;
    else if (c == 0xe0) n = 3, lo = 0xa0;
    else if (c == 0xed) n = 3, hi = 0x9f;
    else if (c >= 0xe1 && c <= 0xef) n = 3;
    else if (c == 0xf0) n = 4, lo = 0x90;
    else if (c == 0xf4) n = 4, hi = 0x8f;
    else if (c >= 0xf1 && c <= 0xf3) n = 4;
    else return 0;
    if (s.size() - i < n) return 0;
    if (b(i + 1) < lo || b(i + 1) > hi) return 0;
    for (size_t k = 2; k < n; ++k)
        if (b(i + k) < 0x80 || b(i + k) > 0xbf) return 0;
    return n;
}
}  // namespace

bool is_valid_utf8(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        const size_t n = utf8_seq(s, i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

std::string tensor_name_problem(std::string_view name) {
    if (name.empty()) return "an empty name";
    if (name.size() > kMaxNameBytes) return "a name longer than 65535 bytes";
    if (name.find('\0') != std::string_view::npos) return "a NUL byte in its name";
    if (!is_valid_utf8(name)) return "a name that is not UTF-8";
    return "";
}

std::string relative_path_problem(std::string_view rel) {
    if (rel.empty()) return "an empty name";
    if (rel.size() > kMaxNameBytes) return "a name longer than 65535 bytes";
    if (rel.find('\0') != std::string_view::npos) return "a NUL byte in its name";
    if (rel.find('\\') != std::string_view::npos) return "a backslash in its name";
    if (!is_valid_utf8(rel)) return "a name that is not UTF-8";
    size_t pos = 0;
    for (;;) {
        const size_t slash = rel.find('/', pos);
        const std::string_view c = rel.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
        if (c.empty() || c == "." || c == "..") return "an empty, '.' or '..' path component";
        if (c.size() > 255) return "a path component longer than 255 bytes";
        if (slash == std::string_view::npos) break;
        pos = slash + 1;
    }
    return "";
}

std::string printable(std::string_view s) {
    static const char* hex = "0123456789abcdef";
    std::string out;
    out.reserve(s.size());
    auto esc = [&](unsigned char c) {
        out += "\\x";
        out += hex[c >> 4];
        out += hex[c & 15];
    };
    for (size_t i = 0; i < s.size();) {
        const size_t n = utf8_seq(s, i);
        const auto c = static_cast<unsigned char>(s[i]);
        if (n == 0) {
            esc(c);
            ++i;
        } else if (n == 1) {
            if (c < 0x20 || c == 0x7f) esc(c);
            else out += s[i];
            ++i;
        } else {
            // C1 controls U+0080..U+009F are encoded as C2 80..C2 9F.
            if (n == 2 && c == 0xc2 && static_cast<unsigned char>(s[i + 1]) < 0xa0) {
                esc(c);
                esc(static_cast<unsigned char>(s[i + 1]));
            } else {
                out.append(s.substr(i, n));
            }
            i += n;
        }
    }
    return out;
}

Error system_error(const std::string& what, int err) {
    return Error(what + ": " + std::strerror(err), ErrorKind::SYSTEM, err);
}

}  // namespace deltacodec
