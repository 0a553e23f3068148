"""POST /daily-mix: answer shape and every field, the mix rules, stability within the UTC day
(cache and feedback), refresh, tiers, validation, and fallback mixes for unknown users."""
import datetime
import json
import time

from harness import check, check_error, eq, short, test

MIX_KEYS = {"mix_id": str, "name": str, "genres": list, "seed_artists": list, "tracks": list}
TRACK_KEYS = {"track_id": str, "title": str, "artist": str, "genre": str, "familiar": bool}


def daily_mix(ctx, body, status=200):
    r = ctx.srv.post("/daily-mix", body)
    check(r.status_code == status,
          f"POST /daily-mix {short(json.dumps(body), 120)} -> {r.status_code}, expected "
          f"{status}: {short(r.text)}")
    return r.json() if status == 200 else r


def disliked(ctx, user):
    with ctx.data.connect() as db:
        return {t for (t,) in db.execute(
            "select track_id from interactions where user_id = ? and action = 'dislike'",
            (user,))}


def check_mixes(ctx, d, user, max_mixes=6, max_tracks=50):
    """Every field of the answer, and the rules each day's mixes follow."""
    eq(d["user_id"], user, "user_id")
    check(isinstance(d.get("model"), str) and d["model"], f"model missing: {short(d)}")
    eq(d.get("date"), datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
       "date (the UTC day)")
    check(isinstance(d.get("fallback"), bool), "fallback must be a bool")
    check(isinstance(d.get("cached"), bool), "cached must be a bool")
    mixes = d["mixes"]
    check(isinstance(mixes, list) and 1 <= len(mixes) <= max_mixes,
          f"{len(mixes)} mixes, expected 1..{max_mixes}")
    heard, bad = ctx.data.heard(user), disliked(ctx, user)
    seen, ids, names = set(), set(), set()
    for m in mixes:
        for k, t in MIX_KEYS.items():
            check(isinstance(m.get(k), t), f"mix field {k} must be {t.__name__}: {short(m)}")
        check(m["mix_id"] and m["name"], f"mix without id or name: {short(m)}")
        check(all(isinstance(x, str) and x for x in m["genres"] + m["seed_artists"]),
              f"genres and seed_artists must be non-empty strings: {short(m)}")
        ids.add(m["mix_id"])
        names.add(m["name"])
        tracks = m["tracks"]
        check(1 <= len(tracks) <= max_tracks, f"mix {m['name']!r}: {len(tracks)} tracks")
        for t in tracks:
            for k, ty in TRACK_KEYS.items():
                check(isinstance(t.get(k), ty), f"track field {k} must be {ty.__name__}: {t}")
            check(t["track_id"] not in seen, f"track {t['track_id']} in two mixes of a day")
            seen.add(t["track_id"])
            check(t["track_id"] not in bad, f"disliked track {t['track_id']} in a mix")
            eq(t["familiar"], t["track_id"] in heard,
               f"familiar flag of {t['track_id']} (heard: {t['track_id'] in heard})")
        arts = [t["artist"] for t in tracks]
        worst = max(arts.count(a) for a in arts)
        check(worst <= 2, f"mix {m['name']!r} has {worst} tracks of one artist")
        check(all(a != b for a, b in zip(arts, arts[1:])),
              f"mix {m['name']!r} plays one artist back to back")
    eq(len(ids), len(mixes), "distinct mix ids")
    eq(len(names), len(mixes), "distinct mix names")
    return mixes


def track_lists(d):
    return [[t["track_id"] for t in m["tracks"]] for m in d["mixes"]]


@test()
def daily_mix_shape_and_rules(ctx):
    user = ctx.data.heavy_user()
    d = daily_mix(ctx, {"user_id": user, "model_tier": "starter"})
    mixes = check_mixes(ctx, d, user)
    eq(d["fallback"], False, "fallback for the most active user")
    eq(d["tier"], "starter", "tier")
    check(len(mixes) >= 2, f"only {len(mixes)} mix for the most active user")
    for m in mixes:
        eq(len(m["tracks"]), 50, f"tracks of mix {m['name']!r} (default 50)")
    fam = sum(t["familiar"] for m in mixes for t in m["tracks"])
    total = sum(len(m["tracks"]) for m in mixes)
    check(0.2 <= fam / total <= 0.45, f"familiar share {fam}/{total}, expected about 1/3")


@test()
def daily_mix_counts(ctx):
    user = ctx.data.take_user()
    for mixes, per in ((1, 1), (2, 10), (10, 100)):
        d = daily_mix(ctx, {"user_id": user, "model_tier": "pro", "mixes": mixes,
                            "tracks_per_mix": per})
        check_mixes(ctx, d, user, mixes, per)


@test(tags=("cache",))
def daily_mix_stable_for_the_day_through_feedback_until_refresh(ctx):
    user = ctx.data.take_user()
    body = {"user_id": user, "model_tier": "starter", "mixes": 3, "tracks_per_mix": 20}
    a = daily_mix(ctx, body)
    b = daily_mix(ctx, body)
    eq(b["cached"], True, "second request of the day is cached")
    eq(track_lists(b), track_lists(a), "the same mixes twice in one day")
    eq([m["mix_id"] for m in b["mixes"]], [m["mix_id"] for m in a["mixes"]], "mix ids")
    gone = next(t["track_id"] for t in a["mixes"][0]["tracks"] if not t["familiar"])
    ctx.srv.feedback({"user_id": user, "track_id": gone, "action": "dislike"})
    c = daily_mix(ctx, body)
    eq(track_lists(c), track_lists(a), "today's mixes after feedback (it changes tomorrow's)")
    r = daily_mix(ctx, dict(body, refresh=True))
    eq(r["cached"], False, "a refresh is recomputed")
    check(gone not in {t for lst in track_lists(r) for t in lst},
          f"track {gone} disliked today is still in the refreshed mixes")
    check_mixes(ctx, r, user, 3, 20)
    after = daily_mix(ctx, body)
    eq(track_lists(after), track_lists(r), "the refreshed mixes stay for the rest of the day")


