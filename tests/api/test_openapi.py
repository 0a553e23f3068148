"""docs/openapi.json against the engine that serves it, and Swagger UI at /docs.

- The document is served verbatim at GET /openapi.json.
- Every route of the server's routing table is documented with its method, its admin token
  (security, 401, 403) and its rate limit (429, X-API-Key). The table comes from the binary
  itself (`tunetrail routes --json` prints the very array `serve` matches requests with), not
  from a copy kept here or parsed out of src/http/server.c, so a route added to the server
  and not to the document fails here. The reverse holds too: every documented operation is
  served.
- Every example request of the document is sent to a server on the API test data, and the
  answer must have a documented status (the example's x-expected-status when it names one), a
  documented Content-Type, and a body valid against the documented schema (python3-jsonschema,
  JSON Schema 2020-12, OpenAPI 3.1's dialect). Every example answer in the document must be
  valid against its schema too.
- The request schemas say what the handlers accept: for each documented bound (minimum,
  maximum, lengths, item counts, choices, types, required fields, unknown fields where they
  are refused) a request just past it must be a 400 naming that field, and for numeric bounds
  and item counts the bound itself must not be.
- /docs is Swagger UI over /openapi.json when its files are installed (every file the page
  loads answers with its type), a page that says how to install them otherwise; nothing
  outside the files' folder can be named.
"""
import copy
import json
import os
import subprocess
import urllib.parse
import uuid

import httpx

from harness import (ADMIN_TOKEN, TIMEOUT, Failure, Server, Skip, check, check_error, eq,
                     json_of, log, raw_request, parse_raw_response, short, test)
from test_pipeline import fresh_copy

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOC_PATH = os.path.join(ROOT, "docs", "openapi.json")
SWAGGER_DIR = os.path.join(ROOT, "web", "node_modules", "swagger-ui-dist")
METHODS = ("get", "put", "post", "delete", "patch")

try:
    import jsonschema
except ImportError:  # the checks that need it skip, naming the package
    jsonschema = None


def load_doc():
    with open(DOC_PATH, "rb") as f:
        raw = f.read()
    return raw, json.loads(raw)


def operations(doc):
    """(path, METHOD, operation) of every documented operation, in document order."""
    for path, item in doc["paths"].items():
        for m in METHODS:
            if m in item:
                yield path, m.upper(), item[m]


def served_routes(ctx):
    """The server's routing table, as the binary prints it."""
    out = subprocess.run([ctx.tt, "routes", "--json"], capture_output=True, timeout=30,
                         check=False)
    check(out.returncode == 0, f"tunetrail routes --json exited {out.returncode}: "
                               f"{short(out.stderr.decode(errors='replace'))}")
    routes = json.loads(out.stdout)
    check(isinstance(routes, list) and routes, "tunetrail routes --json printed no routes")
    return routes


# ---------------------------------------------------------------------------------------
# Schemas: $refs inlined, then JSON Schema 2020-12
# ---------------------------------------------------------------------------------------


def resolve(doc, node):
    """@node with every local $ref replaced by a copy of its target (the document has no
    recursive schemas), so a plain validator needs no resolver, whatever jsonschema's
    version."""
    if isinstance(node, list):
        return [resolve(doc, x) for x in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = doc
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        merged = dict(resolve(doc, target))
        merged.update({k: resolve(doc, v) for k, v in node.items() if k != "$ref"})
        return merged
    return {k: resolve(doc, v) for k, v in node.items()}


def need_jsonschema():
    if jsonschema is None:
        raise Skip("python3-jsonschema is not installed (scripts/install-deps installs it)")


def schema_errors(schema, instance):
    v = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}"
            for e in sorted(v.iter_errors(instance), key=lambda e: list(e.absolute_path))]


def media_type(header):
    return header.split(";")[0].strip().lower() if header else ""


