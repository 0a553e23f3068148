#!/bin/bash
# bench_radio: POST /radio/generate under wrk on loopback (-t2; -c64 for throughput, then -c32,
# -c16, -c10 (wrk's default) and -c8
# for latency as queueing behind the connections shrinks): pages of 25 tracks
# continuing stations through their cursors (every answer's cursor is sent back on a later
# request), and, apart, first pages of new stations (each builds its seed's pool: a catalog
# scan). Starter tier (ALS 64 factors + content vectors) on a generated catalog.
# Baseline in the same run: GET /health (the server's ceiling).
#
#   bench/bench_radio.sh [TRACKS]        default: 20000
#   DURATION=10 USERS=20000 INTERACTIONS=1000000 STATIONS=512 bench/bench_radio.sh 20000
source "$(dirname "$0")/lib.sh"
bench_setup bench_radio
users=${USERS:-20000}
inter=${INTERACTIONS:-1000000}
stations=${STATIONS:-512}
tracks=${1:-20000}
# Each of the 64 connections needs a cursor in flight: fewer stations leave wrk without one.
[ "$stations" -ge 128 ] || { echo "bench_radio: STATIONS must be at least 128"; exit 2; }

echo "bench_radio: wrk -t2 -c64 -d${dur}s on 127.0.0.1, server and wrk sharing this machine's $(nproc) cores"
echo "command: DURATION=$dur USERS=$users INTERACTIONS=$inter STATIONS=$stations bench/bench_radio.sh $tracks"
export DATABASE_URL="sqlite:///$tmp/t.db" MODEL_DIR="$tmp/m"
"$tt" generate --users "$users" --tracks "$tracks" --interactions "$inter" --seed 5 >/dev/null
for tier in free starter; do "$tt" train --tier "$tier" --no-eval --no-tune >/dev/null 2>&1; done
serve --cache-ttl 0
echo "== catalog $tracks tracks, $users users, $inter interactions; $stations stations, starter tier"

# Each station's first page (its pool then sits in the cache), its cursor kept.
/usr/bin/python3 - "$port" "$stations" "$tracks" >"$tmp/cursors" <<'PY'
import random, sys, httpx
port, n, tracks = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
c = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
random.seed(5)
for i in range(n):
    r = c.post("/radio/generate", json={"track_id": f"t{random.randrange(tracks):07d}",
                                        "limit": 25, "model_tier": "starter"})
    r.raise_for_status()
    print(r.json()["cursor"])
PY
echo "cursor length after the first page: $(awk '{ n += length($0) } END { printf "%.0f", n / NR }' "$tmp/cursors") bytes (mean)"

# One station over 1,000 tracks: its similarity to the seed per 100 tracks (does it drift?).
/usr/bin/python3 - "$port" <<'PY'
import sys, httpx
c = httpx.Client(base_url=f"http://127.0.0.1:{sys.argv[1]}", timeout=30)
body, played = {"track_id": "t0000042", "limit": 100, "model_tier": "starter"}, []
for _ in range(10):
    d = c.post("/radio/generate", json=body).json()
    played += d["tracks"]
    body = {"cursor": d["cursor"], "limit": 100}
ids = [t["track_id"] for t in played]
means = [sum(t["score"] for t in played[i:i + 100]) / 100 for i in range(0, 1000, 100)]
print(f"one station, 1,000 tracks: {len(set(ids))} distinct, cursor {len(d['cursor'])} bytes, "
      "similarity to the seed per 100 tracks: " + " ".join(f"{m:.2f}" for m in means))
PY

base=$(wrk -t2 -c64 -d"${dur}s" "http://127.0.0.1:$port/health" | awk '/Requests\/sec/ {print $2}')
echo "baseline GET /health: rps=$base"
for conns in 64 32 16 10 8; do
    out=$(TT_CURSORS=$tmp/cursors wrk -t2 -c$conns -d"${dur}s" --latency -s bench/wrk_radio.lua \
          "http://127.0.0.1:$port" | grep RESULT)
    echo "next pages (cursor, 25 tracks), -c$conns: ${out#RESULT }"
done
out=$(TT_CURSORS=$tmp/cursors TT_NEW=1 TT_IDS=$tracks wrk -t2 -c64 -d"${dur}s" --latency \
      -s bench/wrk_radio.lua "http://127.0.0.1:$port" | grep RESULT)
echo "first pages of new stations (random track seeds, 25 tracks): ${out#RESULT }"
