"""GET /dashboard, /dashboard/chart.js and /dashboard/data (docs/dashboard.md). The page drawn
by a browser is tests/dashboard/run's."""
import os

from harness import check, eq, short, test

CHART_JS = "/usr/share/javascript/chart.js/chart.min.js"


def data(ctx):
    r = ctx.srv.get("/dashboard/data")
    eq(r.status_code, 200, "GET /dashboard/data status")
    check(r.headers.get("content-type", "").startswith("application/json"),
          f"/dashboard/data content-type {r.headers.get('content-type')!r}")
    return r.json()


def total(d, *path):
    v = d["series"]
    for k in path:
        v = v.get(k, {}) if isinstance(v, dict) else {}
    return sum(v) if isinstance(v, list) else 0


@test()
def dashboard_series_count_requests_feedback_and_clicks(ctx):
    d0 = data(ctx)
    user = ctx.data.take_user()
    rec = ctx.srv.recommend({"user_id": user, "limit": 5})
    ctx.srv.feedback({"user_id": user, "track_id": rec["items"][0]["track_id"],
                      "action": "click", "recommendation_id": rec["recommendation_id"]})
    d1 = data(ctx)
    s = d1["series"]
    n = len(s["minutes"])
    check(1 <= n <= 61, f"{n} minutes in the series")
    eq(len(s["seconds"]), n, "seconds per minute")
    check(all(m % 60 == 0 for m in s["minutes"]), f"minutes not on the minute: {s['minutes']}")
    ep = s["endpoints"]["recommend_user"]
    for key in ("requests", "rate", "errors", "p50_ms", "p95_ms", "p99_ms"):
        eq(len(ep[key]), n, f"recommend_user {key} points")
    eq(total(d1, "endpoints", "recommend_user", "requests") -
       total(d0, "endpoints", "recommend_user", "requests"), 1, "recommend_user requests")
    eq(total(d1, "feedback", "by_action", "click") - total(d0, "feedback", "by_action", "click"),
       1, "clicks in the feedback series")
    model = rec["model"]
    eq(total(d1, "ctr", model, "clicks") - total(d0, "ctr", model, "clicks"), 1,
       f"clicks attributed to {model}")
    for i in range(n):
        p = [ep[k][i] for k in ("p50_ms", "p95_ms", "p99_ms")]
        check(None in p or p[0] <= p[1] <= p[2], f"percentiles out of order: {p}")
        hr = s["cache"]["hit_rate"][i]
        check(hr is None or 0 <= hr <= 1, f"hit rate {hr}")


@test()
def dashboard_lists_the_served_models_and_their_curves(ctx):
    d = data(ctx)
    info = ctx.srv.models_info()
    eq({(m["name"], m["version"]) for m in d["models"]},
       {(m["name"], m["version"]) for m in info["models"]}, "models and versions")
    for m in d["models"]:
        want = next(x for x in info["models"] if x["name"] == m["name"])
        eq(m["holdout"], want["metrics"].get("holdout"), f"{m['name']} held-out metrics")
    curves = {t["model"]: t for t in d["training"]}
    als = curves.get("als")
    check(als and als["curves"], f"no ALS training curve: {short(str(als))}")
    eq(als["curves"]["unit"], "iteration", "ALS curve unit")
    params = next(x for x in info["models"] if x["name"] == "als")["params"]
    eq(len(als["curves"]["loss"]), params["iterations"] * params["restarts"],
       "ALS losses, one per iteration of each restart")
    check(als["holdout_by_version"] and "ndcg@20" in als["holdout_by_version"][-1],
          f"ALS held-out figures by version: {als['holdout_by_version']}")
    for t in d["training"]:
        check(t["curves"] is None or t["curves"]["unit"] in ("iteration", "epoch"),
              f"{t['model']} curve {short(str(t['curves']))}")


@test()
def dashboard_page_and_its_chart_library(ctx):
    r = ctx.srv.get("/dashboard")
    eq(r.status_code, 200, "GET /dashboard status")
    check(r.headers.get("content-type", "").startswith("text/html"),
          f"/dashboard content-type {r.headers.get('content-type')!r}")
    for cid in ("chart-requests", "chart-cache", "chart-feedback", "chart-ctr", "chart-loss",
                "chart-validation", "chart-holdout"):
        check(f'id="{cid}"' in r.text, f"the page has no canvas {cid}")
    check('src="/dashboard/chart.js"' in r.text, "the page does not load /dashboard/chart.js")
    js = ctx.srv.get("/dashboard/chart.js")
    if os.path.exists(CHART_JS):
        eq(js.status_code, 200, "GET /dashboard/chart.js status")
        check("javascript" in js.headers.get("content-type", ""), "chart.js content-type")
        eq(len(js.content), os.path.getsize(CHART_JS), "chart.js bytes")
    else:
        eq(js.status_code, 404, "GET /dashboard/chart.js without libjs-chart.js")
        eq(js.json()["error"]["code"], "not_found", "error code")
    r = ctx.srv.post("/dashboard/data", {})
    eq(r.status_code, 405, "POST /dashboard/data")
