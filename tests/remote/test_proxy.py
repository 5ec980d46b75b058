"""The fault proxy itself (the remote tests and the benchmark count on it):
an answer without a fault is streamed on a kept-alive connection, and each
request's log entry counts the body bytes the client was sent, which for a
client that closes early is less than its range asked for."""

import socket
import time

import servers

BIG = 64 << 20


def ask(sock, f, path, rng=None, method="GET"):
    """Sends one request on sock; (status, headers) of its answer, read from f."""
    head = f"{method} /{path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if rng:
        head += f"Range: {rng}\r\n"
    sock.sendall((head + "\r\n").encode())
    status = f.readline().decode()
    hdrs = {}
    while True:
        line = f.readline().decode().strip()
        if not line:
            return int(status.split()[1]), hdrs
        k, v = line.split(":", 1)
        hdrs[k.strip().lower()] = v.strip()


def settled(p):
    for _ in range(400):
        s = p.stats()
        if s["inflight"] == 0:
            return s
        time.sleep(0.025)
    raise AssertionError(f"requests still in flight: {s}")


def test_sent_bytes_streamed_and_cut_short(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    with open(d / "big.bin", "wb") as fh:
        fh.truncate(BIG)
    (d / "small.bin").write_bytes(b"0123456789" * 1000)
    ng = servers.Nginx(d, tmp_path / "nginx")
    p = None
    try:
        p = servers.Proxy(ng.http_port, tmp_path)
        # whole answers, two on one connection: each counted exactly
        with socket.create_connection(("127.0.0.1", p.port)) as s:
            f = s.makefile("rb")
            st, h = ask(s, f, "small.bin", "bytes=100-4099")
            assert st == 206 and h["content-length"] == "4000" and len(f.read(4000)) == 4000
            st, h = ask(s, f, "small.bin", method="HEAD")
            assert st == 200 and h["content-length"] == "10000"
            st, h = ask(s, f, "small.bin")
            assert st == 200 and f.read(10000) == b"0123456789" * 1000
        log = settled(p)["log"]
        assert [(e["method"], e["status"], e["sent"]) for e in log] == [
            ("GET", 206, 4000), ("HEAD", 200, 0), ("GET", 200, 10000)], log
        # a client that reads a little of a long range and goes: counted what
        # it was sent (its socket buffers included), far less than the range
        p.reset()
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
            s.connect(("127.0.0.1", p.port))
            f = s.makefile("rb")
            st, h = ask(s, f, "big.bin", f"bytes=0-{BIG - 1}")
            assert st == 206 and int(h["content-length"]) == BIG
            assert len(f.read(100_000)) == 100_000
            f.close()
        (e,) = settled(p)["log"]
        assert e["status"] == 206, e
        assert 100_000 <= e["sent"] < BIG // 4, e["sent"]
    finally:
        if p:
            p.stop()
        ng.stop()
