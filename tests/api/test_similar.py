"""POST /recommend/similar: shape, never the seed itself, artist exclusion, methods, tiers."""
from harness import check, check_error, check_items, check_ranks, eq, short, test

SIMILAR_KEYS = {"track_id": str, "model": str, "model_version": str, "method": str,
                "items": list}


def similar(ctx, body, status=200):
    r = ctx.srv.post("/recommend/similar", body)
    check(r.status_code == status, f"POST /recommend/similar {body} -> {r.status_code}, expected "
                                   f"{status}: {short(r.text)}")
    return r.json() if status == 200 else r


def check_similar(d, seed, what="similar"):
    for k, t in SIMILAR_KEYS.items():
        check(isinstance(d.get(k), t), f"{what}: field {k!r} must be {t.__name__}, got "
                                        f"{d.get(k)!r}")
    eq(d["track_id"], seed, f"{what}: track_id")
    ids = check_items(d["items"], what)
    check(seed not in ids, f"{what}: the seed track {seed} is among its own similar tracks")
    check_ranks(d["items"], what)
    return ids


@test()
def similar_shape(ctx):
    seed = ctx.data.popular_tracks[0]
    d = similar(ctx, {"track_id": seed, "limit": 10, "model_tier": "free"})
    check_similar(d, seed)
    eq(len(d["items"]), 10, "number of items")
    check(d["method"] in ("cf", "auto"), f"free tier method {d['method']!r}, expected cf")
    scores = [it["score"] for it in d["items"]]
    check(scores == sorted(scores, reverse=True), f"scores not descending: {scores}")


@test()
def similar_defaults(ctx):
    seed = ctx.data.popular_tracks[5]
    d = similar(ctx, {"track_id": seed})
    check_similar(d, seed)
    eq(len(d["items"]), 20, "default limit")


@test()
def similar_many_seeds_never_self(ctx):
    for seed in ctx.data.popular_tracks[10:40:3] + ctx.data.popular_tracks[-5:]:
        d = similar(ctx, {"track_id": seed, "limit": 50})
        check_similar(d, seed, f"similar to {seed}")


@test()
def similar_limits(ctx):
    seed = ctx.data.popular_tracks[1]
    eq(len(similar(ctx, {"track_id": seed, "limit": 1})["items"]), 1, "limit 1")
    d = similar(ctx, {"track_id": seed, "limit": 500})
    check_similar(d, seed)
    eq(len(d["items"]), 500, "limit 500")


@test()
def similar_exclude_same_artist(ctx):
    seed = ctx.data.popular_tracks[2]
    artist_id, artist = ctx.data.track_artist[seed]
    d = similar(ctx, {"track_id": seed, "limit": 100, "exclude_same_artist": True})
    check_similar(d, seed)
    same = [it["track_id"] for it in d["items"] if ctx.data.track_artist.get(it["track_id"],
                                                                             (None,))[0] == artist_id]
    check(not same, f"exclude_same_artist: tracks by {artist} came back: {same[:5]}")
    eq(len(d["items"]), 100, "number of items")
    d = similar(ctx, {"track_id": seed, "limit": 100, "exclude_same_artist": False})
    check_similar(d, seed)


@test()
def similar_methods_free(ctx):
    seed = ctx.data.popular_tracks[3]
    for method in ("auto", "cf"):
        d = similar(ctx, {"track_id": seed, "limit": 5, "method": method})
        check_similar(d, seed, f"method {method}")
    eq(d["method"], "cf", "method echoed for cf")
    for method in ("content", "hybrid"):
        r = similar(ctx, {"track_id": seed, "method": method, "model_tier": "free"}, status=403)
        check_error(r, 403, "tier_forbidden", what=f"method {method} on the free tier")


@test()
def similar_tier_beyond_loaded(ctx):
    seed = ctx.data.popular_tracks[4]
    for tier in ("starter", "pro", "enterprise"):
        d = similar(ctx, {"track_id": seed, "limit": 5, "model_tier": tier})
        check_similar(d, seed, f"tier {tier}")
        eq(len(d["items"]), 5, f"tier {tier}: number of items")


@test()
def similar_unknown_track(ctx):
    for seed in ("no-such-track-xyz", "", "t9999999"):
        r = ctx.srv.post("/recommend/similar", {"track_id": seed, "limit": 10})
        if seed == "":
            # An empty id is invalid input or simply unknown; either way a JSON error.
            check(r.status_code in (400, 404), f"empty track_id -> {r.status_code}")
            check_error(r, r.status_code, ("invalid_argument", "not_found"), "track_id")
        else:
            check_error(r, 404, "not_found", "track_id", what=f"unknown track {seed!r}")
