/*
 * Training schedules (tt/pipeline.h): tt_schedule_due on a fake clock (the defaults, the
 * baseline of a tier never claimed, runs missed while no engine was up run once, "off",
 * TZ), tt_schedule_tick of two replicas sharing one SQLite database (exactly one queues
 * each fire time; the job it queues is a valid scheduled request), and job ids.
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support/fixtures.h"
#include "tt/core.h"
#include "tt/pipeline.h"
#include "tt/store.h"

#define HOUR 3600
#define DAY 86400

/* Unix time of a UTC wall time. */
static int64_t utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {
        .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
    return (int64_t)timegm(&tm);
}

/* The configuration of the environment with the default schedules, in UTC. */
static tt_config config(void)
{
    tt_config c;
    tt_err err = {0};

    unsetenv("TZ");
    cr_assert_eq(tt_config_load_env(&c, &err), 0, "%s", err.message);
    snprintf(c.schedule[0], sizeof(c.schedule[0]), "0 4 * * *");
    snprintf(c.schedule[1], sizeof(c.schedule[1]), "0 5 * * *");
    snprintf(c.schedule[2], sizeof(c.schedule[2]), "0 7 * * *");
    return c;
}

static void init(tt_schedule *s, const tt_config *c)
{
    tt_err err = {0};

    cr_assert_eq(tt_schedule_init(s, c, &err), 0, "%s", err.message);
}

/* ---- tt_schedule_due -------------------------------------------------------------------- */

Test(schedule, defaults_are_the_tiers_early_morning_utc)
{
    tt_config c;
    tt_schedule s;
    bool run = true;
    int64_t now = utc(2026, 1, 5, 10, 0);
    tt_err err = {0};

    unsetenv("TZ");
    cr_assert_eq(tt_config_load_env(&c, &err), 0, "%s", err.message);
    cr_assert_str_eq(c.schedule[0], "0 4 * * *", "TRAIN_SCHEDULE_FREE is set in the environment");
    init(&s, &c);
    cr_assert_eq(tt_schedule_due(&s, 0, now, 0, &run), utc(2026, 1, 5, 4, 0));
    cr_assert_eq(tt_schedule_due(&s, 1, now, 0, &run), utc(2026, 1, 5, 5, 0));
    cr_assert_eq(tt_schedule_due(&s, 2, now, 0, &run), utc(2026, 1, 5, 7, 0));
    tt_schedule_release(&s);
}

Test(schedule, first_call_is_a_baseline_then_the_next_fire_runs)
{
    tt_config c = config();
    tt_schedule s;
    bool run = true;
    int64_t base, fire;

    init(&s, &c);
    base = tt_schedule_due(&s, 0, utc(2026, 1, 5, 10, 0), 0, &run);
    cr_assert_eq(base, utc(2026, 1, 5, 4, 0));
    cr_assert_not(run, "turning a schedule on trains at once");
    cr_assert_eq(tt_schedule_due(&s, 0, utc(2026, 1, 5, 10, 1), base, &run), 0);
    cr_assert_not(run);
    cr_assert_eq(tt_schedule_due(&s, 0, utc(2026, 1, 6, 3, 59), base, &run), 0);
    fire = tt_schedule_due(&s, 0, utc(2026, 1, 6, 4, 0), base, &run);
    cr_assert_eq(fire, utc(2026, 1, 6, 4, 0), "due at the fire time itself");
    cr_assert(run);
    cr_assert_eq(tt_schedule_due(&s, 0, utc(2026, 1, 6, 4, 0) + 1, fire, &run), 0);
    tt_schedule_release(&s);
}

Test(schedule, before_the_hour_the_baseline_is_yesterdays)
{
    tt_config c = config();
    tt_schedule s;
    bool run = true;

    init(&s, &c);
    cr_assert_eq(tt_schedule_due(&s, 0, utc(2026, 1, 5, 3, 0), 0, &run), utc(2026, 1, 4, 4, 0));
    cr_assert_not(run);
    tt_schedule_release(&s);
}

Test(schedule, runs_missed_while_down_run_once)
{
    tt_config c = config();
    tt_schedule s;
    bool run = false;
    int64_t last = utc(2026, 1, 5, 4, 0), fire;

    init(&s, &c);
    /* Down from Jan 5 to Jan 8 10:00: the fires of Jan 6, 7 and 8 were missed. */
    fire = tt_schedule_due(&s, 0, utc(2026, 1, 8, 10, 0), last, &run);
    cr_assert_eq(fire, utc(2026, 1, 8, 4, 0), "the latest fire time, not the first missed");
    cr_assert(run);
    cr_assert_eq(tt_schedule_due(&s, 0, utc(2026, 1, 8, 10, 0), fire, &run), 0);
    cr_assert_eq(tt_schedule_due(&s, 0, utc(2026, 1, 8, 23, 59), fire, &run), 0);
    tt_schedule_release(&s);
}

