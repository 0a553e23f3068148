"""Robustness: stalled clients, many concurrent connections, odd bytes; the server never
crashes, never hangs, and every answer that arrives is well-formed JSON."""
import json
import selectors
import socket
import threading
import time

import httpx

from harness import (TIMEOUT, check, check_error, eq, log, parse_raw_response, raw_request,
                     short, test)


def connect(ctx):
    s = socket.create_connection(("127.0.0.1", ctx.srv.port), timeout=TIMEOUT)
    return s


@test()
def slow_clients_do_not_block_others(ctx):
    stalled = []
    try:
        # Half a body, half the headers, and a bare connection: each stalls forever.
        for i in range(12):
            s = connect(ctx)
            if i % 3 == 0:
                s.sendall(b"POST /recommend/user HTTP/1.1\r\nHost: x\r\nContent-Type: "
                          b"application/json\r\nContent-Length: 100\r\n\r\n{\"user_id\": ")
            elif i % 3 == 1:
                s.sendall(b"POST /recommend/user HTTP/1.1\r\nHost: x\r\nContent-Le")
            stalled.append(s)
        time.sleep(0.2)
        user = ctx.data.take_user()
        for i in range(20):
            t0 = time.monotonic()
            r = ctx.srv.post("/recommend/user", {"user_id": user, "limit": 5 + i})
            eq(r.status_code, 200, f"request {i} while 12 clients stall: {short(r.text)}")
            took = time.monotonic() - t0
            check(took < 2.0, f"request {i} took {took:.2f} s while clients stall")
        eq(ctx.srv.get("/health").status_code, 200, "/health while clients stall")
    finally:
        for s in stalled:
            s.close()
    check(ctx.srv.alive(), "server died")


def many_connections(ctx, n, deadline_s=20.0):
    """Opens @n connections at once, sends a request on each, reads every answer until EOF.
    Returns (answers, dropped) where answers are (status, headers, body)."""
    users = [ctx.data.take_user() for _ in range(4)]
    sel = selectors.DefaultSelector()
    socks, bufs = [], {}
    dropped = []
    for i in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", ctx.srv.port), timeout=TIMEOUT)
        except OSError as e:
            dropped.append(f"connect {i}: {e}")
            continue
        socks.append(s)
        if i % 5 == 4:
            req = raw_request("GET", "/health")
        elif i % 7 == 6:
            req = raw_request("POST", "/recommend/user", b'{"user_id": 5}')
        else:
            body = json.dumps({"user_id": users[i % 4], "limit": 1 + i % 50}).encode()
            req = raw_request("POST", "/recommend/user", body)
        try:
            s.sendall(req)
        except OSError as e:
            dropped.append(f"send {i}: {e}")
            continue
        s.setblocking(False)
        bufs[s] = bytearray()
        sel.register(s, selectors.EVENT_READ)
    answers, deadline = [], time.monotonic() + deadline_s
    while bufs and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError as e:
                chunk, err = b"", e
                dropped.append(f"recv: {err}")
                sel.unregister(s)
                del bufs[s]
                continue
            if chunk:
                bufs[s] += chunk
                continue
            sel.unregister(s)
            data = bytes(bufs.pop(s))
            if not data:
                dropped.append("closed without an answer")
            else:
                answers.append(data)
    hung = len(bufs)
    for s in socks:
        s.close()
    sel.close()
    return answers, dropped, hung


@test()
def concurrent_200_connections(ctx):
    answers, dropped, hung = many_connections(ctx, 200)
    bad = []
    statuses = {}
    for data in answers:
        try:
            status, headers, body = parse_raw_response(data)
            d = json.loads(body)
            if status == 200:
                check(isinstance(d, dict) and ("items" in d or "status" in d), "answer shape")
            else:
                check(isinstance(d.get("error"), dict) and d["error"].get("code"), "error shape")
            statuses[status] = statuses.get(status, 0) + 1
        except Exception as e:  # noqa: BLE001 - any malformed answer is reported
            bad.append(f"{type(e).__name__}: {short(str(e), 80)} in {short(repr(data[:200]), 200)}")
    log(f"     200 connections: {len(answers)} answered {statuses}, {len(dropped)} dropped, "
        f"{hung} without an answer after 20 s")
    check(ctx.srv.alive(), "the server died under 200 concurrent connections")
    check(not bad, f"{len(bad)} malformed answers: {bad[:2]}")
    eq(hung, 0, "connections still waiting for an answer after 20 s")
    check(answers, "no connection got an answer")
    r = ctx.srv.get("/health")
    eq(r.status_code, 200, "/health after 200 concurrent connections")
    unexpected = {s: c for s, c in statuses.items() if s not in (200, 400, 503)}
    check(not unexpected, f"unexpected statuses {unexpected}")