def check_answer(doc, op, what, r, expected=None):
    """@r must have a status @op documents (@expected when given), a documented media type,
    and a body valid against the documented schema."""
    status = str(r.status_code)
    responses = op["responses"]
    check(status in responses, f"{what}: status {status} is not documented (documented: "
                               f"{', '.join(responses)}): {short(r.text)}")
    if expected is not None:
        check(r.status_code == expected, f"{what}: status {status}, the document says "
                                         f"{expected}: {short(r.text)}")
    resp = resolve(doc, responses[status])
    content = resp.get("content")
    if not content:
        return
    got = media_type(r.headers.get("content-type"))
    types = {media_type(t): t for t in content}
    check(got in types, f"{what}: Content-Type {r.headers.get('content-type')!r}, documented: "
                        f"{', '.join(content)}")
    for name, h in resp.get("headers", {}).items():
        if name == "Retry-After" and status == "429":
            check(r.headers.get(name, "").isdigit(), f"{what}: 429 without Retry-After")
        if name == "WWW-Authenticate":
            check(name.lower() in {k.lower() for k in r.headers}, f"{what}: 401 without "
                                                                  f"WWW-Authenticate")
    if got != "application/json":
        return
    body = json_of(r, what)
    errs = schema_errors(content[types[got]]["schema"], body)
    check(not errs, f"{what}: the answer does not match the documented schema: "
                    f"{'; '.join(errs[:4])}; body {short(r.text, 400)}")


# ---------------------------------------------------------------------------------------
# Requests from the document
# ---------------------------------------------------------------------------------------


def named_examples(node):
    """(name, example object) of @node's `examples` (or its single `example`)."""
    if "examples" in node:
        return list(node["examples"].items())
    if "example" in node:
        return [("example", {"value": node["example"]})]
    return []


def fill_path(path, values):
    for name, v in values.items():
        path = path.replace("{" + name + "}", urllib.parse.quote(str(v), safe=""))
    return path


def example_requests(path, method, op):
    """The requests the document's examples make: each body example (with the first example
    of each path parameter), then each further path parameter example (with the first body
    example). Yields (label, url, body or None, expected status or None)."""
    params = [p for p in op.get("parameters", []) if p.get("in") == "path"]
    firsts = {}
    for p in params:
        ex = named_examples(p)
        check(ex, f"{method} {path}: path parameter {p['name']} has no example")
        firsts[p["name"]] = ex[0][1]
    body = op.get("requestBody", {}).get("content", {}).get("application/json")
    bodies = named_examples(body) if body else []
    base_status = next((e.get("x-expected-status") for e in firsts.values()
                        if e.get("x-expected-status")), None)
    url = fill_path(path, {n: e["value"] for n, e in firsts.items()})
    if bodies:
        for name, e in bodies:
            yield name, url, e["value"], e.get("x-expected-status", base_status)
    else:
        yield "(no body)", url, None, base_status
    for p in params:
        for name, e in named_examples(p)[1:]:
            values = {n: x["value"] for n, x in firsts.items()}
            values[p["name"]] = e["value"]
            yield (f"{p['name']}={name}", fill_path(path, values),
                   bodies[0][1]["value"] if bodies else None, e.get("x-expected-status"))


def send(srv, method, url, body, headers=None):
    h = {"X-API-Key": "openapi-" + uuid.uuid4().hex}  # a bucket of its own under RATE_LIMIT
    h.update(headers or {})
    if body is None:
        return srv.http.request(method, url, headers=h)
    return srv.http.request(method, url, headers=h, content=json.dumps(body).encode())


