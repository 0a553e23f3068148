/*
 * The training schedules: a cron expression per tier, claimed fire time by fire time in the
 * database so that one replica runs each, and a missed run is run once when an engine is up.
 */
#include "tt/core.h"
#include "tt/pipeline.h"
#include "tt/store.h"
#include "tt/tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

static const char *const tiers[3] = {"free", "starter", "pro"};

/*
 * The suffix is the microsecond within the second (20 bits) then 12 random bits, in 8 hex
 * digits: ids of one second sort in the order they were made, as the job list and the queue
 * (created_at, then job_id) need; the random bits keep replicas' ids apart.
 */
void tt_pipeline_job_id(char *buf, size_t cap)
{
    struct timespec ts;
    time_t t;
    uint32_t r = 0, usec;
    struct tm tm;
    char stamp[24];

    clock_gettime(CLOCK_REALTIME, &ts);
    t = ts.tv_sec;
    usec = (uint32_t)(ts.tv_nsec / 1000) % 1000000u;
    if (getrandom(&r, sizeof(r), 0) != sizeof(r))
        r = (uint32_t)tt_hash64(&ts, sizeof(ts)) ^ (uint32_t)(tt_now() * 1e6);
    gmtime_r(&t, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    snprintf(buf, cap, "job-%s-%08x", stamp, (usec << 12) | (r & 0xfffu));
}

int tt_schedule_init(tt_schedule *s, const tt_config *cfg, tt_err *err)
{
    const char *tz = getenv("TZ");
    int rc;

    memset(s, 0, sizeof(*s));
    for (int t = 0; t < 3; t++) {
        s->on[t] = strcasecmp(cfg->schedule[t], "off") != 0;
        if (s->on[t] && (rc = tt_cron_parse(cfg->schedule[t], &s->cron[t], err)) < 0)
            return rc;
    }
    if (tz && *tz && (rc = tt_tz_open(tz, NULL, &s->tz, err)) < 0)
        return rc;
    return 0;
}

void tt_schedule_release(tt_schedule *s)
{
    tt_tz_free(s->tz);
    s->tz = NULL;
}

int64_t tt_schedule_due(const tt_schedule *s, int tier, int64_t now, int64_t last, bool *run)
{
    int64_t fire;

    *run = false;
    if (tier < 0 || tier > 2 || !s->on[tier])
        return 0;
    fire = tt_cron_prev(&s->cron[tier], s->tz, now);
    if (fire <= 0 || fire <= last)
        return 0;
    *run = last > 0;
    return fire;
}

int tt_pipeline_job_queue(tt_store *st, const tt_job_spec *spec, int64_t now, char *id,
                          json_t **request, tt_err *err)
{
    json_t *j = tt_job_spec_json(spec);
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    tt_job_rec rec = {0};
    int rc;

    if (!id[0])
        tt_pipeline_job_id(id, TT_JOB_ID_MAX + 1);
    rec.job_id = id;
    rec.state = TT_JOB_QUEUED;
    rec.request = text;
    rec.created_at = now > 0 ? now : tt_unix_time();
    rc = tt_store_job_put(st, &rec, err);
    free(text);
    if (rc == 0 && request)
        *request = j;
    else
        json_decref(j);
    return rc;
}

/* The scheduled run of one tier: every model of it, evaluated and tuned. */
static int queue_run(tt_store *st, int tier, int64_t now, char *id, tt_err *err)
{
    tt_job_spec spec;
    int rc;

    tt_job_spec_init(&spec);
    snprintf(spec.tier, sizeof(spec.tier), "%s", tiers[tier]);
    spec.scheduled = true;
    rc = tt_pipeline_job_queue(st, &spec, now, id, NULL, err);
    tt_job_spec_release(&spec);
    return rc;
}

int tt_schedule_tick(tt_schedule *s, tt_store *st, int64_t now, int *queued, tt_err *err)
{
    int n = 0, rc = 0;

    for (int t = 0; rc == 0 && t < 3; t++) {
        char id[TT_JOB_ID_MAX + 1] = "";
        bool run, claimed = false;
        int64_t fire = tt_schedule_due(s, t, now, s->last[t], &run);
        if (!fire)
            continue;
        /* Another replica may have claimed it (or a later one) already. */
        if ((rc = tt_store_schedule_last(st, tiers[t], &s->last[t], err)) < 0)
            break;
        fire = tt_schedule_due(s, t, now, s->last[t], &run);
        if (!fire)
            continue;
        if (run)
            tt_pipeline_job_id(id, sizeof(id));
        /* A baseline queues no job: its claim records none (the store refuses an empty id). */
        rc = tt_store_schedule_claim(st, tiers[t], fire, run ? id : NULL, &claimed, err);
        if (rc == 0)
            s->last[t] = fire;
        if (rc == 0 && claimed && run) {
            rc = queue_run(st, t, now, id, err);
            if (rc == 0) {
                tt_info("scheduled training of the %s tier queued as %s", tiers[t], id);
                n++;
            }
        }
    }
    if (queued)
        *queued = n;
    return rc;
}
