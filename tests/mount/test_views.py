"""Every view of a mounted tiny fixture against what the fixture's own files
say: names, sizes, md5 of every image through every view, sidecars, and the
annotation files byte for byte."""

import errno
import hashlib
import json
import os
import random
import stat
import tarfile
import zipfile

import pytest

from expected import ANNFILES, Expected, class_dir, sidecar_name


@pytest.fixture(scope="module")
def exp(tiny_dir):
    return Expected(tiny_dir)


def md5(path):
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def test_root_lists_every_view(mounted, exp):
    names = set(os.listdir(mounted))
    for n in ("train_val_images", "2017", "test2017", "train", "val", "by-supercategory",
              "with-bbox", "test", "submission_template.csv", *ANNFILES):
        assert n in names, n


def test_pristine_tree_matches_manifest(mounted, exp):
    seen = {}
    for top in ("train_val_images", "test2017"):
        for root, dirs, files in os.walk(mounted / top):
            for f in files:
                p = os.path.join(root, f)
                seen[os.path.relpath(p, mounted)] = os.path.getsize(p)
    assert seen == {p: int(r["size"]) for p, r in exp.by_path.items()}
    for p, row in exp.by_path.items():
        assert md5(mounted / p) == row["md5"], p


def test_2017_is_the_pristine_train_val_tree(mounted, exp):
    """2017/ holds what train_val_images/ holds, byte for byte, with inode
    numbers of its own (a folder has one parent) that are stable."""
    tree = {}
    for root, dirs, files in os.walk(mounted / "2017"):
        for f in files:
            p = os.path.join(root, f)
            tree["train_val_images/" + os.path.relpath(p, mounted / "2017")] = os.path.getsize(p)
    want = {p: int(r["size"]) for p, r in exp.by_path.items()
            if p.startswith("train_val_images/")}
    assert tree == want
    for p, row in want.items():
        alias = mounted / "2017" / p.split("/", 1)[1]
        assert md5(alias) == exp.by_path[p]["md5"], alias
    pristine_inos = {os.stat(mounted / p).st_ino for p in want}
    alias_inos = {os.stat(mounted / "2017" / p.split("/", 1)[1]).st_ino for p in want}
    assert len(alias_inos) == len(want) and not alias_inos & pristine_inos
    sup = sorted(os.listdir(mounted / "2017"))
    assert sup == sorted(os.listdir(mounted / "train_val_images"))
    for s in sup:
        a, b = os.stat(mounted / "2017" / s), os.stat(mounted / "train_val_images" / s)
        assert a.st_ino != b.st_ino and a.st_nlink == b.st_nlink and a.st_mtime == b.st_mtime
        assert os.stat(mounted / "2017" / s).st_ino == a.st_ino


def test_any_part_read_cold(mounted, exp, tiny_dir):
    """Parts of members read from a cold handle with nothing cached: the ends
    of members lie between the next member's checkpoint and the data it
    serves, so they must come from the member's own checkpoint."""
    want = {}
    for tb in ("train_val_images.tar.gz", "test2017.tar.gz"):
        with tarfile.open(tiny_dir / tb) as t:
            for m in t.getmembers():
                if m.isfile():
                    want[m.name] = t.extractfile(m).read()
    rng = random.Random(5)
    checked = 0
    for p in exp.by_path:
        data = want.get(p) or want.get(p.removeprefix("test2017/"))
        assert data is not None, p
        for start in (max(0, len(data) - 97), rng.randrange(len(data) + 1)):
            fd = os.open(mounted / p, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)   # drop its pages
                got = os.pread(fd, len(data), start)
            finally:
                os.close(fd)
            assert got == data[start:], (p, start)
            checked += 1
    assert checked == 2 * len(exp.by_path)


def test_every_image_in_every_view(mounted, exp):
    files = exp.view_files()
    assert files, "the fixture has images"
    for p, row in files.items():
        st = os.stat(mounted / p)
        assert st.st_size == int(row["size"]), p
        assert md5(mounted / p) == row["md5"], p


