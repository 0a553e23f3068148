#!/bin/bash
# soak: the service under a long mixed wrk load on loopback (bench/wrk_soak.lua: lists for
# users, similar tracks, daily mixes, radio pages continued through their cursors, feedback),
# with POST /models/reload every RELOAD_EVERY seconds, on a generated data set trained for the
# free and starter tiers. Samples the server's resident memory (VmRSS) every SAMPLE_EVERY
# seconds and prints: requests, rps, answers by status, socket errors, reloads, RSS after the
# warm-up and at the end, and the growth between them (each the lowest sample over one reload
# period, as a reload briefly holds two model snapshots).
#
# Exits 1 when an answer is not 2xx (202 is feedback queued in the journal: a success), a
# socket error or a failed reload occurred, the server died or did not stop cleanly, or RSS
# grew by more than MAX_GROWTH percent after the warm-up. The warm-up must cover the cache
# filling up: answers are cached for CACHE_TTL seconds (60 here, so the cache turns over
# within the warm-up) over a hot set of SOAK_USERS users and SOAK_TRACKS tracks.
#
#   bench/soak.sh                                   10 minutes
#   SOAK_SECONDS=120 WARMUP_SECONDS=40 bench/soak.sh
# env: SOAK_SECONDS (600) WARMUP_SECONDS (60) RELOAD_EVERY (30) SAMPLE_EVERY (5)
#      MAX_GROWTH (5, percent) CONNECTIONS (16) THREADS (2) CACHE_TTL (60)
#      USERS (5000) TRACKS (20000) INTERACTIONS (500000): the generated data set
#      SOAK_USERS (2000) SOAK_FB_USERS (500) SOAK_TRACKS (5000): the hot set the load draws from
source "$(dirname "$0")/lib.sh"
bench_setup soak
secs=${SOAK_SECONDS:-600}
warm=${WARMUP_SECONDS:-60}
reload_every=${RELOAD_EVERY:-30}
sample_every=${SAMPLE_EVERY:-5}
max_growth=${MAX_GROWTH:-5}
conns=${CONNECTIONS:-16}
threads=${THREADS:-2}
ttl=${CACHE_TTL:-60}
users=${USERS:-5000}
tracks=${TRACKS:-20000}
inter=${INTERACTIONS:-500000}
hot_users=${SOAK_USERS:-2000}
fb_users=${SOAK_FB_USERS:-500}
hot_tracks=${SOAK_TRACKS:-5000}
[ "$warm" -lt "$secs" ] || { echo "soak: WARMUP_SECONDS must be below SOAK_SECONDS"; exit 2; }

command="SOAK_SECONDS=$secs WARMUP_SECONDS=$warm RELOAD_EVERY=$reload_every"
command="$command CONNECTIONS=$conns THREADS=$threads CACHE_TTL=$ttl USERS=$users TRACKS=$tracks"
command="$command INTERACTIONS=$inter SOAK_USERS=$hot_users SOAK_FB_USERS=$fb_users"
command="$command SOAK_TRACKS=$hot_tracks bench/soak.sh"

export DATABASE_URL="sqlite:///$tmp/soak.db" MODEL_DIR="$tmp/models"
export ADMIN_ALLOW_LOOPBACK=true
# Nothing but the load and the reloads: no scheduled training during the run.
export TRAIN_SCHEDULE_FREE=off TRAIN_SCHEDULE_STARTER=off TRAIN_SCHEDULE_PRO=off
unset REDIS_URL ADMIN_TOKEN

echo "soak: $users users, $tracks tracks, $inter interactions; training the free and starter tiers"
"$tt" generate --users "$users" --tracks "$tracks" --interactions "$inter" --seed 11 >/dev/null
"$tt" train --tier free --no-eval --no-tune >/dev/null 2>&1
"$tt" train --tier starter --no-eval --no-tune >/dev/null 2>&1
serve --cache-ttl "$ttl"
base="http://127.0.0.1:$port"

# VmRSS of the server every sample_every seconds: "<elapsed s> <kB>" lines.
sample_rss() {
    local t0=$SECONDS
    while kill -0 "$pid" 2>/dev/null; do
        awk -v t=$((SECONDS - t0)) '/^VmRSS:/ { print t, $2 }' "/proc/$pid/status" \
            >>"$tmp/rss" 2>/dev/null
        sleep "$sample_every"
    done
}

# POST /models/reload every reload_every seconds: one HTTP status per line.
reloads() {
    while sleep "$reload_every"; do
        curl -s -o /dev/null -m 60 -w '%{http_code}\n' -X POST "$base/models/reload" \
            >>"$tmp/reloads"
    done
}

echo "soak: wrk -t$threads -c$conns -d${secs}s on $base, reload every ${reload_every}s," \
     "RSS every ${sample_every}s; server and wrk share this machine's $(nproc) cores"
