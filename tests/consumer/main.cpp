// A program that uses deltacodec as another project would: it includes only the installed
// public headers and links deltacodec::deltacodec (CMake) or `pkg-config --libs deltacodec`.
// Compresses BASE/FINETUNED into WORKDIR, describes the .dcx, rebuilds it in memory (apply into a
// TensorSink) and to a file, and checks the errors a caller sees. Exit 0 when everything holds.
//
// usage: consumer BASE FINETUNED WORKDIR
#include <cstdint>
#include <cstdio>
#include <deltacodec/deltacodec.hpp>
#include <string>

namespace {

int fail(const std::string& what) {
    std::fprintf(stderr, "consumer: FAILED: %s\n", what.c_str());
    return 1;
}

// Counts what apply() hands over and checks each tensor gets exactly its announced bytes.
class CountingSink : public deltacodec::TensorSink {
public:
    size_t tensors = 0;
    uint64_t bytes = 0;
    bool sizes_ok = true;

    void begin(const std::string&, deltacodec::DType, const deltacodec::Shape&, uint64_t nbytes) override {
        ++tensors;
        expected_ = nbytes;
        got_ = 0;
    }
    void write(const uint8_t*, size_t n) override {
        got_ += n;
        bytes += n;
    }
    void end() override { sizes_ok = sizes_ok && got_ == expected_; }

private:
    uint64_t expected_ = 0, got_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: consumer BASE FINETUNED WORKDIR\n");
        return 2;
    }
    const std::string base = argv[1], finetuned = argv[2], work = argv[3];
    const std::string dcx = work + "/finetuned.dcx";
#ifdef DELTACODEC_EXPECTED_VERSION
    if (std::string(deltacodec::kVersion) != DELTACODEC_EXPECTED_VERSION)
        return fail(std::string("kVersion ") + deltacodec::kVersion + ", package version " +
                    DELTACODEC_EXPECTED_VERSION);
#endif
    try {
        deltacodec::CompressOptions opt;  // the defaults, then options by their Python keyword
        deltacodec::set_options(opt, {{deltacodec::find_option_by_keyword("bits"), "2:0.34,1:0.33,0:0.33"}});
        opt.overwrite = true;
        const deltacodec::CompressReport rep = deltacodec::compress(base, finetuned, dcx, opt);
        if (rep.tensors.empty() || rep.count("coded") == 0 || !(rep.ratio() > 1))
            return fail("compress: " + std::to_string(rep.tensors.size()) + " tensors, ratio " +
                        std::to_string(rep.ratio()));

        const deltacodec::DcxInfo inf = deltacodec::info(dcx);
        if (inf.tensors.size() != rep.tensors.size() || inf.bytes != rep.dcx_bytes ||
            inf.count("coded") != rep.count("coded"))
            return fail("info disagrees with the compress report");

        CountingSink sink;
        const deltacodec::ApplyReport applied = deltacodec::apply(base, dcx, sink);
        if (applied.tensors != rep.tensors.size() || sink.tensors != applied.tensors || sink.bytes != applied.bytes ||
            !sink.sizes_ok)
            return fail("apply: " + std::to_string(sink.tensors) + " tensors in the sink");

        deltacodec::DecompressOptions dopt;
        dopt.overwrite = true;
        const deltacodec::DecompressReport rebuilt =
            deltacodec::decompress(base, dcx, work + "/rebuilt.safetensors", dopt);
        if (rebuilt.tensors != applied.tensors) return fail("decompress: wrong tensor count");

        std::printf(
            "consumer: deltacodec %s: %zu tensors (%zu coded), ratio %.2f, %.3f bits/param, "
            "%llu bytes rebuilt\n",
            deltacodec::kVersion, rep.tensors.size(), rep.count("coded"), rep.ratio(), rep.bits_per_param(),
            static_cast<unsigned long long>(applied.bytes));
    } catch (const deltacodec::Error& e) {
        return fail(e.what());
    }

    // Errors reach the caller as deltacodec::Error, one line naming what is wrong.
    try {
        deltacodec::info(work + "/no-such-file.dcx");
        return fail("info of a missing file did not throw");
    } catch (const deltacodec::Error& e) {
        if (std::string(e.what()).find("no-such-file.dcx") == std::string::npos)
            return fail(std::string("message does not name the file: ") + e.what());
    }
    try {
        deltacodec::CompressOptions opt;
        deltacodec::set_options(opt, {{deltacodec::find_option_by_keyword("bits"), "2:0.5"}});
        return fail("a bit spec whose fractions do not sum to 1 was accepted");
    } catch (const deltacodec::Error&) {
    }
    std::printf("consumer: ok\n");
    return 0;
}
