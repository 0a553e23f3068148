/*
 * Ranking metrics against hand-computed values (docs/evaluation.md has the formulas),
 * tt_eval_model's averaging over users with small fake models whose lists are known, and the
 * whole protocol (split, train, rank, score) with real models on listeners with clear tastes.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "support/fixtures.h"
#include "tt/core.h"
#include "tt/eval.h"
#include "tt/models.h"

#define EPS 1e-12
#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static double lg(double x)
{
    return log(x) / log(2.0);
}

/* ---- playlist label agreement ------------------------------------------------------------- */

/* Genres [rock, rock, jazz, none]: of 6 pairs, only (0, 1) agrees; none never agrees. */
Test(metrics, label_within_counts_agreeing_pairs)
{
    const int32_t a[] = {1, 1, 2, -1}, same[] = {3, 3, 3}, none[] = {-1, -1};

    cr_assert_float_eq(tt_metric_label_within(a, N(a)), 1.0 / 6.0, EPS);
    cr_assert_float_eq(tt_metric_label_within(same, N(same)), 1.0, EPS);
    cr_assert_float_eq(tt_metric_label_within(none, N(none)), 0.0, EPS);
    cr_assert_float_eq(tt_metric_label_within(a, 1), 0.0, EPS);
}

/* [rock, jazz] x [rock, rock, pop]: 2 of 6 cross pairs agree. */
Test(metrics, label_between_counts_agreeing_cross_pairs)
{
    const int32_t a[] = {1, 2}, b[] = {1, 1, 3}, c[] = {-1};

    cr_assert_float_eq(tt_metric_label_between(a, N(a), b, N(b)), 2.0 / 6.0, EPS);
    cr_assert_float_eq(tt_metric_label_between(c, N(c), c, N(c)), 0.0, EPS);
    cr_assert_float_eq(tt_metric_label_between(a, N(a), b, 0), 0.0, EPS);
}

/* Artists [A, B, A, C, none]: 3 distinct of 5. */
Test(metrics, label_distinct_share)
{
    const int32_t a[] = {7, 8, 7, 9, -1};

    cr_assert_float_eq(tt_metric_label_distinct(a, N(a)), 3.0 / 5.0, EPS);
    cr_assert_float_eq(tt_metric_label_distinct(a, 1), 1.0, EPS);
    cr_assert_float_eq(tt_metric_label_distinct(a, 0), 0.0, EPS);
}

/* ---- single lists ------------------------------------------------------------------------ */

/* Relevant {a, b, c}, list [x, a, y, b], K = 4. */
Test(metrics, two_hits_of_three)
{
    enum { A = 1, B = 2, C = 3, X = 10, Y = 11 };
    const int32_t rel[] = {A, B, C}, list[] = {X, A, Y, B};
    double dcg = 1.0 / lg(3.0) + 1.0 / lg(5.0);
    double idcg = 1.0 + 1.0 / lg(3.0) + 1.0 / lg(4.0);

    cr_assert_eq(tt_metric_hits(list, 4, 4, rel, 3), 2);
    cr_assert_float_eq(tt_metric_recall(list, 4, 4, rel, 3), 2.0 / 3.0, EPS);
    cr_assert_float_eq(tt_metric_ndcg(list, 4, 4, rel, 3), dcg / idcg, EPS);
    cr_assert_float_eq(tt_metric_mrr(list, 4, 4, rel, 3), 0.5, EPS);
    cr_assert_float_eq(tt_metric_precision(list, 4, 4, rel, 3), 2.0 / 4.0, EPS);
}

