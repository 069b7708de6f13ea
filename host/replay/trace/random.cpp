// replay/trace/random.cpp — the ziggurat tables of random.hpp (Marsaglia & Tsang 2000: normal 128 layers,
// exponential 256 layers).
#include "replay/trace/random.hpp"

namespace warmup::host::replay {

NormalZiggurat::NormalZiggurat() noexcept {
    constexpr double scale = 2147483648.0;  // 2^31: value bits are a signed 32-bit integer
    constexpr double layer_area = 9.91256303526217e-3;
    double edge = tail_start;
    double previous_edge = edge;
    const double q = layer_area / std::exp(-0.5 * edge * edge);
    k[0] = static_cast<uint32_t>((edge / q) * scale);
    k[1] = 0;
    w[0] = q / scale;
    w[127] = edge / scale;
    f[0] = 1.0;
    f[127] = std::exp(-0.5 * edge * edge);
    for (int i = 126; i >= 1; --i) {
        edge = std::sqrt(-2.0 * std::log(layer_area / edge + std::exp(-0.5 * edge * edge)));
        k[i + 1] = static_cast<uint32_t>((edge / previous_edge) * scale);
        previous_edge = edge;
        f[i] = std::exp(-0.5 * edge * edge);
        w[i] = edge / scale;
    }
}

ExponentialZiggurat::ExponentialZiggurat() noexcept {
    constexpr double scale = 4294967296.0;  // 2^32: value bits are an unsigned 32-bit integer
    constexpr double layer_area = 3.949659822581572e-3;
    double edge = tail_start;
    double previous_edge = edge;
    const double q = layer_area / std::exp(-edge);
    k[0] = static_cast<uint32_t>((edge / q) * scale);
    k[1] = 0;
    w[0] = q / scale;
    w[255] = edge / scale;
    f[0] = 1.0;
    f[255] = std::exp(-edge);
    for (int i = 254; i >= 1; --i) {
        edge = -std::log(layer_area / edge + std::exp(-edge));
        k[i + 1] = static_cast<uint32_t>((edge / previous_edge) * scale);
        previous_edge = edge;
        f[i] = std::exp(-edge);
        w[i] = edge / scale;
    }
}

const NormalZiggurat normal_ziggurat;
const ExponentialZiggurat exponential_ziggurat;

}  // namespace warmup::host::replay
