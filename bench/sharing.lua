-- wrk script of the sharing benchmark (bench/sharing.py): each connection cycles through a
-- file of prepared requests (one per line: method, path, API key, JSON body, tab-separated),
-- starting at its own offset, counts the answers by status, and prints one JSON line.
--   wrk -t1 -c32 -d60s --latency -s bench/sharing.lua URL -- REQUESTS_FILE

local threads = {}

function setup(thread)
  thread:set("offset", #threads)
  table.insert(threads, thread)
end

function init(args)
  prepared = {}
  for line in io.lines(args[1]) do
    local method, path, key, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    local headers = {["X-API-Key"] = key}
    if body ~= "" then headers["Content-Type"] = "application/json" else body = nil end
    table.insert(prepared, wrk.format(method, path, headers, body))
  end
  -- spread the threads over the file so that they do not ask the same things
  position = math.floor(#prepared * offset / 8)
  sent = 0
  statuses = {}
end

function request()
  position = position % #prepared + 1
  sent = sent + 1
  return prepared[position]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts, total_sent = {}, 0
  for _, thread in ipairs(threads) do
    total_sent = total_sent + thread:get("sent")
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(counts) do
    table.insert(parts, string.format('"%d": %d', status, n))
  end
  local e = summary.errors
  io.write(string.format(
    '\nWRK_JSON {"requests": %d, "sent": %d, "duration_us": %d, "statuses": {%s}, '
      .. '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, '
      .. '"non_2xx": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, total_sent, summary.duration, table.concat(parts, ", "),
    e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    latency.mean))
end
