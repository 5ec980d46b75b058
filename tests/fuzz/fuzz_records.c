/*
 * fuzz_records.c - libFuzzer harness for the box and location records: the
 * input is split at the first "\n--8<--\n" into train_2017_bboxes.json and
 * train2017_locations.json, zipped beside a fixed train_val2017.zip in a
 * private DATA_DIR, and loaded with ifs_catalog_load. Every record kept
 * must be what sidecars and with-bbox files serve: compact JSON that a
 * strict parser reads (no byte below 0x20, one whole value).
 */
#include <archive.h>
#include <archive_entry.h>
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inatfs/catalog.h"

static char dir[64];

static const char train_json[] =
	"{\"images\":[{\"id\":1,\"width\":10,\"height\":10,\"file_name\":\"train_val_images/A/b/1.jpg\"},"
	"{\"id\":2,\"width\":10,\"height\":10,\"file_name\":\"train_val_images/A/c/2.jpg\"}],"
	"\"categories\":[{\"id\":0,\"name\":\"b\",\"supercategory\":\"A\"},{\"id\":1,\"name\":\"c\","
	"\"supercategory\":\"A\"}],\"annotations\":[{\"id\":1,\"image_id\":1,\"category_id\":0},"
	"{\"id\":2,\"image_id\":2,\"category_id\":1}]}";
static const char val_json[] =
	"{\"images\":[],\"categories\":[{\"id\":0,\"name\":\"b\",\"supercategory\":\"A\"},{\"id\":1,"
	"\"name\":\"c\",\"supercategory\":\"A\"}],\"annotations\":[]}";

static const char *const zips[] = { "train_val2017.zip", "train_2017_bboxes.zip",
				    "inat2017_locations.zip" };

static void cleanup(void)
{
	char p[128];
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s/%s", dir, zips[i]);
		unlink(p);
	}
	rmdir(dir);
}

static void zip(const char *zname, const char *n1, const void *b1, size_t l1, const char *n2,
		const void *b2, size_t l2)
{
	char p[128];
	snprintf(p, sizeof p, "%s/%s", dir, zname);
	struct archive *a = archive_write_new();
	archive_write_set_format_zip(a);
	archive_write_set_options(a, "zip:compression=store");
	if (archive_write_open_filename(a, p) != ARCHIVE_OK)
		abort();
	for (int k = 0; k < 2; k++) {
		const char *n = k ? n2 : n1;
		if (!n)
			continue;
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, n);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)(k ? l2 : l1));
		archive_write_header(a, e);
		archive_write_data(a, k ? b2 : b1, k ? l2 : l1);
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
}

static void strict(const char *json)
{
	for (const char *p = json; *p; p++)
		if ((unsigned char)*p < 0x20)
			abort();   /* a control byte, raw: strict parsers reject it */
	const char *end = NULL;
	cJSON *v = cJSON_ParseWithOpts(json, &end, 1);
	if (!v)
		abort();
	cJSON_Delete(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0]) {
		strcpy(dir, "/dev/shm/fuzz-records-XXXXXX");
		if (!mkdtemp(dir) && !mkdtemp(strcpy(dir, "/tmp/fuzz-records-XXXXXX")))
			abort();
		atexit(cleanup);
		zip(zips[0], "train2017.json", train_json, sizeof train_json - 1, "val2017.json",
		    val_json, sizeof val_json - 1);
	}
	const uint8_t *mark = memmem(data, size, "\n--8<--\n", 8);
	size_t blen = mark ? (size_t)(mark - data) : size;
	zip(zips[1], "train_2017_bboxes.json", data, blen, NULL, NULL, 0);
	if (mark)
		zip(zips[2], "train2017_locations.json", mark + 8, size - blen - 8,
		    "val2017_locations.json", "[]", 2);
	else
		zip(zips[2], "train2017_locations.json", "[]", 2, "val2017_locations.json", "[]", 2);

	ifs_catalog *c = NULL;
	ifs_err err;
	ifs_err_clear(&err);
	int r = ifs_catalog_load(dir, &c, NULL, NULL, &err);
	if (r < 0 && (c || !err.code || !strstr(err.msg, ".zip")))
		abort();
	if (r == 0) {
		for (size_t i = 0; i < c->nboxes; i++)
			strict(c->boxes[i].json);
		for (size_t i = 0; i < c->nlocs; i++)
			strict(c->locs[i].json);
	}
	ifs_catalog_free(c);
	return 0;
}