def test_views_hold_nothing_else(mounted, exp):
    files = exp.view_files()
    for top in ("train", "val", "by-supercategory", "with-bbox", "test"):
        for root, dirs, fs in os.walk(mounted / top):
            for f in fs:
                rel = os.path.relpath(os.path.join(root, f), mounted)
                if rel in ("with-bbox/train.json", "with-bbox/val.json"):
                    continue
                if f.endswith(".json"):
                    img = rel[: -len(".json")]
                    assert any(k.rsplit(".", 1)[0] == img for k in files), rel
                else:
                    assert rel in files, rel


def test_class_folders_sort_by_category_id(mounted, exp):
    classes = sorted(os.listdir(mounted / "train"))
    ids = [int(c.split(" ", 1)[0]) for c in classes]
    assert ids == sorted(ids)
    assert classes == [class_dir(exp.cats[i]) for i in ids]
    assert len(classes) == len(exp.cats)


def test_sidecars(mounted, exp):
    n = 0
    for split in ("train", "val"):
        for img, path, row in exp.images(split):
            cat = exp.cats[exp.labels[(split, img["id"])]]
            base = path.rsplit("/", 1)[1]
            sc = mounted / split / class_dir(cat) / sidecar_name(base)
            data = sc.read_bytes()
            assert os.path.getsize(sc) == len(data)
            meta = json.loads(data)
            assert meta["id"] == img["id"]
            assert meta["file_name"] == img["file_name"]
            assert meta["split"] == split
            assert (meta["width"], meta["height"]) == (img["width"], img["height"])
            assert meta["category"] == {"id": cat["id"], "name": cat["name"],
                                        "supercategory": cat["supercategory"]}
            assert meta["rights_holder"] == img.get("rights_holder")
            lic = {l["id"]: l for l in exp.train.get("licenses", [])}.get(img.get("license"))
            if lic:
                assert meta["license"] == {"id": lic["id"], "name": lic["name"], "url": lic["url"]}
            assert meta["bboxes"] == exp.boxes[(split, img["id"])]
            assert meta["location"] == exp.locs.get((split, img["id"]))
            n += 1
    assert n > 0
    for img, path, row in exp.images("test"):
        meta = json.loads((mounted / "test" / sidecar_name(path.rsplit("/", 1)[1])).read_text())
        assert meta["id"] == img["id"] and meta["split"] == "test" and meta["category"] is None


def test_pristine_trees_hold_no_sidecars(mounted):
    for root, dirs, files in [*os.walk(mounted / "train_val_images"), *os.walk(mounted / "2017")]:
        assert not [f for f in files if f.endswith(".json")], root


def test_annotation_files_are_byte_identical(mounted, tiny_dir):
    for name, zname in ANNFILES.items():
        with zipfile.ZipFile(tiny_dir / zname) as z:
            entry = [n for n in z.namelist() if n.rsplit("/", 1)[-1] == name][0]
            want = z.read(entry)
        assert (mounted / name).read_bytes() == want, name
        assert os.path.getsize(mounted / name) == len(want)


def test_with_bbox_coco_files(mounted, exp):
    for split in ("train", "val"):
        coco = json.loads((mounted / "with-bbox" / f"{split}.json").read_text())
        assert set(coco) >= {"images", "annotations", "categories"}
        ids = {i["id"] for i in coco["images"]}
        want = {iid for (s, iid), n in exp.nboxes.items() if s == split and n}
        assert ids == want
        for i in coco["images"]:
            assert (mounted / "with-bbox" / i["file_name"]).is_file(), i["file_name"]
        assert len(coco["annotations"]) == sum(n for (s, _), n in exp.nboxes.items() if s == split)


