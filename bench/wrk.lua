-- wrk script for bench/run.py. One file, three modes chosen by the BENCH_MODE env var:
--   single  POST one JSON record per request (the shape of shared/bench/post.lua);
--   batch   POST a JSON array of BENCH_BATCH records per request;
--   get     GET the URL given on the command line.
-- POSTed records move forward in time like a live feed (replayed from BENCH_BASE, epoch
-- seconds): record number i is at minute BENCH_BASE + (i // #statuses) * 60 with status
-- statuses[i % #statuses + 1], numbering from BENCH_FIRST. Single records use only the four
-- statuses the seed peer accepts; batches use seven, like the filled read databases.
-- In every mode done() prints one line "BENCH_JSON {...}" with the figures run.py reads.

local mode = os.getenv("BENCH_MODE") or "get"
local base = tonumber(os.getenv("BENCH_BASE") or "") or (os.time() - 30 * 86400)
base = base - base % 60
local first = tonumber(os.getenv("BENCH_FIRST") or "") or 0
local headers = {["Content-Type"] = "application/json"}

local function record(i, statuses, usual)
  local k = i % #statuses
  local minute = base + math.floor(i / #statuses) * 60
  local level = usual[k + 1]
  -- The same deterministic count as bench/run.py's record_rows().
  local count = level + (i * 7919) % (math.floor(level / 2) + 2) - math.floor(level / 4)
  return string.format('{"timestamp":"%s","status":"%s","count":%d}',
    os.date("!%Y-%m-%d %H:%M:00", minute), statuses[k + 1], count)
end

if mode == "single" then
  local statuses = {"approved", "denied", "failed", "reversed"}
  local usual = {180, 25, 12, 4}
  local n = first
  request = function()
    local body = record(n, statuses, usual)
    n = n + 1
    return wrk.format("POST", nil, headers, body)
  end
elseif mode == "batch" then
  local statuses = {"approved", "denied", "failed", "reversed", "refunded", "pending",
                    "chargeback"}
  local usual = {180, 25, 12, 4, 3, 9, 1}
  local size = tonumber(os.getenv("BENCH_BATCH") or "") or 1000
  local n = first
  request = function()
    local parts = {}
    for j = 1, size do
      parts[j] = record(n + j - 1, statuses, usual)
    end
    n = n + size
    return wrk.format("POST", nil, headers, "[" .. table.concat(parts, ",") .. "]")
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"non2xx":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p95_us":%d,' ..
    '"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency.max, latency.mean))
end
