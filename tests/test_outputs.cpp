// Trust in outputs, interrupted runs and model directories (issue 7): -f replaces
// exactly a regular file or a previous rebuild, the report is never an input nor
// the output, signals leave no temporary behind, a shrinking input is named,
// FIFOs are refused without blocking, symbolic links are refused unless asked
// for, and every file of a fine-tune directory (subfolders included) comes back.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "deltacodec/deltacodec.hpp"
#include "io/io.hpp"
#include "testutil.hpp"

using namespace deltacodec;
using namespace testutil;

namespace {

std::vector<T> base_tensors(uint32_t seed, uint64_t rows = 128, size_t layers = 1) {
    std::vector<T> out;
    for (size_t l = 0; l < layers; ++l) {
        const std::string p = "layer." + std::to_string(l) + ".";
        out.push_back(
            make_tensor(p + "query.weight", DType::F16, {rows, 192}, gaussian(rows * 192, 0.05, seed + 3 * l)));
        out.push_back(make_tensor(p + "dense.weight", DType::F32, {100, 70}, gaussian(7000, 0.05, seed + 3 * l + 1)));
        out.push_back(make_tensor(p + "norm.weight", DType::F32, {70}, gaussian(70, 1.0, seed + 3 * l + 2)));
    }
    return out;
}

// Every regular file under `dir` (relative path → bytes), and every other entry
// (relative path → "<dir>" / "<link>" / "<other>"), skipping the CLI capture files.
std::map<std::string, std::string> tree(const std::string& dir) {
    std::map<std::string, std::string> out;
    for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
        const std::string rel = fs::relative(it->path(), dir).string();
        if (rel.rfind(".cli_", 0) == 0) continue;
        const auto st = it->symlink_status();
        if (fs::is_symlink(st))
            out[rel] = "<link>";
        else if (fs::is_directory(st))
            out[rel] = "<dir>";
        else if (fs::is_regular_file(st))
            out[rel] = read_text(it->path().string());
        else
            out[rel] = "<other>";
    }
    return out;
}

// tree(), with the (lossy) tensors of model.safetensors left out of the comparison.
std::map<std::string, std::string> tree_but_tensors(const std::string& dir) {
    auto t = tree(dir);
    if (t.count("model.safetensors")) t["model.safetensors"] = "<tensors>";
    return t;
}

// Names of hidden temporaries (".NAME.PID.RAND.tmp", files or folders) directly in `dir`.
std::vector<std::string> temporaries(const std::string& dir) {
    std::vector<std::string> out;
    for (const std::string& n : dir_entries(dir))
        if (n[0] == '.' && n.find(".tmp") != std::string::npos) out.push_back(n);
    return out;
}

