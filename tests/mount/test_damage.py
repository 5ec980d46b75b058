"""A first mount whose scan finds damage deep in a tarball (past the checks
made before mounting): an interrupted download, corrupt deflate data, a
wrong gzip trailer. The mount stays up; every listed file reads right or
fails with EIO, never ENOENT, never wrong bytes; `inatfs info` names the
damage; the index records it, so a later mount of the unchanged file says
so at once and serves the same way without scanning again."""

import errno
import hashlib
import json
import os
import re
import shutil
import subprocess
import threading

import pytest

from expected import Expected
from mountlib import INATFS, Mount, inatfs, is_mounted, unmount

TAR = "train_val_images.tar.gz"


def md5(b):
    return hashlib.md5(b).hexdigest()


def want_bytes(exp, big):
    """{mount path: md5} of every tar member file the mount may show."""
    want = {}
    for p, row in exp.by_path.items():
        want[p] = row["md5"]
        if p.startswith("train_val_images/"):
            want["2017/" + p.split("/", 1)[1]] = row["md5"]
    for p, row in exp.view_files().items():
        want[p] = row["md5"]
    for p, b in big.items():
        want[p] = md5(b)
        want["2017/" + p.split("/", 1)[1]] = md5(b)
    return want


def read_everything(mnt, want):
    """Walks the whole mount and reads every file: (ok, eio) sets of the
    member files; fails on ENOENT, on any other error, on wrong bytes, and on
    a JSON image missing from a listing."""
    ok, eio = set(), set()
    for top, dirs, files in os.walk(mnt, onerror=lambda e: pytest.fail(f"listing: {e}")):
        for f in files:
            p = os.path.join(top, f)
            rel = os.path.relpath(p, mnt)
            try:
                with open(p, "rb") as fh:
                    b = fh.read()
            except OSError as e:
                assert e.errno == errno.EIO, (rel, e)
                assert rel in want, ("a generated file fails", rel, e)
                eio.add(rel)
                continue
            if rel in want:
                assert md5(b) == want[rel], ("wrong bytes", rel)
                ok.add(rel)
    return ok, eio


@pytest.fixture
def big(big_dir, tmp_path):
    """A copy of the tiny fixture with big members in the middle of its
    train/val tarball (conftest.big_dir): over 1 MiB of tar before them, so
    that damage there is past what is checked before mounting."""
    d0, members = big_dir
    d = tmp_path / "data"
    shutil.copytree(d0, d, ignore=shutil.ignore_patterns(".inatfs-index*"))
    return d, members


def truncate(d, frac):
    p = d / TAR
    os.truncate(p, int(p.stat().st_size * frac))


def corrupt(d, frac):
    """Zeroes 4 KiB of deflate data at frac of the tarball."""
    p = d / TAR
    off = int(p.stat().st_size * frac)
    with open(p, "r+b") as fh:
        fh.seek(off)
        fh.write(bytes(4096))


def damage_lines(text):
    """The lines that say the train/val tarball is damaged, naming it by its path."""
    return [l for l in text.splitlines()
            if re.match(r"inatfs: /.*/%s is (damaged|truncated|corrupt)" % re.escape(TAR), l)]


