"""Bad input: every case gives one clear line on stderr naming the file and the
problem, the documented exit code (README "Exit codes and errors"), no mount
left behind and no index file left (or the old one intact). Also the security
points: read-only in every path, default_permissions, allow_other only when
asked, and no name from the input escapes the tree.
"""

import errno
import gzip
import hashlib
import io
import json
import os
import pathlib
import re
import shutil
import sqlite3
import subprocess
import tarfile
import zipfile

import pytest

import sys


from fixturelib import load_fixture_meta, load_manifest, make_fixture
from mountlib import INATFS, Mount, inatfs, unmount

TAR = "train_val_images.tar.gz"
ZIP = "train_val2017.zip"
JSON = "train2017.json"

# progress / chatter lines that may accompany an error; everything else counts
CHATTER = re.compile(r"^inatfs: (building the index|rebuilding the index|reading annotations|"
                     r"scanning|joining|writing the |indexed |note:|the build needs|"
                     r"mounted |the folders are usable now|packing the index)")

# drop the two capabilities that let root ignore file permissions
NO_DAC = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
          "--bounding-set=-dac_override,-dac_read_search"]


def error_lines(stderr):
    return [l for l in stderr.splitlines() if l.strip() and not CHATTER.match(l)]


def mounts_under(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        return [l for l in fh if l.split()[4] == path or l.split()[4].startswith(path + "/")]


def leftovers(folder):
    return sorted(p.name for p in pathlib.Path(folder).iterdir() if ".tmp-" in p.name)


def md5(b):
    return hashlib.md5(b).hexdigest()


def mount_fails(data_dir, mnt, *opts, index=None, code, file, problem, prefix=()):
    """Runs the mount in the foreground (damage deep in a tarball is found by
    the scan after the tree is mounted: the daemon then unmounts and exits
    with the code), checks exit code, the one error line, that nothing is
    mounted and that no index (or temporary) file was left. Returns the
    error line."""
    mnt = pathlib.Path(mnt)
    args = [*prefix, str(INATFS), str(data_dir), str(mnt), "-f"]
    if index:
        args += ["-o", f"index={index}"]
    for o in opts:
        args += ["-o", o]
    before = len(mounts_under(mnt)) if mnt.exists() else 0
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    finally:
        if mnt.exists() and len(mounts_under(mnt)) > before:
            unmount(mnt)
            pytest.fail(f"a failed mount left a mount at {mnt}")
    assert r.returncode == code, r.stderr
    errs = error_lines(r.stderr)
    assert len(errs) == 1, r.stderr
    assert errs[0].startswith("inatfs: "), errs
    assert str(file) in errs[0], (file, errs[0])
    assert re.search(problem, errs[0], re.I), (problem, errs[0])
    if index:
        index = pathlib.Path(index)
        assert leftovers(index.parent) == []
    return errs[0]


@pytest.fixture
def data(tiny_dir, tmp_path):
    """A private copy of the tiny fixture (without any index)."""
    d = tmp_path / "data"
    shutil.copytree(tiny_dir, d, ignore=shutil.ignore_patterns(".inatfs-index*"))
    return d


@pytest.fixture
def mnt(tmp_path):
    m = tmp_path / "mnt"
    m.mkdir()
    yield m
    unmount(m)


# ------------------------------------------------------------------ DATA_DIR

def test_data_dir_missing(tmp_path, mnt):
    d = tmp_path / "nope"
    mount_fails(d, mnt, code=2, file=d, problem="no such file")


def test_data_dir_empty(tmp_path, mnt):
    d = tmp_path / "empty"
    d.mkdir()
    mount_fails(d, mnt, index=tmp_path / "i.sqlite", code=2, file=d / TAR, problem="missing")
    assert list(d.iterdir()) == []


def test_data_dir_is_a_file(tmp_path, mnt):
    f = tmp_path / "file"
    f.write_text("x")
    mount_fails(f, mnt, code=2, file=f, problem="not a folder")


def test_data_dir_unreadable(data, mnt, tmp_path):
    # root ignores modes; setpriv drops CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH
    # so the kernel checks them again for this one command
    os.chmod(data, 0)
    try:
        mount_fails(data, mnt, index=tmp_path / "i.sqlite", code=2, file=data,
                    problem="permission denied", prefix=NO_DAC)
    finally:
        os.chmod(data, 0o755)
    assert not (tmp_path / "i.sqlite").exists()


@pytest.mark.parametrize("name", [TAR, ZIP, "train_2017_bboxes.zip", "test2017.tar.gz"])
def test_download_unreadable(data, mnt, tmp_path, name):
    os.chmod(data / name, 0)
    try:
        mount_fails(data, mnt, index=tmp_path / "i.sqlite", code=2, file=data / name,
                    problem="permission denied", prefix=NO_DAC)
    finally:
        os.chmod(data / name, 0o644)
    assert not (tmp_path / "i.sqlite").exists()


# ------------------------------------------------------------------ mount point

def test_mountpoint_missing(data, tmp_path):
    m = tmp_path / "nomnt"
    mount_fails(data, m, index=tmp_path / "i.sqlite", code=4, file=m, problem="no such file")
    assert not m.exists()
    assert not (tmp_path / "i.sqlite").exists()


def test_mountpoint_not_a_folder(data, tmp_path):
    m = tmp_path / "mfile"
    m.write_text("x")
    mount_fails(data, m, index=tmp_path / "i.sqlite", code=4, file=m, problem="not a folder")
    assert m.read_text() == "x"


def test_mountpoint_not_empty(data, mnt, tmp_path):
    (mnt / "keep").write_text("x")
    mount_fails(data, mnt, index=tmp_path / "i.sqlite", code=4, file=mnt, problem="not empty")
    assert (mnt / "keep").read_text() == "x"


def test_mountpoint_already_mounted(data, tmp_path):
    m = Mount(data, tmp_path / "m1", index=tmp_path / "i.sqlite")
    try:
        mount_fails(data, m.mnt, index=tmp_path / "i.sqlite", code=4, file=m.mnt,
                    problem="already mounted")
        assert len(mounts_under(m.mnt)) == 1
        assert len(os.listdir(m.mnt / "train")) > 0   # the first mount still works
    finally:
        assert m.close() == 0


# ------------------------------------------------------------------ tarballs

def _flip(off):
    def f(b):
        b[off if off >= 0 else len(b) + off] ^= 0xFF
        return b
    return f


def _regzip(fn):
    return lambda b: bytearray(gzip.compress(fn(bytearray(gzip.decompress(bytes(b)))), 6))


def _bad_tar_header(t):
    t[512 + 148:512 + 150] = b"zz"   # the second header's checksum field
    return t


TAR_CASES = {
    "truncated": (lambda b: b[:len(b) // 2], r"truncated|unexpected end"),
    "truncated_in_header": (lambda b: b[:6], r"truncated"),
    "empty_file": (lambda b: bytearray(), r"truncated|empty"),
    "header_magic": (_flip(0), r"not gzip"),
    "header_method": (_flip(2), r"compression method"),
    "header_flags": (lambda b: (b.__setitem__(3, 0xE0), b)[1], r"flags"),
    "deflate_middle": (_flip(400_000), r"CRC|invalid|corrupt|deflate"),
    "trailer_crc": (_flip(-6), r"CRC"),
    "trailer_size": (_flip(-2), r"size"),
    "trailing_garbage": (lambda b: b + b"garbage!", r"garbage"),
    "not_gzip": (lambda b: bytearray(b"this is not gzip\n" * 100), r"not gzip"),
    "gzip_not_tar": (lambda b: bytearray(gzip.compress(b"plain text, no tar\n" * 500)),
                     r"not a tar"),
    "gzip_of_nothing": (lambda b: bytearray(gzip.compress(b"")), r"not a tar"),
    "tar_truncated": (_regzip(lambda t: t[:300_000]), r"truncated"),
    "tar_bad_checksum": (_regzip(_bad_tar_header), r"checksum"),
}


# Damage past the first MiB of the tiny train/val tarball's tar data, which is
# all that is checked before mounting: the scan finds it, the index records it
# (test_damage.py has the mount's side), and `inatfs index` says it.
FOUND_BY_THE_SCAN = {"deflate_middle": r"corrupt|checksum", "trailer_crc": r"checksum",
                     "trailer_size": r"checksum", "trailing_garbage": r"not gzip data"}


@pytest.mark.parametrize("archive", [TAR, "test2017.tar.gz"])
@pytest.mark.parametrize("case", sorted(TAR_CASES))
def test_bad_tarball(data, mnt, tmp_path, case, archive):
    fn, problem = TAR_CASES[case]
    p = data / archive
    if archive != TAR and case in ("deflate_middle", "tar_truncated"):
        fn = {"deflate_middle": _flip(90_000),
              "tar_truncated": _regzip(lambda t: t[:100_000])}[case]
    p.write_bytes(bytes(fn(bytearray(p.read_bytes()))))
    idx = tmp_path / "i.sqlite"
    if archive == TAR and case in FOUND_BY_THE_SCAN:
        r = inatfs("index", data, "--index", idx)
        assert r.returncode == 2, r.stderr
        errs = error_lines(r.stderr)
        assert len(errs) == 1 and str(p) in errs[0], r.stderr
        assert re.search(FOUND_BY_THE_SCAN[case], errs[0]), errs[0]
        assert idx.exists() and leftovers(tmp_path) == []
        return
    mount_fails(data, mnt, index=idx, code=2, file=p, problem=problem)
    assert not idx.exists()


# ------------------------------------------------------------------ annotation zips

def rezip(zpath, fn):
    with zipfile.ZipFile(zpath) as z:
        items = [(i.filename, z.read(i)) for i in z.infolist()]
    items = fn(items)
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as z:
        for n, b in items:
            z.writestr(n, b)


def jmod(fn, zname=ZIP, jname=JSON):
    """A case that edits one JSON file inside a zip: fn(obj) edits in place or
    returns bytes to store instead."""
    def apply(d):
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
    return apply


def _corrupt_zip(d):
    b = bytearray((d / ZIP).read_bytes())
    for i in range(200, 260):
        b[i] ^= 0x55
    (d / ZIP).write_bytes(bytes(b))


def _set(path, key, value):
    def f(j):
        obj = j
        for k in path:
            obj = obj[k]
        obj[key] = value
    return f


def _same(arr, i, j, key):
    return lambda o: o[arr][i].__setitem__(key, o[arr][j][key])


ANN_CASES = {
    "zip_corrupt": (_corrupt_zip, ZIP, r"zip|decompress|crc"),
    "zip_garbage": (lambda d: (d / ZIP).write_bytes(b"PK\x03\x04garbage" * 10), ZIP,
                    r"not a readable zip|zip"),
    "not_a_zip": (lambda d: (d / ZIP).write_bytes(b"hello" * 100), ZIP, r"zip"),
    "json_missing": (lambda d: rezip(d / ZIP, lambda it: [x for x in it if x[0] != JSON]),
                     ZIP, r"train2017\.json.*not in this zip|missing"),
    "json_invalid": (jmod(lambda j: json.dumps(j).encode()[:5000]), ZIP, r"invalid JSON"),
    "json_not_utf8": (jmod(lambda j: json.dumps(j).encode().replace(
        b'"images"', b'"x\xff": 1, "images"', 1)), ZIP, r"UTF-8"),
    "json_top_array": (jmod(lambda j: b"[1, 2]"), ZIP, r"object"),
    "json_deep": (jmod(lambda j: b"[" * 50000 + b"]" * 50000), ZIP, r"invalid JSON|deep|nest"),
    "miss_images": (jmod(lambda j: j.pop("images")), ZIP, r'missing key "images"'),
    "miss_categories": (jmod(lambda j: j.pop("categories")), ZIP, r'"categories"'),
    "miss_annotations": (jmod(lambda j: j.pop("annotations")), ZIP, r'"annotations"'),
    "miss_image_id": (jmod(lambda j: j["images"][3].pop("id")), ZIP, r"images\[3\]\.id"),
    "miss_file_name": (jmod(lambda j: j["images"][3].pop("file_name")), ZIP,
                       r"images\[3\]\.file_name"),
    "type_width": (jmod(_set(["images", 3], "width", "12")), ZIP, r"images\[3\]\.width"),
    "type_images": (jmod(lambda j: j.__setitem__("images", {})), ZIP, r"images.*array"),
    "type_cat_name": (jmod(_set(["categories", 0], "name", 5)), ZIP,
                      r"categories\[0\]\.name"),
    "type_id_float": (jmod(_set(["images", 0], "id", 1.5)), ZIP, r"images\[0\]\.id"),
    "id_too_big": (jmod(_set(["images", 0], "id", 2 ** 60)), ZIP, r"images\[0\]\.id"),
    "width_negative": (jmod(_set(["images", 0], "width", -3)), ZIP, r"images\[0\]\.width"),
    "string_with_nul": (jmod(_set(["images", 0], "rights_holder", "a\u0000b")), ZIP, r"NUL"),
    "dup_image_id": (jmod(_same("images", 3, 4, "id")), ZIP, r"duplicate image id"),
    "dup_category_id": (jmod(_same("categories", 3, 4, "id")), ZIP, r"duplicate category"),
    "dup_annotation_id": (jmod(_same("annotations", 3, 4, "id")), ZIP,
                          r"duplicate annotation"),
    "unknown_category": (jmod(_set(["annotations", 3], "category_id", 99999)), ZIP,
                         r"no category with id 99999"),
    "unknown_image": (jmod(_set(["annotations", 3], "image_id", 99999)), ZIP,
                      r"no image with id 99999"),
    "bbox_unknown_category": (jmod(_set(["annotations", 0], "category_id", 99999),
                                   "train_2017_bboxes.zip", "train_2017_bboxes.json"),
                              "train_2017_bboxes.zip", r"no category with id 99999"),
    "bbox_three_numbers": (jmod(_set(["annotations", 0], "bbox", [1, 2, 3]),
                                "train_2017_bboxes.zip", "train_2017_bboxes.json"),
                           "train_2017_bboxes.zip", r"bbox"),
    "locations_corrupt": (lambda d: (d / "inat2017_locations.zip").write_bytes(b"junk" * 10),
                          "inat2017_locations.zip", r"zip"),
    "test_json_invalid": (jmod(lambda j: b"{", "test2017.zip", "test2017.json"),
                          "test2017.zip", r"invalid JSON"),
}


@pytest.mark.parametrize("case", sorted(ANN_CASES))
def test_bad_annotations(data, mnt, tmp_path, case):
    fn, zname, problem = ANN_CASES[case]
    fn(data)
    idx = tmp_path / "i.sqlite"
    mount_fails(data, mnt, index=idx, code=2, file=data / zname, problem=problem)
    assert not idx.exists()
    # `inatfs index` says the same, with the same code
    r = inatfs("index", data, "--index", idx)
    assert r.returncode == 2 and len(error_lines(r.stderr)) == 1, r.stderr
    assert not idx.exists() and leftovers(tmp_path) == []


def test_images_missing_from_tar_are_counted_not_fatal(tmp_path):
    d = make_fixture(tmp_path / "fx", seed=3, *["--missing-members", "3", "--stray-members", "2"])
    meta = load_fixture_meta(d)
    idx = tmp_path / "i.sqlite"
    r = inatfs("index", d, "--index", idx)
    assert r.returncode == 0, r.stderr
    assert any("3 images" in l and "not in the tarballs" in l for l in r.stderr.splitlines()), \
        r.stderr
    info = inatfs("info", d, "--index", idx)
    assert info.returncode == 0
    assert re.search(r"^missing_images: 3$", info.stdout, re.M), info.stdout
    assert re.search(r"^stray_members: 2$", info.stdout, re.M), info.stdout
    c = meta["counts"]
    listed = c["train_images"] + c["val_images"] + c["test_images"]
    m = Mount(d, tmp_path / "mnt", index=idx)
    try:
        shown = 0
        for view in ("train", "val", "test"):
            for _, _, files in os.walk(m.mnt / view):
                shown += sum(f.endswith(".jpg") for f in files)
        # every missing one is left out, every other one is there
        assert shown == listed - 3
        # and the pristine tree still holds the stray members
        members = {r["path"].rsplit("/", 1)[-1] for r in load_manifest(d)}
        pristine = set()
        for top in ("train_val_images", "test2017"):
            for root, _, files in os.walk(m.mnt / top):
                pristine |= set(files)
        assert members <= pristine and len(members) == sum(c["tar_members"].values())
    finally:
        assert m.close() == 0


# ------------------------------------------------------------------ the index

@pytest.fixture(scope="module")
def other_index(tmp_path_factory):
    """An index built for another archive (seed 2)."""
    base = tmp_path_factory.mktemp("other")
    d = make_fixture(base / "fx2", seed=2)
    idx = base / "other.sqlite"
    r = inatfs("index", d, "--index", idx)
    assert r.returncode == 0, r.stderr
    return idx


def _mount_rebuilds(data, tmp_path, idx, why):
    m = Mount(data, tmp_path / "mnt", index=idx)
    try:
        err = m.stderr()
        line = [l for l in err.splitlines() if l.startswith("inatfs: rebuilding the index")]
        assert len(line) == 1 and str(idx) in line[0] and re.search(why, line[0]), err
        rows = load_manifest(data)
        for r in rows[::7]:
            assert md5((m.mnt / r["path"]).read_bytes()) == r["md5"], r["path"]
    finally:
        assert m.close() == 0
    info = inatfs("info", data, "--index", idx)
    assert "index state: up to date" in info.stdout, info.stdout
    assert leftovers(tmp_path) == []


def test_index_garbage_is_rebuilt(data, tmp_path):
    idx = tmp_path / "i.sqlite"
    idx.write_bytes(os.urandom(8192))
    _mount_rebuilds(data, tmp_path, idx, r"not an inatfs index")


def test_index_truncated_is_rebuilt(data, tmp_path, other_index):
    idx = tmp_path / "i.sqlite"
    assert inatfs("index", data, "--index", idx).returncode == 0
    b = idx.read_bytes()
    idx.write_bytes(b[:len(b) // 3])
    _mount_rebuilds(data, tmp_path, idx, r"not an inatfs index|malformed|changed|corrupt")


def test_index_of_another_archive_is_rebuilt(data, tmp_path, other_index):
    idx = tmp_path / "i.sqlite"
    shutil.copy(other_index, idx)
    _mount_rebuilds(data, tmp_path, idx, r"train_val_images\.tar\.gz changed")


@pytest.mark.parametrize("version", [0, 99])
def test_index_other_schema_is_rebuilt(data, tmp_path, version):
    idx = tmp_path / "i.sqlite"
    assert inatfs("index", data, "--index", idx).returncode == 0
    db = sqlite3.connect(idx)
    db.execute(f"PRAGMA user_version={version}")
    db.commit()
    db.close()
    _mount_rebuilds(data, tmp_path, idx, rf"schema version {version}")


def test_index_location_not_writable(data, mnt, tmp_path):
    mount_fails(data, mnt, index="/proc/nope", code=3, file="/proc/nope",
                problem=r"cannot create")
    ro = tmp_path / "ro"
    ro.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)], check=True)
    try:
        mount_fails(data, mnt, index=ro / "i.sqlite", code=3, file=ro / "i.sqlite",
                    problem=r"read-only file system")
        r = inatfs("index", data, "--index", ro / "i.sqlite")
        assert r.returncode == 3 and len(error_lines(r.stderr)) == 1, r.stderr
    finally:
        subprocess.run(["umount", str(ro)], check=True)


def test_index_disk_full(data, mnt, tmp_path, other_index):
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(small)], check=True)
    try:
        idx = small / "i.sqlite"
        mount_fails(data, mnt, index=idx, code=3, file=idx, problem=r"full|no space")
        assert list(small.iterdir()) == []
    finally:
        subprocess.run(["umount", str(small)], check=True)
    # with a stale index in place: the rebuild fails, the old index stays as it was
    size = other_index.stat().st_size
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size + 100 * 1024}", "tmpfs",
                    str(small)], check=True)
    try:
        idx = small / "i.sqlite"
        shutil.copy(other_index, idx)
        before = md5(idx.read_bytes())
        mount_fails(data, mnt, index=idx, code=3, file=idx, problem=r"full|no space")
        assert md5(idx.read_bytes()) == before
        assert [p.name for p in small.iterdir()] == ["i.sqlite"]
    finally:
        subprocess.run(["umount", str(small)], check=True)


