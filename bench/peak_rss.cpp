// deltacodec_peak_rss — runs a command and reports its wall time and peak RSS.
//
//   deltacodec_peak_rss [-o FILE] [--sync] -- COMMAND [ARGS...]
//
// Prints (to FILE, or stderr) one line:
//   wall_s=<s> user_s=<s> sys_s=<s> maxrss_kib=<KiB> [sync_s=<s>] status=<exit status>
// user_s and sys_s are the CPU time of the command (all its threads).
// Peak RSS is getrusage(RUSAGE_CHILDREN).ru_maxrss after the child is reaped
// (Linux reports KiB): the largest resident set of the command or any of its
// descendants that it waited for. With --sync, sync(2) runs after the command
// and its time is reported separately (writeback of the outputs to disk).
// Exits with the command's exit status. Needs no package (GNU time not required).
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
    const char* outpath = nullptr;
    bool do_sync = false;
    int i = 1;
    for (; i < argc; ++i) {
        if (!std::strcmp(argv[i], "-o") && i + 1 < argc) {
            outpath = argv[++i];
        } else if (!std::strcmp(argv[i], "--sync")) {
            do_sync = true;
        } else if (!std::strcmp(argv[i], "--")) {
            ++i;
            break;
        } else {
            break;
        }
    }
    if (i >= argc) {
        std::fprintf(stderr, "usage: %s [-o FILE] [--sync] -- COMMAND [ARGS...]\n", argv[0]);
        return 2;
    }
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    const pid_t pid = fork();
    if (pid < 0) {
        std::perror("fork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[i], argv + i);
        std::fprintf(stderr, "%s: cannot run %s: %s\n", argv[0], argv[i], std::strerror(errno));
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            std::perror("waitpid");
            return 2;
        }
    }
    const auto t1 = clock::now();
    double sync_s = -1;
    if (do_sync) {
        sync();
        sync_s = std::chrono::duration<double>(clock::now() - t1).count();
    }
    struct rusage ru {};
    getrusage(RUSAGE_CHILDREN, &ru);
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    FILE* f = outpath ? std::fopen(outpath, "w") : stderr;
    if (!f) {
        std::perror(outpath);
        return 2;
    }
    auto secs = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
    std::fprintf(f, "wall_s=%.3f user_s=%.3f sys_s=%.3f maxrss_kib=%ld", std::chrono::duration<double>(t1 - t0).count(),
                 secs(ru.ru_utime), secs(ru.ru_stime), ru.ru_maxrss);
    if (do_sync) std::fprintf(f, " sync_s=%.3f", sync_s);
    std::fprintf(f, " status=%d\n", code);
    if (outpath) std::fclose(f);
    return code;
}
