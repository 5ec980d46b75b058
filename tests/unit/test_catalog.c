/*
 * test_catalog.c - the annotation catalog against zips built at run time by
 * a Python generator (embedded below, run with /usr/bin/python3): every value
 * the generator wrote must come back (it lists them in expect.tsv), every
 * variant of the formats notes must load, and each broken input must fail
 * with the right code and a message naming the zip, the JSON file and the
 * problem. Ends with a timing of a large synthetic train2017.json
 * (INATFS_BENCH_IMAGES images, 20000 by default).
 */
#include "inatfs/catalog.h"
#include "testutil.h"
#include "../../src/catalog/catalog_int.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static const char gen_py[] =
	"# Writes the catalog test fixtures: OUT/<variant>/*.zip and OUT/<variant>/expect.tsv.\n"
	"import copy, json, os, random, sys, zipfile\n"
	"\n"
	"out = sys.argv[1]\n"
	"bench = int(sys.argv[2]) if len(sys.argv) > 2 else 0\n"
	"\n"
	"def dump(o):\n"
	"    return json.dumps(o, separators=(',', ':'), ensure_ascii=False)\n"
	"\n"
	"cats = [{\"id\": 0, \"name\": \"Ardea herodias\", \"supercategory\": \"Aves\"},\n"
	"        {\"id\": 1, \"name\": \"Anas superciliosa \\u00d7 platyrhynchos\", \"supercategory\": \"Aves\"},\n"
	"        {\"id\": 2, \"name\": \"Malus \\u00d7domestica\", \"supercategory\": \"Plantae\"},\n"
	"        {\"id\": 3, \"name\": \"Blechnum penna-marina\", \"supercategory\": \"Plantae\"},\n"
	"        {\"id\": 4, \"name\": \"Ardea herodias occidentalis\", \"supercategory\": \"Aves\"}]\n"
	"lics = [{\"id\": 1, \"name\": \"Attribution-NonCommercial License\", \"url\": \"http://creativecommons.org/licenses/by-nc/4.0/\"},\n"
	"        {\"id\": 2, \"name\": \"Attribution License\", \"url\": \"http://creativecommons.org/licenses/by/4.0/\"}]\n"
	"info = {\"year\": 2017, \"version\": \"1.0\", \"description\": \"iNat2017\", \"contributor\": \"t\",\n"
	"        \"url\": \"https://github.com/visipedia/inat_comp\", \"date_created\": \"2017-04-19 12:00:00\"}\n"
	"\n"
	"def img(i, cat, w=800, h=600, **kw):\n"
	"    d = {\"id\": i, \"width\": w, \"height\": h,\n"
	"         \"file_name\": \"train_val_images/%s/%s/%032x.jpg\" % (cats[cat][\"supercategory\"], cats[cat][\"name\"], i),\n"
	"         \"license\": 1 + i % 2, \"rights_holder\": \"Person %d\" % i}\n"
	"    d.update(kw)\n"
	"    return d\n"
	"\n"
	"train_imgs = [img(100, 0), img(101, 1, 533, 800), img(102, 2, rights_holder=None, license=None),\n"
	"              img(103, 3, date=\"2012-05-01 10:00:00+02:00\", nested={\"a\": [1, 2.5], \"b\": None}),\n"
	"              img(104, 4, 1, 1), img(105, 0)]\n"
	"del train_imgs[5][\"license\"]; del train_imgs[5][\"rights_holder\"]\n"
	"train_lab = {100: 0, 101: 1, 102: 2, 103: 3, 104: 4}   # 105 has no annotation\n"
	"val_imgs = [img(200, 1), img(201, 2, 640, 480), img(202, 0, valid=True)]\n"
	"val_lab = {200: 1, 201: 2, 202: 0}\n"
	"\n"
	"def anns(lab, order):\n"
	"    return [{\"id\": 1000 + k, \"image_id\": k, \"category_id\": lab[k]} for k in order]\n"
	"\n"
	"def coco(imgs, lab, order):\n"
	"    return {\"info\": info, \"images\": imgs, \"categories\": cats,\n"
	"            \"annotations\": anns(lab, order), \"licenses\": lics}\n"
	"\n"
	"train = coco(train_imgs, train_lab, [104, 102, 100, 103, 101])\n"
	"val = coco(val_imgs, val_lab, [202, 200, 201])\n"
	"test = {\"info\": {\"year\": 2017}, \"images\": [\n"
	"            {\"id\": 100, \"width\": 500, \"height\": 375, \"file_name\": \"test2017/%032x.jpg\" % 7001, \"license\": 2, \"rights_holder\": \"T\"},\n"
	"            {\"id\": 7002, \"width\": 375, \"height\": 500, \"file_name\": \"%032x.jpg\" % 7002, \"license\": 1, \"rights_holder\": \"U\"}],\n"
	"        \"categories\": cats}\n"
	"tbox = {\"images\": train_imgs, \"categories\": cats, \"annotations\": [\n"
	"    {\"id\": 1, \"image_id\": 101, \"category_id\": 1, \"bbox\": [10, 20, 30, 40], \"area\": 600.0, \"iscrowd\": 0},\n"
	"    {\"id\": 2, \"image_id\": 101, \"category_id\": 1, \"bbox\": [1.5, 2.25, 100.0, 50.75], \"area\": 2537.5, \"iscrowd\": 0, \"note\": \"x\"},\n"
	"    {\"id\": 3, \"image_id\": 100, \"category_id\": 0, \"bbox\": [0, 0, 800, 600.5], \"area\": 1.0, \"iscrowd\": 0}]}\n"
	"vbox = {\"annotations\": [{\"id\": 1, \"image_id\": 202, \"category_id\": 0, \"bbox\": [5, 6, 7, 8], \"area\": 28.0, \"iscrowd\": 0}]}\n"
	"tloc = [{\"id\": 103, \"lat\": 47.25, \"lon\": -122.5, \"user_id\": 7, \"date\": \"2016-06-01T10:00:00-07:00\", \"date_c\": 0.41},\n"
	"        {\"id\": 100, \"lat\": None, \"lon\": None, \"user_id\": None, \"date\": None, \"date_c\": None, \"loc_uncert\": 20, \"valid\": False},\n"
	"        {\"id\": 999999, \"lat\": 1.0, \"lon\": 2.0, \"user_id\": 1},\n"
	"        {\"id\": 101, \"lat\": -33.5, \"lon\": 151, \"user_id\": 12}]\n"
	"vloc = [{\"id\": 201, \"lat\": 10, \"lon\": 20.5, \"user_id\": 3}]\n"
	"\n"
	"def wzip(path, members):\n"
	"    with zipfile.ZipFile(path, \"w\", zipfile.ZIP_DEFLATED) as z:\n"
	"        for name, data in members:\n"
	"            z.writestr(name, data if isinstance(data, bytes) else data.encode())\n"
	"\n"
	"def variant(name, tr=train, va=val, te=test, tb=tbox, vb=vbox, tl=tloc, vl=vloc, loc_dir=\"inat2017_locations/\",\n"
	"            test_dir=\"\", tv_members=None, expect=True, fmt=dump):\n"
	"    d = os.path.join(out, name)\n"
	"    os.makedirs(d)\n"
	"    tv = tv_members if tv_members is not None else [(\"train2017.json\", tr if isinstance(tr, (str, bytes)) else fmt(tr)),\n"
	"                                                  (\"val2017.json\", fmt(va))]\n"
	"    wzip(os.path.join(d, \"train_val2017.zip\"), tv)\n"
	"    wzip(os.path.join(d, \"train_2017_bboxes.zip\"), [(\"train_2017_bboxes.json\", fmt(tb))])\n"
	"    wzip(os.path.join(d, \"val_2017_bboxes.zip\"), [(\"val_2017_bboxes.json\", fmt(vb))])\n"
	"    wzip(os.path.join(d, \"inat2017_locations.zip\"), [(loc_dir, b\"\"), (loc_dir + \"train2017_locations.json\", fmt(tl)),\n"
	"                                                     (loc_dir + \"val2017_locations.json\", fmt(vl))] if loc_dir else\n"
	"         [(\"train2017_locations.json\", fmt(tl)), (\"val2017_locations.json\", fmt(vl))])\n"
	"    wzip(os.path.join(d, \"test2017.zip\"), [(test_dir + \"test2017.json\", fmt(te))])\n"
	"    if not expect:\n"
	"        return d\n"
	"    N = \"\\\\N\"\n"
	"    def s(v):\n"
	"        return N if v is None else str(v)\n"
	"    L = []\n"
	"    for c in sorted(tr[\"categories\"], key=lambda c: c[\"id\"]):\n"
	"        L.append([\"cat\", c[\"id\"], c[\"name\"], c[\"supercategory\"]])\n"
	"    for l in sorted(tr[\"licenses\"], key=lambda l: l[\"id\"]):\n"
	"        L.append([\"lic\", l[\"id\"], l[\"name\"], l[\"url\"]])\n"
	"    known = (\"id\", \"width\", \"height\", \"file_name\", \"license\", \"rights_holder\")\n"
	"    for split, doc, lab in ((0, tr, train_lab), (1, va, val_lab), (2, te, {})):\n"
	"        for im in doc[\"images\"]:\n"
	"            ex = {k: v for k, v in im.items() if k not in known}\n"
	"            L.append([\"img\", split, im[\"id\"], im[\"width\"], im[\"height\"], s(im.get(\"license\")),\n"
	"                      lab.get(im[\"id\"], -1), im[\"file_name\"], s(im.get(\"rights_holder\")), dump(ex) if ex else N])\n"
	"    for split, doc in ((0, tb), (1, vb)):\n"
	"        for a in doc[\"annotations\"]:\n"
	"            L.append([\"box\", split, a[\"id\"], a[\"image_id\"], a[\"category_id\"]] + [repr(float(x)) for x in a[\"bbox\"]] + [dump(a)])\n"
	"    ids = ({im[\"id\"] for im in tr[\"images\"]}, {im[\"id\"] for im in va[\"images\"]})\n"
	"    skipped = 0\n"
	"    for split, doc in ((0, tl), (1, vl)):\n"
	"        for o in doc:\n"
	"            if o[\"id\"] in ids[split]:\n"
	"                L.append([\"loc\", split, o[\"id\"], dump(o)])\n"
	"            else:\n"
	"                skipped += 1\n"
	"    L.append([\"skipped\", skipped])\n"
	"    for split, doc in ((0, tr), (1, va), (2, te)):\n"
	"        L.append([\"info\", split, dump(doc[\"info\"])])\n"
	"    files = [(\"train2017.json\", \"train_val2017.zip\", \"train2017.json\", fmt(tr)),\n"
	"             (\"val2017.json\", \"train_val2017.zip\", \"val2017.json\", fmt(va)),\n"
	"             (\"train_2017_bboxes.json\", \"train_2017_bboxes.zip\", \"train_2017_bboxes.json\", fmt(tb)),\n"
	"             (\"val_2017_bboxes.json\", \"val_2017_bboxes.zip\", \"val_2017_bboxes.json\", fmt(vb)),\n"
	"             (\"train2017_locations.json\", \"inat2017_locations.zip\", loc_dir + \"train2017_locations.json\", fmt(tl)),\n"
	"             (\"val2017_locations.json\", \"inat2017_locations.zip\", loc_dir + \"val2017_locations.json\", fmt(vl)),\n"
	"             (\"test2017.json\", \"test2017.zip\", test_dir + \"test2017.json\", fmt(te))]\n"
	"    for f in files:\n"
	"        L.append([\"file\", f[0], f[1], f[2], len(f[3].encode())])\n"
	"        if f[0] == \"train2017.json\":\n"
	"            open(os.path.join(d, \"train2017.raw\"), \"wb\").write(f[3].encode())\n"
	"    with open(os.path.join(d, \"expect.tsv\"), \"w\") as f:\n"
	"        for row in L:\n"
	"            f.write(\"\\t\".join(str(x) for x in row) + \"\\n\")\n"
	"    return d\n"
	"\n"
	"if bench:\n"
	"    rnd = random.Random(1)\n"
	"    big = {\"info\": info, \"licenses\": lics, \"categories\": [{\"id\": i, \"name\": \"Genus species%d\" % i, \"supercategory\": \"Aves\"} for i in range(5089)]}\n"
	"    big[\"images\"] = [{\"id\": i, \"width\": 800, \"height\": 600, \"file_name\": \"train_val_images/Aves/Genus species%d/%032x.jpg\" % (i % 5089, rnd.getrandbits(128)),\n"
	"                      \"license\": 1, \"rights_holder\": \"Someone %d\" % i} for i in range(bench)]\n"
	"    big[\"annotations\"] = [{\"id\": i, \"image_id\": i, \"category_id\": i % 5089} for i in range(bench)]\n"
	"    d = os.path.join(out, \"bench\"); os.makedirs(d)\n"
	"    wzip(os.path.join(d, \"train_val2017.zip\"), [(\"train2017.json\", dump(big)),\n"
	"         (\"val2017.json\", dump({\"images\": [], \"annotations\": [], \"categories\": big[\"categories\"]}))])\n"
	"    sys.exit(0)\n"
	"\n"
	"variant(\"good\")\n"
	"variant(\"rootloc\", loc_dir=\"\", test_dir=\"test2017/\")\n"
	"os.makedirs(os.path.join(out, \"empty\"))\n"
	"\n"
	"def pretty(o):\n"
	"    return \"\\ufeff\" + json.dumps(o, indent=\"\\t\", ensure_ascii=True).replace(\"\\n\", \"\\r\\n\") + \" \\r\\n\\t\"\n"
	"variant(\"pretty\", fmt=pretty)\n"
	"\n"
	"# Strings full of JSON punctuation, odd whitespace between tokens, keys out\n"
	"# of order, an escaped key, empty arrays, nested unknown members, and later\n"
	"# duplicates of top-level keys (the first one counts, as in cJSON).\n"
	"odd = \"q\\\"] } [{ ,: \\\\ \\\\\\\" \\\\\\\\\\\" \\u00e9 \\U0001F426 </end>\"\n"
	"t_imgs = copy.deepcopy(train_imgs)\n"
	"t_imgs[0][\"rights_holder\"] = odd\n"
	"t_imgs[1][\"tags\"] = [[], {}, [[{\"x\": \"]}\", \"y\": []}]], \"\\\\\\\"]\", odd + \"\\t\\n\\b\\f\\r/\"]\n"
	"t_imgs[2][\"empty\"] = {}\n"
	"t_tr = {\"zzz\": [1, [2, [3, {\"a\": \"]}[{\"}]], [], -0.5e-3, True, None], \"annotations\": train[\"annotations\"],\n"
	"        \"licenses\": lics, \"images\": t_imgs, \"categories\": cats, \"info\": dict(info, note=odd)}\n"
	"def tricky(o):\n"
	"    s = json.dumps(o, ensure_ascii=isinstance(o, dict) and \"zzz\" in o, separators=(\" ,\\t\", \"\\n:  \"))\n"
	"    if isinstance(o, dict) and o.get(\"licenses\"):\n"
	"        s = s.replace('\"images\"', '\"im\\\\u0061ges\"', 1)[:-1] + ',\"images\":[],\"annotations\":7,\"info\":null}'\n"
	"    return s\n"
	"variant(\"tricky\", tr=t_tr, te=dict(test, categories=[], licenses=[]), vb={\"annotations\": []}, vl=[], fmt=tricky)\n"
	"\n"
	"# Valid for cJSON but not strict JSON (a leading zero, nesting past 512):\n"
	"# parsed whole, as before, with the same results.\n"
	"deep = []\n"
	"for _ in range(600):\n"
	"    deep = [deep]\n"
	"variant(\"lenient\", tr=dict(train, deep=deep), fmt=lambda o: dump(o).replace('\"width\":800', '\"width\":0800'))\n"
	"\n"
	"def bad(name, **kw):\n"
	"    return variant(name, expect=False, **kw)\n"
	"\n"
	"def mod(doc, f):\n"
	"    d = copy.deepcopy(doc); f(d); return d\n"
	"\n"
	"# Control bytes: between tokens (cJSON skips any byte up to a space) and raw\n"
	"# in strings (cJSON keeps them); the records kept must be strict JSON.\n"
	"def ctrlfmt(o):\n"
	"    return dump(o).replace(\"\\\\u0001\", \"\\x01\").replace(\"\\\\u001f\", \"\\x1f\").replace(',\"', ',\\x0b\\x1f\"')\n"
	"variant(\"ctrl\", tb=mod(tbox, lambda d: d[\"annotations\"][1].update(note=\"x\\x01y\\x1f\")),\n"
	"        vl=[{\"id\": 201, \"lat\": 10, \"lon\": 20.5, \"user_id\": 3, \"note\": \"a\\x01\"}], fmt=ctrlfmt)\n"
	"\n"
	"d = bad(\"trunc\")\n"
	"p = os.path.join(d, \"train_val2017.zip\"); b = open(p, \"rb\").read(); open(p, \"wb\").write(b[:len(b) // 2])\n"
	"d = bad(\"garbage\")\n"
	"open(os.path.join(d, \"train_val2017.zip\"), \"wb\").write(bytes(random.Random(5).getrandbits(8) for _ in range(4096)))\n"
	"d = bad(\"badcrc\")\n"
	"p = os.path.join(d, \"train_val2017.zip\")\n"
	"with zipfile.ZipFile(p, \"w\", zipfile.ZIP_STORED) as z:\n"
	"    z.writestr(\"train2017.json\", dump(train)); z.writestr(\"val2017.json\", dump(val))\n"
	"b = bytearray(open(p, \"rb\").read()); i = b.index(b'\"images\"'); b[i + 1] = ord(\"I\"); open(p, \"wb\").write(bytes(b))\n"
	"bad(\"noentry\", tv_members=[(\"train2017.json\", dump(train))])\n"
	"bad(\"badjson\", tr='{\"images\": [{\"id\": 1,')\n"
	"bad(\"trailing\", tr=dump(train) + ' {\"x\": 1}')\n"
	"bad(\"badutf8\", tr=dump(train).encode().replace(b\"Person 101\", b\"Person \\xff01\"))\n"
	"bad(\"nul\", tr=dump(train).replace(\"Person 101\", \"Per\\\\u0000son\"))\n"
	"bad(\"noimages\", tr=mod(train, lambda d: d.pop(\"images\")))\n"
	"bad(\"idstr\", tr=mod(train, lambda d: d[\"images\"][2].update(id=\"102\")))\n"
	"bad(\"idfloat\", tr=mod(train, lambda d: d[\"images\"][1].update(id=101.5)))\n"
	"bad(\"dupimg\", tr=mod(train, lambda d: d[\"images\"][3].update(id=101)))\n"
	"bad(\"tvdup\", va=mod(val, lambda d: (d[\"images\"][0].update(id=104), d[\"annotations\"][1].update(image_id=104))))\n"
	"bad(\"unkcat\", tr=mod(train, lambda d: d[\"annotations\"][2].update(category_id=999)))\n"
	"bad(\"unkimg\", tr=mod(train, lambda d: d[\"annotations\"][1].update(image_id=99999)))\n"
	"bad(\"catdiff\", va=mod(val, lambda d: d[\"categories\"][3].update(name=\"Blechnum spicant\")))\n"
	"bad(\"negwidth\", tr=mod(train, lambda d: d[\"images\"][1].update(width=-5)))\n"
	"bad(\"dupbox\", tb=mod(tbox, lambda d: d[\"annotations\"][2].update(id=1)))\n"
	"bad(\"boxstr\", tb=mod(tbox, lambda d: d[\"annotations\"][1][\"bbox\"].__setitem__(2, \"30\")))\n"
	"bad(\"boxval\", vb=mod(vbox, lambda d: d[\"annotations\"][0].update(image_id=101)))\n"
	"bad(\"locobj\", tl={\"locations\": tloc})\n"
	"bad(\"latstr\", vl=[{\"id\": 201, \"lat\": \"10\", \"lon\": 1}])\n"
	"d = bad(\"locgarbage\")\n"
	"open(os.path.join(d, \"inat2017_locations.zip\"), \"wb\").write(b\"PK\\x03\\x04\" + bytes(300))\n"
	"bad(\"badnest\", tr='{\"images\": [{\"id\": 1]}], \"annotations\": []}')\n"
	"bad(\"syntaxlast\", tr=dump(mod(train, lambda d: d[\"images\"][1].update(id=\"x\")))[:-1] + \",}\")\n"
	"bad(\"surrogate\", tr=dump(train).replace(\"Person 101\", \"Person \\\\ud800 101\"))\n"
	"bad(\"unclosed\", tr=dump(train)[:-2])\n"
	"# past 16 MiB, what only cJSON accepts is refused (a whole tree would take ~20x)\n"
	"bad(\"lenientbig\", tr=dump(dict(train, pad=\"x\" * (17 << 20))).replace('\"width\":800', '\"width\":0800', 1))\n"
	"d = os.path.join(out, \"bomb\"); os.makedirs(d)\n"
	"wzip(os.path.join(d, \"bomb.zip\"), [(\"exact.json\", b\" \" * (1 << 20)), (\"over.json\", b\" \" * ((1 << 20) + 1))])\n";

