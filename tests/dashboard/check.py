"""The dashboard against a real server and a real browser (tests/dashboard/run sets up the data).

usage: check.py TUNETRAIL WORKDIR CHROMIUM SCREENSHOT SUMMARY_FILE

Starts `tunetrail serve` on a free port, sends light load, checks GET /dashboard/data, then
loads GET /dashboard in headless Chromium twice: once dumping the DOM (every <canvas> must
carry data-points > 0, which the page writes after drawing), once taking a screenshot.
Prints one line per check; writes "passed failed" to SUMMARY_FILE. Standard library only.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

TIMEOUT = 5.0
BROWSER_SECONDS = 90

# The charts the page always has; the latency charts are one per endpoint that answered.
CHARTS = ["chart-requests", "chart-cache", "chart-feedback", "chart-ctr", "chart-loss",
          "chart-validation", "chart-holdout"]
LATENCY = ["chart-latency-recommend_user", "chart-latency-recommend_similar",
           "chart-latency-feedback"]


class Failure(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self, binary, workdir):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(workdir, "serve.log")
        env = {k: v for k, v in os.environ.items()
               if k not in ("REDIS_URL", "PORT", "HOST", "ADMIN_TOKEN")}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [binary, "serve", "--port", str(self.port), "--host", "127.0.0.1",
                 "--no-access-log"], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            check(self.proc.poll() is None, f"the server exited while starting: {self.tail()}")
            try:
                self.get("/health")
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.05)
        raise Failure(f"the server did not answer /health within 10 s: {self.tail()}")

    def tail(self):
        with open(self.log_path, "rb") as f:
            return f.read()[-1500:].decode(errors="replace")

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
                return r.status, r.headers.get("Content-Type", ""), r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type", ""), e.read()

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body):
        status, _, raw = self.request("POST", path, body)
        return status, json.loads(raw) if raw else None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def load(srv):
    """A few hundred requests: lists (some repeated, so the cache hits), similar tracks,
    feedback (clicks on listed tracks, likes, skips) and the system endpoints."""
    sent = 0
    clicks = 0
    users = [f"u{n:07d}" for n in range(1, 41)]
    for rnd in range(3):
        for i, user in enumerate(users):
            status, ans = srv.post("/recommend/user", {"user_id": user, "limit": 10})
            sent += 1
            check(status == 200, f"/recommend/user {user}: {status} {ans}")
            if rnd == 0 and i % 2 == 0 and ans["items"]:
                fb = {"user_id": user, "track_id": ans["items"][0]["track_id"],
                      "action": "click", "recommendation_id": ans["recommendation_id"]}
                status, _ = srv.post("/feedback", fb)
                sent += 1
                check(status in (200, 201, 202), f"/feedback click: {status}")
                clicks += 1
    for n in range(1, 61):
        status, _ = srv.post("/recommend/similar", {"track_id": f"t{n:07d}", "limit": 5})
        sent += 1
        check(status in (200, 404), f"/recommend/similar: {status}")
    for n in range(60):
        action = ("like", "skip", "play")[n % 3]
        status, _ = srv.post("/feedback", {"user_id": users[n % 40],
                                           "track_id": f"t{n + 200:07d}", "action": action})
        sent += 1
        check(status in (200, 201, 202), f"/feedback {action}: {status}")
    for path in ("/health", "/models/info", "/metrics") * 5:
        srv.get(path)
        sent += 1
    return sent, clicks


def check_data(srv, clicks):
    status, ctype, raw = srv.get("/dashboard/data")
    check(status == 200 and ctype.startswith("application/json"), f"/dashboard/data: {status}")
    d = json.loads(raw)
    s = d["series"]
    n = len(s["minutes"])
    check(n >= 1, "no minute in the series")
    check(len(s["seconds"]) == n, "seconds and minutes differ in length")
    rec = s["endpoints"].get("recommend_user")
    check(rec is not None, f"no recommend_user series: {list(s['endpoints'])}")
    check(sum(rec["requests"]) == 120, f"recommend_user requests {sum(rec['requests'])}, sent 120")
    for key in ("rate", "errors", "p50_ms", "p95_ms", "p99_ms"):
        check(len(rec[key]) == n, f"recommend_user {key}: {len(rec[key])} points, {n} minutes")
    last = [x for x in rec["p50_ms"] if x is not None]
    check(last, "no p50")
    i = rec["p50_ms"].index(last[-1])
    check(0 < rec["p50_ms"][i] <= rec["p95_ms"][i] <= rec["p99_ms"][i],
          f"percentiles out of order: {rec['p50_ms'][i]}, {rec['p95_ms'][i]}, {rec['p99_ms'][i]}")
    check(sum(s["cache"]["hits"]) > 0, f"no cache hit counted: {s['cache']}")
    fb = s["feedback"]
    check(sum(fb["total"]) == clicks + 60, f"feedback {sum(fb['total'])}, sent {clicks + 60}")
    check(sum(fb["by_action"].get("click", [])) == clicks, f"clicks by action: {fb['by_action']}")
    ctr = s["ctr"]
    clicked = sum(sum(v["clicks"]) for v in ctr.values())
    check(clicked == clicks, f"clicks attributed {clicked}, sent {clicks}: {ctr}")
    names = {m["name"] for m in d["models"]}
    check({"als", "popularity", "neumf"} <= names, f"loaded models: {sorted(names)}")
    als = next(m for m in d["models"] if m["name"] == "als")
    check(als["holdout"] and als["holdout"]["ndcg@20"] > 0, f"als held-out metrics: {als}")
    curves = {t["model"]: t["curves"] for t in d["training"]}
    check(curves.get("als") and curves["als"]["unit"] == "iteration" and
          len(curves["als"]["loss"]) >= 2, f"als curve: {curves.get('als')}")
    nm = curves.get("neumf") or {}
    check(len(nm.get("validation", {}).get("hr@10", [])) == len(nm.get("loss", [])) > 0,
          f"neumf curve: {nm}")
    return d


def check_page(srv):
    status, ctype, raw = srv.get("/dashboard")
    check(status == 200 and ctype.startswith("text/html"), f"/dashboard: {status} {ctype}")
    check(raw.count(b"<canvas") >= len(CHARTS), "the page has fewer canvases than charts")
    status, ctype, raw = srv.get("/dashboard/chart.js")
    check(status == 200, f"/dashboard/chart.js: {status} {raw[:200]!r} (is libjs-chart.js "
                         "installed?)")
    check(b"Chart.js v" in raw[:400] and "javascript" in ctype, "chart.js is not Chart.js")


def browser(chromium, workdir, url, *args):
    """Runs headless Chromium on @url; returns its stdout."""
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--no-first-run", "--disable-extensions", f"--user-data-dir={workdir}/chromium",
           "--window-size=1280,2000", "--virtual-time-budget=8000", *args, url]
    with open(os.path.join(workdir, "chromium.log"), "ab") as log:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=log, timeout=BROWSER_SECONDS,
                           stdin=subprocess.DEVNULL)
    check(r.returncode == 0, f"chromium exited with {r.returncode} (log: {workdir}/chromium.log)")
    return r.stdout.decode(errors="replace")


def check_dom(srv, chromium, workdir):
    dom = browser(chromium, workdir, srv.base + "/dashboard", "--dump-dom")
    with open(os.path.join(workdir, "dashboard.dom.html"), "w") as f:
        f.write(dom)
    body = re.search(r"<body([^>]*)>", dom)
    check(body, "no <body> in the dumped DOM")
    state = re.search(r'data-state="([^"]*)"', body.group(1))
    check(state and state.group(1) == "ready",
          f"page state {state.group(1) if state else None!r} (no-chartjs: Chart.js missing; "
          f"error: /dashboard/data failed)")
    points = {}
    for tag in re.findall(r"<canvas[^>]*>", dom):
        cid = re.search(r'id="([^"]*)"', tag)
        pts = re.search(r'data-points="(\d+)"', tag)
        if cid:
            points[cid.group(1)] = int(pts.group(1)) if pts else None
    for cid in CHARTS + LATENCY:
        check(cid in points, f"no <canvas id={cid}>; canvases: {sorted(points)}")
    empty = {c: p for c, p in points.items() if not p}
    check(not empty, f"charts without data points: {empty}")
    return points


def check_screenshot(srv, chromium, workdir, shot):
    path = os.path.join(workdir, "dashboard.png")
    browser(chromium, workdir, srv.base + "/dashboard", f"--screenshot={path}")
    check(os.path.getsize(path) > 20000, f"screenshot {path} is {os.path.getsize(path)} bytes")
    with open(path, "rb") as f:
        check(f.read(8) == b"\x89PNG\r\n\x1a\n", "the screenshot is not a PNG")
    os.makedirs(os.path.dirname(os.path.abspath(shot)), exist_ok=True)
    shutil.copyfile(path, shot)


def main():
    binary, workdir, chromium, shot, summary = sys.argv[1:6]
    passed = failed = 0
    srv = None
    state = {}

    def run(name, fn, *args):
        nonlocal passed, failed
        t0 = time.monotonic()
        try:
            state[name] = fn(*args)
            passed += 1
            print(f"ok   {name} ({time.monotonic() - t0:.1f} s)", flush=True)
            return True
        except Exception as e:  # a failed check or an unexpected error: reported, not fatal
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
            return False

    try:
        if run("server_starts", lambda: Server(binary, workdir)):
            srv = state["server_starts"]
            if run("light_load", load, srv):
                sent, clicks = state["light_load"]
                print(f"     {sent} requests, {clicks} clicks", flush=True)
                run("dashboard_data", check_data, srv, clicks)
            run("page_and_chart_js", check_page, srv)
            if run("charts_drawn_in_chromium", check_dom, srv, chromium, workdir):
                print("     points: " + ", ".join(f"{k.removeprefix('chart-')} {v}" for k, v in
                                                  sorted(state["charts_drawn_in_chromium"].items())))
            if run("screenshot", check_screenshot, srv, chromium, workdir, shot):
                print(f"     {shot}")
    finally:
        if srv:
            srv.stop()
        with open(summary, "w") as f:
            f.write(f"{passed} {failed}\n")


if __name__ == "__main__":
    main()
