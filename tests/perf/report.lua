-- wrk script for the benchmark: an optional pause between requests (for a light probe), a request
-- budget per thread (so a run is bounded by count as well as by time), and the results as one JSON
-- line that tests/perf/load.py parses. Arguments after `--`: <max requests per thread> <pause ms>.

local budget = 0
local pause_ms = 0
local sent = 0

function init(args)
  budget = tonumber(args[1]) or 0
  pause_ms = tonumber(args[2]) or 0
end

function delay()
  return pause_ms
end

function request()
  sent = sent + 1
  if budget > 0 and sent > budget then
    wrk.thread:stop()
  end
  return wrk.format()
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"min": %d, "mean": %.1f, "max": %d, "p50": %d, "p95": %d, "p99": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
