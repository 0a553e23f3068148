"""The training pipeline: POST/GET /models/train, GET/DELETE /models/train/{job_id},
GET /models/versions, POST /models/promote and /models/rollback; jobs run by worker
processes (`tunetrail job-run`), workers and engines killed mid-run, custom enterprise
models, versions published by another process, TensorBoard logs and the scheduler.

Every test here starts its own server(s) on a fresh copy of the runner's database and
MODEL_DIR (server "own" in main.py): they train, publish and roll back, which must not move
the models the other suites check. A job on the test data trains in about a second."""
import json
import re
import math
import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import time

import httpx

from harness import (ADMIN_TOKEN, TIMEOUT, Data, Failure, Server, check, check_error, eq,
                     json_of, short, test)

HERE = os.path.dirname(os.path.abspath(__file__))
TFEVENTS_CHECK = os.path.join(os.path.dirname(HERE), "tools", "tfevents_check.py")
PY = "/usr/bin/python3"
STATES = {"queued", "running", "succeeded", "failed", "cancelled"}
ENDED = {"succeeded", "failed", "cancelled"}
# A job that runs for tens of seconds on the test data (cancelled or killed by the tests).
LONG_JOB = {"model": "als", "params": {"factors": 128, "iterations": 1000}}
# A quick one, weaker than the runner's model: kept as a version, normally not promoted.
QUICK_JOB = {"model": "als", "params": {"factors": 16, "iterations": 3}}

_copies = [0]


def fresh_copy(ctx, name):
    """A copy of the runner's database and MODEL_DIR under WORKDIR/pipeline-N-name:
    (db_path, model_dir, dir)."""
    _copies[0] += 1
    src_db = ctx.data.db_path
    src_models = os.path.join(os.path.dirname(src_db), "models")
    d = os.path.join(os.path.dirname(src_db), f"pipeline-{_copies[0]}-{name}")
    os.makedirs(d)
    db = os.path.join(d, "tt.db")
    with sqlite3.connect(f"file:{src_db}?mode=ro", uri=True, timeout=5) as a, \
            sqlite3.connect(db) as b:
        a.backup(b)
    models = os.path.join(d, "models")
    shutil.copytree(src_models, models, symlinks=True)
    return db, models, d


class Own:
    """A server of its own on a fresh copy; stopped (SIGTERM, exit 0 checked) on exit."""

    def __init__(self, ctx, name, extra_env=None):
        db, models, d = fresh_copy(ctx, name)
        self.dir = d
        self.data = Data(db)
        self.srv = Server(ctx.tt, "pipeline-" + name, db, models, d, extra_env=extra_env)

    def __enter__(self):
        self.srv.__enter__()
        return self

    def __exit__(self, kind, exc, tb):
        return self.srv.__exit__(kind, exc, tb)


def submit(srv, body, status=202):
    r = srv.post("/models/train", body)
    check(r.status_code == status, f"POST /models/train {short(json.dumps(body), 160)} -> "
                                   f"{r.status_code}, expected {status}: {short(r.text)}")
    return json_of(r, "POST /models/train") if status == 202 else r


def job(srv, job_id):
    r = srv.get(f"/models/train/{job_id}")
    check(r.status_code == 200, f"GET /models/train/{job_id} -> {r.status_code}: {short(r.text)}")
    return json_of(r, f"GET /models/train/{job_id}")


def wait_job(srv, job_id, states, seconds=30.0):
    """Polls the job until its state is one of @states; returns it."""
    deadline = time.monotonic() + seconds
    while True:
        j = job(srv, job_id)
        if j["state"] in states:
            return j
        if time.monotonic() > deadline:
            raise Failure(f"job {job_id} still {j['state']!r} after {seconds:.0f} s, expected "
                          f"{' or '.join(sorted(states))}; progress {short(j.get('progress'))}"
                          f", error {j.get('error')!r}; server log: {srv.log_tail()}")
        time.sleep(0.2)


def versions(srv):
    r = httpx.get(srv.base + "/models/versions", timeout=TIMEOUT)  # no token: not admin
    check(r.status_code == 200, f"GET /models/versions -> {r.status_code}: {short(r.text)}")
    return json_of(r, "GET /models/versions")


def served_version(srv, name):
    got = [m["version"] for m in srv.models_info()["models"] if m["name"] == name]
    check(len(got) == 1, f"/models/info lists model {name} {len(got)} times")
    return got[0]