Test(schedule, off_is_never_due)
{
    tt_config c = config();
    tt_schedule s;
    bool run = true;

    snprintf(c.schedule[1], sizeof(c.schedule[1]), "off");
    snprintf(c.schedule[2], sizeof(c.schedule[2]), "OFF");
    init(&s, &c);
    cr_assert_not(s.on[1]);
    cr_assert_not(s.on[2]);
    for (int64_t t = utc(2026, 1, 5, 0, 0); t < utc(2026, 1, 8, 0, 0); t += HOUR) {
        cr_assert_eq(tt_schedule_due(&s, 1, t, 0, &run), 0);
        cr_assert_eq(tt_schedule_due(&s, 2, t, utc(2026, 1, 1, 0, 0), &run), 0);
        cr_assert_not(run);
    }
    cr_assert_neq(tt_schedule_due(&s, 0, utc(2026, 1, 5, 10, 0), 0, &run), 0);
    tt_schedule_release(&s);
}

Test(schedule, tiers_out_of_range_are_never_due)
{
    tt_config c = config();
    tt_schedule s;
    bool run = true;

    init(&s, &c);
    cr_assert_eq(tt_schedule_due(&s, -1, utc(2026, 1, 5, 10, 0), 0, &run), 0);
    cr_assert_eq(tt_schedule_due(&s, 3, utc(2026, 1, 5, 10, 0), 0, &run), 0);
    cr_assert_not(run);
    tt_schedule_release(&s);
}

Test(schedule, bad_expression_is_refused)
{
    tt_config c = config();
    tt_schedule s;
    tt_err err = {0};

    snprintf(c.schedule[2], sizeof(c.schedule[2]), "0 25 * * *");
    cr_assert_lt(tt_schedule_init(&s, &c, &err), 0);
    cr_assert_neq(err.message[0], '\0');
    tt_schedule_release(&s);
}

Test(schedule, tz_moves_the_fire_times)
{
    tt_config c = config();
    tt_schedule s;
    bool run;

    setenv("TZ", "Europe/Berlin", 1);
    init(&s, &c);
    cr_assert_not_null(s.tz);
    /* 04:00 in Berlin: 03:00 UTC in winter (CET), 02:00 UTC in summer (CEST). */
    cr_assert_eq(tt_schedule_due(&s, 0, utc(2026, 1, 5, 10, 0), 0, &run), utc(2026, 1, 5, 3, 0));
    cr_assert_eq(tt_schedule_due(&s, 0, utc(2026, 1, 6, 2, 59), utc(2026, 1, 5, 3, 0), &run), 0);
    cr_assert_eq(tt_schedule_due(&s, 0, utc(2026, 1, 6, 3, 0), utc(2026, 1, 5, 3, 0), &run),
                 utc(2026, 1, 6, 3, 0));
    cr_assert(run);
    cr_assert_eq(tt_schedule_due(&s, 0, utc(2026, 7, 6, 10, 0), 0, &run), utc(2026, 7, 6, 2, 0));
    tt_schedule_release(&s);
}

Test(schedule, unknown_tz_is_refused)
{
    tt_config c = config();
    tt_schedule s;
    tt_err err = {0};

    setenv("TZ", "Mars/Olympus_Mons", 1);
    cr_assert_lt(tt_schedule_init(&s, &c, &err), 0);
    tt_schedule_release(&s);
}

/* ---- tt_schedule_tick on a shared database ---------------------------------------------- */

static char dir[64];
static char url[200];

static void db_setup(void)
{
    fx_tmpdir(dir);
    snprintf(url, sizeof(url), "sqlite:///%s/tt.db", dir);
}

static void db_teardown(void)
{
    fx_rmtree(dir);
}

static tt_store *open_db(void)
{
    tt_store *st = NULL;
    tt_err err = {0};

    cr_assert_eq(tt_store_open(url, &st, &err), 0, "%s", err.message);
    return st;
}

/* A replica: its own schedule (free only) and its own connection. */
struct replica {
    tt_schedule s;
    tt_store *st;
};

static void replica_open(struct replica *r)
{
    tt_config c = config();

    snprintf(c.schedule[1], sizeof(c.schedule[1]), "off");
    snprintf(c.schedule[2], sizeof(c.schedule[2]), "off");
    init(&r->s, &c);
    r->st = open_db();
}

static void replica_close(struct replica *r)
{
    tt_schedule_release(&r->s);
    tt_store_close(r->st);
}

