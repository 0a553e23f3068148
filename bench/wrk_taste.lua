-- wrk script: POST /taste-profile/{user_id} (pro tier) for random known users, each in one
-- of a few time zones (IANA names and an offset). Set by bench_taste.sh through the
-- environment: TT_IDS=N (users u0000000..), TT_HOT=N (users drawn from the first N only, all
-- in Europe/Paris: repeat requests, for the cached run).
local n = tonumber(os.getenv("TT_IDS") or "1000")
local hot = tonumber(os.getenv("TT_HOT") or "0")
local zones = {"UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "+05:30"}

function init(args)
   math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

function request()
   local id = string.format("u%07d", math.random(0, (hot > 0 and hot or n) - 1))
   local zone = hot > 0 and "Europe/Paris" or zones[math.random(1, #zones)]
   local body = string.format('{"model_tier": "pro", "timezone": "%s"}', zone)
   return wrk.format("POST", "/taste-profile/" .. id, {["Content-Type"] = "application/json"},
                     body)
end

function done(summary, latency, requests)
   io.write(string.format("RESULT rps=%.0f p50_ms=%.3f p99_ms=%.3f errors=%d non2xx=%d\n",
      summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
      latency:percentile(99) / 1000, summary.errors.connect + summary.errors.read +
      summary.errors.write + summary.errors.timeout, summary.errors.status))
end