def worker_pids(srv):
    """The server's child processes (its job-run workers)."""
    pids = set()
    base = f"/proc/{srv.proc.pid}/task"
    for tid in os.listdir(base):
        try:
            with open(f"{base}/{tid}/children") as f:
                pids |= {int(p) for p in f.read().split()}
        except OSError:
            pass
    return pids


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def running_worker(srv, job_id, seconds=10.0):
    """The pid of the `tunetrail job-run JOB_ID` child of the server."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for pid in worker_pids(srv):
            argv = cmdline(pid)
            if b"job-run" in argv and job_id.encode() in argv:
                return pid
        time.sleep(0.1)
    raise Failure(f"no `job-run {job_id}` child of the server within {seconds:.0f} s "
                  f"(children: {sorted(worker_pids(srv))})")


def number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


# --- access ----------------------------------------------------------------------------


ADMIN_CALLS = [("POST", "/models/train", QUICK_JOB), ("GET", "/models/train", None),
               ("GET", "/models/train/job-20260101T000000Z-00000000", None),
               ("DELETE", "/models/train/job-20260101T000000Z-00000000", None),
               ("POST", "/models/promote", {"model": "als", "version": "20260101T000000Z"}),
               ("POST", "/models/rollback", {"model": "als"})]


@test(server="own")
def pipeline_admin_token(ctx):
    """Every pipeline endpoint but GET /models/versions needs the admin token: 401 with
    WWW-Authenticate without one, 403 with a wrong one; nothing is queued either way."""
    with Own(ctx, "auth") as o:
        base = o.srv.base
        for method, path, body in ADMIN_CALLS:
            what = f"{method} {path}"
            kw = {"json": body} if body is not None else {}
            r = httpx.request(method, base + path, timeout=TIMEOUT, **kw)
            check_error(r, 401, what=f"{what} without a token")
            check(r.headers.get("www-authenticate", "").lower().startswith("bearer"),
                  f"{what} without a token: WWW-Authenticate {r.headers.get('www-authenticate')!r}")
            r = httpx.request(method, base + path, timeout=TIMEOUT,
                              headers={"Authorization": "Bearer " + ADMIN_TOKEN[::-1]}, **kw)
            check_error(r, 403, what=f"{what} with a wrong token")
        eq(o.srv.get("/models/train").json(), {"jobs": []}, "jobs after refused submissions")
        versions(o.srv)  # open to all


# --- job specs ---------------------------------------------------------------------------


BAD_JOBS = [
    ({"model": "als", "params": {"factors": 0}}, "params.factors"),
    ({"model": "als", "params": {"factors": 1.5}}, "params.factors"),
    ({"model": "als", "params": {"factors": "16"}}, "params.factors"),
    ({"model": "als", "params": {"iterations": 1001}}, "params.iterations"),
    ({"model": "als", "params": {"scaling": "cubic"}}, "params.scaling"),
    ({"model": "als", "params": {"epochs": 3}}, "params.epochs"),
    ({"model": "als", "params": [1]}, "params"),
    ({"model": "svd"}, "model"),
    ({"model": "als", "tier": "starter"}, "tier"),
    ({"tier": "gold"}, "tier"),
    ({"model": "als", "tier": "enterprise"}, "name"),
    ({"model": "als", "tier": "enterprise", "name": "Label X"}, "name"),
    ({"model": "als", "tier": "enterprise", "name": "popularity"}, "name"),
    ({"model": "als", "tier": "enterprise", "name": "logs"}, "name"),
    ({"model": "als", "name": "label-x", "tier": "free"}, "tier"),
    ({"model": "genre", "tier": "enterprise", "name": "label-x"}, "model"),
    ({"model": "als", "tier": "enterprise", "name": "lx", "data": {"since": "yesterday"}},
     "data.since"),
    ({"model": "als", "tier": "enterprise", "name": "lx",
      "data": {"since": "2026-02-01", "until": "2026-01-01"}}, "data.until"),
    ({"model": "als", "tier": "enterprise", "name": "lx", "data": {"genres": []}}, "data.genres"),
    ({"model": "als", "tier": "enterprise", "name": "lx", "data": {"artists": ["a"]}},
     "data.artists"),
    ({"model": "als", "data": {"genres": ["rock"]}}, "data"),
    ({"model": "als", "evaluate": "yes"}, "evaluate"),
    ({"model": "als", "priority": 1}, "priority"),
]


@test(server="own")
def train_refuses_bad_jobs_naming_the_field(ctx):
    with Own(ctx, "specs") as o:
        for body, field in BAD_JOBS:
            r = o.srv.post("/models/train", body)
            check_error(r, 400, field=field, what=f"POST /models/train {json.dumps(body)}")
        r = o.srv.post("/models/train", content=b"[1, 2]",
                       headers={"Content-Type": "application/json"})
        check_error(r, 400, what="POST /models/train with an array")
        # A named (custom) model is the enterprise tier's: this server is not.
        r = o.srv.post("/models/train", {"model": "als", "tier": "enterprise", "name": "lx"})
        check_error(r, 403, code="tier_forbidden", field="tier",
                    what="a custom model on a server without MODEL_TIER=enterprise")
        eq(o.srv.get("/models/train").json(), {"jobs": []}, "jobs after refused submissions")
        for method in ("GET", "DELETE"):
            r = o.srv.http.request(method, "/models/train/job-20260101T000000Z-0badbeef")
            check_error(r, 404, what=f"{method} of an unknown job")


# --- one job from queue to result --------------------------------------------------------


def check_job_shape(j, what):
    for k in ("job_id", "state", "request", "created_at", "started_at", "finished_at",
              "heartbeat_at", "progress", "log_tail", "metrics", "result", "error", "worker"):
        check(k in j, f"{what}: field {k!r} missing: {short(json.dumps(j))}")
    check(j["state"] in STATES, f"{what}: state {j['state']!r}")


@test(server="own")
def train_job_runs_to_a_new_version(ctx):
    """A job is queued (202), run by a `tunetrail job-run` worker and ends succeeded with
    its progress, loss curve, holdout metrics, result and log; the list is newest first;
    the TensorBoard files of the version hold the same curve and NDCG."""
    with Own(ctx, "job") as o:
        srv = o.srv
        before = served_version(srv, "als")
        t0 = int(time.time())
        d = submit(srv, QUICK_JOB)
        eq(set(d), {"job_id", "state", "request", "status_url"}, "202 answer fields")
        eq(d["state"], "queued", "state of a new job")
        eq(d["status_url"], f"/models/train/{d['job_id']}", "status_url")
        req = d["request"]
        eq((req.get("model"), req.get("tier"), req.get("evaluate")), ("als", "free", True),
           "request model, tier (from the model) and evaluate (default)")
        eq(req.get("params"), QUICK_JOB["params"], "request params")
        j = wait_job(srv, d["job_id"], ENDED)
        check_job_shape(j, "finished job")
        eq(j["state"], "succeeded", f"state (error {j['error']!r}, log {short(j['log_tail'])})")
        eq(j["error"], None, "error of a succeeded job")
        eq(j["request"], req, "request of GET vs the 202 answer")
        check(t0 - 1 <= j["created_at"] <= j["started_at"] <= j["finished_at"] <= time.time() + 1,
              f"created/started/finished times out of order: {j['created_at']}, "
              f"{j['started_at']}, {j['finished_at']}")
        check(isinstance(j["worker"], str) and j["worker"].endswith(f":{srv.proc.pid}"),
              f"worker {j['worker']!r}, expected host:{srv.proc.pid} (this engine)")
        p = j["progress"]
        # 3 iterations of each of the default 3 restarts.
        eq((p.get("model"), p.get("step"), p.get("steps")), ("als", 9, 9),
           f"progress model, step, steps: {p}")
        check(isinstance(p.get("stage"), str) and number(p.get("eta_seconds")),
              f"progress stage and eta_seconds: {p}")
        check(isinstance(j["log_tail"], str) and "als" in j["log_tail"],
              f"log_tail: {j['log_tail']!r}")
        loss = j["metrics"]["curves"]["als"]["loss"]
        check(len(loss) == 9 and all(number(x) and x > 0 for x in loss),
              f"loss curve: one positive value per iteration of each restart, got {loss}")
        hold = j["metrics"]["als"]
        check(number(hold.get("ndcg@20")) and 0 <= hold["ndcg@20"] <= 1, f"holdout: {hold}")
        models = j["result"]["models"]
        eq([m["model"] for m in models], ["als"], "result models")
        m = models[0]
        for k in ("version", "published", "promotion", "metrics", "log_dir"):
            check(k in m, f"result model: {k!r} missing: {short(json.dumps(m))}")
        check(m["version"] != before, f"the job made version {m['version']}, the served one")
        eq(m["metrics"]["holdout"]["ndcg@20"], hold["ndcg@20"], "result vs metrics ndcg@20")
        check(isinstance(m["promotion"].get("promoted"), bool) and m["promotion"].get("reason"),
              f"promotion: {m['promotion']}")
        eq(m["published"], m["promotion"]["promoted"], "published vs promotion.promoted")

        v = versions(srv)
        als = [x for x in v["models"] if x["model"] == "als"][0]
        listed = {x["version"]: x for x in als["versions"]}
        check(m["version"] in listed, f"/models/versions als lacks {m['version']}: "
                                      f"{sorted(listed)}")
        eq(listed[m["version"]]["published"], m["published"], "versions: published")
        eq(listed[m["version"]]["metrics"]["holdout"]["ndcg@20"], hold["ndcg@20"],
           "versions: the version's ndcg@20")
        want = m["version"] if m["published"] else before
        eq((als["published"], v["serving"].get("als")), (want, want),
           "/models/versions als published and serving")
        eq(served_version(srv, "als"), want, "/models/info als version")

        # The list: newest first, also for jobs queued within one second.
        more = [submit(srv, {"model": m})["job_id"] for m in ("popularity", "trending", "genre")]
        for x in more:
            eq(wait_job(srv, x, ENDED)["state"], "succeeded", f"job {x}")
        r = srv.get("/models/train")
        eq(r.status_code, 200, "GET /models/train")
        ids = [x["job_id"] for x in r.json()["jobs"]]
        eq(ids, more[::-1] + [d["job_id"]], "jobs, newest first")

        check_tensorboard(m["log_dir"], srv.model_dir, "free", "als", m["version"], loss,
                          hold["ndcg@20"])


def f32(x):
    import struct
    return struct.unpack("f", struct.pack("f", x))[0]


def check_tensorboard(log_dir, model_dir, tier, model, version, loss, ndcg):
    eq(log_dir, os.path.join(model_dir, "logs", tier, model, version), "log_dir")
    files = [f for f in os.listdir(log_dir) if f.startswith("events.out.tfevents.")]
    check(files, f"no events.out.tfevents.* under {log_dir}: {os.listdir(log_dir)}")
    p = subprocess.run([PY, TFEVENTS_CHECK, log_dir], capture_output=True, text=True, timeout=30)
    check(p.returncode == 0, f"tfevents_check.py {log_dir} exited {p.returncode}: "
                             f"{short(p.stderr)}")
    tags = json.loads(p.stdout)
    got = tags.get("loss")
    check(got, f"no loss series in the event files: tags {sorted(tags)}")
    eq([s for s, _ in got], list(range(1, len(loss) + 1)), "TensorBoard loss steps")
    # metrics.curves holds 7 significant digits (a relative error of up to 5e-7 for a leading
    # 1) and the event files float32s (6e-8): equal within the sum of both.
    close = lambda a, b: math.isclose(f32(a), f32(b), rel_tol=6e-7)  # noqa: E731
    check(len(got) == len(loss) and all(close(v, x) for (_, v), x in zip(got, loss)),
          f"TensorBoard loss {[v for _, v in got]} vs metrics.curves {loss}")
    nd = tags.get("validation/ndcg@20")
    check(nd and len(nd) == 1, f"validation/ndcg@20 series: {nd}")
    check(close(nd[0][1], ndcg), f"TensorBoard validation/ndcg@20 {nd[0][1]} vs the holdout "
                                 f"ndcg@20 {ndcg}")


# --- cancelling ----------------------------------------------------------------------------


@test(server="own")
def cancel_queued_and_running_jobs(ctx):
    """DELETE: a queued job is cancelled at once; a running one is stopped by its worker
    within seconds and ends cancelled; an ended job stays as it ended."""
    with Own(ctx, "cancel") as o:
        srv = o.srv
        before = served_version(srv, "als")
        a = submit(srv, LONG_JOB)["job_id"]
        wait_job(srv, a, {"running"}, 10)
        b = submit(srv, QUICK_JOB)["job_id"]
        eq(job(srv, b)["state"], "queued", "a job behind a running one")
        r = srv.http.delete(f"/models/train/{b}")
        eq(r.status_code, 200, f"DELETE a queued job: {short(r.text)}")
        d = r.json()
        eq((d.get("job_id"), d.get("state")), (b, "cancelled"), "DELETE answer of a queued job")
        check(isinstance(d.get("message"), str) and d["message"], f"message: {d}")
        eq(job(srv, b)["state"], "cancelled", "the queued job after DELETE")

        w = running_worker(srv, a)
        r = srv.http.delete(f"/models/train/{a}")
        eq(r.status_code, 200, f"DELETE a running job: {short(r.text)}")
        eq(r.json().get("state"), "running", "DELETE answer of a running job")
        t0 = time.monotonic()
        j = wait_job(srv, a, ENDED, 10)
        eq(j["state"], "cancelled", f"state after cancelling a running job (error {j['error']!r})")
        check(time.monotonic() - t0 < 8, f"the running job took {time.monotonic() - t0:.1f} s "
                                         f"to stop")
        deadline = time.monotonic() + 5
        while w in worker_pids(srv) and time.monotonic() < deadline:
            time.sleep(0.1)
        check(w not in worker_pids(srv), f"worker {w} still there 5 s after the job ended")
        eq(job(srv, b)["state"], "cancelled", "the cancelled queued job never ran")
        r = srv.http.delete(f"/models/train/{a}")
        eq((r.status_code, r.json().get("state")), (200, "cancelled"),
           "DELETE of an ended job")
        eq(served_version(srv, "als"), before, "als version after cancelled jobs")


# --- workers and engines killed ----------------------------------------------------------


@test(server="own")
def worker_killed_fails_the_job(ctx):
    """A worker killed with SIGKILL: the job ends failed naming the signal, and the served
    version does not move; the next job runs."""
    with Own(ctx, "sigkill") as o:
        srv = o.srv
        before, vbefore = served_version(srv, "als"), versions(srv)["serving"]
        a = submit(srv, LONG_JOB)["job_id"]
        wait_job(srv, a, {"running"}, 10)
        w = running_worker(srv, a)
        os.kill(w, signal.SIGKILL)
        j = wait_job(srv, a, ENDED, 10)
        eq(j["state"], "failed", "state of a job whose worker was killed")
        err = j["error"] or ""
        check("signal 9" in err or "Killed" in err, f"error {err!r} does not name SIGKILL")
        check(j["finished_at"], f"finished_at of the failed job: {j['finished_at']!r}")
        eq(served_version(srv, "als"), before, "/models/info als version after the kill")
        eq(versions(srv)["serving"], vbefore, "/models/versions serving after the kill")
        b = submit(srv, QUICK_JOB)["job_id"]
        eq(wait_job(srv, b, ENDED)["state"], "succeeded", "the next job")


@test(server="own")
def engine_killed_while_a_job_runs(ctx):
    """The server is killed (SIGKILL) while its worker runs a job; the engine restarted on the
    same database fails that job ("the engine running it stopped"), never leaves it running."""
    with Own(ctx, "restart") as o:
        srv = o.srv
        a = submit(srv, LONG_JOB)["job_id"]
        wait_job(srv, a, {"running"}, 10)
        w = running_worker(srv, a)
        srv.proc.kill()
        srv.proc.wait(timeout=5)
        deadline = time.monotonic() + 5
        while cmdline(w) and time.monotonic() < deadline:
            time.sleep(0.1)
        check(not cmdline(w), f"worker {w} outlived its engine by 5 s")
        srv.http.close()
        srv.start()
        j = wait_job(srv, a, ENDED, 10)
        eq(j["state"], "failed", "state of the job of the killed engine")
        check("engine" in (j["error"] or "") and "stopped" in j["error"],
              f"error {j['error']!r}, expected 'the engine running it stopped...'")
        b = submit(srv, QUICK_JOB)["job_id"]
        eq(wait_job(srv, b, ENDED)["state"], "succeeded", "a job on the restarted engine")


@test(server="own")
def engine_stopped_while_a_job_runs(ctx):
    """SIGTERM while a worker runs a job: the engine still exits 0 within 10 s, its worker
    is gone and the job is recorded failed, not left running."""
    o = Own(ctx, "sigterm")
    with o:
        srv = o.srv
        a = submit(srv, LONG_JOB)["job_id"]
        wait_job(srv, a, {"running"}, 10)
        w = running_worker(srv, a)
        srv.stop()
    check(not cmdline(w), f"worker {w} outlived its engine")
    with o.data.connect() as db:
        row = db.execute("select state, error, finished_at from training_jobs where job_id = ?",
                         (a,)).fetchone()
    eq(row[0], "failed", f"state of the job of an engine stopped with SIGTERM ({row})")
    check(row[1] and "stopped" in row[1] and row[2], f"error and finished_at: {row}")


# --- custom (enterprise) models ------------------------------------------------------------


@test(server="own")
def custom_model_trains_and_serves(ctx):
    with Own(ctx, "custom", {"MODEL_TIER": "enterprise"}) as o:
        srv, data = o.srv, o.data
        genre = "rock"
        with data.connect() as db:
            fans = [u for (u,) in db.execute(
                "select i.user_id from interactions i join tracks t using (track_id) "
                "where '|' || t.genres || '|' like ? group by i.user_id "
                "order by count(*) desc limit 5", (f"%|{genre}|%",))]
        check(fans, f"no listener of {genre} in the test data")
        r = srv.recommend({"user_id": fans[0], "model_tier": "enterprise",
                           "model": "label-x-als"}, status=None)
        check_error(r, 400, field="model", what="a custom model not trained yet")
        body = {"model": "als", "tier": "enterprise", "name": "label-x-als",
                "params": {"factors": 16, "iterations": 3}, "data": {"genres": [genre]}}
        d = submit(srv, body)
        eq(d["request"].get("name"), "label-x-als", "request name")
        eq(d["request"].get("data"), {"genres": [genre]}, "request data")
        j = wait_job(srv, d["job_id"], ENDED)
        eq(j["state"], "succeeded", f"custom model job (error {j['error']!r})")
        m = j["result"]["models"][0]
        eq((m["model"], m["published"]), ("label-x-als", True), "result model and published")
        snap = j["result"].get("snapshot", {})
        check(0 < snap.get("training_interactions", 0) < snap.get("interactions", 0),
              f"a genre filter trains on part of the interactions: {snap}")

        rec = srv.recommend({"user_id": fans[0], "model_tier": "enterprise",
                             "model": "label-x-als", "limit": 10})
        eq((rec["model"], rec["model_version"], rec["tier"]),
           ("label-x-als", m["version"], "enterprise"), "custom model answer")
        check(rec["items"], "the custom model recommends nothing to a listener of its genre")
        info = [x for x in srv.models_info()["models"] if x["name"] == "label-x-als"]
        eq(len(info), 1, "/models/info entries of the custom model")
        info = info[0]
        eq((info["tier"], info["version"]), ("enterprise", m["version"]), "info tier, version")
        eq((info["params"].get("factors"), info["params"].get("iterations")), (16, 3),
           "info params")
        eq(info.get("base_model"), "als", "info base_model")
        eq(info.get("data_filter"), {"genres": [genre]}, "info data_filter")
        v = [x for x in versions(srv)["models"] if x["model"] == "label-x-als"]
        eq([(x["tier"], x["published"]) for x in v], [("enterprise", m["version"])],
           "/models/versions entry of the custom model")
        r = srv.recommend({"user_id": fans[0], "model_tier": "pro", "model": "label-x-als"},
                          status=None)
        check_error(r, 400, field="model", what="a custom model asked with model_tier pro")


# --- promote and roll back ---------------------------------------------------------------


def hammer(base, users, stop, out):
    """POSTs /recommend/user until @stop; appends (status or exception) of failures."""
    with httpx.Client(base_url=base, timeout=TIMEOUT) as c:
        i = 0
        while not stop.is_set():
            try:
                r = c.post("/recommend/user", json={"user_id": users[i % len(users)],
                                                    "limit": 10})
                out["n"] += 1
                if r.status_code != 200:
                    out["bad"].append(f"{r.status_code} {short(r.text, 120)}")
            except httpx.HTTPError as e:
                out["bad"].append(f"{type(e).__name__}: {e}")
            i += 1


@test(server="own")
def promote_and_rollback_under_load(ctx):
    with Own(ctx, "promote") as o:
        srv = o.srv
        old = served_version(srv, "als")
        j = wait_job(srv, submit(srv, QUICK_JOB)["job_id"], ENDED)
        eq(j["state"], "succeeded", f"job (error {j['error']!r})")
        new = j["result"]["models"][0]["version"]
        if j["result"]["models"][0]["published"]:  # it beat the served one: start from old
            r = srv.post("/models/rollback", {"model": "als"})
            eq(r.status_code, 200, f"rollback: {short(r.text)}")
        eq(served_version(srv, "als"), old, "als before promoting")

        r = srv.post("/models/promote", {"model": "als", "version": new})
        eq(r.status_code, 200, f"promote: {short(r.text)}")
        eq((r.json().get("model"), r.json().get("version")), ("als", new), "promote answer")
        eq(served_version(srv, "als"), new, "/models/info als after promote")
        v = versions(srv)
        als = [x for x in v["models"] if x["model"] == "als"][0]
        eq((als["published"], als["previous"], v["serving"]["als"]), (new, old, new),
           "/models/versions als published, previous, serving after promote")
        for k in ("keep_versions", "promote_margin", "poll_seconds"):
            check(number(v.get(k)), f"/models/versions {k}: {v.get(k)!r}")
        rec = srv.recommend({"user_id": o.data.take_user(), "limit": 5, "model": "als"})
        eq((rec["model"], rec["model_version"]), ("als", new), "answer after promote")

        r = srv.post("/models/rollback", {"model": "als"})
        eq(r.status_code, 200, f"rollback: {short(r.text)}")
        eq(r.json().get("version"), old, "rollback answer version")
        eq(served_version(srv, "als"), old, "/models/info als after rollback")
        eq(versions(srv)["serving"]["als"], old, "/models/versions serving after rollback")

        check_error(srv.post("/models/promote", {"model": "nosuch", "version": new}), 404,
                    field="model", what="promote of an unknown model")
        check_error(srv.post("/models/promote", {"model": "als", "version": "20200101T000000Z"}),
                    404, field="version", what="promote of an unknown version")
        check_error(srv.post("/models/rollback", {"model": "nosuch"}), 404, field="model",
                    what="rollback of an unknown model")
        check_error(srv.post("/models/promote", {"model": "als"}), 400, field="version",
                    what="promote without a version")

        # Under load: no request fails while versions change under it.
        users = [o.data.take_user() for _ in range(20)]
        stop, outs = threading.Event(), [{"n": 0, "bad": []} for _ in range(4)]
        threads = [threading.Thread(target=hammer, args=(srv.base, users[i::4], stop, outs[i]))
                   for i in range(4)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.3)
            for _ in range(4):
                r = srv.post("/models/promote", {"model": "als", "version": new})
                eq(r.status_code, 200, f"promote under load: {short(r.text)}")
                time.sleep(0.15)
                r = srv.post("/models/rollback", {"model": "als"})
                eq(r.status_code, 200, f"rollback under load: {short(r.text)}")
                time.sleep(0.15)
            time.sleep(0.3)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=10)
        n, bad = sum(x["n"] for x in outs), [b for x in outs for b in x["bad"]]
        check(n > 50, f"only {n} requests got through during the promotions")
        check(not bad, f"{len(bad)} of {n + len(bad)} requests failed during promotions and "
                       f"rollbacks: {bad[:3]}")
        eq(served_version(srv, "als"), old, "als after the last rollback")
        promote_under_wrk(srv, o.data, new)


def promote_under_wrk(srv, data, new):
    """The same under wrk (bench/wrk_recommend.lua, random known users): no request fails."""
    wrk = shutil.which("wrk")
    if not wrk:
        if os.environ.get("CI") == "true":
            raise Failure("wrk is missing under CI=true (scripts/install-deps installs it)")
        return
    n_users = data.connect().execute("select count(*) from users").fetchone()[0]
    env = dict(os.environ, TT_PATH="/recommend/user", TT_IDS=str(n_users), TT_PREFIX="u",
               TT_HOT="0", TT_TIER="free")
    lua = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "wrk_recommend.lua")
    p = subprocess.Popen([wrk, "-t1", "-c8", "-d3s", "-s", lua, srv.base], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(0.4)
        for _ in range(4):
            eq(srv.post("/models/promote", {"model": "als", "version": new}).status_code, 200,
               "promote under wrk")
            time.sleep(0.2)
            eq(srv.post("/models/rollback", {"model": "als"}).status_code, 200,
               "rollback under wrk")
            time.sleep(0.2)
        out, _ = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    m = re.search(r"RESULT rps=(\d+) .* errors=(\d+) non2xx=(\d+)", out)
    check(m, f"wrk output: {short(out)}")
    check(int(m.group(1)) > 100, f"wrk got {m.group(1)} requests/s through")
    eq((int(m.group(2)), int(m.group(3))), (0, 0),
       "wrk socket errors and non-2xx answers during promotions and rollbacks")


# --- versions published by another process -------------------------------------------------


@test(server="own")
def versions_published_elsewhere_are_polled(ctx):
    """`tunetrail train` run by another process against the same DATABASE_URL and MODEL_DIR:
    a server with MODEL_POLL_SECONDS=1 serves the new versions within seconds, no reload."""
    with Own(ctx, "poll", {"MODEL_POLL_SECONDS": "1"}) as o:
        srv = o.srv
        old = served_version(srv, "als")
        eq(versions(srv).get("poll_seconds"), 1, "/models/versions poll_seconds")
        time.sleep(1.1)  # version names are UTC seconds: the new one must differ
        env = srv.env()
        p = subprocess.run([srv.binary, "train", "--tier", "free", "--no-eval", "--no-tune"], env=env,
                           capture_output=True, text=True, timeout=240)
        check(p.returncode == 0, f"tunetrail train exited {p.returncode}: {short(p.stderr)}")
        with open(os.path.join(srv.model_dir, "free", "als.json")) as f:
            new = json.load(f)["version"]
        check(new != old, f"train did not publish a new als version ({new})")
        deadline, got = time.monotonic() + 6, None
        while time.monotonic() < deadline:
            got = served_version(srv, "als")
            if got == new:
                break
            time.sleep(0.2)
        eq(got, new, "/models/info als version 6 s after another process published one")
        eq(versions(srv)["serving"]["als"], new, "/models/versions serving")
        rec = srv.recommend({"user_id": o.data.take_user(), "limit": 5, "model": "als"})
        eq(rec["model_version"], new, "answers' model_version")

        # Published again and reloaded by hand: the poll counts that reload as its own and
        # does not load the same files a second time (seconds and a snapshot's memory on a
        # large catalog). Had the poll come first, the hand reload follows it; either way
        # nothing loads after the hand reload has answered.
        time.sleep(1.1)
        p = subprocess.run([srv.binary, "train", "--model", "als", "--no-eval", "--no-tune"],
                           env=env, capture_output=True, text=True, timeout=180)
        check(p.returncode == 0, f"tunetrail train exited {p.returncode}: {short(p.stderr)}")
        r = srv.post("/models/reload")
        eq(r.status_code, 200, f"reload: {short(r.text)}")
        mark = os.path.getsize(srv.log_path)
        time.sleep(3.5)
        with open(srv.log_path, "rb") as f:
            f.seek(mark)
            after = f.read().decode("utf-8", "replace")
        check("models loaded" not in after,
              f"the poll loaded again what the reload had loaded: {short(after, 400)}")
        with open(os.path.join(srv.model_dir, "free", "als.json")) as f:
            eq(served_version(srv, "als"), json.load(f)["version"], "als served after the reload")


@test(server="own")
def promote_and_rollback_a_version_trained_elsewhere(ctx):
    """A version `tunetrail train` published from another process, on a server that does not
    poll: promoted over HTTP it is served, rolled back the one before is served again. (The
    promotion path without the engine's own workers: make valgrind takes it, as valgrind
    cannot run the workers' /proc/self/exe.)"""
    with Own(ctx, "elsewhere", {"MODEL_POLL_SECONDS": "0"}) as o:
        srv = o.srv
        old = served_version(srv, "als")
        time.sleep(1.1)  # version names are UTC seconds: the new one must differ
        p = subprocess.run([srv.binary, "train", "--model", "als", "--no-eval", "--no-tune"],
                           env=srv.env(), capture_output=True, text=True, timeout=120)
        check(p.returncode == 0, f"tunetrail train exited {p.returncode}: {short(p.stderr)}")
        with open(os.path.join(srv.model_dir, "free", "als.json")) as f:
            new = json.load(f)["version"]
        check(new != old, f"train did not publish a new als version ({new})")
        eq(served_version(srv, "als"), old, "als served before the promotion (no polling)")
        r = srv.post("/models/promote", {"model": "als", "version": new})
        eq(r.status_code, 200, f"promote: {short(r.text)}")
        eq(served_version(srv, "als"), new, "/models/info als after promote")
        rec = srv.recommend({"user_id": o.data.take_user(), "limit": 5, "model": "als"})
        eq(rec["model_version"], new, "answers' model_version after promote")
        r = srv.post("/models/rollback", {"model": "als"})
        eq(r.status_code, 200, f"rollback: {short(r.text)}")
        eq((r.json().get("version"), served_version(srv, "als")), (old, old),
           "rollback answer and /models/info als")


# --- the scheduler ---------------------------------------------------------------------------


@test(server="own", tags=("slow",))
def scheduled_training_runs_each_minute(ctx):
    """TRAIN_SCHEDULE_FREE="* * * * *": the engine records the current minute as its baseline
    (nothing runs at start), then queues a scheduled free-tier job at the next minute, which
    runs. Up to ~70 s of waiting."""
    if time.time() % 60 > 55:  # not at the end of a minute: the baseline check would race
        time.sleep(61 - time.time() % 60)
    with Own(ctx, "schedule", {"TRAIN_SCHEDULE_FREE": "* * * * *"}) as o:
        srv = o.srv
        started = time.time()
        time.sleep(1.5)
        with o.data.connect() as db:
            runs = db.execute("select fire_at, job_id from schedule_runs "
                              "where tier = 'free'").fetchall()
        check(len(runs) == 1 and not runs[0][1], f"baseline schedule_runs rows: {runs}")
        check(started - 61 <= runs[0][0] <= started + 2, f"baseline fire_at {runs[0][0]}")
        eq(srv.get("/models/train").json()["jobs"], [], "jobs right after start")
        deadline, jobs = time.monotonic() + 75, []
        while time.monotonic() < deadline:
            jobs = srv.get("/models/train").json()["jobs"]
            if jobs:
                break
            time.sleep(0.5)
        eq(len(jobs), 1, "scheduled jobs within 75 s")
        j = jobs[0]
        eq((j["request"].get("tier"), j["request"].get("scheduled")), ("free", True),
           "scheduled job request")
        check(j["created_at"] >= runs[0][0] + 60, f"queued at {j['created_at']}, before the "
                                                   f"next minute after {runs[0][0]}")
        j = wait_job(srv, j["job_id"], ENDED, 60)
        eq(j["state"], "succeeded", f"scheduled job (error {j['error']!r})")
        eq(sorted(m["model"] for m in j["result"]["models"]),
           ["als", "ease", "genre", "popularity", "trending"],
           "models of a scheduled free-tier run")


# --- ENABLE_GPU ------------------------------------------------------------------------------

@test(server="own")
def enable_gpu_is_reported_honestly(ctx):
    """ENABLE_GPU=true: this build has no GPU code path; /health and the start log say so."""
    with Own(ctx, "gpu", extra_env={"ENABLE_GPU": "true"}) as o:
        d = json_of(o.srv.get("/health"), "GET /health")
        g = d.get("gpu") or {}
        eq((g.get("requested"), g.get("used")), (True, False), "/health gpu requested, used")
        check("CPU" in str(g.get("note")), f"/health gpu note: {g!r}")
        check("no GPU code path" in o.srv.log_tail(50), "the start log says there is no GPU path")


# --- rate limiting ---------------------------------------------------------------------------

@test(server="own")
def rate_limit_per_client(ctx):
    """RATE_LIMIT=2, RATE_BURST=4: a client gets its burst, then 429 rate_limited with a
    Retry-After, per API key (else per address); health checks are not limited;
    the bucket refills at the rate."""
    with Own(ctx, "rate", extra_env={"RATE_LIMIT": "2", "RATE_BURST": "4"}) as o:
        srv = o.srv
        body = {"user_id": o.data.take_user(), "limit": 5}
        codes = [srv.post("/recommend/user", body).status_code for _ in range(10)]
        ok = codes.count(200)
        check(4 <= ok <= 5 and codes[:4] == [200] * 4 and codes.count(429) == 10 - ok,
              f"10 quick requests with a burst of 4: {codes}")
        r = srv.post("/recommend/user", body)
        e = check_error(r, 429, "rate_limited", what="an empty bucket")
        check("per second" in e["message"], f"429 message: {e['message']!r}")
        check(int(r.headers.get("retry-after", "0")) >= 1, f"Retry-After: {dict(r.headers)}")
        r = srv.post("/recommend/user", body, headers={"X-API-Key": "another-client-key"})
        eq(r.status_code, 200, "another API key has its own bucket")
        eq([srv.get("/health").status_code for _ in range(10)], [200] * 10,
           "/health is never limited")
        time.sleep(1.2)
        eq(srv.post("/recommend/user", body).status_code, 200, "the bucket refills at 2/s")
