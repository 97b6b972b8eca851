-- POST /auth/login as a random seeded guest. Data file: `guests = N`, `password = "..."`.
function load_data(path)
  dofile(path)
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local body = string.format('{"email":"guest%d@example.com","password":"%s"}', math.random(1, guests), password)
  return wrk.format("POST", "/auth/login", nil, body)
end
