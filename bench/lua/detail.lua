-- GET /properties/{id}, ids drawn from the data file (`ids = {...}`).
function load_data(path)
  dofile(path)
end

function request()
  return wrk.format("GET", "/properties/" .. pick(ids))
end
