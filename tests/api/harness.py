"""API test harness: starts the real `tunetrail serve`, speaks HTTP to it, records results.

Everything is bounded: each HTTP call has a 5 s timeout, a server gets 10 s to answer
/health and 10 s to exit after SIGTERM, and loops carry deadlines (TT_API_TIME_FACTOR
stretches these three for a server run under TT_API_WRAP, say valgrind). Only the standard
library and httpx (Debian's python3-httpx) are used.
"""
import json
import os
import re
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import traceback

import httpx

# TT_API_WRAP: a command the server runs under (make valgrind: "valgrind --tool=memcheck ...");
# TT_API_TIME_FACTOR stretches the three bounds below for such a slow server.
FACTOR = float(os.environ.get("TT_API_TIME_FACTOR") or 1)
WRAP = shlex.split(os.environ.get("TT_API_WRAP") or "")
TIMEOUT = 5.0 * FACTOR
START_SECONDS = 10.0 * FACTOR
STOP_SECONDS = 10.0 * FACTOR


class Failure(AssertionError):
    """A check that did not hold; the message says what was expected and what came."""


class Skip(Exception):
    """The test cannot run here (say why)."""


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def eq(got, want, what):
    if got != want:
        raise Failure(f"{what}: expected {want!r}, got {got!r}")


def short(text, n=300):
    text = text if isinstance(text, str) else repr(text)
    return text if len(text) <= n else text[:n] + "..."


# Every test server's ADMIN_TOKEN (docs/API.md, admin access).
ADMIN_TOKEN = "api-test-admin-token-5e1f"


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------

TESTS = []


class TestCase:
    def __init__(self, name, fn, server, tags, inferred):
        self.name, self.fn, self.server, self.tags, self.inferred = name, fn, server, tags, inferred


def test(server="main", tags=(), inferred=False):
    """Registers a test. @server names the fixture it runs against (main, scratch, empty,
    deadredis; "own": none, the test starts its own servers); tag "slow" runs it only with
    TT_API_SLOW=1; tag "cache" reruns it against a Redis-backed server when one is available;
    @inferred marks checks of behaviour the contract implies but does not spell out."""

    def deco(fn):
        TESTS.append(TestCase(fn.__name__, fn, server, tuple(tags), inferred))
        return fn

    return deco


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.failures = []

    def run(self, name, fn, *args, inferred=False):
        t0 = time.monotonic()
        try:
            fn(*args)
        except Skip as e:
            self.skipped += 1
            print(f"skip {name}: {e}", flush=True)
            return True
        except Failure as e:
            self._fail(name, str(e), t0, inferred)
            return False
        except Exception as e:  # noqa: BLE001 - any exception is a failed test
            tb = traceback.extract_tb(e.__traceback__)
            where = f"{os.path.basename(tb[-1].filename)}:{tb[-1].lineno}" if tb else "?"
            self._fail(name, f"{type(e).__name__}: {short(str(e))} (at {where})", t0, inferred)
            return False
        self.passed += 1
        print(f"ok   {name} ({time.monotonic() - t0:.2f} s)", flush=True)
        return True

    def fail(self, name, msg):
        self._fail(name, msg, time.monotonic(), False)

    def _fail(self, name, msg, t0, inferred):
        self.failed += 1
        tag = " [inferred, beyond the letter of the contract]" if inferred else ""
        self.failures.append((name, msg))
        print(f"FAIL {name}{tag} ({time.monotonic() - t0:.2f} s): {msg}", flush=True)


# ---------------------------------------------------------------------------------------
# Server process
# ---------------------------------------------------------------------------------------


