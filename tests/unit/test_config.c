/*
 * Service configuration: defaults, environment overrides, refusal of invalid values with the
 * variable named and the accepted values listed, command-line flags over the environment.
 * Each test runs in its own process, so changing the environment here stays here.
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "tt/config.h"

static const char *const vars[] = {
    "DATABASE_URL", "REDIS_URL", "MODEL_TIER", "MODEL_DIR", "ENABLE_GPU", "PORT", "HOST",
    "ADMIN_TOKEN", "ADMIN_ALLOW_LOOPBACK", "TRAIN_SCHEDULE_FREE", "TRAIN_SCHEDULE_STARTER",
    "TRAIN_SCHEDULE_PRO", "MODEL_KEEP_VERSIONS", "PROMOTE_MARGIN", "MODEL_POLL_SECONDS",
    "JOB_THREADS", "JOB_NICE", "RATE_LIMIT", "RATE_BURST", "DOCS_ASSETS_DIR", "FEEDBACK_POLL_MS",
};

static void clean_env(void)
{
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
}

TestSuite(config, .init = clean_env);

static tt_config load_ok(void)
{
    tt_config c;
    tt_err err = {0};
    int rc = tt_config_load_env(&c, &err);

    cr_assert_eq(rc, 0, "load: %s", tt_err_msg(&err, rc));
    cr_assert_eq(err.code, 0);
    return c;
}

Test(config, defaults)
{
    tt_config c = load_ok();

    cr_assert_str_eq(c.database_url, "sqlite:///./var/tunetrail.db");
    cr_assert_str_eq(c.redis_url, "");
    cr_assert_eq(c.tiers, TT_TIERS_FULL);
    cr_assert_str_eq(c.model_dir, "./models");
    cr_assert(!c.enable_gpu);
    cr_assert_eq(c.port, 8001);
    cr_assert_str_eq(c.host, "0.0.0.0");
    cr_assert_str_eq(tt_tier_set_name(c.tiers), "full");
    cr_assert_str_eq(tt_tier_set_name(TT_TIERS_BASIC), "basic");
    cr_assert_str_eq(tt_tier_set_name(TT_TIERS_ENTERPRISE), "enterprise");
}

Test(config, environment_overrides_defaults)
{
    tt_config c;

    setenv("DATABASE_URL", "postgresql://tt:secret@db:5432/tunetrail", 1);
    setenv("REDIS_URL", "redis://cache:6379/2", 1);
    setenv("MODEL_TIER", "Enterprise", 1);
    setenv("MODEL_DIR", "/srv/models", 1);
    setenv("ENABLE_GPU", "true", 1);
    setenv("PORT", "9090", 1);
    setenv("HOST", "127.0.0.1", 1);
    c = load_ok();
    cr_assert_str_eq(c.database_url, "postgresql://tt:secret@db:5432/tunetrail");
    cr_assert_str_eq(c.redis_url, "redis://cache:6379/2");
    cr_assert_eq(c.tiers, TT_TIERS_ENTERPRISE, "tier names are case-insensitive");
    cr_assert_str_eq(c.model_dir, "/srv/models");
    cr_assert(c.enable_gpu);
    cr_assert_eq(c.port, 9090);
    cr_assert_str_eq(c.host, "127.0.0.1");
}

Test(config, accepted_spellings)
{
    const char *yes[] = {"true", "TRUE", "1", "yes"}, *no[] = {"false", "0", "no", ""};

    for (size_t i = 0; i < 4; i++) {
        setenv("ENABLE_GPU", yes[i], 1);
        cr_assert(load_ok().enable_gpu, "ENABLE_GPU=%s", yes[i]);
        setenv("ENABLE_GPU", no[i], 1);
        cr_assert(!load_ok().enable_gpu, "ENABLE_GPU=%s", no[i]);
    }
    setenv("MODEL_TIER", "basic", 1);
    cr_assert_eq(load_ok().tiers, TT_TIERS_BASIC);
    setenv("DATABASE_URL", "sqlite:///tmp/x.db", 1);
    cr_assert_str_eq(load_ok().database_url, "sqlite:///tmp/x.db");
    setenv("DATABASE_URL", "postgres://u@h/db", 1);
    cr_assert_str_eq(load_ok().database_url, "postgres://u@h/db");
    setenv("REDIS_URL", "", 1);
    cr_assert_str_eq(load_ok().redis_url, "", "empty selects the in-process cache");
    setenv("REDIS_URL", "unix:///run/redis.sock", 1);
    cr_assert_str_eq(load_ok().redis_url, "unix:///run/redis.sock");
    setenv("PORT", "1", 1);
    cr_assert_eq(load_ok().port, 1);
    setenv("PORT", "65535", 1);
    cr_assert_eq(load_ok().port, 65535);
}

/*
 * Loads with @var=@value (everything else unset) and expects TT_ECONFIG naming @var, with
 * @accepted in the message.
 */
