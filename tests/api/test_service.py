"""Operations: /health, /models/info, /models/reload (also under load, with bad files, by
SIGHUP), /metrics, and the endpoints of later tiers that answer 404 for now."""
import json
import math
import os
import shutil
import signal
import subprocess
import threading
import time

import httpx

from harness import (ADMIN_TOKEN, TIMEOUT, Failure, Server, check, check_error,
                     check_user_answer, eq, json_of, log, short, test)

FREE_MODELS = {"als", "ease", "blend", "popularity", "trending", "genre"}
STARTER_MODELS = {"content", "hybrid"}
PRO_MODELS = {"neumf", "deep_content", "hybrid_deep"}


def number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


# --- /health ---------------------------------------------------------------------------


def check_health(ctx, status_code=200, status=("ok",), backend="memory", healthy=True):
    r = ctx.srv.get("/health")
    d = json_of(r, "GET /health")
    eq(r.status_code, status_code, f"/health status code ({short(r.text)})")
    check(d.get("status") in status, f"/health status {d.get('status')!r}, expected "
                                     f"{' or '.join(status)}")
    check(isinstance(d.get("database"), dict), f"/health database must be an object: {d}")
    c = d.get("cache")
    check(isinstance(c, dict), f"/health cache must be an object: {d}")
    eq(c.get("backend"), backend, "/health cache.backend")
    eq(c.get("healthy"), healthy, "/health cache.healthy")
    check(isinstance(d.get("models_loaded"), int), f"/health models_loaded: {d}")
    check(number(d.get("uptime_seconds")) and d["uptime_seconds"] >= 0,
          f"/health uptime_seconds: {d.get('uptime_seconds')!r}")
    g = d.get("gpu")
    check(isinstance(g, dict) and g.get("used") is False and isinstance(g.get("requested"), bool)
          and "CPU" in str(g.get("note")), f"/health gpu: no GPU path, said plainly: {g!r}")
    return d


@test(tags=("cache",))
def health_ok(ctx):
    d = check_health(ctx, backend=ctx.cache_backend)
    names = {m.get("name") for m in d.get("models", [])}
    eq(d["models_loaded"], len(FREE_MODELS | STARTER_MODELS | PRO_MODELS),
       "models_loaded with the free, starter and pro models trained")
    eq(names, FREE_MODELS | STARTER_MODELS | PRO_MODELS, "/health models")
    time.sleep(1.1)
    d2 = check_health(ctx, backend=ctx.cache_backend)
    check(d2["uptime_seconds"] > d["uptime_seconds"], "uptime_seconds does not grow")


# --- /models/info --------------------------------------------------------------------------


def check_models_info(ctx):
    d = ctx.srv.models_info()
    check(isinstance(d.get("catalog"), dict), f"/models/info catalog must be an object: "
                                              f"{short(json.dumps(d))}")
    models = d.get("models")
    check(isinstance(models, list) and models, f"/models/info models must be a non-empty list")
    for m in models:
        for k, t in (("name", str), ("tier", str), ("version", str), ("file", str),
                     ("sizes", dict), ("metrics", dict), ("ctr", dict)):
            check(isinstance(m.get(k), t), f"/models/info model {m.get('name')!r}: {k!r} must be "
                                           f"{t.__name__}, got {m.get(k)!r}")
        check(m.get("trained_at") is not None, f"model {m['name']}: trained_at missing")
        for k in ("impressions", "clicks", "ctr"):
            check(number(m["ctr"].get(k)), f"model {m['name']}: ctr.{k} must be a number, got "
                                           f"{m['ctr'].get(k)!r}")
    return d


@test()
def models_info_shape(ctx):
    d = check_models_info(ctx)
    free = {m["name"] for m in d["models"] if m["tier"] == "free"}
    check(FREE_MODELS <= free, f"free models listed {sorted(free)}, expected {sorted(FREE_MODELS)}")
    starter = {m["name"] for m in d["models"] if m["tier"] == "starter"}
    eq(starter, STARTER_MODELS, "starter models listed")
    for m in d["models"]:
        check(os.path.basename(m["file"]).startswith(m["name"]),
              f"model {m['name']}: file {m['file']!r} does not look like its file")
        if m["name"] != "content":
            check("index" not in m, f"model {m['name']} has an index entry: {m.get('index')}")
    main = [m for m in d["models"] if m["name"] == d["free_tier"]["model"]][0]
    rec = ctx.srv.recommend({"user_id": ctx.data.heavy_user(), "limit": 1})
    eq(rec["model_version"], main["version"],
       "model_version of a free-tier answer vs /models/info")