@test()
def keep_alive_many_requests(ctx):
    user = ctx.data.take_user()
    with httpx.Client(base_url=ctx.srv.base, timeout=TIMEOUT) as c:
        for i in range(100):
            if i % 10 == 9:
                r = c.post("/recommend/user", content=b"{broken", headers={
                    "Content-Type": "application/json"})
                check_error(r, 400, "parse_error", what=f"request {i} on one connection")
            else:
                r = c.post("/recommend/user", json={"user_id": user, "limit": 1 + i % 20})
                eq(r.status_code, 200, f"request {i} on one keep-alive connection")


ODD_REQUESTS = {
    "binary garbage": b"\x00\x01\x02\x03garbage\r\n\r\n",
    "no Host header": b"GET / HTTP/1.1\r\n\r\n",
    "negative Content-Length": b"POST /recommend/user HTTP/1.1\r\nHost: x\r\nContent-Type: "
                               b"application/json\r\nContent-Length: -5\r\n\r\n{}",
    "bad chunked encoding": b"POST /recommend/user HTTP/1.1\r\nHost: x\r\nContent-Type: "
                            b"application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n"
                            b"0\r\n\r\n",
    "20 KB URL": b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "300 KB header": b"GET /health HTTP/1.1\r\nHost: x\r\nX-Long: " + b"b" * 300000 + b"\r\n\r\n",
    "HTTP/1.0": b"POST /recommend/user HTTP/1.0\r\nContent-Type: application/json\r\n"
                b"Content-Length: 2\r\n\r\n{}",
    "announced 2 MB body": b"POST /recommend/user HTTP/1.1\r\nHost: x\r\nContent-Type: "
                           b"application/json\r\nContent-Length: 2000000\r\n\r\n{",
}


def send_odd(port, req, out, name):
    got = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
            s.sendall(req)
            s.shutdown(socket.SHUT_WR)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
    except OSError as e:
        out[name] = (got, f"{type(e).__name__}")
        return
    out[name] = (got, None)


@test()
def garbage_and_odd_requests(ctx):
    """Malformed HTTP never kills the server. Answers produced below the application (by
    the HTTP library) are reported as notes when they are not the JSON error shape."""
    out = {}
    threads = [threading.Thread(target=send_odd, args=(ctx.srv.port, req, out, name))
               for name, req in ODD_REQUESTS.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=5)
    check(ctx.srv.alive(), "server died after malformed HTTP requests")
    for name in ODD_REQUESTS:
        got, err = out.get(name, (b"", "no result"))
        if not got:
            log(f"     note: {name}: no answer ({err or 'closed'})")
            continue
        try:
            status, headers, body = parse_raw_response(got)
        except ValueError as e:
            log(f"     note: {name}: unparsable answer ({e}): {short(repr(got[:120]))}")
            continue
        if status >= 400:
            try:
                e = json.loads(body)["error"]
                ok = isinstance(e.get("code"), str)
            except (ValueError, KeyError, TypeError):
                ok = False
            if not ok:
                log(f"     note: {name}: {status} answered without the JSON error shape: "
                    f"{short(repr(body[:80]), 100)}")
    eq(ctx.srv.get("/health").status_code, 200, "/health after malformed HTTP requests")


@test()
def chunked_json_body(ctx):
    """A JSON body sent with Transfer-Encoding: chunked is read whole."""
    user = ctx.data.take_user()

    def gen():
        yield b'{"user_id": '
        yield json.dumps(user).encode()
        yield b', "limit": 7}'

    r = ctx.srv.http.post("/recommend/user", content=gen(),
                          headers={"Content-Type": "application/json"})
    eq(r.status_code, 200, f"chunked body: {short(r.text)}")
    eq(len(r.json()["items"]), 7, "number of items")


@test()
def chunked_body_too_large(ctx):
    """The 65536-byte limit holds for chunked bodies too."""

    def gen():
        yield b'{"user_id": "u", "pad": "'
        for _ in range(20):
            yield b"x" * 10000
        yield b'"}'

    r = ctx.srv.http.post("/recommend/user", content=gen(),
                          headers={"Content-Type": "application/json"})
    check_error(r, 413, "payload_too_large", what="200 KB chunked body")