static void expect_invalid(const char *var, const char *value, const char *accepted)
{
    tt_config c;
    tt_err err = {0};

    clean_env();
    setenv(var, value, 1);
    cr_assert_eq(tt_config_load_env(&c, &err), TT_ECONFIG, "%s='%s' accepted", var, value);
    cr_assert_eq(err.code, TT_ECONFIG);
    cr_assert_str_eq(err.field, var, "%s='%s': field is '%s'", var, value, err.field);
    cr_assert_not_null(strstr(err.message, var), "message '%s' lacks %s", err.message, var);
    cr_assert_not_null(strstr(err.message, accepted), "message '%s' lacks '%s'", err.message,
                       accepted);
}

Test(config, invalid_values_name_the_variable_and_what_is_accepted)
{
    expect_invalid("MODEL_TIER", "premium", "basic, full, enterprise");
    expect_invalid("MODEL_TIER", "", "basic, full, enterprise");
    expect_invalid("PORT", "0", "1..65535");
    expect_invalid("PORT", "65536", "1..65535");
    expect_invalid("PORT", "80a", "1..65535");
    expect_invalid("PORT", "", "1..65535");
    expect_invalid("PORT", "-1", "1..65535");
    expect_invalid("PORT", "99999999999999999999", "1..65535");
    expect_invalid("DATABASE_URL", "mysql://db/tt", "sqlite:///");
    expect_invalid("DATABASE_URL", "mysql://db/tt", "postgresql://");
    expect_invalid("DATABASE_URL", "", "sqlite:///");
    expect_invalid("DATABASE_URL", "./var/tunetrail.db", "postgresql://");
    expect_invalid("ENABLE_GPU", "maybe", "true or false");
    expect_invalid("ENABLE_GPU", "2", "true or false");
    expect_invalid("REDIS_URL", "http://cache", "redis://");
    expect_invalid("MODEL_DIR", "", "directory");
    expect_invalid("HOST", "", "host name");
}

Test(config, with_several_invalid_variables_one_is_reported_whole)
{
    tt_config c;
    tt_err err = {0};

    setenv("PORT", "x", 1);
    setenv("MODEL_TIER", "nope", 1);
    cr_assert_eq(tt_config_load_env(&c, &err), TT_ECONFIG);
    cr_assert(strcmp(err.field, "PORT") == 0 || strcmp(err.field, "MODEL_TIER") == 0, "field '%s'",
              err.field);
    /* Field and message describe the same variable (the first error wins). */
    cr_assert_not_null(strstr(err.message, err.field), "message '%s'", err.message);
    cr_assert_not_null(strstr(err.message, strcmp(err.field, "PORT") == 0 ? "'x'" : "'nope'"));
}

Test(config, overlong_values_are_refused)
{
    char big[2048];

    memset(big, 'd', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "sqlite:///", 10);
    expect_invalid("DATABASE_URL", big, "longer than");
    memset(big, 'h', 300);
    big[300] = '\0';
    expect_invalid("HOST", big, "longer than");
}

static int apply(tt_config *c, const char *flag, const char *value, tt_err *err)
{
    return tt_config_apply_flag(c, flag, value, err);
}