static int tick(struct replica *r, int64_t now)
{
    int queued = -1;
    tt_err err = {0};

    cr_assert_eq(tt_schedule_tick(&r->s, r->st, now, &queued, &err), 0, "%s", err.message);
    return queued;
}

#define MAX_JOBS 16
struct jobs {
    int n;
    char id[MAX_JOBS][TT_JOB_ID_MAX + 1];
    char *request[MAX_JOBS];
    int state[MAX_JOBS];
    int64_t created[MAX_JOBS];
};

static int on_job(void *ctx, const tt_job_rec *j)
{
    struct jobs *js = ctx;

    cr_assert_lt(js->n, MAX_JOBS);
    snprintf(js->id[js->n], sizeof(js->id[0]), "%s", j->job_id);
    js->request[js->n] = strdup(j->request);
    js->state[js->n] = (int)j->state;
    js->created[js->n] = j->created_at;
    js->n++;
    return 0;
}

static void list_jobs(tt_store *st, struct jobs *js)
{
    tt_err err = {0};

    memset(js, 0, sizeof(*js));
    cr_assert_eq(tt_store_job_list(st, 100, on_job, js, &err), 0, "%s", err.message);
}

static void jobs_release(struct jobs *js)
{
    for (int i = 0; i < js->n; i++)
        free(js->request[i]);
}

TestSuite(schedule_tick, .init = db_setup, .fini = db_teardown);

Test(schedule_tick, two_replicas_queue_each_fire_once)
{
    struct replica a, b;
    struct jobs js;
    int64_t last = -1;
    tt_err err = {0};

    replica_open(&a);
    replica_open(&b);
    /* First ticks record the baseline: nothing queued. */
    cr_assert_eq(tick(&a, utc(2026, 1, 5, 10, 0)), 0);
    cr_assert_eq(tick(&b, utc(2026, 1, 5, 10, 0)), 0);
    cr_assert_eq(tt_store_schedule_last(a.st, "free", &last, &err), 0, "%s", err.message);
    cr_assert_eq(last, utc(2026, 1, 5, 4, 0), "the baseline is claimed in the database");
    list_jobs(a.st, &js);
    cr_assert_eq(js.n, 0);

    /* Both tick at the same moment after the next fire time: one job in total. */
    cr_assert_eq(tick(&a, utc(2026, 1, 6, 4, 0) + 30) + tick(&b, utc(2026, 1, 6, 4, 0) + 30), 1);
    list_jobs(b.st, &js);
    cr_assert_eq(js.n, 1);
    jobs_release(&js);
    cr_assert_eq(tick(&a, utc(2026, 1, 6, 9, 0)), 0);
    cr_assert_eq(tick(&b, utc(2026, 1, 6, 9, 0)), 0);

    /* The next day the other replica may be first: still one more job. */
    cr_assert_eq(tick(&b, utc(2026, 1, 7, 4, 1)) + tick(&a, utc(2026, 1, 7, 4, 1)), 1);
    list_jobs(a.st, &js);
    cr_assert_eq(js.n, 2);
    cr_assert_str_neq(js.id[0], js.id[1]);
    jobs_release(&js);
    cr_assert_eq(tt_store_schedule_last(b.st, "free", &last, &err), 0, "%s", err.message);
    cr_assert_eq(last, utc(2026, 1, 7, 4, 0));
    replica_close(&a);
    replica_close(&b);
}

Test(schedule_tick, queued_job_is_a_scheduled_free_training)
{
    struct replica a;
    struct jobs js;
    tt_job_spec spec;
    json_t *req;
    tt_err err = {0};
    int64_t now = utc(2026, 1, 6, 4, 0) + 5;

    replica_open(&a);
    tick(&a, utc(2026, 1, 5, 10, 0));
    cr_assert_eq(tick(&a, now), 1);
    list_jobs(a.st, &js);
    cr_assert_eq(js.n, 1);
    cr_assert_eq(strncmp(js.id[0], "job-", 4), 0, "%s", js.id[0]);
    cr_assert_eq(js.state[0], TT_JOB_QUEUED);
    cr_assert_eq(js.created[0], now);
    req = json_loads(js.request[0], 0, NULL);
    cr_assert_not_null(req, "%s", js.request[0]);
    cr_assert_eq(tt_job_spec_parse(req, &spec, &err), 0, "%s: [%s] %s", js.request[0], err.field,
                 err.message);
    cr_assert_str_eq(spec.tier, "free");
    cr_assert_str_eq(spec.model, "");
    cr_assert_str_eq(spec.name, "");
    cr_assert(spec.scheduled);
    cr_assert(spec.evaluate);
    tt_job_spec_release(&spec);
    json_decref(req);
    jobs_release(&js);
    replica_close(&a);
}

