"""Replicas sharing one PostgreSQL and one Redis act as one service (tests/replicas/run).

usage: replicas.py TUNETRAIL
env:   TT_TEST_PG_URL, TT_TEST_REDIS_URL (required); TT_REPLICAS_KEEP=1 keeps the work directory

The data set lives in a PostgreSQL schema of its own (dropped at the end) and the replicas use
a Redis database of their own (REDIS_DB), so other users of those servers neither disturb nor
see them. Replicas A and B share Redis; C is given a Redis that is not there and D none (its
cache is in process), so feedback reaches them through the database alone. Every wait is
bounded.
"""
import csv
import io
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

import httpx

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "api"))
from harness import Failure, check, eq, free_port, short  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
REDIS_DB = 11
PROPAGATION_MS = 200     # the promise: feedback on one replica, next answer of any other
WRK_CONNECTIONS = 8


def redis_url_db(url, db):
    """@url with its database number replaced by @db."""
    m = re.match(r"^(redis://[^/]+)(/\d*)?$", url)
    check(m is not None, f"TT_TEST_REDIS_URL {url!r} is not redis://HOST[:PORT][/DB]")
    return f"{m.group(1)}/{db}"


def with_schema(url, schema):
    """@url with search_path set to @schema (a libpq URI's options parameter)."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


class Replica:
    """One `tunetrail serve` on a fixed port of 127.0.0.1, so it can come back on it."""

    def __init__(self, tt, name, work, env):
        self.tt, self.name, self.env = tt, name, env
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = os.path.join(work, f"serve-{name}.log")
        self.proc = None
        self.http = httpx.Client(base_url=self.base, timeout=5.0)

    def start(self):
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [self.tt, "serve", "--port", str(self.port), "--host", "127.0.0.1",
                 "--no-access-log"], env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=log)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            check(self.proc.poll() is None, f"replica {self.name} exited: {self.log_tail()}")
            try:
                if httpx.get(self.base + "/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise Failure(f"replica {self.name} did not serve within 15 s: {self.log_tail()}")

    def kill(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, n=5):
        try:
            with open(self.log, errors="replace") as f:
                return " | ".join(f.read().splitlines()[-n:])
        except OSError:
            return "(no log)"

    def post(self, path, body):
        return self.http.post(path, json=body)

    def items(self, user, limit=20):
        r = self.post("/recommend/user", {"user_id": user, "limit": limit})
        eq(r.status_code, 200, f"{self.name} /recommend/user {user} ({short(r.text)})")
        return r.json()

    def feed(self):
        return self.http.get("/health").json()["replicas"]

    def versions(self):
        return {m["name"]: m["version"] for m in self.http.get("/health").json()["models"]}

    def requests_served(self, endpoint="recommend_user"):
        text = self.http.get("/metrics").text
        return sum(float(m.group(1)) for m in re.finditer(
            r'^tt_http_requests_total\{endpoint="%s",status="2\d\d"\} (\S+)$' % endpoint, text,
            re.M))


def feedback(rep, user, track, action="dislike", **extra):
    body = {"user_id": user, "track_id": track, "action": action, **extra}
    r = rep.post("/feedback", body)
    eq(r.status_code, 200, f"{rep.name} /feedback ({short(r.text)})")
    return r.json()


def wait_until_gone(rep, user, track, limit_s=2.0):
    """(started, answered): seconds from now until the start, and until the end, of the first
    request of @rep's whose answer for @user no longer has @track (asked every 2 ms). The
    first is the propagation: a request's own time is the answer's latency, and on a busy
    machine it says more about the scheduler than about the propagation."""
    t0 = time.monotonic()
    while True:
        asked = time.monotonic()
        ids = [x["track_id"] for x in rep.items(user)["items"]]
        if track not in ids:
            return asked - t0, time.monotonic() - t0
        check(time.monotonic() - t0 < limit_s,
              f"{track} still recommended to {user} by replica {rep.name} after {limit_s} s")
        time.sleep(0.002)


def propagation(a, b, users, action="dislike"):
    """Feedback on @a about each user's top track; how long until @b's answer drops it."""
    took, answered = [], []
    for user in users:
        first = b.items(user)["items"][0]["track_id"]
        eq(b.items(user)["cached"], True, f"{b.name}'s answer for {user} is cached")
        # At a random moment of the database poll's period, not always at the same one.
        time.sleep(random.uniform(0, 0.1))
        feedback(a, user, first, action)
        started, done = wait_until_gone(b, user, first)
        took.append(started)
        answered.append(done)
    took.sort()
    answered.sort()
    worst = took[-1] * 1000
    check(worst <= PROPAGATION_MS, f"replica {b.name} took {worst:.0f} ms to reflect feedback "
                                   f"taken by {a.name} (want <= {PROPAGATION_MS} ms)")
    return (f"asked after {took[len(took) // 2] * 1000:.1f} ms median, {worst:.1f} ms worst; "
            f"answered after {answered[len(answered) // 2] * 1000:.1f} ms median, "
            f"{answered[-1] * 1000:.1f} ms worst; {len(took)} events")


# --- the tests --------------------------------------------------------------------------


def feedback_through_redis(ctx):
    """A dislike (and a like) on A leaves B's next answer, cached or not, within 200 ms."""
    fig = propagation(ctx.a, ctx.b, [f"u{n * 7 + 1:07d}" for n in range(10)])
    fig2 = propagation(ctx.b, ctx.a, [f"u{n * 7 + 2:07d}" for n in range(5)], "like")
    ctx.figures["redis"] = fig
    return f"B after A: {fig}; A after B (likes): {fig2}"


