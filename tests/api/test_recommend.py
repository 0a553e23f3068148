"""POST /recommend/user: answer shape, exclusions, filters, pagination, fallback, tiers."""
import json
import uuid

from harness import check, check_error, check_items, check_ranks, check_user_answer, eq, test

TIERS = ("free", "starter", "pro", "enterprise")


@test()
def recommend_user_shape(ctx):
    user = ctx.data.heavy_user()
    d = check_user_answer(ctx.srv.recommend({"user_id": user, "limit": 20, "model_tier": "free"}))
    eq(d["user_id"], user, "user_id")
    eq(len(d["items"]), 20, "number of items")
    eq(d["model"], "als", "model for a user with history on the free tier")
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
    user = ctx.data.take_user()
    for tier in TIERS[1:]:
        d = check_user_answer(ctx.srv.recommend({"user_id": user, "limit": 5, "model_tier": tier}))
        eq(d["tier"], "free", f"tier serving a {tier} request with only free models")
        eq(d["requested_tier"], tier, "requested_tier")
        eq(len(d["items"]), 5, "number of items")


@test()
def recommend_user_explicit_models(ctx):
    user = ctx.data.take_user()
    heard = ctx.data.heard(user)
    for model in ("als", "popularity", "trending", "genre"):
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
