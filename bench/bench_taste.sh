#!/bin/bash
# bench_taste: POST /taste-profile/{user_id} (pro tier, five time zones) under wrk on
# loopback, -t2 -c64 (throughput), -t1 -c4 and -t1 -c1 (latency at light load), uncached:
# the answer cache off, so every request reads the listener's events from the store (SQLite,
# one pooled connection), computes the profile, looks up percentiles in the population
# summary and clusters the listener as the daily mixes do. Then cached (the default cache,
# 1000 hot users, warmed first), as served between two events of a listener. Prints the
# answers' mean size and the taste summary's training time first. Models:
# `tunetrail train --tier all` on a generated catalog.
#
#   bench/bench_taste.sh [TRACKS]     default: 20000
#   DURATION=10 USERS=5000 INTERACTIONS=500000 bench/bench_taste.sh 20000   (the defaults)
source "$(dirname "$0")/lib.sh"
bench_setup bench_taste
users=${USERS:-5000}
inter=${INTERACTIONS:-500000}
tracks=${1:-20000}

load() { # load LABEL THREADS CONNECTIONS
    local out
    out=$(TT_IDS=$users wrk -t"$2" -c"$3" -d"${dur}s" --latency -s bench/wrk_taste.lua \
          "http://127.0.0.1:$port" | grep RESULT)
    echo "$1 ${out#RESULT }"
}

echo "bench_taste: wrk on 127.0.0.1, server and wrk sharing this machine's $(nproc) cores"
echo "command: DURATION=$dur USERS=$users INTERACTIONS=$inter bench/bench_taste.sh $tracks"
export DATABASE_URL="sqlite:///$tmp/t.db" MODEL_DIR="$tmp/m"
"$tt" generate --users "$users" --tracks "$tracks" --interactions "$inter" --seed 7 >/dev/null
"$tt" train --tier all --no-eval --no-tune 2>/dev/null | grep '^taste'
echo "== catalog $tracks tracks, $users users, $inter interactions"
serve --cache-ttl 0
python3 - "http://127.0.0.1:$port/taste-profile" "$users" <<'PY'
import json, sys, urllib.request
sizes, sparse = [], 0
for u in range(0, int(sys.argv[2]), max(1, int(sys.argv[2]) // 50)):
    body = json.dumps({"model_tier": "pro", "timezone": "Europe/Paris"}).encode()
    req = urllib.request.Request(f"{sys.argv[1]}/u{u:07d}", body,
                                 {"Content-Type": "application/json"})
    raw = urllib.request.urlopen(req).read()
    sizes.append(len(raw)); sparse += json.loads(raw)["sparse"]
print(f"answers (50 users): {sum(sizes)/len(sizes)/1024:.1f} KiB on average, {sparse} sparse")
PY
load "uncached /taste-profile ($users users) at -t2 -c64:" 2 64
load "uncached /taste-profile ($users users) at -t1 -c4:" 1 4
load "uncached /taste-profile ($users users) at -t1 -c1:" 1 1
serve
TT_IDS=$users TT_HOT=1000 wrk -t2 -c64 -d3s -s bench/wrk_taste.lua "http://127.0.0.1:$port" >/dev/null
out=$(TT_IDS=$users TT_HOT=1000 wrk -t2 -c64 -d"${dur}s" --latency -s bench/wrk_taste.lua \
      "http://127.0.0.1:$port" | grep RESULT)
echo "cached /taste-profile (1000 hot users) at -t2 -c64: ${out#RESULT }"
