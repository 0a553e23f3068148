"""Requests as data: every folder under tests/api/cases/{invalid,valid}/<name>/ holds

request.json   {"method": "POST", "path": "/recommend/user",
                "headers": {...},          optional; a JSON body defaults to
                                           Content-Type: application/json
                "body": <any JSON>,        sent as compact JSON, or
                "raw_body": "<text>",      sent byte for byte (UTF-8), or
                "raw_body_hex": "<hex>",   for bytes that are not UTF-8
                "repeat": N,               optional: the raw body N times over
                "pad_to": N}               optional: grow a JSON object "body" with an unknown
                                           "_pad" field to exactly N bytes
expected.json  {"status": 400,
                "code": "invalid_argument" | ["one", "of", "these"],   error answers
                "field": "limit",          "" = absent or empty; key absent = not checked
                "headers": {"allow": ["POST"]},   header tokens that must be present
                "equals": {"tier": "free"},       top-level answer fields (success answers)
                "items": 5}                       number of items (success answers)

Strings "$USER" (a user with history) and "$TRACK" (a known track) in a body are
replaced before sending; "$FREE" in expected fields is the free tier's model (/models/info). One test per folder; the generic loop is cases_from_folders().
"""
import json
import os

from harness import check, check_error, check_items, eq, json_of, short

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "cases")


def substitute(value, names):
    if isinstance(value, str):
        return names.get(value, value)
    if isinstance(value, list):
        return [substitute(v, names) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, names) for k, v in value.items()}
    return value


def build_body(req, names):
    if "body" in req:
        body = substitute(req["body"], names)
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        if "pad_to" in req:
            check(isinstance(body, dict), "pad_to needs an object body")
            body["_pad"] = ""
            base = len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())
            body["_pad"] = "p" * (req["pad_to"] - base)
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            eq(len(data), req["pad_to"], "padded body size")
        return data, True
    if "raw_body_hex" in req:
        data = bytes.fromhex(req["raw_body_hex"])
    elif "raw_body" in req:
        data = req["raw_body"].encode("utf-8")
    else:
        return None, False
    return data * req.get("repeat", 1), False


def run_case(ctx, folder):
    with open(os.path.join(folder, "request.json"), encoding="utf-8") as f:
        req = json.load(f)
    with open(os.path.join(folder, "expected.json"), encoding="utf-8") as f:
        exp = json.load(f)
    names = {"$USER": ctx.case_user, "$TRACK": ctx.data.popular_tracks[0],
             "$FREE": ctx.srv.free_model()}
    data, is_json = build_body(req, names)
    headers = dict(req.get("headers", {}))
    if is_json and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/json"
    what = f"{req['method']} {req['path']}"
    r = ctx.srv.http.request(req["method"], req["path"], content=data, headers=headers)
    if "code" in exp:
        check_error(r, exp["status"], exp["code"], exp.get("field"), what=what)
    else:
        eq(r.status_code, exp["status"], f"{what}: status ({short(r.text)})")
    for name, tokens in exp.get("headers", {}).items():
        got = r.headers.get(name, "")
        have = {t.strip().upper() for t in got.split(",")}
        for t in tokens:
            check(t.upper() in have, f"{what}: header {name} {got!r} lacks {t}")
    if "equals" in exp or "items" in exp:
        d = json_of(r, what)
        for k, v in exp.get("equals", {}).items():
            eq(d.get(k), substitute(v, names), f"{what}: field {k}")
        if "items" in exp:
            check_items(d.get("items"), what)
            eq(len(d["items"]), exp["items"], f"{what}: number of items")


def cases_from_folders():
    """(name, folder) for every case folder, invalid first, sorted."""
    out = []
    for kind in ("invalid", "valid"):
        root = os.path.join(CASES, kind)
        if not os.path.isdir(root):
            continue
        for name in sorted(os.listdir(root)):
            folder = os.path.join(root, name)
            if os.path.isfile(os.path.join(folder, "request.json")):
                out.append((f"case {kind}/{name}", folder))
    return out