# ------------------------------------------------------------------ unsafe names

LONG = "L" * 300


@pytest.fixture(scope="module")
def unsafe_data(tiny_dir, tmp_path_factory):
    """The tiny fixture with hostile names: category and supercategory names
    with '/', '..', '.', control bytes and 300 bytes; tar members with '..'
    components, an absolute path, non-UTF-8 bytes, a 300-byte component, a
    symlink and a hard link pointing out of the tree."""
    d = tmp_path_factory.mktemp("unsafe") / "data"
    shutil.copytree(tiny_dir, d, ignore=shutil.ignore_patterns(".inatfs-index*"))
    hostile = ["../../../etc", "a/b/../c", "..", ".", LONG, "tab\there\x01", "/abs"]

    def cats(j):
        for i, c in enumerate(j["categories"][:len(hostile)]):
            c["name"] = hostile[i]
            c["supercategory"] = hostile[-1 - i]
    def g(items):
        out = []
        for n, b in items:
            j = json.loads(b)
            cats(j)
            out.append((n, json.dumps(j).encode()))
        return out
    rezip(d / ZIP, g)
    for zname in ("train_2017_bboxes.zip", "val_2017_bboxes.zip", "test2017.zip"):
        rezip(d / zname, g)

    src = tarfile.open(d / TAR)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as out:
        for m in src.getmembers():
            out.addfile(m, src.extractfile(m) if m.isfile() else None)
        def add(name, data=b"evil", **kw):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 1500000000
            for k, v in kw.items():
                setattr(ti, k, v)
            out.addfile(ti, io.BytesIO(data) if ti.isfile() else None)
        add("train_val_images/../escape.jpg")
        add("train_val_images/Aves/../../escape2.jpg")
        add("/etc/escape3.jpg")
        add("train_val_images/Weird/\udcff\udcfe bytes.jpg", b"nonutf8")
        add(f"train_val_images/Weird/{LONG}.jpg", b"long")
        add("train_val_images/Weird/link.jpg", b"", type=tarfile.SYMTYPE, linkname="/etc/passwd")
        add("train_val_images/Weird/hard.jpg", b"", type=tarfile.LNKTYPE,
            linkname="../../etc/passwd")
    (d / TAR).write_bytes(gzip.compress(buf.getvalue(), 6))
    return d


