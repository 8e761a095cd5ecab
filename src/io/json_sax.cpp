// deltacodec — bounded streaming JSON reader (see json_sax.hpp).
#include "io/json_sax.hpp"

#include <xxhash.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

#include "io/text.hpp"

namespace deltacodec::jsonsax {

namespace {

// A per-process random seed: an input cannot be crafted to make keys collide.
uint64_t hash_seed() {
    static const uint64_t seed = [] {
        std::random_device rd;
        return (static_cast<uint64_t>(rd()) << 32) ^ rd();
    }();
    return seed;
}

uint64_t hash_of(std::string_view s) { return XXH3_64bits_withSeed(s.data(), s.size(), hash_seed()); }

std::string_view stored(const std::string& arena, uint32_t slot) {
    const size_t off = slot - 1;
    uint32_t len;
    std::memcpy(&len, arena.data() + off, 4);
    return std::string_view(arena.data() + off + 4, len);
}

void place(const std::string& arena, std::vector<uint32_t>& slots, uint32_t slot) {
    const size_t mask = slots.size() - 1;
    for (size_t i = hash_of(stored(arena, slot)) & mask;; i = (i + 1) & mask) {
        if (slots[i] == 0) {
            slots[i] = slot;
            return;
        }
    }
}

}  // namespace

bool probe_insert(std::string& arena, std::vector<uint32_t>& slots, size_t& count, std::string_view s) {
    if (!slots.empty()) {
        const size_t mask = slots.size() - 1;
        for (size_t i = hash_of(s) & mask; slots[i] != 0; i = (i + 1) & mask)
            if (stored(arena, slots[i]) == s) return false;
    }
    if (arena.size() + s.size() + 4 >= UINT32_MAX) throw Error("JSON reader: too many keys");
    if ((count + 1) * 2 > slots.size()) {  // keep the load at most 1/2
        std::vector<uint32_t> old = std::move(slots);
        slots.assign(std::max<size_t>(8, old.size() * 2), 0);
        for (uint32_t v : old)
            if (v) place(arena, slots, v);
    }
    const auto slot = static_cast<uint32_t>(arena.size() + 1);
    const auto len = static_cast<uint32_t>(s.size());
    arena.append(reinterpret_cast<const char*>(&len), 4);
    arena.append(s);
    place(arena, slots, slot);
    ++count;
    return true;
}

bool StringSet::insert(std::string_view s) { return probe_insert(arena_, slots_, count_, s); }

std::string shorten(std::string_view s) {
    if (s.size() <= 80) return printable(s);
    size_t cut = 77;  // not inside a UTF-8 sequence
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xc0) == 0x80) --cut;
    return printable(s.substr(0, cut)) + "...";
}

void append_quoted(std::string& out, const std::string& s, const char* what) {
    try {
        out += nlohmann::json(s).dump();
    } catch (const nlohmann::json::exception&) {
        throw Error(std::string("cannot write ") + what + " '" + shorten(s) + "': not UTF-8");
    }
}

std::string Parser::where() const {
    if (stack_.empty()) return "";
    std::string w = " (at $";
    for (const Frame& f : stack_) {
        w += '[';
        if (f.object) {
            w += '"';
            w += f.key;
            w += '"';
        } else {
            w += std::to_string(f.members ? f.members - 1 : 0);
        }
        w += ']';
    }
    w += ')';
    return w;
}

Error Parser::error(const std::string& why) const { return Error(prefix_ + why + where()); }

// nlohmann's SAX events → checks → the handler.
class Sax final : public nlohmann::json_sax<nlohmann::json> {
public:
    explicit Sax(Parser& p) : p_(p) {}

    bool null() override { return value({}); }
    bool boolean(bool b) override {
        Scalar v;
        v.kind = Kind::Bool;
        v.b = b;
        return value(v);
    }
    bool number_integer(number_integer_t i) override {
        Scalar v;
        v.kind = Kind::Integer;
        v.i = i;
        return value(v);
    }
    bool number_unsigned(number_unsigned_t u) override {
        Scalar v;
        v.kind = Kind::Unsigned;
        v.u = u;
        return value(v);
    }
    bool number_float(number_float_t d, const string_t&) override {
        Scalar v;
        v.kind = Kind::Float;
        v.d = d;
        return value(v);
    }
    bool string(string_t& s) override {
        if (s.size() > p_.lim_.max_string)
            p_.fail("a string of " + std::to_string(s.size()) + " bytes (the limit is " +
                    std::to_string(p_.lim_.max_string) + ")");
        Scalar v;
        v.kind = Kind::String;
        v.s = s;
        return value(v);
    }
    bool binary(binary_t&) override { p_.fail("binary value"); }