Test(config, flags_override_the_environment)
{
    tt_config c;

    setenv("PORT", "9000", 1);
    setenv("MODEL_TIER", "basic", 1);
    setenv("DATABASE_URL", "sqlite:///env.db", 1);
    setenv("ENABLE_GPU", "true", 1);
    c = load_ok();
    cr_assert_eq(apply(&c, "--port", "7000", NULL), 1);
    cr_assert_eq(apply(&c, "--model-tier", "enterprise", NULL), 1);
    cr_assert_eq(apply(&c, "--database-url", "postgresql://h/db", NULL), 1);
    cr_assert_eq(apply(&c, "--enable-gpu", "false", NULL), 1);
    cr_assert_eq(apply(&c, "--model-dir", "/m", NULL), 1);
    cr_assert_eq(apply(&c, "--host", "::1", NULL), 1);
    cr_assert_eq(apply(&c, "--redis-url", "redis://r", NULL), 1);
    cr_assert_eq(c.port, 7000);
    cr_assert_eq(c.tiers, TT_TIERS_ENTERPRISE);
    cr_assert_str_eq(c.database_url, "postgresql://h/db");
    cr_assert(!c.enable_gpu);
    cr_assert_str_eq(c.model_dir, "/m");
    cr_assert_str_eq(c.host, "::1");
    cr_assert_str_eq(c.redis_url, "redis://r");
}

Test(config, invalid_flags_name_the_flag)
{
    tt_config c = load_ok();
    tt_err err = {0};

    cr_assert_eq(apply(&c, "--port", "http", &err), TT_ECONFIG);
    cr_assert_str_eq(err.field, "--port");
    cr_assert_not_null(strstr(err.message, "1..65535"));
    cr_assert_eq(c.port, 8001, "a refused flag changes nothing");
    tt_err_clear(&err);
    cr_assert_eq(apply(&c, "--model-tier", "gold", &err), TT_ECONFIG);
    cr_assert_str_eq(err.field, "--model-tier");
    cr_assert_not_null(strstr(err.message, "basic, full, enterprise"));
    cr_assert_eq(c.tiers, TT_TIERS_FULL);
    tt_err_clear(&err);
    cr_assert_eq(apply(&c, "--database-url", "oracle://x", &err), TT_ECONFIG);
    cr_assert_str_eq(err.field, "--database-url");
    cr_assert_str_eq(c.database_url, "sqlite:///./var/tunetrail.db");
}

Test(config, other_flags_are_not_global)
{
    tt_config c = load_ok();

    cr_assert_eq(apply(&c, "--k", "10", NULL), 0);
    cr_assert_eq(apply(&c, "--model", "als", NULL), 0);
    cr_assert_eq(apply(&c, "port", "10", NULL), 0);
    cr_assert_eq(apply(&c, "--PORT", "10", NULL), 0);
    cr_assert_eq(c.port, 8001);
}

Test(config, admin_token_and_loopback)
{
    static const char *const bad[] = {"short-token", "a token with spaces ok", "tab\tin-the-token-xx"};
    char longest[300];
    tt_config c = load_ok();
    tt_err err = {0};

    cr_expect_str_empty(c.admin_token, "no token by default");
    cr_expect_not(c.admin_allow_loopback, "loopback is not let in by default");
    setenv("ADMIN_TOKEN", "0123456789abcdef", 1);
    setenv("ADMIN_ALLOW_LOOPBACK", "true", 1);
    c = load_ok();
    cr_expect_str_eq(c.admin_token, "0123456789abcdef");
    cr_expect(c.admin_allow_loopback);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("ADMIN_TOKEN", bad[i], 1);
        err = (tt_err){0};
        cr_expect_eq(tt_config_load_env(&c, &err), TT_ECONFIG, "%s accepted", bad[i]);
        cr_expect_str_eq(err.field, "ADMIN_TOKEN");
        cr_expect_null(strstr(err.message, bad[i]), "the message repeats the token: %s",
                       err.message);
    }
    memset(longest, 'k', 256);
    longest[256] = '\0';
    setenv("ADMIN_TOKEN", longest, 1);
    err = (tt_err){0};
    cr_expect_eq(tt_config_load_env(&c, &err), TT_ECONFIG, "a 256-byte token accepted");
    longest[255] = '\0';
    setenv("ADMIN_TOKEN", longest, 1);
    cr_expect_str_eq(load_ok().admin_token, longest, "a 255-byte token");
    /* The token is read from the environment only: a flag would show in `ps`. */
    cr_expect_eq(tt_config_apply_flag(&c, "--admin-token", "0123456789abcdef", NULL), 0);
    cr_expect_eq(tt_config_apply_flag(&c, "--admin-allow-loopback", "false", NULL), 1);
    cr_expect_not(c.admin_allow_loopback);
}