def test_unsafe_names_are_made_safe(unsafe_data, tmp_path):
    idx = tmp_path / "i.sqlite"
    m = Mount(unsafe_data, tmp_path / "mnt", index=idx)
    try:
        root = os.path.realpath(m.mnt)
        names = []
        for top, dirs, files in os.walk(m.mnt):
            for n in dirs + files:
                p = os.path.join(top, n)
                names.append(n)
                assert n not in (".", "..") and "/" not in n
                assert len(os.fsencode(n)) <= 255
                if not os.path.relpath(top, m.mnt).startswith(("train_val_images", "2017")):
                    n.encode("utf-8")   # views: invalid UTF-8 became '_'
                assert not any(ord(ch) < 32 for ch in n), repr(n)
                assert os.path.realpath(p).startswith(root + "/"), p
                assert not os.path.islink(p), p
        # '..' members are left out; an absolute one lands inside, as `tar x` puts it
        assert [n for n in names if "escape" in n] == ["escape3.jpg"], names
        assert (m.mnt / "etc" / "escape3.jpg").read_bytes() == b"evil"
        # the hostile category names appear, made safe, as class folders
        classes = os.listdir(m.mnt / "train") + os.listdir(m.mnt / "val")
        assert any(re.fullmatch(r"\d{4} _\.\._\.\._\.\._etc", c) or
                   re.fullmatch(r"\d{4} \.\./\.\./\.\./etc".replace("/", "_"), c)
                   for c in classes), classes
        assert any(c.endswith("a_b_.._c") for c in classes), classes
        assert any(c.startswith(tuple(f"{i:04d} LLL" for i in range(100))) and
                   len(c.encode()) <= 240 for c in classes), classes
        supers = os.listdir(m.mnt / "by-supercategory")
        assert "_.." in supers and "_." in supers, supers
        assert "_abs" in supers, supers
        # the pristine tree is what `tar x` gives: a non-UTF-8 member name keeps its
        # bytes (any byte but '/' and NUL is a valid Linux name), and its data
        weird_dir = m.mnt / "train_val_images" / "Weird"
        weird = os.listdir(weird_dir)
        assert b"\xff\xfe bytes.jpg" in os.listdir(os.fsencode(weird_dir)), weird
        assert (weird_dir / os.fsdecode(b"\xff\xfe bytes.jpg")).read_bytes() == b"nonutf8"
        # the 300-byte member name cannot be served as is: left out (and counted)
        assert not any(w.startswith("LLLL") for w in weird), weird
        # lookups of '..' paths stay inside (the kernel resolves them, never inatfs)
        assert os.path.realpath(m.mnt / "train" / ".." / "..") == os.path.dirname(root)
    finally:
        assert m.close() == 0
    info = inatfs("info", unsafe_data, "--index", idx)
    skipped = int(re.search(r"^skipped_unsafe: (\d+)$", info.stdout, re.M).group(1))
    assert skipped >= 3, info.stdout
    # nothing was written outside: no escape*.jpg next to the data or above it
    for p in (unsafe_data.parent, unsafe_data.parent.parent, pathlib.Path("/etc")):
        assert not any(n.startswith("escape") for n in os.listdir(p))


