"""POST /recommend/user: answer shape, exclusions, filters, pagination, fallback, tiers, and
the content model of the starter tier."""
import json
import os
import subprocess
import time
import uuid
from collections import Counter

from harness import (check, check_error, check_items, check_ranks, check_user_answer, eq,
                     short, test)

TIERS = ("free", "starter", "pro", "enterprise")


@test()
def recommend_user_shape(ctx):
    user = ctx.data.heavy_user()
    d = check_user_answer(ctx.srv.recommend({"user_id": user, "limit": 20, "model_tier": "free"}))
    eq(d["user_id"], user, "user_id")
    eq(len(d["items"]), 20, "number of items")
    eq(d["model"], ctx.srv.free_model(), "model for a user with history on the free tier")
    eq(d["tier"], "free", "tier")
    eq(d["requested_tier"], "free", "requested_tier")
    eq(d["fallback"], False, "fallback for a user with history")
    check_ranks(d["items"], "recommend/user")
    for it in d["items"]:
        eq(it["genre"] in ctx.data.genres_of(it["track_id"]) or it["genre"] == "", True,
           f"genre {it['genre']!r} of {it['track_id']} is one of its genres "
           f"{ctx.data.genres_of(it['track_id'])}")
    scores = [it["score"] for it in d["items"]]
    check(scores == sorted(scores, reverse=True), f"scores not in descending order: {scores}")


@test()
def recommend_user_defaults(ctx):
    user = ctx.data.take_user()
    d = check_user_answer(ctx.srv.recommend({"user_id": user}))
    eq(len(d["items"]), 20, "default limit")
    eq(d["tier"], "free", "default tier")
    eq(d["requested_tier"], "free", "default requested_tier")
    eq(d["fallback"], False, "fallback")


@test()
def recommend_user_never_heard(ctx):
    for user in (ctx.data.heavy_user(), ctx.data.take_user(), ctx.data.take_user()):
        d = ctx.srv.recommend({"user_id": user, "limit": 200})
        heard = ctx.data.heard(user)
        bad = [t for t in check_items(d["items"], "recommend/user") if t in heard]
        check(not bad, f"user {user}: recommended {len(bad)} tracks they already heard: {bad[:5]}")
        eq(len(d["items"]), 200, f"user {user}: number of items")


@test()
def recommend_user_exclude_track_ids(ctx):
    user = ctx.data.take_user()
    first = [it["track_id"] for it in ctx.srv.recommend({"user_id": user, "limit": 10})["items"]]
    d = ctx.srv.recommend({"user_id": user, "limit": 10, "exclude_track_ids": first[:5]})
    got = check_items(d["items"], "recommend/user")
    check(not set(got) & set(first[:5]), f"excluded tracks came back: {set(got) & set(first[:5])}")
    eq(len(got), 10, "number of items with exclusions")
    eq(got[:5], first[5:], "the list moves up past the excluded tracks")


@test()
def recommend_user_exclude_unknown_ids_ignored(ctx):
    user = ctx.data.take_user()
    d = ctx.srv.recommend({"user_id": user, "limit": 5,
                           "exclude_track_ids": ["no-such-track", "t9999999"]})
    eq(len(d["items"]), 5, "unknown ids in exclude_track_ids are ignored")


@test()
def recommend_user_genres_filter(ctx):
    user = ctx.data.take_user()
    for genres in (["rock"], ["jazz", "classical"]):
        d = ctx.srv.recommend({"user_id": user, "limit": 30, "genres": genres})
        items = d["items"]
        check_items(items, "recommend/user")
        check(items, f"genres {genres}: no items")
        bad = [(it["track_id"], ctx.data.genres_of(it["track_id"])) for it in items
               if not set(ctx.data.genres_of(it["track_id"])) & set(genres)]
        check(not bad, f"genres {genres}: tracks outside those genres: {bad[:5]}")
        eq(len(items), 30, f"genres {genres}: number of items")


