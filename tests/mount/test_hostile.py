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