def own_events_count_once(ctx):
    """A replica does not take its own events again (from Redis or the database), and an
    event_id retried on another replica is stored once."""
    before_a, before_b = ctx.a.feed(), ctx.b.feed()
    user = "u0000150"
    tracks = [x["track_id"] for x in ctx.a.items(user)["items"][:3]]
    for t in tracks:
        feedback(ctx.a, user, t, "play")
    d1 = feedback(ctx.a, user, tracks[0], "skip", event_id=f"replica-test-{os.getpid()}")
    d2 = feedback(ctx.b, user, tracks[0], "skip", event_id=f"replica-test-{os.getpid()}")
    eq((d1["duplicate"], d2["duplicate"]), (False, True), "the same event_id on A, then on B")
    time.sleep(0.4)  # several database polls
    after_a, after_b = ctx.a.feed(), ctx.b.feed()
    got_a = (after_a["from_redis"] - before_a["from_redis"],
             after_a["from_database"] - before_a["from_database"])
    got_b = (after_b["from_redis"] - before_b["from_redis"]) + \
            (after_b["from_database"] - before_b["from_database"])
    eq(got_a, (0, 0), "events A took coming back to A (from Redis, from the database)")
    eq(got_b, 4, "A's events applied by B (each once)")
    eq(after_b["redis"], "live", "B's subscription")


