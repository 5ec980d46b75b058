#!/usr/bin/python3
# Writes the catalog test fixtures (tests/unit/test_catalog.c):
#   catalog_fixture.py OUT        OUT/<variant>/*.zip and OUT/<variant>/expect.tsv
#   catalog_fixture.py OUT N      OUT/large/: a train2017.json of N images over
#                                 5,089 categories (the real count)
import copy, json, os, random, sys, zipfile

out = sys.argv[1]
large = int(sys.argv[2]) if len(sys.argv) > 2 else 0

def dump(o):
    return json.dumps(o, separators=(',', ':'), ensure_ascii=False)

cats = [{"id": 0, "name": "Ardea herodias", "supercategory": "Aves"},
        {"id": 1, "name": "Anas superciliosa \u00d7 platyrhynchos", "supercategory": "Aves"},
        {"id": 2, "name": "Malus \u00d7domestica", "supercategory": "Plantae"},
        {"id": 3, "name": "Blechnum penna-marina", "supercategory": "Plantae"},
        {"id": 4, "name": "Ardea herodias occidentalis", "supercategory": "Aves"}]
lics = [{"id": 1, "name": "Attribution-NonCommercial License", "url": "http://creativecommons.org/licenses/by-nc/4.0/"},
        {"id": 2, "name": "Attribution License", "url": "http://creativecommons.org/licenses/by/4.0/"}]
info = {"year": 2017, "version": "1.0", "description": "iNat2017", "contributor": "t",
        "url": "https://github.com/visipedia/inat_comp", "date_created": "2017-04-19 12:00:00"}

def img(i, cat, w=800, h=600, **kw):
    d = {"id": i, "width": w, "height": h,
         "file_name": "train_val_images/%s/%s/%032x.jpg" % (cats[cat]["supercategory"], cats[cat]["name"], i),
         "license": 1 + i % 2, "rights_holder": "Person %d" % i}
    d.update(kw)
    return d

train_imgs = [img(100, 0), img(101, 1, 533, 800), img(102, 2, rights_holder=None, license=None),
              img(103, 3, date="2012-05-01 10:00:00+02:00", nested={"a": [1, 2.5], "b": None}),
              img(104, 4, 1, 1), img(105, 0)]
del train_imgs[5]["license"]; del train_imgs[5]["rights_holder"]
train_lab = {100: 0, 101: 1, 102: 2, 103: 3, 104: 4}   # 105 has no annotation
val_imgs = [img(200, 1), img(201, 2, 640, 480), img(202, 0, valid=True)]
val_lab = {200: 1, 201: 2, 202: 0}

def anns(lab, order):
    return [{"id": 1000 + k, "image_id": k, "category_id": lab[k]} for k in order]

def coco(imgs, lab, order):
    return {"info": info, "images": imgs, "categories": cats,
            "annotations": anns(lab, order), "licenses": lics}

train = coco(train_imgs, train_lab, [104, 102, 100, 103, 101])
val = coco(val_imgs, val_lab, [202, 200, 201])
test = {"info": {"year": 2017}, "images": [
            {"id": 100, "width": 500, "height": 375, "file_name": "test2017/%032x.jpg" % 7001, "license": 2, "rights_holder": "T"},
            {"id": 7002, "width": 375, "height": 500, "file_name": "%032x.jpg" % 7002, "license": 1, "rights_holder": "U"}],
        "categories": cats}
tbox = {"images": train_imgs, "categories": cats, "annotations": [
    {"id": 1, "image_id": 101, "category_id": 1, "bbox": [10, 20, 30, 40], "area": 600.0, "iscrowd": 0},
    {"id": 2, "image_id": 101, "category_id": 1, "bbox": [1.5, 2.25, 100.0, 50.75], "area": 2537.5, "iscrowd": 0, "note": "x"},
    {"id": 3, "image_id": 100, "category_id": 0, "bbox": [0, 0, 800, 600.5], "area": 1.0, "iscrowd": 0}]}