@test()
def recommend_user_pagination(ctx):
    user = ctx.data.take_user()
    a = ctx.srv.recommend({"user_id": user, "limit": 10, "offset": 0})
    b = ctx.srv.recommend({"user_id": user, "limit": 10, "offset": 10})
    c = ctx.srv.recommend({"user_id": user, "limit": 20, "offset": 0})
    ids = lambda d: [it["track_id"] for it in d["items"]]  # noqa: E731
    eq(ids(a) + ids(b), ids(c), "offset 0 limit 10 + offset 10 limit 10 vs offset 0 limit 20")
    check_ranks(b["items"], "offset 10: ranks are positions in the whole list", first=11)
    d = ctx.srv.recommend({"user_id": user, "limit": 5, "offset": 10000})
    check_items(d["items"], "offset 10000")


@test()
def recommend_user_unknown_user_fallback(ctx):
    user = "api-test-unknown-" + uuid.uuid4().hex
    d = check_user_answer(ctx.srv.recommend({"user_id": user, "limit": 15}))
    eq(d["user_id"], user, "user_id")
    eq(d["fallback"], True, "fallback for an unknown user")
    eq(len(d["items"]), 15, "number of items for an unknown user")
    check(d["model"] in ("genre", "popularity", "trending"),
          f"unknown user served by {d['model']!r}, expected genre/popularity/trending")
    check_ranks(d["items"], "fallback")


@test()
def recommend_user_unicode_and_long_ids(ctx):
    for user in ("ünïcødé-用户-🎵", "u" * 256, "with space and \"quotes\""):
        d = check_user_answer(ctx.srv.recommend({"user_id": user, "limit": 3}))
        eq(d["user_id"], user, "user_id echoed byte for byte")


@test()
def recommend_user_tier_beyond_loaded(ctx):
    """The starter tier's main model is hybrid, the pro tier's hybrid_deep; enterprise has no
    models of its own, so its user lists come from the pro tier's ranker, and the answer says
    so."""
    user = ctx.data.take_user()
    for tier, want_tier, want_model in (("starter", "starter", "hybrid"),
                                        ("pro", "pro", "hybrid_deep"),
                                        ("enterprise", "pro", "hybrid_deep")):
        d = check_user_answer(ctx.srv.recommend({"user_id": user, "limit": 5, "model_tier": tier}))
        eq(d["tier"], want_tier, f"tier serving a {tier} request")
        eq(d["model"], want_model, f"model serving a {tier} request")
        eq(d["requested_tier"], tier, "requested_tier")
        eq(len(d["items"]), 5, "number of items")


@test()
def recommend_user_explicit_models(ctx):
    user = ctx.data.take_user()
    heard = ctx.data.heard(user)
    for model in ("als", "ease", "popularity", "trending", "genre"):
        d = check_user_answer(ctx.srv.recommend({"user_id": user, "limit": 10, "model": model}))
        eq(d["model"], model, f"model asked for {model}")
        eq(len(d["items"]), 10, f"{model}: number of items")
        bad = [t["track_id"] for t in d["items"] if t["track_id"] in heard]
        check(not bad, f"{model}: recommended heard tracks {bad[:5]}")


@test(inferred=True)
def recommend_user_popularity_order(ctx):
    """The popularity model ranks an unknown user's list by play counts; nothing heard to
    skip, so it starts with the most popular tracks of the training data."""
    user = "api-test-pop-" + uuid.uuid4().hex
    d = ctx.srv.recommend({"user_id": user, "limit": 10, "model": "popularity"})
    got = [it["track_id"] for it in d["items"]]
    top = set(ctx.data.popular_tracks[:30])
    inside = [t for t in got if t in top]
    check(len(inside) >= 7, f"popularity list {got} shares only {len(inside)} tracks with the 30 "
                            f"most-played tracks of the data")


@test()
def recommend_user_limit_bounds(ctx):
    user = ctx.data.take_user()
    d = ctx.srv.recommend({"user_id": user, "limit": 1})
    eq(len(d["items"]), 1, "limit 1")
    d = ctx.srv.recommend({"user_id": user, "limit": 500})
    eq(len(d["items"]), 500, "limit 500")
    check_ranks(d["items"], "limit 500")