static char *tmp;

static char *path2(const char *a, const char *b)
{
	size_t n = strlen(tmp) + strlen(a) + strlen(b) + 3;
	char *p = malloc(n);
	if (!p)
		abort();
	snprintf(p, n, "%s/%s%s%s", tmp, a, *b ? "/" : "", b);
	return p;
}

/* Strict JSON needs control bytes escaped in strings, and compact text has
 * no whitespace: a stored record holds no byte below 0x20. */
static int no_ctrl(const char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s < 0x20)
			return 0;
	return s != NULL;
}

/* Same JSON value (cJSON_Compare), and compact (no newline, no indent). */
static int json_same(const char *got, const char *want)
{
	if (!got || strchr(got, '\n'))
		return 0;
	cJSON *a = cJSON_Parse(got), *b = cJSON_Parse(want);
	int ok = a && b && cJSON_Compare(a, b, 1);
	cJSON_Delete(a);
	cJSON_Delete(b);
	return ok;
}

/* "\N" in expect.tsv stands for NULL. */
static int str_is(const char *got, const char *want)
{
	if (strcmp(want, "\\N") == 0)
		return got == NULL;
	return got && strcmp(got, want) == 0;
}

static long long num(const char *s)
{
	return strcmp(s, "\\N") == 0 ? -1 : strtoll(s, NULL, 10);
}

