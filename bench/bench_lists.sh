#!/bin/bash
# bench_lists: uncached POST /recommend/user (free tier, ALS, limit 20) under wrk -t2 -c16
# when every listener's list was ranked at training time (--precompute-days 0
# --precompute-users 0, as the engine did before) against the default (lists for the 20,000
# most recent of the listeners active in the last 30 days, everyone else scored on demand).
# Requests go to listeners with a list, then to listeners without one, so each serving path
# is measured on its own. Both models are trained here from the same cached snapshot
# (bench_train.sh makes it), by this tree's binary.
#
#   bench/bench_lists.sh                     default: the 20M snapshot
#   SIZE=2m DURATION=10 bench/bench_lists.sh
source "$(dirname "$0")/lib.sh"
bench_setup bench_lists
db=${SCALE_DIR:-/var/tmp/scale}/s${SIZE:-20m}.db
[ -s "$db" ] || { echo "no snapshot $db: run SIZES=${SIZE:-20m} bench/bench_train.sh first"; exit 1; }
export DATABASE_URL="sqlite:///$db"
train=(train --model als --no-eval --no-tune --factors 64 --iterations 15 --threads 2)

# The user ids of the rows of user_top in the model file at $1, then of the other users.
listed() {
    python3 - "$1" "$tmp/listed" "$tmp/unlisted" <<'EOF'
import struct, sys
b = open(sys.argv[1], "rb").read()
count, = struct.unpack_from("<I", b, 12)
table, = struct.unpack_from("<q", b, 56)
sec = {}
for i in range(count):
    e = table + 72 * i
    name = b[e:e + 32].split(b"\0")[0].decode()
    rows, cols, off, size = struct.unpack_from("<qqqq", b, e + 40)
    sec[name] = (rows, off, size)
rows, off, size = sec["user_ids"]
ids = b[off:off + size].split(b"\0")[:rows]
rows, off, _ = sec["user_top_users"]
slots = set(struct.unpack_from("<%di" % rows, b, off))
with open(sys.argv[2], "w") as a, open(sys.argv[3], "w") as o:
    for u, name in enumerate(ids):
        (a if u in slots else o).write(name.decode() + "\n")
EOF
}

load() { # load LABEL ID_FILE
    echo "  $1 $(TT_PATH=/recommend/user TT_ID_FILE=$2 TT_TIER=free recommend_load "$dur" 16)"
}

echo "bench_lists: $db; wrk -t2 -c16 -d${dur}s, uncached (--cache-ttl 0); server and wrk share $(nproc) cores"
echo "command: SIZE=${SIZE:-20m} DURATION=$dur bench/bench_lists.sh"
MODEL_DIR=$tmp/all "$tt" "${train[@]}" --precompute-days 0 --precompute-users 0 | grep '^als:'
MODEL_DIR=$tmp/all "$tt" train --model genre --no-eval >/dev/null
MODEL_DIR=$tmp/recent "$tt" "${train[@]}" | grep '^als:'
cp "$tmp/all/free/genre."* "$tmp/recent/free/"
listed "$tmp/recent/free/als.ttm"
echo "$(wc -l <"$tmp/listed") listeners with a list in the default model, $(wc -l <"$tmp/unlisted") without"
echo "every listener ranked at training time:"
MODEL_DIR=$tmp/all serve --cache-ttl 0
load "listeners of the default's lists:" "$tmp/listed"
load "the other listeners:              " "$tmp/unlisted"
echo "default (recent listeners ranked at training time):"
MODEL_DIR=$tmp/recent serve --cache-ttl 0
load "listeners with a list:            " "$tmp/listed"
load "listeners scored on demand:       " "$tmp/unlisted"
