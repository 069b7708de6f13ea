-- ingest_events.lua — wrk script: every request POSTs the same 100-line NDJSON body of valid events for catalog models
-- of warmupd's embedded default configuration (configs/default.yaml), without ts_ms (the events happen "now").
-- Used for both warmupd and build/bench/bare_ingest_server (docs/benchmarks.md, "Speed"):
--   wrk -t2 -c8 -d10s -s tests/bench/ingest_events.lua http://127.0.0.1:3000/api/warmup/events
-- wrk prints "Non-2xx or 3xx responses: N" when some answers were not 200 (a refused request is not a served one);
-- there is no response() callback here, so wrk does not hand every answer to Lua and its own cost stays low.
local models = { "phi3:mini", "embed/x", "llama3:8b", "embed/y", "mistral:7b" }
local lines = {}
for i = 1, 100 do
  lines[i] = string.format('{"model":"%s","tenant":"t%d"}', models[(i - 1) % #models + 1], i % 7)
end

wrk.method = "POST"
wrk.body = table.concat(lines, "\n") .. "\n"
wrk.headers["Content-Type"] = "application/x-ndjson"
