// The exported entry of vllm_backend.so (kept apart so tests compile the class without it).
#include "vllm_backend.hpp"

WARMUP_PLUGIN(warmup::plugins::VllmBackend, "org.warmup.backend.vllm", "1.0.0",
              "vLLM servers: a model is loaded when its server is awake (sleep mode) or its LoRA adapter is loaded")
