// deltacodec (internal) — a bounded, streaming JSON reader for untrusted files.
//
// Every JSON document the library reads (safetensors headers, the shard index,
// the .dcx HEADER and END sections) goes through parse() below, which runs
// nlohmann::json's SAX parser (iterative: no recursion on the input's depth) and
// hands events to a format's Handler, which builds its own structs directly: no
// DOM is built. parse() itself enforces, before any work on a value:
//   - no raw NUL byte anywhere and no UTF-8 byte-order mark (nlohmann would take a
//     NUL as the end of the input and skips a BOM; the JSON grammar allows neither);
//   - nothing but JSON whitespace after the value;
//   - nesting at most Limits::max_depth containers deep;
//   - strings and keys at most Limits::max_string / max_key bytes;
//   - at most Limits::max_members values in any one array or object;
//   - no key twice in any object (skipped objects included).
// Time is linear in the input: duplicate keys are found with a seeded hash table per
// open object. Memory: the keys of the objects that are open at the moment (their
// bytes + about 12 bytes each), the path of open containers, and whatever the
// handler keeps. Containers a handler does not want are skipped: checked as above,
// reported to nobody, stored nowhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "deltacodec/error.hpp"

namespace deltacodec::jsonsax {

struct Limits {
    size_t max_depth = 64;              ///< containers open at once
    size_t max_key = SIZE_MAX;          ///< bytes of one object key
    size_t max_string = SIZE_MAX;       ///< bytes of one string value
    uint64_t max_members = UINT64_MAX;  ///< values in one array or object
};

enum class Kind : uint8_t { Null, Bool, Unsigned, Integer, Float, String };

/// A scalar value. `Unsigned`: a non-negative integer that fits u64 (`u`);
/// `Integer`: a negative one that fits i64 (`i`, "-0" included); `Float`: any
/// other number (`d`, finite); `String`: `s` (valid UTF-8, escapes decoded).
/// `s` is only valid during the call.
struct Scalar {
    Kind kind = Kind::Null;
    bool b = false;
    uint64_t u = 0;
    int64_t i = 0;
    double d = 0;
    std::string_view s;
};

class Parser;

/// A format's reader. Depth: begin(), scalar() and end() of a value see
/// p.depth() = the number of containers holding that value (0 for the document
/// itself); key() sees the depth of the object holding the key.
class Handler {
public:
    virtual ~Handler() = default;
    /// A container starts. Return true to receive its contents, false to skip it.
    virtual bool begin(Parser& p, bool object) = 0;
    /// A key of an object that was not skipped (its value follows).
    virtual void key(Parser& p, std::string_view k) = 0;
    virtual void scalar(Parser& p, const Scalar& v) = 0;
    /// A container that was not skipped ends.
    virtual void end(Parser& p, bool object) = 0;
};

/// A set of strings with a seeded hash (expected O(1) per operation whatever the
/// input), stored compactly: the bytes of each string plus about 12 bytes.
class StringSet {
public:
    /// False if `s` was there already.
    bool insert(std::string_view s);
    size_t size() const { return count_; }

private:
    std::string arena_;            // for each string: u32 length, bytes
    std::vector<uint32_t> slots_;  // 1 + offset in arena_, or 0 (empty)
    size_t count_ = 0;
};

/// The open-addressing table behind StringSet and the per-object duplicate-key check:
/// strings live in `arena` (u32 length, bytes), `slots` hold 1 + their offset.
/// Inserts `s` (appending it to `arena`) unless present; false if present.
bool probe_insert(std::string& arena, std::vector<uint32_t>& slots, size_t& count, std::string_view s);

class Parser {
public:
    /// Containers open around the current event.
    size_t depth() const { return stack_.size(); }
    /// Error(`prefix` + why + " (at $[...])"), naming where in the document.
    Error error(const std::string& why) const;
    [[noreturn]] void fail(const std::string& why) const { throw error(why); }

private:
    friend void parse(const void*, size_t, Handler&, const Limits&, const std::string&);
    friend class Sax;
    struct Frame {
        bool object;
        bool skipped;
        uint64_t members = 0;
        std::string key;         // the current key, shortened for messages
        size_t arena_begin = 0;  // this object's keys start here in arena_
        std::vector<uint32_t> slots;
        size_t count = 0;
    };
    Parser(Handler& h, const Limits& lim, const std::string& prefix) : h_(h), lim_(lim), prefix_(prefix) {}
    std::string where() const;
    Handler& h_;
    const Limits& lim_;
    const std::string& prefix_;
    std::vector<Frame> stack_;
    std::string arena_;  // keys of the open objects
};

/// Parses `data[0, n)` as one JSON document, feeding `h`. Throws Error whose
/// message starts with `prefix` (e.g. "x.safetensors: not a valid safetensors file: ")
/// on any fault, including those the handler reports with Parser::fail.
void parse(const void* data, size_t n, Handler& h, const Limits& lim, const std::string& prefix);

/// `s` for an error message: printable, at most about 80 bytes.
std::string shorten(std::string_view s);

/// Appends `s` as a JSON string literal, escaped exactly as nlohmann::json::dump()
/// escapes it (writers build their JSON as text, in linear time, with this).
/// Throws Error naming `what` when `s` is not UTF-8.
void append_quoted(std::string& out, const std::string& s, const char* what);
/// Appends a JSON object of string members, in the map's order, escaped as append_quoted().
void append_string_map(std::string& out, const std::map<std::string, std::string>& m);

}  // namespace deltacodec::jsonsax
