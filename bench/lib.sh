# Sourced by the wrk benchmarks (bench_http.sh, bench_mix.sh, bench_radio.sh): builds the
# binary and sets tt (its path), dur (DURATION, seconds per wrk run), tmp (a scratch folder
# removed on exit) and port (a free loopback port); serve ARGS... starts `tunetrail serve` there
# (stopping the previous one) and waits for /health; recommend_load runs bench/wrk_recommend.lua.
#
#   bench_setup NAME
set -eu
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bench_setup() {
    make -s build/tunetrail
    tt=$PWD/build/tunetrail
    dur=${DURATION:-10}
    tmp=$(mktemp -d "/tmp/$1.XXXXXX")
    pid=
    trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
}

serve() { # serve ARGS...: start the server, wait for /health
    [ -n "$pid" ] && { kill "$pid"; wait "$pid" 2>/dev/null || true; }
    "$tt" serve --host 127.0.0.1 --port "$port" --no-access-log "$@" 2>"$tmp/serve.log" &
    pid=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && return; sleep 0.1; done
    echo "server did not start"; cat "$tmp/serve.log"; exit 1
}

recommend_load() { # TT_PATH=... [TT_IDS TT_PREFIX TT_HOT TT_TIER TT_ID_FILE] recommend_load SECONDS CONNECTIONS
    # wrk_recommend.lua against the server: prints "rps=N p50_ms=X p99_ms=Y errors=N non2xx=N"
    local out
    out=$(wrk -t2 -c"$2" -d"$1s" --latency -s bench/wrk_recommend.lua "http://127.0.0.1:$port" |
          grep RESULT)
    echo "${out#RESULT }"
}
