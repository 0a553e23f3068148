-- wrk script: POST /recommend/user (or /recommend/similar) for random known ids, as the
-- TuneTrail API service calls it. Set by bench_http.sh through the environment:
--   TT_PATH=/recommend/user|/recommend/similar  TT_IDS=N  TT_PREFIX=u|t  TT_HOT=N (ids drawn
--   from the first N only: repeat requests, for the cached runs)  TT_TIER=free|starter|...
--   TT_ID_FILE=path (ids drawn from its lines instead: a chosen set of listeners)
local path = os.getenv("TT_PATH") or "/recommend/user"
local n = tonumber(os.getenv("TT_IDS") or "1000")
local hot = tonumber(os.getenv("TT_HOT") or "0")
local prefix = os.getenv("TT_PREFIX") or "u"
local field = prefix == "t" and "track_id" or "user_id"
local tier = os.getenv("TT_TIER") or "free"
local ids = nil
if os.getenv("TT_ID_FILE") then
   ids = {}
   for line in io.lines(os.getenv("TT_ID_FILE")) do ids[#ids + 1] = line end
end

function init(args)
   math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

function request()
   local range = hot > 0 and hot or n
   local id = ids and ids[math.random(1, #ids)] or
      string.format("%s%07d", prefix, math.random(0, range - 1))
   local body = string.format('{"%s": "%s", "limit": 20, "model_tier": "%s"}', field, id, tier)
   return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
   io.write(string.format("RESULT rps=%.0f p50_ms=%.3f p99_ms=%.3f errors=%d non2xx=%d\n",
      summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
      latency:percentile(99) / 1000, summary.errors.connect + summary.errors.read +
      summary.errors.write + summary.errors.timeout, summary.errors.status))
end