vbox = {"annotations": [{"id": 1, "image_id": 202, "category_id": 0, "bbox": [5, 6, 7, 8], "area": 28.0, "iscrowd": 0}]}
tloc = [{"id": 103, "lat": 47.25, "lon": -122.5, "user_id": 7, "date": "2016-06-01T10:00:00-07:00", "date_c": 0.41},
        {"id": 100, "lat": None, "lon": None, "user_id": None, "date": None, "date_c": None, "loc_uncert": 20, "valid": False},
        {"id": 999999, "lat": 1.0, "lon": 2.0, "user_id": 1},
        {"id": 101, "lat": -33.5, "lon": 151, "user_id": 12}]
vloc = [{"id": 201, "lat": 10, "lon": 20.5, "user_id": 3}]

def wzip(path, members):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            z.writestr(name, data if isinstance(data, bytes) else data.encode())

def variant(name, tr=train, va=val, te=test, tb=tbox, vb=vbox, tl=tloc, vl=vloc, loc_dir="inat2017_locations/",
            test_dir="", tv_members=None, expect=True, fmt=dump):
    d = os.path.join(out, name)
    os.makedirs(d)
    tv = tv_members if tv_members is not None else [("train2017.json", tr if isinstance(tr, (str, bytes)) else fmt(tr)),
                                                  ("val2017.json", fmt(va))]
    wzip(os.path.join(d, "train_val2017.zip"), tv)
    wzip(os.path.join(d, "train_2017_bboxes.zip"), [("train_2017_bboxes.json", fmt(tb))])
    wzip(os.path.join(d, "val_2017_bboxes.zip"), [("val_2017_bboxes.json", fmt(vb))])
    wzip(os.path.join(d, "inat2017_locations.zip"), [(loc_dir, b""), (loc_dir + "train2017_locations.json", fmt(tl)),
                                                     (loc_dir + "val2017_locations.json", fmt(vl))] if loc_dir else
         [("train2017_locations.json", fmt(tl)), ("val2017_locations.json", fmt(vl))])
    wzip(os.path.join(d, "test2017.zip"), [(test_dir + "test2017.json", fmt(te))])
    if not expect:
        return d
    N = "\\N"
    def s(v):
        return N if v is None else str(v)
    L = []
    for c in sorted(tr["categories"], key=lambda c: c["id"]):
        L.append(["cat", c["id"], c["name"], c["supercategory"]])
    for l in sorted(tr["licenses"], key=lambda l: l["id"]):
        L.append(["lic", l["id"], l["name"], l["url"]])
    known = ("id", "width", "height", "file_name", "license", "rights_holder")
    for split, doc, lab in ((0, tr, train_lab), (1, va, val_lab), (2, te, {})):
        for im in doc["images"]:
            ex = {k: v for k, v in im.items() if k not in known}
            L.append(["img", split, im["id"], im["width"], im["height"], s(im.get("license")),
                      lab.get(im["id"], -1), im["file_name"], s(im.get("rights_holder")), dump(ex) if ex else N])
    for split, doc in ((0, tb), (1, vb)):
        for a in doc["annotations"]:
            L.append(["box", split, a["id"], a["image_id"], a["category_id"]] + [repr(float(x)) for x in a["bbox"]] + [dump(a)])
    ids = ({im["id"] for im in tr["images"]}, {im["id"] for im in va["images"]})
    skipped = 0
    for split, doc in ((0, tl), (1, vl)):
        for o in doc:
            if o["id"] in ids[split]:
                L.append(["loc", split, o["id"], dump(o)])
            else:
                skipped += 1
    L.append(["skipped", skipped])
    for split, doc in ((0, tr), (1, va), (2, te)):
        L.append(["info", split, dump(doc["info"])])
    files = [("train2017.json", "train_val2017.zip", "train2017.json", fmt(tr)),
             ("val2017.json", "train_val2017.zip", "val2017.json", fmt(va)),
             ("train_2017_bboxes.json", "train_2017_bboxes.zip", "train_2017_bboxes.json", fmt(tb)),
             ("val_2017_bboxes.json", "val_2017_bboxes.zip", "val_2017_bboxes.json", fmt(vb)),
             ("train2017_locations.json", "inat2017_locations.zip", loc_dir + "train2017_locations.json", fmt(tl)),
             ("val2017_locations.json", "inat2017_locations.zip", loc_dir + "val2017_locations.json", fmt(vl)),
             ("test2017.json", "test2017.zip", test_dir + "test2017.json", fmt(te))]
    for f in files:
        L.append(["file", f[0], f[1], f[2], len(f[3].encode())])
        if f[0] == "train2017.json":
            open(os.path.join(d, "train2017.raw"), "wb").write(f[3].encode())
    with open(os.path.join(d, "expect.tsv"), "w") as f:
        for row in L:
            f.write("\t".join(str(x) for x in row) + "\n")
    return d

