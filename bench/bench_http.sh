#!/bin/bash
# bench_http: the HTTP service under wrk on loopback (-t2 -c64), /recommend/user uncached and
# cached and /recommend/similar, with the free tier's ALS (64 factors) and the starter tier's
# content model (FAISS index: exact up to 20,000 tracks, HNSW above) on generated catalogs.
# Baseline in the same run: GET /health (a fixed small JSON answer: the server's ceiling).
#
#   bench/bench_http.sh [TRACKS ...]     default: 20000 100000
#   DURATION=10 USERS=20000 INTERACTIONS=1000000 bench/bench_http.sh 20000
source "$(dirname "$0")/lib.sh"
bench_setup bench_http
users=${USERS:-20000}
inter=${INTERACTIONS:-1000000}

load() { # load LABEL PATH IDS PREFIX HOT [TIER]
    local out
    out=$(TT_PATH=$2 TT_IDS=$3 TT_PREFIX=$4 TT_HOT=$5 TT_TIER=${6:-free} recommend_load "$dur" 64)
    echo "$1 $out"
    eval "$out"
}

echo "bench_http: wrk -t2 -c64 -d${dur}s on 127.0.0.1, server and wrk sharing this machine's $(nproc) cores"
echo "command: DURATION=$dur USERS=$users INTERACTIONS=$inter bench/bench_http.sh ${*:-20000 100000}"
for tracks in ${@:-20000 100000}; do
    export DATABASE_URL="sqlite:///$tmp/t$tracks.db" MODEL_DIR="$tmp/m$tracks"
    "$tt" generate --users "$users" --tracks "$tracks" --interactions "$inter" --seed 5 >/dev/null
    for tier in free starter; do "$tt" train --tier "$tier" --no-eval --no-tune >/dev/null 2>&1; done
    echo "== catalog $tracks tracks, $users users, $inter interactions, ALS 64 factors," \
         "content index $(python3 -c "import json; print(json.load(open('$MODEL_DIR/faiss_indexes/content.json'))['type'])")"
    serve --cache-ttl 0
    base=$(wrk -t2 -c64 -d"${dur}s" "http://127.0.0.1:$port/health" | awk '/Requests\/sec/ {print $2}')
    echo "baseline GET /health: rps=$base"
    load "uncached /recommend/user:" /recommend/user "$users" u 0
    echo "   -> $(python3 -c "print(f'{$rps/$base:.2f}')")x of the /health ceiling"
    load "/recommend/similar (uncached):" /recommend/similar "$tracks" t 0
    load "/recommend/similar content, starter (uncached):" /recommend/similar "$tracks" t 0 starter
    serve
    TT_HOT=1000 TT_PATH=/recommend/user wrk -t2 -c64 -d2s -s bench/wrk_recommend.lua \
        "http://127.0.0.1:$port" >/dev/null
    load "cached /recommend/user (1000 hot users):" /recommend/user "$users" u 1000
    echo "   -> $(python3 -c "print(f'{$rps/$base:.2f}')")x of the /health ceiling"
done
