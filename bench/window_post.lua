-- wrk script for bench.monitoring's window-post row: every request is a new (window, source) post
-- of the same pre-serialised tether.window/1 summary. The bench passes what varies in the
-- environment: BODY_FILE (the summary's JSON), REF_ID, TOKEN, POST_PATH, T0 (the first window,
-- epoch ms), WINDOWS (how many hourly windows to cycle through) and PREFIX (unique per trial).
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
local summary = f:read("*a")
f:close()
local ref, prefix, path = os.getenv("REF_ID"), os.getenv("PREFIX"), os.getenv("POST_PATH")
local t0, windows = tonumber(os.getenv("T0")), tonumber(os.getenv("WINDOWS"))
local headers = {["Authorization"] = "Bearer " .. os.getenv("TOKEN"), ["Content-Type"] = "application/json"}
local threads, counter = 0, 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function request()
  counter = counter + 1
  local ws = t0 + (counter % windows) * 3600000
  local head = string.format('{"reference_id":%s,"window_start":%.0f,"source":"%s-%d-%d","summary":',
                             ref, ws, prefix, tid, counter)
  return wrk.format("POST", path, headers, head .. summary .. "}")
end