class ExamplesServer:
    """A server of its own on a fresh copy of the data (the examples train, publish, reload
    and store feedback), rate limited so that 429 can be checked: each request brings an
    X-API-Key of its own, so only the requests meant to share a bucket do."""

    def __init__(self, ctx, extra_env=None):
        db, models, d = fresh_copy(ctx, "openapi")
        env = {"RATE_LIMIT": "0.01", "RATE_BURST": "1"}
        env.update(extra_env or {})
        self.srv = Server(ctx.tt, "openapi", db, models, d, extra_env=env)

    def __enter__(self):
        self.srv.__enter__()
        self.srv.http.headers["Content-Type"] = "application/json"
        return self.srv

    def __exit__(self, kind, exc, tb):
        return self.srv.__exit__(kind, exc, tb)


def served_set(ctx):
    return {(r["method"], r["path"]) for r in served_routes(ctx)}


# ---------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------


@test()
def openapi_served_verbatim(ctx):
    raw, doc = load_doc()
    r = ctx.srv.get("/openapi.json")
    eq(r.status_code, 200, "GET /openapi.json status")
    eq(media_type(r.headers.get("content-type")), "application/json", "Content-Type")
    check(r.content == raw, f"GET /openapi.json is not docs/openapi.json byte for byte "
                            f"({len(r.content)} vs {len(raw)} bytes): rebuild the engine")
    eq(doc.get("openapi"), "3.1.0", "openapi version")
    eq(doc.get("servers"), [{"url": "/", "description": doc["servers"][0].get("description")}],
       "servers (relative, so Try it out calls the engine serving the page)")


@test(server="own")
def openapi_documents_every_route(ctx):
    _, doc = load_doc()
    documented = {(m, p): op for p, m, op in operations(doc)}
    routes = served_routes(ctx)
    missing = [f"{r['method']} {r['path']}" for r in routes
               if (r["method"], r["path"]) not in documented]
    check(not missing, f"routes of the server missing from docs/openapi.json: {missing}")
    for r in routes:
        what = f"{r['method']} {r['path']}"
        op = documented[(r["method"], r["path"])]
        codes = set(op["responses"])
        names = {s for req in op.get("security", []) for s in req}
        if r["admin"]:
            check(names == {"adminToken"}, f"{what}: admin route without security adminToken")
            check({"401", "403"} <= codes, f"{what}: admin route without 401 and 403")
        else:
            eq(op.get("security"), [], f"{what}: security of a route open to all")
        headers = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
        if r["rate_limited"]:
            check("429" in codes, f"{what}: rate-limited route without 429")
            check("X-API-Key" in headers, f"{what}: rate-limited route without X-API-Key")
        else:
            check("429" not in codes, f"{what}: documents 429 but is not rate limited")
        for p in op.get("parameters", []):
            if p["in"] == "path":
                check("{" + p["name"] + "}" in r["path"], f"{what}: parameter {p['name']}")
    served = {(r["method"], r["path"]) for r in routes}
    extra = sorted(set(documented) - served)
    check(not extra, f"documented but not served: {extra}")
    ids = [op["operationId"] for _, _, op in operations(doc)]
    eq(len(ids), len(set(ids)), "operationIds are unique")


@test(server="own")
def openapi_examples_match_their_schemas(ctx):
    """Every example in the document, requests and answers, is valid against its schema."""
    need_jsonschema()
    _, doc = load_doc()
    bad = []
    for path, method, op in operations(doc):
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        if body:
            schema = resolve(doc, body["schema"])
            for name, e in named_examples(body):
                bad += [f"{method} {path} request {name}: {x}"
                        for x in schema_errors(schema, e["value"])]
        for status, resp in op["responses"].items():
            resp = resolve(doc, resp)
            for mt, c in resp.get("content", {}).items():
                if media_type(mt) != "application/json":
                    continue
                for name, e in named_examples(c):
                    bad += [f"{method} {path} {status} {name}: {x}"
                            for x in schema_errors(c["schema"], e["value"])]
    check(not bad, f"{len(bad)} examples do not match their schemas: {'; '.join(bad[:5])}")