static char seen_progress[512];

static void progress(void *ctx, const char *what)
{
	(void)ctx;
	size_t n = strlen(seen_progress);
	snprintf(seen_progress + n, sizeof seen_progress - n, "%s ", what);
}

/* Splits line at tabs into f[]; returns the field count. */
static int fields(char *line, char **f, int max)
{
	int n = 0;
	char *save = NULL;
	for (char *t = strtok_r(line, "\t\n", &save); t && n < max; t = strtok_r(NULL, "\t\n", &save))
		f[n++] = t;
	return n;
}

static void check_good(const char *variant)
{
	char *d = path2(variant, ""), *exp = path2(variant, "expect.tsv");
	ifs_catalog *c = NULL;
	ifs_err e;
	ifs_err_clear(&e);
	seen_progress[0] = 0;
	int r = ifs_catalog_load(d, &c, progress, NULL, &e);
	CHECK(r == 0 && c, "%s: load: %d %s", variant, r, e.msg);
	if (!c)
		goto out;
	CHECK(strcmp(seen_progress, "train2017.json val2017.json train_2017_bboxes.json "
		     "val_2017_bboxes.json train2017_locations.json val2017_locations.json "
		     "test2017.json ") == 0, "%s: progress: %s", variant, seen_progress);

	size_t len;
	char *text = (char *)tu_slurp(exp, &len);
	CHECK(text != NULL, "%s: read %s", variant, exp);
	if (!text)
		goto out;
	text = realloc(text, len + 1);
	text[len] = 0;
	size_t ci = 0, li = 0, ii = 0, bi = 0, oi = 0, fi = 0;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[16] = { 0 };
		int n = fields(line, f, 16);
		if (n < 2) {
			CHECK(0, "%s: short expect line", variant);
		} else if (strcmp(f[0], "cat") == 0 && n == 4) {
			const ifs_category *k = ci < c->ncats ? &c->cats[ci] : NULL;
			CHECK(k && k->id == num(f[1]) && str_is(k->name, f[2]) &&
			      str_is(k->supercategory, f[3]), "%s: category %zu is %s", variant, ci, f[2]);
			ci++;
		} else if (strcmp(f[0], "lic") == 0 && n == 4) {
			const ifs_license *l = li < c->nlics ? &c->lics[li] : NULL;
			CHECK(l && l->id == num(f[1]) && str_is(l->name, f[2]) && str_is(l->url, f[3]),
			      "%s: license %zu", variant, li);
			li++;
		} else if (strcmp(f[0], "img") == 0 && n == 10) {
			const ifs_image *m = ii < c->nimgs ? &c->imgs[ii] : NULL;
			CHECK(m && m->split == num(f[1]) && m->id == num(f[2]) && m->width == num(f[3]) &&
			      m->height == num(f[4]) && m->license == num(f[5]) &&
			      m->category_id == num(f[6]) && str_is(m->file_name, f[7]) &&
			      str_is(m->rights_holder, f[8]),
			      "%s: image %zu (id %s, %s)", variant, ii, f[2], f[7]);
			if (strcmp(f[9], "\\N") == 0)
				CHECK(m && m->extra == NULL, "%s: image %s has no extra", variant, f[2]);
			else
				CHECK(m && json_same(m->extra, f[9]), "%s: image %s extra %s, want %s",
				      variant, f[2], m ? m->extra : "", f[9]);
			ii++;
		} else if (strcmp(f[0], "box") == 0 && n == 10) {
			const ifs_box *b = bi < c->nboxes ? &c->boxes[bi] : NULL;
			CHECK(b && b->split == num(f[1]) && b->id == num(f[2]) &&
			      b->image_id == num(f[3]) && b->category_id == num(f[4]) &&
			      b->x == strtod(f[5], NULL) && b->y == strtod(f[6], NULL) &&
			      b->w == strtod(f[7], NULL) && b->h == strtod(f[8], NULL) &&
			      json_same(b->json, f[9]) && no_ctrl(b->json), "%s: box %zu: %s", variant, bi,
			      b ? b->json : "");
			bi++;
		} else if (strcmp(f[0], "loc") == 0 && n == 4) {
			const ifs_location *o = oi < c->nlocs ? &c->locs[oi] : NULL;
			CHECK(o && o->split == num(f[1]) && o->image_id == num(f[2]) &&
			      json_same(o->json, f[3]) && no_ctrl(o->json), "%s: location %zu: %s", variant, oi,
			      o ? o->json : "");
			oi++;
		} else if (strcmp(f[0], "skipped") == 0 && n == 2) {
			CHECK(c->nlocs_skipped == (size_t)num(f[1]), "%s: %zu locations skipped",
			      variant, c->nlocs_skipped);
		} else if (strcmp(f[0], "info") == 0 && n == 3) {
			long long s = num(f[1]);
			CHECK(s >= 0 && s < 3 && json_same(c->info[s], f[2]), "%s: info %lld", variant, s);
		} else if (strcmp(f[0], "file") == 0 && n == 5) {
			const ifs_annfile *a = fi < c->nfiles ? &c->files[fi] : NULL;
			char *zp = path2(variant, f[2]);
			CHECK(a && str_is(a->name, f[1]) && str_is(a->zip_path, zp) &&
			      str_is(a->entry, f[3]) && a->size == (uint64_t)num(f[4]) && a->mtime > 0,
			      "%s: file %zu: %s %s", variant, fi, a ? a->entry : "", a ? a->zip_path : "");
			/* The daemon serves it byte-identical through ifs_zip_read_entry. */
			uint8_t *buf = NULL;
			size_t blen = 0;
			ifs_err e2;
			ifs_err_clear(&e2);
			r = a ? ifs_zip_read_entry(a->zip_path, a->entry, &buf, &blen, &e2) : -1;
			CHECK(r == 0 && blen == a->size && buf[blen] == 0, "%s: read %s: %s", variant,
			      f[3], e2.msg);
			if (strcmp(f[1], "train2017.json") == 0) {
				char *raw = path2(variant, "train2017.raw");
				size_t rlen;
				uint8_t *want = tu_slurp(raw, &rlen);
				CHECK(want && buf && rlen == blen && memcmp(want, buf, rlen) == 0,
				      "%s: train2017.json bytes", variant);
				free(want);
				free(raw);
			}
			free(buf);
			free(zp);
			fi++;
		} else {
			CHECK(0, "%s: bad expect line %s", variant, f[0]);
		}
	}
	CHECK(ci == c->ncats && li == c->nlics && ii == c->nimgs && bi == c->nboxes &&
	      oi == c->nlocs && fi == c->nfiles,
	      "%s: counts %zu %zu %zu %zu %zu %zu", variant, c->ncats, c->nlics, c->nimgs,
	      c->nboxes, c->nlocs, c->nfiles);
	free(text);
