"""Fixtures for the remote-source tests: a folder of files, nginx serving it
(HTTP, HTTPS with a private CA), an S3 server with signatures checked (moto
or s3rver: servers.s3_server; the summary names the one used), fault
proxies in front of them, and the source probe that drives the library
(build/tests/source_probe)."""

import os
import pathlib
import random
import select
import subprocess
import sys
import time

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import servers  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("INATFS_BUILD", REPO / "build"))
PROBE = BUILD / "tests" / "source_probe"
BLOB_SIZE = 5_000_123


@pytest.fixture(scope="session")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("remote")


@pytest.fixture(scope="session")
def data(work):
    """The served folder: blob.bin (random bytes), small.bin (1 byte),
    empty.bin."""
    d = work / "data"
    d.mkdir()
    rnd = random.Random(20)
    (d / "blob.bin").write_bytes(rnd.randbytes(BLOB_SIZE))
    (d / "small.bin").write_bytes(b"x")
    (d / "empty.bin").write_bytes(b"")
    return d


@pytest.fixture(scope="session")
def nginx(data, work):
    n = servers.Nginx(data, work / "nginx")
    yield n
    n.stop()


@pytest.fixture
def proxy(nginx, work):
    p = servers.Proxy(nginx.http_port, work)
    yield p
    p.stop()


S3_USED = []


@pytest.fixture(scope="session")
def s3(data, work):
    m = servers.s3_server([data / "blob.bin"], work)
    S3_USED.append(m)
    yield m
    m.stop()


@pytest.fixture
def s3_proxy(s3, work):
    p = servers.Proxy(s3.port, work)
    yield p
    p.stop()


def pytest_terminal_summary(terminalreporter):
    for m in S3_USED:
        line = f"S3 tests ran against {m.name}, signatures checked"
        if not m.refuses_anonymous:
            line += ("; it serves unsigned requests (no access control), so the anonymous "
                     "read is checked to go out unsigned and be served, not refused")
        terminalreporter.write_line(line)


def clean_env(**extra):
    """The environment less any AWS setting or proxy of the caller's."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and k.lower() not in ("http_proxy", "https_proxy",
                                                              "all_proxy")}
    env["NO_PROXY"] = env["no_proxy"] = "*"
    env["HOME"] = extra.pop("HOME", env.get("HOME", "/nonexistent"))
    env.update(extra)
    return env


class Probe:
    """One source_probe process: the source stays open between commands."""

    def __init__(self, base, name, opts=(), env=None):
        assert PROBE.exists(), f"{PROBE} is not built"
        cmd = [str(PROBE)]
        for o in opts:
            cmd += ["-o", o]
        cmd += [base, name]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     env=env if env is not None else clean_env())
        self.first = self._line(120)
        self.ok = self.first.startswith("open ")
        self.stderr = ""

    def _line(self, timeout):
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert r, "the probe did not answer in time"
        return self.proc.stdout.readline().strip()

    def cmd(self, line, timeout=180):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self._line(timeout)

    def read(self, off, length):
        return self.cmd(f"read {off} {length}")

    def stats(self):
        words = self.cmd("stats").split()[1:]
        return {k: int(v) for k, v in (w.split("=") for w in words)}

    def close(self):
        """Ends the probe (once); returns its stderr (the log lines)."""
        if self.proc.returncode is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
            except (BrokenPipeError, ValueError):
                pass
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.stderr = self.proc.stderr.read()
            self.proc.stdout.close()
            self.proc.stderr.close()
            assert self.proc.returncode in (0, 2), (self.proc.returncode, self.stderr)
        return self.stderr


@pytest.fixture
def probe():
    made = []

    def open_probe(base, name, opts=(), env=None):
        p = Probe(base, name, opts, env)
        made.append(p)
        return p
    yield open_probe
    for p in made:
        p.close()


def crc_of(path, off, length):
    import zlib
    with open(path, "rb") as f:
        f.seek(off)
        b = f.read(length)
    return f"ok {len(b)} {zlib.crc32(b):08x}"


def timed(fn):
    t = time.monotonic()
    out = fn()
    return out, time.monotonic() - t
