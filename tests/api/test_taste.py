"""POST /taste-profile/{user_id}: every field and its type, figures checked against the
database, tiers, validation, unknown users, feedback moving the last 30 days, time zones
shifting the hour histogram, and the cache dropped by feedback."""
import json

from harness import check, check_error, eq, short, test

FEATURES = ["danceability", "energy", "valence", "tempo", "acousticness", "instrumentalness",
            "speechiness", "liveness", "loudness", "key", "mode"]
NUM = (int, float)


def taste(ctx, user, body=None, status=200):
    body = {"model_tier": "pro"} if body is None else body
    r = ctx.srv.post(f"/taste-profile/{user}", body)
    check(r.status_code == status,
          f"POST /taste-profile/{user} {short(json.dumps(body), 120)} -> {r.status_code}, "
          f"expected {status}: {short(r.text)}")
    return r.json() if status == 200 else r


def is_num_or_null(x):
    return x is None or (isinstance(x, NUM) and not isinstance(x, bool))


def check_figure(d, what, lo=None, hi=None):
    check(isinstance(d, dict) and set(d) >= {"value", "percentile"}, f"{what}: {short(d)}")
    check(is_num_or_null(d["value"]), f"{what}.value must be a number or null: {d}")
    p = d["percentile"]
    check(p is None or (isinstance(p, NUM) and 0 <= p <= 100), f"{what}.percentile: {p}")
    if d["value"] is not None and lo is not None:
        check(lo - 1e-6 <= d["value"] <= hi + 1e-6, f"{what}.value {d['value']} not in {lo}..{hi}")


def check_shares(items, key, what):
    check(isinstance(items, list) and len(items) <= 10, f"{what}: {short(items)}")
    total = 0
    for x in items:
        check(isinstance(x.get(key), str) and x[key], f"{what}: {key} missing: {x}")
        check(isinstance(x.get("plays"), NUM) and x["plays"] > 0, f"{what}: plays: {x}")
        check(isinstance(x.get("share"), NUM) and 0 < x["share"] <= 1, f"{what}: share: {x}")
        total += x["share"]
    check(total <= 1 + 1e-4, f"{what}: shares add up to {total}")
    plays = [x["plays"] for x in items]
    check(plays == sorted(plays, reverse=True), f"{what}: not heaviest first: {plays}")


