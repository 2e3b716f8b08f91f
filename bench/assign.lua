-- wrk script for bench.abtests' REST assignment row: one connection, sequential
-- GET /ab-tests/{id}/assign?unit=..., a new unit each request. The environment gives TOKEN,
-- ASSIGN_PATH and PREFIX (unique per trial).
local path, prefix = os.getenv("ASSIGN_PATH"), os.getenv("PREFIX")
local headers = {["Authorization"] = "Bearer " .. os.getenv("TOKEN")}
local counter = 0

function request()
  counter = counter + 1
  return wrk.format("GET", string.format("%s?unit=%s-%d", path, prefix, counter), headers)
end
