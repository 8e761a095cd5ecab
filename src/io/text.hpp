// deltacodec (internal) — checks on names taken from untrusted files, and text made
// safe to print on a terminal. One definition for the writers and the readers, so
// compress refuses exactly what decompress and info would refuse.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "deltacodec/error.hpp"
#include "format/spec.hpp"  // kMaxRank, kMaxNameBytes

namespace deltacodec {

/// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, ≤ U+10FFFF).
bool is_valid_utf8(std::string_view s);

/// Why `name` cannot be a tensor name in a .dcx ("" when it can): empty, longer
/// than kMaxNameBytes, holds a NUL, or is not UTF-8.
std::string tensor_name_problem(std::string_view name);

/// Why `rel` cannot name a file inside a model directory ("" when it can). A
/// relative path of '/'-separated components, each non-empty, not "." or "..",
/// at most 255 bytes, without NUL or '\\'; UTF-8; at most kMaxNameBytes in all.
std::string relative_path_problem(std::string_view rel);

// printable(): declared in deltacodec/error.hpp (public), defined in text.cpp.

}  // namespace deltacodec
