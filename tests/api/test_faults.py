"""Faults under load: the database stopped or paused, Redis killed, the engine killed with
feedback in flight, and a feedback journal with no room left.

What must hold (docs/API.md, POST /feedback; docs/reliability.md, "Fault tests"):
- recommendations go on, answered from memory, while the database is away;
- feedback is answered within its budget: 200 stored, or 202 queued in the journal; never a
  hang, and 503 journal_full (with Retry-After) only when the journal has no room;
- every acknowledged event (200 or 202) ends in the interactions table exactly once, in the
  order each client sent them, once the database is back or the engine restarted;
- Redis dying only costs the cache: answers go on uncached, and are cached again after it
  comes back.

Every test starts its own servers (server "own" in main.py) on a copy of the runner's data
or on a private PostgreSQL with a data set of its own, and its own private PostgreSQL and
Redis (services.py), so stopping them disturbs nothing else. Tests needing PostgreSQL or Redis
skip, like the other such tests, when TT_TEST_PG_URL / TT_TEST_REDIS_URL are unset, and fail
then under CI=true; the full-disk test needs root (a tmpfs mount) likewise.
"""
import atexit
import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
import uuid

import httpx

from harness import (START_SECONDS, STOP_SECONDS, TIMEOUT, WRAP, Data, Failure, Server, Skip,
                     check, check_error, eq, free_port, log, short, test)
from services import PrivatePostgres, PrivateRedis, postgres_missing, redis_missing

# The database budget of tunetrail serve (--db-budget-ms, default 300 ms).
BUDGET_S = 0.3
# The longest any request may take while the database is away: the budget, a reconnection
# attempt refused at once, and slack for a loaded test machine.
HANG_S = 3.0


def in_ci():
    return os.environ.get("CI") in ("true", "1")


def need(var, missing=None):
    """Skips (fails under CI=true) unless @var is set and nothing is @missing."""
    why = f"{var} unset" if not os.environ.get(var) else missing
    if not why:
        return
    if in_ci():
        raise Failure(f"CI=true but {why}: this fault test did not run")
    raise Skip(f"{why} (skipped)")


_dirs = [0]


def workdir(ctx, name):
    _dirs[0] += 1
    d = os.path.join(os.path.dirname(ctx.data.db_path), f"faults-{_dirs[0]}-{name}")
    os.makedirs(d)
    return d


def sqlite_copy(ctx, name):
    """A copy of the runner's database and models in a directory of its own:
    (db_path, model_dir, dir)."""
    d = workdir(ctx, name)
    src = ctx.data.db_path
    db = os.path.join(d, "tt.db")
    with sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=5) as a, \
            sqlite3.connect(db) as b:
        a.backup(b)
    models = os.path.join(d, "models")
    shutil.copytree(os.path.join(os.path.dirname(src), "models"), models, symlinks=True)
    return db, models, d


def health(srv):
    r = httpx.get(srv.base + "/health", timeout=TIMEOUT)
    return r.json()


def wait_drained(srv, seconds, what):
    """Waits until /health says journal.pending 0; returns how long that took."""
    t0 = time.monotonic()
    while True:
        h = health(srv)
        j = h.get("journal")
        check(isinstance(j, dict), f"/health journal must be an object: {short(str(h))}")
        if j.get("pending") == 0:
            return time.monotonic() - t0
        if time.monotonic() - t0 > seconds:
            raise Failure(f"{what}: journal.pending still {j.get('pending')} after {seconds} s; "
                          f"server log: {srv.log_tail()}")
        time.sleep(0.1)


def locked(db_path):
    """Another process's write lock on the SQLite database (BEGIN EXCLUSIVE): the engine
    cannot write until it is rolled back."""
    lock = sqlite3.connect(db_path, isolation_level=None, timeout=30)
    lock.execute("BEGIN EXCLUSIVE")
    return lock


def release(lock):
    lock.execute("ROLLBACK")
    lock.close()


# ---------------------------------------------------------------------------------------
# Load: client threads sending feedback (each event with its own event_id) and recommend
# ---------------------------------------------------------------------------------------

