/*
 * GET /openapi.json, GET /docs and GET /docs/{file}: the API's description and a page to try
 * it.
 *
 * The OpenAPI document is docs/openapi.json, the one description of the HTTP contract kept in
 * the repository: the Makefile turns it into a C array at build time (scripts/embed-file), so
 * the binary serves exactly the document of its own source, byte for byte, and needs no file
 * at run time. The API tests send its examples to a live server and check each answer against
 * the schema it documents.
 *
 * Swagger UI is not part of the repository: scripts/install-deps installs npm's
 * swagger-ui-dist into web/node_modules/ (git ignores it), and this file serves that folder's
 * files under /docs/. Without them /docs still answers, with a page that says how to install
 * them and links the document. File names are one path segment of letters, digits, '.', '-'
 * and '_' not starting with '.', of a few known kinds: nothing outside the folder can be named.
 */
#include "app.h"
#include "tt/core.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Generated from docs/openapi.json by the Makefile (scripts/embed-file). */
extern const unsigned char tt__openapi_json[];
extern const size_t tt__openapi_json_len;

/* Swagger UI's largest file is about 1.5 MB; anything far beyond is not one of its files. */
#define ASSET_MAX (32 << 20)
#define NAME_MAX_BYTES 128
#define SWAGGER_REL "web/node_modules/swagger-ui-dist"

const char *tt_server_openapi(size_t *len)
{
    if (len)
        *len = tt__openapi_json_len;
    return (const char *)tt__openapi_json;
}

void tt__h_openapi(tt_app *app, json_t *body, tt_reply *out)
{
    (void)app;
    (void)body;
    out->status = 200;
    out->body = tt_malloc(tt__openapi_json_len + 1);
    memcpy(out->body, tt__openapi_json, tt__openapi_json_len + 1);
    out->len = tt__openapi_json_len;
    out->content_type = "application/json";
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

void tt__docs_locate(const tt_config *cfg, char *dir, size_t n)
{
    char exe[PATH_MAX], cand[2][PATH_MAX + 64];
    ssize_t len;
    char *slash;

    if (cfg->docs_dir[0]) {
        snprintf(dir, n, "%s", cfg->docs_dir);
        return;
    }
    /* build/tunetrail and build/asan/tunetrail: the tree is one or two folders up. */
    len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[len > 0 ? len : 0] = '\0';
    slash = strrchr(exe, '/');
    if (!slash) {
        snprintf(dir, n, "%s", SWAGGER_REL);
        return;
    }
    *slash = '\0';
    snprintf(cand[0], sizeof(cand[0]), "%s/../%s", exe, SWAGGER_REL);
    snprintf(cand[1], sizeof(cand[1]), "%s/../../%s", exe, SWAGGER_REL);
    snprintf(dir, n, "%s", is_dir(cand[0]) || !is_dir(cand[1]) ? cand[0] : cand[1]);
}

/* Whether Swagger UI's files are where the engine looks for them. */
static bool swagger_installed(const tt_app *app)
{
    char path[sizeof(app->docs_dir) + 32];
    struct stat st;

    snprintf(path, sizeof(path), "%s/swagger-ui-bundle.js", app->docs_dir);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static const char swagger_page[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\">\n"
    "<head>\n"
    "<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>TuneTrail ML engine: API</title>\n"
    "<link rel=\"icon\" type=\"image/png\" href=\"/docs/favicon-32x32.png\">\n"
    "<link rel=\"stylesheet\" href=\"/docs/swagger-ui.css\">\n"
    "</head>\n"
    "<body>\n"
    "<div id=\"swagger-ui\"></div>\n"
    "<script src=\"/docs/swagger-ui-bundle.js\"></script>\n"
    "<script>\n"
    "window.ui = SwaggerUIBundle({\n"
    "  url: \"/openapi.json\",\n"
    "  dom_id: \"#swagger-ui\",\n"
    "  deepLinking: true,\n"
    "  persistAuthorization: true\n"
    "});\n"
    "</script>\n"
    "</body>\n"
    "</html>\n";

/* @s with the characters HTML gives a meaning escaped, appended to @b. */
static void html_text(tt_jbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            tt__jb_lit(b, "&amp;");
            break;
        case '<':
            tt__jb_lit(b, "&lt;");
            break;
        case '>':
            tt__jb_lit(b, "&gt;");
            break;
        case '"':
            tt__jb_lit(b, "&quot;");
            break;
        default:
            tt__jb_raw(b, s, 1);
        }
    }
}

/* The page served while Swagger UI is not installed: how to install it, and the document. */
static void missing_page(const tt_app *app, tt_jbuf *b)
{
    tt__jb_lit(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                  "<title>TuneTrail ML engine: API</title>\n</head>\n<body>\n"
                  "<h1>TuneTrail ML engine: API</h1>\n"
                  "<p>The API is described by its OpenAPI 3.1 document: "
                  "<a href=\"/openapi.json\">/openapi.json</a>.</p>\n"
                  "<p>Swagger UI, which shows that document here and lets you try each "
                  "endpoint, is not installed on this engine: no <code>swagger-ui-bundle.js"
                  "</code> in <code>");
    html_text(b, app->docs_dir);
    tt__jb_lit(b, "</code>.</p>\n<p>To install it, run <code>scripts/install-deps</code> in "
                  "the engine's source tree (it runs <code>npm install --prefix web</code>, "
                  "which puts npm's <code>swagger-ui-dist</code> in "
                  "<code>web/node_modules/</code>), or point <code>DOCS_ASSETS_DIR</code> at a "
                  "<code>swagger-ui-dist</code> folder and restart the engine. This page "
                  "becomes Swagger UI as soon as the files are there.</p>\n</body>\n</html>\n");
}

static void reply_html(tt_reply *out, tt_jbuf *b)
{
    out->status = 200;
    out->body = b->p;
    out->len = b->n;
    out->content_type = "text/html; charset=utf-8";
}

void tt__h_docs(tt_app *app, json_t *body, tt_reply *out)
{
    tt_jbuf b = {0};

    (void)body;
    if (swagger_installed(app))
        tt__jb_raw(&b, swagger_page, sizeof(swagger_page) - 1);
    else
        missing_page(app, &b);
    reply_html(out, &b);
}

/* The Content-Type of a file Swagger UI loads, by its extension; NULL for any other file. */
static const char *asset_type(const char *name)
{
    static const char *const types[][2] = {
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".html", "text/html; charset=utf-8"},
        {".png", "image/png"},
        {".map", "application/json"},
    };
    const char *dot = strrchr(name, '.');

    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i][0]) == 0)
            return types[i][1];
    return NULL;
}