out:
	ifs_catalog_free(c);
	free(d);
	free(exp);
}

static const struct neg {
	const char *variant;
	int code;
	const char *zip, *json, *problem;
} negs[] = {
	{ "trunc", EIO, "/train_val2017.zip: ", "train2017.json", "not a readable zip" },
	{ "garbage", EIO, "/train_val2017.zip: ", "train2017.json", "not a readable zip" },
	{ "badcrc", EIO, "/train_val2017.zip: ", "train2017.json", "CRC" },
	{ "noentry", ENOENT, "/train_val2017.zip: ", "val2017.json", "not in this zip" },
	{ "badjson", EIO, "/train_val2017.zip: ", "train2017.json", "invalid JSON at line 1, column" },
	{ "trailing", EIO, "/train_val2017.zip: ", "train2017.json", "unexpected data after the end" },
	{ "badutf8", EIO, "/train_val2017.zip: ", "train2017.json", "invalid UTF-8" },
	{ "nul", EIO, "/train_val2017.zip: ", "train2017.json", "string holds a NUL" },
	{ "noimages", EIO, "/train_val2017.zip: ", "train2017.json", "missing key \"images\"" },
	{ "idstr", EIO, "/train_val2017.zip: ", "train2017.json",
	  "images[2].id: expected an integer, got string" },
	{ "idfloat", EIO, "/train_val2017.zip: ", "train2017.json",
	  "images[1].id: expected an integer, got 101.5" },
	{ "dupimg", EIO, "/train_val2017.zip: ", "train2017.json",
	  "images[3].id: duplicate image id 101" },
	{ "tvdup", EIO, "/train_val2017.zip: ", "val2017.json",
	  "images[0].id: image id 104 is also in the train split" },
	{ "unkcat", EIO, "/train_val2017.zip: ", "train2017.json",
	  "annotations[2].category_id: no category with id 999" },
	{ "unkimg", EIO, "/train_val2017.zip: ", "train2017.json",
	  "annotations[1].image_id: no image with id 99999" },
	{ "catdiff", EIO, "/train_val2017.zip: ", "val2017.json",
	  "categories[3]: category 3 is \"Blechnum spicant\" (Plantae) here but \"Blechnum penna-marina\"" },
	{ "negwidth", EIO, "/train_val2017.zip: ", "train2017.json",
	  "images[1].width: expected a positive integer, got -5" },
	{ "dupbox", EIO, "/train_2017_bboxes.zip: ", "train_2017_bboxes.json",
	  "annotations[2].id: duplicate box id 1" },
	{ "boxstr", EIO, "/train_2017_bboxes.zip: ", "train_2017_bboxes.json",
	  "annotations[1].bbox[2]: expected a number, got string" },
	{ "boxval", EIO, "/val_2017_bboxes.zip: ", "val_2017_bboxes.json",
	  "annotations[0].image_id: no val image with id 101" },
	{ "locobj", EIO, "/inat2017_locations.zip: ", "train2017_locations.json",
	  "expected a JSON array at the top level, got object" },
	{ "latstr", EIO, "/inat2017_locations.zip: ", "val2017_locations.json",
	  "[0].lat: expected a number, got string" },
	{ "locgarbage", EIO, "/inat2017_locations.zip: ", "train2017_locations.json",
	  "zip" },
	{ "badnest", EIO, "/train_val2017.zip: ", "train2017.json",
	  "invalid JSON at line 1, column 21" },
	{ "syntaxlast", EIO, "/train_val2017.zip: ", "train2017.json", "invalid JSON at line 1, column" },
	{ "surrogate", EIO, "/train_val2017.zip: ", "train2017.json", "invalid JSON at line 1, column" },
	{ "unclosed", EIO, "/train_val2017.zip: ", "train2017.json", "invalid JSON at line 1, column" },
	{ "lenientbig", EIO, "/train_val2017.zip: ", "train2017.json",
	  "(a file over 16 MiB must be strict JSON" },
};

