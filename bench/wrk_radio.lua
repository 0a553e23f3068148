-- wrk script: POST /radio/generate continuing stations through their cursors, as a player
-- asks for its next page. bench_radio.sh writes one starting cursor per line to TT_CURSORS;
-- each answer's cursor is queued and sent on a later request, so every station keeps going.
--   TT_LIMIT=N (tracks per page, default 25)  TT_NEW=1 (start new stations from random
--   track seeds t0000000..TT_IDS-1 instead: the pool is built per request)
local limit = tonumber(os.getenv("TT_LIMIT") or "25")
local new = os.getenv("TT_NEW") == "1"
local n = tonumber(os.getenv("TT_IDS") or "1000")
local tier = os.getenv("TT_TIER") or "starter"
local queue, head, tail = {}, 1, 0

function init(args)
   math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
   for line in io.lines(os.getenv("TT_CURSORS")) do
      tail = tail + 1
      queue[tail] = line
   end
end

function request()
   local body
   if new then
      body = string.format('{"track_id": "t%07d", "limit": %d, "model_tier": "%s"}',
                           math.random(0, n - 1), limit, tier)
   else
      local c = queue[head]
      queue[head] = nil
      head = head + 1
      body = string.format('{"cursor": "%s", "limit": %d}', c, limit)
   end
   return wrk.format("POST", "/radio/generate", {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
   local c = body:match('"cursor":"([^"]+)"')
   if c and not new then
      tail = tail + 1
      queue[tail] = c
   end
end

function done(summary, latency, requests)
   io.write(string.format("RESULT rps=%.0f p50_ms=%.3f p99_ms=%.3f errors=%d non2xx=%d\n",
      summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
      latency:percentile(99) / 1000, summary.errors.connect + summary.errors.read +
      summary.errors.write + summary.errors.timeout, summary.errors.status))
end