/* One segment, [A-Za-z0-9._-], not starting with '.': it names a file of the folder only. */
static bool safe_name(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > NAME_MAX_BYTES || name[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* Reads the regular file @path (at most ASSET_MAX bytes) into out->body. */
static int read_asset(const char *path, tt_reply *out, tt_err *err)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
    size_t got = 0;

    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR
                   ? tt_err_set_field(err, TT_ENOTFOUND, "file", "no such file")
                   : tt_err_set(err, TT_EIO, "cannot open a file of Swagger UI: %s",
                                strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > ASSET_MAX) {
        rc = tt_err_set_field(err, TT_ENOTFOUND, "file", "no such file");
        goto out;
    }
    out->body = tt_malloc((size_t)st.st_size + 1);
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, out->body + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = tt_err_set(err, TT_EIO, "cannot read a file of Swagger UI: %s",
                            r < 0 ? strerror(errno) : "it shrank while read");
            free(out->body);
            out->body = NULL;
            goto out;
        }
        got += (size_t)r;
    }
    out->len = got;
out:
    close(fd);
    return rc;
}

void tt__h_docs_asset(tt_app *app, json_t *body, tt_reply *out)
{
    const char *name = json_string_value(json_object_get(body, "file"));
    char path[sizeof(app->docs_dir) + NAME_MAX_BYTES + 2];
    const char *type;
    tt_err err = {0};
    int rc;

    /* "/docs/" is the page itself. (No name at all: the path was not UTF-8.) */
    if (name && !name[0]) {
        tt__h_docs(app, body, out);
        return;
    }
    type = name ? asset_type(name) : NULL;
    if (!type || !safe_name(name)) {
        tt__reply_error(out, TT_ENOTFOUND, "file", "no such file of Swagger UI");
        return;
    }
    if (!swagger_installed(app)) {
        tt__reply_error(out, TT_ENOTFOUND, "file",
                        "Swagger UI is not installed on this engine (see /docs)");
        return;
    }
    snprintf(path, sizeof(path), "%s/%s", app->docs_dir, name);
    rc = read_asset(path, out, &err);
    if (rc < 0) {
        tt__reply_err(out, rc, &err);
        return;
    }
    out->status = 200;
    out->content_type = type;
}
