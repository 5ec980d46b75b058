#!/usr/bin/python3
"""Builds the gz unit test's inputs in DIR: data.tar (text, PIL JPEGs, zeros,
random bytes), the same tar compressed by several gzip writers, and a few
multi-member / odd-header files. Each X.gz has X.expect (what gzip -dc gives).
Usage: gz_fixture.py DIR"""
import glob, gzip, io, os, random, struct, subprocess, sys, tarfile, zlib

from PIL import Image

d = sys.argv[1]
rng = random.Random(1234)

def add(tf, name, data):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mtime = 1500000000
    tf.addfile(ti, io.BytesIO(data))

buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
    for i in range(10):
        w, h = 160 + 16 * i, 180
        im = Image.frombytes("RGB", (w, h), bytes(rng.getrandbits(8) for _ in range(w * h * 3)))
        im = im.resize((w * 2, h * 2))
        out = io.BytesIO()
        im.save(out, "JPEG", quality=85 + i)
        add(tf, "img/%s/photo_%03d.jpg" % ("x" * (40 + i * 10), i), out.getvalue())
    for p in sorted(glob.glob("/usr/share/common-licenses/*"))[:12]:
        if os.path.isfile(p):
            add(tf, "text/" + os.path.basename(p), open(p, "rb").read())
    add(tf, "zeros.bin", bytes(1500000))
    add(tf, "random.bin", bytes(rng.getrandbits(8) for _ in range(300000)))
    add(tf, "empty.txt", b"")
tar = buf.getvalue()
open(os.path.join(d, "data.tar"), "wb").write(tar)

def sh(cmd):
    subprocess.run(cmd, shell=True, check=True, cwd=d)

def expect(name, data):
    open(os.path.join(d, name + ".expect"), "wb").write(data)

for lvl in (1, 6, 9):
    sh("gzip -%d -c data.tar > gzip%d.gz" % (lvl, lvl))
    expect("gzip%d" % lvl, tar)
sh("pigz -p 2 -c data.tar > pigz.gz"); expect("pigz", tar)
sh("igzip -c -2 data.tar > igzip.gz"); expect("igzip", tar)
sh("bsdtar -czf bsdtar.gz --format ustar -C /usr/share/common-licenses .")
expect("bsdtar", subprocess.run("gzip -dc bsdtar.gz", shell=True, check=True,
                                cwd=d, capture_output=True).stdout)
with open(os.path.join(d, "python.gz"), "wb") as f:
    with gzip.GzipFile(filename="data.tar", mode="wb", fileobj=f, mtime=0) as g:
        g.write(tar)
expect("python", tar)

# Multi-member: gzip + an empty member + pigz + a tiny member, then zero padding.
a, b = tar[:1000003], tar[1000003:]
open(os.path.join(d, "a"), "wb").write(a)
open(os.path.join(d, "b"), "wb").write(b)
sh("gzip -6 -c a > a.gz; printf '' | gzip -c > e.gz; pigz -c b > b.gz; "
   "printf 'tail' | gzip -9 -c > t.gz; cat a.gz e.gz b.gz t.gz > multi.gz; "
   "cat multi.gz > padded.gz; head -c 1024 /dev/zero >> padded.gz")
expect("multi", tar + b"tail")
expect("padded", tar + b"tail")

# Hand-written header with FEXTRA, FNAME, FCOMMENT and FHCRC.
hdr = b"\x1f\x8b\x08" + bytes([4 | 8 | 16 | 2]) + struct.pack("<I", 0) + b"\x00\x03"
hdr += struct.pack("<H", 6) + b"AB\x02\x00hi" + b"data.tar\x00" + b"a comment\x00"
hdr += struct.pack("<H", zlib.crc32(hdr) & 0xffff)
co = zlib.compressobj(6, zlib.DEFLATED, -15)
body = co.compress(tar) + co.flush()
trailer = struct.pack("<II", zlib.crc32(tar), len(tar) & 0xffffffff)
open(os.path.join(d, "fancy.gz"), "wb").write(hdr + body + trailer)
expect("fancy", tar)
# Long blocks: 6 MB of zeros between random bytes, so a want lands more than
# 1 MiB (GZI_SKIP_MAX) after its block's boundary.
longdata = bytes(rng.getrandbits(8) for _ in range(100000)) + bytes(6000000) + \
    bytes(rng.getrandbits(8) for _ in range(100000))
