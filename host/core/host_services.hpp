// core/host_services.hpp — the warmup_host a plugin instance receives: errors, logging, clock, catalog, and the same
// services as host extensions by id (warmup/ext/host_*.h).
#pragma once

#include <warmup/ext/host_call_failure.h>
#include <warmup/ext/host_catalog.h>
#include <warmup/ext/host_clock.h>
#include <warmup/ext/host_log.h>
#include <warmup/host.h>

#include <string>

#include "core/catalog.hpp"
#include "core/clock.hpp"

namespace warmup::host {

/// One per plugin instance, so log lines name the plugin. Must outlive the instance (the instance keeps raw()).
/// Not copyable or movable: raw()->host_data points at this object.
class HostServices {
  public:
    HostServices(Catalog& catalog, const Clock& clock, std::string plugin_label);
    HostServices(const HostServices&) = delete;
    HostServices& operator=(const HostServices&) = delete;

    [[nodiscard]] const warmup_host* raw() const noexcept { return &host_; }
    [[nodiscard]] const std::string& plugin_label() const noexcept { return plugin_label_; }
    [[nodiscard]] Catalog& catalog() const noexcept { return catalog_; }
    [[nodiscard]] const Clock& clock() const noexcept { return clock_; }

  private:
    warmup_host host_{};
    Catalog& catalog_;
    const Clock& clock_;
    std::string plugin_label_;
};

}  // namespace warmup::host
