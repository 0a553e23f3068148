"""POST /radio/generate: every field and error, the cursor (continuing, tampering, surviving a
restart), 1,000 tracks without repeats or bunched artists, dislikes and skips steering the
next page."""
import json
import os
import time

from harness import Server, check, check_error, eq, short, test

TRACK_KEYS = {"track_id": str, "title": str, "artist": str, "genre": str, "score": float}
ANSWER_KEYS = {"station_id": str, "model": str, "fallback": bool, "tracks": list, "cursor": str, "recommendation_id": str}


def radio(ctx, body, status=200):
    r = ctx.srv.post("/radio/generate", body)
    check(r.status_code == status, f"POST /radio/generate {short(json.dumps(body), 160)} -> "
                                   f"{r.status_code}, expected {status}: {short(r.text)}")
    return r.json() if status == 200 else r


def check_answer(d, n, what="radio"):
    for k, t in ANSWER_KEYS.items():
        check(isinstance(d.get(k), t), f"{what}: field {k!r} must be {t.__name__}, got "
                                        f"{short(repr(d.get(k)), 80)}")
    check(d["station_id"].startswith("st-"), f"{what}: station_id {d['station_id']!r}")
    eq(len(d["tracks"]), n, f"{what}: number of tracks")
    for i, t in enumerate(d["tracks"]):
        for k, typ in TRACK_KEYS.items():
            ok = isinstance(t.get(k), typ) or (typ is float and isinstance(t.get(k), int))
            check(ok, f"{what}: track {i} field {k!r} must be {typ.__name__}, got {t.get(k)!r}")
    return [t["track_id"] for t in d["tracks"]]


def run(ctx, body, tracks, page):
    """Plays @tracks tracks from @body, @page at a time through the cursor."""
    played, d = [], radio(ctx, dict(body, limit=page))
    while True:
        played += d["tracks"]
        if len(played) >= tracks:
            return played, d
        d = radio(ctx, {"cursor": d["cursor"], "limit": page})


@test()
def radio_shape_and_defaults(ctx):
    seed = ctx.data.popular_tracks[0]
    d = radio(ctx, {"track_id": seed})
    check_answer(d, 25, "default limit")
    eq((d["model"], d["fallback"]), ("als", False), "free-tier station: model and fallback")
    d = radio(ctx, {"track_id": seed, "limit": 1, "model_tier": "starter"})
    check_answer(d, 1, "limit 1")
    eq(d["model"], "als+content", "starter-tier station model")
    d = radio(ctx, {"cursor": d["cursor"], "limit": 100})
    check_answer(d, 100, "limit 100 through the cursor")


@test()
def radio_seeds_artist_genre_and_several(ctx):
    seed = ctx.data.popular_tracks[3]
    artist = ctx.data.track_artist[seed][1]
    genre = ctx.data.genres_of(seed)[0]
    d = radio(ctx, {"artist": artist, "limit": 20})
    check_answer(d, 20, f"artist {artist!r} station")
    artist_id = ctx.data.track_artist[seed][0]
    check(artist_id != artist, "the test data gives artists ids distinct from their names")
    d = radio(ctx, {"artist": artist_id, "limit": 64})
    by_id = check_answer(d, 64, f"artist id {artist_id!r} station")
    # The artist's tracks seed the pool, so its first ring (64 tracks) holds one of them.
    check(any(ctx.data.track_artist[t][0] == artist_id for t in by_id),
          f"a station seeded by artist id {artist_id} does not play that artist early")
    d = radio(ctx, {"genre": genre, "limit": 20, "model_tier": "starter"})
    ids = check_answer(d, 20, f"genre {genre!r} station")
    first = ctx.data.genres_of(ids[0])
    check(genre in first, f"genre station opens outside its genre: {ids[0]} is {first}")
    d = radio(ctx, {"track_id": seed, "artist": artist, "genre": genre, "limit": 20})
    check_answer(d, 20, "a seed of track, artist and genre")


@test()
def radio_invalid_fields(ctx):
    seed = ctx.data.popular_tracks[0]
    cases = [({}, "track_id"), ({"limit": 10}, "track_id"),
             ({"track_id": seed, "limit": 0}, "limit"), ({"track_id": seed, "limit": 101}, "limit"),
             ({"track_id": seed, "limit": "ten"}, "limit"), ({"track_id": 42}, "track_id"),
             ({"track_id": ""}, "track_id"), ({"track_id": "x" * 300}, "track_id"),
             ({"artist": ["a"]}, "artist"), ({"genre": "g" * 200}, "genre"),
             ({"track_id": seed, "user_id": 7}, "user_id"),
             ({"track_id": seed, "model_tier": "gold"}, "model_tier"),
             ({"cursor": 12}, "cursor"), ({"cursor": "c" * 5000}, "cursor")]
    for body, field in cases:
        r = radio(ctx, body, 400)
        check_error(r, 400, "invalid_argument", field, f"radio {short(json.dumps(body), 80)}")
    d = radio(ctx, {"track_id": seed, "limit": 5, "user_id": "someone"})
    r = radio(ctx, {"cursor": d["cursor"], "track_id": seed}, 400)
    check_error(r, 400, "invalid_argument", "track_id", "cursor and a seed together")
    r = radio(ctx, {"cursor": d["cursor"], "user_id": "someone-else"}, 400)
    check_error(r, 400, "invalid_argument", "user_id", "cursor of another listener")
    check_answer(radio(ctx, {"cursor": d["cursor"], "user_id": "someone", "limit": 5}), 5,
                 "cursor with its own listener")


