#!/bin/bash
# bench_snapshot: the training snapshot read in full against read incrementally, on the same
# store in one run. A copy of a cached generated SQLite store (bench_train.sh makes them:
# s2m.db, 2M interactions; s20m.db, 20M) is trained on with the real `tunetrail train` (the
# popularity model, so the snapshot is most of the run):
#   1. tt_dataset_load alone (`tunetrail stats --snapshot`): what every run read before;
#   2. train --full-snapshot: the full read, writing the cache (MODEL_DIR/snapshot/);
#   3. APPEND interactions more (default 1% of the store) from `tunetrail generate` with
#      another seed (new events of the same users and tracks);
#   4. train: the cache plus the new interactions, rewriting the cache;
#   5. train --full-snapshot again, on the same grown store, for the full read's time.
# Prints each run's snapshot lines, peak RSS and wall time (/usr/bin/time -v). The original
# store is never written: everything happens on the copy.
#
#   bench/bench_snapshot.sh                    2M
#   SIZES="2m 20m" bench/bench_snapshot.sh
source "$(dirname "$0")/lib.sh"
bench_setup bench_snapshot
scale=${SCALE_DIR:-/var/tmp/scale}
sizes=${SIZES:-2m}
args=(train --model popularity --no-eval --no-tune --quiet)

run() { # run LABEL ARGS...: one training, its snapshot lines, peak RSS and wall time
    local out=$tmp/$1 rss wall
    shift
    DATABASE_URL="sqlite:///$db" MODEL_DIR="$tmp/models" /usr/bin/time -v "$tt" "${args[@]}" \
        "$@" >"$out.log" 2>"$out.time" || { cat "$out.log" "$out.time"; exit 1; }
    rss=$(awk -F': ' '/Maximum resident/{printf "%.0f", $2 / 1024}' "$out.time")
    wall=$(awk -F': ' '/Elapsed \(wall/{n = split($2, a, ":"); s = 0;
                        for (i = 1; i <= n; i++) s = s * 60 + a[i]; printf "%.1f", s}' "$out.time")
    echo "  $label: peak RSS $rss MB, wall $wall s"
    grep -E '^snapshot:' "$out.log" | sed 's/^/    /'
}

echo "bench_snapshot: tunetrail ${args[*]} [--full-snapshot]"
echo "  $(nproc) cores shared with whatever else runs here (load average now $(cut -d' ' -f1 /proc/loadavg))"
echo "command: SIZES=\"$sizes\" SCALE_DIR=$scale bench/bench_snapshot.sh"
for size in $sizes; do
    src=$scale/s$size.db
    [ -s "$src" ] || { echo "$src is missing: run SIZES=$size bench/bench_train.sh first" >&2; exit 2; }
    db=$tmp/s$size.db
    cp "$src" "$db"
    rm -rf "$tmp/models"
    n=$(sqlite3 "$db" 'SELECT count(*) FROM interactions')
    users=$(sqlite3 "$db" 'SELECT count(*) FROM users')
    tracks=$(sqlite3 "$db" 'SELECT count(*) FROM tracks')
    append=${APPEND:-$((n / 100))}
    echo "$size: $src copied ($users users, $tracks tracks, $n interactions)"
    t0=$(date +%s.%N)
    DATABASE_URL="sqlite:///$db" "$tt" stats --snapshot | grep '^snapshot:' | sed 's/^/  tt_dataset_load: /'
    label="full read, cache written" run full1 --full-snapshot
    DATABASE_URL="sqlite:///$db" "$tt" generate --users "$users" --tracks "$tracks" \
        --interactions "$append" --seed 4242 --quiet >/dev/null 2>&1
    echo "  appended $append interactions (generate --seed 4242)"
    label="incremental" run incr
    label="full read of the same store" run full2 --full-snapshot
    echo "  cache file: $(du -h "$tmp/models/snapshot/interactions.tts" | cut -f1)"
    rm -f "$db" "$db"-*
done