def test_open_twice_shares_one_copy_and_stays_right(mounted, tiny_dir):
    """Generated and annotation files opened several times at once (one copy
    in the daemon): every handle reads the whole file, also after another
    handle was closed, and a later open makes it again."""
    with zipfile.ZipFile(tiny_dir / "train_val2017.zip") as z:
        entry = [n for n in z.namelist() if n.endswith("train2017.json")][0]
        ann = z.read(entry)
    for rel, want in (("train2017.json", ann), ("with-bbox/train.json", None),
                      ("submission_template.csv", None)):
        p = mounted / rel
        a = open(p, "rb")
        b = open(p, "rb")
        first = a.read()
        assert b.read(100) == first[:100]
        a.close()
        assert first[100:] == b.read()
        b.seek(0)
        assert b.read() == first
        b.close()
        assert p.read_bytes() == first
        assert len(first) == os.path.getsize(p)
        if want is not None:
            assert first == want, rel


def test_submission_template(mounted, exp):
    lines = (mounted / "submission_template.csv").read_text().splitlines()
    assert lines[0] == "id,predicted"
    assert [int(l.split(",")[0]) for l in lines[1:]] == [i["id"] for i in exp.test["images"]]


def test_stat_details(mounted, exp):
    root = os.stat(mounted)
    assert root.st_nlink >= 2
    a = os.stat(mounted / "train")
    b = os.stat(mounted / "train")
    assert a.st_ino == b.st_ino
    p, row = next(iter(exp.by_path.items()))
    # the views' files are read-only copies; the pristine trees carry the tar's
    # permission bits, as tar -x gives them
    view = next(iter(exp.view_files()))
    assert os.stat(mounted / view).st_mode & 0o777 == 0o444
    with os.scandir(mounted / "train") as it:
        for e in it:
            assert e.is_dir(follow_symlinks=False)


def test_pristine_modes_are_the_tars(mounted, tiny_dir):
    import tarfile
    seen = 0
    for archive, top in (("train_val_images.tar.gz", ""), ("test2017.tar.gz", "test2017/")):
        with tarfile.open(tiny_dir / archive) as tf:
            for m in tf.getmembers():
                name = m.name if m.name.startswith("test2017") or not top else top + m.name
                path = mounted / name.rstrip("/")
                st = os.stat(path)
                assert st.st_mode & 0o777 == m.mode & 0o777, (name, oct(st.st_mode), oct(m.mode))
                assert stat.S_ISDIR(st.st_mode) == m.isdir()
                if m.isfile():
                    assert st.st_mtime == m.mtime
                seen += 1
    assert seen > 100
    with pytest.raises(OSError) as e:
        open(mounted / p_first_file(mounted), "r+b")
    assert e.value.errno == errno.EROFS


def p_first_file(mounted):
    for root, dirs, files in os.walk(mounted / "train_val_images"):
        if files:
            return os.path.relpath(os.path.join(root, files[0]), mounted)
    raise AssertionError("no file")


def test_missing_names(mounted):
    for _ in range(2):   # the second time answers from the kernel's negative cache
        for p in ("nope", "train/nope", "train_val_images/Aves/nope.jpg", "with-bbox/x.json",
                  "test/nope.json", "by-supercategory/Nope/train"):
            with pytest.raises(FileNotFoundError):
                os.stat(mounted / p)


@pytest.mark.parametrize("op", ["create", "append", "mkdir", "unlink", "rename", "chmod",
                                "truncate", "symlink"])
def test_writes_fail_with_erofs(mounted, exp, op):
    f = mounted / next(iter(exp.by_path))
    actions = {
        "create": lambda: open(mounted / "new.txt", "w"),
        "append": lambda: open(f, "a"),
        "mkdir": lambda: os.mkdir(mounted / "train" / "x"),
        "unlink": lambda: os.unlink(f),
        "rename": lambda: os.rename(f, str(f) + ".x"),
        "chmod": lambda: os.chmod(f, 0o644),
        "truncate": lambda: os.truncate(f, 0),
        "symlink": lambda: os.symlink("x", mounted / "link"),
    }
    with pytest.raises(OSError) as e:
        actions[op]()
    assert e.value.errno in (errno.EROFS, errno.EACCES, errno.EPERM), e.value
