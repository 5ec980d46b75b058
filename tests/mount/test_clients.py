"""Real, unchanged clients on a mounted tiny fixture: find, ls -lR, du,
md5sum, tar, rsync, os.walk, PIL, torchvision ImageFolder and INaturalist."""

import hashlib
import io
import json
import os
import subprocess
import tarfile

import pytest

from expected import Expected, class_dir


@pytest.fixture(scope="module")
def exp(tiny_dir):
    return Expected(tiny_dir)


def jpg_sizes(ls_output):
    """{name: size} of the .jpg files in `ls -l` output."""
    sizes = {}
    for line in ls_output.splitlines():
        parts = line.split(None, 8)
        if len(parts) == 9 and parts[0].startswith("-") and parts[8].endswith(".jpg"):
            sizes[parts[8]] = int(parts[4])
    return sizes


def sh(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, **kw).stdout


def test_find_lists_every_member(mounted, exp):
    out = sh("find", ".", "-type", "f", cwd=mounted / "train_val_images").decode()
    got = sorted("train_val_images/" + l[2:] for l in out.splitlines())
    want = sorted(p for p in exp.by_path if p.startswith("train_val_images/"))
    assert got == want


def test_ls_lR_and_du(mounted, exp):
    out = sh("ls", "-lR", str(mounted / "train")).decode()
    sizes = jpg_sizes(out)
    want = {p.rsplit("/", 1)[1]: int(r["size"]) for p, r in exp.view_files().items()
            if p.startswith("train/")}
    assert sizes == want
    du = int(sh("du", "-sb", str(mounted / "train_val_images")).split()[0])
    assert du >= sum(int(r["size"]) for p, r in exp.by_path.items()
                     if p.startswith("train_val_images/"))


def test_md5sum(mounted, exp):
    rows = [(p, r) for p, r in exp.by_path.items() if p.startswith("train_val_images/")]
    out = sh("md5sum", *[p for p, _ in rows], cwd=mounted).decode()
    got = {l[34:]: l[:32] for l in out.splitlines()}
    assert got == {p: r["md5"] for p, r in rows}


def test_tar_of_a_view(mounted, exp):
    data = sh("tar", "-cf", "-", "-C", str(mounted), "val")
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        got = {m.name: hashlib.md5(t.extractfile(m).read()).hexdigest()
               for m in t.getmembers() if m.isfile() and m.name.endswith(".jpg")}
    want = {p: r["md5"] for p, r in exp.view_files().items() if p.startswith("val/")}
    assert got == want


def test_rsync_of_a_view(mounted, exp, tmp_path):
    sh("rsync", "-a", str(mounted / "with-bbox") + "/", str(tmp_path / "copy"))
    for p, r in exp.view_files().items():
        if p.startswith("with-bbox/"):
            got = hashlib.md5((tmp_path / "copy" / p[len("with-bbox/"):]).read_bytes())
            assert got.hexdigest() == r["md5"], p
    coco = json.loads((tmp_path / "copy" / "train.json").read_text())
    assert coco["images"]


def test_os_walk_counts(mounted, exp):
    n = sum(len([f for f in fs if f.endswith(".jpg")]) for _, _, fs in os.walk(mounted / "train"))
    assert n == sum(1 for p in exp.view_files() if p.startswith("train/"))


def test_pil_decodes_every_image(mounted, tiny_dir, exp):
    from PIL import Image
    truncated = json.loads((tiny_dir / "fixture.json").read_text()).get("truncated_jpeg")
    n = 0
    for p in exp.by_path:
        if not p.endswith(".jpg"):
            continue
        if truncated and p.endswith(truncated.rsplit("/", 1)[-1]):
            with pytest.raises(Exception):
                with Image.open(mounted / p) as im:
                    im.load()
            continue
        with Image.open(mounted / p) as im:
            im.load()
        n += 1
    assert n > 0


def test_torchvision_imagefolder(mounted, exp):
    import torchvision.datasets as datasets
    for split in ("train", "val"):
        ds = datasets.ImageFolder(str(mounted / split))
        for cls, idx in ds.class_to_idx.items():
            assert int(cls.split(" ", 1)[0]) == idx
        assert len(ds.class_to_idx) == len(exp.cats)
        assert len(ds) == sum(1 for p in exp.view_files() if p.startswith(split + "/"))
        img, target = ds[0]
        assert img.size[0] > 0 and target == 0


