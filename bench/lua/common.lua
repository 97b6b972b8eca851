-- Shared by every scenario (prepended to it by bench/run.sh): per-thread
-- random seeds and status counts, and one RESULT line at the end that
-- run.sh parses. A scenario defines `request()` and may read its data
-- file, named by the first argument after `--`, in `load(path)`.

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

counts = {}

function init(args)
  math.randomseed(os.time() * 100 + (id or 1) * 7919)
  if load_data and args[1] then
    load_data(args[1])
  end
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  if on_response then
    on_response(status, headers, body)
  end
end

-- A date `days` after today (UTC), as YYYY-MM-DD.
function day(days)
  return os.date("!%Y-%m-%d", os.time() + days * 86400)
end

function pick(list)
  return list[math.random(#list)]
end

function done(summary, latency, requests)
  local statuses, non2xx = {}, 0
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("counts")) do
      statuses[status] = (statuses[status] or 0) + n
      if status < 200 or status > 299 then
        non2xx = non2xx + n
      end
    end
  end
  local parts = {}
  for status, n in pairs(statuses) do
    table.insert(parts, status .. ":" .. n)
  end
  table.sort(parts)
  local e = summary.errors
  io.write(string.format("RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d non2xx=%d socket=%d statuses=%s\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), non2xx,
    e.connect + e.read + e.write + e.timeout, table.concat(parts, ",")))
end
