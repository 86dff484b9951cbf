-- wrk script for the bench's pay step: each request is a POST of the checkout's form with the next
-- ConfirmationToken of a file read at start (a token pays once), and the thread stops when they
-- run out. It counts the paid answers (a 200 whose body is the receipt) and every answer that is
-- not a 200, and prints the results as one JSON line that tests/perf/load.py parses. Arguments
-- after `--`:
--   <file of tokens, one a line> <the form's other fields, URL-encoded>

local tokens = {}
local form = ""
local sent = 0
local threads = {}
-- Globals: done() reads them from each thread's own state.
paid = 0
not_200 = 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    if line ~= "" then
      table.insert(tokens, line)
    end
  end
  form = args[2] or ""
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function request()
  sent = sent + 1
  if sent > #tokens then
    wrk.thread:stop()
    sent = #tokens
  end
  return wrk.format(nil, nil, nil, form .. "&confirmation_token=" .. tokens[sent])
end

function response(status, headers, body)
  if status ~= 200 then
    not_200 = not_200 + 1
  elseif string.find(body, 'data-outcome="succeeded"', 1, true) then
    paid = paid + 1
  end
end

function done(summary, latency, requests)
  local errors = summary.errors
  local status, receipts = errors.status, 0
  local counted = 0
  for _, thread in ipairs(threads) do
    counted = counted + (tonumber(thread:get("not_200")) or 0)
    receipts = receipts + (tonumber(thread:get("paid")) or 0)
  end
  if counted > status then
    status = counted
  end
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "paid": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"min": %d, "mean": %.1f, "max": %d, "p50": %d, "p95": %d, "p99": %d}}\n',
    summary.requests, summary.duration, summary.bytes, receipts,
    errors.connect, errors.read, errors.write, status, errors.timeout,
    latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