class Server:
    """One `tunetrail serve` process on a free port of 127.0.0.1."""

    def __init__(self, binary, name, db_path, model_dir, workdir, redis_url=None, db_url=None,
                 extra_env=None):
        self.binary, self.name = binary, name
        self.extra_env = dict(extra_env or {})
        self.db_path, self.model_dir = db_path, model_dir
        self.db_url = db_url or "sqlite:///" + db_path
        self.redis_url = redis_url
        self.log_path = os.path.join(workdir, f"serve-{name}.log")
        self.proc = None
        self.port = None
        self.base = None
        self.http = None

    def env(self):
        env = dict(os.environ)
        for k in ("REDIS_URL", "PORT", "HOST"):
            env.pop(k, None)
        env["DATABASE_URL"] = self.db_url
        env["MODEL_DIR"] = self.model_dir
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        env["ADMIN_TOKEN"] = ADMIN_TOKEN
        env.pop("ADMIN_ALLOW_LOOPBACK", None)
        # The default schedules (free at 04:00 UTC...) would start a training job in the
        # middle of whichever test runs then; the scheduler's own test turns one back on.
        for tier in ("FREE", "STARTER", "PRO"):
            env[f"TRAIN_SCHEDULE_{tier}"] = "off"
        env.update(self.extra_env)
        return env

    def start(self):
        """Starts the server and waits until /health answers (any HTTP status)."""
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            WRAP + [self.binary, "serve", "--port", str(self.port), "--host", "127.0.0.1"],
            env=self.env(), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        # The test client is the platform's admin: state-changing calls carry the token.
        self.http = httpx.Client(base_url=self.base, timeout=TIMEOUT,
                                 headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Failure(f"server '{self.name}' exited with {self.proc.returncode} while "
                              f"starting; log: {self.log_tail()}")
            try:
                httpx.get(self.base + "/health", timeout=1.0)
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise Failure(f"server '{self.name}' did not answer /health within {START_SECONDS:.0f} s;"
                      f" log: {self.log_tail()}")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self):
        """Started for a `with` block: stopped when the block ends cleanly (SIGTERM, exit 0
        checked), killed when it ends with an error or the start fails."""
        try:
            self.start()
        except BaseException:
            self.kill()
            raise
        return self

    def __exit__(self, kind, exc, tb):
        try:
            if kind is None and self.alive():
                self.stop()
        finally:
            self.kill()
        return False

    def stop(self):
        """SIGTERM; returns the exit code, or raises Failure when it does not exit 0 in time."""
        if self.http:
            self.http.close()
            self.http = None
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            raise Failure(f"server '{self.name}' had already exited with {self.proc.returncode};"
                          f" log: {self.log_tail()}")
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            raise Failure(f"server '{self.name}' still running {STOP_SECONDS:.0f} s after SIGTERM")
        check(rc == 0, f"server '{self.name}' exited with {rc} after SIGTERM, expected 0; log: "
                       f"{self.log_tail()}")
        return rc

    def kill(self):
        if self.http:
            self.http.close()
            self.http = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def log_tail(self, n=6):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(lines[-n:]) if lines else "(empty log)"

    # HTTP helpers: every call bounded by TIMEOUT.
    def get(self, path, **kw):
        return self.http.get(path, **kw)

    def post(self, path, body=None, **kw):
        if body is not None:
            kw["json"] = body
        return self.http.post(path, **kw)

    def recommend(self, body, status=200):
        r = self.post("/recommend/user", body)
        if status is not None:
            check(r.status_code == status,
                  f"POST /recommend/user {short(json.dumps(body), 120)} -> {r.status_code}, "
                  f"expected {status}: {short(r.text)}")
        return r.json() if status == 200 else r

    def feedback(self, body):
        r = self.post("/feedback", body)
        check(r.status_code == 200,
              f"POST /feedback {short(json.dumps(body), 160)} -> {r.status_code}: {short(r.text)}")
        return r.json()

    def models_info(self):
        r = self.get("/models/info")
        check(r.status_code == 200, f"GET /models/info -> {r.status_code}: {short(r.text)}")
        return r.json()

    def free_model(self):
        """The model answering free-tier requests: ALS, EASE or their blend, whichever
        validated best when trained (/models/info free_tier)."""
        return (self.models_info().get("free_tier") or {}).get("model", "als")

    def metrics(self):
        r = self.get("/metrics")
        check(r.status_code == 200, f"GET /metrics -> {r.status_code}: {short(r.text)}")
        return parse_prometheus(r.text)


# ---------------------------------------------------------------------------------------
# Answer checks
# ---------------------------------------------------------------------------------------

SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")


