// deltacodec — a small fixed thread pool with a blocking parallel_for.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "deltacodec/types.hpp"

namespace deltacodec {

/// `threads` = 0 means every core. The calling thread works too, so a pool of
/// N threads starts N-1 workers.
class ThreadPool {
public:
    explicit ThreadPool(unsigned threads = 0);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    unsigned size() const { return static_cast<unsigned>(workers_.size()) + 1; }
    /// Runs fn(i) for every i in [0, n), items taken dynamically; blocks until
    /// all are done; rethrows the first exception. Not reentrant.
    void parallel_for(size_t n, const std::function<void(size_t)>& fn);

private:
    void worker_loop();
    void run_items();
    std::vector<std::thread> workers_;
    std::mutex mu_;
    std::condition_variable cv_start_, cv_done_;
    const std::function<void(size_t)>* fn_ = nullptr;
    size_t n_ = 0, next_ = 0;
    unsigned busy_ = 0;
    unsigned long generation_ = 0;
    bool stop_ = false;
    std::exception_ptr error_;
};

/// Runs jobs one after another on one background thread, in the order they are
/// submitted, with at most `depth` jobs queued or running (submit() waits for
/// room). Used to overlap writing a tensor with decoding the next. The first
/// exception a job throws is rethrown by the next submit() or wait().
class SerialWorker {
public:
    explicit SerialWorker(size_t depth = 1);
    ~SerialWorker();  ///< finishes queued jobs; their errors are dropped
    SerialWorker(const SerialWorker&) = delete;
    SerialWorker& operator=(const SerialWorker&) = delete;
    void submit(std::function<void()> job);
    /// Waits until every submitted job has run.
    void wait();

private:
    void loop();
    void rethrow_locked(std::unique_lock<std::mutex>& lk);
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<std::function<void()>> queue_;
    size_t depth_, pending_ = 0;
    bool stop_ = false;
    std::exception_ptr error_;
    std::thread thread_;
};

// kMaxThreads: deltacodec/types.hpp.

/// Resolves a -T value: 0 = all cores; capped at kMaxThreads.
unsigned resolve_threads(unsigned requested);

}  // namespace deltacodec
