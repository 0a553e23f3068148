#!/bin/bash
# The free tier's self-tuning against a grid run by hand, on data of several shapes.
#
# For each dataset: hold out 20% of each user's positive tracks (bench/holdout.py, seed 7),
# then
#   - `tunetrail train --tier free` with no flags (tuning on), `tunetrail recommend` for the
#     held-out users: what a user gets without knowing anything;
#   - a hand grid, each point trained untuned on the same data: ALS (`--model als --no-tune`)
#     over scaling x factors x regularization x alpha (linear and log also at
#     regularization exponent 1, with regularization 1.25, 5 and 20), and EASE
#     (`--model ease --no-tune`) over lambda x emphasis, each scored alone
#     (`recommend --model als|ease`);
# and prints recall@20 / NDCG@20 of each, the grid's best, and the tuned run's NDCG@20 as a
# share of the grid's best. The tuned run is one command; every grid point is another.
#
#   bench/quality_grid.sh [DATASET ...]    (default: all of them)
#   datasets: lastfm lastfm-binary gen-sparse gen-dense gen-binary
#   GRID=small: a third of the ALS grid (for a quick look); GRID=none: the tuned run alone
#
# Last.fm (../shared/data/hetrec2011-lastfm-2k) is used when present; the generated ones
# come from `tunetrail generate`. Takes 3 to 6 minutes a dataset on 2 cores.
set -eu
cd "$(dirname "${BASH_SOURCE[0]}")/.."
make -s build/tunetrail
tt=$PWD/build/tunetrail
lastfm=${LASTFM:-$PWD/../shared/data/hetrec2011-lastfm-2k/user_artists.dat}
tmp=$(mktemp -d /tmp/quality_grid.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
py=/usr/bin/python3

base_db() { # base_db NAME DB: the whole dataset in a new SQLite database
    local name=$1 db=$2
    export DATABASE_URL=sqlite:///$db
    case $name in
    lastfm*)
        $py - "$lastfm" "$tmp/lf" <<'PY'
import sys, os
src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
rows = [l.split() for l in open(src, encoding='latin-1').read().splitlines()[1:]]
with open(out + '/tracks.csv', 'w') as f:
    f.write('track_id,title,artist\n')
    for a in sorted({r[1] for r in rows}):
        f.write(f'a{a},artist {a},artist {a}\n')
with open(out + '/interactions.csv', 'w') as f:
    f.write('user_id,track_id,action,timestamp,weight\n')
    for u, a, w in rows:
        f.write(f'u{u},a{a},play,1600000000,{w}\n')
PY
        "$tt" import tracks "$tmp/lf/tracks.csv" >/dev/null 2>&1
        "$tt" import interactions "$tmp/lf/interactions.csv" >/dev/null 2>&1 ;;
    gen-sparse|gen-binary) "$tt" generate --users 1000 --tracks 10000 --interactions 50000 --seed 7 --quiet >/dev/null ;;
    gen-dense) "$tt" generate --users 500 --tracks 2000 --interactions 100000 --seed 11 --quiet >/dev/null ;;
    *) echo "unknown dataset $name"; exit 2 ;;
    esac
}

score() { # score DIR MODEL|"" -> "recall ndcg" of `recommend` for the held-out users
    local dir=$1 model=$2
    "$tt" recommend --users-file "$dir/users.txt" --k 20 ${model:+--model $model} >"$dir/recs.csv" 2>/dev/null
    $py bench/holdout.py score "$dir" "$dir/recs.csv"
}

run_dataset() {
    local name=$1 dir=$tmp/$1 binary=
    [ "$name" = lastfm-binary ] || [ "$name" = gen-binary ] && binary=binary
    if [[ $name == lastfm* && ! -f $lastfm ]]; then
        echo "$name: skipped ($lastfm not found)"
        return
    fi
    mkdir -p "$dir"
    base_db "$name" "$dir/base.db"
    cp "$dir/base.db" "$dir/db"
    $py bench/holdout.py cut "$dir/db" "$dir" 7 $binary
    export DATABASE_URL=sqlite:///$dir/db MODEL_DIR=$dir/models
    local t0=$(date +%s.%N)
    "$tt" train --tier free >"$dir/train.out" 2>/dev/null
    local secs=$($py -c "print($(date +%s.%N) - $t0)")
    read -r tr tn <<<"$(score "$dir" "")"
    echo "== $name: $(sqlite3 "$dir/db" 'select count(*) from interactions') interactions after the holdout, $(wc -l <"$dir/users.txt") test users"
    grep -E '^  chose' "$dir/train.out" | sed 's/^ */  tuning: /'
    grep 'the free tier serves' "$dir/train.out" | sed 's/^/  /'
    printf '  tuned (train --tier free, no flags): recall@20 %s  NDCG@20 %s  (train took %.0f s)\n' "$tr" "$tn" "$secs"
    [ "${GRID:-}" = none ] && return

    local best_n=0 best_r=0 best_cfg= facs="64 128" regs="5 20 80" alphas="1 4 16" scalings="linear log bm25"
    [ "${GRID:-}" = small ] && { facs=64; alphas=4; }
    [ -n "$binary" ] && scalings="linear bm25"  # log of a constant weight is linear
    try() { # try MODEL DESC FLAGS...
        local model=$1 desc=$2 r n
        shift 2
        rm -rf "$dir/g" && cp -r "$dir/models" "$dir/g"
        MODEL_DIR=$dir/g "$tt" train --tier free --model "$model" --no-tune --no-eval --quiet "$@" >/dev/null 2>&1
        read -r r n <<<"$(MODEL_DIR=$dir/g score "$dir" "$model")"
        echo "    $desc: $r $n"
        if $py -c "import sys; sys.exit(0 if $n > $best_n else 1)"; then
            best_n=$n best_r=$r best_cfg=$desc
        fi
    }
    echo "  hand grid (recall@20 NDCG@20):"
    for s in $scalings; do for f in $facs; do for r in $regs; do for a in $alphas; do
        try als "ALS $s f$f reg$r alpha$a" --scaling "$s" --factors "$f" --regularization "$r" --alpha "$a"
    done; done; done; done
    # Frequency-scaled regularization (docs/models.md): linear and log at exponent 1, where
    # the best regularization is about a quarter of the constant's.
    for s in $scalings; do [ "$s" = bm25 ] && continue; for f in $facs; do
        for r in 1.25 5 20; do for a in $alphas; do
            try als "ALS $s f$f reg$r e1 alpha$a" --scaling "$s" --factors "$f" \
                --regularization "$r" --alpha "$a" --reg-exponent 1
        done; done
    done; done
    for l in 10 25 50 100 200 500; do for e in 0 0.5; do
        try ease "EASE lambda$l emphasis$e" --ease-lambda "$l" --ease-emphasis "$e"
    done; done
    printf '  grid best: %s (%s / %s); tuned NDCG@20 is %.1f%% of it, recall@20 %.1f%%\n' "$best_cfg" \
        "$best_r" "$best_n" "$($py -c "print(100 * $tn / $best_n)")" "$($py -c "print(100 * $tr / $best_r)")"
}

echo "bench/quality_grid.sh $* ($(date -u +%F), $(nproc) cores): held-out recall@20 / NDCG@20, seed 7"
for d in ${@:-lastfm lastfm-binary gen-sparse gen-dense gen-binary}; do
    run_dataset "$d"
done
