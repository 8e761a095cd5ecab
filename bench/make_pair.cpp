// deltacodec_make_pair — writes a synthetic base / fine-tune pair with the real
// tensor names and shapes of Llama-2-7B, as two Hugging Face model directories:
//
//   OUT/base/       model-0000K-of-0000N.safetensors, model.safetensors.index.json, config.json
//   OUT/finetuned/  the same layout
//
// Usage: deltacodec_make_pair [--layers N] [--out DIR] [--seed S] [--shard-gb G]
//                             [--delta-rms R] [-T N] [-f]
//
// Data (fp16, like the released checkpoint):
//   base weights      ~ N(0, 0.02) (Irwin–Hall sum of four uniforms: fast, |z| < 3.5)
//   norm weights      ~ 1 + N(0, 0.02)
//   linear layers     fine-tune = base + delta; each row r has its own delta RMS
//                     s_r = R · 10^(u − 1/2), u ~ U(0,1): log-uniform over one decade
//                     around R (default 1e-3), delta ~ N(0, s_r)
//   embed_tokens      mostly unchanged: 2% of the rows (tokens) get a delta
//   norms             mostly unchanged: 5% of the entries get a delta
//   lm_head           changed like a linear layer (a full fine-tune trains it)
// Every row is drawn from its own counter-seeded generator, so the output is
// identical for every thread count. Tensors are generated in row blocks and
// streamed to both directories (memory stays bounded: a few tens of MiB).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "deltacodec/error.hpp"
#include "fast_rng.hpp"
#include "io/dtype.hpp"
#include "io/io.hpp"
#include "io/parallel.hpp"
#include "io/safetensors.hpp"

using namespace deltacodec;