    bool start_object(std::size_t) override { return start(true); }
    bool start_array(std::size_t) override { return start(false); }
    bool end_object() override { return finish(true); }
    bool end_array() override { return finish(false); }

    bool key(string_t& k) override {
        Parser::Frame& f = p_.stack_.back();
        if (k.size() > p_.lim_.max_key)
            p_.fail("a key of " + std::to_string(k.size()) + " bytes (the limit is " + std::to_string(p_.lim_.max_key) +
                    ")");
        f.key = shorten(k);
        if (!probe_insert(p_.arena_, f.slots, f.count, k)) p_.fail("key '" + f.key + "' appears twice");
        if (!f.skipped) p_.h_.key(p_, k);
        return true;
    }

    bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& ex) override {
        // nlohmann's message quotes the last token read, which may be long or binary: keep its reason only.
        std::string why = ex.what();
        const size_t dash = why.find(" - ");
        why = dash == std::string::npos ? std::string() : shorten(why.substr(dash + 3));
        const size_t semi = why.find(';');
        if (semi != std::string::npos) why.resize(semi);
        p_.fail("not valid JSON at byte " + std::to_string(position ? position - 1 : 0) +
                (why.empty() ? std::string() : ": " + why));
    }

private:
    Parser& p_;

    bool skipping() const { return !p_.stack_.empty() && p_.stack_.back().skipped; }

    // Every value, scalar or container, starts here.
    void count_member() {
        if (p_.stack_.empty()) return;
        Parser::Frame& f = p_.stack_.back();
        if (++f.members > p_.lim_.max_members)
            p_.fail("more than " + std::to_string(p_.lim_.max_members) + (f.object ? " members" : " elements"));
    }

    bool value(const Scalar& v) {
        count_member();
        if (!skipping()) p_.h_.scalar(p_, v);
        return true;
    }

    bool start(bool object) {
        count_member();
        if (p_.stack_.size() >= p_.lim_.max_depth)
            p_.fail("nested deeper than " + std::to_string(p_.lim_.max_depth) + " levels");
        const bool skip = skipping() || !p_.h_.begin(p_, object);
        Parser::Frame f;
        f.object = object;
        f.skipped = skip;
        f.arena_begin = p_.arena_.size();
        p_.stack_.push_back(std::move(f));
        return true;
    }

    bool finish(bool object) {
        const bool skipped = p_.stack_.back().skipped;
        p_.arena_.resize(p_.stack_.back().arena_begin);
        p_.stack_.pop_back();
        if (!skipped) p_.h_.end(p_, object);
        return true;
    }
};

void parse(const void* data, size_t n, Handler& h, const Limits& lim, const std::string& prefix) {
    const char* b = static_cast<const char*>(data);
    Parser p(h, lim, prefix);
    if (const void* nul = n ? std::memchr(b, 0, n) : nullptr)  // an empty vector may hand us nullptr
        p.fail("a NUL byte at byte " + std::to_string(static_cast<const char*>(nul) - b));
    if (n >= 3 && std::memcmp(b, "\xEF\xBB\xBF", 3) == 0) p.fail("starts with a UTF-8 byte-order mark");
    Sax sax(p);
    // strict: the value must be followed by JSON whitespace only.
    if (!nlohmann::json::sax_parse(b, b + n, &sax, nlohmann::json::input_format_t::json, true, false))
        p.fail("not valid JSON");
}

void append_string_map(std::string& out, const std::map<std::string, std::string>& m) {
    out += '{';
    bool first = true;
    for (const auto& [k, v] : m) {
        if (!first) out += ',';
        first = false;
        append_quoted(out, k, "metadata key");
        out += ':';
        append_quoted(out, v, "metadata value");
    }
    out += '}';
}

}  // namespace deltacodec::jsonsax
