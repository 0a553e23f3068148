"""POST /recommend/similar: shape, never the seed itself, artist exclusion, methods, tiers,
content similarity and the hybrid of the starter tier."""
from harness import check, check_error, check_items, check_ranks, eq, short, test

SIMILAR_KEYS = {"track_id": str, "model": str, "model_version": str, "method": str,
                "tier": str, "requested_tier": str, "items": list}


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
    eq((d["model"], d["tier"], d["requested_tier"]), ("als", "free", "free"),
       "model, tier and requested_tier on the free tier")
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
    """The starter tier is the highest loaded: pro and enterprise requests get its content
    similarity, and the answer says which tier answered and which was asked for."""
    seed = ctx.data.popular_tracks[4]
    for limit, tier in enumerate(("starter", "pro", "enterprise"), start=5):
        d = similar(ctx, {"track_id": seed, "limit": limit, "model_tier": tier})
        check_similar(d, seed, f"tier {tier}")
        eq(len(d["items"]), limit, f"tier {tier}: number of items")
        eq((d["method"], d["model"], d["tier"], d["requested_tier"]),
           ("content", "content", "starter", tier), f"tier {tier}: method, model, tier, "
                                                    f"requested_tier")


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


# --- the starter tier: content similarity and the hybrid -----------------------------------


def content_seeds(ctx):
    """Seeds from the head and the tail of the popularity ranking."""
    return ctx.data.popular_tracks[:20] + ctx.data.popular_tracks[-20:]


def scores_descend(d, what):
    scores = [it["score"] for it in d["items"]]
    check(scores == sorted(scores, reverse=True), f"{what}: scores not descending: {scores}")
    return scores


@test()
def similar_starter_auto_is_content(ctx):
    seed = ctx.data.popular_tracks[6]
    for body in ({"track_id": seed, "limit": 10, "model_tier": "starter"},
                 {"track_id": seed, "limit": 11, "model_tier": "starter", "method": "auto"},
                 {"track_id": seed, "limit": 12, "model_tier": "starter", "method": "content"}):
        d = similar(ctx, body)
        what = f"starter {body.get('method', 'default method')}"
        check_similar(d, seed, what)
        eq(len(d["items"]), body["limit"], f"{what}: number of items")
        eq((d["method"], d["model"], d["tier"], d["requested_tier"]),
           ("content", "content", "starter", "starter"), f"{what}: method, model, tier, "
                                                         f"requested_tier")
        scores = scores_descend(d, what)
        check(all(-1.0001 <= x <= 1.0001 for x in scores), f"{what}: cosines outside [-1, 1]: "
                                                             f"{scores}")
    # The content model's version, as /models/info lists it.
    info = {m["name"]: m for m in ctx.srv.models_info()["models"]}
    eq(d["model_version"], info["content"]["version"], "model_version of a content answer")


@test()
def similar_content_shares_the_seed_genre(ctx):
    """The synthetic catalog gives each genre its own audio-feature centre: tracks that sound
    alike mostly share the seed's genre, far above what random tracks would."""
    genres = ctx.data.track_genres
    n = len(genres)
    first = {}
    for gs in genres.values():
        if gs:
            first[gs[0]] = first.get(gs[0], 0) + 1
    shares, anys, chance = [], [], []
    for seed in content_seeds(ctx):
        d = similar(ctx, {"track_id": seed, "limit": 20, "model_tier": "starter",
                          "method": "content"})
        ids = check_similar(d, seed, f"content similar to {seed}")
        eq(len(ids), 20, f"content similar to {seed}: number of items")
        mine = genres[seed]
        shares.append(sum(it["genre"] == mine[0] for it in d["items"]) / len(ids))
        anys.append(sum(bool(set(genres[t]) & set(mine)) for t in ids) / len(ids))
        chance.append((first[mine[0]] - 1) / (n - 1))
    share, share_any, base = (sum(x) / len(x) for x in (shares, anys, chance))
    check(share >= 0.6 and share >= 4 * base,
          f"content items share the seed's first genre {share:.2f} of the time (random tracks "
          f"{base:.2f})")
    check(share_any >= 0.75, f"content items have a genre of the seed {share_any:.2f} of the time")


@test()
def similar_content_and_hybrid_never_the_seed(ctx):
    for seed in ctx.data.popular_tracks[10:40:3] + ctx.data.popular_tracks[-5:]:
        for method in ("content", "hybrid"):
            d = similar(ctx, {"track_id": seed, "limit": 50, "model_tier": "starter",
                              "method": method})
            check_similar(d, seed, f"{method} similar to {seed}")
            eq(len(d["items"]), 50, f"{method} similar to {seed}: number of items")


def seed_with_artist_neighbours(ctx, method):
    """A popular seed whose unfiltered @method list holds tracks by its own artist, so that
    leaving them out is visible."""
    for seed in ctx.data.popular_tracks[:40]:
        artist_id = ctx.data.track_artist[seed][0]
        d = similar(ctx, {"track_id": seed, "limit": 100, "model_tier": "starter",
                          "method": method})
        same = [t for t in check_similar(d, seed) if ctx.data.track_artist[t][0] == artist_id]
        if same:
            return seed, artist_id, same
    raise AssertionError(f"no popular seed has its own artist among its {method} neighbours")


