// deltacodec (internal) — ProgressMeter: turns the pipelines' events (a tensor
// begins, part of it is done, it is finished) into the public ProgressFn's calls,
// at a bounded number of calls, from any thread.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

#include "deltacodec/deltacodec.hpp"

namespace deltacodec {

/// Every method is thread-safe; the callback runs under the meter's lock, so its
/// calls never overlap. The callback is called at construction (nothing done),
/// whenever bytes_done crosses another 1/1000 of bytes_total, and by finish().
/// A meter without a callback does nothing (cheaply).
class ProgressMeter {
public:
    ProgressMeter(const ProgressFn& fn, uint64_t bytes_total, size_t tensors_total);
    ProgressMeter(const ProgressMeter&) = delete;
    ProgressMeter& operator=(const ProgressMeter&) = delete;

    /// The next tensor, of `nbytes`, begins (one at a time: the previous one's
    /// end_tensor() came first).
    void begin_tensor(const std::string& name, uint64_t nbytes);
    /// `done` of `of` units of the current tensor are finished (calls may come
    /// from several threads and out of order: bytes never go backwards).
    void within(uint64_t done, uint64_t of);
    /// Every byte of the current tensor is done.
    void end_tensor();
    /// `nbytes` more done, outside the begin/end of a tensor (a tensor analysed,
    /// from any thread, in any order); `name` becomes the current tensor.
    void advance(const std::string& name, uint64_t nbytes);
    /// One more tensor finished (compress: written; may lag begin_tensor()).
    void tensor_done();
    /// The final call: everything done.
    void finish();

private:
    void report_locked(bool force);
    const ProgressFn* fn_;
    std::mutex mu_;
    Progress p_;
    uint64_t step_ = 1, last_step_ = 0;
    uint64_t cur_start_ = 0, cur_bytes_ = 0;  // the current tensor's first byte and size
};

}  // namespace deltacodec