// Starts the CLI with stdin/stdout on /dev/null and stderr to `err_path`, with the
// default disposition for the signals it handles (the test runner may ignore some).
pid_t spawn_cli(const std::vector<std::string>& args, const std::string& err_path) {
    std::vector<std::string> all = {DELTACODEC_CLI};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = fork();
    if (pid == 0) {
        for (const int s : {SIGINT, SIGTERM, SIGHUP}) signal(s, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        const int n = open("/dev/null", O_RDWR);
        const int e = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (n < 0 || e < 0) _exit(126);
        dup2(n, 0);
        dup2(n, 1);
        dup2(e, 2);
        execv(argv[0], argv.data());
        _exit(127);
    }
    return pid;
}

// waitpid with a guard: a child still running after `guard_s` seconds is killed and
// reported as hung (a hang must fail the test, not block the suite). Not a timing
// assertion: the commands here finish in well under a second.
int wait_guarded(pid_t pid, bool& hung, int guard_s = 60) {
    hung = false;
    int st = 0;
    for (int i = 0; i < guard_s * 100; ++i) {
        if (waitpid(pid, &st, WNOHANG) == pid) return st;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    hung = true;
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return st;
}

// run_cli, guarded against a hang (a FIFO input that would block forever).
RunResult run_guarded(const std::vector<std::string>& args, const std::string& scratch) {
    const std::string err = scratch + "/.cli_guard_err";
    bool hung = false;
    const int st = wait_guarded(spawn_cli(args, err), hung);
    RunResult r;
    r.rc = hung ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r.err = read_text(err);
    fs::remove(err);
    return r;
}

class Outputs : public ::testing::Test {
protected:
    TempDir dir;
    std::string base, ft, dcx;

    void SetUp() override {
        const auto b = base_tensors(1);
        ModelPair p;
        write_pair(dir, b, fine_tune_of(b, 2), "good.dcx", {}, p);
        base = p.base, ft = p.ft, dcx = p.dcx;
    }
    RunResult cli(const std::vector<std::string>& args) { return run_cli(args, dir.path()); }

    // A model directory: model.safetensors, config.json, and `extra` files (relative path → text).
    void model_dir(const std::string& d, const std::vector<T>& ts,
                   const std::map<std::string, std::string>& extra = {}) {
        fs::create_directories(d);
        write_safetensors(d + "/model.safetensors", ts);
        write_text(d + "/config.json", "{\"a\": 1}\n");
        for (const auto& [rel, text] : extra) {
            fs::create_directories(fs::path(d + "/" + rel).parent_path());
            write_text(d + "/" + rel, text);
        }
    }
};

}  // namespace

// Old code: `--report BASE -f` replaced the base checkpoint with JSON (exit 0);
// `--report X -o X` left X behind after failing.
TEST_F(Outputs, ReportIsNeverAnInputNorTheOutput) {
    const auto base_bytes = read_bytes(base), ft_bytes = read_bytes(ft), dcx_bytes = read_bytes(dcx);
    for (const std::string& victim : {base, ft}) {
        const RunResult r = cli({"compress", base, ft, "-o", dir / "x.dcx", "--report", victim, "-f", "-q"});
        EXPECT_EQ(r.rc, 1) << victim;
        EXPECT_NE(r.err.find("input"), std::string::npos) << r.err;
    }
    EXPECT_EQ(read_bytes(base), base_bytes);
    EXPECT_EQ(read_bytes(ft), ft_bytes);
    EXPECT_FALSE(fs::exists(dir / "x.dcx"));
    // The report may not be the output, with or without -f, existing or not.
    for (const bool force : {false, true}) {
        std::vector<std::string> a = {"compress", base, ft, "-o", dcx, "--report", dcx, "-q"};
        if (force) a.push_back("-f");
        EXPECT_EQ(cli(a).rc, 1);
        EXPECT_EQ(read_bytes(dcx), dcx_bytes);
        std::vector<std::string> b = {"compress", base, ft, "-o", dir / "y.dcx", "--report", dir / "./y.dcx", "-q"};
        if (force) b.push_back("-f");
        const RunResult r = cli(b);
        EXPECT_EQ(r.rc, 1);
        EXPECT_NE(r.err.find("same file"), std::string::npos) << r.err;
        EXPECT_FALSE(fs::exists(dir / "y.dcx"));
    }
    // A shard or file of an input directory is an input too.
    model_dir(dir / "fd", fine_tune_of(base_tensors(1), 2));
    const std::string cfg = read_text(dir / "fd/config.json");
    EXPECT_EQ(cli({"compress", base, dir / "fd", "-o", dir / "z.dcx", "--report", dir / "fd/config.json", "-f"}).rc, 1);
    EXPECT_EQ(read_text(dir / "fd/config.json"), cfg);
    // A failed run leaves neither file; a good one both.
    EXPECT_NE(cli({"compress", ft, dir / "nope", "-o", dir / "z.dcx", "--report", dir / "z.json"}).rc, 0);
    EXPECT_FALSE(fs::exists(dir / "z.dcx"));
    EXPECT_FALSE(fs::exists(dir / "z.json"));
    ASSERT_EQ(cli({"compress", base, ft, "-o", dir / "z.dcx", "--report", dir / "z.json", "-q"}).rc, 0);
    EXPECT_TRUE(fs::exists(dir / "z.dcx"));
    EXPECT_NE(read_text(dir / "z.json").find("\"summary\""), std::string::npos);
    EXPECT_TRUE(temporaries(dir.path()).empty());
}

// Old code: -f replaced a symbolic link (not its target) and a device node or FIFO
// with a regular file.
TEST_F(Outputs, ForceReplacesOnlyRegularFiles) {
    write_text(dir / "target.txt", "keep me");
    fs::create_symlink(dir / "target.txt", dir / "link.dcx");
    fs::create_symlink(dir / "target.txt", dir / "link.safetensors");
    fs::create_symlink(dir / "target.txt", dir / "link.json");
    ASSERT_EQ(mkfifo((dir / "fifo.dcx").c_str(), 0644), 0);
    std::vector<std::string> nodes = {dir / "fifo.dcx"};
    // As root a device node can be made (a copy of /dev/null); /dev/null itself is left alone.
    if (geteuid() == 0 && mknod((dir / "null.dcx").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0)
        nodes.push_back(dir / "null.dcx");
    const std::vector<std::vector<std::string>> runs = {
        {"compress", base, ft, "-o", dir / "link.dcx", "-f", "-q"},
        {"decompress", base, dcx, "-o", dir / "link.safetensors", "-f", "-q"},
        {"compress", base, ft, "-o", dir / "new.dcx", "--report", dir / "link.json", "-f", "-q"},
    };
    for (const auto& a : runs) {
        const RunResult r = run_guarded(a, dir.path());
        EXPECT_EQ(r.rc, 1) << a[4] << ": " << r.err;
        EXPECT_NE(r.err.find("symbolic link"), std::string::npos) << r.err;
    }
    for (const std::string& n : nodes) {
        for (const auto& a : std::vector<std::vector<std::string>>{
                 {"compress", base, ft, "-o", n, "-f", "-q"},
                 {"decompress", base, dcx, "-o", n, "-f", "-q"},
                 {"compress", base, ft, "-o", dir / "new.dcx", "--report", n, "-f", "-q"}}) {
            const RunResult r = run_guarded(a, dir.path());
            EXPECT_EQ(r.rc, 1) << n << ": " << r.err;
            EXPECT_NE(r.err.find("not a regular file"), std::string::npos) << r.err;
        }
    }
    for (const char* l : {"link.dcx", "link.safetensors", "link.json"}) {
        EXPECT_TRUE(fs::is_symlink(dir / l)) << l;
        EXPECT_EQ(fs::read_symlink(dir / l), dir / "target.txt");
    }
    EXPECT_EQ(read_text(dir / "target.txt"), "keep me");
    EXPECT_TRUE(fs::is_fifo(dir / "fifo.dcx"));
    if (nodes.size() > 1) {
        EXPECT_TRUE(fs::is_character_file(dir / "null.dcx"));
    }
    EXPECT_FALSE(fs::exists(dir / "new.dcx"));
    EXPECT_TRUE(temporaries(dir.path()).empty());
    // A regular file is replaced with -f, and not without.
    write_text(dir / "old.dcx", "old");
    EXPECT_EQ(cli({"compress", base, ft, "-o", dir / "old.dcx", "-q"}).rc, 1);
    EXPECT_EQ(read_text(dir / "old.dcx"), "old");
    ASSERT_EQ(cli({"compress", base, ft, "-o", dir / "old.dcx", "-q", "-f"}).rc, 0);
    EXPECT_EQ(read_bytes(dir / "old.dcx"), read_bytes(dcx));
}

// The library's commit: without overwrite nothing that appeared meanwhile is replaced;
// with it, a target that turned into a symbolic link meanwhile is refused at the rename.
TEST_F(Outputs, CommitRechecksTheTarget) {
    {
        OutputFile f(dir / "a.bin", false);
        f.write("new", 3);
        write_text(dir / "a.bin", "appeared");
        EXPECT_THROW(f.commit(), Error);
    }
    EXPECT_EQ(read_text(dir / "a.bin"), "appeared");
    write_text(dir / "t.txt", "target");
    {
        OutputFile f(dir / "b.bin", true);
        f.write("new", 3);
        fs::create_symlink(dir / "t.txt", dir / "b.bin");
        EXPECT_THROW(f.commit(), Error);
    }
    EXPECT_TRUE(fs::is_symlink(dir / "b.bin"));
    EXPECT_EQ(read_text(dir / "t.txt"), "target");
    {
        OutputFile f(dir / "c.bin", false);
        f.write("new", 3);
        f.commit();
    }
    EXPECT_EQ(read_text(dir / "c.bin"), "new");
    EXPECT_TRUE(temporaries(dir.path()).empty());
}

// Old code: `decompress -o DIR -f` renamed DIR away and deleted it whole, with the
// user's other files.
TEST_F(Outputs, ForceOnADirectoryReplacesOnlyAPreviousRebuild) {
    const std::vector<T> b = base_tensors(5), f = fine_tune_of(b, 6);
    model_dir(dir / "bd", b);
    model_dir(dir / "fd", f, {{"sub/notes.txt", "hello"}});
    ASSERT_EQ(cli({"compress", dir / "bd", dir / "fd", "-o", dir / "d.dcx", "-q"}).rc, 0);
    const std::string od = dir / "out";
    ASSERT_EQ(cli({"decompress", dir / "bd", dir / "d.dcx", "-o", od, "-q"}).rc, 0);
    EXPECT_EQ(tree_but_tensors(od), tree_but_tensors(dir / "fd"));
    // A previous rebuild (even edited) is replaced.
    write_text(od + "/sub/notes.txt", "edited");
    const RunResult ok = cli({"decompress", dir / "bd", dir / "d.dcx", "-o", od, "-q", "-f"});
    ASSERT_EQ(ok.rc, 0) << ok.err;
    EXPECT_EQ(tree_but_tensors(od), tree_but_tensors(dir / "fd"));
    // A foreign file anywhere inside: refused, named, and everything survives.
    for (const std::string foreign : {"mine.txt", "sub/mine.txt", "other/x"}) {
        fs::create_directories(fs::path(od + "/" + foreign).parent_path());
        write_text(od + "/" + foreign, "precious");
        const auto before = tree(od);
        const RunResult r = cli({"decompress", dir / "bd", dir / "d.dcx", "-o", od, "-q", "-f"});
        EXPECT_EQ(r.rc, 1) << foreign;
        const std::string named = foreign == "other/x" ? "other" : foreign;
        EXPECT_NE(r.err.find("holds " + named + ","), std::string::npos) << r.err;
        EXPECT_TRUE(tree(od) == before) << foreign;
        fs::remove_all(od + "/" + named);
    }
    // A symbolic link inside, or as the directory itself, is not replaced either.
    fs::create_symlink(dir / "bd/config.json", od + "/config.json.lnk");
    EXPECT_EQ(cli({"decompress", dir / "bd", dir / "d.dcx", "-o", od, "-q", "-f"}).rc, 1);
    EXPECT_TRUE(fs::is_symlink(od + "/config.json.lnk"));
    fs::remove(od + "/config.json.lnk");
    fs::create_directories(dir / "elsewhere");
    write_text(dir / "elsewhere/model.safetensors", "not mine");
    fs::create_directory_symlink(dir / "elsewhere", dir / "outlink");
    const RunResult l = cli({"decompress", dir / "bd", dir / "d.dcx", "-o", dir / "outlink", "-q", "-f"});
    EXPECT_EQ(l.rc, 1);
    EXPECT_NE(l.err.find("symbolic link"), std::string::npos) << l.err;
    EXPECT_TRUE(fs::is_symlink(dir / "outlink"));
    EXPECT_EQ(read_text(dir / "elsewhere/model.safetensors"), "not mine");
    EXPECT_TRUE(temporaries(dir.path()).empty());
}

// Old code: SIGINT/SIGTERM/SIGHUP left the hidden temporaries (files, and the
// directory of a directory rebuild) behind. Library level, deterministic: a child
// with temporaries of both kinds, nested folders included, signals itself.
TEST_F(Outputs, SignalsRemoveTemporariesLibrary) {
    for (const int sig : {SIGINT, SIGTERM, SIGHUP}) {
        const std::string d = dir / ("s" + std::to_string(sig));
        fs::create_directories(d);
        const pid_t pid = fork();
        if (pid == 0) {
            for (const int s : {SIGINT, SIGTERM, SIGHUP}) signal(s, SIG_DFL);
            install_signal_handlers();
            try {
                OutputFile f(d + "/x.dcx", false);
                f.write("partial", 7);
                OutputDir od(d + "/rebuilt", false, {"model.safetensors", "a/b/c.txt"});
                OutputFile g(od.path_of("a/b/c.txt"), false);
                g.write("x", 1);
                g.commit();
                OutputFile h(od.path_of("model.safetensors"), false);
                h.write("y", 1);
                kill(getpid(), sig);
                _exit(0);  // not reached: the signal ends the process
            } catch (...) {
                _exit(2);
            }
        }
        int st = 0;
        ASSERT_EQ(waitpid(pid, &st, 0), pid);
        EXPECT_TRUE(WIFSIGNALED(st)) << "signal " << sig << ", status " << st;
        if (WIFSIGNALED(st)) {
            EXPECT_EQ(WTERMSIG(st), sig);
        }
        EXPECT_TRUE(dir_entries(d).empty()) << "signal " << sig << " left " << dir_entries(d).size() << " entries";
    }
}

// The same through the CLI: a running compress / directory decompress gets the
// signal once its temporary exists.
TEST_F(Outputs, SignalsRemoveTemporariesCli) {
    // Inputs big enough that each run takes a while; if a run still wins the race
    // (finishes before its temporary is seen), the input doubles.
    for (size_t layers = 24, attempt = 0; attempt < 4; ++attempt, layers *= 2) {
        const std::vector<T> b = base_tensors(7, 512, layers), f = fine_tune_of(b, 8);
        const std::string bd = dir / "bd", fd = dir / "fd";
        fs::remove_all(bd);
        fs::remove_all(fd);
        model_dir(bd, b);
        model_dir(fd, f, {{"sub/x.txt", "x"}});
        const std::string work = dir / "work";
        fs::remove_all(work);
        fs::create_directories(work);
        ASSERT_EQ(cli({"compress", bd, fd, "-o", dir / "big.dcx", "-q", "-f"}).rc, 0);
        bool raced = false;
        for (const int sig : {SIGINT, SIGTERM, SIGHUP}) {
            for (const bool decomp : {false, true}) {
                const std::vector<std::string> args =
                    decomp ? std::vector<std::string>{"decompress", bd, dir / "big.dcx", "-o", work + "/o", "-q",
                                                      "-T",         "1"}
                           : std::vector<std::string>{"compress", bd, fd, "-o", work + "/o.dcx", "-q", "-T", "1"};
                const pid_t pid = spawn_cli(args, dir / ".cli_sig_err");
                bool seen = false;
                int st = 0;
                bool done = false;
                for (int i = 0; i < 6000 && !seen && !done; ++i) {  // guard: 60 s
                    seen = !temporaries(work).empty();
                    if (!seen) {
                        done = waitpid(pid, &st, WNOHANG) == pid;
                        std::this_thread::sleep_for(std::chrono::milliseconds(2));
                    }
                }
                if (seen) {
                    kill(pid, sig);
                    bool hung = false;
                    st = wait_guarded(pid, hung);
                    EXPECT_FALSE(hung);
                } else if (!done) {
                    kill(pid, SIGKILL);
                    waitpid(pid, &st, 0);
                    ADD_FAILURE() << "no temporary appeared";
                }
                if (seen && WIFEXITED(st) && WEXITSTATUS(st) == 0) raced = true;  // finished first
                if (!seen) raced = true;
                if (seen && WIFSIGNALED(st)) {
                    EXPECT_EQ(WTERMSIG(st), sig) << args[0];
                }
                if (seen && WIFEXITED(st)) {
                    EXPECT_EQ(WEXITSTATUS(st), 0) << args[0] << ": " << read_text(dir / ".cli_sig_err");
                }
                EXPECT_TRUE(temporaries(work).empty()) << args[0] << " signal " << sig << " left a temporary";
                for (const std::string& n : dir_entries(work)) fs::remove_all(work + "/" + n);
            }
        }
        if (!raced) return;
    }
    ADD_FAILURE() << "the runs kept finishing before their temporary was seen";
}

// Old code: an input that shrank while mapped killed the process with SIGBUS and
// no message (and left its temporaries). A forked child maps a file, truncates it
// and touches the lost page.
TEST_F(Outputs, ShrunkInputIsNamedAndExitsOne) {
    const std::string in = dir / "shrinks.safetensors", err = dir / "err.txt";
    write_bytes(in, std::vector<uint8_t>(1 << 20, 7));
    const pid_t pid = fork();
    if (pid == 0) {
        const int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(e, 2);
        install_signal_handlers();
        try {
            OutputFile o(dir / "out.dcx", false);
            o.write("partial", 7);
            const MappedFile m = MappedFile::open(in);
            if (truncate(in.c_str(), 0) != 0) _exit(3);
            volatile uint8_t x = m.data()[m.size() - 1];
            (void)x;
            _exit(0);  // not reached
        } catch (...) {
            _exit(2);
        }
    }
    int st = 0;
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    ASSERT_TRUE(WIFEXITED(st)) << "killed by signal " << (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    EXPECT_EQ(WEXITSTATUS(st), 1);
    EXPECT_EQ(read_text(err), "deltacodec: error: " + in + " changed or shrank while being read\n");
    fs::remove(err);
    EXPECT_EQ(dir_entries(dir.path()),
              (std::vector<std::string>{"base.safetensors", "ft.safetensors", "good.dcx", "shrinks.safetensors"}));
}

// Old code: a FIFO given as an input blocked forever in open().
TEST_F(Outputs, FifoInputsAreRefusedPromptly) {
    const std::string fifo = dir / "fifo";
    ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
    for (const auto& a : std::vector<std::vector<std::string>>{{"compress", fifo, ft, "-o", dir / "x.dcx"},
                                                               {"compress", base, fifo, "-o", dir / "x.dcx"},
                                                               {"decompress", base, fifo, "-o", dir / "x.st"},
                                                               {"decompress", fifo, dcx, "-o", dir / "x.st"},
                                                               {"info", fifo}}) {
        const RunResult r = run_guarded(a, dir.path());
        EXPECT_EQ(r.rc, 1) << a[0] << " " << a[1] << ": " << (r.rc == -1 ? "hung" : r.err);
        EXPECT_NE(r.err.find("not a regular file"), std::string::npos) << r.err;
    }
    // A FIFO inside a fine-tune directory is refused, named.
    model_dir(dir / "fd", fine_tune_of(base_tensors(1), 2));
    ASSERT_EQ(mkfifo((dir / "fd/pipe").c_str(), 0644), 0);
    const RunResult r = run_guarded({"compress", base, dir / "fd", "-o", dir / "x.dcx"}, dir.path());
    EXPECT_EQ(r.rc, 1) << (r.rc == -1 ? "hung" : r.err);
    EXPECT_NE(r.err.find("fd/pipe is not a regular file"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir / "x.dcx"));
}

// Old code: symbolic links inside a model directory were followed: a link to a local
// file was embedded in the .dcx and written out by decompress.
TEST_F(Outputs, SymlinksRefusedUnlessFollowed) {
    const std::vector<T> b = base_tensors(1), f = fine_tune_of(b, 2);
    write_text(dir / "secret.txt", "host secret");
    model_dir(dir / "fd", f);
    fs::create_symlink(dir / "secret.txt", dir / "fd/secret.txt");
    const RunResult r = cli({"compress", base, dir / "fd", "-o", dir / "x.dcx"});
    EXPECT_EQ(r.rc, 1);
    EXPECT_NE(r.err.find("fd/secret.txt is a symbolic link"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("--follow-symlinks"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir / "x.dcx"));
    // With --follow-symlinks the link's target is carried (as a regular file).
    ASSERT_EQ(cli({"compress", base, dir / "fd", "-o", dir / "x.dcx", "-q", "--follow-symlinks"}).rc, 0);
    ASSERT_EQ(cli({"decompress", base, dir / "x.dcx", "-o", dir / "o", "-q"}).rc, 0);
    EXPECT_FALSE(fs::is_symlink(dir / "o/secret.txt"));
    EXPECT_EQ(read_text(dir / "o/secret.txt"), "host secret");
    // A shard that is a link, in the fine-tune or the base directory.
    model_dir(dir / "fd2", f);
    fs::remove(dir / "fd2/model.safetensors");
    fs::create_symlink(ft, dir / "fd2/model.safetensors");
    const RunResult s = cli({"compress", base, dir / "fd2", "-o", dir / "y.dcx"});
    EXPECT_EQ(s.rc, 1);
    EXPECT_NE(s.err.find("fd2/model.safetensors is a symbolic link"), std::string::npos) << s.err;
    fs::create_directories(dir / "bd");
    fs::create_symlink(base, dir / "bd/model.safetensors");
    const RunResult d = cli({"decompress", dir / "bd", dcx, "-o", dir / "z.safetensors"});
    EXPECT_EQ(d.rc, 1);
    EXPECT_NE(d.err.find("bd/model.safetensors is a symbolic link"), std::string::npos) << d.err;
    EXPECT_EQ(cli({"decompress", dir / "bd", dcx, "-o", dir / "z.safetensors", "-q", "--follow-symlinks"}).rc, 0);
    EXPECT_EQ(cli({"compress", dir / "bd", dir / "fd2", "-o", dir / "y.dcx", "-q", "--follow-symlinks"}).rc, 0);
    // A link loop is refused, named, even when following.
    fs::create_directory_symlink(dir / "fd", dir / "fd/loop");
    const RunResult lp = cli({"compress", base, dir / "fd", "-o", dir / "w.dcx", "--follow-symlinks"});
    EXPECT_EQ(lp.rc, 1);
    EXPECT_NE(lp.err.find("fd/loop"), std::string::npos) << lp.err;
}

// Old code: files in subfolders and safetensors files that are not shards were dropped.
TEST_F(Outputs, EveryFileOfAFineTuneDirectoryComesBack) {
    const std::vector<T> b = base_tensors(3), f = fine_tune_of(b, 4);
    model_dir(dir / "bd", b);
    const std::map<std::string, std::string> extra = {
        {"tokenizer/vocab.txt", "a\nb\n"}, {"tokenizer/deep/er/merges.txt", "m"}, {".hidden", "h"}, {"empty.txt", ""},
        {"notes/é.md", "utf-8 name"},
    };
    model_dir(dir / "fd", f, extra);
    // A second safetensors file beside model.safetensors (an adapter), carried as a file.
    write_safetensors(dir / "fd/adapter_model.safetensors", {make_tensor("lora.A", DType::F32, {2, 2}, {1, 2, 3, 4})});
    fs::create_directories(dir / "fd/empty_folder");  // holds no file: nothing to carry
    ASSERT_EQ(cli({"compress", dir / "bd", dir / "fd", "-o", dir / "d.dcx", "-q"}).rc, 0);
    ASSERT_EQ(cli({"decompress", dir / "bd", dir / "d.dcx", "-o", dir / "o", "-q"}).rc, 0);
    // Tensors are lossy; everything else is byte-identical.
    auto want_t = tree_but_tensors(dir / "fd");
    want_t.erase("empty_folder");
    EXPECT_EQ(tree_but_tensors(dir / "o"), want_t);
    // The .dcx does not depend on the order in which the directory lists its files.
    model_dir(dir / "fd_rev", f);
    for (auto it = extra.rbegin(); it != extra.rend(); ++it) {
        fs::create_directories(fs::path(dir / ("fd_rev/" + it->first)).parent_path());
        write_text(dir / ("fd_rev/" + it->first), it->second);
    }
    fs::copy_file(dir / "fd/adapter_model.safetensors", dir / "fd_rev/adapter_model.safetensors");
    ASSERT_EQ(cli({"compress", dir / "bd", dir / "fd_rev", "-o", dir / "d2.dcx", "-q"}).rc, 0);
    EXPECT_EQ(read_bytes(dir / "d.dcx"), read_bytes(dir / "d2.dcx"));
}

// What a directory cannot carry is refused, named: a name that is not UTF-8, a file
// over the FILE limit (1 GiB; a sparse file here).
TEST_F(Outputs, UncarriableFilesAreNamed) {
    const std::vector<T> f = fine_tune_of(base_tensors(1), 2);
    model_dir(dir / "fd", f);
    write_text(dir / "fd/bad\xff.txt", "x");
    const RunResult r = cli({"compress", base, dir / "fd", "-o", dir / "x.dcx"});
    EXPECT_EQ(r.rc, 1);
    EXPECT_NE(r.err.find("bad\\xff.txt"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("not UTF-8"), std::string::npos) << r.err;
    fs::remove(dir / "fd/bad\xff.txt");
    {
        const int fd = open((dir / "fd/huge.bin").c_str(), O_WRONLY | O_CREAT, 0644);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(ftruncate(fd, (1ll << 30) + 1), 0);
        close(fd);
    }
    const RunResult h = cli({"compress", base, dir / "fd", "-o", dir / "x.dcx"});
    EXPECT_EQ(h.rc, 1);
    EXPECT_NE(h.err.find("fd/huge.bin is larger than 1 GiB"), std::string::npos) << h.err;
    EXPECT_FALSE(fs::exists(dir / "x.dcx"));
}
