"""bench/remote_alt.py - what a user would do instead of mounting a URL with
inatfs, on the same server: download the folder and mount the copy, or
mount the server with rclone (its http backend, its defaults) and inatfs on
that folder. The helpers the remote case's rounds use; the rounds and the
rows are in cases_remote.py.
"""

import os
import re
import shutil
import time

from procs import BenchError, Daemon, is_mounted, read_whole, run

# the rclone settings that decide what a read fetches (their defaults are
# read from rclone itself for the report's note)
RCLONE_FLAGS = ("vfs-cache-mode", "vfs-read-chunk-size", "vfs-read-chunk-size-limit",
                "buffer-size", "max-read-ahead", "dir-cache-time")


def first_image(rel, size):
    """A Daemon ready() that is true once rel reads whole: the time to the
    first image (a first mount's read waits for its scan to reach it)."""
    def ready(mnt):
        if not is_mounted(mnt):
            return False
        try:
            return read_whole(os.path.join(mnt, rel)) == size
        except OSError:
            return False
    return ready


def download(url, sizes, dest):
    """Every file of sizes ({name: bytes}) from the URL prefix into dest, one
    after another in one curl (its connection kept alive), as a user would;
    seconds. Each file must arrive whole."""
    dest.mkdir(parents=True)
    names = sorted(sizes)
    dt, _ = run(["curl", "--silent", "--show-error", "--fail", "--remote-name-all"] +
                [url + n for n in names], cwd=dest)
    for n in names:
        got = (dest / n).stat().st_size
        if got != sizes[n]:
            raise BenchError(f"download of {url}{n}: {got} bytes, expected {sizes[n]}")
    return dt


def need_rclone():
    if shutil.which("rclone") is None:
        raise BenchError("rclone not found: scripts/setup bench installs it "
                         "(apt-get install rclone)")


def rclone_about():
    """rclone's version and its defaults for RCLONE_FLAGS, as one line."""
    _, v = run(["rclone", "version"])
    version = v.stdout.splitlines()[0].strip()
    _, g = run(["rclone", "help", "flags"])
    _, m = run(["rclone", "mount", "--help"])
    text = g.stdout + m.stdout
    parts = []
    for f in RCLONE_FLAGS:
        hit = re.search(r"--" + re.escape(f) + r" .*\(default ([^)]*)\)", text)
        parts.append(f"--{f} {hit.group(1) if hit else '?'}")
    return version, ", ".join(parts)


def rclone_mount(url, mnt, work):
    """`rclone mount :http: MNT --http-url URL` in the foreground with its
    defaults and no config file (a fresh process: nothing cached); a Daemon,
    ready once the folder lists."""
    def ready(m):
        if not is_mounted(m):
            return False
        try:
            return bool(os.listdir(m))
        except OSError:
            return False
    return Daemon(["rclone", "mount", ":http:", str(mnt), "--http-url", url,
                   "--config", str(work / "rclone-none.conf")],
                  mnt, ready, work / (mnt.name + ".log"))


def settle(px, timeout=60):
    """The proxy's stats once no request is in flight (a client that closed
    its streams has been sent all it will be sent)."""
    end = time.perf_counter() + timeout
    while True:
        s = px.stats()
        if s["inflight"] == 0:
            return s
        if time.perf_counter() > end:
            raise BenchError(f"the proxy still had {s['inflight']} requests in flight "
                             f"after {timeout} s")
        time.sleep(0.05)


def no_build(m, what):
    """Fails when the daemon m built or rebuilt its index (what must reuse one)."""
    err = m.stderr()
    if "inatfs: rebuilding the index" in err or "inatfs: building the index" in err:
        raise BenchError(f"{what}: the index was not reused: {err[-500:]}")
