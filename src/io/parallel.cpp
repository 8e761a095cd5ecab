// deltacodec — thread pool.
#include "io/parallel.hpp"

#include <algorithm>
#include <system_error>

namespace deltacodec {

unsigned resolve_threads(unsigned requested) {
    if (requested) return std::min(requested, kMaxThreads);
    const unsigned hw = std::thread::hardware_concurrency();
    return hw ? std::min(hw, kMaxThreads) : 1;
}

ThreadPool::ThreadPool(unsigned threads) {
    const unsigned n = resolve_threads(threads);
    for (unsigned i = 1; i < n; ++i) {
        try {
            workers_.emplace_back([this] { worker_loop(); });
        } catch (const std::system_error&) {
            break;  // the system gives no more threads: run with what we have
        }
    }
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lk(mu_);
        stop_ = true;
    }
    cv_start_.notify_all();
    for (std::thread& t : workers_) t.join();
}

void ThreadPool::run_items() {
    for (;;) {
        size_t i;
        {
            std::lock_guard<std::mutex> lk(mu_);
            if (next_ >= n_ || error_) return;
            i = next_++;
        }
        try {
            (*fn_)(i);
        } catch (...) {
            std::lock_guard<std::mutex> lk(mu_);
            if (!error_) error_ = std::current_exception();
        }
    }
}

void ThreadPool::worker_loop() {
    unsigned long seen = 0;
    for (;;) {
        {
            std::unique_lock<std::mutex> lk(mu_);
            cv_start_.wait(lk, [&] { return stop_ || generation_ != seen; });
            if (stop_) return;
            seen = generation_;
            ++busy_;
        }
        run_items();
        {
            std::lock_guard<std::mutex> lk(mu_);
            --busy_;
        }
        cv_done_.notify_all();
    }
}

void ThreadPool::parallel_for(size_t n, const std::function<void(size_t)>& fn) {
    if (n == 0) return;
    if (workers_.empty() || n == 1) {
        for (size_t i = 0; i < n; ++i) fn(i);
        return;
    }
    {
        std::lock_guard<std::mutex> lk(mu_);
        fn_ = &fn;
        n_ = n;
        next_ = 0;
        error_ = nullptr;
        ++generation_;
    }
    cv_start_.notify_all();
    run_items();
    std::exception_ptr err;
    {
        std::unique_lock<std::mutex> lk(mu_);
        cv_done_.wait(lk, [&] { return busy_ == 0 && (next_ >= n_ || error_); });
        // Workers that never woke for this generation must not run it later.
        n_ = 0;
        err = error_;
        error_ = nullptr;
        fn_ = nullptr;
    }
    if (err) std::rethrow_exception(err);
}

SerialWorker::SerialWorker(size_t depth) : depth_(depth ? depth : 1) {
    try {
        thread_ = std::thread([this] { loop(); });
    } catch (const std::system_error&) {
        // No thread to be had: submit() runs each job itself.
    }
}

SerialWorker::~SerialWorker() {
    if (!thread_.joinable()) return;
    {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return pending_ == 0; });
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

void SerialWorker::loop() {
    for (;;) {
        std::function<void()> job;
        {
            std::unique_lock<std::mutex> lk(mu_);
            cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
            if (queue_.empty()) return;
            job = std::move(queue_.front());
            queue_.erase(queue_.begin());
        }
        std::exception_ptr err;
        if (!error_) {
            try {
                job();
            } catch (...) {
                err = std::current_exception();
            }
        }
        {
            std::lock_guard<std::mutex> lk(mu_);
            if (err && !error_) error_ = err;
            --pending_;
        }
        cv_.notify_all();
    }
}

void SerialWorker::rethrow_locked(std::unique_lock<std::mutex>& lk) {
    if (!error_) return;
    std::exception_ptr e = error_;
    lk.unlock();
    std::rethrow_exception(e);
}

void SerialWorker::submit(std::function<void()> job) {
    if (!thread_.joinable()) {
        if (error_) std::rethrow_exception(error_);
        try {
            job();
        } catch (...) {
            error_ = std::current_exception();
            throw;
        }
        return;
    }
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return pending_ < depth_ || error_; });
    rethrow_locked(lk);
    queue_.push_back(std::move(job));
    ++pending_;
    lk.unlock();
    cv_.notify_all();
}

void SerialWorker::wait() {
    if (!thread_.joinable()) {
        if (error_) std::rethrow_exception(error_);
        return;
    }
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return pending_ == 0; });
    rethrow_locked(lk);
}

}  // namespace deltacodec
