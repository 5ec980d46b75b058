"""Fixtures of the mount tests; the helpers live in mountlib.py."""

import pytest

from mountlib import Mount, unexpected_stderr


@pytest.fixture(scope="session")
def mounted(tiny_dir, tmp_path_factory):
    """The tiny fixture mounted with default options (sidecars on)."""
    base = tmp_path_factory.mktemp("mount")
    m = Mount(tiny_dir, base / "mnt", index=base / "index.sqlite")
    try:
        yield m.mnt
    finally:
        rc = m.close()
        err = m.stderr()
    assert rc == 0, err
    assert unexpected_stderr(err) == [], err


BIG_SIZES = {
    # name: (size, kind); random bytes stand for JPEG data (incompressible),
    # "text" has long matches reaching back through the window
    "one-unit.bin": (128 << 10, "random"),        # exactly one readahead unit
    "one-more.bin": ((128 << 10) + 1, "random"),
    "image-a.jpg": (180_000, "random"),
    "image-b.jpg": (290_000, "random"),
    "image-c.jpg": (330_000, "random"),
    "image-d.jpg": (410_000, "random"),
    "image-e.jpg": (250_000, "random"),
    "image-f.jpg": (620_000, "random"),
    "mib.bin": ((1 << 20) + 12345, "random"),
    "text.txt": (3 << 20, "text"),
    "whole-max.bin": (8 << 20, "random"),         # the largest decoded whole
    "past-max.bin": ((8 << 20) + 1, "random"),    # served read by read
}


@pytest.fixture(scope="session")
def big_dir(tiny_dir, tmp_path_factory):
    """The tiny fixture with members of 128 KiB to 8 MiB + 1 in the middle of
    train_val_images.tar.gz (train_val_images/Big/, in no JSON: only the
    pristine tree shows them). Returns (folder, {mount path: bytes})."""
    import gzip
    import io
    import random
    import shutil
    import tarfile
    d = tmp_path_factory.mktemp("bigmembers") / "data"
    shutil.copytree(tiny_dir, d, ignore=shutil.ignore_patterns(".inatfs-index*"))
    tar = d / "train_val_images.tar.gz"
    rng = random.Random(5)
    words = [bytes(rng.choice(b"abcdefghij") for _ in range(rng.randint(2, 9)))
             for _ in range(300)]
    big = {}
    for name, (size, kind) in BIG_SIZES.items():
        if kind == "random":
            b = rng.randbytes(size)
        else:
            b = b" ".join(rng.choice(words) for _ in range(size // 3))[:size]
        big["train_val_images/Big/" + name] = b
    with tarfile.open(tar) as src:
        members = [(m, src.extractfile(m).read() if m.isfile() else None)
                   for m in src.getmembers()]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as out:
        for i, (m, b) in enumerate(members):
            if i == len(members) // 2:
                for name, data in big.items():
                    ti = tarfile.TarInfo(name)
                    ti.size = len(data)
                    ti.mtime = 1500000000
                    out.addfile(ti, io.BytesIO(data))
            out.addfile(m, io.BytesIO(b) if b is not None else None)
    tar.write_bytes(gzip.compress(buf.getvalue(), 6))
    return d, big
