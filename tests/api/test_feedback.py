"""POST /feedback: stored before the answer, freshness of the next list, genre shift, CTR."""
import time
import uuid
from collections import Counter

from harness import check, eq, short, test

ACTIONS = ("play", "like", "skip", "dislike", "save", "share", "click", "impression")


def check_feedback_answer(d, body):
    eq(d.get("status"), "stored", "feedback status")
    for k in ("user_id", "track_id", "action"):
        eq(d.get(k), body[k], f"feedback answer {k}")
    check(isinstance(d.get("refreshed"), bool), f"feedback refreshed must be a bool, got "
                                                 f"{d.get('refreshed')!r}")


@test()
def feedback_stored_before_answer(ctx):
    user = ctx.data.take_user()
    rec = ctx.srv.recommend({"user_id": user, "limit": 5})
    track = rec["items"][2]["track_id"]
    body = {"user_id": user, "track_id": track, "action": "play", "ms_played": 12345,
            "context": "api-test-context", "recommendation_id": rec["recommendation_id"]}
    check_feedback_answer(ctx.srv.feedback(body), body)
    rows = ctx.data.interactions(user, track)
    check(rows, f"no interactions row for ({user}, {track}) when the answer arrived")
    action, ms, at, context, rec_id = rows[-1]
    eq(action, "play", "stored action")
    eq(ms, 12345, "stored ms_played")
    eq(context, "api-test-context", "stored context")
    eq(rec_id, rec["recommendation_id"], "stored recommendation_id")
    check(abs(at - time.time()) < 120, f"default timestamp {at} is not now ({time.time():.0f})")


@test()
def feedback_every_action(ctx):
    user = "api-test-actions-" + uuid.uuid4().hex[:8]
    for i, action in enumerate(ACTIONS):
        track = ctx.data.popular_tracks[100 + i]
        body = {"user_id": user, "track_id": track, "action": action}
        check_feedback_answer(ctx.srv.feedback(body), body)
        rows = ctx.data.interactions(user, track)
        eq([r[0] for r in rows], [action], f"stored actions for {action}")


@test()
def feedback_timestamps(ctx):
    user = "api-test-ts-" + uuid.uuid4().hex[:8]
    cases = [("2026-01-02T03:04:05Z", 1767323045), (1767323100, 1767323100),
             ("2025-06-30T23:59:59Z", 1751327999)]
    for i, (ts, want) in enumerate(cases):
        track = ctx.data.popular_tracks[200 + i]
        body = {"user_id": user, "track_id": track, "action": "play", "timestamp": ts}
        check_feedback_answer(ctx.srv.feedback(body), body)
        rows = ctx.data.interactions(user, track)
        check(rows, f"timestamp {ts!r}: not stored")
        eq(rows[-1][2], want, f"occurred_at stored for timestamp {ts!r}")


@test()
def feedback_unknown_user_and_track_stored(ctx):
    user = "api-test-new-user-" + uuid.uuid4().hex[:8]
    track = "api-test-new-track-" + uuid.uuid4().hex[:8]
    for u, t in ((user, track), (ctx.data.take_user(), track), (user, ctx.data.popular_tracks[0])):
        body = {"user_id": u, "track_id": t, "action": "like"}
        check_feedback_answer(ctx.srv.feedback(body), body)
        check(ctx.data.interactions(u, t), f"feedback for ({u}, {t}) not stored")


@test(tags=("cache",))
def feedback_like_removes_and_invalidates(ctx):
    user = ctx.data.take_user()
    body = {"user_id": user, "limit": 20, "model_tier": "free"}
    a = ctx.srv.recommend(body)
    b = ctx.srv.recommend(body)
    eq(b["cached"], True, "second identical request before the feedback is cached")
    liked = a["items"][0]["track_id"]
    fb = {"user_id": user, "track_id": liked, "action": "like",
          "recommendation_id": a["recommendation_id"]}
    check_feedback_answer(ctx.srv.feedback(fb), fb)
    c = ctx.srv.recommend(body)
    eq(c["cached"], False, "answer right after a like is not served from cache")
    check(liked not in [it["track_id"] for it in c["items"]],
          f"liked track {liked} still recommended right after the like")
    check(c["recommendation_id"] != a["recommendation_id"],
          "a recomputed answer must carry a new recommendation_id")
    eq(len(c["items"]), 20, "number of items after the like")


@test()
def feedback_dislike_removes_for_good(ctx):
    user = ctx.data.take_user()
    body = {"user_id": user, "limit": 30}
    a = ctx.srv.recommend(body)
    gone = [a["items"][0]["track_id"], a["items"][3]["track_id"]]
    for t in gone:
        ctx.srv.feedback({"user_id": user, "track_id": t, "action": "dislike"})

    def absent(what):
        for req in (body, {"user_id": user, "limit": 200}, {"user_id": user, "limit": 50,
                                                            "model": "popularity"}):
            got = [it["track_id"] for it in ctx.srv.recommend(req)["items"]]
            back = [t for t in gone if t in got]
            check(not back, f"{what}: disliked tracks {back} came back for {req}")

    absent("right after the dislike")
    # More feedback for the user (likes of other tracks) must not bring them back.
    for it in a["items"][5:8]:
        ctx.srv.feedback({"user_id": user, "track_id": it["track_id"], "action": "like"})
    absent("after later likes")
    r = ctx.srv.post("/models/reload", None)
    eq(r.status_code, 200, f"reload: {short(r.text)}")
    absent("after a model reload")


def genre_share(ctx, items, genre):
    return sum(1 for it in items if genre in ctx.data.genres_of(it["track_id"])) / max(len(items), 1)


