-- wrk script: POST /daily-mix (6 mixes of 50 tracks, starter tier) for random known users.
-- Set by bench_mix.sh through the environment: TT_IDS=N (users u0000000..), TT_HOT=N (users
-- drawn from the first N only: repeat requests, for the cached run), TT_REFRESH=1 (ask for
-- "refresh": true: recomputed even when cached).
local n = tonumber(os.getenv("TT_IDS") or "1000")
local hot = tonumber(os.getenv("TT_HOT") or "0")
local refresh = os.getenv("TT_REFRESH") == "1" and ', "refresh": true' or ""

function init(args)
   math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

function request()
   local range = hot > 0 and hot or n
   local id = string.format("u%07d", math.random(0, range - 1))
   local body = string.format('{"user_id": "%s", "mixes": 6, "tracks_per_mix": 50, ' ..
                              '"model_tier": "starter"%s}', id, refresh)
   return wrk.format("POST", "/daily-mix", {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
   io.write(string.format("RESULT rps=%.0f p50_ms=%.3f p99_ms=%.3f errors=%d non2xx=%d\n",
      summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
      latency:percentile(99) / 1000, summary.errors.connect + summary.errors.read +
      summary.errors.write + summary.errors.timeout, summary.errors.status))
end
