#!/bin/bash
# bench_restarts: what averaging ALS restarts costs the service. One generated catalog, the
# free tier trained twice by this tree's binary as users train it (untuned, to save time:
# --restarts 1, and --restarts 3, the default up to 2M positive pairs), each served in turn
# with the answer cache off, ROUNDS alternating rounds of wrk -t2 -c64 after a 1 s warm-up:
# uncached POST /recommend/user and /recommend/similar. Baseline in the same run: the
# one-restart models. Prints each round and the ratios of the means.
#
#   bench/bench_restarts.sh
#   DURATION=5 ROUNDS=3 USERS=20000 TRACKS=20000 INTERACTIONS=1000000 bench/bench_restarts.sh
source "$(dirname "$0")/lib.sh"
bench_setup bench_restarts
users=${USERS:-20000}
tracks=${TRACKS:-20000}
inter=${INTERACTIONS:-1000000}
rounds=${ROUNDS:-3}

echo "bench_restarts: wrk -t2 -c64 -d${dur}s on 127.0.0.1, server and wrk sharing this machine's $(nproc) cores"
echo "command: DURATION=$dur ROUNDS=$rounds USERS=$users TRACKS=$tracks INTERACTIONS=$inter bench/bench_restarts.sh"
export DATABASE_URL="sqlite:///$tmp/tt.db"
"$tt" generate --users "$users" --tracks "$tracks" --interactions "$inter" --seed 5 >/dev/null 2>&1
for r in 1 3; do
    MODEL_DIR="$tmp/r$r" "$tt" train --tier free --no-eval --no-tune --restarts "$r" 2>&1 |
        grep -E "^als: .*iterations|free tier serves" | sed "s/^/restarts $r: /"
done

wrk_rps() { # wrk_rps SECONDS PATH PREFIX IDS: "rps p50_ms p99_ms"
    eval "$(TT_PATH=$2 TT_IDS=$4 TT_PREFIX=$3 TT_HOT=0 TT_TIER=free recommend_load "$1" 64)"
    echo "$rps $p50_ms $p99_ms"
}

declare -A sum
for round in $(seq "$rounds"); do
    for r in 1 3; do
        MODEL_DIR="$tmp/r$r" serve --cache-ttl 0
        wrk_rps 1 /recommend/user u "$users" >/dev/null
        wrk_rps 1 /recommend/similar t "$tracks" >/dev/null
        read -r u u50 u99 < <(wrk_rps "$dur" /recommend/user u "$users")
        read -r s s50 s99 < <(wrk_rps "$dur" /recommend/similar t "$tracks")
        echo "round $round, restarts $r: /recommend/user $u req/s (p50 $u50 ms, p99 $u99 ms);" \
             "/recommend/similar $s req/s (p50 $s50 ms, p99 $s99 ms)"
        sum[u$r]=$(( ${sum[u$r]:-0} + u ))
        sum[s$r]=$(( ${sum[s$r]:-0} + s ))
    done
done
python3 -c "print(f'three restarts against one, mean req/s: /recommend/user {${sum[u3]}/${sum[u1]}:.2f}x, /recommend/similar {${sum[s3]}/${sum[s1]}:.2f}x')"
