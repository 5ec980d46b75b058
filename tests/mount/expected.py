"""The tree a mount of a fixture must show, computed independently of inatfs
from the fixture's own files (manifest.tsv and the JSON in the zips)."""

import collections
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from fixturelib import load_manifest, zip_json  # noqa: E402

ANNFILES = {
    "train2017.json": "train_val2017.zip",
    "val2017.json": "train_val2017.zip",
    "train_2017_bboxes.json": "train_2017_bboxes.zip",
    "val_2017_bboxes.json": "val_2017_bboxes.zip",
    "train2017_locations.json": "inat2017_locations.zip",
    "val2017_locations.json": "inat2017_locations.zip",
    "test2017.json": "test2017.zip",
}


def class_dir(cat, width=4):
    name = cat["name"].replace("/", "_")
    return f"{cat['id']:0{width}d} {name}"


def sidecar_name(base):
    stem = base.rsplit(".", 1)[0] if "." in base[1:] else base
    return stem + ".json"


class Expected:
    def __init__(self, d):
        d = pathlib.Path(d)
        self.dir = d
        self.manifest = load_manifest(d)
        self.train = zip_json(d, "train_val2017.zip", "train2017.json")
        self.val = zip_json(d, "train_val2017.zip", "val2017.json")
        self.test = zip_json(d, "test2017.zip", "test2017.json")
        self.bboxes = {
            "train": zip_json(d, "train_2017_bboxes.zip", "train_2017_bboxes.json"),
            "val": zip_json(d, "val_2017_bboxes.zip", "val_2017_bboxes.json"),
        }
        self.locations = {
            "train": zip_json(d, "inat2017_locations.zip", "train2017_locations.json"),
            "val": zip_json(d, "inat2017_locations.zip", "val2017_locations.json"),
        }
        self.cats = {c["id"]: c for c in self.train["categories"]}
        self.by_path = {}          # mount path -> manifest row
        for row in self.manifest:
            p = row["path"]
            if row["archive"] == "test2017.tar.gz" and not p.startswith("test2017/"):
                p = "test2017/" + p
            self.by_path[p] = row
        self.labels = {}           # (split, image id) -> category id
        for split, js in (("train", self.train), ("val", self.val)):
            for a in js["annotations"]:
                self.labels[(split, a["image_id"])] = a["category_id"]
        self.nboxes = collections.Counter()
        self.boxes = collections.defaultdict(list)
        for split, js in self.bboxes.items():
            for a in js["annotations"]:
                self.nboxes[(split, a["image_id"])] += 1
                self.boxes[(split, a["image_id"])].append(a)
        self.locs = {}
        for split, arr in self.locations.items():
            for loc in arr:
                self.locs[(split, loc["id"])] = loc

    def images(self, split):
        js = {"train": self.train, "val": self.val, "test": self.test}[split]
        for img in js["images"]:
            fn = img["file_name"]
            path = fn if split != "test" or fn.startswith("test2017/") else "test2017/" + fn
            row = self.by_path.get(path)
            if row is None:
                continue   # listed in JSON, missing from the tar
            yield img, path, row

    def view_files(self):
        """{mount path of every image file in the views: manifest row}."""
        out = {}
        for split in ("train", "val"):
            for img, path, row in self.images(split):
                cat = self.cats[self.labels[(split, img["id"])]]
                base = path.rsplit("/", 1)[1]
                cd = class_dir(cat)
                sup = cat["supercategory"]
                out[f"{split}/{cd}/{base}"] = row
                out[f"by-supercategory/{sup}/{split}/{cd}/{base}"] = row
                if self.nboxes[(split, img["id"])]:
                    out[f"with-bbox/{split}/{cd}/{base}"] = row
        for img, path, row in self.images("test"):
            out["test/" + path.rsplit("/", 1)[1]] = row
        return out
