"""What scripts/hindsight-keeps.py and scripts/hindsight-evictions.py share: the configuration's catalog, resolved as
the host resolves a model's name, and the header of a `warmup-replay --dump-events` file."""

import re
import sys

try:
    import yaml
except ImportError:
    sys.exit("the hindsight scripts need PyYAML (Debian: python3-yaml, installed by scripts/install-deps.sh)")

DUMP_HEADER = ["ts_ms", "model", "count"]


def catalog_of(config_path, tool):
    """[(pattern, memory_mb, load_ms)] in the configuration's order; exits naming `tool` when there is none."""
    with open(config_path, encoding="utf-8") as f:
        config = yaml.safe_load(f)
    entries = []
    for entry in (config or {}).get("catalog") or []:
        entries.append((str(entry["model"]), float(entry["memory_mb"]), float(entry["load_ms"])))
    if not entries:
        sys.exit(f"{tool}: '{config_path}' has no catalog")
    return entries


def glob_match(pattern, name):
    """The host's globs: * any run of characters, ? one character, nothing else special."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name, re.DOTALL) is not None


def resolve(catalog, model, tool):
    """(memory_mb, load_ms) of a model: its exact name first, then the first glob with * or ? that matches."""
    for pattern, memory_mb, load_ms in catalog:
        if pattern == model:
            return memory_mb, load_ms
    for pattern, memory_mb, load_ms in catalog:
        if any(c in pattern for c in "*?") and glob_match(pattern, model):
            return memory_mb, load_ms
    sys.exit(f"{tool}: model '{model}' is not in the catalog")


def check_header(header, path, tool):
    """Exits naming `tool` unless `header` (the file's first CSV row, None if empty) is a --dump-events header."""
    if header is None or header[:3] != DUMP_HEADER:
        sys.exit(f"{tool}: '{path}' is not a --dump-events file (header ts_ms,model,count,...)")
