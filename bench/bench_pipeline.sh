#!/bin/bash
# bench_pipeline: does a training job hurt serving? p50/p99 of uncached /recommend/user under
# wrk (-t2 -c16) with no job running (baseline), then while the engine's worker process trains
# an ALS job on the same interactions (JOB_THREADS threads, nice JOB_NICE), in one run.
# Also reports the job's own wall time and the stages it went through.
#
#   bench/bench_pipeline.sh                    default: 200000 users, 100000 tracks, 20M interactions
#   USERS=20000 TRACKS=20000 INTERACTIONS=1000000 DURATION=10 bench/bench_pipeline.sh
source "$(dirname "$0")/lib.sh"
bench_setup bench_pipeline
users=${USERS:-200000}
tracks=${TRACKS:-100000}
inter=${INTERACTIONS:-20000000}
token=bench-pipeline-admin-token
export DATABASE_URL="sqlite:///$tmp/t.db" MODEL_DIR="$tmp/m" ADMIN_TOKEN=$token
export JOB_THREADS=${JOB_THREADS:-1} JOB_NICE=${JOB_NICE:-10} TRAIN_SCHEDULE_FREE=off \
       TRAIN_SCHEDULE_STARTER=off TRAIN_SCHEDULE_PRO=off

echo "bench_pipeline: $users users, $tracks tracks, $inter interactions; wrk -t2 -c16 -d${dur}s;" \
     "job threads $JOB_THREADS, nice $JOB_NICE; $(nproc) cores shared by server, worker and wrk"
echo "command: USERS=$users TRACKS=$tracks INTERACTIONS=$inter DURATION=$dur JOB_THREADS=$JOB_THREADS" \
     "JOB_NICE=$JOB_NICE bench/bench_pipeline.sh"
t0=$(date +%s.%N)
"$tt" generate --users "$users" --tracks "$tracks" --interactions "$inter" --seed 5 >/dev/null
echo "generated in $(python3 -c "print(f'{$(date +%s.%N) - $t0:.0f}')") s"
"$tt" train --model als --no-eval --no-tune --threads 2 >/dev/null 2>&1
"$tt" train --model genre --no-eval >/dev/null 2>&1
serve --cache-ttl 0

load() {
    TT_PATH=/recommend/user TT_IDS=$users TT_PREFIX=u TT_HOT=0 TT_TIER=free recommend_load "$dur" 16
}

base=$(load)
echo "no job running:            $base"
job=$(curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      -d '{"model": "als", "evaluate": false, "tune": false}' "http://127.0.0.1:$port/models/train" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["job_id"])')
state() { curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/models/train/$job"; }
# Measure while the ALS iterations run (after the snapshot load), not before.
for _ in $(seq 600); do
    s=$(state | python3 -c 'import json,sys; d=json.load(sys.stdin); p=d.get("progress") or {}; print(d["state"], p.get("stage"), p.get("step") or 0)')
    case $s in running\ train\ [1-9]*|succeeded*|failed*) break ;; esac
    sleep 1
done
during=$(load)
echo "ALS job training (${s}):   $during"
for _ in $(seq 1800); do
    s=$(state | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
    case $s in succeeded|failed|cancelled) break ;; esac
    sleep 1
done
state | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("job %s: %s in %d s (worker wall time)" % (d["job_id"], d["state"], d["finished_at"] - d["started_at"]))
for line in (d.get("log_tail") or "").splitlines()[-4:]: print("  " + line)'
after=$(load)
echo "after the job (reloaded):  $after"
eval "$(echo "$base" | sed "s/\([a-z0-9_]*\)=/b_\1=/g")"; eval "$(echo "$during" | sed "s/\([a-z0-9_]*\)=/d_\1=/g")"
python3 -c "print(f'p99 during / p99 without: {$d_p99_ms / $b_p99_ms:.2f}x; rps during / rps without: {$d_rps / $b_rps:.2f}x')"