@test(server="own")
def openapi_examples_answer_as_documented(ctx):
    """Every example request, sent to a server on the API test data (a fresh copy), gets an
    answer the document describes; the admin token rides along (the harness's client)."""
    need_jsonschema()
    _, doc = load_doc()
    served = served_set(ctx)
    sent = 0
    with ExamplesServer(ctx) as srv:
        for path, method, op in operations(doc):
            if (method, path) not in served:
                log(f"note: {method} {path} is not served yet: its examples were not sent")
                continue
            for label, url, body, expected in example_requests(path, method, op):
                r = send(srv, method, url, body)
                check_answer(doc, op, f"{method} {url} [{label}]", r, expected)
                sent += 1
    log(f"     {sent} example requests sent")
    check(sent >= 40, f"only {sent} example requests were sent")


def bad_type_value(schema):
    """A JSON value of a type @schema does not allow, or None."""
    allowed = set()
    for s in [schema] + schema.get("oneOf", []) + schema.get("anyOf", []):
        t = s.get("type")
        allowed |= set(t if isinstance(t, list) else [t] if t else [])
    if not allowed:
        return None
    if "number" in allowed:
        allowed.add("integer")
    for value, t in (("x", "string"), (7, "integer"), (True, "boolean"), ([], "array"),
                     ({}, "object")):
        if t not in allowed:
            return value
    return None


def refused(schema, name):
    """(what, value) pairs just past each documented bound of property @name."""
    out = []
    t = schema.get("type")
    types = set(t if isinstance(t, list) else [t] if t else [])
    v = bad_type_value(schema)
    if v is not None:
        out.append(("a value of another type", v))
    if "minimum" in schema:
        out.append(("below its minimum", schema["minimum"] - 1))
    if "exclusiveMinimum" in schema:
        out.append(("at its exclusive minimum", schema["exclusiveMinimum"]))
    if "maximum" in schema:
        out.append(("above its maximum", schema["maximum"] + 1))
    if "string" in types:
        if "maxLength" in schema:
            out.append(("longer than maxLength", "a" * (schema["maxLength"] + 1)))
        if schema.get("minLength", 0) >= 1:
            out.append(("empty", ""))
        if "enum" in schema:
            out.append(("not one of its choices", "zz-not-a-choice"))
        if "pattern" in schema:
            out.append(("not matching its pattern", "Not A Name!"))
    if "array" in types:
        items = schema.get("items", {})
        if "maxItems" in schema:
            out.append(("more items than maxItems", ["a"] * (schema["maxItems"] + 1)))
        if items.get("maxLength"):
            out.append(("an item longer than maxLength", ["a" * (items["maxLength"] + 1)]))
        if items.get("minLength", 0) >= 1:
            out.append(("an empty item", [""]))
    return out


def accepted(schema):
    """(what, value) pairs at each numeric bound and item count of a property."""
    out = []
    if "minimum" in schema:
        out.append(("its minimum", schema["minimum"]))
    if "maximum" in schema:
        out.append(("its maximum", schema["maximum"]))
    t = schema.get("type")
    if "array" in (t if isinstance(t, list) else [t]) and "maxItems" in schema:
        out.append(("maxItems items", [f"t{i:07d}" for i in range(schema["maxItems"])]))
    return out


def base_example(op):
    """The request example to probe from: the first the document says is answered 2xx, else
    the first refused after validation (a 403 or 404: promote a version the data lacks)."""
    body = op.get("requestBody", {}).get("content", {}).get("application/json")
    examples = [e for _, e in named_examples(body)] if body else []
    for e in examples:
        if 200 <= (e.get("x-expected-status") or 0) < 300:
            return e["value"]
    for e in examples:
        if e.get("x-expected-status") in (403, 404):
            return e["value"]
    return None


