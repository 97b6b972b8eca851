-- Appended to a scenario: each connection waits `pace_ms` (default 20)
-- before each request, for a steady rate rather than the most the server
-- takes (one connection at 20 ms: at most 50 requests/s).
function delay()
  return pace_ms or 20
end