@test()
def recommend_user_unknown_fields_ignored(ctx):
    user = ctx.data.take_user()
    d = ctx.srv.recommend({"user_id": user, "limit": 4, "bogus": {"nested": [1, 2, None]},
                           "another": True})
    eq(len(d["items"]), 4, "number of items")


@test()
def recommend_user_json_charset(ctx):
    user = ctx.data.take_user()
    r = ctx.srv.http.post("/recommend/user", content=('{"user_id": "%s", "limit": 3}' % user)
                          .encode(), headers={"Content-Type": "application/json; charset=utf-8"})
    eq(r.status_code, 200, f"charset=utf-8 content type: {r.text[:200]}")
    eq(len(r.json()["items"]), 3, "number of items")


@test(tags=("cache",))
def recommend_user_cached_second_time(ctx):
    user = ctx.data.take_user()
    body = {"user_id": user, "limit": 17, "model_tier": "free"}
    a = check_user_answer(ctx.srv.recommend(body))
    eq(a["cached"], False, "first answer cached")
    b = check_user_answer(ctx.srv.recommend(body))
    eq(b["cached"], True, "second identical answer cached")
    eq(b["recommendation_id"], a["recommendation_id"], "recommendation_id of the cached answer")
    eq(b["items"], a["items"], "items of the cached answer")
    eq(b["model"], a["model"], "model of the cached answer")


@test(tags=("cache",))
def recommend_user_distinct_ids(ctx):
    user = ctx.data.take_user()
    ids = set()
    for limit in (3, 4, 5):
        d = ctx.srv.recommend({"user_id": user, "limit": limit})
        eq(d["cached"], False, f"limit {limit}: a new request is not served from cache")
        ids.add(d["recommendation_id"])
    d = ctx.srv.recommend({"user_id": user, "limit": 5, "model": "popularity"})
    ids.add(d["recommendation_id"])
    eq(len(ids), 4, "distinct recommendation_id per computed answer")


@test(tags=("cache",))
def recommend_user_cache_key_per_filter(ctx):
    """Requests that differ only in their filters never share a cached answer: a filtered
    list must not be served for the unfiltered request, nor the other way round."""
    user = ctx.data.take_user()
    empty = ctx.srv.recommend({"user_id": user, "limit": 12, "genres": []})
    eq(empty["cached"], False, "first request of a fresh user answered from cache")
    plain = ctx.srv.recommend({"user_id": user, "limit": 12})
    eq(len(plain["items"]), 12, f"plain request right after one with \"genres\": [] "
                                f"(cached: {plain['cached']}): number of items")
    if plain["cached"]:
        eq(plain["items"], empty["items"], "a shared cached answer must be the same list")
    for extra in ({"genres": ["jazz"]}, {"model": "popularity"}, {"offset": 1},
                  {"exclude_track_ids": [plain["items"][0]["track_id"]]}):
        d = ctx.srv.recommend(dict({"user_id": user, "limit": 12}, **extra))
        check(d["recommendation_id"] != plain["recommendation_id"] and not d["cached"],
              f"request with {extra} was answered with the cached plain answer")


# --- "model": "content" (starter tier) -------------------------------------------------------


def content_version(ctx):
    return {m["name"]: m["version"] for m in ctx.srv.models_info()["models"]}["content"]


@test()
def recommend_user_model_content_starter(ctx):
    user = ctx.data.take_user()
    heard = ctx.data.heard(user)
    d = check_user_answer(ctx.srv.recommend({"user_id": user, "limit": 20, "model": "content",
                                             "model_tier": "starter"}))
    eq((d["model"], d["tier"], d["requested_tier"], d["fallback"]),
       ("content", "starter", "starter", False), "model, tier, requested_tier, fallback")
    eq(len(d["items"]), 20, "number of items")
    check_ranks(d["items"], "model content")
    bad = [it["track_id"] for it in d["items"] if it["track_id"] in heard]
    check(not bad, f"model content recommended heard tracks {bad[:5]}")
    eq(d["model_version"], content_version(ctx), "model_version vs /models/info")
    check(d["recommendation_id"].startswith("content-"),
          f"recommendation_id {d['recommendation_id']!r} does not name the content model")
    for tier in ("pro", "enterprise"):
        d = check_user_answer(ctx.srv.recommend({"user_id": user, "limit": 7, "model": "content",
                                                 "model_tier": tier}))
        eq((d["model"], d["tier"], d["requested_tier"]), ("content", "starter", tier),
           f"model content on the {tier} tier")
        eq(len(d["items"]), 7, f"{tier}: number of items")


