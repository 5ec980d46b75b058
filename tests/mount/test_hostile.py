"""Hostile input and hostile neighbours: crafted downloads, a planted index,
other users of an allow_other mount. Each test builds the input that once
broke something and checks the documented behaviour (README "Security")."""

import json
import os
import pathlib
import re
import shutil
import subprocess
import zipfile

import pytest

from mountlib import Mount, inatfs

TAR = "train_val_images.tar.gz"
ZIP = "train_val2017.zip"
JSON = "train2017.json"


@pytest.fixture
def data(tiny_dir, tmp_path):
    """A private copy of the tiny fixture (without any index)."""
    d = tmp_path / "data"
    shutil.copytree(tiny_dir, d, ignore=shutil.ignore_patterns(".inatfs-index*"))
    return d


def rezip(zpath, fn):
    """Rewrites a zip: fn(list of (name, bytes)) -> list of (name, bytes)."""
    with zipfile.ZipFile(zpath) as z:
        items = [(i.filename, z.read(i)) for i in z.infolist()]
    items = fn(items)
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as z:
        for n, b in items:
            z.writestr(n, b)


def edit_json(d, fn, zname=ZIP, jname=JSON):
    """fn(parsed JSON) edits it in place, or returns the bytes to store."""
    def g(items):
        out = []
        for n, b in items:
            if n.rsplit("/", 1)[-1] == jname:
                j = json.loads(b)
                res = fn(j)
                b = res if isinstance(res, bytes) else json.dumps(j).encode()
            out.append((n, b))
        return out
    rezip(d / zname, g)


# ------------------------------------------------------------------ messages

def _two_entries(d):
    rezip(d / ZIP, lambda it: it + [("x\x1b]0;owned\x07\x1b[2J/" + JSON, b"{}")])


def _category_name(d):
    def f(j):
        j["categories"][1]["name"] = "Ardea\x1b[2J\x1b]0;owned\x07\u009b"
    edit_json(d, f, jname="val2017.json")


@pytest.mark.parametrize("case", [_two_entries, _category_name])
def test_names_in_messages_are_escaped(data, tmp_path, case):
    """A zip entry name or a category name in an error message reaches the
    terminal escaped: no control byte but the newline, on stderr."""
    case(data)
    r = inatfs("index", data, "--index", tmp_path / "i.sqlite", text=False)
    assert r.returncode == 2, r.stderr
    err = r.stderr
    assert not re.search(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]", err), err
    assert rb"\x1b" in err and rb"\x07" in err, err


# ------------------------------------------------------------------ the CRC-32 check

MIB = 1 << 20


