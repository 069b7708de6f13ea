// core/fnv1a.hpp — 64-bit FNV-1a, the stable hash of names the host uses wherever a name must map to the same number
// in every process and on every machine (series seeds in replay, the fleet's placement, an experiment's split by
// model, an arm's definition fingerprint).
#pragma once

#include <cstdint>
#include <string_view>

namespace warmup::host {

inline constexpr uint64_t kFnv1a64OffsetBasis = 0xcbf29ce484222325ULL;

/// FNV-1a of `bytes`, continuing from `hash` (the offset basis for a new hash; a previous result to hash more bytes
/// after it). Pure.
inline uint64_t fnv1a64(std::string_view bytes, uint64_t hash = kFnv1a64OffsetBasis) noexcept {
    for (const unsigned char c : bytes) hash = (hash ^ c) * 0x100000001b3ULL;
    return hash;
}

}  // namespace warmup::host
