#!/usr/bin/python3
"""Builds the reader unit test's downloads in DIR/data: the tiny fixture
(scripts/make-fixture) with two members put in the middle of its train/val
tarball, train_val_images/Big/big.bin (6 MiB of random bytes, stored
blocks once compressed: a byte flipped in the .gz is a wrong byte out, not a
decoding error) and train_val_images/Big/after.txt (text) right after it.
Usage: reader_fixture.py SRC_DIR DIR"""
import gzip, io, os, random, subprocess, sys, tarfile

src, d = sys.argv[1], sys.argv[2]
data = os.path.join(d, "data")
subprocess.run([os.path.join(src, "scripts", "make-fixture"), "--preset", "tiny", "--seed", "5",
                data], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
tar = os.path.join(data, "train_val_images.tar.gz")
members = tarfile.open(tar).getmembers()
old = tarfile.open(tar)
rng = random.Random(7)
big = rng.randbytes(6 << 20)
text = b"".join(b"line %d of a text member after the big one\n" % i for i in range(3000))
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as out:
    for i, m in enumerate(members):
        if i == len(members) // 2:
            for name, body in (("big.bin", big), ("after.txt", text)):
                ti = tarfile.TarInfo("train_val_images/Big/" + name)
                ti.size = len(body)
                ti.mtime = 1500000000
                out.addfile(ti, io.BytesIO(body))
        out.addfile(m, old.extractfile(m) if m.isfile() else None)
with open(tar, "wb") as f:
    f.write(gzip.compress(buf.getvalue(), 6, mtime=0))