@test()
def recommend_user_model_content_forbidden_on_free(ctx):
    user = ctx.data.take_user()
    for body in ({"user_id": user, "model": "content", "model_tier": "free"},
                 {"user_id": user, "model": "content"}):
        r = ctx.srv.recommend(body, status=403)
        check_error(r, 403, "tier_forbidden", "model", what=f"{body}")


@test()
def recommend_user_model_content_sounds_like_the_history(ctx):
    """Listeners' content lists stay within the genres they play most (each genre has its own
    sound in the synthetic data), far more than the most popular tracks do."""
    users = ctx.data.users_by_activity[30:270:16]
    shares = {"content": [], "popularity": []}
    with ctx.data.connect() as db:
        for user in users:
            played = Counter(ctx.data.genres_of(t)[0] for (t,) in db.execute(
                "select track_id from interactions where user_id = ? and action in "
                "('play', 'like', 'save', 'share')", (user,)) if ctx.data.genres_of(t))
            top = {g for g, _ in played.most_common(3)}
            for model in shares:
                d = ctx.srv.recommend({"user_id": user, "limit": 20, "model": model,
                                       "model_tier": "starter"})
                eq(len(d["items"]), 20, f"{model} for {user}: number of items")
                shares[model].append(sum(it["genre"] in top for it in d["items"]) / 20)
    content, pop = (sum(v) / len(v) for v in (shares["content"], shares["popularity"]))
    check(content >= 0.8 and content >= pop + 0.3,
          f"content items in the listener's three most played genres: {content:.2f} "
          f"(popularity: {pop:.2f})")


@test()
def recommend_user_model_content_filters_and_pagination(ctx):
    user = ctx.data.take_user()
    base = {"user_id": user, "model": "content", "model_tier": "starter"}
    ids = lambda d: [it["track_id"] for it in d["items"]]  # noqa: E731
    first = ids(ctx.srv.recommend(dict(base, limit=10)))
    d = ctx.srv.recommend(dict(base, limit=10, exclude_track_ids=first[:4]))
    got = check_items(d["items"], "model content with exclusions")
    check(not set(got) & set(first[:4]), f"excluded tracks came back: {set(got) & set(first[:4])}")
    eq(len(got), 10, "number of items with exclusions")
    for genres in (["rock"], ["jazz", "classical"]):
        d = ctx.srv.recommend(dict(base, limit=30, genres=genres))
        outside = [(it["track_id"], ctx.data.genres_of(it["track_id"])) for it in d["items"]
                   if not set(ctx.data.genres_of(it["track_id"])) & set(genres)]
        check(not outside, f"genres {genres}: tracks outside them: {outside[:5]}")
        eq(len(d["items"]), 30, f"genres {genres}: number of items")
        eq(d["model"], "content", f"genres {genres}: model")
    a = ctx.srv.recommend(dict(base, limit=10, offset=0))
    b = ctx.srv.recommend(dict(base, limit=10, offset=10))
    c = ctx.srv.recommend(dict(base, limit=20, offset=0))
    eq(ids(a) + ids(b), ids(c), "offset 0 limit 10 + offset 10 limit 10 vs offset 0 limit 20")
    check_ranks(b["items"], "offset 10", first=11)
    d = ctx.srv.recommend(dict(base, limit=500))
    eq(len(d["items"]), 500, "limit 500")