Test(schedule_tick, an_engine_down_for_days_queues_one_run)
{
    struct replica a;
    struct jobs js;

    replica_open(&a);
    cr_assert_eq(tick(&a, utc(2026, 1, 5, 10, 0)), 0);
    cr_assert_eq(tick(&a, utc(2026, 1, 8, 10, 0)), 1);
    cr_assert_eq(tick(&a, utc(2026, 1, 8, 11, 0)), 0);
    list_jobs(a.st, &js);
    cr_assert_eq(js.n, 1);
    jobs_release(&js);
    replica_close(&a);
}

Test(schedule_tick, a_replica_started_later_follows_the_database)
{
    struct replica a, late;
    struct jobs js;

    replica_open(&a);
    cr_assert_eq(tick(&a, utc(2026, 1, 5, 10, 0)), 0);
    /* A replica that never ticked sees the claimed baseline: it runs the next fire. */
    replica_open(&late);
    cr_assert_eq(tick(&late, utc(2026, 1, 6, 4, 0)), 1);
    cr_assert_eq(tick(&a, utc(2026, 1, 6, 4, 0)), 0);
    list_jobs(a.st, &js);
    cr_assert_eq(js.n, 1);
    jobs_release(&js);
    replica_close(&a);
    replica_close(&late);
}

Test(schedule_tick, every_tier_on_its_own_hour)
{
    tt_config c = config();
    tt_schedule s;
    tt_store *st = open_db();
    struct jobs js;
    int queued = -1;
    tt_err err = {0};

    init(&s, &c);
    cr_assert_eq(tt_schedule_tick(&s, st, utc(2026, 1, 5, 10, 0), &queued, &err), 0);
    cr_assert_eq(queued, 0);
    cr_assert_eq(tt_schedule_tick(&s, st, utc(2026, 1, 6, 5, 30), &queued, &err), 0);
    cr_assert_eq(queued, 2, "free (04:00) and starter (05:00)");
    cr_assert_eq(tt_schedule_tick(&s, st, utc(2026, 1, 6, 7, 0), &queued, &err), 0);
    cr_assert_eq(queued, 1, "pro (07:00)");
    list_jobs(st, &js);
    cr_assert_eq(js.n, 3);
    for (int i = 0; i < js.n; i++) {
        json_t *r = json_loads(js.request[i], 0, NULL);
        const char *tier = json_string_value(json_object_get(r, "tier"));
        cr_assert(tier && (strcmp(tier, "free") == 0 || strcmp(tier, "starter") == 0 ||
                           strcmp(tier, "pro") == 0),
                  "%s", js.request[i]);
        json_decref(r);
    }
    jobs_release(&js);
    tt_schedule_release(&s);
    tt_store_close(st);
}

/* ---- job ids ---------------------------------------------------------------------------- */

Test(schedule, job_ids_are_time_ordered_and_unique)
{
    enum { N = 200 };
    static char ids[N][TT_JOB_ID_MAX + 1];
    time_t before = time(NULL), after;
    struct tm tm = {0};
    char stamp[20];

    for (int i = 0; i < N; i++)
        tt_pipeline_job_id(ids[i], sizeof(ids[i]));
    after = time(NULL);
    for (int i = 0; i < N; i++) {
        const char *id = ids[i];
        cr_assert_eq(strlen(id), 29, "%s", id);
        cr_assert_eq(strncmp(id, "job-", 4), 0, "%s", id);
        cr_assert_eq(id[12], 'T', "%s", id);
        cr_assert_eq(id[19], 'Z', "%s", id);
        cr_assert_eq(id[20], '-', "%s", id);
        for (int k = 21; k < 29; k++)
            cr_assert(strchr("0123456789abcdef", id[k]) && id[k], "%s", id);
        memcpy(stamp, id + 4, 16);
        stamp[16] = '\0';
        cr_assert_not_null(strptime(stamp, "%Y%m%dT%H%M%SZ", &tm), "%s", id);
        cr_assert(timegm(&tm) >= before && timegm(&tm) <= after, "%s: not the current time", id);
        for (int j = 0; j < i; j++)
            cr_assert_str_neq(ids[j], id, "ids %d and %d are equal", j, i);
    }
}

Test(schedule, job_id_is_cut_to_the_buffer)
{
    char small[10];

    memset(small, 'x', sizeof(small));
    tt_pipeline_job_id(small, sizeof(small));
    cr_assert_eq(strlen(small), 9);
    cr_assert_eq(strncmp(small, "job-", 4), 0);
}
