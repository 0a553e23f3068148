#!/bin/bash
# bench_mix: POST /daily-mix (6 mixes x 50 tracks, starter tier) under wrk on loopback
# (-t2 -c64; uncached also -t2 -c10, wrk's default, and -t1 -c4 for the latency at light load): uncached (every request computed:
# the answer cache off, and again with "refresh": true against a live cache), and cached
# (1000 hot users), beside a cached /recommend/user of the same run. Prints the answers'
# mean size first: listeners with little history get fewer than 6 mixes. Models: ALS (64 factors), content, popularity, trained
# with `tunetrail train --tier free` and `--tier starter` on a generated catalog.
#
#   bench/bench_mix.sh [TRACKS]     default: 20000
#   DURATION=10 USERS=5000 INTERACTIONS=1000000 bench/bench_mix.sh 20000   (the defaults)
#   BASE=/path/to/older/tunetrail bench/bench_mix.sh 100000
# With BASE, the uncached loads are run by both binaries on the same models, alternated
# (base, this, base, this), before the rest: a side-by-side comparison under the same load.
source "$(dirname "$0")/lib.sh"
bench_setup bench_mix
users=${USERS:-5000}
inter=${INTERACTIONS:-1000000}
tracks=${1:-20000}

load() { # load LABEL HOT REFRESH
    local out
    out=$(TT_IDS=$users TT_HOT=$2 TT_REFRESH=$3 wrk -t2 -c64 -d"${dur}s" --latency \
          -s bench/wrk_mix.lua "http://127.0.0.1:$port" | grep RESULT)
    echo "$1 ${out#RESULT }"
}

echo "bench_mix: wrk -t2 -c64 -d${dur}s on 127.0.0.1, server and wrk sharing this machine's $(nproc) cores"
echo "command: DURATION=$dur USERS=$users INTERACTIONS=$inter${BASE:+ BASE=$BASE} bench/bench_mix.sh $tracks"
export DATABASE_URL="sqlite:///$tmp/t.db" MODEL_DIR="$tmp/m"
"$tt" generate --users "$users" --tracks "$tracks" --interactions "$inter" --seed 5 >/dev/null
for tier in free starter; do "$tt" train --tier "$tier" --no-eval --no-tune >/dev/null 2>&1; done
echo "== catalog $tracks tracks, $users users, $inter interactions"
serve --cache-ttl 0
python3 - "http://127.0.0.1:$port/daily-mix" "$users" <<'PY'
import json, sys, urllib.request
sizes, mixes, tracks = [], [], []
for u in range(0, int(sys.argv[2]), max(1, int(sys.argv[2]) // 50)):
    body = json.dumps({"user_id": f"u{u:07d}", "mixes": 6, "tracks_per_mix": 50,
                       "model_tier": "starter"}).encode()
    req = urllib.request.Request(sys.argv[1], body, {"Content-Type": "application/json"})
    raw = urllib.request.urlopen(req).read()
    d = json.loads(raw)
    sizes.append(len(raw)); mixes.append(len(d["mixes"]))
    tracks.append(sum(len(m["tracks"]) for m in d["mixes"]))
n = len(sizes)
print(f"answers (50 users): {sum(mixes)/n:.1f} mixes, {sum(tracks)/n:.0f} tracks, "
      f"{sum(sizes)/n/1024:.1f} KiB on average")
PY
uncached() { # uncached PREFIX: the server's answer cache is off: -c64, -t2 -c10, -t1 -c4
    local out
    load "${1}uncached /daily-mix (cache off, $users users):" 0 0
    out=$(TT_IDS=$users TT_HOT=0 TT_REFRESH=0 wrk -t2 -c10 -d"${dur}s" --latency \
          -s bench/wrk_mix.lua "http://127.0.0.1:$port" | grep RESULT)
    echo "${1}uncached /daily-mix at -t2 -c10 (wrk's default; cache off): ${out#RESULT }"
    out=$(TT_IDS=$users TT_HOT=0 TT_REFRESH=0 wrk -t1 -c4 -d"${dur}s" --latency \
          -s bench/wrk_mix.lua "http://127.0.0.1:$port" | grep RESULT)
    echo "${1}uncached /daily-mix at -t1 -c4 (cache off): ${out#RESULT }"
}

if [ -n "${BASE:-}" ]; then
    this=$tt
    for round in 1 2; do
        for b in base this; do
            [ $b = base ] && tt=$BASE || tt=$this
            serve --cache-ttl 0
            uncached "round $round, $b: "
        done
    done
    tt=$this
    serve --cache-ttl 0
fi
uncached ""
serve
load "uncached /daily-mix (refresh: true, $users users):" 0 1
TT_IDS=$users TT_HOT=1000 wrk -t2 -c64 -d2s -s bench/wrk_mix.lua "http://127.0.0.1:$port" >/dev/null
load "cached /daily-mix (1000 hot users):" 1000 0
TT_HOT=1000 TT_PATH=/recommend/user wrk -t2 -c64 -d2s -s bench/wrk_recommend.lua \
    "http://127.0.0.1:$port" >/dev/null
echo "cached /recommend/user (1000 hot users, limit 20):" \
     "$(TT_PATH=/recommend/user TT_IDS=$users TT_PREFIX=u TT_HOT=1000 recommend_load "$dur" 64)"
