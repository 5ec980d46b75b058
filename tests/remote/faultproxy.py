"""A fault-injecting HTTP/1.1 proxy for the remote tests, in front of a real
server (nginx, moto) on loopback.

    faultproxy.py --port PORT --upstream HOST:PORT

Clients keep their connections alive; each request goes to the upstream on a
connection of its own (Connection: close), and its response comes back as
the upstream sent it, streamed as it arrives, unless a fault applies. Control, on the same port:

    POST /__proxy/config  {"latency": S, "faults": ["503", ...], "always": F}
        faults: one per coming request, in order; always: a fault for every
        request until set again (null: none). Kinds:
          503       a 503 SlowDown (S3's XML body), upstream not asked
          reset     the headers and half the body, then a TCP reset
          short     the headers and half the body, then a clean close
          stall     nothing for 6 s, then a close
          badrange  the body with a Content-Range moved by one byte
          replace   other bytes and another ETag (as if the object were
                    replaced and the server ignored If-Match)
    GET  /__proxy/stats   {"connections": N, "requests": N, "max_inflight": N,
                           "inflight": N (requests being answered now),
                           "bytes_sent": N (body bytes sent to clients),
                           "log": [{"method", "path", "headers", "status",
                                    "fault", "sent", "t0", "t1"}, ...]}
        t0, t1: when the request arrived and its answer ended (the proxy's
        monotonic clock; t1 null while it is answered)
        sent: the body bytes the client's socket took, as they go (a
        client that closes early has been sent less than its range asked);
        status: an answer cut off by the client keeps the one it started with
    POST /__proxy/reset   zeroes the counters and the log

Every loop is bounded: it serves until killed, one thread per connection.
"""

import argparse
import json
import socket
import socketserver
import struct
import threading
import time

LOCK = threading.Lock()
STATE = {"latency": 0.0, "faults": [], "always": None}
STATS = {"connections": 0, "requests": 0, "inflight": 0, "max_inflight": 0, "bytes_sent": 0,
         "log": []}
UPSTREAM = ("127.0.0.1", 0)

SLOWDOWN = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>"
            b"<Message>Please reduce your request rate.</Message></Error>")


def read_head(f):
    """The request or response head (bytes up to the blank line), or None."""
    lines = []
    while True:
        line = f.readline(65537)
        if not line:
            return None
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            return b"".join(lines)
        if len(lines) > 200:
            return None