def json_of(r, what):
    ctype = r.headers.get("content-type", "")
    check(ctype.split(";")[0].strip().lower() == "application/json",
          f"{what}: content-type {ctype!r}, expected application/json")
    try:
        return json.loads(r.content)
    except ValueError as e:
        raise Failure(f"{what}: body is not JSON ({e}): {short(r.text)}")


def check_error(r, status, code=None, field=None, what="request"):
    """@code may be a string or a list of acceptable codes; @field None = not checked,
    "" = must be absent or empty."""
    check(r.status_code == status,
          f"{what}: status {r.status_code}, expected {status}: {short(r.text)}")
    body = json_of(r, what)
    check(isinstance(body, dict) and isinstance(body.get("error"), dict),
          f"{what}: error body must be {{\"error\": {{...}}}}, got {short(r.text)}")
    e = body["error"]
    check(isinstance(e.get("code"), str) and SNAKE.match(e["code"]),
          f"{what}: error.code must be a snake_case string, got {e.get('code')!r}")
    check(isinstance(e.get("message"), str) and e["message"].strip(),
          f"{what}: error.message must be a non-empty sentence, got {e.get('message')!r}")
    if "field" in e:
        check(isinstance(e["field"], str), f"{what}: error.field must be a string, got "
                                            f"{e['field']!r}")
    if code is not None:
        codes = [code] if isinstance(code, str) else list(code)
        check(e["code"] in codes, f"{what}: error.code {e['code']!r}, expected "
                                  f"{' or '.join(codes)} (message: {e['message']!r})")
    if field is not None:
        got = e.get("field", "")
        check(got == field, f"{what}: error.field {got!r}, expected {field!r} "
                            f"(message: {e['message']!r})")
    return e


ITEM_KEYS = {"track_id": str, "title": str, "artist": str, "genre": str}


def check_items(items, what, max_len=None):
    check(isinstance(items, list), f"{what}: items must be a list, got {type(items).__name__}")
    if max_len is not None:
        check(len(items) <= max_len, f"{what}: {len(items)} items, more than {max_len}")
    seen = set()
    for i, it in enumerate(items):
        check(isinstance(it, dict), f"{what}: item {i} is not an object")
        for k, t in ITEM_KEYS.items():
            check(isinstance(it.get(k), t), f"{what}: item {i} field {k!r} must be "
                                            f"{t.__name__}, got {it.get(k)!r}")
        s = it.get("score")
        check(isinstance(s, (int, float)) and not isinstance(s, bool),
              f"{what}: item {i} score must be a number, got {s!r}")
        check(isinstance(it.get("rank"), int) and not isinstance(it.get("rank"), bool),
              f"{what}: item {i} rank must be an integer, got {it.get('rank')!r}")
        check(it["track_id"] not in seen, f"{what}: track {it['track_id']} appears twice")
        seen.add(it["track_id"])
    return [it["track_id"] for it in items]


def check_ranks(items, what, first=1):
    ranks = [it["rank"] for it in items]
    eq(ranks, list(range(first, first + len(items))), f"{what}: ranks")


USER_ANSWER = {"user_id": str, "model": str, "model_version": str, "tier": str,
               "requested_tier": str, "recommendation_id": str, "cached": bool,
               "fallback": bool, "items": list}


def check_user_answer(d, what="recommend/user"):
    check(isinstance(d, dict), f"{what}: answer is not an object")
    for k, t in USER_ANSWER.items():
        check(isinstance(d.get(k), t), f"{what}: field {k!r} must be {t.__name__}, got "
                                        f"{short(repr(d.get(k)), 80)}")
    check(d["recommendation_id"], f"{what}: recommendation_id is empty")
    check(d["model_version"], f"{what}: model_version is empty")
    check_items(d["items"], what)
    return d


# ---------------------------------------------------------------------------------------
# Prometheus text format
# ---------------------------------------------------------------------------------------

METRIC_LINE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)'
    r'(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*,?)?\})?'
    r' +(\S+)( +-?\d+)?$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')