static void check_bad(const struct neg *n)
{
	char *d = path2(n->variant, "");
	ifs_catalog *c = (ifs_catalog *)&c;
	ifs_err e;
	ifs_err_clear(&e);
	int r = ifs_catalog_load(d, &c, NULL, NULL, &e);
	CHECK(r == -n->code && e.code == n->code && c == NULL, "%s: code %d (%s)", n->variant, r,
	      e.msg);
	const char *z = strstr(e.msg, n->zip);
	CHECK(z && strncmp(e.msg, d, strlen(d)) == 0, "%s: names the zip: %s", n->variant, e.msg);
	CHECK(z && strstr(z, n->json), "%s: names %s: %s", n->variant, n->json, e.msg);
	CHECK(strstr(e.msg, n->problem), "%s: says \"%s\": %s", n->variant, n->problem, e.msg);
	if (getenv("INATFS_TEST_VERBOSE"))
		printf("%-10s %s\n", n->variant, e.msg);
	ifs_catalog_free(r == 0 ? c : NULL);
	free(d);
}

static void check_misc(void)
{
	ifs_catalog *c = NULL;
	ifs_err e;
	ifs_err_clear(&e);
	char *d = path2("empty", "");
	int r = ifs_catalog_load(d, &c, NULL, NULL, &e);
	CHECK(r == 0 && c && c->nimgs == 0 && c->ncats == 0 && c->nfiles == 0 && !c->info[0],
	      "no train_val2017.zip: empty catalog (%d %s)", r, e.msg);
	ifs_catalog_free(c);
	free(d);

	uint8_t *buf = (uint8_t *)&r;
	size_t len = 7;
	char *zip = path2("good", "train_val2017.zip");
	ifs_err_clear(&e);
	r = ifs_zip_read_entry(zip, "nothere.json", &buf, &len, &e);
	CHECK(r == -ENOENT && buf == NULL && len == 0 && strstr(e.msg, zip) &&
	      strstr(e.msg, "nothere.json"), "missing entry: %d %s", r, e.msg);
	ifs_err_clear(&e);
	/* Found by base name by the loader, but read_entry wants the exact path. */
	free(zip);
	zip = path2("good", "inat2017_locations.zip");
	r = ifs_zip_read_entry(zip, "train2017_locations.json", &buf, &len, &e);
	CHECK(r == -ENOENT, "exact entry path: %d %s", r, e.msg);
	ifs_err_clear(&e);
	r = ifs_zip_read_entry(zip, "inat2017_locations/", &buf, &len, &e);
	CHECK(r == -ENOENT, "a folder is no entry: %d %s", r, e.msg);
	free(zip);
	zip = path2("good", "nothere.zip");
	ifs_err_clear(&e);
	r = ifs_zip_read_entry(zip, "train2017.json", &buf, &len, &e);
	CHECK(r == -ENOENT && strstr(e.msg, "nothere.zip"), "missing zip: %d %s", r, e.msg);
	free(zip);

	/* an entry is read up to the limit and no further; the buffer never
	 * grows past it */
	int grows = 1;
	for (size_t max = 1; max < ((size_t)1 << 31); max = max * 3 + 1) {
		size_t cap = 1 << 16 < max + 2 ? 1 << 16 : max + 1;
		while (cap < max + 2) {
			size_t nc = ifs_zip_next_cap(cap, max);
			grows &= nc > cap && nc <= max + 2;
			if (nc <= cap)
				break;
			cap = nc;
		}
		grows &= cap == max + 2;
	}
	CHECK(grows, "entry buffers grow to the limit + 2 and no further");
	size_t keep = ifs_zip_entry_max;
	ifs_zip_entry_max = 1 << 20;
	zip = path2("bomb", "bomb.zip");
	ifs_err_clear(&e);
	r = ifs_zip_read_entry(zip, "exact.json", &buf, &len, &e);
	CHECK(r == 0 && len == 1 << 20, "an entry at the limit: %d %s", r, e.msg);
	free(r == 0 ? buf : NULL);
	ifs_err_clear(&e);
	r = ifs_zip_read_entry(zip, "over.json", &buf, &len, &e);
	CHECK(r == -EIO && buf == NULL && strstr(e.msg, "over.json") && strstr(e.msg, "1048576"),
	      "an entry past the limit: %d %s", r, e.msg);
	ifs_zip_entry_max = keep;
	free(zip);
	CHECK(strcmp(ifs_split_name(IFS_SPLIT_TRAIN), "train") == 0 &&
	      strcmp(ifs_split_name(IFS_SPLIT_VAL), "val") == 0 &&
	      strcmp(ifs_split_name(IFS_SPLIT_TEST), "test") == 0, "split names");
}