def content_index_info(ctx):
    d = check_models_info(ctx)
    content = [m for m in d["models"] if m["name"] == "content"]
    eq(len(content), 1, "content models listed")
    check(isinstance(content[0].get("index"), dict),
          f"the content model's index must be an object, got {content[0].get('index')!r}")
    return d, content[0]


@test()
def models_info_content_index(ctx):
    """The small test catalog (3000 tracks) is searched exactly: a flat index, built by
    `tunetrail train` next to the models, over every track of the catalog."""
    d, content = content_index_info(ctx)
    eq((content["kind"], content["tier"]), ("content", "starter"), "content kind and tier")
    ix = content["index"]
    eq(ix.get("type"), "flat", "index type for a 3000-track catalog")
    eq(ix.get("file"), os.path.join(ctx.srv.model_dir, "faiss_indexes", "content.idx"),
       "index file")
    check(os.path.isfile(ix["file"]), f"index file {ix['file']} does not exist")
    eq(ix.get("tracks"), d["catalog"]["tracks"], "index tracks vs catalog tracks")
    check(isinstance(ix.get("dim"), int) and ix["dim"] > 12, f"index dim {ix.get('dim')!r}")
    check(number(ix.get("build_seconds")) and ix["build_seconds"] >= 0,
          f"index build_seconds {ix.get('build_seconds')!r}")
    for k in ("ef_search", "nprobe", "nlist"):
        check(k not in ix, f"a flat index has no {k}: {ix}")
    eq(content["sizes"].get("tracks"), d["catalog"]["tracks"], "content model sizes.tracks")
    for k in ("w_audio", "w_key", "w_genre", "w_embedding", "max_centres"):
        check(number(content["params"].get(k)), f"content params.{k}: {content['params']}")


# --- /models/reload ------------------------------------------------------------------------


def reload(ctx, status=200, **kw):
    r = ctx.srv.http.post("/models/reload", **kw)
    if status == 200:
        check(r.status_code == 200, f"POST /models/reload -> {r.status_code}: {short(r.text)}")
        d = json_of(r, "POST /models/reload")
        eq(d.get("status"), "reloaded", "reload status")
        check(isinstance(d.get("models"), list) and d["models"], f"reload models: {d}")
        return d
    return r


@test()
def reload_empty_and_json_body(ctx):
    reload(ctx)
    reload(ctx, content=b"{}", headers={"Content-Type": "application/json"})
    d = reload(ctx, content=b"", headers={"Content-Type": "application/json"})
    names = {m.get("name") if isinstance(m, dict) else m for m in d["models"]}
    eq(names, FREE_MODELS | STARTER_MODELS | PRO_MODELS, "reload answer models")
    content = [m for m in d["models"] if isinstance(m, dict) and m.get("name") == "content"]
    eq(content[0].get("index", {}).get("type"), "flat", "content index in the reload answer")


@test()
def reload_under_load(ctx):
    users = [ctx.data.take_user() for _ in range(4)]
    stop = threading.Event()
    errors, counts = [], [0] * 4

    def worker(i):
        with httpx.Client(base_url=ctx.srv.base, timeout=TIMEOUT) as c:
            n = 0
            while not stop.is_set() and n < 2000:
                n += 1
                body = {"user_id": users[i], "limit": 10 + n % 7, "offset": n % 3}
                try:
                    r = c.post("/recommend/user", json=body)
                    d = r.json()
                    if r.status_code != 200 or not isinstance(d.get("items"), list):
                        errors.append(f"{r.status_code} {short(r.text, 150)}")
                    else:
                        check_user_answer(d)
                except (httpx.HTTPError, ValueError, Failure) as e:
                    errors.append(f"{type(e).__name__}: {short(str(e), 150)}")
                counts[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    try:
        for _ in range(6):
            time.sleep(0.25)
            reload(ctx)
        time.sleep(0.25)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=TIMEOUT + 2)
    check(not any(t.is_alive() for t in threads), "a load thread is still running")
    check(not errors, f"{len(errors)} of {sum(counts)} requests failed during reloads: "
                      f"{errors[:3]}")
    check(sum(counts) >= 40, f"only {sum(counts)} requests completed in ~1.75 s of load")