@test()
def radio_unknown_seeds_are_404(ctx):
    for field in ("track_id", "artist", "genre"):
        r = radio(ctx, {field: "no-such-thing-xyz", "limit": 10}, 404)
        check_error(r, 404, "not_found", field, f"unknown {field}")


@test()
def radio_altered_cursors_are_refused(ctx):
    d = radio(ctx, {"track_id": ctx.data.popular_tracks[1], "limit": 5})
    cur = d["cursor"]
    bad = set()
    for i in range(len(cur)):
        bad.add(cur[:i] + ("A" if cur[i] != "A" else "B") + cur[i + 1:])
    for n in (0, 1, len(cur) // 2, len(cur) - 4, len(cur) - 1):
        bad.add(cur[:n])
    bad |= {cur + "A", cur + "AAAA", cur[:-4] + "AAAA", "not a cursor", cur.upper()}
    bad.discard(cur)
    for b in bad:
        r = ctx.srv.post("/radio/generate", {"cursor": b, "limit": 5})
        check_error(r, 400, "invalid_argument", "cursor", f"altered cursor {short(b, 40)}")
    check_answer(radio(ctx, {"cursor": cur, "limit": 5}), 5, "the untouched cursor")


@test()
def radio_thousand_tracks_through_the_cursor(ctx):
    played, d = run(ctx, {"track_id": ctx.data.popular_tracks[0]}, 1000, 25)
    ids = [t["track_id"] for t in played]
    eq(len(set(ids)), len(ids), "distinct tracks among 1,000 (repeats: "
                                f"{len(ids) - len(set(ids))})")
    arts = [t["artist"] for t in played]
    bunched = [i for i, a in enumerate(arts) if a in arts[max(0, i - 10):i]]
    check(not bunched, f"artist back within 10 tracks at positions {bunched[:5]}")
    check(len(d["cursor"]) < 1024, f"cursor grew to {len(d['cursor'])} bytes")


@test()
def radio_same_cursor_same_page(ctx):
    d = radio(ctx, {"track_id": ctx.data.popular_tracks[2], "limit": 10})
    a = radio(ctx, {"cursor": d["cursor"], "limit": 10})
    b = radio(ctx, {"cursor": d["cursor"], "limit": 10})
    eq([t["track_id"] for t in b["tracks"]], [t["track_id"] for t in a["tracks"]],
       "two requests with one cursor")
    eq(a["station_id"], d["station_id"], "station_id through the cursor")


@test()
def radio_dislikes_and_skips_steer_the_next_page(ctx):
    user = ctx.data.take_user()
    d = radio(ctx, {"track_id": ctx.data.popular_tracks[4], "user_id": user, "limit": 10})
    before = radio(ctx, {"cursor": d["cursor"], "limit": 25})["tracks"]
    disliked, skipped = before[0], before[5]
    ctx.srv.feedback({"user_id": user, "track_id": disliked["track_id"], "action": "dislike"})
    fb = ctx.srv.feedback({"user_id": user, "track_id": skipped["track_id"], "action": "skip",
                           "context": "radio", "station_id": d["station_id"]})
    eq(fb["status"], "stored", "feedback status")
    rows = ctx.data.interactions(user, skipped["track_id"])
    check(any(r[3] == "radio:" + d["station_id"] for r in rows),
          f"the skip was not stored with context radio:<station_id>: {rows}")
    played, _ = run(ctx, {"cursor": d["cursor"]}, 100, 25)
    ids = [t["track_id"] for t in played]
    check(disliked["track_id"] not in ids, "a disliked track played on the listener's station")
    same = [t["track_id"] for t in played if t["artist"] == skipped["artist"]]
    check(not same, f"the skipped track's artist {skipped['artist']!r} came back: {same}")


@test()
def radio_feedback_station_id_is_checked(ctx):
    user, track = ctx.data.take_user(), ctx.data.popular_tracks[0]
    r = ctx.srv.post("/feedback", {"user_id": user, "track_id": track, "action": "skip",
                                   "context": "home", "station_id": "st-1"})
    check_error(r, 400, "invalid_argument", "station_id", "station_id with another context")
    r = ctx.srv.post("/feedback", {"user_id": user, "track_id": track, "action": "skip",
                                   "station_id": "s" * 129})
    check_error(r, 400, "invalid_argument", "station_id", "station_id of 129 bytes")


@test(server="restart")
def radio_cursor_survives_restart(ctx):
    """The key is kept under MODEL_DIR: a station goes on after the engine restarts (or on
    another replica sharing MODEL_DIR), with exactly the page it would have played."""
    d = radio(ctx, {"track_id": ctx.data.popular_tracks[6], "limit": 10})
    want = [t["track_id"] for t in radio(ctx, {"cursor": d["cursor"], "limit": 10})["tracks"]]
    ctx.srv.stop()
    ctx.srv.start()
    got = [t["track_id"] for t in radio(ctx, {"cursor": d["cursor"], "limit": 10})["tracks"]]
    eq(got, want, "the page after a restart")


@test()
def radio_seed_without_neighbours_falls_back_to_its_genre(ctx):
    """A track nobody played has no collaborative neighbours, and the free tier reads no
    content: the station plays its genre's most popular tracks and says so."""
    with ctx.data.connect() as db:
        row = db.execute("select t.track_id from tracks t where not exists (select 1 from "
                         "interactions i where i.track_id = t.track_id) and t.genres != '' "
                         "order by t.track_id limit 1").fetchone()
    check(row is not None, "the test data has no track without plays")
    seed = row[0]
    genres = set(ctx.data.genres_of(seed))
    d = radio(ctx, {"track_id": seed, "limit": 20, "model_tier": "free"})
    ids = check_answer(d, 20, "fallback station")
    eq((d["fallback"], d["model"]), (True, "genre"), "fallback and model")
    outside = [t for t in ids if not genres & set(ctx.data.genres_of(t))]
    check(not outside, f"fallback tracks outside the seed's genres {sorted(genres)}: {outside[:5]}")
    d = radio(ctx, {"cursor": d["cursor"], "limit": 20})
    eq(d["fallback"], True, "fallback through the cursor")


@test()
def radio_skips_reach_another_replica(ctx):
    """Two engines share the database and MODEL_DIR: a station started on one continues on
    the other, and a skip sent to the first steers the next page the second serves."""
    other = Server(ctx.tt, "replica", ctx.srv.db_path, ctx.srv.model_dir,
                   os.path.dirname(ctx.srv.log_path))
    other.start()
    try:
        user = ctx.data.take_user()
        d = radio(ctx, {"track_id": ctx.data.popular_tracks[7], "user_id": user, "limit": 10})
        r = other.post("/radio/generate", {"cursor": d["cursor"], "limit": 25})
        eq(r.status_code, 200, f"the other replica continuing the station: {short(r.text)}")
        skipped = r.json()["tracks"][2]
        ctx.srv.feedback({"user_id": user, "track_id": skipped["track_id"], "action": "skip",
                          "station_id": d["station_id"]})
        deadline, same = time.monotonic() + 5, None
        while time.monotonic() < deadline:
            page = other.post("/radio/generate", {"cursor": d["cursor"], "limit": 25}).json()
            same = [t["track_id"] for t in page["tracks"] if t["artist"] == skipped["artist"]]
            if not same:
                break
            time.sleep(0.2)
        check(not same, f"5 s after a skip sent to one replica, the other still plays its "
                        f"artist {skipped['artist']!r}: {same}")
    finally:
        other.stop()
        other.kill()


def impression_of(ctx, rec_id, wait=5.0):
    """The stored impression (model, user_id, track ids) of @rec_id: written asynchronously."""
    deadline = time.monotonic() + wait
    while True:
        with ctx.data.connect() as db:
            row = db.execute("select model, user_id, track_ids from impressions where "
                             "recommendation_id = ?", (rec_id,)).fetchone()
        if row or time.monotonic() > deadline:
            return row
        time.sleep(0.05)


@test()
def radio_pages_are_impressions_and_plays_count_as_clicks(ctx):
    user = ctx.data.take_user()
    d = radio(ctx, {"track_id": ctx.data.popular_tracks[1], "user_id": user, "limit": 10})
    n = radio(ctx, {"cursor": d["cursor"], "limit": 5})
    check(d["recommendation_id"].startswith("radio-"), f"recommendation_id {d['recommendation_id']}")
    check(n["recommendation_id"] != d["recommendation_id"], "each page has its own id")
    for page in (d, n):
        row = impression_of(ctx, page["recommendation_id"])
        check(row is not None, f"no impression stored for {page['recommendation_id']}")
        eq(row, ("radio", user, " ".join(t["track_id"] for t in page["tracks"])),
           "the page's impression (model, user, tracks in order)")
    m0 = ctx.srv.metrics()
    ctx.srv.feedback({"user_id": user, "track_id": n["tracks"][0]["track_id"], "action": "play",
                      "recommendation_id": n["recommendation_id"]})
    m1 = ctx.srv.metrics()
    eq(m1.value("tt_clicks_total", model="radio") - m0.value("tt_clicks_total", model="radio"),
       1.0, "tt_clicks_total{model=radio} after a play of a radio page")
    check(m1.value("tt_recommendations_total", model="radio") >= 2,
          "tt_recommendations_total{model=radio} counts the pages")