def check_profile(d, user):
    """Every field of the answer, typed."""
    eq(d["user_id"], user, "user_id")
    eq(d["model"], "taste", "model")
    eq(d["tier"], "pro", "tier")
    for k, t in (("cached", bool), ("sparse", bool), ("model_version", str),
                 ("sparse_below_plays", int), ("population", int)):
        check(isinstance(d.get(k), t), f"{k} must be {t.__name__}: {short(d)}")
    pl = d["plays"]
    for k in ("total", "last_30_days", "before"):
        check(isinstance(pl.get(k), NUM) and pl[k] >= 0, f"plays.{k}: {pl}")
    check(abs(pl["total"] - pl["last_30_days"] - pl["before"]) < 1e-6, f"plays add up: {pl}")
    check(isinstance(pl.get("unknown_tracks"), int), f"plays.unknown_tracks: {pl}")
    for k in ("first_played_at", "last_played_at"):
        check(pl[k] is None or isinstance(pl[k], int), f"plays.{k}: {pl}")
    w = d["window"]
    eq(w["days"], 30, "window.days")
    eq(w["ends_at"], "newest_play", "window.ends_at")
    if pl["last_played_at"] is not None:
        eq(w["end"], pl["last_played_at"], "window.end")
        eq(w["start"], w["end"] - 30 * 86400, "window.start")
    for key, name in (("top_genres", "genre"), ("top_artists", "artist")):
        check(set(d[key]) == {"all_time", "last_30_days"}, f"{key}: {short(d[key])}")
        for period in ("all_time", "last_30_days"):
            check_shares(d[key][period], name, f"{key}.{period}")
    af = d["audio_features"]
    eq(sorted(af), sorted(FEATURES), "audio_features")
    for f in FEATURES:
        check(set(af[f]) == {"mean", "percentile"}, f"audio_features.{f}: {af[f]}")
        check(is_num_or_null(af[f]["mean"]), f"audio_features.{f}.mean: {af[f]}")
        p = af[f]["percentile"]
        check(p is None or 0 <= p <= 100, f"audio_features.{f}.percentile: {p}")
    dv = d["diversity"]
    check_figure(dv["genre_entropy"], "diversity.genre_entropy", 0, 1)
    check_figure(dv["artists_per_100_plays"], "diversity.artists_per_100_plays", 0, 100)
    check(isinstance(dv["distinct_artists"], int) and isinstance(dv["distinct_genres"], int),
          f"diversity counts: {dv}")
    check_figure(d["mainstream"], "mainstream", 0, 100)
    check_figure(d["discovery_rate"], "discovery_rate", 0, 1)
    check(isinstance(d["taste_clusters"], list), "taste_clusters must be a list")
    for c in d["taste_clusters"]:
        check(isinstance(c.get("name"), str) and c["name"], f"cluster name: {c}")
        check(isinstance(c.get("genres"), list) and isinstance(c.get("seed_artists"), list),
              f"cluster lists: {c}")
        check(isinstance(c.get("tracks"), int) and c["tracks"] >= 2, f"cluster tracks: {c}")
        check(isinstance(c.get("share"), NUM) and 0 < c["share"] <= 1, f"cluster share: {c}")
    check(sum(c["share"] for c in d["taste_clusters"]) <= 1 + 1e-4, "cluster shares add up")
    lt = d["listening_time"]
    check(isinstance(lt["timezone"], str), f"listening_time.timezone: {lt}")
    check(len(lt["by_hour"]) == 24 and len(lt["by_weekday"]) == 7, f"histograms: {lt}")
    eq(lt["weekdays"][0], "monday", "the first weekday")
    check(abs(sum(lt["by_hour"]) - pl["total"]) < 1e-3, "by_hour adds up to the plays")
    check(abs(sum(lt["by_weekday"]) - pl["total"]) < 1e-3, "by_weekday adds up to the plays")
    tr = d["trend"]
    for k in ("genres_rising", "genres_falling"):
        check(isinstance(tr[k], list) and len(tr[k]) <= 5, f"trend.{k}: {tr[k]}")
        for x in tr[k]:
            check(isinstance(x["genre"], str) and all(isinstance(x[f], NUM)
                  for f in ("before", "recent", "delta")), f"trend.{k}: {x}")
            check((x["delta"] > 0) == (k == "genres_rising"), f"trend.{k} sign: {x}")
    eq(sorted(tr["audio_features"]), sorted(FEATURES), "trend.audio_features")
    for f in FEATURES:
        check(set(tr["audio_features"][f]) == {"before", "recent", "delta"}, f"trend {f}")


def plays_in_db(ctx, user):
    with ctx.data.connect() as db:
        rows = db.execute("select track_id, weight, occurred_at from interactions "
                          "where user_id = ? and action = 'play'", (user,)).fetchall()
    return [(t, w if w > 0 else 1.0, ts) for t, w, ts in rows]


@test()
def taste_profile_every_field(ctx):
    user = ctx.data.heavy_user()
    d = taste(ctx, user, {"model_tier": "pro", "timezone": "Europe/Paris"})
    check_profile(d, user)
    eq(d["listening_time"]["timezone"], "Europe/Paris", "listening_time.timezone")
    check(not d["sparse"], "the heaviest listener is not sparse")
    check(d["population"] > 0, "a population behind the percentiles")
    check(d["top_genres"]["all_time"] and d["top_artists"]["all_time"], "tops are empty")
    check(d["taste_clusters"], "the heaviest listener has taste clusters")
    # The figures agree with the database: plays, newest play, the window.
    plays = plays_in_db(ctx, user)
    eq(round(d["plays"]["total"], 3), round(sum(w for _, w, _ in plays), 3), "plays.total")
    last = max(ts for _, _, ts in plays)
    eq(d["plays"]["last_played_at"], last, "plays.last_played_at")
    recent = sum(w for _, w, ts in plays if ts > last - 30 * 86400)
    eq(round(d["plays"]["last_30_days"], 3), round(recent, 3), "plays.last_30_days")
    artists = {ctx.data.track_artist[t][0] for t, _, _ in plays}
    eq(d["diversity"]["distinct_artists"], len(artists), "diversity.distinct_artists")