@test()
def similar_content_and_hybrid_exclude_same_artist(ctx):
    for method in ("content", "hybrid"):
        seed, artist_id, same = seed_with_artist_neighbours(ctx, method)
        d = similar(ctx, {"track_id": seed, "limit": 100, "model_tier": "starter",
                          "method": method, "exclude_same_artist": True})
        ids = check_similar(d, seed, f"{method} without the seed's artist")
        eq(d["method"], method, "method")
        back = [t for t in ids if ctx.data.track_artist[t][0] == artist_id]
        check(not back, f"{method}: exclude_same_artist let {len(back)} of the artist's tracks "
                        f"through (unfiltered: {same[:5]})")
        eq(len(ids), 100, f"{method} without the seed's artist: number of items")
        scores_descend(d, f"{method} without the seed's artist")


@test()
def similar_hybrid_is_the_union_scored_by_the_mean(ctx):
    """hybrid: the union of the ALS and content top lists, each track scored by the mean of
    its two cosine similarities, best first."""
    for seed in ctx.data.popular_tracks[:8]:
        body = {"track_id": seed, "limit": 30, "model_tier": "starter"}
        h = similar(ctx, dict(body, method="hybrid"))
        cf = similar(ctx, dict(body, method="cf"))
        ct = similar(ctx, dict(body, method="content"))
        ids = check_similar(h, seed, f"hybrid similar to {seed}")
        eq((h["method"], h["model"], h["tier"], h["requested_tier"]),
           ("hybrid", "als+content", "starter", "starter"), "hybrid method, model, tier")
        eq((cf["method"], cf["model"], cf["tier"]), ("cf", "als", "free"),
           "method cf on the starter tier")
        eq(len(ids), 30, "hybrid: number of items")
        scores_descend(h, "hybrid")
        s_cf = {it["track_id"]: it["score"] for it in cf["items"]}
        s_ct = {it["track_id"]: it["score"] for it in ct["items"]}
        stray = [t for t in ids if t not in s_cf and t not in s_ct]
        check(not stray, f"hybrid tracks in neither top list: {stray[:5]}")
        # A track outside one top list is at most as similar there as that list's last one.
        floor_cf, floor_ct = min(s_cf.values()), min(s_ct.values())
        for it in h["items"]:
            t = it["track_id"]
            a, b = s_cf.get(t, floor_cf), s_ct.get(t, floor_ct)
            if t in s_cf and t in s_ct:
                check(abs(it["score"] - (a + b) / 2) < 1e-4,
                      f"hybrid score of {t} is {it['score']}, not the mean of {a} (cf) and "
                      f"{b} (content)")
            else:
                check(it["score"] <= (a + b) / 2 + 1e-4,
                      f"hybrid score of {t} is {it['score']}, above the mean of {a} and the "
                      f"bound {b} its absence from a top list sets")


@test()
def similar_content_and_hybrid_limit_500(ctx):
    seed = ctx.data.popular_tracks[7]
    for method in ("content", "hybrid"):
        for artist_out in (False, True):
            d = similar(ctx, {"track_id": seed, "limit": 500, "model_tier": "starter",
                              "method": method, "exclude_same_artist": artist_out})
            what = f"{method} limit 500 exclude_same_artist {artist_out}"
            check_similar(d, seed, what)
            eq(len(d["items"]), 500, f"{what}: number of items")
            eq(d["method"], method, f"{what}: method")
            scores_descend(d, what)


@test()
def similar_content_and_hybrid_forbidden_on_free(ctx):
    seed = ctx.data.popular_tracks[8]
    for method in ("content", "hybrid"):
        for body in ({"track_id": seed, "method": method, "model_tier": "free"},
                     {"track_id": seed, "method": method}):
            r = similar(ctx, body, status=403)
            check_error(r, 403, "tier_forbidden", "method", what=f"{body}")
    # The free tier's auto is cf even though the content model is loaded.
    d = similar(ctx, {"track_id": seed, "limit": 5, "model_tier": "free", "method": "auto"})
    eq((d["method"], d["model"], d["tier"]), ("cf", "als", "free"), "free tier auto")


@test()
def similar_requested_tier_is_the_one_sent(ctx):
    """Two requests that differ only in model_tier and get the same list must each be told
    their own requested_tier (cached or not)."""
    seed = ctx.data.popular_tracks[9]
    for tier in ("starter", "pro", "enterprise"):
        d = similar(ctx, {"track_id": seed, "limit": 9, "model_tier": tier})
        eq((d["tier"], d["requested_tier"]), ("starter", tier),
           f"tier and requested_tier for a {tier} request (cached: {d.get('cached')})")
    for tier in ("free", "starter"):
        d = similar(ctx, {"track_id": seed, "limit": 8, "model_tier": tier, "method": "cf"})
        eq((d["tier"], d["requested_tier"]), ("free", tier),
           f"method cf: tier and requested_tier for a {tier} request (cached: {d.get('cached')})")
