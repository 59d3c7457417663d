-- wrk script: GET random byte ranges (BENCH_CHUNK bytes, default 64 KiB) of
-- a BENCH_SIZE-byte file on keep-alive connections; prints one summary line.
local size = tonumber(os.getenv("BENCH_SIZE"))
local chunk = tonumber(os.getenv("BENCH_CHUNK") or "65536")
local counter = 0

setup = function(thread)
  counter = counter + 1
  thread:set("seed", counter)
end

init = function(args)
  math.randomseed(os.time() + (seed or 0) * 7919)
end

request = function()
  local start = math.random(0, size - chunk)
  return wrk.format("GET", nil, { ["Range"] = "bytes=" .. start .. "-" .. (start + chunk - 1) })
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH p50_us=%d p99_us=%d requests=%d duration_us=%d errors=%d\n",
    latency:percentile(50), latency:percentile(99), summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout))
end
