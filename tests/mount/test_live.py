"""The first mount: the tree is served as soon as the annotations are loaded,
while the tarballs are scanned on a thread of the daemon. -o scan_limit slows
the scan down (the tiny fixture's 1.2 MB take about 5 s at 0.25 MB/s), so
that these tests see it running; every answer they get must still be right.
"""

import errno
import hashlib
import json
import os
import pathlib
import shutil
import sqlite3
import subprocess
import threading
import time

import pytest

from expected import Expected, class_dir
from mountlib import INATFS, Mount, inatfs, is_mounted, tables, unexpected_stderr, unmount

LIMIT = "scan_limit=0.25"
TAR = "train_val_images.tar.gz"


def scanning(m):
    return "inatfs: indexed " not in m.stderr()


def md5(path):
    with open(path, "rb") as fh:
        return hashlib.md5(fh.read()).hexdigest()


def leftovers(folder):
    return sorted(p.name for p in pathlib.Path(folder).iterdir() if ".tmp-" in p.name)


def json_names(exp, split):
    """{class folder: sorted image names} from the annotations alone."""
    js = {"train": exp.train, "val": exp.val}[split]
    out = {}
    for img in js["images"]:
        cat = exp.cats[exp.labels[(split, img["id"])]]
        out.setdefault(class_dir(cat), []).append(img["file_name"].rsplit("/", 1)[1])
    return {k: sorted(v) for k, v in out.items()}


def json_paths(exp):
    """The pristine paths of every train and val image the JSON names."""
    return {img["file_name"] for js in (exp.train, exp.val) for img in js["images"]}


def last_in_tar(exp):
    """(view path, manifest row) of the train image stored last in the tarball."""
    files = exp.view_files()
    rows = [r for r in exp.manifest if r["archive"] == TAR]
    last = rows[-1]
    for p, row in files.items():
        if p.startswith("train/") and row is last:
            return p, row
    # the last member is a val image: take the last train one
    for row in reversed(rows):
        for p, r in files.items():
            if p.startswith("train/") and r is row:
                return p, row
    raise AssertionError("no train image in the manifest")


def test_views_are_served_while_the_scan_runs(tiny_dir, tmp_path):
    exp = Expected(tiny_dir)
    idx = tmp_path / "index.sqlite"
    m = Mount(tiny_dir, tmp_path / "mnt", LIMIT, index=idx, wait_scan=False)
    try:
        assert scanning(m), m.stderr()
        assert not idx.exists()
        info = inatfs("info", tiny_dir, "--index", idx)
        assert info.returncode == 0, info.stderr
        assert "build in progress: process" in info.stdout, info.stdout

        # every class folder and every image name, from the annotations, at once
        for split in ("train", "val"):
            want = json_names(exp, split)
            assert sorted(os.listdir(m.mnt / split)) == sorted(want)
            for cd, names in want.items():
                got = sorted(n for n in os.listdir(m.mnt / split / cd) if n.endswith(".jpg"))
                assert got == names, (split, cd)
        # the pristine tree lists every image a JSON names, at once
        listed = {os.path.relpath(os.path.join(t, f), m.mnt)
                  for t, _, files in os.walk(m.mnt / "train_val_images") for f in files}
        assert json_paths(exp) <= listed
        assert scanning(m), m.stderr()

        # sidecars come from the annotations: served at once
        path, row = last_in_tar(exp)
        side = json.loads((m.mnt / path).with_suffix(".json").read_bytes())
        assert side["id"] == int(row["image_id"])

        # the image stored last waits for the scan, then gives the right bytes
        assert scanning(m), m.stderr()
        assert os.stat(m.mnt / path).st_size == int(row["size"])
        assert md5(m.mnt / path) == row["md5"]

        # the generated COCO file appears when the scan ends (a lookup waits)
        coco = json.loads((m.mnt / "with-bbox" / "train.json").read_bytes())
        assert coco["images"] and coco["annotations"]
        m.wait_scan(60)
        assert idx.exists()
        assert leftovers(tmp_path) == []

        # now complete: the pristine tree is the manifest's
        got = {}
        for top, _, files in os.walk(m.mnt / "train_val_images"):
            for f in files:
                p = os.path.join(top, f)
                got[os.path.relpath(p, m.mnt)] = os.path.getsize(p)
        want = {p: int(r["size"]) for p, r in exp.by_path.items()
                if r["archive"] == TAR}
        assert got == want
    finally:
        rc = m.close()
    assert rc == 0, m.stderr()
    assert unexpected_stderr(m.stderr()) == [], m.stderr()

    # a later mount reuses the index
    m2 = Mount(tiny_dir, tmp_path / "mnt2", index=idx)
    try:
        assert "building the index" not in m2.stderr()
        p, row = last_in_tar(exp)
        assert md5(m2.mnt / p) == row["md5"]
    finally:
        assert m2.close() == 0


