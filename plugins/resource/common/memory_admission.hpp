// plugins/resource/common/memory_admission.hpp — what the in-tree resource plugins (LRU, Greedy-Dual) share: the
// real host memory limit that caps the configured budget, and the admission rule for demand loads and pre-warms.
//
// Header-only and included by each policy's own .so (no shared library between plugins: each plugin stays one
// self-contained file the host can hot-swap). Everything here runs on the control thread; nothing is thread-safe.
#pragma once

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <warmup/sdk/plugin.hpp>

namespace warmup::plugins::resource {

/// Reads cgroup v2 `memory.max`: "max" (no limit) gives +infinity, a byte count gives MiB.
/// Throws InvalidArgument naming `param_path` when the file cannot be read or parsed.
inline double read_cgroup_memory_max_mb(const std::string& file_path, const std::string& param_path) {
    std::ifstream file(file_path);
    std::string text;
    if (!file || !(file >> text))
        throw sdk::InvalidArgument(param_path + ": cannot read '" + file_path +
                                   "' (is cgroup v2 mounted?); use host_limit: meminfo or none");
    if (text == "max") return std::numeric_limits<double>::infinity();
    try {
        std::size_t consumed = 0;
        const unsigned long long bytes = std::stoull(text, &consumed);
        if (consumed != text.size()) throw std::invalid_argument(text);
        return static_cast<double>(bytes) / (1024.0 * 1024.0);
    } catch (const std::exception&) {
        throw sdk::InvalidArgument(param_path + ": '" + file_path + "' holds '" + text +
                                   "', expected a byte count or 'max'");
    }
}

/// Reads `MemTotal: <n> kB` from /proc/meminfo (or a file of the same format) and returns MiB.
inline double read_meminfo_total_mb(const std::string& file_path, const std::string& param_path) {
    std::ifstream file(file_path);
    if (!file) throw sdk::InvalidArgument(param_path + ": cannot read '" + file_path + "'");
    std::string line;
    while (std::getline(file, line)) {
        if (line.rfind("MemTotal:", 0) != 0) continue;
        std::istringstream fields(line.substr(9));
        double kibibytes = 0;
        std::string unit;
        if (fields >> kibibytes >> unit && unit == "kB" && kibibytes >= 0) return kibibytes / 1024.0;
        break;
    }
    throw sdk::InvalidArgument(param_path + ": '" + file_path + "' has no 'MemTotal: <n> kB' line");
}

/// The budget cap and admission rule, configured from the shared params:
///   host_limit: none | cgroup | meminfo   (default none)
///   reserve_mb: MiB kept free below the host limit for everything that is not a model (default 0)
///   prewarm_may_evict: whether a pre-warm may evict ready models (default true)
///   cgroup_memory_max_path, meminfo_path: where the limits are read (defaults: the real kernel files)
/// The host limit is read once, at create: a policy instance describes the machine it was created on.
class MemoryAdmission {
  public:
    explicit MemoryAdmission(sdk::Params& params) {
        const std::string source = params.get_choice("host_limit", "none", {"none", "cgroup", "meminfo"});
        reserve_mb_ = params.get_double("reserve_mb", 0.0, 0.0);
        prewarm_may_evict_ = params.get_bool("prewarm_may_evict", true);
        const std::string cgroup_path = params.get_string("cgroup_memory_max_path", "/sys/fs/cgroup/memory.max");
        const std::string meminfo_path = params.get_string("meminfo_path", "/proc/meminfo");
        if (source == "cgroup") host_limit_mb_ = read_cgroup_memory_max_mb(cgroup_path, "params.host_limit");
        if (source == "meminfo") host_limit_mb_ = read_meminfo_total_mb(meminfo_path, "params.host_limit");
    }

    /// min(configured, host limit - reserve), never negative. Infinity-safe: no host limit leaves `configured`.
    [[nodiscard]] double effective_budget_mb(double configured_budget_mb) const {
        const double host_cap_mb = std::max(0.0, host_limit_mb_ - reserve_mb_);
        return std::max(0.0, std::min(configured_budget_mb, host_cap_mb));
    }

    /// Demand loads are always admitted and may evict (a request is waiting). A pre-warm is refused when the model
    /// alone is larger than the whole budget (it could never fit, evicting would only hurt); otherwise admitted with
    /// may_evict = prewarm_may_evict. `out.reason` points into this object until the next call. No allocation.
    void admit(const warmup_admission_request& request, warmup_admission& out) {
        out.admit = 1;
        out.may_evict = 1;
        out.reason = {nullptr, 0};
        if (request.is_demand != 0) return;
        if (request.memory_mb > request.budget_mb) {
            const int length =
                std::snprintf(reason_.data(), reason_.size(),
                              "pre-warm refused: model %u needs %.1f MiB, more than the whole budget of %.1f MiB",
                              request.model, request.memory_mb, request.budget_mb);
            out.admit = 0;
            out.may_evict = 0;
            out.reason = {reason_.data(), static_cast<size_t>(std::clamp<int>(length, 0, reason_.size() - 1))};
            return;
        }
        out.may_evict = prewarm_may_evict_ ? 1 : 0;
    }

  private:
    double host_limit_mb_ = std::numeric_limits<double>::infinity();
    double reserve_mb_ = 0;
    bool prewarm_may_evict_ = true;
    std::array<char, 160> reason_{};
};

}  // namespace warmup::plugins::resource