@test()
def reload_holds_no_other_connection(ctx):
    """A reload takes a while (every model is loaded); meanwhile every other connection keeps
    being answered, also those the server's HTTP thread that took the reload also serves."""
    stop = threading.Event()
    done = [[] for _ in range(8)]  # (sent, answered) of each /health on each connection

    def client(i):
        with httpx.Client(base_url=ctx.srv.base, timeout=TIMEOUT) as c:
            while not stop.is_set():
                t0 = time.monotonic()
                c.get("/health")
                done[i].append((t0, time.monotonic()))
                time.sleep(0.002)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)
        t0 = time.monotonic()
        reload(ctx)
        t1 = time.monotonic()
        time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=TIMEOUT + 2)
    during = [sum(1 for a, b in d if a >= t0 and b <= t1) for d in done]
    stalled = [max((b - a for a, b in d if b >= t0 and a <= t1), default=0) for d in done]
    log(f"     reload took {(t1 - t0) * 1000:.0f} ms; /health answers during it per "
        f"connection {during}, worst {max(stalled) * 1000:.0f} ms")
    check(min(during) >= 1, f"connections answered nothing during a {t1 - t0:.2f} s reload: "
                            f"answers per connection {during}")


def versions(ctx):
    return {m["name"]: (m["version"], m["trained_at"]) for m in ctx.srv.models_info()["models"]}


def retrain(ctx):
    """Trains again into the server's MODEL_DIR and publishes every model: versions are per
    second, so wait for a new second first, and PROMOTE_MARGIN=1 publishes an untuned model
    even where the served one was tuned and is better (promotion is tested in test_pipeline)."""
    time.sleep(1.0 - (time.time() % 1.0) + 0.02)
    r = subprocess.run([ctx.tt, "train", "--tier", "free", "--no-tune"],
                       env={**ctx.srv.env(), "PROMOTE_MARGIN": "1"}, capture_output=True,
                       timeout=240)  # a hang guard: under ASan on a busy machine it takes a minute
    check(r.returncode == 0, f"tunetrail train failed: {r.stderr.decode()[-300:]}")


@test(server="scratch")
def reload_picks_up_new_versions(ctx):
    before = versions(ctx)
    retrain(ctx)
    eq(versions(ctx), before, "versions before the reload (with polling off, new files must not load by themselves)")
    d = reload(ctx)
    after = versions(ctx)
    for name in FREE_MODELS:
        check(after[name][0] != before[name][0],
              f"{name}: version {after[name][0]} unchanged after train + reload")
    rec = ctx.srv.recommend({"user_id": ctx.data.take_user(), "limit": 5})
    eq(rec["model_version"], after[ctx.srv.free_model()][0],
       "answers come from the new version of the free tier's model")
    listed = [m.get("version") for m in d["models"] if isinstance(m, dict) and m.get("name") == "als"]
    if listed:
        eq(listed, [after["als"][0]], "als version in the reload answer")


def corrupt_and_check(ctx, mutate, what, in_place=False):
    """Makes als.ttm bad and reloads. By default the bad file replaces the good one by a
    rename (how a careless deploy or a half-finished copy looks); @in_place changes the very
    file the running models were loaded from."""
    path = os.path.join(ctx.srv.model_dir, "free", "als.ttm")
    backup = path + ".api-test-backup"
    shutil.copyfile(path, backup)
    before = versions(ctx)
    main = ctx.srv.free_model()
    user = ctx.data.take_user()
    try:
        if in_place:
            mutate(path)
        else:
            bad = path + ".api-test-bad"
            shutil.copyfile(path, bad)
            mutate(bad)
            os.replace(bad, path)
        r = reload(ctx, status=500)
        e = check_error(r, 500, "corrupt_model", what=f"reload with a {what} als.ttm")
        check("als.ttm" in e["message"], f"corrupt_model message does not name the file: "
                                         f"{e['message']!r}")
        for _ in range(3):
            d = check_user_answer(ctx.srv.recommend({"user_id": user, "limit": 10}))
            eq(d["model"], main, "the old models keep serving after a failed reload")
            eq(len(d["items"]), 10, "number of items after a failed reload")
        eq(versions(ctx), before, "/models/info after a failed reload")
        h = ctx.srv.get("/health")
        eq(h.status_code, 200, f"/health after a failed reload: {short(h.text)}")
    finally:
        os.replace(backup, path)
    reload(ctx)


def truncate(path):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)