@test()
def recommend_user_model_content_unknown_user_falls_back(ctx):
    user = "api-test-content-" + uuid.uuid4().hex
    d = check_user_answer(ctx.srv.recommend({"user_id": user, "limit": 8, "model": "content",
                                             "model_tier": "starter"}))
    eq(d["fallback"], True, "fallback for an unknown user")
    check(d["model"] in ("genre", "popularity"), f"unknown user served by {d['model']!r}")
    eq(len(d["items"]), 8, "number of items")


# --- a listener and a track without content (scratch server) ----------------------------------


def import_csv(ctx, kind, text):
    path = os.path.join(os.path.dirname(ctx.srv.db_path), f"api-test-{kind}.csv")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    r = subprocess.run([ctx.tt, "import", kind, path], env=ctx.srv.env(), capture_output=True,
                       timeout=60)
    check(r.returncode == 0, f"tunetrail import {kind} failed: {r.stderr.decode()[-300:]}")


@test(server="scratch")
def content_without_features_falls_back(ctx):
    """Tracks with no audio features, no genre and no embedding have no content vector: a
    listener who played only such tracks gets the fallback from model content, and content
    similarity for such a track is answered by collaborative filtering."""
    bare = [f"api-bare-{i}" for i in range(3)]
    import_csv(ctx, "tracks", "track_id,title,artist,artist_id\n" + "".join(
        f"{t},Untitled {t},Nobody Known,api-bare-artist\n" for t in bare))
    listener = "api-bare-listener"
    rows = [f"{listener},{t},play,{1700000000 + i}\n" for i, t in enumerate(bare)]
    # Others play them too, so collaborative filtering knows them.
    for j, user in enumerate(ctx.data.users_by_activity[:12]):
        rows += [f"{user},{t},play,{1700001000 + 10 * j + i}\n" for i, t in enumerate(bare)]
    import_csv(ctx, "interactions", "user_id,track_id,action,timestamp\n" + "".join(rows))
    time.sleep(1.0 - (time.time() % 1.0) + 0.02)  # versions are per second
    r = subprocess.run([ctx.tt, "train", "--tier", "all", "--no-eval", "--no-tune"],
                       env=ctx.srv.env(),
                       capture_output=True, timeout=120)
    check(r.returncode == 0, f"tunetrail train failed: {r.stderr.decode()[-300:]}")
    r = ctx.srv.post("/models/reload")
    eq(r.status_code, 200, f"reload after retraining: {short(r.text)}")

    d = check_user_answer(ctx.srv.recommend({"user_id": listener, "limit": 6, "model": "content",
                                             "model_tier": "starter"}))
    eq(d["fallback"], True, "a listener with no content in their history gets the fallback")
    check(d["model"] in ("genre", "popularity"), f"fallback model {d['model']!r}")
    eq(len(d["items"]), 6, "number of items")
    check(not set(bare) & {it["track_id"] for it in d["items"]}, "heard tracks came back")
    d = check_user_answer(ctx.srv.recommend({"user_id": ctx.data.users_by_activity[0],
                                             "limit": 6, "model": "content",
                                             "model_tier": "starter"}))
    eq((d["model"], d["fallback"]), ("content", False), "a listener with content history")

    for method in ("auto", "content", "hybrid"):
        r = ctx.srv.post("/recommend/similar", {"track_id": bare[0], "limit": 5,
                                                "model_tier": "starter", "method": method})
        eq(r.status_code, 200, f"similar to a track without content, method {method}: "
                               f"{short(r.text)}")
        d = r.json()
        eq((d["method"], d["model"], d["tier"]), ("cf", "als", "free"),
           f"method {method} for a track without content is answered by cf")
        ids = check_items(d["items"], f"similar to {bare[0]}")
        check(bare[0] not in ids, "the seed is among its own similar tracks")
        eq(len(ids), 5, "number of items")
    # Tracks with content never list the bare ones as sounding alike.
    for seed in ctx.data.popular_tracks[:5]:
        r = ctx.srv.post("/recommend/similar", {"track_id": seed, "limit": 500,
                                                "model_tier": "starter", "method": "content"})
        ids = {it["track_id"] for it in r.json()["items"]}
        check(not ids & set(bare), f"content similar to {seed} lists tracks without content")


# --- the starter tier's hybrid model ------------------------------------------------------------