def test_pristine_tree_is_there_from_the_first_moment(tiny_dir, tmp_path):
    """During a first mount's (slowed) scan: find lists every JSON image in the
    pristine tree and in 2017/, torchvision's INaturalist sees them all, and
    root/file_name opens for every image (waiting for the scan) with the
    right bytes; nothing listed is ever ENOENT."""
    import torchvision.datasets as datasets
    exp = Expected(tiny_dir)
    m = Mount(tiny_dir, tmp_path / "mnt", "scan_limit=0.1", index=tmp_path / "i.sqlite",
              wait_scan=False)
    try:
        assert scanning(m)
        want = json_paths(exp)
        out = subprocess.run(["find", "train_val_images", "-type", "f"], cwd=m.mnt, check=True,
                             capture_output=True, text=True).stdout.split("\n")
        assert want <= set(out)
        alias = subprocess.run(["find", "2017", "-type", "f"], cwd=m.mnt, check=True,
                               capture_output=True, text=True).stdout.split("\n")
        assert {"train_val_images/" + p.split("/", 1)[1] for p in alias if p} == \
            {p for p in out if p}
        ds = datasets.INaturalist(str(m.mnt), version="2017", download=False)
        seen = {"train_val_images/" + ds.all_categories[c] + "/" + f for c, f in ds.index}
        assert want <= seen
        assert scanning(m), "the scan ended before the checks: slow it down more"
        # every image by its JSON file_name, from the root, in a shuffled order
        rows = {p: r for p, r in exp.by_path.items() if p in want}
        order = sorted(rows, key=lambda p: hashlib.md5(p.encode()).hexdigest())
        for p in order:
            assert md5(m.mnt / p) == rows[p]["md5"], p
        # JSON images the tarball does not hold: listed while the scan may still
        # find them, gone (ENOENT) once it has ended without them
        m.wait_scan(120)
        for p in want - set(rows):
            assert not (m.mnt / p).exists(), p
    finally:
        assert m.close() == 0, m.stderr()
    assert unexpected_stderr(m.stderr()) == [], m.stderr()