namespace {

constexpr uint64_t kHidden = 4096, kInter = 11008, kVocab = 32000;

enum class Kind { Linear, Embed, Norm };

struct Tensor {
    std::string name;
    uint64_t rows, cols;  // 1-D tensors: rows = 1
    bool one_d;
    Kind kind;
    uint64_t bytes() const { return rows * cols * 2; }
};

std::vector<Tensor> llama2_7b(int layers) {
    std::vector<Tensor> t;
    t.push_back({"model.embed_tokens.weight", kVocab, kHidden, false, Kind::Embed});
    for (int l = 0; l < layers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        for (const char* n : {"q_proj", "k_proj", "v_proj", "o_proj"})
            t.push_back({p + "self_attn." + n + ".weight", kHidden, kHidden, false, Kind::Linear});
        t.push_back({p + "mlp.gate_proj.weight", kInter, kHidden, false, Kind::Linear});
        t.push_back({p + "mlp.up_proj.weight", kInter, kHidden, false, Kind::Linear});
        t.push_back({p + "mlp.down_proj.weight", kHidden, kInter, false, Kind::Linear});
        t.push_back({p + "input_layernorm.weight", 1, kHidden, true, Kind::Norm});
        t.push_back({p + "post_attention_layernorm.weight", 1, kHidden, true, Kind::Norm});
    }
    t.push_back({"model.norm.weight", 1, kHidden, true, Kind::Norm});
    t.push_back({"lm_head.weight", kVocab, kHidden, false, Kind::Linear});
    return t;
}

// splitmix64: one multiply-xorshift round per 64 random bits.
using Rng = FastRng;

uint64_t row_seed(uint64_t seed, uint64_t tensor, uint64_t row, uint64_t stream) {
    Rng r(seed * 0x9E3779B97F4A7C15ull ^ (tensor << 40) ^ (row << 2) ^ stream);
    r.next();
    return r.next();
}

std::string index_json(const std::vector<Tensor>& ts, const std::vector<int>& shard_of,
                       const std::vector<std::string>& shard_names) {
    uint64_t total = 0;
    for (const auto& t : ts) total += t.bytes();
    std::string s =
        "{\n  \"metadata\": {\n    \"total_size\": " + std::to_string(total) + "\n  },\n  \"weight_map\": {\n";
    for (size_t i = 0; i < ts.size(); ++i) {
        s += "    \"" + ts[i].name + "\": \"" + shard_names[shard_of[i]] + "\"";
        s += i + 1 < ts.size() ? ",\n" : "\n";
    }
    return s + "  }\n}\n";
}

std::string config_json(int layers) {
    return "{\n"
           "  \"architectures\": [\"LlamaForCausalLM\"],\n"
           "  \"bos_token_id\": 1,\n"
           "  \"eos_token_id\": 2,\n"
           "  \"hidden_act\": \"silu\",\n"
           "  \"hidden_size\": 4096,\n"
           "  \"initializer_range\": 0.02,\n"
           "  \"intermediate_size\": 11008,\n"
           "  \"max_position_embeddings\": 4096,\n"
           "  \"model_type\": \"llama\",\n"
           "  \"num_attention_heads\": 32,\n"
           "  \"num_hidden_layers\": " +
           std::to_string(layers) +
           ",\n"
           "  \"num_key_value_heads\": 32,\n"
           "  \"pretraining_tp\": 1,\n"
           "  \"rms_norm_eps\": 1e-05,\n"
           "  \"rope_scaling\": null,\n"
           "  \"tie_word_embeddings\": false,\n"
           "  \"torch_dtype\": \"float16\",\n"
           "  \"transformers_version\": \"4.31.0\",\n"
           "  \"use_cache\": true,\n"
           "  \"vocab_size\": 32000,\n"
           "  \"_comment\": \"synthetic pair written by deltacodec_make_pair; random weights with Llama-2-7B names and "
           "shapes\"\n"
           "}\n";
}

void write_text(const std::string& path, const std::string& text) {
    OutputFile f(path, false);
    f.write(text.data(), text.size());
    f.commit();
}

[[noreturn]] void usage(const char* argv0) {
    std::fprintf(stderr,
                 "usage: %s [--layers N] [--out DIR] [--seed S] [--shard-gb G] [--delta-rms R] [-T N] [-f]\n"
                 "  --layers N     decoder layers (default 32 = Llama-2-7B)\n"
                 "  --out DIR      writes DIR/base and DIR/finetuned (default llama2-7b-pair)\n"
                 "  --seed S       random seed (default 1)\n"
                 "  --shard-gb G   largest shard, in GB of 1e9 bytes (default 2)\n"
                 "  --delta-rms R  geometric mean of the per-row delta RMS (default 1e-3)\n"
                 "  -T N           threads (default 0 = all cores)\n"
                 "  -f             replace existing outputs\n",
                 argv0);
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    int layers = 32;
    std::string out = "llama2-7b-pair";
    uint64_t seed = 1;
    double shard_gb = 2.0, delta_rms = 1e-3;
    unsigned threads = 0;
    bool overwrite = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto val = [&]() -> std::string {
            if (i + 1 >= argc) usage(argv[0]);
            return argv[++i];
        };
        try {
            if (a == "--layers")
                layers = std::stoi(val());
            else if (a == "--out")
                out = val();
            else if (a == "--seed")
                seed = std::stoull(val());
            else if (a == "--shard-gb")
                shard_gb = std::stod(val());
            else if (a == "--delta-rms")
                delta_rms = std::stod(val());
            else if (a == "-T" || a == "--threads")
                threads = static_cast<unsigned>(std::stoul(val()));
            else if (a == "-f" || a == "--force")
                overwrite = true;
            else
                usage(argv[0]);
        } catch (const std::logic_error&) {
            usage(argv[0]);
        }
    }
    if (layers < 0 || layers > 1000 || shard_gb <= 0 || !(delta_rms >= 0)) usage(argv[0]);