def flip_byte(path):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.seek(size // 2)
        b = f.read(1)
        f.seek(size // 2)
        f.write(bytes([b[0] ^ 0x5A]))


@test(server="scratch")
def reload_truncated_model(ctx):
    corrupt_and_check(ctx, truncate, "truncated")


@test(server="scratch")
def reload_bitflip_model(ctx):
    corrupt_and_check(ctx, flip_byte, "bit-flipped (checksum mismatch)")


@test(server="scratch")
def reload_empty_model_file(ctx):
    corrupt_and_check(ctx, lambda p: open(p, "wb").close(), "empty")


@test(server="scratch")
def reload_on_sighup(ctx):
    before = versions(ctx)
    retrain(ctx)
    ctx.srv.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if versions(ctx)["als"][0] != before["als"][0]:
            break
        time.sleep(0.1)
    check(ctx.srv.alive(), "the server died on SIGHUP")
    check(versions(ctx)["als"][0] != before["als"][0], "SIGHUP did not reload within 5 s")
    ctx.srv.recommend({"user_id": ctx.data.take_user(), "limit": 3})


# --- no models --------------------------------------------------------------------------------


@test(server="empty")
def no_models_not_ready(ctx):
    r = ctx.srv.get("/health")
    eq(r.status_code, 503, f"/health without models: {short(r.text)}")
    d = json_of(r, "/health without models")
    eq(d.get("status"), "unavailable", "/health status without models")
    eq(d.get("models_loaded"), 0, "/health models_loaded without models")
    r = ctx.srv.post("/recommend/user", {"user_id": "u0000001", "limit": 5})
    check_error(r, 503, "not_ready", what="/recommend/user without models")
    r = ctx.srv.post("/recommend/similar", {"track_id": "t0000001"})
    check_error(r, 503, "not_ready", what="/recommend/similar without models")
    r = ctx.srv.post("/daily-mix", {"user_id": "u0000001", "model_tier": "starter"})
    check_error(r, 503, "not_ready", what="/daily-mix without models")


@test(server="empty", inferred=True)
def no_models_then_train_and_reload(ctx):
    """An operator who trains into the empty MODEL_DIR and reloads gets a ready service."""
    r = subprocess.run([ctx.tt, "train", "--tier", "free", "--no-tune"], env=ctx.srv.env(),
                       capture_output=True, timeout=60)
    check(r.returncode == 0, f"tunetrail train failed: {r.stderr.decode()[-300:]}")
    reload(ctx)
    r = ctx.srv.get("/health")
    eq(r.status_code, 200, f"/health after train + reload: {short(r.text)}")
    ctx.srv.recommend({"user_id": "u0000001", "limit": 5})


# --- Redis unreachable -----------------------------------------------------------------------


@test(server="deadredis")
def redis_down_degraded_but_serving(ctx):
    d = check_health(ctx, status=("degraded",), backend="redis", healthy=False)
    user = ctx.data.take_user()
    for i in range(3):
        t0 = time.monotonic()
        rec = check_user_answer(ctx.srv.recommend({"user_id": user, "limit": 10}))
        took = time.monotonic() - t0
        eq(rec["cached"], False, f"answer {i + 1} with Redis down")
        check(took < 1.0, f"answer {i + 1} with Redis down took {took:.2f} s")
    fb = ctx.srv.feedback({"user_id": user, "track_id": rec["items"][0]["track_id"],
                           "action": "like"})
    eq(fb.get("status"), "stored", "feedback with Redis down")
    rec = ctx.srv.recommend({"user_id": user, "limit": 10})
    check(fb["track_id"] not in [it["track_id"] for it in rec["items"]],
          "liked track still listed with Redis down")
    eq(d["status"], "degraded", "health status")


# --- /metrics --------------------------------------------------------------------------------

REQUIRED = ["tt_http_requests_total", "tt_http_request_duration_seconds_bucket",
            "tt_http_request_duration_seconds_sum", "tt_http_request_duration_seconds_count",
            "tt_cache_hits_total", "tt_cache_misses_total", "tt_feedback_total", "tt_model_info",
            "tt_recommendations_total", "tt_clicks_total", "tt_ctr"]


def endpoint_label(m, *words):
    labels = {l.get("endpoint", "") for l, _ in m.find("tt_http_requests_total")}
    hits = [e for e in labels if all(w in e for w in words)]
    check(hits, f"no tt_http_requests_total endpoint label containing {words}: {sorted(labels)}")
    return min(hits, key=len)


@test()
def metrics_format(ctx):
    user = ctx.data.take_user()
    ctx.srv.recommend({"user_id": user, "limit": 5})
    ctx.srv.feedback({"user_id": user, "track_id": ctx.data.popular_tracks[0], "action": "skip"})
    r = ctx.srv.get("/metrics")
    eq(r.status_code, 200, "GET /metrics status")
    ctype = r.headers.get("content-type", "")
    check(ctype.startswith("text/plain") and "version=0.0.4" in ctype,
          f"/metrics content-type {ctype!r}, expected text/plain; version=0.0.4")
    m = ctx.srv.metrics()
    check(not m.bad, f"{len(m.bad)} /metrics lines do not parse as `name{{labels}} value`: "
                     f"{m.bad[:3]}")
    missing = [n for n in REQUIRED if n not in m.names()]
    check(not missing, f"/metrics lacks {missing}")
    eq(m.types.get("tt_http_request_duration_seconds"), "histogram",
       "# TYPE of tt_http_request_duration_seconds")
    for l, _ in m.find("tt_http_requests_total"):
        check("endpoint" in l and "status" in l, f"tt_http_requests_total labels {l}")
    for name, keys in (("tt_feedback_total", {"action"}), ("tt_recommendations_total", {"model"}),
                       ("tt_clicks_total", {"model"}), ("tt_ctr", {"model"}),
                       ("tt_model_info", {"name", "tier", "version"})):
        for l, v in m.find(name):
            check(keys <= set(l), f"{name} labels {l} lack {keys - set(l)}")
    info = ctx.srv.models_info()
    for mod in info["models"]:
        got = m.find("tt_model_info", name=mod["name"], tier=mod["tier"])
        check(got, f"no tt_model_info for {mod['name']}")
        eq([(l["version"], v) for l, v in got], [(mod["version"], 1.0)],
           f"tt_model_info{{name=\"{mod['name']}\"}}")
    check(m.value("tt_recommendations_total", model="als") >= 1,
          "tt_recommendations_total{model=\"als\"} after an ALS answer")
    check(m.value("tt_feedback_total", action="skip") >= 1, "tt_feedback_total{action=\"skip\"}")


@test()
def metrics_histogram_and_counts(ctx):
    m0 = ctx.srv.metrics()
    ctx.srv.recommend({"user_id": ctx.data.take_user(), "limit": 5})
    m1 = ctx.srv.metrics()
    ep = endpoint_label(m1, "recommend", "user")
    c0 = m0.value("tt_http_requests_total", endpoint=ep, status="200")
    c1 = m1.value("tt_http_requests_total", endpoint=ep, status="200")
    eq(c1 - c0, 1.0, f"tt_http_requests_total{{endpoint=\"{ep}\",status=\"200\"}} after one call")
    ctx.srv.post("/recommend/user", {"limit": 5})
    m2 = ctx.srv.metrics()
    check(m2.value("tt_http_requests_total", endpoint=ep, status="400") >= 1,
          "tt_http_requests_total with status 400 after a bad request")
    buckets = sorted(((float(l["le"]), v) for l, v in
                      m2.find("tt_http_request_duration_seconds_bucket", endpoint=ep)),
                     key=lambda x: x[0])
    check(len(buckets) >= 3, f"histogram of {ep} has {len(buckets)} buckets")
    check(math.isinf(buckets[-1][0]), "histogram lacks the +Inf bucket")
    counts = [v for _, v in buckets]
    check(counts == sorted(counts), f"bucket counts are not cumulative: {counts}")
    n = m2.value("tt_http_request_duration_seconds_count", endpoint=ep)
    eq(buckets[-1][1], n, "+Inf bucket vs _count")
    check(n >= 2, f"_count {n} for {ep}")
    check(m2.value("tt_http_request_duration_seconds_sum", endpoint=ep) > 0, "_sum is 0")
    for name in ("tt_ctr",):
        for l, v in m2.find(name):
            check(math.isnan(v) or 0 <= v <= 1, f"{name}{l} = {v} outside 0..1")


@test(tags=("cache",))
def metrics_cache_counters(ctx):
    m0 = ctx.srv.metrics()
    body = {"user_id": ctx.data.take_user(), "limit": 9}
    a = ctx.srv.recommend(body)
    b = ctx.srv.recommend(body)
    eq((a["cached"], b["cached"]), (False, True), "cached flags of two identical requests")
    m1 = ctx.srv.metrics()
    check(m1.value("tt_cache_misses_total") - m0.value("tt_cache_misses_total") >= 1,
          "tt_cache_misses_total did not grow after a miss")
    check(m1.value("tt_cache_hits_total") - m0.value("tt_cache_hits_total") >= 1,
          "tt_cache_hits_total did not grow after a hit")


@test()
def metrics_feedback_counter(ctx):
    m0 = ctx.srv.metrics()
    user = "api-test-metrics-" + str(time.time_ns())
    for i in range(3):
        ctx.srv.feedback({"user_id": user, "track_id": ctx.data.popular_tracks[300 + i],
                          "action": "share"})
    m1 = ctx.srv.metrics()
    eq(m1.value("tt_feedback_total", action="share") - m0.value("tt_feedback_total",
                                                                action="share"),
       3.0, "tt_feedback_total{action=\"share\"} after three shares")


@test(server="scratch")
def reload_truncated_in_place(ctx):
    """The contract's own recipe: truncate the model file the server loaded, then reload.
    A server that maps model files must not die of SIGBUS when one shrinks under it."""
    corrupt_and_check(ctx, truncate, "truncated in place", in_place=True)


# --- the content index and reloads (scratch server) ----------------------------------------------


def index_path(ctx):
    return os.path.join(ctx.srv.model_dir, "faiss_indexes", "content.idx")


def build_index(ctx, workdir, db_url=None, *args):
    """Runs `tunetrail index ARGS` into @workdir/models for the server's database, or
    @db_url; returns the index file it wrote."""
    env = ctx.srv.env()
    env["MODEL_DIR"] = os.path.join(workdir, "models")
    if db_url:
        env["DATABASE_URL"] = db_url
    r = subprocess.run([ctx.tt, "index", *args], env=env, capture_output=True, timeout=120)
    check(r.returncode == 0, f"tunetrail index {' '.join(args)} failed: "
                             f"{r.stderr.decode()[-300:]}")
    path = os.path.join(env["MODEL_DIR"], "faiss_indexes", "content.idx")
    check(os.path.isfile(path), f"tunetrail index wrote no {path}")
    return path


def scratch_dir(ctx, name):
    d = os.path.join(os.path.dirname(ctx.srv.db_path), name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


_limits = iter(range(100, 500))


def fresh_limit():
    """A limit no request has used yet: its answer is computed, not read from the cache."""
    return next(_limits)


def content_similar(ctx, seed, limit):
    r = ctx.srv.post("/recommend/similar", {"track_id": seed, "limit": limit,
                                            "model_tier": "starter"})
    check(r.status_code == 200, f"content similar to {seed}: {r.status_code} {short(r.text)}")
    d = r.json()
    eq((d["method"], d["model"]), ("content", "content"), f"similar to {seed}: method, model")
    eq(len(d["items"]), limit, f"similar to {seed}: number of items")
    return d


def refused_index_and_check(ctx, make_bad, what, needle):
    """Puts the index file @make_bad(path) returns in place of content.idx and reloads: the
    reload must fail with corrupt_model naming the index, and the loaded models keep serving
    content similarity from their own index."""
    path = index_path(ctx)
    backup = path + ".api-test-backup"
    shutil.copyfile(path, backup)
    before = versions(ctx)
    _, content = content_index_info(ctx)
    try:
        bad = make_bad(path)
        os.replace(bad, path)
        r = reload(ctx, status=500)
        e = check_error(r, 500, "corrupt_model", what=f"reload with {what}")
        check("content.idx" in e["message"], f"the message does not name the index file: "
                                             f"{e['message']!r}")
        if needle:
            check(needle in e["message"], f"the message does not say {needle!r}: "
                                          f"{e['message']!r}")
        # Fresh requests (limits not asked before, so computed now) on the old models.
        for seed in ctx.data.popular_tracks[50:53]:
            content_similar(ctx, seed, fresh_limit())
        eq(versions(ctx), before, f"/models/info after a reload refused for {what}")
        eq(content_index_info(ctx)[1]["index"], content["index"], "the index still in use")
        eq(ctx.srv.get("/health").status_code, 200, "/health after a failed reload")
    finally:
        os.replace(backup, path)
    reload(ctx)


def stale_index_and_check(ctx, other, what, needle):
    """Puts the intact index file @other (built for something else) in place of content.idx
    and reloads: the reload succeeds, the index is left aside (/models/info says why, with
    @needle) and the content model answers by scanning the catalog: the same answers as
    the exact index it had."""
    path = index_path(ctx)
    backup = path + ".api-test-backup"
    seeds = ctx.data.popular_tracks[50:53]
    limit = fresh_limit()
    want = [content_similar(ctx, s, limit)["items"] for s in seeds]
    shutil.copyfile(path, backup)
    try:
        os.replace(other, path)
        reload(ctx)
        ix = content_index_info(ctx)[1]["index"]
        eq(ix.get("type"), "scan", f"content index after a reload with {what}")
        check(needle in ix.get("index_refused", "") and "content.idx" in ix["index_refused"],
              f"/models/info does not say why the index was left aside: {ix}")
        limit = fresh_limit()
        for seed, items in zip(seeds, want):
            got = content_similar(ctx, seed, limit)["items"]
            n = min(len(got), len(items))
            eq([i["track_id"] for i in got][:n], [i["track_id"] for i in items][:n],
               f"scan answers for {seed} after {what}")
        eq(ctx.srv.get("/health").status_code, 200, "/health with a stale index")
    finally:
        os.replace(backup, path)
    reload(ctx)
    eq(content_index_info(ctx)[1]["index"].get("type"), "flat", "the rebuilt index is taken")


@test(server="scratch")
def reload_leaves_aside_an_index_of_another_catalog(ctx):
    work = scratch_dir(ctx, "other-catalog")
    db_url = "sqlite:///" + os.path.join(work, "tt.db")
    env = dict(ctx.srv.env(), DATABASE_URL=db_url, MODEL_DIR=os.path.join(work, "models"))
    r = subprocess.run([ctx.tt, "generate", "--users", "30", "--tracks", "300", "--interactions",
                        "600", "--seed", "11"], env=env, capture_output=True, timeout=60)
    check(r.returncode == 0, f"tunetrail generate failed: {r.stderr.decode()[-300:]}")
    other = build_index(ctx, work, db_url)
    stale_index_and_check(ctx, other, "an index of another catalog", "catalog")


@test(server="scratch")
def reload_leaves_aside_an_index_of_other_content_weights(ctx):
    """Same catalog, same dimension, other vectors (key weighted 1 instead of 0.5)."""
    work = scratch_dir(ctx, "other-weights")
    other = build_index(ctx, work, None, "--w-key", "1")
    stale_index_and_check(ctx, other, "an index of other content vectors",
                          "other content vectors")


@test(server="scratch")
def reload_refuses_a_damaged_index(ctx):
    def damaged(path):
        bad = path + ".api-test-bad"
        shutil.copyfile(path, bad)
        flip_byte(bad)
        return bad

    refused_index_and_check(ctx, damaged, "a bit-flipped index", None)


@test(server="scratch")
def reload_with_an_hnsw_index_then_without_one(ctx):
    """`tunetrail index --type hnsw` for the same data is taken at the next reload (its
    efSearch listed); with no index file the content model scans the catalog, exactly."""
    path = index_path(ctx)
    backup = path + ".api-test-backup"
    seed = ctx.data.popular_tracks[60]
    flat = content_similar(ctx, seed, 21)
    shutil.copyfile(path, backup)
    try:
        hnsw = build_index(ctx, scratch_dir(ctx, "hnsw"), None, "--type", "hnsw",
                           "--ef-search", "48")
        shutil.copyfile(hnsw, path)
        reload(ctx)
        ix = content_index_info(ctx)[1]["index"]
        eq((ix.get("type"), ix.get("ef_search")), ("hnsw", 48), "index type and ef_search")
        check("nprobe" not in ix, f"an HNSW index has no nprobe: {ix}")
        d = content_similar(ctx, seed, 22)
        got = [it["track_id"] for it in d["items"]][:21]
        want = [it["track_id"] for it in flat["items"]]
        share = len(set(got) & set(want)) / len(want)
        check(share >= 0.9, f"HNSW answers share {share:.2f} of the exact ones")

        os.remove(path)
        reload(ctx)
        eq(content_index_info(ctx)[1]["index"], {"type": "scan"}, "the index without a file")
        d = content_similar(ctx, seed, 23)
        eq([it["track_id"] for it in d["items"]][:21], [it["track_id"] for it in flat["items"]],
           "a scan of the catalog answers like the flat index")
    finally:
        os.replace(backup, path)
    reload(ctx)
    eq(content_index_info(ctx)[1]["index"].get("type"), "flat", "the flat index is back")


@test(server="scratch")
def index_covers_the_trained_content_model(ctx):
    """`tunetrail index` in the served MODEL_DIR indexes the trained content model's vectors,
    so the service takes the index it writes; content weights that contradict the trained
    model are refused instead of writing an index the service would refuse."""
    env = ctx.srv.env()
    path = index_path(ctx)
    before = open(path, "rb").read()
    r = subprocess.run([ctx.tt, "index", "--w-genre", "1"], env=env, capture_output=True,
                       timeout=120)
    check(r.returncode != 0, "index with weights other than the trained model's succeeded")
    check(b"other content weights" in r.stderr, f"index refusal: {r.stderr.decode()[-300:]}")
    check(open(path, "rb").read() == before, "a refused index run changed content.idx")
    r = subprocess.run([ctx.tt, "index", "--type", "hnsw", "--ef-search", "40"], env=env,
                       capture_output=True, timeout=120)
    check(r.returncode == 0, f"tunetrail index failed: {r.stderr.decode()[-300:]}")
    try:
        d = reload(ctx)
        content = [m for m in d["models"] if m["name"] == "content"]
        check(content and content[0].get("index", {}).get("type") == "hnsw",
              f"reloaded content index: {content}")
        eq(content[0]["index"].get("ef_search"), 40, "ef_search of the rebuilt index")
    finally:
        with open(path + ".tmp-restore", "wb") as f:
            f.write(before)
        os.replace(path + ".tmp-restore", path)
        reload(ctx)


# --- admin access --------------------------------------------------------------------------------


def reload_as(ctx, headers):
    with httpx.Client(base_url=ctx.srv.base, timeout=30) as c:
        return c.post("/models/reload", headers=headers)


@test()
def admin_reload_needs_the_token(ctx):
    """/models/reload changes the service: 401 without the token, 403 with a wrong one."""
    r = reload_as(ctx, {})
    check_error(r, 401, "unauthorized", what="reload without Authorization")
    check(r.headers.get("www-authenticate", "").startswith("Bearer"),
          f"a 401 names the scheme: WWW-Authenticate {r.headers.get('www-authenticate')!r}")
    check_error(reload_as(ctx, {"Authorization": "Basic dXNlcjpwYXNz"}), 401, "unauthorized",
                what="reload with another scheme")
    for wrong in (ADMIN_TOKEN + "x", ADMIN_TOKEN[:-1], "x" * len(ADMIN_TOKEN), "y"):
        r = reload_as(ctx, {"Authorization": f"Bearer {wrong}"})
        check_error(r, 403, "forbidden", what=f"reload with a wrong token ({len(wrong)} bytes)")
        check(ADMIN_TOKEN not in r.text, "the answer repeats the token")
    eq(reload_as(ctx, {"Authorization": f"Bearer {ADMIN_TOKEN}"}).status_code, 200,
       "reload with the token")
    with open(ctx.srv.log_path, errors="replace") as f:
        check(ADMIN_TOKEN not in f.read(), "the server log contains the admin token")


@test()
def admin_loopback_allowance(ctx):
    """ADMIN_ALLOW_LOOPBACK=true lets loopback in without a header; a header sent is still
    checked. Without ADMIN_TOKEN, a token is refused: admin access is off."""
    work = os.path.dirname(ctx.srv.log_path)
    for env, no_header, with_token in (({"ADMIN_ALLOW_LOOPBACK": "true"}, 200, 200),
                                        ({"ADMIN_ALLOW_LOOPBACK": "true", "ADMIN_TOKEN": ""},
                                         200, 403),
                                        ({"ADMIN_TOKEN": ""}, 401, 403)):
        other = Server(ctx.tt, "admin", ctx.srv.db_path, ctx.srv.model_dir, work, extra_env=env)
        other.start()
        try:
            with httpx.Client(base_url=other.base, timeout=30) as c:
                eq(c.post("/models/reload").status_code, no_header, f"{env}: no header")
                eq(c.post("/models/reload", headers={"Authorization": "Bearer wrong-token-000000"})
                   .status_code, 403, f"{env}: a wrong token")
                eq(c.post("/models/reload", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
                   .status_code, with_token, f"{env}: the test token")
        finally:
            other.stop()
            other.kill()


@test()
def admin_token_config_is_checked(ctx):
    """A short or spaced ADMIN_TOKEN stops the engine at start, naming the variable only."""
    for bad in ("short", "has a space in the token"):
        env = dict(os.environ, ADMIN_TOKEN=bad, DATABASE_URL=ctx.srv.db_url,
                   MODEL_DIR=ctx.srv.model_dir)
        p = subprocess.run([ctx.tt, "serve", "--port", "1"], env=env, capture_output=True,
                           text=True, timeout=30)
        eq(p.returncode, 2, f"serve with ADMIN_TOKEN={bad!r}: exit code")
        check("ADMIN_TOKEN" in p.stderr and bad not in p.stderr,
              f"the error names the variable, never the value: {p.stderr.strip()[:200]}")
