"""Mounting helpers for the integration tests: start the real inatfs daemon
in the foreground on a fixture, wait for the mount while checking that the
process is alive, always unmount in the end, and fail on unexpected stderr.

A plain module (tests/mount/conftest.py holds only fixtures), so that every
test file can `from mountlib import ...`.
"""

import os
import pathlib
import sqlite3
import subprocess
import time


REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("INATFS_BUILD", REPO / "build"))
INATFS = BUILD / "src" / "cli" / "inatfs"


def inatfs(*args, **kw):
    """Run an inatfs subcommand; returns CompletedProcess (text)."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 600)
    return subprocess.run([str(INATFS), *map(str, args)], **kw)


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        return any(line.split()[4] == path for line in fh)


def unmount(path):
    if is_mounted(path):
        subprocess.run(["fusermount3", "-u", "-z", str(path)], check=False)


class Mount:
    """A running inatfs daemon (foreground, so its stderr can be read)."""

    def __init__(self, data_dir, mnt, *opts, index=None, timeout=120, wait_scan=True,
                 flags=()):
        """opts: -o options; flags: others (-s). wait_scan: on a first mount
        (the index is built while the tree is already served), return only
        once the scan has ended, so that the tests see the complete tree; the
        live phase has its own tests."""
        self.mnt = pathlib.Path(mnt)
        self.mnt.mkdir(parents=True, exist_ok=True)
        args = [str(INATFS), str(data_dir), str(self.mnt), "-f", *flags]
        if index:
            args += ["-o", f"index={index}"]
        for o in opts:
            args += ["-o", o]
        self.errlog = self.mnt.parent / (self.mnt.name + ".stderr")
        self._err = open(self.errlog, "w+", encoding="utf-8")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self._err)
        deadline = time.time() + timeout
        while not is_mounted(self.mnt):
            if self.proc.poll() is not None:
                raise RuntimeError(f"inatfs exited with {self.proc.returncode}: {self.stderr()}")
            if time.time() > deadline:
                self.close()
                raise RuntimeError(f"mount did not appear: {self.stderr()}")
            time.sleep(0.05)
        if wait_scan:
            self.wait_scan(deadline - time.time())

    def wait_scan(self, timeout=120):
        """Waits for the end of a first mount's scan (no-op if the index was reused)."""
        deadline = time.time() + timeout
        while True:
            err = self.stderr()
            if "building the index" not in err or "inatfs: indexed " in err:
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"inatfs exited with {self.proc.returncode}: {err}")
            if time.time() > deadline:
                raise RuntimeError(f"the scan did not end: {err}")
            time.sleep(0.05)

    def stderr(self):
        if not self._err.closed:
            self._err.flush()
        return self.errlog.read_text(encoding="utf-8", errors="replace")

    def close(self):
        unmount(self.mnt)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._err.close()
        return self.proc.returncode


def tables(idx):
    """Everything an index holds but the build's times, to compare two builds."""
    db = sqlite3.connect(f"file:{idx}?mode=ro", uri=True)
    try:
        return {t: db.execute(q).fetchall() for t, q in (
            ("nodes", "SELECT * FROM nodes ORDER BY id"),
            ("images", "SELECT * FROM images ORDER BY rid"),
            ("archives", "SELECT * FROM archives ORDER BY id"),
            ("checkpoints", "SELECT * FROM checkpoints ORDER BY key"),
            ("shapes", "SELECT * FROM shapes ORDER BY id"),
            ("generated", "SELECT * FROM generated ORDER BY name"),
            ("meta", "SELECT * FROM meta WHERE key NOT IN ('built_at', 'build_seconds') "
                     "ORDER BY key"))}
    finally:
        db.close()


def unexpected_stderr(text):
    """stderr lines other than the daemon's normal chatter."""
    normal = ("inatfs: building the index", "inatfs: reading annotations", "inatfs: scanning",
              "inatfs: joining", "inatfs: writing the index", "inatfs: indexed",
              "inatfs: mounted", "inatfs: note:", "inatfs: rebuilding",
              "inatfs: writing the COCO", "inatfs: packing the index",
              "inatfs: the build needs", "inatfs: the folders are usable now",
              "inatfs: going on with an interrupted build")
    return [l for l in text.splitlines() if l.strip() and not l.startswith(normal)]
