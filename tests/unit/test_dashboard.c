/*
 * The dashboard's series (src/http/dashboard.c): latency percentiles from the histogram of
 * /metrics, worked by hand, and per-minute differences of the counters the requests feed.
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "../../src/http/app.h"
#include "tt/core.h"

/* Bucket upper bounds (ms): 0.1 0.25 0.5 1 2.5 5 10 25 50 100 250 1000, then +Inf. */
enum { B_0_1, B_0_25, B_0_5, B_1, B_2_5, B_5, B_10, B_25, B_50, B_100, B_250, B_1000, B_INF };

Test(dashboard, quantiles_interpolate_geometrically_inside_their_bucket)
{
    uint64_t c[TT_LATENCY_BUCKETS] = {0};

    c[B_0_5] = 50; /* (0.25, 0.5] ms */
    c[B_1] = 45;   /* (0.5, 1] */
    c[B_5] = 5;    /* (2.5, 5] */
    /* Rank 50 is the last of the first 50: the bucket's upper bound. */
    cr_assert_float_eq(tt__dash_quantile_ms(c, 0.50), 0.5, 1e-9);
    cr_assert_float_eq(tt__dash_quantile_ms(c, 0.95), 1.0, 1e-9);
    /* Rank 99: the 4th of 5 in (2.5, 5]: 2.5 * 2^(4/5). */
    cr_assert_float_eq(tt__dash_quantile_ms(c, 0.99), 2.5 * pow(2.0, 0.8), 1e-9);
    /* Rank 25: halfway through (0.25, 0.5] on a log scale: their geometric mean. */
    cr_assert_float_eq(tt__dash_quantile_ms(c, 0.25), sqrt(0.25 * 0.5), 1e-9);
}

Test(dashboard, quantiles_at_the_ends_of_the_scale)
{
    uint64_t c[TT_LATENCY_BUCKETS] = {0};

    cr_assert(isnan(tt__dash_quantile_ms(c, 0.5)), "no request: no percentile");
    c[B_0_1] = 10; /* [0, 0.1] ms: linear from 0 */
    cr_assert_float_eq(tt__dash_quantile_ms(c, 0.5), 0.05, 1e-9);
    memset(c, 0, sizeof(c));
    c[B_INF] = 3; /* beyond 1 s: the last bound is all that is known */
    cr_assert_float_eq(tt__dash_quantile_ms(c, 0.99), 1000.0, 1e-9);
}

static uint64_t sum(json_t *arr)
{
    uint64_t n = 0;
    size_t i;
    json_t *v;

    cr_assert(json_is_array(arr));
    json_array_foreach(arr, i, v)
        n += (uint64_t)json_integer_value(v);
    return n;
}

static json_t *at(json_t *j, const char *a, const char *b, const char *c)
{
    json_t *v = json_object_get(json_object_get(json_object_get(j, a), b), c);

    cr_assert_not_null(v, "no %s.%s.%s", a, b, c);
    return v;
}

Test(dashboard, series_count_what_happened_since_the_start)
{
    tt_metrics *m = tt__metrics_new();
    tt_dash *d = NULL;
    tt_err err = {0};
    json_t *s, *minutes;

    /* Counted before the dashboard starts: not in its series. */
    tt__metrics_request(m, TT_EP_HEALTH, 200, 0.001);
    cr_assert_eq(tt__dash_start(m, NULL, &d, &err), 0, "%s", err.message);
    for (int i = 0; i < 40; i++)
        tt__metrics_request(m, TT_EP_RECOMMEND_USER, i < 38 ? 200 : 503, 0.0004);
    tt__metrics_feedback(m, TT_ACT_LIKE);
    tt__metrics_feedback(m, TT_ACT_CLICK);
    for (int i = 0; i < 8; i++)
        tt__metrics_recommendation(m, "als");
    tt__metrics_click(m, "als");

    s = tt__dash_series(d);
    minutes = json_object_get(s, "minutes");
    /* One minute, or two when the test ran across the turn of a minute. */
    cr_assert(json_array_size(minutes) >= 1 && json_array_size(minutes) <= 2);
    cr_assert_eq(json_array_size(json_object_get(s, "seconds")), json_array_size(minutes));
    cr_assert_eq(sum(at(s, "endpoints", "recommend_user", "requests")), 40);
    cr_assert_eq(sum(at(s, "endpoints", "recommend_user", "errors")), 2);
    cr_assert_null(json_object_get(json_object_get(s, "endpoints"), "health"),
                   "a request before the start was counted");
    cr_assert_eq(sum(at(s, "feedback", "by_action", "like")), 1);
    cr_assert_eq(sum(json_object_get(json_object_get(s, "feedback"), "total")), 2);
    cr_assert_eq(sum(at(s, "ctr", "als", "impressions")), 8);
    cr_assert_eq(sum(at(s, "ctr", "als", "clicks")), 1);
    {
        json_t *p50 = at(s, "endpoints", "recommend_user", "p50_ms"), *v;
        size_t i;
        json_array_foreach(p50, i, v)
            cr_assert(json_is_null(v) || (json_real_value(v) > 0.25 && json_real_value(v) <= 0.5),
                      "p50 %g ms of requests of 0.4 ms", json_real_value(v));
    }
    json_decref(s);
    tt__dash_stop(d);
    tt__metrics_free(m);
}