@test()
def taste_profile_tiers(ctx):
    user = ctx.data.take_user()
    for body in ({}, {"model_tier": "free"}, {"model_tier": "starter"}):
        e = check_error(ctx.srv.post(f"/taste-profile/{user}", body), 403, "tier_forbidden",
                        "model_tier", what=f"taste-profile {body}")
        check("pro" in e["message"], f"the 403 names the tier it needs: {e['message']!r}")
    for tier in ("pro", "enterprise"):
        check_profile(taste(ctx, user, {"model_tier": tier}), user)


@test()
def taste_profile_validation(ctx):
    user = ctx.data.take_user()
    cases = [({"model_tier": "gold"}, "model_tier"),
             ({"model_tier": 2}, "model_tier"),
             ({"model_tier": "pro", "timezone": "Mars/Olympus"}, "timezone"),
             ({"model_tier": "pro", "timezone": "../../etc/passwd"}, "timezone"),
             ({"model_tier": "pro", "timezone": "+14:30"}, "timezone"),
             ({"model_tier": "pro", "timezone": "0530"}, "timezone"),
             ({"model_tier": "pro", "timezone": ""}, "timezone"),
             ({"model_tier": "pro", "timezone": 5}, "timezone"),
             ({"model_tier": "pro", "timezone": ["UTC"]}, "timezone")]
    for body, field in cases:
        check_error(ctx.srv.post(f"/taste-profile/{user}", body), 400, "invalid_argument", field,
                    what=f"taste-profile {body}")
    for raw in (b"[]", b"\"pro\"", b"{", b"null"):
        r = ctx.srv.post(f"/taste-profile/{user}", content=raw,
                         headers={"Content-Type": "application/json"})
        check_error(r, 400, "parse_error", what=f"taste-profile body {raw!r}")
    r = ctx.srv.post(f"/taste-profile/{user}", content=b"tz=UTC",
                     headers={"Content-Type": "text/plain"})
    check_error(r, 415, "unsupported_media_type", what="taste-profile text body")
    check_error(ctx.srv.post("/taste-profile/", {"model_tier": "pro"}), 400, "invalid_argument",
                "user_id", what="taste-profile without a user")
    # No body at all: every field takes its default (the free tier: 403).
    check_error(ctx.srv.post(f"/taste-profile/{user}"), 403, "tier_forbidden", "model_tier",
                what="taste-profile without a body")
    for tz in ("UTC", "+05:30", "-0800", "+09", "America/Sao_Paulo", "Asia/Kolkata"):
        eq(taste(ctx, user, {"model_tier": "pro", "timezone": tz})["listening_time"]["timezone"],
           tz, f"timezone {tz}")


@test()
def taste_profile_unknown_user_404(ctx):
    for user in ("nobody-at-all", "u9999999", "%E2%9C%93"):
        check_error(ctx.srv.post(f"/taste-profile/{user}", {"model_tier": "pro"}), 404,
                    "not_found", "user_id", what=f"taste-profile of {user}")


@test()
def taste_profile_sparse_listener(ctx):
    with ctx.data.connect() as db:
        user, n = db.execute("select user_id, count(*) c from interactions where action = 'play'"
                             " group by user_id order by c, user_id limit 1").fetchone()
    check(n < 20, f"the lightest listener has {n} plays: no sparse listener in the data")
    d = taste(ctx, user)
    check_profile(d, user)
    check(d["sparse"], f"{user} with {n} plays must be sparse")
    eq(d["sparse_below_plays"], 20, "sparse_below_plays")
    check(d["top_genres"]["all_time"], "a sparse profile still has its genres")


