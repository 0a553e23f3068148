/*
 * Evaluation reports: a table for people, one JSON document for scripts. Both carry the same
 * numbers; the JSON keys spell the cut-off ("recall@20") so results at different K are never
 * mistaken for one another.
 */
#include "tt/eval.h"
#include "tt/core.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

static const tt_eval_row *baseline_row(const tt_eval_report *r)
{
    if (!r->baseline)
        return NULL;
    for (int i = 0; i < r->n_rows; i++)
        if (strcmp(r->rows[i].model, r->baseline) == 0 && !r->rows[i].error[0])
            return &r->rows[i];
    return NULL;
}

static bool has_holdout(const tt_eval_report *r)
{
    return r->split == TT_SPLIT_RANDOM || r->split == TT_SPLIT_TIME ||
           r->split == TT_SPLIT_COLD_TRACKS;
}

static void print_context(const tt_eval_report *r, FILE *f)
{
    fprintf(f, "split %s", tt_split_kind_name(r->split));
    if (has_holdout(r))
        fprintf(f, " (holdout %.2f, seed %llu)", r->holdout, (unsigned long long)r->seed);
    if (r->split == TT_SPLIT_FILE && r->test_file)
        fprintf(f, " (%s)", r->test_file);
    fprintf(f, ": %d of %d users evaluated, %d tracks, %lld training and %lld test events\n\n",
            r->users_evaluated, r->n_users, r->n_tracks, (long long)r->train_events,
            (long long)r->test_events);
}

/* "2.31x", or "-" when the baseline scored 0. */
static void format_lift(double v, double base, char *buf, size_t n)
{
    if (base > 0.0)
        snprintf(buf, n, "%.2fx", v / base);
    else
        snprintf(buf, n, "-");
}

static void print_lift(const tt_eval_row *row, const tt_eval_row *base, FILE *f)
{
    char a[32], b[32];

    if (!base) {
        fprintf(f, "\n");
        return;
    }
    if (row == base) {
        fprintf(f, "  baseline\n");
        return;
    }
    format_lift(row->scores.recall, base->scores.recall, a, sizeof(a));
    format_lift(row->scores.ndcg, base->scores.ndcg, b, sizeof(b));
    fprintf(f, "  %7s %7s\n", a, b);
}

static void print_header(const tt_eval_report *r, const tt_eval_row *base, FILE *f)
{
    char rk[24], nk[24], pk[24];

    snprintf(rk, sizeof(rk), "recall@%d", r->k);
    snprintf(nk, sizeof(nk), "ndcg@%d", r->k);
    snprintf(pk, sizeof(pk), "precision@%d", r->k);
    fprintf(f, "%-12s %10s %10s %8s %13s %9s %9s %7s", "model", rk, nk, "mrr", pk, "coverage",
            "train_s", "users");
    if (base)
        fprintf(f, "  %7s %7s   (vs %s)", "recall", "ndcg", base->model);
    fprintf(f, "\n");
}

void tt_eval_report_table(const tt_eval_report *r, FILE *f)
{
    const tt_eval_row *base = baseline_row(r);

    print_context(r, f);
    print_header(r, base, f);
    for (int i = 0; i < r->n_rows; i++) {
        const tt_eval_row *row = &r->rows[i];
        const tt_eval_scores *s = &row->scores;
        if (row->error[0]) {
            fprintf(f, "%-12s failed: %s\n", row->model, row->error);
            continue;
        }
        fprintf(f, "%-12s %10.4f %10.4f %8.4f %13.4f %9.4f %9.2f %7d", row->model, s->recall,
                s->ndcg, s->mrr, s->precision, s->coverage, row->train_seconds, s->users);
        print_lift(row, base, f);
    }
}

/* A real for finite values; NaN and infinities are not JSON, so they become null. */
static json_t *number(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static void set_metric(json_t *o, const char *name, int k, double v)
{
    char key[48];

    snprintf(key, sizeof(key), "%s@%d", name, k);
    json_object_set_new(o, key, number(v));
}

static json_t *row_json(const tt_eval_row *row, int k)
{
    json_t *o = json_object();

    json_object_set_new(o, "model", json_string(row->model));
    if (row->error[0]) {
        json_object_set_new(o, "error", json_string(row->error));
        return o;
    }
    set_metric(o, "recall", k, row->scores.recall);
    set_metric(o, "ndcg", k, row->scores.ndcg);
    json_object_set_new(o, "mrr", number(row->scores.mrr));
    set_metric(o, "precision", k, row->scores.precision);
    json_object_set_new(o, "coverage", number(row->scores.coverage));
    json_object_set_new(o, "train_seconds", number(row->train_seconds));
    json_object_set_new(o, "score_seconds", number(row->scores.score_seconds));
    json_object_set_new(o, "users_evaluated", json_integer(row->scores.users));
    return o;
}

static json_t *report_json(const tt_eval_report *r)
{
    json_t *doc = json_object(), *models = json_array();

    json_object_set_new(doc, "split", json_string(tt_split_kind_name(r->split)));
    json_object_set_new(doc, "holdout", has_holdout(r) ? number(r->holdout) : json_null());
    json_object_set_new(doc, "k", json_integer(r->k));
    json_object_set_new(doc, "seed", json_integer((json_int_t)r->seed));
    if (r->split == TT_SPLIT_FILE && r->test_file)
        json_object_set_new(doc, "test_file", json_string(r->test_file));
    json_object_set_new(doc, "users_evaluated", json_integer(r->users_evaluated));
    json_object_set_new(doc, "users", json_integer(r->n_users));
    json_object_set_new(doc, "tracks", json_integer(r->n_tracks));
    json_object_set_new(doc, "train_events", json_integer(r->train_events));
    json_object_set_new(doc, "test_events", json_integer(r->test_events));
    json_object_set_new(doc, "baseline", r->baseline ? json_string(r->baseline) : json_null());
    for (int i = 0; i < r->n_rows; i++)
        json_array_append_new(models, row_json(&r->rows[i], r->k));
    json_object_set_new(doc, "models", models);
    return doc;
}

char *tt_eval_report_json(const tt_eval_report *r)
{
    json_t *doc = report_json(r);
    char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));

    json_decref(doc);
    if (!s)
        abort(); /* jansson fails only when allocation does, which aborts everywhere else */
    return s;
}
