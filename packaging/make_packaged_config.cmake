# Writes the packaged /etc/warmup/warmupd.yaml: configs/default.yaml (the embedded default) with the learned state
# kept in /var/lib/warmup, the StateDirectory of warmupd.service. Run with cmake -P:
#   -DINPUT=<configs/default.yaml> -DOUTPUT=<file>
# The default's plugin_dirs already include ${WARMUP_EXE_DIR}/../lib/warmup/plugins (= /usr/lib/warmup/plugins).
# The default has no top-level state: key (the package test validates the result, so a duplicate would be caught).
file(READ "${INPUT}" default_text)
file(WRITE "${OUTPUT}.tmp"
  "# /etc/warmup/warmupd.yaml — the configuration warmupd.service runs (a conffile of the warmup-host package).\n"
  "# It is configs/default.yaml of the sources plus the state block at the end. After an edit:\n"
  "#   warmupctl validate --config /etc/warmup/warmupd.yaml && systemctl reload warmupd\n"
  "\n"
  "${default_text}"
  "\n"
  "# Learned patterns, snapshots and backups: the unit's StateDirectory (writable by the warmup user only).\n"
  "state:\n"
  "  dir: /var/lib/warmup\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