class Load:
    """Client threads against @srv until stop(): @feedback threads send events whose
    event_ids are "<tag>-<thread>-<n>", n counting up; @recommend threads ask for lists.
    Every answer is kept as (kind, t_sent, seconds, status or exception name, event_id)."""

    def __init__(self, srv, users, tracks, tag, feedback=2, recommend=1, pause=0.01):
        self.srv, self.users, self.tracks, self.tag = srv, users, tracks, tag
        self.pause = pause
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.log = []
        self.threads = [threading.Thread(target=self.feedback_loop, args=(k,))
                        for k in range(feedback)]
        self.threads += [threading.Thread(target=self.recommend_loop, args=(k,))
                         for k in range(recommend)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=TIMEOUT + 5)

    def _record(self, kind, t0, status, eid=None):
        with self.lock:
            self.log.append((kind, t0, time.monotonic() - t0, status, eid))

    def _post(self, c, path, body):
        try:
            return c.post(path, json=body).status_code
        except httpx.HTTPError as e:
            return type(e).__name__

    def feedback_loop(self, k):
        with httpx.Client(base_url=self.srv.base, timeout=TIMEOUT) as c:
            n = 0
            while not self.stopping.is_set():
                eid = f"{self.tag}-{k}-{n}"
                body = {"user_id": self.users[(k * 7 + n) % len(self.users)],
                        "track_id": self.tracks[(n * 13 + k) % len(self.tracks)],
                        "action": ("play", "like", "skip")[n % 3], "event_id": eid}
                t0 = time.monotonic()
                self._record("feedback", t0, self._post(c, "/feedback", body), eid)
                n += 1
                time.sleep(self.pause)

    def recommend_loop(self, k):
        with httpx.Client(base_url=self.srv.base, timeout=TIMEOUT) as c:
            n = 0
            while not self.stopping.is_set():
                body = {"user_id": self.users[(k * 11 + n) % len(self.users)], "limit": 10}
                t0 = time.monotonic()
                self._record("recommend", t0, self._post(c, "/recommend/user", body))
                n += 1
                time.sleep(self.pause)

    def answers(self, kind, since=None, until=None):
        with self.lock:
            return [a for a in self.log if a[0] == kind and (since is None or a[1] >= since)
                    and (until is None or a[1] + a[2] <= until)]

    def acked(self):
        """event_id -> status of the events answered 200 or 202."""
        return {a[4]: a[3] for a in self.answers("feedback") if a[3] in (200, 202)}

    def summary(self, since=None, until=None):
        out = {}
        for kind in ("feedback", "recommend"):
            got = self.answers(kind, since, until)
            counts = {}
            for a in got:
                counts[a[3]] = counts.get(a[3], 0) + 1
            worst = max((a[2] for a in got), default=0.0)
            out[kind] = (counts, worst)
        return out


def check_window(load, since, until, feedback_ok, what, hang=HANG_S):
    """Every answer sent in [since, until): recommendations 200, feedback one of
    @feedback_ok, none slower than @hang seconds. Returns the summary."""
    s = load.summary(since, until)
    rec_counts, rec_worst = s["recommend"]
    fb_counts, fb_worst = s["feedback"]
    check(rec_counts, f"{what}: no recommendation answered")
    check(set(rec_counts) == {200}, f"{what}: recommendations answered {rec_counts}, all 200 "
                                    f"expected (served from memory)")
    check(fb_counts, f"{what}: no feedback answered")
    check(set(fb_counts) <= set(feedback_ok),
          f"{what}: feedback answered {fb_counts}, expected only {sorted(feedback_ok)}")
    check(rec_worst < hang, f"{what}: a recommendation took {rec_worst:.2f} s")
    check(fb_worst < hang, f"{what}: a feedback took {fb_worst:.2f} s")
    return s


def check_once_in_order(stored, acked, tag, what):
    """@stored: event_ids as the database holds them, in insertion order. Every acknowledged
    one is there exactly once, and each client's events are in the order it sent them."""
    counts = {}
    for e in stored:
        counts[e] = counts.get(e, 0) + 1
    missing = [e for e in acked if counts.get(e, 0) == 0]
    twice = {e: n for e, n in counts.items() if n > 1}
    check(not missing, f"{what}: {len(missing)} of {len(acked)} acknowledged events are not in "
                       f"the database, e.g. {sorted(missing)[:5]}")
    check(not twice, f"{what}: events stored more than once: {dict(list(twice.items())[:5])}")
    last = {}
    for e in stored:
        _, k, n = e.rsplit("-", 2)
        check(int(n) > last.get(k, -1),
              f"{what}: client {k}'s event {n} stored after its event {last.get(k)}")
        last[k] = int(n)


