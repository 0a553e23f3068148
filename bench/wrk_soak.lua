-- wrk script of bench/soak.sh: a mixed load that rotates over the request types a player
-- sends, each for a random user or track of a hot set: /recommend/user (free and starter),
-- /recommend/similar, /daily-mix, /radio/generate (new stations, and next pages through the
-- cursors of earlier answers) and /feedback (with an event_id, as a client that retries).
--   TT_USERS=N   users u0000000..N-1     TT_FB_USERS=N  users sending feedback (first N)
--   TT_TRACKS=N  tracks t0000000..N-1
-- Prints "RESULT requests=.. seconds=.. rps=.. socket_errors=.. (connect=.. read=.. write=..
-- timeout=..) p50_ms=.. p99_ms=.." and "STATUS <code>=<count> ..." over every thread.
local users = tonumber(os.getenv("TT_USERS") or "2000")
local fb_users = tonumber(os.getenv("TT_FB_USERS") or "500")
local tracks = tonumber(os.getenv("TT_TRACKS") or "5000")
local actions = {"play", "play", "like", "skip", "save"}
local threads = {}

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

function init(args)
   math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
   statuses = {}
   cursors, head, tail = {}, 1, 0
   n = 0
end

local function post(path, body)
   return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end

local function user(range)
   return string.format("u%07d", math.random(0, range - 1))
end

local function track()
   return string.format("t%07d", math.random(0, tracks - 1))
end

local function radio()
   if tail >= head and math.random() < 0.7 then
      local c = cursors[head]
      cursors[head] = nil
      head = head + 1
      return post("/radio/generate", string.format('{"cursor": "%s", "limit": 25}', c))
   end
   return post("/radio/generate", string.format(
      '{"track_id": "%s", "user_id": "%s", "limit": 25, "model_tier": "starter"}', track(),
      user(users)))
end

function request()
   n = n + 1
   local k = n % 6
   if k == 0 then
      return post("/recommend/user", string.format('{"user_id": "%s", "limit": 20}', user(users)))
   elseif k == 1 then
      return post("/recommend/user", string.format(
         '{"user_id": "%s", "limit": 20, "model_tier": "starter"}', user(users)))
   elseif k == 2 then
      return post("/recommend/similar", string.format(
         '{"track_id": "%s", "limit": 10, "model_tier": "starter"}', track()))
   elseif k == 3 then
      return post("/daily-mix", string.format(
         '{"user_id": "%s", "mixes": 4, "tracks_per_mix": 25, "model_tier": "starter"}',
         user(users)))
   elseif k == 4 then
      return radio()
   end
   return post("/feedback", string.format(
      '{"user_id": "%s", "track_id": "%s", "action": "%s", "event_id": "soak-%d-%d-%d"}',
      user(fb_users), track(), actions[math.random(#actions)], tid, os.time(), n))
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   local c = body:match('"cursor":"([^"]+)"')
   if c and tail - head < 200 then
      tail = tail + 1
      cursors[tail] = c
   end
end

function done(summary, latency, requests)
   local total, codes = {}, {}
   for _, t in ipairs(threads) do
      for code, count in pairs(t:get("statuses")) do
         if not total[code] then
            table.insert(codes, code)
         end
         total[code] = (total[code] or 0) + count
      end
   end
   table.sort(codes)
   local e = summary.errors
   io.write(string.format("RESULT requests=%d seconds=%.1f rps=%.1f socket_errors=%d " ..
      "connect=%d read=%d write=%d timeout=%d p50_ms=%.2f p99_ms=%.2f\n", summary.requests,
      summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
      e.connect + e.read + e.write + e.timeout, e.connect, e.read, e.write, e.timeout,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000))
   local parts = {}
   for _, code in ipairs(codes) do
      table.insert(parts, string.format("%d=%d", code, total[code]))
   end
   io.write("STATUS " .. table.concat(parts, " ") .. "\n")
end