def journaled_feedback_once_everywhere(ctx):
    """Feedback the database cannot take within its budget is acknowledged from A's journal
    (202) and counts on A at once; once the database takes writes again, A's replayer stores
    it and tells B, and A does not take it a second time."""
    user = "u0000160"
    first = ctx.b.items(user)["items"][0]["track_id"]
    before_a, before_b = ctx.a.feed(), ctx.b.feed()
    lock = subprocess.Popen(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", ctx.db_url, "-c",
         "BEGIN; LOCK TABLE interactions IN EXCLUSIVE MODE; SELECT pg_sleep(1); COMMIT;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.3)
    r = ctx.a.post("/feedback", {"user_id": user, "track_id": first, "action": "dislike"})
    eq(r.status_code, 202, f"feedback while the table is locked ({short(r.text)})")
    check(first not in [x["track_id"] for x in ctx.a.items(user)["items"]],
          "A still recommends what it took from its journal")
    _, err = lock.communicate(timeout=10)
    eq(lock.returncode, 0, f"psql ({err.decode(errors='replace').strip()})")
    took = wait_until_gone(ctx.b, user, first, limit_s=5.0)[0]
    time.sleep(0.3)  # A's database poll reads the replayed row too
    after_a, after_b = ctx.a.feed(), ctx.b.feed()
    eq((after_a["from_redis"] - before_a["from_redis"],
        after_a["from_database"] - before_a["from_database"]), (0, 0),
       "the replayed event coming back to A")
    eq(after_b["from_redis"] + after_b["from_database"] - before_b["from_redis"] -
       before_b["from_database"], 1, "the replayed event applied by B")
    return f"B had it {took * 1000:.0f} ms after the database took writes again"


def radio_on_any_replica(ctx):
    """A station started on A continues on B with exactly the page A would play."""
    first = ctx.a.items("u0000003")["items"][0]["track_id"]
    r = ctx.a.post("/radio/generate", {"track_id": first, "limit": 10})
    eq(r.status_code, 200, f"radio on A ({short(r.text)})")
    cursor = r.json()["cursor"]
    pages = []
    for rep in (ctx.a, ctx.b):
        r = rep.post("/radio/generate", {"cursor": cursor, "limit": 10})
        eq(r.status_code, 200, f"radio continued on {rep.name} ({short(r.text)})")
        pages.append([t["track_id"] for t in r.json()["tracks"]])
    eq(len(pages[0]), 10, "tracks of the page after the cursor on A")
    eq(pages[1], pages[0], "the page after the cursor on B and on A")


def daily_mix_on_any_replica(ctx):
    """Daily mixes are the same from A and B: shared through Redis, and computed alike."""
    def mixes(rep, refresh=False):
        r = rep.post("/daily-mix", {"user_id": "u0000004", "model_tier": "starter", "mixes": 3,
                                    "tracks_per_mix": 10, "refresh": refresh})
        eq(r.status_code, 200, f"daily mix on {rep.name} ({short(r.text)})")
        d = r.json()
        return d, [(m["mix_id"], [t["track_id"] for t in m["tracks"]]) for m in d["mixes"]]

    _, ma = mixes(ctx.a)
    check(len(ma) >= 2 and all(len(t) == 10 for _, t in ma), f"mixes on A: {ma}")
    db, mb = mixes(ctx.b)
    eq(db["cached"], True, "B's answer comes from the cache A filled")
    eq(mb, ma, "mixes from A and B")
    _, ra = mixes(ctx.a, True)
    _, rb = mixes(ctx.b, True)
    eq(rb, ra, "mixes computed afresh on A and on B")
    eq(ra, ma, "mixes computed afresh and cached ones")


def feedback_through_the_database(ctx):
    """Without Redis, a dislike on C leaves D's next answer (cached in process) within 200 ms."""
    eq(ctx.c.feed()["redis"], "down", "C's subscription to a Redis that is not there")
    eq(ctx.d.feed()["redis"], "off", "D's subscription, without Redis")
    fig = propagation(ctx.c, ctx.d, [f"u{n * 7 + 3:07d}" for n in range(10)])
    ctx.figures["database"] = fig
    return fig


def late_commit_is_not_skipped(ctx):
    """A row that commits after a row with a higher id (another writer's) still reaches a
    replica reading the database: the poll reads again below ids it has not seen."""
    user, other = "u0000201", "u0000202"
    track = ctx.d.items(user)["items"][0]["track_id"]
    sql = ("BEGIN; INSERT INTO interactions (user_id, track_id, action, weight, occurred_at) "
           f"VALUES ('{user}', '{track}', 'dislike', 1, extract(epoch from now())::bigint); "
           "SELECT pg_sleep(0.8); COMMIT;")
    psql = subprocess.Popen(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", ctx.db_url, "-c", sql],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.3)
    # A later id, committed first: D's poll reads past the open transaction's id.
    feedback(ctx.c, other, ctx.c.items(other)["items"][0]["track_id"], "play")
    time.sleep(0.2)
    check(track in [x["track_id"] for x in ctx.d.items(user)["items"]],
          "the uncommitted dislike already shows")
    _, err = psql.communicate(timeout=10)
    eq(psql.returncode, 0, f"psql ({err.decode(errors='replace').strip()})")
    took = wait_until_gone(ctx.d, user, track)[0] * 1000
    check(took <= PROPAGATION_MS, f"the late commit took {took:.0f} ms to reach D")
    return f"{took:.0f} ms after its commit"


# --- behind HAProxy -----------------------------------------------------------------------


class Balancer:
    """HAProxy with deploy/haproxy.cfg, its addresses replaced by the test's."""

    def __init__(self, work, replicas):
        self.port, self.stats_port = free_port(), free_port()
        self.cfg = os.path.join(work, "haproxy.cfg")
        self.log = os.path.join(work, "haproxy.log")
        with open(os.path.join(ROOT, "deploy", "haproxy.cfg")) as f:
            text = f.read()
        text = text.replace("bind :8001", f"bind 127.0.0.1:{self.port}")
        text = text.replace("bind 127.0.0.1:8404", f"bind 127.0.0.1:{self.stats_port}")
        text = text.replace("/run/haproxy/admin.sock", os.path.join(work, "haproxy.sock"))
        servers = "".join(f"    server {r.name} 127.0.0.1:{r.port} check\n" for r in replicas)
        text, n = re.subn(r"(?m)^    server engine1 .*\n    server engine2 .*\n", servers, text)
        eq(n, 1, "the server lines of deploy/haproxy.cfg")
        with open(self.cfg, "w") as f:
            f.write(text)
        self.proc = None
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=5.0)

    def start(self):
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(["haproxy", "-db", "-f", self.cfg],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            check(self.proc.poll() is None, f"haproxy exited: {self.log_tail()}")
            states = self.states()
            if states and all(s["status"] == "UP" for s in states.values()):
                return
            time.sleep(0.1)
        raise Failure(f"haproxy did not see every replica up within 10 s: {self.states()}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def log_tail(self, n=5):
        with open(self.log, errors="replace") as f:
            return " | ".join(f.read().splitlines()[-n:])

    def states(self):
        """{server: {"status": UP|DOWN|..., "stot": sessions}} of the engines backend."""
        try:
            text = httpx.get(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=2).text
        except httpx.HTTPError:
            return {}
        rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
        return {r["svname"]: {"status": r["status"], "stot": int(r["stot"] or 0)}
                for r in rows if r["pxname"] == "engines" and r["svname"] not in
                ("FRONTEND", "BACKEND")}


def wrk(lb, seconds):
    """Starts wrk (bench/wrk_recommend.lua) against the balancer; returns the process."""
    env = dict(os.environ, TT_IDS="300")
    return subprocess.Popen(
        ["wrk", "-t", "2", "-c", str(WRK_CONNECTIONS), "-d", f"{seconds}s", "--timeout", "5s",
         "-s", os.path.join(ROOT, "bench", "wrk_recommend.lua"),
         f"http://127.0.0.1:{lb.port}/recommend/user"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def wrk_result(proc):
    out = proc.communicate(timeout=60)[0].decode(errors="replace")
    total = re.search(r"(\d+) requests in", out)
    res = re.search(r"RESULT rps=(\S+) p50_ms=\S+ p99_ms=\S+ errors=(\d+) non2xx=(\d+)", out)
    check(total and res, f"wrk output not understood: {short(out, 600)}")
    return int(total.group(1)), int(res.group(2)), int(res.group(3))


def balancer_spreads(ctx):
    """Round robin: requests through HAProxy reach both replicas."""
    before = {r.name: r.requests_served() for r in (ctx.a, ctx.b)}
    for n in range(20):
        r = ctx.lb.http.post("/recommend/user", json={"user_id": f"u{n:07d}", "limit": 5})
        eq(r.status_code, 200, f"through haproxy ({short(r.text)})")
    got = {r.name: r.requests_served() - before[r.name] for r in (ctx.a, ctx.b)}
    check(all(v >= 5 for v in got.values()), f"requests per replica: {got}")


def new_version_costs_no_request(ctx):
    """A version published while wrk runs reaches both replicas (MODEL_POLL_SECONDS=1), and
    not one request fails."""
    old = ctx.a.versions()
    proc = wrk(ctx.lb, 8)
    time.sleep(1)
    # PROMOTE_MARGIN=1: published whatever its held-out score, which the feedback sent by the
    # tests before may have moved.
    out = subprocess.run([ctx.tt, "train", "--tier", "free", "--no-tune"],
                         env=dict(ctx.env, PROMOTE_MARGIN="1"),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    eq(out.returncode, 0, f"train ({short(out.stdout.decode(errors='replace'), 500)})")
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        va, vb = ctx.a.versions(), ctx.b.versions()
        if va == vb and va["als"] != old["als"]:
            break
        time.sleep(0.1)
    else:
        raise Failure(f"the new version did not reach both replicas: A {va}, B {vb}, old {old}")
    total, errors, non2xx = wrk_result(proc)
    check(total > 100, f"wrk made only {total} requests")
    eq((errors, non2xx), (0, 0), f"socket errors and non-2xx answers among {total} requests")
    return f"{total} requests, none failed; both replicas on {va['als']}"


def killed_replica_rejoins(ctx):
    """SIGKILL to B under wrk: at most the requests in flight on it fail, HAProxy takes it
    out, and once B is back it is seen healthy and sent traffic."""
    proc = wrk(ctx.lb, 8)
    time.sleep(2)
    ctx.b.kill(signal.SIGKILL)
    t_kill = time.monotonic()
    down_after = None
    while time.monotonic() - t_kill < 3:
        if ctx.lb.states().get("B", {}).get("status", "").startswith("DOWN"):
            down_after = time.monotonic() - t_kill
            break
        time.sleep(0.02)
    check(down_after is not None, f"haproxy did not take B out within 3 s: {ctx.lb.states()}")
    time.sleep(max(0.0, 4 - (time.monotonic() - t_kill)))
    ctx.b.start()
    total, errors, non2xx = wrk_result(proc)
    failed = errors + non2xx
    check(total > 100, f"wrk made only {total} requests")
    check(failed <= WRK_CONNECTIONS, f"{failed} of {total} requests failed ({errors} socket "
                                     f"errors, {non2xx} non-2xx): more than the "
                                     f"{WRK_CONNECTIONS} that can be in flight at once")
    deadline = time.monotonic() + 6
    while ctx.lb.states().get("B", {}).get("status") != "UP":
        check(time.monotonic() < deadline, f"haproxy did not see B up again: {ctx.lb.states()}")
        time.sleep(0.1)
    up_after = time.monotonic() - t_kill
    before = ctx.b.requests_served()
    for n in range(20):
        r = ctx.lb.http.post("/recommend/user", json={"user_id": f"u{n:07d}", "limit": 5})
        eq(r.status_code, 200, f"through haproxy after B's return ({short(r.text)})")
    check(ctx.b.requests_served() - before >= 5, "B got no traffic after its return")
    return (f"{failed} of {total} requests failed; B out after {down_after * 1000:.0f} ms, "
            f"in again {up_after:.1f} s after the kill (restarted at 4 s)")


# --- the run --------------------------------------------------------------------------------


class Ctx:
    pass


def run(name, fn, ctx, results):
    t0 = time.monotonic()
    try:
        note = fn(ctx)
        print(f"ok   {name} ({time.monotonic() - t0:.2f} s){': ' + note if note else ''}",
              flush=True)
        results[0] += 1
    except Exception as e:  # noqa: BLE001 - every failure is reported, the run goes on
        msg = str(e) if isinstance(e, (Failure, httpx.HTTPError)) else traceback.format_exc()
        print(f"FAIL {name}: {msg}", flush=True)
        results[1] += 1


def prepare(ctx):
    """Schema, data and models of the run's own."""
    base = os.environ["TT_TEST_PG_URL"]
    ctx.schema = f"tt_replicas_{os.getpid()}"
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", base, "-c",
                    f"CREATE SCHEMA {ctx.schema}"], check=True, capture_output=True, timeout=30)
    ctx.db_url = with_schema(base, ctx.schema)
    ctx.env = dict(os.environ, DATABASE_URL=ctx.db_url, MODEL_DIR=os.path.join(ctx.work, "models"),
                   MODEL_POLL_SECONDS="1", TT_LOG_LEVEL="info", TRAIN_SCHEDULE_FREE="off",
                   TRAIN_SCHEDULE_STARTER="off", TRAIN_SCHEDULE_PRO="off")
    for k in ("REDIS_URL", "PORT", "HOST"):
        ctx.env.pop(k, None)
    for cmd in (["generate", "--users", "300", "--tracks", "2000", "--interactions", "15000",
                 "--seed", "13"], ["train", "--tier", "free", "--no-tune"]):
        out = subprocess.run([ctx.tt] + cmd, env=ctx.env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=180)
        check(out.returncode == 0, f"{cmd[0]}: {short(out.stdout.decode(errors='replace'))}")


def main():
    ctx = Ctx()
    ctx.tt = sys.argv[1]
    ctx.work = tempfile.mkdtemp(prefix="tt-replicas.")
    ctx.figures = {}
    results = [0, 0]
    reps, lb = [], None
    try:
        prepare(ctx)
        shared = dict(ctx.env, REDIS_URL=redis_url_db(os.environ["TT_TEST_REDIS_URL"], REDIS_DB))
        dead = dict(ctx.env, REDIS_URL="redis://127.0.0.1:1/0")
        ctx.a, ctx.b = Replica(ctx.tt, "A", ctx.work, shared), Replica(ctx.tt, "B", ctx.work, shared)
        ctx.c, ctx.d = Replica(ctx.tt, "C", ctx.work, dead), Replica(ctx.tt, "D", ctx.work, ctx.env)
        reps = [ctx.a, ctx.b, ctx.c, ctx.d]
        for r in reps:
            r.start()
        tests = [feedback_through_redis, own_events_count_once,
                 journaled_feedback_once_everywhere, radio_on_any_replica,
                 daily_mix_on_any_replica, feedback_through_the_database,
                 late_commit_is_not_skipped]
        for fn in tests:
            run(fn.__name__, fn, ctx, results)
        ctx.c.kill()
        ctx.d.kill()
        lb = ctx.lb = Balancer(ctx.work, [ctx.a, ctx.b])
        lb.start()
        for fn in (balancer_spreads, new_version_costs_no_request, killed_replica_rejoins):
            run(fn.__name__, fn, ctx, results)
    except Exception as e:  # noqa: BLE001
        msg = str(e) if isinstance(e, Failure) else traceback.format_exc()
        print(f"FAIL setup: {msg}", flush=True)
        results[1] += 1
    finally:
        if lb:
            lb.stop()
        for r in reps:
            r.kill()
        if getattr(ctx, "schema", None):
            subprocess.run(["psql", "-X", "-q", os.environ["TT_TEST_PG_URL"], "-c",
                            f"DROP SCHEMA IF EXISTS {ctx.schema} CASCADE"], capture_output=True,
                           timeout=30)
        if os.environ.get("TT_REPLICAS_KEEP") == "1":
            print(f"kept {ctx.work}")
        else:
            shutil.rmtree(ctx.work, ignore_errors=True)
    print(f"replicas: {results[0]} passed, {results[1]} failed")
    sys.exit(0 if results[1] == 0 else 1)


if __name__ == "__main__":
    main()