def models_by_name(ctx):
    return {m["name"]: m for m in ctx.srv.models_info()["models"]}


@test()
def recommend_user_starter_is_hybrid(ctx):
    user = ctx.data.heavy_user()
    d = check_user_answer(ctx.srv.recommend({"user_id": user, "limit": 20,
                                             "model_tier": "starter"}))
    eq((d["model"], d["tier"], d["requested_tier"], d["fallback"]),
       ("hybrid", "starter", "starter", False), "model, tier, requested_tier, fallback")
    eq(len(d["items"]), 20, "number of items")
    check_ranks(d["items"], "hybrid")
    heard = ctx.data.heard(user)
    bad = [t for t in check_items(d["items"], "hybrid") if t in heard]
    check(not bad, f"hybrid recommended heard tracks {bad[:5]}")
    eq(d["model_version"], models_by_name(ctx)["hybrid"]["version"], "model_version vs /models/info")
    check(d["recommendation_id"].startswith("hybrid-"),
          f"recommendation_id {d['recommendation_id']!r} does not name the hybrid model")
    free = check_user_answer(ctx.srv.recommend({"user_id": user, "limit": 20, "model_tier": "free"}))
    eq((free["model"], free["tier"]), (ctx.srv.free_model(), "free"),
       "a free request is still answered by the free tier's model")
    explicit = check_user_answer(ctx.srv.recommend({"user_id": user, "limit": 20, "model": "hybrid",
                                                    "model_tier": "starter"}))
    eq([it["track_id"] for it in explicit["items"]], [it["track_id"] for it in d["items"]],
       "model hybrid asked explicitly gives the starter list")


@test()
def recommend_user_model_hybrid_forbidden_on_free(ctx):
    user = ctx.data.take_user()
    for body in ({"user_id": user, "model": "hybrid", "model_tier": "free"},
                 {"user_id": user, "model": "hybrid"}):
        r = ctx.srv.http.post("/recommend/user", json=body)
        check_error(r, 403, "tier_forbidden", "model", what=f"{body}")
        check("starter" in r.json()["error"]["message"],
              f"the 403 should name the tier it needs: {r.json()['error']['message']!r}")


@test()
def recommend_user_hybrid_unknown_user_falls_back(ctx):
    user = "api-test-hybrid-" + uuid.uuid4().hex
    d = check_user_answer(ctx.srv.recommend({"user_id": user, "limit": 8, "model_tier": "starter"}))
    eq(d["fallback"], True, "an unknown user gets the fallback")
    check(d["model"] in ("genre", "popularity"), f"fallback model {d['model']!r}")
    eq(len(d["items"]), 8, "number of items")


@test()
def models_info_shows_hybrid_weights(ctx):
    h = models_by_name(ctx).get("hybrid")
    check(h is not None, "hybrid is not in /models/info")
    eq((h["tier"], h["kind"]), ("starter", "hybrid"), "hybrid tier and kind")
    w = h["params"].get("weights", {})
    eq(sorted(w), ["als", "content", "popularity", "trending"], "blend weights by part")
    check(all(v >= 0 for v in w.values()) and abs(sum(w.values()) - 1) < 1e-3,
          f"weights should be >= 0 and sum to 1: {w}")
    v = h["params"].get("validation", {})
    check(0 < v.get("ndcg@20", 0) <= 1 and v.get("users", 0) > 0,
          f"validation figures missing or out of range: {v}")
    eq(h["params"].get("parts"), ["als", "content", "popularity", "trending"], "parts")
    check("new_bonus" in h["params"], "the learned new-release bonus is listed")


# --- the pro tier: hybrid_deep, neumf, deep_content ------------------------------------------------