@test()
def daily_mix_tiers(ctx):
    user = ctx.data.take_user()
    for body in ({"user_id": user}, {"user_id": user, "model_tier": "free"}):
        e = check_error(ctx.srv.post("/daily-mix", body), 403, "tier_forbidden", "model_tier",
                        f"daily-mix {body}")
        check("starter" in e["message"], f"the 403 names the tier it needs: {e['message']!r}")
    for tier in ("starter", "pro", "enterprise"):
        check_mixes(ctx, daily_mix(ctx, {"user_id": user, "model_tier": tier}), user)


@test()
def daily_mix_invalid_fields(ctx):
    user = ctx.data.take_user()
    cases = [({"model_tier": "starter"}, "user_id"),
             ({"user_id": 7, "model_tier": "starter"}, "user_id"),
             ({"user_id": user, "mixes": "six", "model_tier": "starter"}, "mixes"),
             ({"user_id": user, "mixes": 0, "model_tier": "starter"}, "mixes"),
             ({"user_id": user, "mixes": 11, "model_tier": "starter"}, "mixes"),
             ({"user_id": user, "mixes": 2.5, "model_tier": "starter"}, "mixes"),
             ({"user_id": user, "tracks_per_mix": 0, "model_tier": "starter"}, "tracks_per_mix"),
             ({"user_id": user, "tracks_per_mix": 101, "model_tier": "starter"},
              "tracks_per_mix"),
             ({"user_id": user, "tracks_per_mix": "50", "model_tier": "starter"},
              "tracks_per_mix"),
             ({"user_id": user, "model_tier": "gold"}, "model_tier"),
             ({"user_id": user, "refresh": "yes", "model_tier": "starter"}, "refresh")]
    for body, field in cases:
        check_error(ctx.srv.post("/daily-mix", body), 400, None, field, f"daily-mix {body}")
    check_error(ctx.srv.get("/daily-mix"), 405, None, None, "GET /daily-mix")


@test()
def daily_mix_unknown_user_gets_fallback_mixes(ctx):
    user = "no-such-listener-daily-mix"
    d = daily_mix(ctx, {"user_id": user, "model_tier": "starter", "tracks_per_mix": 20})
    mixes = check_mixes(ctx, d, user, 6, 20)
    eq(d["fallback"], True, "fallback for an unknown user")
    eq(len(mixes), 6, "fallback mixes (default 6)")
    for m in mixes:
        check(m["name"].endswith(" Mix"), f"fallback mix name {m['name']!r} names its genre")
        check(not any(t["familiar"] for t in m["tracks"]), "familiar tracks for an unknown user")
        eq(len(m["tracks"]), 20, f"tracks of fallback mix {m['name']!r}")


@test()
def daily_mix_ids_differ_between_users(ctx):
    a, b = ctx.data.take_user(), ctx.data.take_user()
    ia = [m["mix_id"] for m in daily_mix(ctx, {"user_id": a, "model_tier": "starter"})["mixes"]]
    ib = [m["mix_id"] for m in daily_mix(ctx, {"user_id": b, "model_tier": "starter"})["mixes"]]
    check(not set(ia) & set(ib), f"users {a} and {b} share mix ids {set(ia) & set(ib)}")


@test(server="empty")
def daily_mix_from_als_alone(ctx):
    """After test_service trained only the free tier into the empty MODEL_DIR and reloaded, the
    mixes come from ALS alone and still follow every rule."""
    user = ctx.data.heavy_user()
    d = daily_mix(ctx, {"user_id": user, "model_tier": "starter", "tracks_per_mix": 20})
    eq(d["model"], "als", "model of the mixes without the content model")
    eq(d["fallback"], False, "fallback for the most active user")
    check_mixes(ctx, d, user, 6, 20)


@test()
def daily_mix_each_mix_is_an_impression_and_plays_count_as_clicks(ctx):
    user = ctx.data.take_user()
    d = daily_mix(ctx, {"user_id": user, "model_tier": "starter", "mixes": 3,
                        "tracks_per_mix": 10, "refresh": True})
    check(d["mixes"], f"no mixes for {user}")
    deadline = time.monotonic() + 5
    while True:
        with ctx.data.connect() as db:
            rows = {r[0]: r[1:] for r in db.execute(
                "select recommendation_id, model, user_id, track_ids from impressions "
                "where model = 'mix' and user_id = ?", (user,))}
        if len(rows) >= len(d["mixes"]) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for m in d["mixes"]:
        check(m["mix_id"] in rows, f"no impression stored for mix {m['mix_id']}")
        eq(rows[m["mix_id"]], ("mix", user, " ".join(t["track_id"] for t in m["tracks"])),
           "the mix's impression (model, user, tracks in order)")
    m0 = ctx.srv.metrics()
    mix = d["mixes"][0]
    ctx.srv.feedback({"user_id": user, "track_id": mix["tracks"][0]["track_id"],
                      "action": "play", "recommendation_id": mix["mix_id"]})
    m1 = ctx.srv.metrics()
    eq(m1.value("tt_clicks_total", model="mix") - m0.value("tt_clicks_total", model="mix"), 1.0,
       "tt_clicks_total{model=mix} after a play from a mix")