# ------------------------------------------------------------------ security

def test_read_only_every_path(tiny_dir, tmp_path):
    m = Mount(tiny_dir, tmp_path / "mnt", index=tmp_path / "i.sqlite")
    try:
        mp = m.mnt
        f = next(p for p in (mp / "train").rglob("*.jpg"))
        ann = mp / "train2017.json"
        before = {p: md5(p.read_bytes()) for p in (f, ann)}
        d = f.parent
        attempts = {
            "open_w": lambda: os.open(f, os.O_WRONLY),
            "open_rw": lambda: os.open(f, os.O_RDWR),
            "open_trunc": lambda: os.open(ann, os.O_RDONLY | os.O_TRUNC),
            "open_append": lambda: os.open(f, os.O_WRONLY | os.O_APPEND),
            "create": lambda: os.open(d / "new.jpg", os.O_WRONLY | os.O_CREAT, 0o644),
            "create_root": lambda: os.open(mp / "new", os.O_WRONLY | os.O_CREAT, 0o644),
            "mkdir": lambda: os.mkdir(d / "newdir"),
            "rmdir": lambda: os.rmdir(d),
            "unlink": lambda: os.unlink(f),
            "rename": lambda: os.rename(f, d / "moved.jpg"),
            "symlink": lambda: os.symlink("/etc/passwd", d / "ln"),
            "link": lambda: os.link(f, d / "hard.jpg"),
            "chmod": lambda: os.chmod(f, 0o777),
            "chown": lambda: os.chown(f, 1, 1),
            "utime": lambda: os.utime(f, (0, 0)),
            "truncate": lambda: os.truncate(f, 0),
            "setxattr": lambda: os.setxattr(f, "user.x", b"1"),
            "mknod": lambda: os.mknod(d / "fifo", 0o600 | 0o010000),
        }
        for what, fn in attempts.items():
            with pytest.raises(OSError) as e:
                fd = fn()
                if isinstance(fd, int):
                    os.close(fd)
            assert e.value.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTSUP,
                                     errno.EOPNOTSUPP), (what, e.value)
        assert not os.access(f, os.W_OK)
        assert {p: md5(p.read_bytes()) for p in (f, ann)} == before
        assert not (d / "new.jpg").exists() and not (mp / "new").exists()
        line = mounts_under(mp)[0].split()
        mount_opts = line[5].split(",")
        super_opts = line[-1].split(",")
        assert "ro" in mount_opts, line
        assert "default_permissions" in super_opts, line
        assert "allow_other" not in super_opts, line
        assert line[line.index("-") + 1] == "fuse.inatfs", line
    finally:
        assert m.close() == 0


def test_allow_other_only_when_asked(tiny_dir, tmp_path):
    m = Mount(tiny_dir, tmp_path / "mnt", "allow_other", index=tmp_path / "i.sqlite")
    try:
        line = mounts_under(m.mnt)[0].split()
        opts = line[-1].split(",")
        assert "allow_other" in opts and "default_permissions" in opts, line
        assert "ro" in line[5].split(","), line
    finally:
        assert m.close() == 0