@test()
def feedback_likes_shift_genre(ctx):
    user = ctx.data.take_user()
    before = ctx.srv.recommend({"user_id": user, "limit": 50})["items"]
    heard = ctx.data.heard(user)
    listed = {it["track_id"] for it in before}
    # A genre the list has few of (at most 2 of 50): the largest such genre, so that its
    # popular tracks are strong, well-known signals.
    sizes = Counter(g for gs in ctx.data.track_genres.values() for g in gs)
    candidates = sorted((g for g, n in sizes.items()
                         if n >= 60 and genre_share(ctx, before, g) <= 2 / 50),
                        key=lambda g: (-sizes[g], g))
    check(candidates, "no genre with 60+ tracks and at most 2 of this user's top 50")
    genre = candidates[0]
    picks = [t for t in ctx.data.popular_tracks
             if genre in ctx.data.genres_of(t) and t not in heard and t not in listed][:5]
    eq(len(picks), 5, f"popular unheard {genre} tracks to like")
    share0 = genre_share(ctx, before, genre)
    for t in picks:
        ctx.srv.feedback({"user_id": user, "track_id": t, "action": "like"})
    after = ctx.srv.recommend({"user_id": user, "limit": 50})
    share1 = genre_share(ctx, after["items"], genre)
    liked_back = [t for t in picks if t in {it["track_id"] for it in after["items"]}]
    check(not liked_back, f"liked tracks still listed: {liked_back}")
    check(share1 > share0, f"{genre} share of {user}'s top 50 went {share0:.2f} -> {share1:.2f} "
                           f"after liking 5 popular {genre} tracks; expected a rise")


def clicks(ctx, model):
    m = ctx.srv.metrics()
    info = {x["name"]: x for x in ctx.srv.models_info()["models"] if x.get("tier") == "free"}
    ctr = info.get(model, {}).get("ctr", {})
    return m.value("tt_clicks_total", model=model), ctr.get("clicks", 0)


@test()
def feedback_ctr_attribution(ctx):
    user = ctx.data.take_user()
    rec = ctx.srv.recommend({"user_id": user, "limit": 10})
    main = ctx.srv.free_model()
    eq(rec["model"], main, "model of the answer")
    m0, i0 = clicks(ctx, main)
    for k, action in enumerate(("click", "play")):
        ctx.srv.feedback({"user_id": user, "track_id": rec["items"][k]["track_id"],
                          "action": action, "recommendation_id": rec["recommendation_id"]})
        m1, i1 = clicks(ctx, main)
        eq(m1 - m0, k + 1.0, f"tt_clicks_total{{model=\"{main}\"}} after {action} with its "
                             f"recommendation_id")
        eq(i1 - i0, k + 1, f"/models/info {main} ctr.clicks after {action}")
    # The fallback's answers are produced by another model and count for it.
    other = ctx.srv.recommend({"user_id": "api-test-ctr-" + uuid.uuid4().hex[:8], "limit": 5})
    g0, gi0 = clicks(ctx, other["model"])
    ctx.srv.feedback({"user_id": other["user_id"], "track_id": other["items"][0]["track_id"],
                      "action": "click", "recommendation_id": other["recommendation_id"]})
    g1, gi1 = clicks(ctx, other["model"])
    eq(g1 - g0, 1.0, f"tt_clicks_total{{model=\"{other['model']}\"}} after a click")
    eq(gi1 - gi0, 1, f"/models/info {other['model']} ctr.clicks after a click")
    m2, _ = clicks(ctx, main)
    eq(m2 - m0, 2.0, f"{main} clicks unchanged by the other model's click")


@test(inferred=True)
def feedback_ctr_only_clicks_and_plays(ctx):
    """Skips, impressions and dislikes carrying a recommendation_id are not clicks."""
    user = ctx.data.take_user()
    rec = ctx.srv.recommend({"user_id": user, "limit": 10})
    m0, i0 = clicks(ctx, rec["model"])
    for k, action in enumerate(("skip", "impression", "dislike")):
        ctx.srv.feedback({"user_id": user, "track_id": rec["items"][k]["track_id"],
                          "action": action, "recommendation_id": rec["recommendation_id"]})
    m1, i1 = clicks(ctx, rec["model"])
    eq((m1 - m0, i1 - i0), (0.0, 0), "clicks after skip, impression and dislike")
    ctr = {x["name"]: x["ctr"] for x in ctx.srv.models_info()["models"]}[rec["model"]]
    check(ctr["impressions"] >= 1, f"ctr.impressions {ctr['impressions']} after served answers")
    check(0 <= ctr["ctr"] <= 1, f"ctr.ctr {ctr['ctr']} outside 0..1")


@test(server="restart")
def feedback_survives_restart(ctx):
    """Heard and disliked tracks stay out after the service restarts (deploy, crash) with the
    same models: the feedback is in the database, and "never" and "for good" do not end
    with the process."""
    user = ctx.data.take_user()
    a = ctx.srv.recommend({"user_id": user, "limit": 20})
    disliked, liked = a["items"][0]["track_id"], a["items"][1]["track_id"]
    ctx.srv.feedback({"user_id": user, "track_id": disliked, "action": "dislike"})
    ctx.srv.feedback({"user_id": user, "track_id": liked, "action": "like"})
    got = [it["track_id"] for it in ctx.srv.recommend({"user_id": user, "limit": 20})["items"]]
    check(disliked not in got and liked not in got, "feedback not applied before the restart")
    ctx.srv.stop()
    ctx.srv.start()
    got = [it["track_id"] for it in ctx.srv.recommend({"user_id": user, "limit": 20})["items"]]
    back = [t for t in (disliked, liked) if t in got]
    check(not back, f"after a restart, {user} is recommended again tracks they gave feedback on "
                    f"before it (disliked {disliked}, liked {liked}): {back}")