open(os.path.join(d, "long"), "wb").write(longdata)
sh("gzip -9 -c long > long.gz")
expect("long", longdata)

class Bits:
    """A deflate bit writer: fields LSB first, Huffman codes MSB first."""
    def __init__(self):
        self.out, self.acc, self.n = bytearray(), 0, 0
    def put(self, v, n):
        self.acc |= v << self.n
        self.n += n
        while self.n >= 8:
            self.out.append(self.acc & 255)
            self.acc >>= 8
            self.n -= 8
    def code(self, c, n):
        self.put(int(format(c, "0%db" % n)[::-1], 2), n)
    def align(self):
        if self.n:
            self.put(0, 8 - self.n)
    def lit(self, v):  # fixed code
        if v < 144:
            self.code(0x30 + v, 8)
        else:
            self.code(0x190 + v - 144, 9)
    def sym(self, s):  # fixed code, 256..287
        if s < 280:
            self.code(s - 256, 7)
        else:
            self.code(0xc0 + s - 280, 8)
    def fixed(self, data, last):
        self.put(last, 1)
        self.put(1, 2)
        for b in data:
            self.lit(b)
        self.sym(256)

def gz(body, data, name):
    hdr = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"
    open(os.path.join(d, name + ".gz"), "wb").write(
        hdr + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xffffffff))
    expect(name, data)

# A long run of empty blocks after a checkpoint's boundary: 40000 bytes, a
# 300-byte block, 24 MB of empty stored blocks, then 50000 bytes. A
# checkpoint wanted at 40100 needs the output 32 KiB past it, after the run.
w = Bits()
a = bytes(rng.getrandbits(8) for _ in range(40000))
bb = bytes(rng.getrandbits(8) for _ in range(300))
c = bytes(rng.getrandbits(8) for _ in range(50000))
w.fixed(a, 0)
w.fixed(bb, 0)
w.put(0, 3)
w.align()
w.out += b"\x00\x00\xff\xff" + b"\x00\x00\x00\xff\xff" * (24000000 // 5)
w.fixed(c, 1)
w.align()
gz(bytes(w.out), a + bb + c, "emptyrun")
# One block of 64 MiB of zeros (a literal, then copies of 258 from 1 back):
# a consumer that wants a checkpoint at every byte of it.
w = Bits()
n = (64 << 20) // 258
w.put(1, 1)
w.put(1, 2)
w.lit(0)
for _ in range(n):
    w.sym(285)
    w.code(0, 5)
w.sym(256)
w.align()
gz(bytes(w.out), bytes(1 + 258 * n), "oneblock")

# Stored blocks whose bytes are a valid deflate stream (text, level 6): the
# block finder finds dynamic block starts in them that decode cleanly, but
# none is a block start of this stream.
co = zlib.compressobj(6, zlib.DEFLATED, -15)
inner = co.compress(b"".join(open(p, "rb").read() for p in
                             sorted(glob.glob("/usr/share/common-licenses/*"))[:12]
                             if os.path.isfile(p))) + co.flush()
inner = inner * (1200000 // len(inner) + 1)
w = bytearray()
for i in range(0, len(inner), 65535):
    part = inner[i:i + 65535]
    w += bytes([0]) + struct.pack("<HH", len(part), len(part) ^ 0xffff) + part
w += bytes([1]) + struct.pack("<HH", 0, 0xffff)
gz(bytes(w), inner, "falsestart")

# Sanity of the fixture itself: gzip agrees (padded: gzip warns, exit 2).
for n in ("gzip1", "gzip6", "gzip9", "pigz", "igzip", "python", "multi", "fancy", "bsdtar",
          "long", "emptyrun", "oneblock", "falsestart"):
    got = subprocess.run("gzip -dc %s.gz" % n, shell=True, check=True, cwd=d,
                         capture_output=True).stdout
    assert got == open(os.path.join(d, n + ".expect"), "rb").read(), n
