// The exported entry of triton_backend.so (kept apart so tests compile the class without it).
#include "triton_backend.hpp"

WARMUP_PLUGIN(warmup::plugins::TritonBackend, "org.warmup.backend.triton", "1.0.0",
              "Triton Inference Server backend: loads and unloads models through the model repository HTTP API "
              "(explicit model-control mode)")
