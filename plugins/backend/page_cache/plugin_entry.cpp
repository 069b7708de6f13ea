// The exported entry of page_cache_backend.so (kept apart so tests compile the class without it).
#include "page_cache_backend.hpp"

WARMUP_PLUGIN(warmup::plugins::page_cache::PageCacheBackend, "org.warmup.backend.page-cache", "1.0.0",
              "Page-cache warm-up: reads (optionally mlocks) a model's weight files so an mmap-ing server starts warm")