: >"$tmp/rss"
: >"$tmp/reloads"
sample_rss &
sampler=$!
reloads &
reloader=$!
TT_USERS=$hot_users TT_FB_USERS=$fb_users TT_TRACKS=$hot_tracks \
    wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout 10s -s bench/wrk_soak.lua "$base" \
    >"$tmp/wrk.out" 2>&1
kill "$reloader" 2>/dev/null || true
wait "$reloader" 2>/dev/null || true
alive=yes
kill -0 "$pid" 2>/dev/null || alive=no
curl -s "$base/metrics" >"$tmp/metrics" || true
# SIGTERM: the server must finish what is in flight and exit 0.
stopped=0
if [ $alive = yes ]; then
    kill -TERM "$pid"
    wait "$pid" || stopped=$?
    pid=
fi
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true

result=$(grep '^RESULT' "$tmp/wrk.out" || true)
statuses=$(grep '^STATUS' "$tmp/wrk.out" | sed 's/^STATUS *//' || true)
[ -n "$result" ] || { echo "soak: wrk produced no result:"; cat "$tmp/wrk.out"; exit 1; }
eval "${result#RESULT }"

fail=0
bad=""
for kv in $statuses; do
    case ${kv%%=*} in 2??) ;; *) bad="$bad $kv" ;; esac
done
reload_total=$(wc -l <"$tmp/reloads")
reload_bad=$(grep -vc '^200$' "$tmp/reloads" || true)
# A reload holds two snapshots for a moment, so single samples jump; the floor of RSS over
# one reload period (the lowest sample in it) does not, and a leak raises it. The growth is
# the floor of the last period over the floor of the first period after the warm-up.
floor() { # floor FROM TO: the lowest sample taken at FROM <= t < TO
    awk -v a="$1" -v b="$2" '$1 >= a && $1 < b && (m == "" || $2 < m) { m = $2 } END { print m }' \
        "$tmp/rss"
}
last=$(tail -n 1 "$tmp/rss" | awk '{ print $1 }')
rss_warm=$(floor "$warm" $((warm + reload_every)))
rss_end=$(floor $((last - reload_every + 1)) $((last + 1)))
raw_warm=$(awk -v w="$warm" '$1 >= w { print $2; exit }' "$tmp/rss")
raw_end=$(tail -n 1 "$tmp/rss" | awk '{ print $2 }')
rss_max=$(awk 'max < $2 { max = $2 } END { print max }' "$tmp/rss")
growth=$(awk -v a="$rss_warm" -v b="$rss_end" 'BEGIN { printf "%.2f", (a > 0 ? (b - a) * 100 / a : 0) }')

echo "requests:        $requests in ${seconds} s ($rps rps), p50 ${p50_ms} ms, p99 ${p99_ms} ms"
echo "answers:         $statuses"
echo "non-2xx:         ${bad:- none}"
echo "socket errors:   $socket_errors (connect $connect, read $read, write $write, timeout $timeout)"
echo "reloads:         $reload_total, $reload_bad not 200"
echo "not 2xx by endpoint (server's /metrics):" \
     "$(grep '^tt_http_requests_total' "$tmp/metrics" | grep -v 'status="2' |
        sed 's/tt_http_requests_total//' | tr '\n' ' ')"
echo "RSS:             ${rss_warm:-?} kB after the warm-up (floor of ${warm}..$((warm + reload_every)) s)," \
     "${rss_end:-?} kB at the end (floor of the last ${reload_every} s): growth ${growth}%" \
     "(limit ${max_growth}%)"
echo "RSS samples:     ${raw_warm:-?} kB at ${warm} s, ${raw_end:-?} kB at the end, max $rss_max kB"
echo "samples:         $(awk '{ printf "%s:%d ", $1, $2 / 1024 }' "$tmp/rss")(s:MiB)"
echo "command:         $command"

[ -n "$bad" ] && { echo "soak: FAIL: answers that are not 2xx:$bad"; fail=1; }
[ "$socket_errors" -eq 0 ] || { echo "soak: FAIL: $socket_errors socket errors"; fail=1; }
[ "$reload_bad" -eq 0 ] || { echo "soak: FAIL: $reload_bad reloads not answered 200"; fail=1; }
[ "$reload_total" -gt 0 ] || { echo "soak: FAIL: no reload ran"; fail=1; }
[ $alive = yes ] || { echo "soak: FAIL: the server died:"; tail -n 20 "$tmp/serve.log"; fail=1; }
[ "$stopped" -eq 0 ] || { echo "soak: FAIL: the server exited $stopped after SIGTERM"; fail=1; }
[ -n "$rss_warm" ] || { echo "soak: FAIL: no RSS sample after the warm-up"; fail=1; }
if awk -v g="$growth" -v m="$max_growth" 'BEGIN { exit !(g > m) }'; then
    echo "soak: FAIL: RSS grew ${growth}% after the warm-up (limit ${max_growth}%)"
    fail=1
fi
[ $fail -eq 0 ] && echo "soak: PASS"
exit $fail