if large:
    rnd = random.Random(1)
    big = {"info": info, "licenses": lics, "categories": [{"id": i, "name": "Genus species%d" % i, "supercategory": "Aves"} for i in range(5089)]}
    big["images"] = [{"id": i, "width": 800, "height": 600, "file_name": "train_val_images/Aves/Genus species%d/%032x.jpg" % (i % 5089, rnd.getrandbits(128)),
                      "license": 1, "rights_holder": "Someone %d" % i} for i in range(large)]
    big["annotations"] = [{"id": i, "image_id": i, "category_id": i % 5089} for i in range(large)]
    d = os.path.join(out, "large"); os.makedirs(d)
    wzip(os.path.join(d, "train_val2017.zip"), [("train2017.json", dump(big)),
         ("val2017.json", dump({"images": [], "annotations": [], "categories": big["categories"]}))])
    sys.exit(0)

variant("good")
variant("rootloc", loc_dir="", test_dir="test2017/")
os.makedirs(os.path.join(out, "empty"))

def pretty(o):
    return "\ufeff" + json.dumps(o, indent="\t", ensure_ascii=True).replace("\n", "\r\n") + " \r\n\t"
variant("pretty", fmt=pretty)

# Strings full of JSON punctuation, odd whitespace between tokens, keys out
# of order, an escaped key, empty arrays, nested unknown members, and later
# duplicates of top-level keys (the first one counts, as in cJSON).
odd = "q\"] } [{ ,: \\ \\\" \\\\\" \u00e9 \U0001F426 </end>"
t_imgs = copy.deepcopy(train_imgs)
t_imgs[0]["rights_holder"] = odd
t_imgs[1]["tags"] = [[], {}, [[{"x": "]}", "y": []}]], "\\\"]", odd + "\t\n\b\f\r/"]
t_imgs[2]["empty"] = {}
t_tr = {"zzz": [1, [2, [3, {"a": "]}[{"}]], [], -0.5e-3, True, None], "annotations": train["annotations"],
        "licenses": lics, "images": t_imgs, "categories": cats, "info": dict(info, note=odd)}
def tricky(o):
    s = json.dumps(o, ensure_ascii=isinstance(o, dict) and "zzz" in o, separators=(" ,\t", "\n:  "))
    if isinstance(o, dict) and o.get("licenses"):
        s = s.replace('"images"', '"im\\u0061ges"', 1)[:-1] + ',"images":[],"annotations":7,"info":null}'
    return s
variant("tricky", tr=t_tr, te=dict(test, categories=[], licenses=[]), vb={"annotations": []}, vl=[], fmt=tricky)

# Valid for cJSON but not strict JSON (a leading zero, nesting past 512):
# parsed whole, as before, with the same results.
deep = []
for _ in range(600):
    deep = [deep]
variant("lenient", tr=dict(train, deep=deep), fmt=lambda o: dump(o).replace('"width":800', '"width":0800'))

def bad(name, **kw):
    return variant(name, expect=False, **kw)

def mod(doc, f):
    d = copy.deepcopy(doc); f(d); return d

