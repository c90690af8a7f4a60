-- wrk script for bench/run.sh.
-- BENCH_PATH: request target, e.g. "http://127.0.0.1:8080/100b" (absolute-form, for a
--             proxy) or "/100b" (origin-form, direct to the origin).
-- BENCH_HOST: Host header value (the origin's host:port).
-- Prints one line "BENCHJSON {...}" at the end with totals and latency percentiles (µs).
-- BENCH_VARIANTS: N > 0 cycles through BENCH_PATH .. ".0" .. ".N-1" (distinct
--             bodies of one kind, bench/benchlib.py KIND_VARIANTS).
local path = os.getenv("BENCH_PATH")
local host = os.getenv("BENCH_HOST")
local variants = tonumber(os.getenv("BENCH_VARIANTS") or "0") or 0
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0") or 0
if path then wrk.path = path end
if host then wrk.headers["Host"] = host end
if variants > 0 then
   local n = 0
   request = function()
      n = n + 1
      return wrk.format(nil, wrk.path .. "." .. (n % variants))
   end
end

-- BENCH_DELAY_MS: N > 0 waits N ms after each response before a connection's next
--             request: an offered load of about connections x 1000 / N req/s, the same
--             for every target (bench/run.sh DELAY_MS).
if pause > 0 then
   delay = function() return pause end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCHJSON {"requests": %d, "bytes": %d, "duration_us": %d, ' ..
      '"p50_us": %d, "p99_us": %d, "max_us": %d, "errors": {"connect": %d, ' ..
      '"read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
      summary.requests, summary.bytes, summary.duration,
      latency:percentile(50), latency:percentile(99), latency.max,
      e.connect, e.read, e.write, e.status, e.timeout))
end