def check_damaged_mount(d, members, tmp_path, kinds):
    exp = Expected(d)
    want = want_bytes(exp, members)
    idx = tmp_path / "index.sqlite"
    m = Mount(d, tmp_path / "mnt", index=idx)
    try:
        assert m.proc.poll() is None and is_mounted(m.mnt), m.stderr()
        lines = damage_lines(m.stderr())
        assert len(lines) == 1 and any(k in lines[0] for k in kinds), m.stderr()
        assert "download it again" in lines[0].lower(), lines[0]
        ok, eio = read_everything(m.mnt, want)
        # every image of the JSON is listed: read right, or EIO
        json_imgs = {p for p in exp.view_files()}
        assert json_imgs <= ok | eio
        assert eio, "the damage cost no image"
        # the COCO files list what their views list
        for split in ("train", "val"):
            coco = json.loads((m.mnt / "with-bbox" / f"{split}.json").read_bytes())
            listed = {os.path.relpath(os.path.join(t, f), m.mnt / "with-bbox")
                      for t, _, fs in os.walk(m.mnt / "with-bbox" / split) for f in fs
                      if f.endswith(".jpg")}
            assert {i["file_name"] for i in coco["images"]} == listed
        first = (ok, eio)
    finally:
        assert m.close() == 0, m.stderr()
    assert idx.exists()
    info = inatfs("info", d, "--index", idx)
    assert info.returncode == 0, info.stderr
    dmg = [l for l in info.stdout.splitlines() if l.startswith("damage: ")]
    assert dmg and f"{d}/{TAR}" in dmg[0] and any(k in dmg[0] for k in kinds), info.stdout
    assert "download it again" in dmg[0].lower()
    # a later mount of the unchanged file: said at once, no new scan, served
    # the same way
    m2 = Mount(d, tmp_path / "mnt2", index=idx)
    try:
        err = m2.stderr()
        assert "building the index" not in err, err
        assert len(damage_lines(err)) == 1, err
        assert read_everything(m2.mnt, want) == first
    finally:
        assert m2.close() == 0
    # inatfs index: the index is there, the download is bad input
    r = inatfs("index", d, "--index", idx)
    assert r.returncode == 2 and len(damage_lines(r.stderr)) == 1, r
    v = inatfs("verify", d, "--index", idx)
    assert v.returncode == 5, v.stdout + v.stderr
    assert "lost to the damage" in v.stdout
    return first


def test_truncated_download(big, tmp_path):
    d, members = big
    truncate(d, 0.6)
    ok, eio = check_damaged_mount(d, members, tmp_path, ["truncated"])
    assert ok, "nothing before the damage was served"


def test_corrupt_deflate_data_deep_inside(big, tmp_path):
    d, members = big
    corrupt(d, 0.7)
    ok, eio = check_damaged_mount(d, members, tmp_path, ["corrupt", "checksum"])


def test_wrong_gzip_trailer(tiny_dir, tmp_path):
    """The trailer's CRC-32 does not match: nothing of the gzip member is
    vouched for, so every member is EIO (and still listed)."""
    d = tmp_path / "data"
    shutil.copytree(tiny_dir, d, ignore=shutil.ignore_patterns(".inatfs-index*"))
    b = bytearray((d / TAR).read_bytes())
    b[-6] ^= 0xFF
    (d / TAR).write_bytes(bytes(b))
    ok, eio = check_damaged_mount(d, {}, tmp_path, ["checksum"])
    assert not [p for p in ok if p.startswith(("train_val_images/", "train/", "val/"))]


def test_a_reader_waiting_past_the_damage_gets_eio(big, tmp_path):
    """A read waiting for the scan, of an image the scan never reaches: EIO
    when the scan stops, and the mount stays up."""
    d, members = big
    truncate(d, 0.6)
    exp = Expected(d)
    rows = [r for r in exp.manifest if r["archive"] == TAR]
    last = rows[-1]["path"]   # stored last: after the damage
    m = Mount(d, tmp_path / "mnt", "scan_limit=2", index=tmp_path / "i.sqlite",
              wait_scan=False)
    result = {}

    def reader():
        try:
            with open(m.mnt / last, "rb") as fh:
                result["data"] = fh.read()
        except OSError as e:
            result["errno"] = e.errno

    try:
        assert "inatfs: indexed" not in m.stderr()
        t = threading.Thread(target=reader)
        t.start()
        t.join(120)
        assert not t.is_alive()
        assert result == {"errno": errno.EIO}, result
        m.wait_scan(60)
        assert m.proc.poll() is None and is_mounted(m.mnt)
        assert (m.mnt / "train").is_dir()
    finally:
        assert m.close() == 0, m.stderr()


def test_damage_logged_by_a_background_daemon(big, tmp_path):
    """Without -f: the mount stays up after the damage (it used to unmount)."""
    d, members = big
    truncate(d, 0.6)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    idx = tmp_path / "i.sqlite"
    r = subprocess.run([str(INATFS), str(d), str(mnt), "-o", f"index={idx}"],
                       capture_output=True, text=True, timeout=120)
    try:
        assert r.returncode == 0, r.stderr
        for _ in range(600):
            if idx.exists():
                break
            threading.Event().wait(0.1)
        assert idx.exists()
        assert is_mounted(mnt)
        assert os.listdir(mnt / "train")
    finally:
        unmount(mnt)
