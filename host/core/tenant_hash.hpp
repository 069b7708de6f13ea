// core/tenant_hash.hpp — the tenant_hash carried by usage events, the same for every way an event arrives (HTTP,
// sources, replay), so an experiment's tenant split routes a tenant to one arm whatever brought its events.
#pragma once

#include <cstdint>
#include <string_view>

namespace warmup::host {

/// FNV-1a of a tenant name; 0 for none (empty), never 0 for a named tenant. Pure.
inline uint32_t tenant_hash(std::string_view tenant) noexcept {
    if (tenant.empty()) return 0;
    uint32_t hash = 2166136261u;
    for (const unsigned char c : tenant) hash = (hash ^ c) * 16777619u;
    return hash == 0 ? 1 : hash;
}

}  // namespace warmup::host