/* More relevant tracks than K: recall and the ideal DCG use min(K, |relevant|) = K. */
Test(metrics, more_relevant_than_k)
{
    const int32_t rel[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, list[] = {1, 20, 2};
    double dcg = 1.0 + 1.0 / lg(4.0);
    double idcg = 1.0 + 1.0 / lg(3.0) + 1.0 / lg(4.0);

    cr_assert_float_eq(tt_metric_recall(list, 3, 3, rel, 10), 2.0 / 3.0, EPS);
    cr_assert_float_eq(tt_metric_ndcg(list, 3, 3, rel, 10), dcg / idcg, EPS);
    cr_assert_float_eq(tt_metric_mrr(list, 3, 3, rel, 10), 1.0, EPS);
    cr_assert_float_eq(tt_metric_precision(list, 3, 3, rel, 10), 2.0 / 3.0, EPS);
}

Test(metrics, all_hits_with_more_relevant_than_k_is_perfect)
{
    const int32_t rel[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, list[] = {7, 5, 6};

    cr_assert_float_eq(tt_metric_recall(list, 3, 3, rel, 10), 1.0, EPS);
    cr_assert_float_eq(tt_metric_ndcg(list, 3, 3, rel, 10), 1.0, EPS);
    cr_assert_float_eq(tt_metric_precision(list, 3, 3, rel, 10), 1.0, EPS);
}

/* One relevant track found at rank 1 of K = 20: every metric but precision is 1. */
Test(metrics, single_relevant_at_top)
{
    const int32_t rel[] = {42}, list[] = {42, 1, 2, 3};

    cr_assert_float_eq(tt_metric_recall(list, 4, 20, rel, 1), 1.0, EPS);
    cr_assert_float_eq(tt_metric_ndcg(list, 4, 20, rel, 1), 1.0, EPS);
    cr_assert_float_eq(tt_metric_mrr(list, 4, 20, rel, 1), 1.0, EPS);
    cr_assert_float_eq(tt_metric_precision(list, 4, 20, rel, 1), 1.0 / 20.0, EPS);
}

Test(metrics, no_hits_is_zero)
{
    const int32_t rel[] = {1, 2}, list[] = {5, 6, 7};

    cr_assert_eq(tt_metric_hits(list, 3, 3, rel, 2), 0);
    cr_assert_float_eq(tt_metric_recall(list, 3, 3, rel, 2), 0.0, EPS);
    cr_assert_float_eq(tt_metric_ndcg(list, 3, 3, rel, 2), 0.0, EPS);
    cr_assert_float_eq(tt_metric_mrr(list, 3, 3, rel, 2), 0.0, EPS);
    cr_assert_float_eq(tt_metric_precision(list, 3, 3, rel, 2), 0.0, EPS);
}

Test(metrics, empty_list_and_empty_relevant_are_zero)
{
    const int32_t rel[] = {1, 2}, list[] = {1, 2};

    cr_assert_float_eq(tt_metric_recall(list, 0, 5, rel, 2), 0.0, EPS);
    cr_assert_float_eq(tt_metric_ndcg(list, 0, 5, rel, 2), 0.0, EPS);
    cr_assert_float_eq(tt_metric_mrr(list, 0, 5, rel, 2), 0.0, EPS);
    cr_assert_float_eq(tt_metric_precision(list, 0, 5, rel, 2), 0.0, EPS);
    cr_assert_float_eq(tt_metric_recall(NULL, 0, 5, rel, 2), 0.0, EPS);
    cr_assert_float_eq(tt_metric_recall(list, 2, 5, rel, 0), 0.0, EPS);
    cr_assert_float_eq(tt_metric_ndcg(list, 2, 5, rel, 0), 0.0, EPS);
    cr_assert_float_eq(tt_metric_mrr(list, 2, 5, rel, 0), 0.0, EPS);
    cr_assert_float_eq(tt_metric_precision(list, 2, 5, rel, 0), 0.0, EPS);
    cr_assert_float_eq(tt_metric_ndcg(list, 2, 0, rel, 2), 0.0, EPS);
}

/* Entries past K do not count. */
Test(metrics, only_the_first_k_count)
{
    const int32_t rel[] = {5}, list[] = {1, 2, 5};

    cr_assert_float_eq(tt_metric_recall(list, 3, 2, rel, 1), 0.0, EPS);
    cr_assert_float_eq(tt_metric_mrr(list, 3, 2, rel, 1), 0.0, EPS);
    cr_assert_float_eq(tt_metric_recall(list, 3, 3, rel, 1), 1.0, EPS);
    cr_assert_float_eq(tt_metric_ndcg(list, 3, 3, rel, 1), 1.0 / lg(4.0), EPS);
    cr_assert_float_eq(tt_metric_mrr(list, 3, 3, rel, 1), 1.0 / 3.0, EPS);
    cr_assert_float_eq(tt_metric_precision(list, 3, 3, rel, 1), 1.0 / 3.0, EPS);
}

/* A short list (the catalog ran out) still divides precision by K; -1 slots are empty. */
Test(metrics, short_and_padded_lists)
{
    const int32_t rel[] = {3}, list[] = {-1, 3, -1};

    cr_assert_float_eq(tt_metric_precision(list, 3, 10, rel, 1), 1.0 / 10.0, EPS);
    cr_assert_float_eq(tt_metric_mrr(list, 3, 10, rel, 1), 0.5, EPS);
    cr_assert_float_eq(tt_metric_ndcg(list, 3, 10, rel, 1), 1.0 / lg(3.0), EPS);
}

Test(metrics, a_repeated_track_counts_once)
{
    const int32_t rel[] = {3, 4}, list[] = {3, 3};
    double idcg = 1.0 + 1.0 / lg(3.0);

    cr_assert_eq(tt_metric_hits(list, 2, 2, rel, 2), 1);
    cr_assert_float_eq(tt_metric_recall(list, 2, 2, rel, 2), 0.5, EPS);
    cr_assert_float_eq(tt_metric_ndcg(list, 2, 2, rel, 2), 1.0 / idcg, EPS);
}

Test(metrics, coverage_counts_distinct_tracks_of_the_catalog)
{
    const int32_t lists[] = {0, 1, -1, 1, 2, 9};

    cr_assert_float_eq(tt_metric_coverage(lists, 2, 3, 5), 3.0 / 5.0, EPS);
    cr_assert_float_eq(tt_metric_coverage(lists, 1, 3, 5), 2.0 / 5.0, EPS);
    cr_assert_float_eq(tt_metric_coverage(lists, 2, 3, 0), 0.0, EPS);
    cr_assert_float_eq(tt_metric_coverage(lists, 0, 3, 5), 0.0, EPS);
}

/* ---- tt_eval_model over fake models -------------------------------------------------------- */

/* Recommends tracks 0, 1, 2, ... in order, skipping the query's exclusions. */
static int fake_recommend(const tt_model *m, const tt_query *q, int k, tt_scored *out, int *n_out,
                          tt_err *err)
{
    int n = 0;

    (void)err;
    for (int32_t t = 0; t < m->n_tracks && n < k; t++)
        if (!tt_sorted_contains(q->exclude, q->n_exclude, t))
            out[n++] = (tt_scored){t, (float)(m->n_tracks - t)};
    *n_out = n;
    return 0;
}

/* Fails for user 1, to check errors come back from worker threads. */
static int failing_recommend(const tt_model *m, const tt_query *q, int k, tt_scored *out,
                             int *n_out, tt_err *err)
{
    if (q->user == 1)
        return tt_err_set(err, TT_EINTERNAL, "cannot rank user %d", q->user);
    return fake_recommend(m, q, k, out, n_out, err);
}

/* Ranks every user's list as track 4, 3, 2, ... with no exclusions. */
static int reverse_batch(const tt_model *m, const int32_t *users, int32_t n, const tt_csr *ex,
                         int k, tt_scored *out, tt_err *err)
{
    (void)ex;
    (void)err;
    for (int32_t i = 0; i < n; i++)
        for (int j = 0; j < k; j++) {
            int32_t t = m->n_tracks - 1 - j;
            out[(size_t)i * k + j] = (tt_scored){t >= 0 ? t : -1, 0.0f};
        }
    (void)users;
    return 0;
}

static void fake_free(tt_model *m)
{
    (void)m;
}

static const struct tt_model_ops fake_ops = {
    .kind = "fake", .recommend = fake_recommend, .free = fake_free};
static const struct tt_model_ops failing_ops = {
    .kind = "failing", .recommend = failing_recommend, .free = fake_free};
static const struct tt_model_ops batch_ops = {
    .kind = "batch", .recommend = fake_recommend, .recommend_batch = reverse_batch,
    .free = fake_free};

/*
 * Three users over five tracks. User 0: relevant {1}; user 1: nobody evaluated;
 * user 2: relevant {3, 4}. User 0 has heard track 0, so the fake ranks 1, 2, 3 for them.
 */
static void make_split(tt_split *s)
{
    const int32_t ru[] = {0, 2, 2}, rt[] = {1, 3, 4};

    memset(s, 0, sizeof(*s));
    tt_csr_from_coo(3, 5, 3, ru, rt, NULL, &s->relevant);
    s->users = tt_malloc(2 * sizeof(int32_t));
    s->users[0] = 0;
    s->users[1] = 2;
    s->n_users = 2;
}

static void make_seen(tt_csr *seen)
{
    const int32_t su[] = {0}, st[] = {0};

    tt_csr_from_coo(3, 5, 1, su, st, NULL, seen);
}

Test(eval_model, averages_over_users_with_exclusions)
{
    tt_model m = {.ops = &fake_ops, .name = "fake", .n_users = 3, .n_tracks = 5};
    tt_split s;
    tt_csr seen;
    tt_eval_scores sc;
    tt_err err = {0};
    /* User 0 gets [1, 2, 3]: hit at rank 1. User 2 gets [0, 1, 2]: no hit. */

    make_split(&s);
    make_seen(&seen);
    cr_assert_eq(tt_eval_model(&m, &s, &seen, 3, 2, &sc, &err), 0, "%s", err.message);
    cr_assert_eq(sc.users, 2);
    cr_assert_float_eq(sc.recall, (1.0 + 0.0) / 2.0, EPS);
    cr_assert_float_eq(sc.ndcg, (1.0 + 0.0) / 2.0, EPS);
    cr_assert_float_eq(sc.mrr, 0.5, EPS);
    cr_assert_float_eq(sc.precision, (1.0 / 3.0) / 2.0, EPS);
    cr_assert_float_eq(sc.coverage, 4.0 / 5.0, EPS); /* tracks 0, 1, 2, 3 */
    tt_csr_release(&seen);
    tt_split_release(&s);
}

Test(eval_model, uses_the_batch_operation)
{
    tt_model m = {.ops = &batch_ops, .name = "batch", .n_users = 3, .n_tracks = 5};
    tt_split s;
    tt_eval_scores sc;
    /* Both users get [4, 3]: user 0 no hit; user 2 hits at ranks 1 and 2. */

    make_split(&s);
    cr_assert_eq(tt_eval_model(&m, &s, NULL, 2, 0, &sc, NULL), 0);
    cr_assert_float_eq(sc.recall, 0.5, EPS);
    cr_assert_float_eq(sc.ndcg, 0.5, EPS);
    cr_assert_float_eq(sc.mrr, 0.5, EPS);
    cr_assert_float_eq(sc.precision, 0.5, EPS);
    cr_assert_float_eq(sc.coverage, 2.0 / 5.0, EPS);
    tt_split_release(&s);
}

Test(eval_model, reports_model_errors_and_bad_arguments)
{
    tt_model m = {.ops = &failing_ops, .name = "failing", .n_users = 3, .n_tracks = 5};
    tt_model wrong = {.ops = &fake_ops, .name = "fake", .n_users = 3, .n_tracks = 7};
    tt_split s;
    tt_eval_scores sc;
    tt_err err = {0};

    make_split(&s);
    cr_assert_eq(tt_eval_model(&m, &s, NULL, 0, 1, &sc, &err), TT_EINVAL);
    tt_err_clear(&err);
    cr_assert_eq(tt_eval_model(&wrong, &s, NULL, 3, 1, &sc, &err), TT_EINVAL);
    tt_err_clear(&err);
    /* Evaluate user 1 too, whom the failing model refuses. */
    s.users[1] = 1;
    cr_assert_eq(tt_eval_model(&m, &s, NULL, 3, 3, &sc, &err), TT_EINTERNAL);
    cr_assert(strstr(err.message, "cannot rank user 1"), "%s", err.message);
    cr_assert_eq(sc.users, 0);
    tt_split_release(&s);
}

Test(eval_model, no_users_gives_zeros)
{
    tt_model m = {.ops = &fake_ops, .name = "fake", .n_users = 3, .n_tracks = 5};
    tt_split s;
    tt_eval_scores sc;

    memset(&s, 0, sizeof(s));
    tt_csr_from_coo(3, 5, 0, NULL, NULL, NULL, &s.relevant);
    cr_assert_eq(tt_eval_model(&m, &s, NULL, 5, 1, &sc, NULL), 0);
    cr_assert_eq(sc.users, 0);
    cr_assert_float_eq(sc.recall, 0.0, EPS);
    cr_assert_float_eq(sc.coverage, 0.0, EPS);
    tt_split_release(&s);
}

/* ---- the protocol end to end ----------------------------------------------------------------- */

static void train_and_score(const char *name, const tt_train_set *ts, const tt_split *s,
                            tt_eval_scores *sc)
{
    tt_model_opts o = tt_model_opts_default();
    tt_model *m = NULL;
    tt_err err = {0};

    /* Fixed here rather than the shipped defaults, which are tuned for far larger data. */
    o.als.factors = 16;
    o.als.regularization = 0.1f;
    o.als.alpha = 2.0f;
    o.als.iterations = 15;
    o.als.scaling = TT_ALS_BM25;
    o.als.bm25_k1 = 100.0f;
    o.als.bm25_b = 0.8f;
    o.threads = 2;
    cr_assert_eq(tt_models_train(name, ts, &o, &m, &err), 0, "%s: %s", name, err.message);
    cr_assert_eq(tt_eval_model(m, s, &ts->seen, 10, 2, sc, &err), 0, "%s", err.message);
    tt_model_free(m);
}

/*
 * Users of four taste groups mostly play their own group's tracks: a personalised model must
 * find held-out tracks far better than one global chart, and must cover more of the catalog.
 */
Test(eval_model, als_beats_popularity_on_distinct_tastes)
{
    tt_dataset *d = fx_taste_groups(4, 30, 40, 12, 9);
    tt_split_params p = tt_split_params_default();
    tt_split s;
    tt_train_set ts;
    tt_eval_scores als, pop;
    tt_err err = {0};

    cr_assert_eq(tt_split_build(d, &p, &s, &err), 0, "%s", err.message);
    cr_assert_gt(s.n_users, 100);
    tt_train_set_build(d, s.mask, &p.weighting, &ts);
    train_and_score("als", &ts, &s, &als);
    train_and_score("popularity", &ts, &s, &pop);
    cr_assert_eq(als.users, s.n_users);
    cr_assert_gt(als.recall, 1.5 * pop.recall, "als %f vs popularity %f", als.recall, pop.recall);
    cr_assert_gt(als.ndcg, pop.ndcg);
    cr_assert_gt(als.coverage, pop.coverage);
    cr_assert(als.recall <= 1.0 && als.ndcg <= 1.0 && als.mrr <= 1.0 && als.precision <= 1.0);
    tt_train_set_release(&ts);
    tt_split_release(&s);
    tt_dataset_free(d);
}

/* ---- the random-ranking baseline ---------------------------------------------------------- */

/*
 * Pool of 4, one relevant, k 2: E[hits] = 2 x 1/4 = 0.5, so recall 0.5 / 1 and precision
 * 0.5 / 2; E[DCG] = 1/4 (1 + 1/log2 3) = 0.4077, IDCG 1; the first hit is at rank 1 with
 * probability 1/4 and at rank 2 with probability 3/4 x 1/3 = 1/4: MRR 1/4 + 1/8.
 */
Test(metrics, random_ranking_of_four_with_one_relevant)
{
    double r, n, m, p;

    tt_metric_random(2, 4, 1, &r, &n, &m, &p);
    cr_assert_float_eq(r, 0.5, EPS);
    cr_assert_float_eq(p, 0.25, EPS);
    cr_assert_float_eq(n, 0.25 * (1.0 + 1.0 / log2(3.0)), EPS);
    cr_assert_float_eq(m, 0.375, EPS);
}

/*
 * Pool of 3, two relevant, k 3 (the whole pool): both are always listed, recall 1,
 * precision 2/3; E[DCG] = 2/3 (1 + 1/log2 3 + 1/2) over IDCG 1 + 1/log2 3; MRR 2/3 + 1/3 x 1/2.
 */
Test(metrics, random_ranking_of_the_whole_pool)
{
    double r, n, m, p;

    tt_metric_random(3, 3, 2, &r, &n, &m, &p);
    cr_assert_float_eq(r, 1.0, EPS);
    cr_assert_float_eq(p, 2.0 / 3.0, EPS);
    cr_assert_float_eq(n, (2.0 / 3.0) * (1.5 + 1.0 / log2(3.0)) / (1.0 + 1.0 / log2(3.0)), EPS);
    cr_assert_float_eq(m, 2.0 / 3.0 + 1.0 / 6.0, EPS);
    tt_metric_random(3, 0, 2, &r, &n, &m, &p);
    cr_assert_eq(r + n + m + p, 0.0);
}

/*
 * One user, four tracks: track 0 heard in training, track 3 relevant. Over the catalog the
 * pool is tracks 1..3 (3 tracks, k 2): recall 2/3, NDCG 1/3 (1 + 1/log2 3). Over a pool mask
 * of tracks 2 and 3, the pool is 2 tracks and a list of 2 always holds the relevant one.
 */
Test(metrics, random_baseline_over_a_split_pool)
{
    int32_t ru[] = {0}, rt[] = {3}, eu[] = {0}, et[] = {0}, users[] = {0};
    uint8_t mask[] = {0, 0, 1, 1};
    tt_split s;
    tt_csr excl;
    tt_eval_scores sc;
    tt_err err = {0};

    memset(&s, 0, sizeof(s));
    tt_csr_from_coo(1, 4, 1, ru, rt, NULL, &s.relevant);
    tt_csr_from_coo(1, 4, 1, eu, et, NULL, &excl);
    s.users = users;
    s.n_users = 1;
    cr_assert_eq(tt_eval_random(&s, &excl, NULL, 2, &sc, &err), 0);
    cr_assert_float_eq(sc.recall, 2.0 / 3.0, EPS);
    cr_assert_float_eq(sc.ndcg, (1.0 + 1.0 / log2(3.0)) / 3.0, EPS);
    cr_assert_eq(sc.users, 1);
    /* Each of tracks 1..3 is in the list of 2 with probability 2/3; track 0 never: 0.5. */
    cr_assert_float_eq(sc.coverage, 0.5, EPS);
    cr_assert_eq(tt_eval_random(&s, &excl, mask, 2, &sc, &err), 0);
    cr_assert_float_eq(sc.recall, 1.0, EPS);
    cr_assert_eq(tt_eval_random(&s, &excl, NULL, 0, &sc, &err), TT_EINVAL);
    tt_csr_release(&s.relevant);
    tt_csr_release(&excl);
}
