-- GET /bookings as one guest. Data file: `token = "..."`.
function load_data(path)
  dofile(path)
  wrk.headers["Authorization"] = "Bearer " .. token
end

function request()
  return wrk.format("GET", "/bookings")
end
