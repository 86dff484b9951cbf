-- wrk script for the benchmark: an optional pause between requests (for a light probe), a request
-- budget per thread (so a run is bounded by count as well as by time), optionally paths to take
-- turns over (one per line of a file: so that many distinct URLs are asked for) and a count of every
-- answer that is not 2xx (wrk itself counts only 4xx and 5xx), and the results as one JSON line that
-- tests/perf/load.py parses. Arguments after `--`:
--   <max requests per thread> <pause ms> [<file of paths, or -> [<1: count non-2xx answers>]]

local budget = 0
local pause_ms = 0
local sent = 0
local paths = nil
local turn = 0
local threads = {}
-- A global: done() reads it from each thread's own state.
not_2xx = 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  budget = tonumber(args[1]) or 0
  pause_ms = tonumber(args[2]) or 0
  if args[3] and args[3] ~= "-" then
    paths = {}
    for line in io.lines(args[3]) do
      if line ~= "" then
        table.insert(paths, line)
      end
    end
  end
  if args[4] == "1" then
    -- Defined only when asked for: with it wrk hands every answer's headers and body to Lua.
    response = function(status, headers, body)
      if status < 200 or status > 299 then
        not_2xx = not_2xx + 1
      end
    end
  end
end

function delay()
  return pause_ms
end

function request()
  sent = sent + 1
  if budget > 0 and sent > budget then
    wrk.thread:stop()
  end
  if paths then
    turn = turn % #paths + 1
    return wrk.format(nil, paths[turn])
  end
  return wrk.format()
end

function done(summary, latency, requests)
  local errors = summary.errors
  -- Answers that were not 2xx: wrk's count (4xx, 5xx) unless this script counted them all.
  local status = errors.status
  local counted = 0
  for _, thread in ipairs(threads) do
    counted = counted + (tonumber(thread:get("not_2xx")) or 0)
  end
  if counted > status then
    status = counted
  end
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"min": %d, "mean": %.1f, "max": %d, "p50": %d, "p95": %d, "p99": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    errors.connect, errors.read, errors.write, status, errors.timeout,
    latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
