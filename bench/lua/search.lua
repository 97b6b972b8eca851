-- GET /properties with city + price range + guests + availability, all
-- drawn per request. Data file: `cities = {{name, low, high}, ...}` with
-- each city's lower and upper quartile of nightly prices.
function load_data(path)
  dofile(path)
end

local function escape(s)
  return (s:gsub(" ", "%%20"))
end

function request()
  local city = pick(cities)
  local low = math.floor(city[2] * (0.5 + math.random() * 0.5))
  local high = math.floor(city[3] * (1 + math.random()))
  local check_in = math.random(1, 170)
  local path = string.format("/properties?city=%s&min_price=%d&max_price=%d&guests=%d&check_in=%s&check_out=%s",
    escape(city[1]), low, high, math.random(1, 4), day(check_in), day(check_in + math.random(2, 7)))
  return wrk.format("GET", path)
end