def test_torchvision_inaturalist_at_the_mount(mounted, exp):
    """INaturalist(root=MOUNTPOINT, version="2017"), unchanged and with no
    set-up, sees every train and val image under its own category."""
    import torchvision.datasets as datasets
    ds = datasets.INaturalist(str(mounted), version="2017", download=False)
    got = sorted("train_val_images/" + ds.all_categories[cat] + "/" + fname
                 for cat, fname in ds.index)
    want = sorted(p for p in exp.by_path if p.startswith("train_val_images/"))
    assert got == want
    json_images = {img["file_name"] for split in ("train", "val") for img, _, _ in
                   exp.images(split)}
    assert json_images and json_images <= set(got)
    # decoded samples: the same pixels as the fixture's own bytes
    from PIL import Image
    for i in range(0, len(ds), max(1, len(ds) // 7)):
        img, target = ds[i]
        cat, fname = ds.index[i]
        row = exp.by_path["train_val_images/" + ds.all_categories[cat] + "/" + fname]
        with open(mounted / "2017" / ds.all_categories[cat] / fname, "rb") as fh:
            data = fh.read()
        assert hashlib.md5(data).hexdigest() == row["md5"]
        with Image.open(io.BytesIO(data)) as ref:
            assert img.convert("RGB").tobytes() == ref.convert("RGB").tobytes()
        assert target == cat


@pytest.mark.parametrize("opt", [None, "readdirplus", "noreaddirplus"])
def test_listing_modes(tiny_dir, tmp_path, exp, opt):
    """Listings with attributes when the kernel asks (default), always
    (-o readdirplus) or never (-o noreaddirplus): ls -lR and du see the same
    sizes and modes, find the same names."""
    from mountlib import Mount
    opts = [opt] if opt else []
    m = Mount(tiny_dir, tmp_path / "mnt", *opts, index=tmp_path / "index.sqlite")
    try:
        out = sh("ls", "-lR", str(m.mnt / "val")).decode()
        pristine = sh("ls", "-lR", str(m.mnt / "train_val_images")).decode()
        found = sh("find", str(m.mnt / "train"), "-name", "*.jpg").decode().splitlines()
        du = sh("du", "-sb", "--apparent-size", str(m.mnt / "train_val_images")).decode()
    finally:
        assert m.close() == 0, m.stderr()
    sizes = jpg_sizes(out)
    want = {p.rsplit("/", 1)[1]: int(r["size"]) for p, r in exp.view_files().items()
            if p.startswith("val/")}
    assert sizes == want
    tv = {p.rsplit("/", 1)[1]: int(r["size"]) for p, r in exp.by_path.items()
          if p.startswith("train_val_images/")}
    assert jpg_sizes(pristine) == tv
    assert all(l.startswith("-rw-r--r--") for l in pristine.splitlines() if l.endswith(".jpg"))
    assert len(found) == sum(1 for p in exp.view_files() if p.startswith("train/"))
    assert int(du.split()[0]) >= sum(tv.values())


def lookups_by(log, pid):
    """LOOKUP requests of process pid in a -d log."""
    return sum(1 for l in log.splitlines() if "opcode: LOOKUP" in l and l.endswith(f"pid: {pid}"))


@pytest.mark.parametrize("opt", [None, "readdirplus", "noreaddirplus"])
def test_who_gets_attributes_in_listings(tiny_dir, tmp_path, exp, opt):
    """By default a process that stats what it lists (ls -l) gets listings with
    attributes and so few lookups; one that only lists (find -type f) gets
    names only, so a file it listed is looked up when another process stats
    it. -o readdirplus: attributes for everyone; -o noreaddirplus: for no one."""
    from mountlib import Mount
    opts = [opt] if opt else []
    m = Mount(tiny_dir, tmp_path / "mnt", *opts, index=tmp_path / "index.sqlite", flags=("-d",))
    try:
        tvi = m.mnt / "train_val_images"
        nfiles = sum(1 for p in exp.by_path if p.startswith("train_val_images/"))
        ls = subprocess.run(["ls", "-lR", str(tvi)], capture_output=True, check=True)
        find = subprocess.run(["find", str(m.mnt / "val"), "-type", "f"], capture_output=True,
                              check=True, text=True)
        one = find.stdout.split("\n")[0]
        st = subprocess.Popen(["stat", "-c", "%s", one], stdout=subprocess.PIPE)
        st.communicate()
    finally:
        assert m.close() == 0
    log = m.stderr()
    # the pids are in the log: count per process
    pids = []
    for l in log.splitlines():
        if "opcode: LOOKUP" in l:
            pid = int(l.rsplit("pid: ", 1)[1])
            if pid not in pids:
                pids.append(pid)
    assert st.pid in pids or opt == "readdirplus"
    n_ls = max(lookups_by(log, p) for p in pids if p != st.pid) if pids else 0
    if opt == "noreaddirplus":
        assert n_ls >= nfiles, (n_ls, nfiles)
    else:
        # the first folder's files and the folders themselves, not every file
        assert n_ls < nfiles / 2, (n_ls, nfiles)
    stat_lookups = lookups_by(log, st.pid)
    if opt == "readdirplus":
        assert stat_lookups == 0, stat_lookups
    else:
        assert stat_lookups >= 1, stat_lookups


def test_listing_attributes_are_those_of_lookups(tiny_dir, tmp_path):
    """One source of attributes for every path: what a listing with
    attributes says of an entry (-o readdirplus: the kernel keeps them, and
    stat answers from them without asking) is what a lookup says (-o
    noreaddirplus: every stat is a lookup), in the root and in a folder of
    each kind; and stat of the root is the same in both."""
    from mountlib import Mount
    idx = tmp_path / "index.sqlite"
    plus = Mount(tiny_dir, tmp_path / "plus", "readdirplus", index=idx)
    try:
        names = Mount(tiny_dir, tmp_path / "names", "noreaddirplus", index=idx)
        try:
            def key(st):
                return (st.st_ino, st.st_mode, st.st_nlink, st.st_size, st.st_mtime,
                        st.st_uid, st.st_gid)
            sup = sorted(os.listdir(names.mnt / "by-supercategory"))[0]
            cls = sorted(os.listdir(names.mnt / "train"))[0]
            folders = ["", "by-supercategory", f"by-supercategory/{sup}", "with-bbox", "train",
                       f"train/{cls}", "test", "train_val_images", "2017"]
            compared = 0
            for d in folders:
                with os.scandir(plus.mnt / d) as it:
                    listed = {e.name: e.stat(follow_symlinks=False) for e in it}
                assert listed, d
                for name, st in listed.items():
                    assert key(st) == key(os.lstat(names.mnt / d / name)), (d, name)
                    compared += 1
            assert compared > 50
            assert key(os.stat(plus.mnt)) == key(os.stat(names.mnt))
            # the link counts that differed: the root's entries of folders of folders
            assert os.stat(plus.mnt / "by-supercategory").st_nlink == 2 + len(
                os.listdir(plus.mnt / "by-supercategory"))
        finally:
            assert names.close() == 0, names.stderr()
    finally:
        assert plus.close() == 0, plus.stderr()