@test()
def recommend_user_pro_is_hybrid_deep(ctx):
    user = ctx.data.heavy_user()
    d = check_user_answer(ctx.srv.recommend({"user_id": user, "limit": 20, "model_tier": "pro"}))
    eq((d["model"], d["tier"], d["requested_tier"], d["fallback"]),
       ("hybrid_deep", "pro", "pro", False), "model, tier, requested_tier, fallback")
    eq(len(d["items"]), 20, "number of items")
    check_ranks(d["items"], "hybrid_deep")
    heard = ctx.data.heard(user)
    bad = [t for t in check_items(d["items"], "hybrid_deep") if t in heard]
    check(not bad, f"hybrid_deep recommended heard tracks {bad[:5]}")
    check(d["recommendation_id"].startswith("hybrid_deep-"),
          f"recommendation_id {d['recommendation_id']!r} does not name hybrid_deep")
    eq(d["model_version"], models_by_name(ctx)["hybrid_deep"]["version"],
       "model_version vs /models/info")


@test()
def recommend_user_pro_dislike_never_comes_back(ctx):
    user = ctx.data.heavy_user()
    body = {"user_id": user, "limit": 10, "model_tier": "pro"}
    first = check_user_answer(ctx.srv.recommend(body))
    gone = first["items"][0]["track_id"]
    ctx.srv.feedback({"user_id": user, "track_id": gone, "action": "dislike"})
    after = check_user_answer(ctx.srv.recommend(dict(body, limit=50)))
    eq(after["model"], "hybrid_deep", "model after fresh feedback (folded in)")
    check(gone not in [it["track_id"] for it in after["items"]],
          f"disliked track {gone} recommended again by hybrid_deep")


@test()
def recommend_user_pro_models_explicit_and_gated(ctx):
    user = ctx.data.heavy_user()
    heard = ctx.data.heard(user)
    for model in ("neumf", "deep_content", "hybrid_deep"):
        d = check_user_answer(ctx.srv.recommend({"user_id": user, "limit": 10, "model": model,
                                                 "model_tier": "pro"}))
        eq((d["model"], d["tier"]), (model, "pro"), f"model {model} asked explicitly")
        eq(len(d["items"]), 10, f"{model}: number of items")
        bad = [t for t in check_items(d["items"], model) if t in heard]
        check(not bad, f"{model} recommended heard tracks {bad[:5]}")
        r = ctx.srv.http.post("/recommend/user", json={"user_id": user, "model": model,
                                                       "model_tier": "starter"})
        check_error(r, 403, "tier_forbidden", "model", what=f"{model} on the starter tier")
        check("pro" in r.json()["error"]["message"],
              f"the 403 should name the tier it needs: {r.json()['error']['message']!r}")


@test()
def recommend_user_pro_unknown_user_falls_back(ctx):
    user = "api-test-pro-" + uuid.uuid4().hex
    d = check_user_answer(ctx.srv.recommend({"user_id": user, "limit": 8, "model_tier": "pro"}))
    eq(d["fallback"], True, "an unknown user gets the fallback")
    check(d["model"] in ("genre", "popularity"), f"fallback model {d['model']!r}")
    eq(len(d["items"]), 8, "number of items")


@test()
def models_info_shows_the_pro_models(ctx):
    by = models_by_name(ctx)
    for name in ("neumf", "deep_content", "hybrid_deep"):
        check(name in by, f"{name} is not in /models/info")
        eq(by[name]["tier"], "pro", f"{name} tier")
    hd = by["hybrid_deep"]["params"]
    imp = hd.get("feature_importance", {})
    eq(sorted(imp), sorted(hd.get("features", [])), "an importance for every feature")
    for k in ("als", "neumf", "deep_content", "artist_affinity", "genre_affinity"):
        check(k in imp, f"feature {k} has no importance: {sorted(imp)}")
    v = hd.get("validation", {})
    check(0 <= v.get("ndcg@20", -1) <= 1 and 0 <= v.get("als_ndcg@20", -1) <= 1,
          f"validation figures missing or out of range: {v}")
    hist = by["neumf"]["params"].get("history", {})
    check(len(hist.get("loss", [])) == by["neumf"]["params"].get("epochs"),
          f"neumf: one loss per epoch expected: {hist}")
    dc = by["deep_content"]["params"].get("validation", {})
    check(-1 <= dc.get("cosine", -2) <= 1 and dc.get("train_tracks", 0) > 0,
          f"deep_content validation figures: {dc}")
