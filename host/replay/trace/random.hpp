// replay/trace/random.hpp — the random numbers behind synthetic arrivals, written out so that a seed gives the same
// trace on every standard library (std::*_distribution algorithms are implementation-defined).
//
// RandomStream is xoshiro256** seeded through splitmix64; uniforms take the top 53 bits; normals and exponentials
// come from the Marsaglia-Tsang ziggurats (128 and 256 layers; the layer index and the value use disjoint bits of
// one 64-bit draw, which avoids the correlation Doornik found in the original); Weibull by inversion,
// lambda E^(1/k) with E = -ln U exponential; Gamma by Marsaglia-Tsang (2000) with the boost U^(1/k) = exp(-E/k)
// for k < 1. Speed matters: a ServeGen folder takes ~2.4e8 draws, and each avoided log/pow saves seconds.
// The only library math is std::log, std::exp, std::sqrt (tables included).
// Not thread-safe: one stream per thread or per series.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/fnv1a.hpp"

namespace warmup::host::replay {

/// One step of splitmix64: advances `state` and returns a well-mixed 64-bit value.
inline uint64_t splitmix64_next(uint64_t& state) noexcept {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/// A bijective mix of x (one splitmix64 output), for deriving seeds.
inline uint64_t mix64(uint64_t x) noexcept { return splitmix64_next(x); }

/// The seed of the series `name` in a trace opened with `seed`: independent of the order in which series are read.
inline uint64_t series_seed(uint64_t seed, std::string_view name) noexcept { return mix64(seed ^ fnv1a64(name)); }

/// The ziggurat's layer tables, computed once at static initialisation (random.cpp).
struct NormalZiggurat {
    NormalZiggurat() noexcept;
    static constexpr double tail_start = 3.442619855899;  // r: where the base strip's tail begins
    uint32_t k[128];  // |value bits| < k[i]: inside layer i's rectangle, accept at once
    double w[128];    // value bits x w[i] = x
    double f[128];    // exp(-x_i^2 / 2) at the layer edges
};
extern const NormalZiggurat normal_ziggurat;

/// The exponential ziggurat's tables (random.cpp).
struct ExponentialZiggurat {
    ExponentialZiggurat() noexcept;
    static constexpr double tail_start = 7.697117470131487;  // r
    uint32_t k[256];
    double w[256];
    double f[256];
};
extern const ExponentialZiggurat exponential_ziggurat;

class RandomStream {
  public:
    explicit RandomStream(uint64_t seed) noexcept {
        for (uint64_t& word : state_) word = splitmix64_next(seed);
    }

    uint64_t next_u64() noexcept {
        const uint64_t result = rotl(state_[1] * 5, 7) * 9;
        const uint64_t t = state_[1] << 17;
        state_[2] ^= state_[0];
        state_[3] ^= state_[1];
        state_[1] ^= state_[2];
        state_[0] ^= state_[3];
        state_[2] ^= t;
        state_[3] = rotl(state_[3], 45);
        return result;
    }

    /// Uniform in [0, 1), 53 random bits.
    double uniform01() noexcept { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
    /// Uniform in (0, 1): safe to take the log of.
    double uniform_open01() noexcept { return (static_cast<double>(next_u64() >> 11) + 0.5) * 0x1.0p-53; }

    /// Uniform integer in [0, bound), unbiased (Lemire's multiply-and-reject). Precondition: bound > 0.
    uint32_t below(uint32_t bound) noexcept {
        uint64_t product = static_cast<uint64_t>(static_cast<uint32_t>(next_u64() >> 32)) * bound;
        auto low = static_cast<uint32_t>(product);
        if (low < bound) {
            const uint32_t threshold = static_cast<uint32_t>(-bound) % bound;
            while (low < threshold) {
                product = static_cast<uint64_t>(static_cast<uint32_t>(next_u64() >> 32)) * bound;
                low = static_cast<uint32_t>(product);
            }
        }
        return static_cast<uint32_t>(product >> 32);
    }

    /// Standard normal (ziggurat; ~99% of draws cost one 64-bit draw and a multiply).
    double normal() noexcept {
        const NormalZiggurat& z = normal_ziggurat;
        for (;;) {
            const uint64_t bits = next_u64();
            const auto layer = static_cast<unsigned>(bits & 127);
            const auto value_bits = static_cast<int32_t>(static_cast<uint32_t>(bits >> 32));
            const double x = value_bits * z.w[layer];
            const auto magnitude = static_cast<uint32_t>(std::llabs(static_cast<int64_t>(value_bits)));
            if (magnitude < z.k[layer]) return x;
            if (layer == 0) {  // the tail beyond r, by Marsaglia's exponential method
                double tail = 0, y = 0;
                do {
                    tail = -std::log(uniform_open01()) / NormalZiggurat::tail_start;
                    y = -std::log(uniform_open01());
                } while (y + y < tail * tail);
                return value_bits > 0 ? NormalZiggurat::tail_start + tail : -NormalZiggurat::tail_start - tail;
            }
            // The wedge between the rectangle and the curve.
            if (z.f[layer] + uniform01() * (z.f[layer - 1] - z.f[layer]) < std::exp(-0.5 * x * x)) return x;
        }
    }

    /// Exponential with mean 1 (ziggurat; ~99% of draws cost one 64-bit draw and a multiply).
    double exponential() noexcept {
        const ExponentialZiggurat& z = exponential_ziggurat;
        for (;;) {
            const uint64_t bits = next_u64();
            const auto layer = static_cast<unsigned>(bits & 255);
            const auto value_bits = static_cast<uint32_t>(bits >> 32);
            const double x = value_bits * z.w[layer];
            if (value_bits < z.k[layer]) return x;
            if (layer == 0) return ExponentialZiggurat::tail_start - std::log(uniform_open01());  // memoryless tail
            if (z.f[layer] + uniform01() * (z.f[layer - 1] - z.f[layer]) < std::exp(-x)) return x;
        }
    }

  private:
    static uint64_t rotl(uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }

    uint64_t state_[4];
};

/// Weibull(shape k, scale lambda) by inversion: lambda * (-ln U)^(1/k), with -ln U drawn directly as an exponential.
/// Preconditions: shape > 0, scale > 0.
class WeibullSampler {
  public:
    WeibullSampler(double shape, double scale) noexcept : inverse_shape_(1.0 / shape), scale_(scale) {}
    double operator()(RandomStream& random) const noexcept {
        return scale_ * std::exp(std::log(random.exponential()) * inverse_shape_);
    }

  private:
    double inverse_shape_;
    double scale_;
};

/// Gamma(shape k, scale theta) by Marsaglia-Tsang; for k < 1, Gamma(k) = Gamma(k + 1) * U^(1/k).
/// Preconditions: shape > 0, scale > 0.
class GammaSampler {
  public:
    GammaSampler(double shape, double scale) noexcept
        : boost_exponent_(shape < 1.0 ? 1.0 / shape : 0.0),
          d_((shape < 1.0 ? shape + 1.0 : shape) - 1.0 / 3.0),
          c_(1.0 / std::sqrt(9.0 * d_)),
          scale_(scale) {}

    double operator()(RandomStream& random) const noexcept {
        double value = 0;
        for (;;) {
            double x = 0, v = 0;
            do {
                x = random.normal();
                v = 1.0 + c_ * x;
            } while (v <= 0.0);
            v = v * v * v;
            const double u = random.uniform_open01();
            const double x2 = x * x;
            // Squeeze first (accepts ~98% without a log), then the exact test.
            if (u < 1.0 - 0.0331 * x2 * x2 || std::log(u) < 0.5 * x2 + d_ * (1.0 - v + std::log(v))) {
                value = d_ * v;
                break;
            }
        }
        if (boost_exponent_ != 0.0) value *= std::exp(-random.exponential() * boost_exponent_);  // U^(1/k)
        return value * scale_;
    }

  private:
    double boost_exponent_;  // 1/k when k < 1, else 0
    double d_;
    double c_;
    double scale_;
};

}  // namespace warmup::host::replay
