/*
 * fuzz_catalog.c - libFuzzer harness for the annotation loader: the input
 * is split at the first "\n--8<--\n" into train2017.json and val2017.json
 * (val gets a fixed small file when there is no marker), zipped with
 * libarchive into train_val2017.zip in a private DATA_DIR, and loaded with
 * ifs_catalog_load. Every failure must carry a message naming the zip.
 */
#include <archive.h>
#include <archive_entry.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inatfs/catalog.h"

static char dir[64];

static const char val_json[] =
	"{\"images\":[{\"id\":100,\"width\":10,\"height\":10,\"file_name\":"
	"\"train_val_images/A/b/v.jpg\"}],\"categories\":[{\"id\":0,\"name\":\"b\","
	"\"supercategory\":\"A\"}],\"annotations\":[{\"id\":100,\"image_id\":100,"
	"\"category_id\":0}]}";

static void cleanup(void)
{
	char p[128];
	snprintf(p, sizeof p, "%s/train_val2017.zip", dir);
	unlink(p);
	rmdir(dir);
}

static void add(struct archive *a, const char *name, const void *buf, size_t len)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)len);
	archive_write_header(a, e);
	archive_write_data(a, buf, len);
	archive_entry_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0]) {
		strcpy(dir, "/dev/shm/fuzz-catalog-XXXXXX");
		if (!mkdtemp(dir) && !mkdtemp(strcpy(dir, "/tmp/fuzz-catalog-XXXXXX")))
			abort();
		atexit(cleanup);
	}
	char zpath[128];
	snprintf(zpath, sizeof zpath, "%s/train_val2017.zip", dir);
	const uint8_t *mark = memmem(data, size, "\n--8<--\n", 8);
	size_t tlen = mark ? (size_t)(mark - data) : size;
	struct archive *a = archive_write_new();
	archive_write_set_format_zip(a);
	archive_write_set_options(a, "zip:compression=store");
	if (archive_write_open_filename(a, zpath) != ARCHIVE_OK)
		abort();
	add(a, "train2017.json", data, tlen);
	if (mark)
		add(a, "val2017.json", mark + 8, size - tlen - 8);
	else
		add(a, "val2017.json", val_json, sizeof val_json - 1);
	archive_write_close(a);
	archive_write_free(a);

	ifs_catalog *c = NULL;
	ifs_err err;
	ifs_err_clear(&err);
	int r = ifs_catalog_load(dir, &c, NULL, NULL, &err);
	if (r < 0 && (c || !strstr(err.msg, "train_val2017.zip")))
		abort();
	if (r == 0) {
		for (size_t i = 0; i < c->nimgs; i++)
			(void)strlen(c->imgs[i].file_name);
		for (size_t i = 0; i < c->ncats; i++)
			(void)strlen(c->cats[i].name);
	}
	ifs_catalog_free(c);
	return 0;
}
