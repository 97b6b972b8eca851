-- POST /bookings: a random listing, random far-future dates (beyond the
-- seeded stays), a random signed-in guest. Data file: `ids = {...}`,
-- `tokens = {...}`.
function load_data(path)
  dofile(path)
end

function request()
  local check_in = math.random(200, 700)
  local body = string.format('{"property_id":"%s","check_in":"%s","check_out":"%s","guests":1}',
    pick(ids), day(check_in), day(check_in + math.random(1, 7)))
  local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. pick(tokens) }
  return wrk.format("POST", "/bookings", headers, body)
end