def parse_headers(head):
    first, *rest = head.split(b"\r\n")
    hdrs = {}
    for line in rest:
        if b":" in line:
            k, v = line.split(b":", 1)
            hdrs[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
    return first.decode("latin-1"), hdrs


def read_body(f, hdrs):
    n = int(hdrs.get("content-length", "0") or 0)
    return f.read(n) if n else b""


def reply(sock, status, body, ctype="application/json", extra=""):
    head = (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            f"{extra}\r\n").encode()
    sock.sendall(head + body)


def control(sock, method, path, body):
    with LOCK:
        if path == "/__proxy/config" and method == "POST":
            cfg = json.loads(body or b"{}")
            STATE["latency"] = float(cfg.get("latency", 0.0))
            STATE["faults"] = list(cfg.get("faults", []))
            STATE["always"] = cfg.get("always")
            out = b"{}"
        elif path == "/__proxy/reset" and method == "POST":
            STATS.update(connections=0, requests=0, max_inflight=STATS["inflight"], bytes_sent=0,
                         log=[])
            out = b"{}"
        elif path == "/__proxy/stats":
            out = json.dumps(STATS).encode()
        else:
            out = None
    if out is None:
        reply(sock, "404 Not Found", b"{}")
    else:
        reply(sock, "200 OK", out)


def upstream(head, body):
    """Sends the request upstream on a new connection; returns the socket, the
    response head (up to and without the blank line's CRLF), its status line
    and headers, and the body bytes read with the head."""
    first, _ = parse_headers(head)
    lines = [ln for ln in head.split(b"\r\n")[1:] if ln and
             not ln.lower().startswith(b"connection:")]
    req = first.encode("latin-1") + b"\r\n" + b"\r\n".join(lines) + b"\r\nConnection: close\r\n\r\n"
    u = socket.create_connection(UPSTREAM, timeout=30)
    try:
        u.sendall(req + body)
        got = b""
        while b"\r\n\r\n" not in got:
            c = u.recv(1 << 16)
            if not c:
                raise OSError("the upstream closed before its response head")
            got += c
            if len(got) > 1 << 20:
                raise OSError("the upstream's response head is too long")
    except BaseException:
        u.close()
        raise
    i = got.find(b"\r\n\r\n")
    rhead, rest = got[:i + 2], got[i + 4:]
    status_line, hdrs = parse_headers(rhead + b"\r\n")
    return u, rhead, status_line, hdrs, rest


def stream(u, rest, sock, limit, xor, counted):
    """Passes the upstream's body on as it arrives (never held whole, so a
    large range flows at the pace of both ends): first rest, then the socket
    until it closes or limit bytes went (None: no limit). counted(n) is told
    of every body byte sent. Returns the body bytes sent."""
    buf = bytearray(1 << 18)
    view = memoryview(buf)
    sent = 0

    def send(b):
        nonlocal sent
        if limit is not None:
            b = b[:max(0, limit - sent)]
        if xor:
            b = bytes(x ^ 0x5A for x in b)
        b = memoryview(b)
        while b:   # counted as the socket takes them: a client may go mid-chunk
            n = sock.send(b)
            sent += n
            counted(n)
            b = b[n:]

    send(rest)
    while limit is None or sent < limit:
        n = u.recv_into(buf)
        if not n:
            break
        send(view[:n])
    return sent


def set_header(head, name, value):
    out = []
    for ln in head.split(b"\r\n"):
        if ln.lower().startswith(name.lower().encode() + b":"):
            ln = f"{name}: {value}".encode()
        out.append(ln)
    return b"\r\n".join(out)


def serve_one(sock, head, body, fault, answered, counted):
    """Answers one proxied request; returns (status, keep): keep is False when
    the connection is done. answered(status) is called before the first byte
    of the answer goes out, so that a client that has its bytes finds the
    status logged; counted(n) as body bytes go out."""
    if fault == "503":
        answered(503)
        reply(sock, "503 Slow Down", SLOWDOWN, "application/xml")
        return 503, True
    if fault == "stall":
        # silent for 6 s, or until the client gives up and closes
        sock.settimeout(6)
        try:
            sock.recv(1)
        except OSError:
            pass
        return 0, False
    u, rhead, status_line, hdrs, rest = upstream(head, body)
    with u:
        status = int(status_line.split()[1])
        answered(status)
        length = int(hdrs["content-length"]) if "content-length" in hdrs else None
        if head.startswith(b"HEAD ") or status in (204, 304):
            length = 0   # no body, whatever Content-Length says
        if fault in ("reset", "short") and (length or 0) > 1:
            # keep the upstream's Content-Length: the body is cut short
            sock.sendall(rhead + b"\r\n")
            stream(u, rest, sock, length // 2, False, counted)
            if fault == "reset":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return status, False
        if fault == "badrange" and "content-range" in hdrs:
            unit, rng = hdrs["content-range"].split(" ", 1)
            span, total = rng.split("/")
            a, b = (int(x) for x in span.split("-"))
            if b + 1 < int(total):
                rhead = set_header(rhead, "Content-Range", f"{unit} {a + 1}-{b + 1}/{total}")
        xor = fault == "replace" and status in (200, 206)
        if xor:
            rhead = set_header(rhead, "ETag", '"replaced-object"')
        keep = length is not None
        rhead = set_header(rhead, "Connection", "keep-alive" if keep else "close")
        sock.sendall(rhead + b"\r\n")
        sent = stream(u, rest, sock, length, xor, counted)
        # a body cut short by the upstream ends the connection too
        return status, keep and sent == length


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        # as nginx and S3 do: an answer's head and a short body go out at once,
        # not held back for the ACK of the head (40 ms on Linux's delayed ACK)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = sock.makefile("rb")
        counted = False
        while True:
            head = read_head(f)
            if head is None:
                return
            first, hdrs = parse_headers(head)
            method, path = first.split()[:2]
            body = read_body(f, hdrs)
            if path.startswith("/__proxy/"):
                control(sock, method, path, body)
                continue
            with LOCK:
                if not counted:   # control connections are not counted
                    STATS["connections"] += 1
                    counted = True
                STATS["requests"] += 1
                STATS["inflight"] += 1
                STATS["max_inflight"] = max(STATS["max_inflight"], STATS["inflight"])
                fault = STATE["faults"].pop(0) if STATE["faults"] else STATE["always"]
                latency = STATE["latency"]
                # logged as it arrives; the status as the answer starts
                entry = {"method": method, "path": path, "headers": hdrs, "status": None,
                         "fault": fault, "sent": 0, "t0": time.monotonic(), "t1": None}
                STATS["log"].append(entry)
            def answered(status, entry=entry):
                with LOCK:
                    entry["status"] = status

            def counted(n, entry=entry):
                with LOCK:
                    entry["sent"] += n
                    STATS["bytes_sent"] += n

            status, keep = 0, False
            try:
                if latency:
                    time.sleep(latency)
                status, keep = serve_one(sock, head, body, fault, answered, counted)
            except OSError:
                pass
            finally:
                with LOCK:
                    STATS["inflight"] -= 1
                    entry["status"] = status or entry["status"] or 0
                    entry["t1"] = time.monotonic()
            if not keep:
                return


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    # as nginx's 511: socketserver's 5 drops the SYNs of a client that opens
    # many connections at once, and each dropped one waits out the 1 s SYN
    # retransmission
    request_queue_size = 511


def main():
    global UPSTREAM
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", required=True)
    a = ap.parse_args()
    host, port = a.upstream.rsplit(":", 1)
    UPSTREAM = (host, int(port))
    with Server(("127.0.0.1", a.port), Handler) as srv:
        srv.serve_forever()


if __name__ == "__main__":
    main()