@test()
def taste_profile_time_zone_shifts_hours(ctx):
    user = ctx.data.take_user()
    utc = taste(ctx, user, {"model_tier": "pro", "timezone": "UTC"})["listening_time"]
    check(sum(utc["by_hour"]) > 0, f"{user} has no plays")
    for tz, shift in (("+05:00", 5), ("-0800", -8), ("+00:00", 0)):
        got = taste(ctx, user, {"model_tier": "pro", "timezone": tz})["listening_time"]
        for h in range(24):
            check(abs(got["by_hour"][(h + shift) % 24] - utc["by_hour"][h]) < 1e-6,
                  f"{tz}: hour {(h + shift) % 24} has {got['by_hour'][(h + shift) % 24]}, "
                  f"UTC hour {h} has {utc['by_hour'][h]}")
        eq(sum(got["by_weekday"]), sum(utc["by_weekday"]), f"{tz}: weekday total")
    paris = taste(ctx, user, {"model_tier": "pro", "timezone": "Europe/Paris"})["listening_time"]
    check(paris["by_hour"] != utc["by_hour"], "Europe/Paris hours equal UTC's")
    eq(round(sum(paris["by_hour"]), 6), round(sum(utc["by_hour"]), 6), "Paris: plays total")


def genre_track(ctx, genre, avoid):
    """A catalog track whose first genre is @genre, not in @avoid."""
    for t, g in sorted(ctx.data.track_genres.items()):
        if g and g[0] == genre and t not in avoid:
            return t
    check(False, f"no track of genre {genre}")


@test(tags=("cache",))
def taste_profile_follows_feedback(ctx):
    user = ctx.data.take_user()
    a = taste(ctx, user)
    b = taste(ctx, user)
    check(b["cached"] or not a["cached"], "a repeat is served from the cache when caching is on")
    recent = {x["genre"]: x for x in a["top_genres"]["last_30_days"]}
    # A genre that holds little of the last 30 days: 20 plays of it must raise its share.
    genres = sorted({g[0] for g in ctx.data.track_genres.values() if g})
    genre = min(genres, key=lambda g: (recent[g]["share"] if g in recent else 0, g))
    track = genre_track(ctx, genre, ctx.data.heard(user))
    when = a["plays"]["last_played_at"]  # inside the window, which keeps its end
    for i in range(20):
        ctx.srv.feedback({"user_id": user, "track_id": track, "action": "play",
                          "timestamp": when, "event_id": f"taste-{user}-{i}"})
    c = taste(ctx, user)
    eq(c["cached"], False, "cached after feedback (the listener's answers are dropped)")
    eq(c["plays"]["last_played_at"], when, "the newest play")
    eq(round(c["plays"]["last_30_days"] - a["plays"]["last_30_days"], 3), 20.0,
       "last_30_days plays after 20 plays")
    eq(round(c["plays"]["total"] - a["plays"]["total"], 3), 20.0, "total plays after 20 plays")
    after = {x["genre"]: x for x in c["top_genres"]["last_30_days"]}
    check(genre in after, f"{genre} not among the last 30 days' genres after 20 plays: "
                          f"{short(c['top_genres']['last_30_days'])}")
    before = recent[genre]["share"] if genre in recent else 0
    check(after[genre]["share"] > before + 0.01,
          f"{genre}'s share of the last 30 days: {before} -> {after[genre]['share']}")
    eq(round(after[genre]["plays"] - (recent[genre]["plays"] if genre in recent else 0), 3),
       20.0, f"{genre}'s plays in the last 30 days")
    artist = ctx.data.track_artist[track][0]
    new_artist = all(ctx.data.track_artist[t][0] != artist for t in ctx.data.heard(user))
    if new_artist and (a["discovery_rate"]["value"] or 0) < 1:
        check(c["discovery_rate"]["value"] > (a["discovery_rate"]["value"] or 0),
              f"discovery rate after 20 plays of a new artist: {a['discovery_rate']} -> "
              f"{c['discovery_rate']}")