@test(server="own")
def openapi_request_bounds_are_the_engines(ctx):
    """The documented bounds of each request field, probed on a copy of the data: just past a
    bound is 400 invalid_argument naming the field; numeric bounds and full item counts are
    accepted (admin endpoints, whose valid requests change models, are only probed past
    their bounds: those are refused before anything happens)."""
    need_jsonschema()
    _, doc = load_doc()
    served = served_set(ctx)
    probes = 0
    with ExamplesServer(ctx) as srv:
        for path, method, op in operations(doc):
            base = base_example(op)
            if base is None or (method, path) not in served:
                continue
            url = next(example_requests(path, method, op))[1]
            schema = resolve(doc, op["requestBody"]["content"]["application/json"]["schema"])
            admin = bool(op.get("security"))
            cases = []
            for name in schema.get("required", []):
                body = copy.deepcopy(base)
                body.pop(name, None)
                cases.append((name, "missing", body))
            for name, prop in schema.get("properties", {}).items():
                for what, value in refused(prop, name):
                    cases.append((name, what, dict(copy.deepcopy(base), **{name: value})))
            if schema.get("additionalProperties") is False:
                cases.append(("zz_unknown", "an unknown field", dict(base, zz_unknown=1)))
            for name, what, body in cases:
                r = send(srv, method, url, body)
                check_error(r, 400, "invalid_argument", name,
                            what=f"{method} {path} with {name} {what}")
                check_answer(doc, op, f"{method} {path} with {name} {what}", r)
                probes += 1
            if admin:
                continue
            for name, prop in schema.get("properties", {}).items():
                for what, value in accepted(prop):
                    r = send(srv, method, url, dict(copy.deepcopy(base), **{name: value}))
                    if r.status_code == 400:
                        e = json_of(r, f"{method} {path}").get("error", {})
                        check(e.get("field") != name,
                              f"{method} {path} with {name} at {what} ({short(value, 40)}) "
                              f"refused: {short(r.text)}")
                    check_answer(doc, op, f"{method} {path} with {name} at {what}", r)
                    probes += 1
    log(f"     {probes} probes sent")
    check(probes >= 60, f"only {probes} probes were sent")


TIERS = ["free", "starter", "pro", "enterprise"]


def tier_cases(op):
    """(what, field at fault, body changes, the tier it needs) of an operation's tier gates:
    x-min-tier (the whole operation, checked on model_tier) and x-tier-gates (a field's
    value)."""
    out = []
    if op.get("x-min-tier"):
        out.append(("the operation", "model_tier", {}, op["x-min-tier"]))
    for field, values in op.get("x-tier-gates", {}).items():
        for value, tier in values.items():
            out.append((f"{field} {value}", field, {field: value}, tier))
    return out


