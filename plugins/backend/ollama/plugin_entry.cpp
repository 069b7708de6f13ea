// The exported entry of ollama_backend.so (kept apart so tests compile the class without it).
#include "ollama_backend.hpp"

WARMUP_PLUGIN(warmup::plugins::OllamaBackend, "org.warmup.backend.ollama", "1.0.0",
              "Ollama model server over HTTP: preload with keep_alive, unload with keep_alive 0, size from /api/ps")
