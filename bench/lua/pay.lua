-- POST /payments for pending bookings, each once: thread k of n pays
-- entries k, k+n, k+2n… of `pay = {{booking_id, token}, ...}` and stops
-- when its share is done. wrk still runs for its whole duration: the
-- rate comes from the payments' timestamps, not from wrk.
function load_data(path)
  dofile(path)
  next_index = id or 1
end

function request()
  local entry = pay[next_index]
  if not entry then
    -- Nothing left to pay: stop this thread (a cheap request fills the slot).
    wrk.thread:stop()
    return wrk.format("GET", "/health")
  end
  next_index = next_index + threads_count
  local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. entry[2] }
  return wrk.format("POST", "/payments", headers, string.format('{"booking_id":"%s"}', entry[1]))
end
