// deltacodec — ProgressMeter (progress.hpp).
#include "io/progress.hpp"

#include <algorithm>

namespace deltacodec {

ProgressMeter::ProgressMeter(const ProgressFn& fn, uint64_t bytes_total, size_t tensors_total)
    : fn_(fn ? &fn : nullptr) {
    p_.bytes_total = bytes_total;
    p_.tensors_total = tensors_total;
    step_ = std::max<uint64_t>(bytes_total / 1000, 1);
    if (fn_) (*fn_)(p_);
}

void ProgressMeter::report_locked(bool force) {
    const uint64_t s = p_.bytes_done / step_;
    if (!force && s == last_step_) return;
    last_step_ = s;
    (*fn_)(p_);
}

void ProgressMeter::begin_tensor(const std::string& name, uint64_t nbytes) {
    if (!fn_) return;
    std::lock_guard<std::mutex> lk(mu_);
    p_.tensor = name;
    cur_start_ = p_.bytes_done;
    cur_bytes_ = nbytes;
}

void ProgressMeter::within(uint64_t done, uint64_t of) {
    if (!fn_ || of == 0) return;
    std::lock_guard<std::mutex> lk(mu_);
    const uint64_t part = static_cast<uint64_t>(static_cast<unsigned __int128>(cur_bytes_) * std::min(done, of) / of);
    p_.bytes_done = std::max(p_.bytes_done, cur_start_ + part);
    report_locked(false);
}

void ProgressMeter::end_tensor() {
    if (!fn_) return;
    std::lock_guard<std::mutex> lk(mu_);
    p_.bytes_done = std::max(p_.bytes_done, cur_start_ + cur_bytes_);
    report_locked(false);
}

void ProgressMeter::advance(const std::string& name, uint64_t nbytes) {
    if (!fn_) return;
    std::lock_guard<std::mutex> lk(mu_);
    p_.tensor = name;
    p_.bytes_done += nbytes;
    report_locked(false);
}

void ProgressMeter::tensor_done() {
    if (!fn_) return;
    std::lock_guard<std::mutex> lk(mu_);
    ++p_.tensors_done;
}

void ProgressMeter::finish() {
    if (!fn_) return;
    std::lock_guard<std::mutex> lk(mu_);
    p_.bytes_done = p_.bytes_total;
    p_.tensors_done = p_.tensors_total;
    report_locked(true);
}

}  // namespace deltacodec