@test()
def openapi_tier_gates_are_the_engines(ctx):
    """Each documented tier gate, on the main server: the tier below is 403 tier_forbidden
    naming the field, the tier itself is not refused for its tier."""
    _, doc = load_doc()
    n = 0
    for path, method, op in operations(doc):
        base = base_example(op)
        if base is None:
            continue
        url = next(example_requests(path, method, op))[1]
        for what, field, change, tier in tier_cases(op):
            below = TIERS[TIERS.index(tier) - 1]
            body = dict(base, **change, model_tier=below)
            r = ctx.srv.http.request(method, url, content=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
            check_error(r, 403, "tier_forbidden", field,
                        what=f"{method} {path}: {what} with model_tier {below}")
            body["model_tier"] = tier
            r = ctx.srv.http.request(method, url, content=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
            check(r.status_code != 403, f"{method} {path}: {what} with model_tier {tier}, the "
                                        f"tier documented for it, is refused: {short(r.text)}")
            n += 1
    check(n >= 9, f"only {n} tier gates documented")


@test()
def openapi_admin_routes_refuse_without_the_token(ctx):
    """Every admin route of the server answers 401 without a token and 403 with a wrong
    one, as the document describes (the main server has no loopback exemption)."""
    need_jsonschema()
    _, doc = load_doc()
    documented = {(m, p): op for p, m, op in operations(doc)}
    n = 0
    for r in served_routes(ctx):
        if not r["admin"]:
            continue
        op = documented[(r["method"], r["path"])]
        url = ctx.srv.base + fill_path(r["path"], {"job_id": "job-x"})
        body = b"{}" if r["method"] == "POST" else None
        h = {"Content-Type": "application/json"}
        ans = httpx.request(r["method"], url, content=body, headers=h, timeout=TIMEOUT)
        check_error(ans, 401, "unauthorized", what=f"{r['method']} {r['path']} without a token")
        check_answer(doc, op, f"{r['method']} {r['path']} without a token", ans, 401)
        h["Authorization"] = "Bearer wrong-token-of-twenty-chars"
        ans = httpx.request(r["method"], url, content=body, headers=h, timeout=TIMEOUT)
        check_error(ans, 403, "forbidden", what=f"{r['method']} {r['path']} with a wrong token")
        check_answer(doc, op, f"{r['method']} {r['path']} with a wrong token", ans, 403)
        n += 1
    check(n >= 7, f"only {n} admin routes")


@test(server="own")
def openapi_rate_limited_routes_answer_429(ctx):
    """Under RATE_LIMIT (one request per bucket here), the second request of one client to
    each rate-limited route is the documented 429 with Retry-After."""
    need_jsonschema()
    _, doc = load_doc()
    documented = {(m, p): op for p, m, op in operations(doc)}
    limited = [r for r in served_routes(ctx) if r["rate_limited"]]
    check(len(limited) >= 5, f"only {len(limited)} rate-limited routes")
    with ExamplesServer(ctx) as srv:
        for r in limited:
            op = documented[(r["method"], r["path"])]
            _, url, body, _ = next(example_requests(r["path"], r["method"], op))
            key = {"X-API-Key": "openapi-429-" + uuid.uuid4().hex}
            send(srv, r["method"], url, body, key)
            ans = send(srv, r["method"], url, body, key)
            check_error(ans, 429, "rate_limited", what=f"{r['method']} {r['path']} twice")
            check_answer(doc, op, f"{r['method']} {r['path']} twice", ans, 429)


def page_assets(html):
    """The /docs/... files a page loads (src and href attributes)."""
    import re
    return sorted(set(re.findall(r'(?:src|href)="(/docs/[^"]+)"', html)))


@test()
def docs_serves_swagger_ui(ctx):
    r = ctx.srv.get("/docs")
    eq(r.status_code, 200, "GET /docs status")
    eq(media_type(r.headers.get("content-type")), "text/html", "GET /docs Content-Type")
    check('"/openapi.json"' in r.text, "the /docs page does not point at /openapi.json")
    if not os.path.isfile(os.path.join(SWAGGER_DIR, "swagger-ui-bundle.js")):
        check("scripts/install-deps" in r.text, "without Swagger UI, /docs must say how to "
                                                "install it")
        raise Skip("Swagger UI is not installed (npm missing?): its files were not checked")
    check("SwaggerUIBundle" in r.text, "the /docs page does not start Swagger UI")
    assets = page_assets(r.text)
    check(len(assets) >= 2, f"the /docs page loads {assets}, expected Swagger UI's files")
    types = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
    for a in assets:
        got = ctx.srv.get(a)
        eq(got.status_code, 200, f"GET {a} status")
        ext = os.path.splitext(a)[1]
        eq(media_type(got.headers.get("content-type")), types[ext], f"GET {a} Content-Type")
        with open(os.path.join(SWAGGER_DIR, os.path.basename(a)), "rb") as f:
            check(got.content == f.read(), f"GET {a} is not the installed file")
    eq(ctx.srv.get("/docs/").text, r.text, "/docs/ is the page too")


@test()
def docs_names_nothing_outside_its_folder(ctx):
    """Path traversal and other names are 404 (sent raw: httpx would normalise them)."""
    import socket
    for path in ("/docs/../openapi.json", "/docs/..%2f..%2fetc%2fpasswd", "/docs/%2e%2e",
                 "/docs/..", "/docs/.hidden.js", "/docs//etc/passwd", "/docs/package.json",
                 "/docs/README.md", "/docs/%2fetc%2fpasswd", "/docs/swagger-ui.css/x",
                 "/docs/%ff.js"):
        with socket.create_connection(("127.0.0.1", ctx.srv.port), timeout=TIMEOUT) as s:
            s.sendall(raw_request("GET", path))
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        status, headers, body = parse_raw_response(data)
        check(status == 404, f"GET {path}: status {status}, expected 404: {short(body)}")
        check(b"root:" not in body, f"GET {path} answered a system file")
        e = json.loads(body)["error"]
        eq(e["code"], "not_found", f"GET {path} error code")


@test(server="own")
def docs_without_swagger_ui_says_how_to_install_it(ctx):
    need_jsonschema()
    _, doc = load_doc()
    db, models, d = fresh_copy(ctx, "nodocs")
    empty = os.path.join(d, "no-swagger-here")
    os.makedirs(empty)
    srv = Server(ctx.tt, "nodocs", db, models, d, extra_env={"DOCS_ASSETS_DIR": empty})
    try:
        srv.start()
        r = srv.get("/docs")
        eq(r.status_code, 200, "GET /docs status")
        check('href="/openapi.json"' in r.text, "the page does not link /openapi.json")
        check("scripts/install-deps" in r.text and "DOCS_ASSETS_DIR" in r.text,
              f"the page does not say how to install Swagger UI: {short(r.text)}")
        check(empty in r.text, "the page does not say where it looked")
        a = srv.get("/docs/swagger-ui.css")
        check_error(a, 404, "not_found", "file", what="GET /docs/swagger-ui.css")
        check_answer(doc, doc["paths"]["/docs/{file}"]["get"], "GET /docs/swagger-ui.css", a,
                     404)
        srv.stop()
    finally:
        srv.kill()


@test(server="empty")
def openapi_answers_without_models_are_documented(ctx):
    """With no model loaded, what the open endpoints answer (503 not_ready, the health
    report's 503, ...) is documented too. Admin endpoints and /feedback are left out: they
    would train or store on this server's data, which other tests read."""
    need_jsonschema()
    _, doc = load_doc()
    served = served_set(ctx)
    statuses = set()
    for path, method, op in operations(doc):
        if op.get("security") or path == "/feedback" or (method, path) not in served:
            continue
        for label, url, body, _ in example_requests(path, method, op):
            r = send(ctx.srv, method, url, body, {"Content-Type": "application/json"})
            check_answer(doc, op, f"{method} {url} [{label}] without models", r)
            statuses.add(r.status_code)
    check(503 in statuses, f"no 503 without models: {sorted(statuses)}")


@test()
def openapi_common_refusals_are_documented(ctx):
    """Any route refuses a body that is not JSON (415), one over 64 KiB (413) and header
    fields over 16 KiB (431), each as its operation documents."""
    need_jsonschema()
    _, doc = load_doc()
    documented = {(m, p): op for p, m, op in operations(doc)}
    for r in served_routes(ctx):
        op = documented[(r["method"], r["path"])]
        url = fill_path(r["path"], {"job_id": "job-x", "user_id": "u0000042",
                                    "file": "swagger-ui.css"})
        what = f"{r['method']} {r['path']}"
        for status, body, headers in (
                (415, b"user_id=1", {"Content-Type": "text/plain"}),
                (413, b"{" + b" " * 70000 + b"}", {"Content-Type": "application/json"}),
                (431, None, {"X-Padding": "p" * 17000})):
            ans = ctx.srv.http.request(r["method"], url, content=body, headers=headers)
            check_answer(doc, op, f"{what} ({status})", ans, status)
