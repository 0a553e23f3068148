#!/bin/bash
# bench_train: the real `tunetrail train --model als --no-eval --no-tune --factors 64
# --iterations 15 --threads 2` on generated SQLite snapshots of 2M and 20M interactions
# (Zipf popularity, play counts: `tunetrail generate`), reporting peak RSS and wall time
# (/usr/bin/time -v) and the time of each stage the training log prints (snapshot load,
# matrix build, catalog, ALS iterations, lists ranked ahead, model write). With BASE set to
# another build's binary, that binary runs the same command on the same data first, in the
# same run, so the two are compared under the same load on this shared machine.
#
# The snapshots are cached under SCALE_DIR (default /var/tmp/scale): s2m.db (20,000 users x
# 10,000 tracks) and s20m.db (200,000 users x 100,000 tracks), made once with seed 42
# (20M takes a few minutes and 2.3 GB of disk); s100m.db (1,000,000 users x 500,000 tracks,
# seed 1) only when asked for with SIZES=100m (about 22 minutes and 12 GB of disk).
# Each stage line is followed by the training log's resident memory after it. This tree's
# binary then trains a second time on the same MODEL_DIR ("this, warm"): the snapshot comes
# from the first run's log cache (docs/pipeline.md, "Incremental snapshot") with nothing new,
# as a nightly run finds it when a day's interactions are few beside the whole log.
#
# MODEL=ease trains EASE instead (`--model ease --no-eval --no-tune --threads 2`): its n^3
# inversion of the tracks' Gram matrix, on the 2m snapshot's 10,000 tracks.
# MODEL=free runs what a nightly free-tier job runs, `train --tier free --threads 2`: the
# self-tuning of ALS and EASE, their trainings, the blend and the held-out evaluation. With
# BASE, both binaries also train a second time on their MODEL_DIR ("warm").
#
#   bench/bench_train.sh                          both sizes, this tree's binary
#   SIZES=20m BASE=/tmp/base/tunetrail bench/bench_train.sh
#   MODEL=ease SIZES=2m BASE=/tmp/base/tunetrail bench/bench_train.sh
#   MODEL=free SIZES=2m BASE=/tmp/base/tunetrail bench/bench_train.sh
source "$(dirname "$0")/lib.sh"
bench_setup bench_train
scale=${SCALE_DIR:-/var/tmp/scale}
sizes=${SIZES:-2m 20m}
base=${BASE:-}
model=${MODEL:-als}
case $model in
    als) args=(train --model als --no-eval --no-tune --factors 64 --iterations 15 --threads 2) ;;
    ease) args=(train --model ease --no-eval --no-tune --threads 2) ;;
    free) args=(train --tier free --threads 2) ;;
    *) echo "MODEL is als, ease or free" >&2; exit 2 ;;
esac
# The training log's stage lines worth printing.
stages="snapshot|matrix|catalog|$model|memory after"
[ "$model" = free ] && stages="snapshot|matrix|catalog|tune|train|evaluate|memory after"
mkdir -p "$scale"

snapshot() { # snapshot SIZE: the cached database's path, generated when missing
    local db=$scale/s$1.db users tracks inter seed=42
    case $1 in
        2m) users=20000 tracks=10000 inter=2000000 ;;
        20m) users=200000 tracks=100000 inter=20000000 ;;
        100m) users=1000000 tracks=500000 inter=100000000 seed=1 ;;
        *) echo "unknown size $1 (2m, 20m or 100m)" >&2; exit 2 ;;
    esac
    if [ ! -s "$db" ]; then
        echo "generating $db: $users users, $tracks tracks, $inter interactions" >&2
        rm -f "$db.tmp"*
        DATABASE_URL="sqlite:///$db.tmp" "$tt" generate --users "$users" --tracks "$tracks" \
            --interactions "$inter" --seed "$seed" >/dev/null
        mv "$db.tmp" "$db"
    fi
    echo "$db"
}

run() { # run LABEL BINARY DB [warm]: one training, its stage lines, peak RSS and wall time
    local out=$tmp/${1// /-} rss wall cpu
    [ "${4:-}" = warm ] || rm -rf "$tmp/models"
    DATABASE_URL="sqlite:///$3" MODEL_DIR="$tmp/models" /usr/bin/time -v "$2" "${args[@]}" \
        >"$out.log" 2>"$out.time" || { cat "$out.log" "$out.time"; exit 1; }
    rss=$(awk -F': ' '/Maximum resident/{printf "%.0f", $2 / 1024}' "$out.time")
    wall=$(awk -F': ' '/Elapsed \(wall/{n = split($2, a, ":"); s = 0;
                        for (i = 1; i <= n; i++) s = s * 60 + a[i]; printf "%.1f", s}' "$out.time")
    cpu=$(awk -F': ' '/(User|System) time/{s += $2} END {printf "%.1f", s}' "$out.time")
    # CPU seconds say more than wall time when other work shares the cores.
    echo "  $1: peak RSS $rss MB, wall $wall s, CPU $cpu s (user + system," \
         "$(awk -F': ' '/Percent of CPU/{print $2}' "$out.time") of one core)"
    grep -E "^($stages)" "$out.log" | sed 's/^/    /'
}

echo "bench_train: tunetrail ${args[*]}"
echo "  $(nproc) cores shared with whatever else runs here (load average now $(cut -d' ' -f1 /proc/loadavg));" \
     "peak RSS, wall and CPU from /usr/bin/time -v"
echo "command: MODEL=$model SIZES=\"$sizes\"${base:+ BASE=$base} SCALE_DIR=$scale bench/bench_train.sh"
for size in $sizes; do
    db=$(snapshot "$size")
    echo "$size: $db ($(sqlite3 "$db" 'SELECT (SELECT count(*) FROM users) || " users, " ||
        (SELECT count(*) FROM tracks) || " tracks, " || (SELECT count(*) FROM interactions) ||
        " interactions"' 2>/dev/null || echo "sizes unknown"))"
    cat "$db" >/dev/null # both runs read it from the page cache
    [ -n "$base" ] && run base "$base" "$db"
    [ -n "$base" ] && [ "$model" = free ] && run "base, warm" "$base" "$db" warm
    run this "$tt" "$db"
    run "this, warm" "$tt" "$db" warm
done
