"""Runs the API suite against real `tunetrail serve` processes.

usage: main.py TUNETRAIL WORKDIR SUMMARY_FILE
WORKDIR holds tt.db and models/ (generated and trained by tests/api/run). Servers:
  main       the data as trained, in-process cache: every test but the ones below
  scratch    a copy of the database and models: retraining, corrupt files and indexes,
             tracks without content, SIGHUP
  empty      an empty MODEL_DIR: 503 not_ready
  restart    the main data again, restarted within the test: feedback outlives the process
  deadredis  REDIS_URL=redis://127.0.0.1:1: degraded but serving
  redis      REDIS_URL=$TT_TEST_REDIS_URL (only when set): tests tagged "cache" again
  own        no shared server: each test starts its own on a fresh copy of the data
             (test_pipeline: training jobs, promotions, workers and engines killed;
             test_faults: PostgreSQL stopped and paused, Redis and the engine killed, a full
             journal, on private PostgreSQL and Redis servers of their own)
Each server is stopped with SIGTERM and must exit 0 within 10 s (one test per server).
Writes "PASSED FAILED" to SUMMARY_FILE; tests/api/run prints the summary line.

env: TT_API_ONLY=REGEX  run only the tests whose "module.name" matches (re.search), e.g.
                        test_pipeline, or test_service.models_info; the case folders are
                        "test_cases.<folder>"; phases left without tests do not start
     TT_API_SLOW=1      also run the tests tagged "slow" (minutes each, e.g. the scheduler)
"""
import os
import re
import shutil
import sys

from harness import TESTS, Data, Failure, Results, Server, log

import test_cases  # noqa: F401  (registration order = run order)
import test_recommend  # noqa: F401
import test_similar  # noqa: F401
import test_feedback  # noqa: F401
import test_service  # noqa: F401
import test_dashboard  # noqa: F401
import test_robustness  # noqa: F401
import test_foundations  # noqa: F401
import test_mix  # noqa: F401
import test_taste  # noqa: F401
import test_radio  # noqa: F401  (last: the users it takes do not shift the others')
import test_pipeline  # noqa: F401  (own servers on copies of the data)
import test_openapi  # noqa: F401  (docs/openapi.json against the server; /docs)
import test_faults  # noqa: F401  (own servers, and own PostgreSQL and Redis)


class Ctx:
    pass


def run_phase(res, ctx, server, tests, extra=None):
    """Starts @server, runs @tests (TestCase list) and @extra ((name, fn) list), stops it."""
    if not tests and not extra and os.environ.get("TT_API_ONLY"):
        return  # every test of this server filtered out
    log(f"--- server {server.name}: DATABASE_URL={server.db_url} "
        f"MODEL_DIR={server.model_dir}" + (f" REDIS_URL={server.redis_url}" if server.redis_url
                                           else ""))
    names = [f"{t.name}[{server.name}]" for t in tests] + [n for n, _ in (extra or [])]
    try:
        server.start()
    except Failure as e:
        for n in names + [f"sigterm_exit_0[{server.name}]"]:
            res.fail(n, f"server did not start: {e}")
        server.kill()
        return
    ctx.srv = server
    failed_before = res.failed
    try:
        for name, fn in extra or []:
            if not server.alive():
                res.fail(name, "server is no longer running")
                continue
            res.run(name, fn, ctx)
        for t in tests:
            name = f"{t.name}[{server.name}]"
            if not server.alive():
                res.fail(name, f"server is no longer running; log: {server.log_tail()}")
                continue
            res.run(name, t.fn, ctx, inferred=t.inferred)
        res.run(f"sigterm_exit_0[{server.name}]", lambda _c: server.stop(), ctx)
    finally:
        server.kill()
    if res.failed > failed_before:
        log(f"     server {server.name} log ({server.log_path}): {server.log_tail(10)}")


def main():
    tt, work, summary = sys.argv[1], sys.argv[2], sys.argv[3]
    res = Results()
    db, models = os.path.join(work, "tt.db"), os.path.join(work, "models")
    scratch = os.path.join(work, "scratch")
    os.makedirs(os.path.join(scratch), exist_ok=True)
    shutil.copyfile(db, os.path.join(scratch, "tt.db"))
    shutil.copytree(models, os.path.join(scratch, "models"))
    empty = os.path.join(work, "empty")
    os.makedirs(os.path.join(empty, "models"), exist_ok=True)
    shutil.copyfile(db, os.path.join(empty, "tt.db"))

    ctx = Ctx()
    ctx.tt = tt
    ctx.cache_backend = "memory"
    main_data = ctx.data = Data(db)
    ctx.case_user = ctx.data.take_user()
    only = re.compile(os.environ.get("TT_API_ONLY") or "")
    slow = os.environ.get("TT_API_SLOW") == "1"
    chosen = []
    for t in TESTS:
        if not only.search(f"{t.fn.__module__}.{t.name}"):
            continue
        if "slow" in t.tags and not slow:
            log(f"note: {t.name} is slow (TT_API_SLOW=1 runs it): skipped")
            continue
        chosen.append(t)
    by_server = lambda s: [t for t in chosen if t.server == s]  # noqa: E731

    try:
        cases = [(n, (lambda folder: lambda c: test_cases.run_case(c, folder))(f))
                 for n, f in test_cases.cases_from_folders()
                 if only.search(f"test_cases.{n}")]
        run_phase(res, ctx, Server(tt, "main", db, models, work), by_server("main"), cases)

        ctx.data = Data(os.path.join(scratch, "tt.db"))
        # Its tests retrain and reload by hand, so the engine's own poll for new versions
        # (MODEL_POLL_SECONDS, 10 s by default) is off: a retrain that takes longer than two
        # polls (a sanitizer build) would otherwise be served before the test reloads.
        run_phase(res, ctx, Server(tt, "scratch", os.path.join(scratch, "tt.db"),
                                   os.path.join(scratch, "models"), work,
                                   extra_env={"MODEL_POLL_SECONDS": "0"}), by_server("scratch"))
        run_phase(res, ctx, Server(tt, "empty", os.path.join(empty, "tt.db"),
                                   os.path.join(empty, "models"), work), by_server("empty"))

        ctx.data = main_data  # continues with users the main phase did not touch
        run_phase(res, ctx, Server(tt, "restart", db, models, work), by_server("restart"))
        run_phase(res, ctx, Server(tt, "deadredis", db, models, work,
                                   redis_url="redis://127.0.0.1:1"), by_server("deadredis"))

        # Tests that start their own servers (on copies of the data: see test_pipeline).
        ctx.data = main_data
        for t in by_server("own"):
            res.run(t.name, t.fn, ctx, inferred=t.inferred)

        redis = os.environ.get("TT_TEST_REDIS_URL")
        if redis:
            ctx.cache_backend = "redis"
            cached = [t for t in chosen if "cache" in t.tags]
            run_phase(res, ctx, Server(tt, "redis", db, models, work, redis_url=redis), cached)
        else:
            log("note: TT_TEST_REDIS_URL unset: the cache tests ran against the in-process "
                "cache only")
    finally:
        with open(summary, "w") as f:
            f.write(f"{res.passed} {res.failed}\n")
    if res.failures:
        log(f"failed ({len(res.failures)}):")
        for name, msg in res.failures:
            log(f"  {name}: {msg[:240]}")
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