# ---------------------------------------------------------------------------------------
# PostgreSQL: one private cluster with a data set and trained models, shared by the tests
# ---------------------------------------------------------------------------------------

_pg = {}


def pg_fixture(ctx):
    """(PrivatePostgres, model_dir, users, tracks): created at first use, running."""
    need("TT_TEST_PG_URL", postgres_missing())
    if "pg" not in _pg:
        pg = PrivatePostgres("faults-pg")
        atexit.register(pg.destroy)
        _pg["pg"] = pg
        models = os.path.join(workdir(ctx, "pg"), "models")
        env = dict(os.environ, DATABASE_URL=pg.url, MODEL_DIR=models)
        for args in (["generate", "--users", "120", "--tracks", "600", "--interactions", "6000",
                      "--seed", "5"], ["train", "--tier", "free", "--no-tune"]):
            out = subprocess.run([ctx.tt] + args, env=env, capture_output=True, text=True,
                                 timeout=120)
            check(out.returncode == 0, f"tunetrail {args[0]} on the private PostgreSQL: "
                                       f"{short(out.stderr)}")
        users = [u for (u,) in pg.psql("SELECT user_id FROM users ORDER BY user_id LIMIT 40")]
        tracks = [t for (t,) in pg.psql("SELECT track_id FROM tracks ORDER BY track_id "
                                        "LIMIT 200")]
        _pg["rest"] = (models, users, tracks)
    pg = _pg["pg"]
    pg.resume()
    if pg.proc is None:
        pg.start()
    return (pg,) + _pg["rest"]


def pg_stored(pg, tag):
    return [e for (e,) in pg.psql(f"SELECT event_id FROM interactions WHERE event_id LIKE "
                                  f"'{tag}-%' ORDER BY id")]


def pg_server(ctx, name, pg, models, extra_env=None):
    d = workdir(ctx, name)
    env = {"FEEDBACK_JOURNAL": os.path.join(d, "feedback.wal")}
    env.update(extra_env or {})
    return Server(ctx.tt, name, None, models, d, db_url=pg.url, extra_env=env)