class Metrics:
    def __init__(self, samples, types, bad):
        self.samples = samples  # list of (name, {labels}, value)
        self.types = types      # name -> type from "# TYPE"
        self.bad = bad          # lines that do not parse

    def find(self, metric, **labels):
        return [(l, v) for (n, l, v) in self.samples
                if n == metric and all(l.get(k) == w for k, w in labels.items())]

    def value(self, metric, default=0.0, **labels):
        got = self.find(metric, **labels)
        return sum(v for _, v in got) if got else default

    def names(self):
        return {n for (n, _, _) in self.samples}


def parse_value(s):
    if s in ("+Inf", "Inf"):
        return float("inf")
    if s == "-Inf":
        return float("-inf")
    if s == "NaN":
        return float("nan")
    return float(s)


def parse_prometheus(text):
    samples, types, bad = [], {}, []
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split()
            if len(parts) >= 4 and parts[1] == "TYPE":
                types[parts[2]] = parts[3]
            continue
        m = METRIC_LINE.match(line)
        if not m:
            bad.append(line)
            continue
        try:
            v = parse_value(m.group(3))
        except ValueError:
            bad.append(line)
            continue
        labels = {k: bytes(w, "utf-8").decode("unicode_escape") for k, w in
                  LABEL.findall(m.group(2) or "")}
        samples.append((m.group(1), labels, v))
    return Metrics(samples, types, bad)


# ---------------------------------------------------------------------------------------
# Raw HTTP over sockets, for what httpx will not send (stalls, many connections)
# ---------------------------------------------------------------------------------------


def raw_request(method, path, body=b"", headers=None):
    h = {"Host": "127.0.0.1", "Connection": "close"}
    if body or method == "POST":
        h["Content-Type"] = "application/json"
        h["Content-Length"] = str(len(body))
    h.update(headers or {})
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
    return head.encode() + b"\r\n" + body


def parse_raw_response(data):
    """(status, headers, body) from a complete HTTP/1.1 response read until EOF."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("no end of headers")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    if not m:
        raise ValueError(f"bad status line {lines[0]!r}")
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        out, rest = b"", body
        while True:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2:]
        body = out
    elif "content-length" in headers:
        n = int(headers["content-length"])
        if len(body) < n:
            raise ValueError(f"body has {len(body)} of {n} bytes")
        body = body[:n]
    return int(m.group(1)), headers, body


# ---------------------------------------------------------------------------------------
# The data the server was started on (read-only look-ups in the SQLite file)
# ---------------------------------------------------------------------------------------


class Data:
    def __init__(self, db_path):
        self.db_path = db_path
        with self.connect() as db:
            self.track_genres = {}
            artist_genres = dict(db.execute("select artist_id, genres from artists"))
            self.track_artist = {}
            for tid, genres, aid, artist in db.execute(
                    "select track_id, genres, artist_id, artist from tracks"):
                g = genres or artist_genres.get(aid, "") or ""
                self.track_genres[tid] = [x for x in g.split("|") if x]
                self.track_artist[tid] = (aid, artist)
            self.users_by_activity = [u for (u,) in db.execute(
                "select user_id from interactions group by user_id "
                "order by count(*) desc, user_id")]
            self.popular_tracks = [t for (t,) in db.execute(
                "select track_id from interactions where action in ('play','like','save','share')"
                " group by track_id order by count(*) desc, track_id")]
        self._next_user = 0
        # Tests take users from the middle of the activity ranking: enough history for the
        # main model, and each test gets its own so feedback in one does not disturb another.
        n = len(self.users_by_activity)
        self._pool = self.users_by_activity[n // 10: n - n // 10]

    def connect(self):
        db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=5)
        return db

    def take_user(self):
        check(self._next_user < len(self._pool), "test data ran out of fresh users")
        u = self._pool[self._next_user]
        self._next_user += 1
        return u

    def heavy_user(self):
        return self.users_by_activity[0]

    def heard(self, user):
        with self.connect() as db:
            return {t for (t,) in db.execute(
                "select distinct track_id from interactions where user_id = ?", (user,))}

    def interactions(self, user, track):
        with self.connect() as db:
            return db.execute(
                "select action, ms_played, occurred_at, context, recommendation_id "
                "from interactions where user_id = ? and track_id = ? order by id",
                (user, track)).fetchall()

    def genres_of(self, track):
        return self.track_genres.get(track, [])


def log(msg):
    print(msg, file=sys.stdout, flush=True)