# Control bytes: between tokens (cJSON skips any byte up to a space) and raw
# in strings (cJSON keeps them); the records kept must be strict JSON.
def ctrlfmt(o):
    return dump(o).replace("\\u0001", "\x01").replace("\\u001f", "\x1f").replace(',"', ',\x0b\x1f"')
variant("ctrl", tb=mod(tbox, lambda d: d["annotations"][1].update(note="x\x01y\x1f")),
        vl=[{"id": 201, "lat": 10, "lon": 20.5, "user_id": 3, "note": "a\x01"}], fmt=ctrlfmt)

d = bad("trunc")
p = os.path.join(d, "train_val2017.zip"); b = open(p, "rb").read(); open(p, "wb").write(b[:len(b) // 2])
d = bad("garbage")
open(os.path.join(d, "train_val2017.zip"), "wb").write(bytes(random.Random(5).getrandbits(8) for _ in range(4096)))
d = bad("badcrc")
p = os.path.join(d, "train_val2017.zip")
with zipfile.ZipFile(p, "w", zipfile.ZIP_STORED) as z:
    z.writestr("train2017.json", dump(train)); z.writestr("val2017.json", dump(val))
b = bytearray(open(p, "rb").read()); i = b.index(b'"images"'); b[i + 1] = ord("I"); open(p, "wb").write(bytes(b))
bad("noentry", tv_members=[("train2017.json", dump(train))])
bad("badjson", tr='{"images": [{"id": 1,')
bad("trailing", tr=dump(train) + ' {"x": 1}')
bad("badutf8", tr=dump(train).encode().replace(b"Person 101", b"Person \xff01"))
bad("nul", tr=dump(train).replace("Person 101", "Per\\u0000son"))
bad("noimages", tr=mod(train, lambda d: d.pop("images")))
bad("idstr", tr=mod(train, lambda d: d["images"][2].update(id="102")))
bad("idfloat", tr=mod(train, lambda d: d["images"][1].update(id=101.5)))
bad("dupimg", tr=mod(train, lambda d: d["images"][3].update(id=101)))
bad("tvdup", va=mod(val, lambda d: (d["images"][0].update(id=104), d["annotations"][1].update(image_id=104))))
bad("unkcat", tr=mod(train, lambda d: d["annotations"][2].update(category_id=999)))
bad("unkimg", tr=mod(train, lambda d: d["annotations"][1].update(image_id=99999)))
bad("catdiff", va=mod(val, lambda d: d["categories"][3].update(name="Blechnum spicant")))
bad("negwidth", tr=mod(train, lambda d: d["images"][1].update(width=-5)))
bad("dupbox", tb=mod(tbox, lambda d: d["annotations"][2].update(id=1)))
bad("boxstr", tb=mod(tbox, lambda d: d["annotations"][1]["bbox"].__setitem__(2, "30")))
bad("boxval", vb=mod(vbox, lambda d: d["annotations"][0].update(image_id=101)))
bad("locobj", tl={"locations": tloc})
bad("latstr", vl=[{"id": 201, "lat": "10", "lon": 1}])
d = bad("locgarbage")
open(os.path.join(d, "inat2017_locations.zip"), "wb").write(b"PK\x03\x04" + bytes(300))
bad("badnest", tr='{"images": [{"id": 1]}], "annotations": []}')
bad("syntaxlast", tr=dump(mod(train, lambda d: d["images"][1].update(id="x")))[:-1] + ",}")
bad("surrogate", tr=dump(train).replace("Person 101", "Person \\ud800 101"))
bad("unclosed", tr=dump(train)[:-2])
# past 16 MiB, what only cJSON accepts is refused (a whole tree would take ~20x)
bad("lenientbig", tr=dump(dict(train, pad="x" * (17 << 20))).replace('"width":800', '"width":0800', 1))
d = os.path.join(out, "bomb"); os.makedirs(d)
wzip(os.path.join(d, "bomb.zip"), [("exact.json", b" " * (1 << 20)), ("over.json", b" " * ((1 << 20) + 1))])