def test_every_image_reads_right_while_the_scan_runs(tiny_dir, tmp_path):
    """All images of every view, read by 4 threads from the first moment."""
    exp = Expected(tiny_dir)
    m = Mount(tiny_dir, tmp_path / "mnt", "scan_limit=0.5", index=tmp_path / "i.sqlite",
              wait_scan=False)
    try:
        assert scanning(m)
        items = sorted(exp.view_files().items())
        bad = []

        def work(part):
            for p, row in part:
                if md5(m.mnt / p) != row["md5"]:
                    bad.append(p)

        threads = [threading.Thread(target=work, args=(items[i::4],)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads)
        assert bad == []
    finally:
        assert m.close() == 0


def test_ls_l_with_readdirplus_while_the_scan_runs(tiny_dir, tmp_path):
    exp = Expected(tiny_dir)
    m = Mount(tiny_dir, tmp_path / "mnt", LIMIT, "readdirplus", index=tmp_path / "i.sqlite",
              wait_scan=False)
    try:
        assert scanning(m)
        path, row = last_in_tar(exp)
        folder = (m.mnt / path).parent
        out = subprocess.run(["ls", "-l", "--time-style=+", str(folder)], capture_output=True,
                             text=True, timeout=60, check=True).stdout
        sizes = {l.split()[-1]: int(l.split()[4]) for l in out.splitlines()[1:]}
        assert sizes[path.rsplit("/", 1)[1]] == int(row["size"])
        want = {p.rsplit("/", 1)[1]: int(r["size"]) for p, r in exp.view_files().items()
                if p.startswith(os.path.dirname(path) + "/")}
        assert {k: v for k, v in sizes.items() if k.endswith(".jpg")} == want
    finally:
        assert m.close() == 0


def scan_fraction(folder):
    """How far the scan in the one temporary index in folder has got:
    (archive file, fraction of it), or None before its first commit."""
    tmps = [p for p in pathlib.Path(folder).iterdir()
            if ".tmp-" in p.name and not p.name.endswith("-journal")]
    if len(tmps) != 1:
        return None
    try:
        db = sqlite3.connect(f"file:{tmps[0]}?mode=ro", uri=True, timeout=5)
        row = db.execute("SELECT value FROM meta WHERE key='scan_progress'").fetchone()
        db.close()
    except sqlite3.Error:
        return None
    if not row:
        return None
    f, done, total = row[0].split()
    return f, int(done) / max(int(total), 1)


def kill_during_scan(data, mnt, idx, archive, at, limit=LIMIT):
    """A throttled first mount, SIGKILLed once its scan committed past `at`
    of `archive`. Returns its stderr."""
    m = Mount(data, mnt, limit, index=idx, wait_scan=False)
    deadline = time.time() + 60
    while True:
        got = scan_fraction(idx.parent)
        if got and (got[0] != TAR if archive != TAR else got[0] == TAR and got[1] >= at):
            break
        assert time.time() < deadline and m.proc.poll() is None, m.stderr()
        time.sleep(0.05)
    m.proc.kill()
    m.proc.wait()
    unmount(mnt)
    err = m.stderr()
    m._err.close()
    return err


def test_killed_first_mounts_go_on_where_they_stopped(tiny_dir, tmp_path):
    ref = tmp_path / "ref" / "index.sqlite"
    ref.parent.mkdir()
    assert inatfs("index", tiny_dir, "--index", ref).returncode == 0
    idx = tmp_path / "i" / "index.sqlite"
    idx.parent.mkdir()
    # killed a third into the image tarball, then (resumed) at three quarters,
    # then (resumed) in the test tarball
    err = kill_during_scan(tiny_dir, tmp_path / "mnt", idx, TAR, 0.3)
    assert "going on" not in err
    assert len([n for n in leftovers(idx.parent) if not n.endswith("-journal")]) == 1
    info = inatfs("info", tiny_dir, "--index", idx).stdout
    assert "interrupted build: " in info and "scan: " + TAR in info, info
    err = kill_during_scan(tiny_dir, tmp_path / "mnt", idx, TAR, 0.75)
    assert "inatfs: going on with an interrupted build: scanned up to " + TAR in err, err
    # (slower: the tiny test tarball would take under a second at LIMIT)
    err = kill_during_scan(tiny_dir, tmp_path / "mnt", idx, "test2017.tar.gz", 0,
                           limit="scan_limit=0.08")
    assert "going on with an interrupted build" in err, err
    assert not idx.exists()
    r = inatfs("index", tiny_dir, "--index", idx)
    assert r.returncode == 0, r.stderr
    assert "going on with an interrupted build" in r.stderr
    assert leftovers(idx.parent) == []
    # the same index as one build from the start, row for row
    assert tables(idx) == tables(ref)
    v = inatfs("verify", tiny_dir, "--index", idx)
    assert v.returncode == 0, v.stdout + v.stderr


def test_an_interrupted_build_of_other_inputs_is_not_resumed(tiny_dir, tmp_path):
    d = tmp_path / "data"
    shutil.copytree(tiny_dir, d, ignore=shutil.ignore_patterns(".inatfs-index*"))
    idx = tmp_path / "i" / "index.sqlite"
    idx.parent.mkdir()
    kill_during_scan(d, tmp_path / "mnt", idx, TAR, 0.3)
    st = os.stat(d / TAR)
    os.utime(d / TAR, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))   # "another" archive
    r = inatfs("index", d, "--index", idx)
    assert r.returncode == 0, r.stderr
    assert "going on" not in r.stderr
    assert leftovers(idx.parent) == []
    def interrupted_then_changed(name, sql):
        """Kills a build of index `name`, runs sql on its temporary file, and
        builds again."""
        kill_during_scan(d, tmp_path / "mnt", tmp_path / "i" / name, TAR, 0.3)
        tmp = [p for p in leftovers(idx.parent) if not p.endswith("-journal")]
        db = sqlite3.connect(idx.parent / tmp[0])
        db.execute(sql)
        db.commit()
        db.close()
        return inatfs("index", d, "--index", tmp_path / "i" / name)

    # nor one from an earlier boot (its commits were not fsynced: a crash of
    # the machine may have lost some)
    r = interrupted_then_changed("boot.sqlite",
                                 "UPDATE meta SET value='another boot' WHERE key='boot_id'")
    assert r.returncode == 0 and "going on" not in r.stderr, r.stderr
    assert leftovers(idx.parent) == []
    # one that looks resumable but does not restore: noted, and a fresh build
    broken = tmp_path / "i" / "broken.sqlite"
    r = interrupted_then_changed(
        broken.name, "UPDATE nodes SET parent=999999 WHERE id=(SELECT max(id) FROM nodes)")
    assert r.returncode == 0, r.stderr
    assert "cannot go on with the interrupted build" in r.stderr and "starting afresh" in r.stderr
    assert leftovers(idx.parent) == []
    v = inatfs("verify", d, "--index", broken)
    assert v.returncode == 0, v.stdout + v.stderr
    # --force also starts afresh, and removes what it does not use
    kill_during_scan(d, tmp_path / "mnt", tmp_path / "i" / "other.sqlite", TAR, 0.3)
    r = inatfs("index", d, "--index", tmp_path / "i" / "other.sqlite", "--force")
    assert r.returncode == 0 and "going on" not in r.stderr, r.stderr
    assert leftovers(idx.parent) == []