/* The training pipeline's and the rate limit's settings: defaults, values, refusals. */
Test(config, pipeline_and_rate_limit)
{
    static const struct {
        const char *var, *value, *accepted;
    } bad[] = {
        {"TRAIN_SCHEDULE_FREE", "0 25 * * *", "cron expression"},
        {"TRAIN_SCHEDULE_PRO", "every day", "cron expression"},
        {"MODEL_KEEP_VERSIONS", "0", "1..1000"},
        {"PROMOTE_MARGIN", "1.5", "0..1"},
        {"MODEL_POLL_SECONDS", "-1", "0..86400"},
        {"JOB_NICE", "20", "0..19"},
        {"RATE_LIMIT", "fast", "requests per second"},
        {"RATE_BURST", "-3", "0..1000000"},
        {"FEEDBACK_POLL_MS", "60001", "0..60000"},
    };
    tt_config c = load_ok();
    tt_err err = {0};

    cr_assert_str_eq(c.schedule[0], "0 4 * * *");
    cr_assert_str_eq(c.schedule[1], "0 5 * * *");
    cr_assert_str_eq(c.schedule[2], "0 7 * * *");
    cr_assert_eq(c.keep_versions, 5);
    cr_assert_float_eq(c.promote_margin, 0.05, 1e-12);
    cr_assert_eq(c.poll_seconds, 10);
    cr_assert_eq(c.job_threads, 1);
    cr_assert_eq(c.job_nice, 10);
    cr_assert_float_eq(c.rate_limit, 0.0, 0.0, "rate limiting is off by default");
    cr_assert_eq(c.feedback_poll_ms, 100, "replicas read each other's feedback every 100 ms");
    setenv("TRAIN_SCHEDULE_STARTER", "off", 1);
    setenv("TRAIN_SCHEDULE_PRO", "@daily", 1);
    setenv("RATE_LIMIT", "12.5", 1);
    setenv("RATE_BURST", "40", 1);
    c = load_ok();
    cr_assert_str_eq(c.schedule[1], "off");
    cr_assert_str_eq(c.schedule[2], "@daily");
    cr_assert_float_eq(c.rate_limit, 12.5, 1e-12);
    cr_assert_eq(c.rate_burst, 40);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        clean_env();
        setenv(bad[i].var, bad[i].value, 1);
        tt_err_clear(&err);
        cr_expect_eq(tt_config_load_env(&c, &err), TT_ECONFIG, "%s=%s", bad[i].var, bad[i].value);
        cr_expect_str_eq(err.field, bad[i].var);
        cr_expect(strstr(err.message, bad[i].accepted) != NULL, "%s: %s", bad[i].var, err.message);
    }
}

Test(config, flags_are_listed_with_their_variables)
{
    const char *env = NULL;
    tt_config c;
    tt_err err = {0};
    int n = 0;

    cr_assert_str_eq(tt_config_flag(0, &env), "--database-url");
    cr_expect_str_eq(env, "DATABASE_URL");
    for (; tt_config_flag(n, &env); n++) {
        /* Every listed flag is one tt_config_apply_flag knows. */
        cr_expect_eq(tt_config_load_env(&c, &err), 0);
        cr_expect_neq(tt_config_apply_flag(&c, tt_config_flag(n, NULL), "x", &err), 0,
                      "%s", tt_config_flag(n, NULL));
        cr_expect_neq(strcmp(env, "ADMIN_TOKEN"), 0, "the token has no flag");
    }
    cr_expect_geq(n, 10);
    cr_expect_null(tt_config_flag(n, NULL));
}

Test(config, docs_assets_dir)
{
    tt_config c = load_ok();
    tt_err err = {0};
    char *big = malloc(2000);

    cr_assert_str_eq(c.docs_dir, "", "unset: the folder is found next to the executable");
    setenv("DOCS_ASSETS_DIR", "/srv/swagger-ui-dist", 1);
    c = load_ok();
    cr_assert_str_eq(c.docs_dir, "/srv/swagger-ui-dist");
    cr_assert_eq(tt_config_apply_flag(&c, "--docs-assets-dir", "web/ui", &err), 1);
    cr_assert_str_eq(c.docs_dir, "web/ui");
    memset(big, 'd', 1999);
    big[1999] = '\0';
    setenv("DOCS_ASSETS_DIR", big, 1);
    cr_assert_eq(tt_config_load_env(&c, &err), TT_ECONFIG);
    cr_assert_str_eq(err.field, "DOCS_ASSETS_DIR");
    free(big);
}