/* x with the bits of x >> s folded back out: undoes x ^= x >> s. */
static uint64_t unxorshift(uint64_t y, int s)
{
	uint64_t x = y;
	for (int k = s; k < 64; k += s)
		x = y ^ (x >> s);
	return x;
}

static uint64_t inverse(uint64_t c)
{
	uint64_t x = c;   /* Newton's iteration for 1/c mod 2^64 (c odd) */
	for (int i = 0; i < 6; i++)
		x *= 2 - c * x;
	return x;
}

/*
 * Image and category ids come from the input: ids chosen so that an
 * unkeyed mix of them (here, the splitmix64 finalizer the map once used,
 * inverted) lands in one slot must still spread over the table.
 */
static void check_id_flood(void)
{
	enum { N = 20000 };
	ifs_cidmap m = { 0 };
	int ok = 1;
	for (uint64_t j = 1; j <= N; j++) {
		uint64_t x = j << 20;   /* slot 0 of every table up to 2^20 slots */
		x = unxorshift(x, 31);
		x *= inverse(0x94d049bb133111ebull);
		x = unxorshift(x, 27);
		x *= inverse(0xbf58476d1ce4e5b9ull);
		x = unxorshift(x, 30);
		ok &= ifs_cidmap_put(&m, (int64_t)x, (size_t)j, NULL) == 0;
	}
	size_t idx = 0, probe = ifs_cidmap_probe_max(&m);
	CHECK(ok && m.n == N, "crafted ids: all inserted");
	CHECK(probe < 64, "crafted ids: longest probe run %zu (want < 64)", probe);
	uint64_t x = (uint64_t)7 << 20;
	x = unxorshift(x, 31);
	x *= inverse(0x94d049bb133111ebull);
	x = unxorshift(x, 27);
	x *= inverse(0xbf58476d1ce4e5b9ull);
	x = unxorshift(x, 30);
	CHECK(ifs_cidmap_get(&m, (int64_t)x, &idx) && idx == 7, "crafted ids: found again");
	ifs_cidmap_free(&m);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void bench(const char *gen)
{
	const char *env = getenv("INATFS_BENCH_IMAGES");
	long n = env ? atol(env) : 20000;
	if (n <= 0)
		n = 20000;
	double t0 = now();
	int st = tu_sh("/usr/bin/python3 '%s' '%s' %ld", gen, tmp, n);
	CHECK(st == 0, "bench generator: %d", st);
	double t1 = now();
	char *d = path2("bench", "");
	ifs_catalog *c = NULL;
	ifs_err e;
	ifs_err_clear(&e);
	int r = ifs_catalog_load(d, &c, NULL, NULL, &e);
	double t2 = now();
	CHECK(r == 0 && c && c->nimgs == (size_t)n && c->ncats == 5089, "bench load: %s", e.msg);
	size_t bad = 0;
	for (size_t i = 0; c && i < c->nimgs; i++)
		bad += c->imgs[i].id != (int64_t)i || c->imgs[i].category_id != (int64_t)(i % 5089);
	CHECK(bad == 0, "bench: %zu images wrong", bad);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("bench: %ld images: generated in %.2f s, loaded in %.2f s, peak RSS %.1f MiB\n", n,
	       t1 - t0, t2 - t1, ru.ru_maxrss / 1024.0);
	ifs_catalog_free(c);
	free(d);
}

int main(void)
{
	tmp = tu_tmpdir("catalog");
	CHECK(tmp != NULL, "tmpdir");
	if (!tmp)
		return tu_end("catalog");
	char *gen = path2("gen.py", "");
	FILE *f = fopen(gen, "w");
	CHECK(f && fputs(gen_py, f) >= 0 && fclose(f) == 0, "write %s", gen);
	int st = tu_sh("/usr/bin/python3 '%s' '%s'", gen, tmp);
	CHECK(st == 0, "fixture generator: %d", st);
	if (st == 0) {
		check_good("good");
		check_good("rootloc");
		check_good("pretty");
		check_good("tricky");
		check_good("ctrl");
		check_good("lenient");
		for (size_t i = 0; i < sizeof negs / sizeof negs[0]; i++)
			check_bad(&negs[i]);
		check_misc();
		check_id_flood();
		bench(gen);
	}
	if (!getenv("INATFS_KEEP_TMP"))
		tu_sh("rm -rf '%s'", tmp);
	free(gen);
	free(tmp);
	return tu_end("catalog");
}
