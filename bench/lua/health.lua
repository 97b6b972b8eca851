-- Ceiling: a plain JSON answer of the same server, no database, no Redis.
wrk.method = "GET"
wrk.path = "/health"