def test_unmount_during_the_scan_then_the_next_mount_goes_on(tiny_dir, tmp_path):
    idx = tmp_path / "i" / "index.sqlite"
    idx.parent.mkdir()
    m = Mount(tiny_dir, tmp_path / "mnt", LIMIT, index=idx, wait_scan=False)
    assert scanning(m)
    assert os.listdir(m.mnt / "train")
    rc = m.close()
    assert rc == 0, m.stderr()
    assert "unmounted before the scan ended: the next mount" in m.stderr()
    assert not idx.exists()
    assert len(leftovers(idx.parent)) == 1   # the partial index, its journal gone
    m = Mount(tiny_dir, tmp_path / "mnt", index=idx)   # waits for the scan's end
    try:
        assert "going on with an interrupted build" in m.stderr()
        assert not unexpected_stderr(m.stderr()), m.stderr()
        exp = Expected(tiny_dir)
        p, row = last_in_tar(exp)
        assert md5(m.mnt / p) == row["md5"]
    finally:
        assert m.close() == 0
    assert idx.exists() and leftovers(idx.parent) == []
    v = inatfs("verify", tiny_dir, "--index", idx)
    assert v.returncode == 0, v.stdout + v.stderr


def test_scan_limit_is_checked(tiny_dir, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    for bad in ("0", "-1", "fast", "1e9"):
        r = subprocess.run([str(INATFS), str(tiny_dir), str(mnt), "-o", f"scan_limit={bad}"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 1, r.stderr
        assert "scan_limit" in r.stderr
        assert not is_mounted(mnt)
