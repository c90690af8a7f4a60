-- wrk script for bench/webui.py: requests at a bounded rate through the proxy.
-- BENCH_PATH: absolute-form target (the proxy forwards it); BENCH_HOST: Host header;
-- BENCH_DELAY_MS: pause per connection between requests (rate ~ connections * 1000 / delay).
-- Prints "BENCHJSON {...}" with the totals at the end.
local path = os.getenv("BENCH_PATH")
local host = os.getenv("BENCH_HOST")
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "10")
if path then wrk.path = path end
if host then wrk.headers["Host"] = host end

function delay()
   return pause
end

function done(summary, latency, requests)
   io.write(string.format('BENCHJSON {"requests": %d, "duration_us": %d, "p99_us": %d}\n',
      summary.requests, summary.duration, latency:percentile(99)))
end