    try {
        const auto t0 = std::chrono::steady_clock::now();
        const std::vector<Tensor> ts = llama2_7b(layers);

        // Shards: tensors in order, a new shard when the next would pass the limit.
        const uint64_t limit = static_cast<uint64_t>(shard_gb * 1e9);
        std::vector<int> shard_of(ts.size());
        std::vector<std::vector<size_t>> shards(1);
        uint64_t cur = 0;
        for (size_t i = 0; i < ts.size(); ++i) {
            if (cur > 0 && cur + ts[i].bytes() > limit) {
                shards.emplace_back();
                cur = 0;
            }
            shards.back().push_back(i);
            shard_of[i] = static_cast<int>(shards.size() - 1);
            cur += ts[i].bytes();
        }
        std::vector<std::string> names;
        for (size_t s = 0; s < shards.size(); ++s) {
            char buf[64];
            std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", s + 1, shards.size());
            names.push_back(buf);
        }

        std::filesystem::create_directories(out);
        std::vector<std::string> writes = names;  // what -f may replace in an existing output
        writes.push_back("model.safetensors.index.json");
        writes.push_back("config.json");
        OutputDir base_dir(out + "/base", overwrite, writes), ft_dir(out + "/finetuned", overwrite, writes);
        ThreadPool pool(threads);
        const Metadata meta{{"format", "pt"}};

        // Row blocks of ~4 Mi elements (8 MiB of fp16 per model).
        constexpr uint64_t kBlockElems = uint64_t(1) << 22;
        std::vector<uint16_t> bbuf, fbuf;
        uint64_t total_bytes = 0;
        for (size_t s = 0; s < shards.size(); ++s) {
            std::vector<TensorSpec> specs;
            for (size_t i : shards[s]) {
                const Tensor& t = ts[i];
                specs.push_back({t.name, DType::F16, t.one_d ? Shape{t.cols} : Shape{t.rows, t.cols}});
            }
            OutputFile bf(base_dir.path_of(names[s]), false), ff(ft_dir.path_of(names[s]), false);
            SafetensorsWriter bw(bf, specs, meta), fw(ff, specs, meta);
            for (size_t i : shards[s]) {
                const Tensor& t = ts[i];
                const uint64_t block_rows = std::max<uint64_t>(1, kBlockElems / t.cols);
                for (uint64_t r0 = 0; r0 < t.rows; r0 += block_rows) {
                    const uint64_t nr = std::min(block_rows, t.rows - r0);
                    bbuf.resize(nr * t.cols);
                    fbuf.resize(nr * t.cols);
                    // Tasks of 16 rows (1-D tensors: one task).
                    const uint64_t per = 16, tasks = (nr + per - 1) / per;
                    pool.parallel_for(tasks, [&](size_t k) {
                        std::vector<float> b(t.cols), f(t.cols);
                        const uint64_t a = k * per, e = std::min(nr, a + per);
                        for (uint64_t rr = a; rr < e; ++rr) {
                            const uint64_t r = r0 + rr;
                            Rng rb(row_seed(seed, i, r, 0)), rd(row_seed(seed, i, r, 1));
                            const float mean = t.kind == Kind::Norm ? 1.0f : 0.0f;
                            for (uint64_t j = 0; j < t.cols; ++j) b[j] = mean + 0.02f * rb.normal();
                            const float scale = static_cast<float>(delta_rms) * std::pow(10.0f, rd.uniform() - 0.5f);
                            switch (t.kind) {
                                case Kind::Linear:
                                    for (uint64_t j = 0; j < t.cols; ++j) f[j] = b[j] + scale * rd.normal();
                                    break;
                                case Kind::Embed:
                                    if (rd.uniform() < 0.02f)
                                        for (uint64_t j = 0; j < t.cols; ++j) f[j] = b[j] + scale * rd.normal();
                                    else
                                        std::copy(b.begin(), b.end(), f.begin());
                                    break;
                                case Kind::Norm:
                                    for (uint64_t j = 0; j < t.cols; ++j) {
                                        const float u = rd.uniform(), z = rd.normal();
                                        f[j] = u < 0.05f ? b[j] + scale * z : b[j];
                                    }
                                    break;
                            }
                            from_f32(DType::F16, b.data(), bbuf.data() + rr * t.cols, t.cols);
                            from_f32(DType::F16, f.data(), fbuf.data() + rr * t.cols, t.cols);
                        }
                    });
                    bw.write(bbuf.data(), bbuf.size() * 2);
                    fw.write(fbuf.data(), fbuf.size() * 2);
                }
                total_bytes += t.bytes();
            }
            bw.finish();
            fw.finish();
            bf.commit();
            ff.commit();
            std::fprintf(stderr, "make_pair: %s (%zu tensors)\n", names[s].c_str(), shards[s].size());
        }
        const std::string idx = index_json(ts, shard_of, names), cfg = config_json(layers);
        for (OutputDir* d : {&base_dir, &ft_dir}) {
            write_text(d->path_of("model.safetensors.index.json"), idx);
            write_text(d->path_of("config.json"), cfg);
        }
        base_dir.commit();
        ft_dir.commit();
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::fprintf(
            stderr, "make_pair: %d layers, %zu tensors, %zu shards, %.2f GB per model, %.1f s -> %s/{base,finetuned}\n",
            layers, ts.size(), shards.size(), total_bytes / 1e9, secs, out.c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "make_pair: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