def stored_again(load, since, seconds):
    """Seconds from @since to the first feedback sent after it and answered 200 (stored,
    not queued): the journal drained under load and new events go to the database again."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = [a[1] for a in load.answers("feedback", since) if a[3] == 200]
        if got:
            return min(got) - since
        time.sleep(0.05)
    raise Failure(f"no feedback stored (200) in the {seconds:.0f} s after the database came "
                  f"back: the journal did not drain under load")


def outage(load, pg, mode, seconds):
    """Stops PostgreSQL (pg_ctl stop -m @mode) for @seconds under @load, then starts it:
    (t_stopped, t_started)."""
    pg.stop(mode)
    t_stopped = time.monotonic()
    time.sleep(seconds)
    t_restart = time.monotonic()
    pg.start()
    return t_stopped, t_restart


@test(server="own")
def postgres_stopped_under_load(ctx):
    """PostgreSQL stopped twice (fast, then immediate) under feedback and recommend load:
    lists keep coming from memory, feedback is queued (202) in the journal within its
    budget; once it is back, every acknowledged event is stored once, in order."""
    pg, models, users, tracks = pg_fixture(ctx)
    tag = "stop-" + uuid.uuid4().hex[:6]
    with pg_server(ctx, "pgstop", pg, models) as srv:
        load = Load(srv, users, tracks, tag, feedback=2, recommend=2).start()
        try:
            time.sleep(1.0)
            windows = []
            for mode in ("fast", "immediate"):
                t0, t1 = outage(load, pg, mode, 3.0)
                windows.append((mode, t0, t1, stored_again(load, t1, 8.0)))
                time.sleep(0.5)
        finally:
            load.stop()
        drained = wait_drained(srv, 10.0, "after PostgreSQL came back")
        for mode, t0, t1, back in windows:
            # From a moment after the stop (requests in flight then may have been stored)
            # to the restart, every event went to the journal.
            s = check_window(load, t0 + 0.5, t1, (202,), f"PostgreSQL stopped ({mode})")
            log(f"     stop -m {mode}: feedback {s['feedback'][0]} worst "
                f"{s['feedback'][1] * 1000:.0f} ms; recommend {s['recommend'][0]} worst "
                f"{s['recommend'][1] * 1000:.0f} ms; stored (200) again {back:.1f} s after "
                f"the restart")
        check_window(load, None, None, (200, 202), "the whole run")
        acked = load.acked()
        check(sum(1 for s in acked.values() if s == 202) >= 20,
              f"only {sum(1 for s in acked.values() if s == 202)} events queued")
        check_once_in_order(pg_stored(pg, tag), acked, tag, "after the outages")
        time.sleep(1.1)  # the health check is cached for a second
        h = health(srv)
        eq(h["database"]["healthy"], True, "/health database.healthy once PostgreSQL is back")
        eq(h["journal"]["pending"], 0, "/health journal.pending once replayed")
        log(f"     {len(acked)} events acknowledged ({sum(1 for s in acked.values() if s == 202)}"
            f" queued), all stored once, in order; journal drained {drained:.1f} s after the "
            f"load ended")


@test(server="own")
def postgres_paused(ctx):
    """Every PostgreSQL process stopped with SIGSTOP: TCP still connects, nothing answers.
    Feedback is queued (202) within about a second, /health answers and says degraded,
    lists keep coming; after SIGCONT everything queued is stored once."""
    pg, models, users, tracks = pg_fixture(ctx)
    tag = "pause-" + uuid.uuid4().hex[:6]
    with pg_server(ctx, "pgpause", pg, models) as srv:
        load = Load(srv, users, tracks, tag, feedback=2, recommend=1).start()
        health_times, states, noid = [], [], []
        noid_user = "pause-noid-" + uuid.uuid4().hex[:8]
        try:
            time.sleep(1.0)
            pg.pause()
            t0 = time.monotonic()
            # Events without an event_id, the first of them waiting on the paused database:
            # its write, abandoned at the budget, commits when the database resumes, and
            # the journal's copy must then be the same event.
            for i in range(3):
                r = srv.post("/feedback", {"user_id": noid_user, "track_id": tracks[i],
                                           "action": "play"})
                noid.append(r.status_code)
            try:
                while time.monotonic() - t0 < 3.0:
                    h0 = time.monotonic()
                    h = health(srv)
                    health_times.append(time.monotonic() - h0)
                    states.append((h["status"], h["database"]["healthy"]))
                    time.sleep(0.25)
            finally:
                t1 = time.monotonic()
                pg.resume()
            back = stored_again(load, t1, 8.0)
        finally:
            load.stop()
        s = check_window(load, t0 + 0.5, t1, (202,), "PostgreSQL paused", hang=1.2)
        check_window(load, None, None, (200, 202), "the whole run", hang=1.2)
        check(max(health_times) < 1.2, f"/health took {max(health_times):.2f} s while paused")
        check(("degraded", False) in states,
              f"/health never said degraded with database.healthy false while paused: {states}")
        n = s["recommend"][0].get(200, 0)
        check(n >= 10, f"only {n} recommendations answered in 2.5 s while paused")
        drained = wait_drained(srv, 10.0, "after SIGCONT")
        acked = load.acked()
        check_once_in_order(pg_stored(pg, tag), acked, tag, "after the pause")
        eq(noid, [202] * 3, "events without an event_id sent while paused")
        rows = pg.psql(f"SELECT track_id FROM interactions WHERE user_id = '{noid_user}' "
                       f"ORDER BY id")
        eq([t for (t,) in rows], tracks[:3], "events without an event_id queued while paused, "
                                             "stored once each")
        log(f"     paused: feedback {s['feedback'][0]} worst {s['feedback'][1] * 1000:.0f} ms, "
            f"/health worst {max(health_times) * 1000:.0f} ms, {n} lists; "
            f"stored (200) again {back:.1f} s after SIGCONT; {len(acked)} events "
            f"acknowledged, all stored once; drained in {drained:.1f} s")


# ---------------------------------------------------------------------------------------
# Redis killed and restarted
# ---------------------------------------------------------------------------------------

def cache_hits(srv):
    return srv.metrics().value("tt_cache_hits_total")


def cache_state(srv):
    h = health(srv)
    return h["status"], h["cache"]["healthy"]


def wait_for(what, fn, want, seconds):
    t0 = time.monotonic()
    while True:
        got = fn()
        if got == want:
            return time.monotonic() - t0
        if time.monotonic() - t0 > seconds:
            raise Failure(f"{what}: {got!r} after {seconds} s, expected {want!r}")
        time.sleep(0.1)


@test(server="own")
def redis_killed_and_restarted(ctx):
    need("TT_TEST_REDIS_URL", redis_missing())
    db, models, d = sqlite_copy(ctx, "redis")
    data = Data(db)
    with PrivateRedis() as redis, \
            Server(ctx.tt, "redis-kill", db, models, d, redis_url=redis.url) as srv:
        body = {"user_id": data.take_user(), "limit": 12}
        a, b = srv.recommend(body), srv.recommend(body)
        eq((a["cached"], b["cached"]), (False, True), "cached flags before the kill")
        redis.kill()
        body = {"user_id": data.take_user(), "limit": 12}
        for i in range(5):
            t0 = time.monotonic()
            r = srv.recommend(body)
            took = time.monotonic() - t0
            eq(r["cached"], False, f"answer {i + 1} with Redis killed")
            check(took < 1.0, f"answer {i + 1} with Redis killed took {took:.2f} s")
        down = wait_for("/health (status, cache.healthy) with Redis killed",
                        lambda: cache_state(srv), ("degraded", False), 5.0)
        redis.start()
        up = wait_for("/health (status, cache.healthy) after Redis restarted",
                      lambda: cache_state(srv), ("ok", True), 10.0)
        hits = cache_hits(srv)
        body = {"user_id": data.take_user(), "limit": 12}
        a, b = srv.recommend(body), srv.recommend(body)
        eq((a["cached"], b["cached"]), (False, True), "cached flags after Redis restarted")
        check(cache_hits(srv) > hits, "tt_cache_hits_total did not grow after Redis restarted")
        log(f"     Redis killed: degraded within {down:.1f} s, lists uncached; restarted: "
            f"healthy within {up:.1f} s, cache hits again")


# ---------------------------------------------------------------------------------------
# The engine killed (SIGKILL) with feedback in flight
# ---------------------------------------------------------------------------------------

@test(server="own")
def engine_killed_with_feedback_in_flight(ctx):
    """1,000 events from four clients; the database is locked midway (events go to the
    journal) and the engine is killed with SIGKILL. Restarted on the same database and
    journal, it replays: every acknowledged event is stored exactly once; the clients then
    resend what was not acknowledged (same event_ids) and all 1,000 are stored once."""
    db, models, d = sqlite_copy(ctx, "kill9")
    data = Data(db)
    env = {"FEEDBACK_JOURNAL": os.path.join(d, "feedback.wal")}
    users = [data.take_user() for _ in range(8)]
    tracks = data.popular_tracks[:300]
    events = {f"k9-{k}-{n}": {"user_id": users[(k + n) % 8], "track_id": tracks[(k * 31 + n) % 300],
                              "action": ("play", "like", "skip", "save")[n % 4],
                              "event_id": f"k9-{k}-{n}"}
              for k in range(4) for n in range(250)}
    acked, lock_state = {}, {}
    mu = threading.Lock()
    # Each client sends its first quarter, then waits until the database is locked, so the
    # rest meets the lock however fast or slow the engine and this machine are.
    at_lock, go = threading.Barrier(5), threading.Event()
    srv = Server(ctx.tt, "kill9", db, models, d, extra_env=env)

    def client(k):
        with httpx.Client(base_url=srv.base, timeout=TIMEOUT) as c:
            for n in range(250):
                if n == 63:
                    try:
                        at_lock.wait(timeout=30)
                    except threading.BrokenBarrierError:
                        pass
                    go.wait(timeout=30)
                eid = f"k9-{k}-{n}"
                try:
                    r = c.post("/feedback", json=events[eid])
                except httpx.HTTPError:
                    return  # the engine is gone
                if r.status_code in (200, 202):
                    with mu:
                        acked[eid] = r.status_code

    with srv:
        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        lock = None
        try:
            deadline = time.monotonic() + 30
            try:
                at_lock.wait(timeout=30)
            except threading.BrokenBarrierError:
                pass
            lock = locked(db)
            lock_state["at"] = len(acked)
            go.set()
            while len(acked) < 600 and time.monotonic() < deadline:
                time.sleep(0.005)
            srv.proc.send_signal(signal.SIGKILL)
            srv.proc.wait(timeout=5)
            lock_state["killed_at"] = len(acked)
            for t in threads:
                t.join(timeout=TIMEOUT + 5)
        finally:
            if lock:
                release(lock)
        srv.proc = None  # killed on purpose: no SIGTERM check for this one
    queued = sum(1 for s in acked.values() if s == 202)
    check(queued > 0, f"no event was queued in the journal before the kill ({len(acked)} acked)")
    with Server(ctx.tt, "kill9-restart", db, models, d, extra_env=env) as srv2:
        wait_drained(srv2, 15.0, "after the restart")
        with data.connect() as c:
            stored = [e for (e,) in c.execute("SELECT event_id FROM interactions WHERE "
                                              "event_id LIKE 'k9-%' ORDER BY id")]
        check_once_in_order(stored, acked, "k9", "after kill -9 and restart")
        before = len(stored)
        with httpx.Client(base_url=srv2.base, timeout=TIMEOUT) as c:
            for eid in sorted(set(events) - set(acked)):
                r = c.post("/feedback", json=events[eid])
                check(r.status_code == 200, f"resending {eid}: {r.status_code} {short(r.text)}")
        with data.connect() as c:
            rows = dict(c.execute("SELECT event_id, count(*) FROM interactions WHERE event_id "
                                  "LIKE 'k9-%' GROUP BY event_id").fetchall())
        eq(len(rows), 1000, "events stored once the unacknowledged ones were resent")
        check(set(rows.values()) == {1}, "an event is stored more than once")
    log(f"     {len(acked)} acknowledged ({queued} queued) when killed; after the restart all "
        f"stored once; {before} stored before resending, 1000 after")


@test(server="own")
def sigterm_while_starting_stops_cleanly(ctx):
    """SIGTERM the moment the engine first answers, while it may still be starting: it stops
    cleanly (exit 0) every time, never dies of the signal."""
    db, models, d = sqlite_copy(ctx, "sigstart")
    srv = Server(ctx.tt, "sigstart", db, models, d)
    got = []
    for i in range(8):
        srv.port = free_port()
        log_f = open(srv.log_path, "ab")
        proc = subprocess.Popen(WRAP + [ctx.tt, "serve", "--port", str(srv.port), "--host",
                                        "127.0.0.1"], env=srv.env(), stdin=subprocess.DEVNULL,
                                stdout=log_f, stderr=log_f)
        log_f.close()
        try:
            deadline = time.monotonic() + START_SECONDS
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    httpx.get(f"http://127.0.0.1:{srv.port}/health", timeout=1.0)
                    break
                except httpx.HTTPError:
                    time.sleep(0.002)
            proc.send_signal(signal.SIGTERM)
            got.append(proc.wait(timeout=STOP_SECONDS))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    eq(got, [0] * 8, f"exit codes of 8 engines sent SIGTERM as they started; log: "
                     f"{srv.log_tail()}")


@test(server="own")
def sigterm_under_load_stops_cleanly(ctx):
    """SIGTERM while three clients send requests back to back on kept-alive connections, six
    times: the engine exits 0 each time, and every answer a client received is whole (200
    and a list); the only other outcome allowed is a connection closed before an answer."""
    db, models, d = sqlite_copy(ctx, "sigload")
    data = Data(db)
    users = [data.take_user() for _ in range(6)]
    srv = Server(ctx.tt, "sigload", db, models, d)
    got, bad, answered = [], [], [0, 0]
    mu = threading.Lock()

    def client(k, stop, signalled):
        with httpx.Client(base_url=srv.base, timeout=TIMEOUT) as c:
            n = 0
            while not stop.is_set():
                after = signalled.is_set()
                try:
                    r = c.post("/recommend/user", json={"user_id": users[(k + n) % 6],
                                                        "limit": 10})
                    ok = r.status_code == 200 and isinstance(r.json().get("items"), list)
                    with mu:
                        answered[after] += 1
                        if not ok:
                            bad.append(f"{r.status_code} {short(r.text)}")
                except (httpx.ConnectError, httpx.ReadError, httpx.WriteError):
                    if not after:
                        with mu:
                            bad.append("connection failed before SIGTERM")
                    time.sleep(0.005)
                except httpx.RemoteProtocolError as e:
                    if not after or "incomplete" in str(e):
                        with mu:
                            bad.append(f"{e}")
                    time.sleep(0.005)
                except ValueError as e:
                    with mu:
                        bad.append(f"answer is not JSON: {e}")
                n += 1

    for i in range(6):
        srv.start()
        stop, signalled = threading.Event(), threading.Event()
        threads = [threading.Thread(target=client, args=(k, stop, signalled)) for k in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.2 + 0.1 * i)
        signalled.set()
        srv.proc.send_signal(signal.SIGTERM)
        try:
            got.append(srv.proc.wait(timeout=STOP_SECONDS))
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=TIMEOUT + 5)
            srv.kill()
    eq(got, [0] * 6, f"exit codes of 6 engines sent SIGTERM under load; log: {srv.log_tail()}")
    check(not bad, f"{len(bad)} answers broken by the stop, first: {bad[:3]}")
    check(answered[0] >= 6, f"only {answered[0]} answers before the signals")
    log(f"     6 stops under load: {answered[0]} answers before SIGTERM, {answered[1]} after, "
        f"all whole; exit 0 each time")


# ---------------------------------------------------------------------------------------
# A journal with no room: its disk full, or its bound reached
# ---------------------------------------------------------------------------------------

def big_event(tag, n):
    """An event of about 1 KB in the journal (its strings near their limits), so that a
    small bound fills after few requests."""
    eid = f"{tag}-0-{n}"
    return {"user_id": "full-user-" + "u" * 200, "track_id": f"full-track-{n:05d}-" + "t" * 200,
            "action": "play", "context": "c" * 256, "recommendation_id": "r" * 128,
            "event_id": eid + "-" + "e" * (120 - len(eid))}


def fill_journal(srv, tag, limit=5000):
    """Sends events until one is refused: (acknowledged event_ids, the refusal)."""
    acked = []
    with httpx.Client(base_url=srv.base, timeout=TIMEOUT) as c:
        for n in range(limit):
            body = big_event(tag, n)
            r = c.post("/feedback", json=body)
            if r.status_code != 202:
                return acked, r
            acked.append(body["event_id"])
    raise Failure(f"{limit} events queued and the journal never refused one")


def check_full(r, acked, what):
    check(len(acked) >= 10, f"{what}: only {len(acked)} events queued before the refusal")
    check_error(r, 503, "journal_full", what=what)
    eq(r.headers.get("retry-after"), "5", f"{what}: Retry-After")


def sqlite_stored(db, tag):
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as c:
        return [e.rsplit("-", 1)[0] for (e,) in c.execute(
            "SELECT event_id FROM interactions WHERE event_id LIKE ? ORDER BY id", (tag + "-%",))]


def short_ids(acked):
    return {e.rsplit("-", 1)[0]: 202 for e in acked}


def mount_tmpfs(d, size):
    if os.geteuid() != 0:
        return "not root: cannot mount a small tmpfs for the journal"
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", d],
                       capture_output=True, text=True, timeout=10)
    return None if r.returncode == 0 else f"mount -t tmpfs failed: {short(r.stderr)}"


def umount(d):
    if subprocess.run(["umount", d], capture_output=True, timeout=10).returncode != 0:
        subprocess.run(["umount", "-l", d], capture_output=True, timeout=10)


@test(server="own")
def journal_disk_full(ctx):
    """The journal on a 64 KiB tmpfs and the database locked: events are queued until the
    disk is full, then refused with 503 journal_full and Retry-After; what was queued is
    intact: stored once when the lock goes, and replayed whole by a restarted engine."""
    db, models, d = sqlite_copy(ctx, "diskfull")
    disk = os.path.join(d, "journal")
    os.makedirs(disk)
    why = mount_tmpfs(disk, "64k")
    if why:
        if in_ci():
            raise Failure(f"CI=true but {why}")
        raise Skip(f"{why} (skipped)")
    env = {"FEEDBACK_JOURNAL": os.path.join(disk, "feedback.wal")}
    try:
        with Server(ctx.tt, "diskfull", db, models, d, extra_env=env) as srv:
            # Round 1: full, then the lock goes and the running engine replays.
            lock = locked(db)
            try:
                acked1, r = fill_journal(srv, "full1")
                check_full(r, acked1, "event beyond a full disk")
                for i in range(3):
                    r = srv.post("/feedback", big_event("full1x", i))
                    check_full(r, acked1, f"retry {i} while the disk is full")
                eq(health(srv)["journal"]["pending"], len(acked1), "journal.pending when full")
            finally:
                release(lock)
            wait_drained(srv, 15.0, "after the lock went")
            check_once_in_order(sqlite_stored(db, "full1"), short_ids(acked1), "full1",
                                "disk full, lock released")
            eq(sqlite_stored(db, "full1x"), [], "refused events stored")
            eq(os.path.getsize(env["FEEDBACK_JOURNAL"]), 16, "journal size once replayed")
            # Round 2: full again, and the engine stopped before the lock goes.
            lock = locked(db)
            try:
                acked2, r = fill_journal(srv, "full2")
                check_full(r, acked2, "event beyond a full disk, again")
                srv.stop()
            finally:
                release(lock)
        with Server(ctx.tt, "diskfull-restart", db, models, d, extra_env=env) as srv:
            wait_drained(srv, 15.0, "after the restart")
            check_once_in_order(sqlite_stored(db, "full2"), short_ids(acked2), "full2",
                                "disk full, engine restarted")
            damaged = [f for f in os.listdir(disk) if ".damaged-" in f]
            eq(damaged, [], "damaged journal files after a full disk")
            srv.feedback({"user_id": "full-after", "track_id": "t-after", "action": "play"})
    finally:
        umount(disk)
    log(f"     64 KiB disk: {len(acked1)} and {len(acked2)} events queued before 503 "
        f"journal_full; all stored once, nothing damaged")


@test(server="own")
def journal_bound_reached(ctx):
    """FEEDBACK_JOURNAL_MB=1 and the database locked: 503 journal_full with Retry-After once
    the journal holds 1 MiB; the events queued before are stored once when the lock goes."""
    db, models, d = sqlite_copy(ctx, "bound")
    env = {"FEEDBACK_JOURNAL": os.path.join(d, "feedback.wal"), "FEEDBACK_JOURNAL_MB": "1"}
    with Server(ctx.tt, "bound", db, models, d, extra_env=env) as srv:
        lock = locked(db)
        try:
            acked, r = fill_journal(srv, "bound")
            check_full(r, acked, "event beyond FEEDBACK_JOURNAL_MB")
            size = os.path.getsize(env["FEEDBACK_JOURNAL"])
            check(1048576 - 1200 < size <= 1048576,
                  f"journal of {size} bytes when refused, bound 1048576")
            eq(health(srv)["journal"]["bytes"], size, "/health journal.bytes")
        finally:
            release(lock)
        wait_drained(srv, 30.0, "after the lock went")
        check_once_in_order(sqlite_stored(db, "bound"), short_ids(acked), "bound",
                            "bound reached, lock released")
    log(f"     FEEDBACK_JOURNAL_MB=1: {len(acked)} events of ~1 KB queued, then 503 "
        f"journal_full; all stored once")


@test(server="own")
def journal_off_answers_503(ctx):
    """FEEDBACK_JOURNAL=off: a locked database makes /feedback answer 503
    database_unavailable within its budget, with Retry-After, and nothing is stored."""
    db, models, d = sqlite_copy(ctx, "nojournal")
    data = Data(db)
    user = data.take_user()
    body = {"user_id": user, "track_id": data.popular_tracks[7], "action": "like"}
    with Server(ctx.tt, "nojournal", db, models, d,
                        extra_env={"FEEDBACK_JOURNAL": "off"}) as srv:
        eq(health(srv).get("journal"), None, "/health journal without one")
        lock = locked(db)
        worst = 0.0
        try:
            for i in range(3):
                t0 = time.monotonic()
                r = srv.post("/feedback", dict(body, event_id=f"{user}-off-{i}"))
                took = time.monotonic() - t0
                worst = max(worst, took)
                check_error(r, 503, "database_unavailable", what=f"feedback {i} while locked")
                eq(r.headers.get("retry-after"), "1", f"feedback {i}: Retry-After")
                check(took < 4 * BUDGET_S + 0.5, f"feedback {i} took {took:.2f} s")
                check(srv.recommend({"user_id": user, "limit": 10})["items"],
                      "recommendations while the database is locked")
        finally:
            release(lock)
        d2 = srv.feedback(dict(body, event_id=f"{user}-off-after"))
        eq(d2.get("status"), "stored", "feedback once the lock is gone")
        with data.connect() as c:
            n = c.execute("SELECT count(*) FROM interactions WHERE event_id LIKE ?",
                          (f"{user}-off-_",)).fetchone()[0]
        eq(n, 0, "events refused with 503 are not stored")
    log(f"     no journal, locked SQLite: 503 database_unavailable in at most "
        f"{worst * 1000:.0f} ms")