@pytest.fixture(scope="module")
def damaged_big(tiny_dir, tmp_path_factory):
    """The tiny fixture plus a 3 MiB incompressible member mid-tarball,
    indexed, then damaged inside that member (bytes flipped in its stored
    deflate data: it still inflates, to wrong bytes). Returns (data, index)."""
    import gzip
    import io
    import tarfile
    base = tmp_path_factory.mktemp("damaged")
    d = base / "data"
    shutil.copytree(tiny_dir, d, ignore=shutil.ignore_patterns(".inatfs-index*"))
    src = tarfile.open(d / TAR)
    members = src.getmembers()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as out:
        for i, m in enumerate(members):
            if i == len(members) // 2:
                ti = tarfile.TarInfo("train_val_images/Big/big.bin")
                ti.size = 3 * MIB
                ti.mtime = 1500000000
                out.addfile(ti, io.BytesIO(os.urandom(3 * MIB)))
            out.addfile(m, src.extractfile(m) if m.isfile() else None)
    (d / TAR).write_bytes(gzip.compress(buf.getvalue(), 6))
    idx = base / "i.sqlite"
    r = inatfs("index", d, "--index", idx)
    assert r.returncode == 0, r.stderr
    st = os.stat(d / TAR)
    with open(d / TAR, "r+b") as fh:
        fh.seek(st.st_size // 2)
        b = bytes(x ^ 0xFF for x in fh.read(4))
        fh.seek(st.st_size // 2)
        fh.write(b)
    os.utime(d / TAR, ns=(st.st_atime_ns, st.st_mtime_ns))
    return d, idx


def _direct_reads(path, ranges):
    """O_DIRECT preads of (offset, length) in order; True once one fails with EIO."""
    import errno
    import mmap
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    try:
        buf = mmap.mmap(-1, max(n for _, n in ranges))
        for off, n in ranges:
            try:
                os.preadv(fd, [memoryview(buf)[:n]], off)
            except OSError as e:
                assert e.errno == errno.EIO, e
                return True
        return False
    finally:
        os.close(fd)


SIZE = 3 * MIB
READ_PATTERNS = {
    # a 4 KiB probe, then 64 KiB reads 48 KiB apart: each overlaps the last
    "overlapping": [(0, 4096)] + [(o, 64 << 10) for o in range(0, SIZE, 48 << 10)],
    # 48 scattered 4 KiB reads (more ranges than the check keeps apart), then the rest
    "scattered": [(o, 4096) for o in range(0, SIZE, 64 << 10)] +
                 [(o + 4096, (64 << 10) - 4096) for o in range(0, SIZE, 64 << 10)],
}


@pytest.mark.parametrize("pattern", sorted(READ_PATTERNS))
def test_damage_is_caught_whatever_the_read_pattern(damaged_big, tmp_path, pattern):
    """Reads that overlap or scatter still complete the CRC-32 check: the
    damaged member fails with EIO before its reads are done."""
    d, idx = damaged_big
    m = Mount(d, tmp_path / "mnt", index=idx)
    try:
        p = m.mnt / "train_val_images/Big/big.bin"
        assert os.stat(p).st_size == SIZE
        assert _direct_reads(p, READ_PATTERNS[pattern]), "no read failed its check"
    finally:
        m.close()
    assert "CRC-32 mismatch" in m.stderr(), m.stderr()


# ------------------------------------------------------------------ served JSON

def test_served_json_is_strict(data, tmp_path):
    """Bytes cJSON skips between tokens (any up to a space) and raw control
    bytes inside strings do not reach the sidecars and with-bbox files,
    which strict parsers then read."""
    def boxes(j):
        j["annotations"][0]["note"] = "a\x01b\x1f"
        text = json.dumps(j).replace("\\u0001", "\x01").replace("\\u001f", "\x1f")
        return text.replace(', "', ",\x0b\x1c \"").encode()
    edit_json(data, boxes, "train_2017_bboxes.zip", "train_2017_bboxes.json")
    m = Mount(data, tmp_path / "mnt", index=tmp_path / "i.sqlite")
    try:
        coco = json.loads((m.mnt / "with-bbox/train.json").read_bytes())   # strict
        noted = [a for a in coco["annotations"] if "note" in a]
        assert len(noted) == 1 and noted[0]["note"] == "a\x01b\x1f", noted
        img = next(i for i in coco["images"] if i["id"] == noted[0]["image_id"])
        side = (m.mnt / "with-bbox" / img["file_name"]).with_suffix(".json")
        rec = json.loads(side.read_bytes())
        assert any(b.get("note") == "a\x01b\x1f" for b in rec["bboxes"]), rec
    finally:
        assert m.close() == 0


# ------------------------------------------------------------------ ids

@pytest.mark.parametrize("cat_id", [2 ** 32 + 5, 2 ** 32, -1, -7])
def test_category_ids_out_of_range_are_refused(data, tmp_path, cat_id):
    """Folder inode numbers hold a category id in 32 bits and -1 means
    unlabeled: any other id is refused, naming the file and the record."""
    def f(j):
        j["categories"][2]["id"] = cat_id
    for name in ("train2017.json", "val2017.json"):
        edit_json(data, f, jname=name)
    r = inatfs("index", data, "--index", tmp_path / "i.sqlite")
    assert r.returncode == 2, r.stderr
    assert re.search(rf"train_val2017\.zip: {JSON}: categories\[2\]\.id: category id "
                     rf"{cat_id} is out of range", r.stderr), r.stderr
    assert not (tmp_path / "i.sqlite").exists()


# ------------------------------------------------------------------ long names

LIMIT = "scan_limit=0.25"


def test_a_file_name_as_long_as_the_cut_path_keeps_its_sidecar(data, tmp_path):
    """An image whose file_name equals its canonical path cut short (a long
    category name) keeps that file_name: its sidecar, served while the scan
    runs (the image is in no tarball), opens and says it."""
    long_name = "N" * 800
    prefix = "train_val_images/Aves/"

    def f(j):
        j["categories"][0]["name"] = long_name
        j["categories"][0]["supercategory"] = "Aves"

    def train(j):
        f(j)
        fn = (prefix + long_name + "/x.jpg")[:783]
        j["images"].append({"id": 987654321, "width": 10, "height": 10, "file_name": fn})
        j["annotations"].append({"id": 987654321, "image_id": 987654321,
                                 "category_id": j["categories"][0]["id"]})
    edit_json(data, train)
    edit_json(data, f, jname="val2017.json")
    edit_json(data, lambda j: f(j) if j.get("categories") else None, "test2017.zip",
              "test2017.json")
    m = Mount(data, tmp_path / "mnt", LIMIT, index=tmp_path / "i.sqlite", wait_scan=False)
    try:
        cls = next(c for c in os.listdir(m.mnt / "train") if c.endswith("NNNN"))
        side = m.mnt / "train" / cls / ("N" * 240 + ".json")
        rec = json.loads(side.read_bytes())
        assert rec["id"] == 987654321 and rec["file_name"] == (prefix + long_name)[:783], rec
        assert "inatfs: indexed " not in m.stderr(), "the scan ended too early for this test"
    finally:
        m.close()


# ------------------------------------------------------------------ names that collide

def add_members(d, members, before=None):
    """Appends tar members (path -> bytes, or None for a folder) to the
    train/val tarball, in order."""
    import gzip
    import io
    import tarfile
    src = tarfile.open(d / TAR)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as out:
        for m in src.getmembers():
            out.addfile(m, src.extractfile(m) if m.isfile() else None)
        for path, b in members:
            ti = tarfile.TarInfo(path)
            ti.mtime = 1500000000
            if b is None:
                ti.type = tarfile.DIRTYPE
                out.addfile(ti)
            else:
                ti.size = len(b)
                out.addfile(ti, io.BytesIO(b))
    (d / TAR).write_bytes(gzip.compress(buf.getvalue(), 6))


def walk_resolves(top):
    """Every name listed under top resolves to exactly one entry: a name is
    listed once per folder, and what its lookup gives is what the listing
    said (kind and inode number). Returns {path: inode}."""
    seen = {}
    for root, dirs, files in os.walk(top):
        names = dirs + files
        assert len(names) == len(set(names)), (root, sorted(names))
        with os.scandir(root) as it:
            for e in it:
                st = os.lstat(e.path)
                assert st.st_ino == e.inode(), e.path
                assert (e.is_dir() and os.path.isdir(e.path)) or \
                       (e.is_file() and os.path.isfile(e.path)), e.path
                seen[e.path] = st.st_ino
    return seen


def test_tar_paths_that_collide_keep_the_first(data, tmp_path):
    """A file a/b, then a/b/c or a folder a/b/: the file stays, the others
    are skipped and counted; a folder, then a file of its name: the folder
    stays. Every listed name resolves."""
    t = "train_val_images/Clash/"
    add_members(data, [(t + "a", b"file a"), (t + "a/c", b"under a file"), (t + "a/", None),
                       (t + "d/", None), (t + "d/e", b"in d"), (t + "d", b"file d"),
                       # top-level folders named like the root's files
                       ("train2017.json/x", b"x"), ("submission_template.csv/y", b"y")])
    idx = tmp_path / "i.sqlite"
    m = Mount(data, tmp_path / "mnt", index=idx)
    try:
        clash = m.mnt / "train_val_images/Clash"
        assert sorted(os.listdir(clash)) == ["a", "d"]
        assert (clash / "a").read_bytes() == b"file a"
        assert os.path.isdir(clash / "d") and (clash / "d/e").read_bytes() == b"in d"
        assert not os.path.exists(clash / "a/c")
        root = os.listdir(m.mnt)
        assert root.count("train2017.json") == 1 and os.path.isfile(m.mnt / "train2017.json")
        assert root.count("submission_template.csv") == 1
        walk_resolves(m.mnt)
    finally:
        assert m.close() == 0
    info = inatfs("info", data, "--index", idx)
    assert int(re.search(r"^skipped_unsafe: (\d+)$", info.stdout, re.M).group(1)) == 3, \
        info.stdout


def test_image_names_that_collide_get_a_number(data, tmp_path):
    """Images of one class whose names (or sidecar names) collide: the first
    in file order keeps its name, the next get ~2, ~3 before the extension;
    a name ending in .json gets a "_". Every listed name resolves to the
    image (or sidecar) listed."""
    long_a, long_b = "L" * 245 + "a.jpg", "L" * 245 + "b.jpg"   # both cut to "L" * 240
    extra = ["Aves/X/dup.jpg", "Aves/Y/dup.jpg", "Aves/X/a.jpg", "Aves/X/a.png",
             "Aves/X/x.jpg", "Aves/X/x.json", "Aves/X/" + long_a, "Aves/X/" + long_b,
             "Aves/X/dup~2.jpg"]
    ids = {}

    def train(j):
        cat = j["categories"][0]["id"]
        for k, p in enumerate(extra):
            ids[p] = 900000 + k
            j["images"].append({"id": 900000 + k, "width": 5, "height": 5,
                                "file_name": "train_val_images/" + p})
            j["annotations"].append({"id": 900000 + k, "image_id": 900000 + k,
                                     "category_id": cat})
        return None
    edit_json(data, train)
    # members: the content names the image
    add_members(data, [("train_val_images/" + p, p.encode()) for p in extra])
    idx = tmp_path / "i.sqlite"
    m = Mount(data, tmp_path / "mnt", index=idx)
    try:
        cls = next(c for c in os.listdir(m.mnt / "train")
                   if "dup.jpg" in os.listdir(m.mnt / "train" / c))
        folder = m.mnt / "train" / cls
        walk_resolves(folder)
        names = set(os.listdir(folder))
        want = {"dup.jpg": "Aves/X/dup.jpg", "dup~2.jpg": "Aves/Y/dup.jpg",
                "a.jpg": "Aves/X/a.jpg", "a~2.png": "Aves/X/a.png",
                "x.jpg": "Aves/X/x.jpg", "x~2.json_": "Aves/X/x.json",
                "dup~2~2.jpg": "Aves/X/dup~2.jpg",
                "L" * 240: "Aves/X/" + long_a, "L" * 238 + "~2": "Aves/X/" + long_b}
        for name, p in want.items():
            assert name in names, (name, sorted(names))
            assert (folder / name).read_bytes() == p.encode(), name
            side = json.loads((folder / name).with_name(
                name.rsplit(".", 1)[0] + ".json").read_bytes())
            assert side["id"] == ids[p] and side["file_name"] == "train_val_images/" + p, side
        assert all(len(n.encode()) <= 245 for n in names)
    finally:
        assert m.close() == 0
    info = inatfs("info", data, "--index", idx)
    assert re.search(r"^renamed_images: [1-9]", info.stdout, re.M), info.stdout


# ------------------------------------------------------------------ mount options

def mountinfo(mnt):
    path = os.path.realpath(mnt)
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        for line in fh:
            f = line.split()
            if f[4] == path:
                return f
    raise AssertionError(f"{mnt} is not mounted")


def unescape_mountinfo(s):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


@pytest.mark.parametrize("name", ["d,subtype=x,allow_other", "d,allow_other,dev,suid",
                                  "back\\slash,allow_other", "a b,allow_other\\"])
def test_data_folder_name_adds_no_mount_option(tiny_dir, tmp_path, name):
    """The data folder's name goes into the fsname escaped whole: a name
    holding ",allow_other" adds no option, and the source reads back as the
    folder's path."""
    d = tmp_path / name
    shutil.copytree(tiny_dir, d, ignore=shutil.ignore_patterns(".inatfs-index*"))
    m = Mount(d, tmp_path / "mnt", index=tmp_path / "i.sqlite")
    try:
        f = mountinfo(m.mnt)
        sep = f.index("-")
        super_opts = f[sep + 3].split(",")
        assert "allow_other" not in super_opts and "allow_other" not in f[5].split(","), f
        assert f[sep + 1] == "fuse.inatfs", f
        assert unescape_mountinfo(f[sep + 2]) == "inatfs:" + str(d), f
        assert "nosuid" in f[5].split(",") and "nodev" in f[5].split(","), f
    finally:
        assert m.close() == 0


# ------------------------------------------------------------------ other users of the mount

def vm_kb(pid, key):
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError(key)


def test_open_files_hold_bounded_cursor_memory(tiny_dir, tmp_path):
    """A client that opens one file 1000 times and reads 4 KiB from each
    handle, keeping them open: the daemon keeps at most a bounded number of
    gzip cursors (~200 KB each): the second 500 handles add next to nothing
    to its memory, and a handle whose cursor went still reads right. Then it
    unmounts with all of them just closed (their releases still on their
    way) and exits 0."""
    import mmap
    import resource
    from expected import Expected
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    exp = Expected(tiny_dir)
    rel, row = max(((p, r) for p, r in exp.view_files().items() if p.startswith("train/")),
                   key=lambda pr: int(pr[1]["size"]))
    size = int(row["size"])
    assert size > 4096
    idx = tmp_path / "i.sqlite"
    assert inatfs("index", tiny_dir, "--index", idx).returncode == 0
    m = Mount(tiny_dir, tmp_path / "mnt", index=idx)
    fds = []
    try:
        path = m.mnt / rel
        want = open(path, "rb").read()
        buf = mmap.mmap(-1, 4096)
        rss = [vm_kb(m.proc.pid, "VmRSS")]
        for k in range(1000):
            fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
            fds.append(fd)
            assert os.preadv(fd, [buf], 0) == 4096 and buf[:4096] == want[:4096]
            if k % 500 == 499:
                rss.append(vm_kb(m.proc.pid, "VmRSS"))
        # past the bound, more handles add next to nothing (500 more cursors
        # would be ~100 MB)
        assert rss[2] - rss[1] < 40 * 1024 and rss[2] - rss[0] < 128 * 1024, \
            f"RSS {rss} KiB at 0, 500 and 1000 half-read handles"
        # the first handles' cursors went: their reads start again, right
        big = mmap.mmap(-1, 1 << 16)
        for fd in fds[:3]:
            n = os.preadv(fd, [big], 4096)
            assert big[:n] == want[4096:4096 + n] and 4096 + n == size
    finally:
        for fd in fds:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        assert m.close() == 0, m.stderr()


def test_a_generated_file_is_built_once_for_many_opens(data, tmp_path):
    """Sixteen clients open with-bbox/train.json at once: it is built once
    and shared (the daemon's peak memory grows by about one copy, not one
    per open)."""
    import threading

    def many_boxes(j):
        ids = [i["id"] for i in json.loads(zipfile.ZipFile(data / ZIP).read(
            next(n for n in zipfile.ZipFile(data / ZIP).namelist() if n.endswith(JSON))))
            ["images"]][:50]
        a0 = j["annotations"][0]
        j["annotations"] = [dict(a0, id=k, image_id=ids[k % len(ids)],
                                 note="n" * 200) for k in range(60000)]
        return None
    edit_json(data, many_boxes, "train_2017_bboxes.zip", "train_2017_bboxes.json")
    idx = tmp_path / "i.sqlite"
    r = inatfs("index", data, "--index", idx)
    assert r.returncode == 0, r.stderr
    m = Mount(data, tmp_path / "mnt", index=idx)
    try:
        target = m.mnt / "with-bbox/train.json"
        size = os.stat(target).st_size
        assert size > 10 << 20, size
        hwm0 = vm_kb(m.proc.pid, "VmHWM")
        barrier = threading.Barrier(16, timeout=60)
        errors = []

        def opener():
            try:
                barrier.wait()
                with open(target, "rb") as fh:
                    fh.read(4096)
                    barrier.wait()
            except Exception as e:   # reported below
                errors.append(e)
        ts = [threading.Thread(target=opener) for _ in range(16)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        assert errors == [] and not any(t.is_alive() for t in ts), errors
        grown = vm_kb(m.proc.pid, "VmHWM") - hwm0
        assert grown < 4 * size // 1024, f"peak grew {grown} KiB for a {size >> 10} KiB file"
    finally:
        assert m.close() == 0


def test_waits_for_the_scan_leave_threads_for_others(tiny_dir, tmp_path):
    """While a first scan runs, 48 clients stat images the scan has not
    reached: some wait, the rest are told to try again (EAGAIN), and the
    mount keeps answering others meanwhile."""
    import errno
    import threading
    from expected import Expected
    exp = Expected(tiny_dir)
    files = exp.view_files()
    order = {id(r): k for k, r in enumerate(exp.manifest)}
    # the images stored last, one per folder (the kernel lets one lookup at a
    # time into a folder), so that each holds a thread of the daemon
    late, dirs = [], set()
    for p in sorted(files, key=lambda p: -order[id(files[p])]):
        if os.path.dirname(p) not in dirs:
            dirs.add(os.path.dirname(p))
            late.append(p)
    late = late[:48]
    assert len(late) == 48
    m = Mount(tiny_dir, tmp_path / "mnt", "scan_limit=0.03", index=tmp_path / "i.sqlite",
              wait_scan=False)
    results = {}
    try:
        def stat(p):
            try:
                os.stat(m.mnt / p)
                results[p] = "ok"
            except OSError as e:
                results[p] = errno.errorcode.get(e.errno, e.errno)
        ts = [threading.Thread(target=stat, args=(p,), daemon=True) for p in late]
        for t in ts:
            t.start()
        # the stats have reached the daemon: now another client asks
        for _ in range(30):
            if sum(r == "EAGAIN" for r in results.values()) >= 16:
                break
            threading.Event().wait(0.1)
        got = {}

        def other():   # folders no stat above waits in (the kernel locks those)
            got["json"] = json.loads((m.mnt / "val2017.json").read_bytes())
            got["root"] = os.listdir(m.mnt / "by-supercategory") + os.listdir(m.mnt)
        t = threading.Thread(target=other, daemon=True)
        t.start()
        t.join(10)   # the scan takes ~40 s at this limit
        assert "root" in got, "the mount stopped answering"
        waiting = sum(1 for x in ts if x.is_alive())
        assert "inatfs: indexed " not in m.stderr(), "the scan ended too early for this test"
        assert waiting >= 8, (waiting, results)
        assert list(results.values()).count("EAGAIN") >= 16, results
        assert all(r in ("ok", "EAGAIN") for r in results.values()), results
    finally:
        m.close()   # the stats still waiting end with the mount


# ------------------------------------------------------------------ DATA_DIR and the index

def run_mount(d, mnt, *opts, index):
    """A foreground mount that must fail: (exit code, stderr lines)."""
    from mountlib import INATFS, unmount
    mnt.mkdir(exist_ok=True)
    args = [str(INATFS), str(d), str(mnt), "-f", "-o", f"index={index}"]
    for o in opts:
        args += ["-o", o]
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    finally:
        unmount(mnt)
    lines = [l for l in r.stderr.splitlines()
             if l.startswith("inatfs: ") and not re.match(
                 r"inatfs: (building|reading|the build needs|rebuilding)", l)]
    return r.returncode, lines


@pytest.mark.parametrize("name", [TAR, ZIP, "test2017.zip"])
def test_a_download_that_is_a_link_is_refused(data, tmp_path, name):
    """A symbolic link in place of a download (any root-readable file it
    points to would be served) is refused in one message, unless
    -o follow_links allows links; then the mount reads through it."""
    real = tmp_path / ("real-" + name)
    shutil.move(data / name, real)
    (data / name).symlink_to(real)
    code, lines = run_mount(data, tmp_path / "mnt", index=tmp_path / "i.sqlite")
    assert code == 2 and len(lines) == 1, lines
    assert str(data / name) in lines[0] and "symbolic link" in lines[0], lines
    r = inatfs("index", data, "--index", tmp_path / "i.sqlite")
    assert r.returncode == 2 and "symbolic link" in r.stderr, r.stderr
    m = Mount(data, tmp_path / "mnt2", "follow_links", index=tmp_path / "i.sqlite")
    try:
        assert json.loads((m.mnt / "train2017.json").read_bytes())["images"]
        assert any(os.scandir(m.mnt / "train"))
    finally:
        assert m.close() == 0
    r = inatfs("info", data, "--index", tmp_path / "i.sqlite", "--follow-links")
    assert r.returncode == 0 and "up to date" in r.stdout, r.stdout + r.stderr


@pytest.fixture
def shared_dir(data):
    """DATA_DIR writable by every user (as a shared scratch folder is)."""
    os.chmod(data, 0o777)
    return data


@pytest.mark.parametrize("name", [TAR, ZIP])
def test_a_download_planted_by_another_user_is_refused(shared_dir, tmp_path, name):
    """In a folder other users can write to, a download owned by another
    user (not root, not the one mounting) is refused in one message."""
    os.chown(shared_dir / name, 4242, 4242)
    code, lines = run_mount(shared_dir, tmp_path / "mnt", index=tmp_path / "i.sqlite")
    assert code == 2 and len(lines) == 1, lines
    assert str(shared_dir / name) in lines[0] and "uid 4242" in lines[0] and \
        "other users can write" in lines[0], lines
    # in a folder only its owner writes, the same file is read
    os.chmod(shared_dir, 0o755)
    m = Mount(shared_dir, tmp_path / "mnt2", index=tmp_path / "i.sqlite")
    assert m.close() == 0


def test_an_index_planted_by_another_user_is_refused(shared_dir, tmp_path):
    """The default index in a DATA_DIR others can write to: one planted by
    another user is refused (not served, not silently rebuilt over)."""
    idx = shared_dir / ".inatfs-index.sqlite"
    r = inatfs("index", shared_dir, "--index", idx)
    assert r.returncode == 0, r.stderr
    os.chown(idx, 4242, 4242)
    code, lines = run_mount(shared_dir, tmp_path / "mnt", index=idx)
    assert code == 3 and len(lines) == 1, lines
    assert str(idx) in lines[0] and "uid 4242" in lines[0], lines
    # a link in its place (to a good index elsewhere) is refused too
    os.chown(idx, 0, 0)
    shutil.move(idx, tmp_path / "elsewhere.sqlite")
    idx.symlink_to(tmp_path / "elsewhere.sqlite")
    code, lines = run_mount(shared_dir, tmp_path / "mnt", index=idx)
    assert code == 3 and len(lines) == 1 and "symbolic link" in lines[0], lines


def planted_index(data, tmp_path, sql):
    """A real index of data, then sql run on it (what someone who can
    compute the fingerprints could write)."""
    import sqlite3
    idx = tmp_path / "planted.sqlite"
    r = inatfs("index", data, "--index", idx)
    assert r.returncode == 0, r.stderr
    db = sqlite3.connect(idx)
    db.executescript(sql)
    db.commit()
    db.close()
    return idx


@pytest.mark.parametrize("sql", [
    "UPDATE annfiles SET zip='/etc/shadow' WHERE name='train2017.json'",
    "UPDATE annfiles SET zip='../../etc/x.zip'",
    "UPDATE annfiles SET zip='test2017.zip' WHERE name='train2017.json'",
    "INSERT INTO annfiles VALUES('passwd', 'train_val2017.zip', 'x', 5, 0)",
    "UPDATE categories SET dir='..' WHERE id=(SELECT min(id) FROM categories)",
    "UPDATE categories SET id=4294967301 WHERE id=(SELECT min(id) FROM categories)",
    "UPDATE images SET rid=4294967297 WHERE rid=(SELECT max(rid) FROM images)",
    "UPDATE nodes SET id=1099511627777 WHERE id=(SELECT max(id) FROM nodes)",
])
def test_an_index_with_values_serving_cannot_trust_is_refused(data, tmp_path, sql):
    """Values read back from an index are checked at open: annotation
    files come only from their own download zip, ids stay in the ranges the
    inode numbers hold, folder names are safe. The mount is refused with
    one message naming the index."""
    idx = planted_index(data, tmp_path, sql)
    code, lines = run_mount(data, tmp_path / "mnt", index=idx)
    assert code == 3 and len(lines) == 1, lines
    assert str(idx) in lines[0] and "damaged" in lines[0], lines


def test_an_index_with_bad_names_or_a_cycle_fails_reads_not_the_daemon(data, tmp_path):
    """A name that is NULL or '..' in a folder: listing that folder fails
    (EIO), the rest is served. A folder that is its parent's parent (a
    cycle): a failed read of a member inside it names what it can and
    answers, and `inatfs verify` ends; the daemon neither crashes nor
    hangs."""
    import errno
    sql = """
        CREATE TABLE n2 AS SELECT * FROM nodes;
        DROP TABLE nodes;
        CREATE TABLE nodes(id INTEGER PRIMARY KEY, parent INTEGER, name TEXT, archive INTEGER,
                           type INTEGER, off INTEGER, size INTEGER, mtime INTEGER,
                           mode INTEGER, crc INTEGER);
        INSERT INTO nodes SELECT * FROM n2;
        DROP TABLE n2;
        CREATE UNIQUE INDEX nodes_child ON nodes(parent, name, type);
        CREATE TEMP TABLE pick AS SELECT min(id) AS f FROM nodes WHERE type=0;
        UPDATE nodes SET name=NULL WHERE id=(SELECT f FROM pick);
        UPDATE nodes SET name='..' WHERE id=(SELECT f FROM pick) + 1;
        -- the member of the last train image: wrong CRC, its folder and the
        -- folder's parent each other's parent
        CREATE TEMP TABLE m AS SELECT n.id AS id, n.parent AS d, p.parent AS s FROM images i
          JOIN nodes n ON n.id=i.node JOIN nodes p ON p.id=n.parent
          WHERE i.split=0 ORDER BY i.rid DESC LIMIT 1;
        UPDATE nodes SET crc=(crc | 1) - (crc & 1) WHERE id=(SELECT id FROM m);
        UPDATE nodes SET parent=(SELECT d FROM m) WHERE id=(SELECT s FROM m);
    """
    idx = planted_index(data, tmp_path, sql)
    m = Mount(data, tmp_path / "mnt", index=idx)
    try:
        top = m.mnt / "train_val_images"
        failed = []
        for sup in os.listdir(top):
            for cls in os.listdir(top / sup):
                try:
                    os.listdir(top / sup / cls)
                except OSError as e:
                    assert e.errno == errno.EIO, e
                    failed.append(cls)
        assert len(failed) == 1, failed
        assert json.loads((m.mnt / "val2017.json").read_bytes())["images"]
        eio = 0
        for root, _, files in os.walk(m.mnt / "train"):
            for f in files:
                try:
                    with open(os.path.join(root, f), "rb") as fh:
                        fh.read()
                except OSError as e:
                    assert e.errno == errno.EIO, e
                    eio += 1
        assert eio >= 1
    finally:
        assert m.close() == 0
    assert "has no valid name" in m.stderr() and "CRC-32 mismatch" in m.stderr(), m.stderr()
    v = inatfs("verify", data, "--index", idx, timeout=120)
    assert v.returncode == 5 and "BAD " in v.stdout, v.stdout + v.stderr
