-- wrk script for bench.abtests' outcome-post row: each request is POST /ab-tests/{id}/outcomes with
-- one arm's two windows (the primary proportion metric and the latency guardrail), as the Python
-- producers of the informational row send them: arms alternate, 200 one-minute windows per arm are
-- re-posted in turn (idempotent upserts of the same (arm, metric, window, source)). The environment
-- gives TOKEN, POST_PATH, ARMS (comma-separated), WINDOWS and PREFIX (unique per trial, the source).
local path, prefix = os.getenv("POST_PATH"), os.getenv("PREFIX")
local windows = tonumber(os.getenv("WINDOWS"))
local arms = {}
for arm in string.gmatch(os.getenv("ARMS"), "[^,]+") do
  arms[#arms + 1] = arm
end
local headers = {["Authorization"] = "Bearer " .. os.getenv("TOKEN"), ["Content-Type"] = "application/json"}
local threads, counter = 0, 0
local n = 500
local sum, sum_sq = 100.0 * n, 100.0 * 100.0 * n + 25.0 * (n - 1)

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  math.randomseed(tid + 1)
end

function request()
  counter = counter + 1
  local arm = arms[counter % #arms + 1]
  local ws = (math.floor(counter / #arms) % windows) * 60000
  local source = string.format("%s-%d", prefix, tid)
  local body = string.format(
    '{"windows":[{"arm":"%s","window_start":%d,"source":"%s","n":%d,"successes":%d},'
      .. '{"arm":"%s","metric":"latency_ms","window_start":%d,"source":"%s","n":%d,'
      .. '"sum":%.1f,"sum_sq":%.1f,"events":%d}]}',
    arm, ws, source, n, math.random(40, 60), arm, ws, source, n, sum, sum_sq, n)
  return wrk.format("POST", path, headers, body)
end
