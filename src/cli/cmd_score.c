/*
 * cmd_score.c - `inatfs score PRED.csv DATA_DIR [--split val|train|test]
 * [--check] [--json] [--index PATH]`: checks a submission file against the
 * images of one split (from the index, built first if needed) and, unless
 * --check (implied by --split test, which has no labels), prints its top-1
 * and top-5 errors: overall, averaged over classes, per supercategory.
 * An invalid submission prints every problem with its line number to stderr,
 * then a summary line, and exits 2.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "inatfs/catalog.h"
#include "inatfs/index_query.h"
#include "inatfs/score.h"

static const char usage_line[] =
	"usage: inatfs score PRED.csv DATA_DIR [--split val|train|test] [--check] [--json] "
	"[--index PATH]";

static int parse_split(const char *s)
{
	for (int i = IFS_SPLIT_TRAIN; i <= IFS_SPLIT_TEST; i++)
		if (!strcmp(s, ifs_split_name(i)))
			return i;
	return -1;
}

int cmd_score(int argc, char **argv)
{
	const char *csv = NULL, *data_dir = NULL, *index = NULL;
	int split = IFS_SPLIT_VAL, check = 0, json = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--index") && i + 1 < argc) {
			index = argv[++i];
		} else if (!strcmp(argv[i], "--split") && i + 1 < argc) {
			if ((split = parse_split(argv[++i])) < 0) {
				cli_error("--split: '%s' is not one of train, val, test", argv[i]);
				return EXIT_USAGE;
			}
		} else if (!strcmp(argv[i], "--check")) {
			check = 1;
		} else if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (argv[i][0] != '-' && !csv) {
			csv = argv[i];
		} else if (argv[i][0] != '-' && !data_dir) {
			data_dir = argv[i];
		} else {
			cli_error("%s", usage_line);
			return EXIT_USAGE;
		}
	}
	if (!csv || !data_dir) {
		cli_error("%s", usage_line);
		return EXIT_USAGE;
	}
	if (split == IFS_SPLIT_TEST)
		check = 1;   /* no test labels exist */

	struct stat st;
	if (stat(csv, &st) < 0) {
		cli_error("%s: %s", csv, strerror(errno));
		return EXIT_INPUT;
	}
	if (S_ISDIR(st.st_mode)) {
		cli_error("%s: is a folder, not a submission file", csv);
		return EXIT_INPUT;
	}
	int r = cli_check_data_dir(data_dir);
	if (r)
		return r;

	char *path = NULL;
	ifs_index *idx = NULL;
	ifs_truth *t = NULL;
	ifs_score_problems *probs = NULL;
	ifs_score_result res = { 0 };
	ifs_err err;
	ifs_err_clear(&err);
	const char *sname = ifs_split_name(split);
	if ((r = cli_ensure_index(data_dir, index, 0, 0, &path)))
		goto out;
	if (ifs_index_open(path, data_dir, &idx, &err) < 0 ||
	    ifs_index_truth(idx, split, &t, &err) < 0) {
		cli_error("%s", err.code ? err.msg : "index: cannot be read");
		r = EXIT_INDEX;
		goto out;
	}
	if (!ifs_truth_count(t)) {
		cli_error("the index of %s holds no %s images (is the %s annotation file there?)",
			  data_dir, sname, split == IFS_SPLIT_TEST ? "test2017.zip" : "train_val2017.zip");
		r = EXIT_INPUT;
		goto out;
	}
	if (!(probs = malloc(sizeof *probs))) {
		cli_error("out of memory");
		r = EXIT_INPUT;
		goto out;
	}
	int sr = ifs_score_file(csv, t, check, &res, probs, &err);
	if (sr == -EINVAL && probs->total) {
		ifs_score_print_problems(stderr, csv, probs);
		cli_error("%s", err.msg);
		if (json && ifs_score_print_problems_json(stdout, probs) < 0)
			cli_error("cannot write the JSON report");
		r = EXIT_INPUT;
		goto out;
	}
	if (sr < 0) {
		cli_error("%s", err.msg);
		/* the truth itself is unusable (duplicates, unknown or missing labels) */
		r = (sr == -EINVAL || sr == -ENODATA) ? EXIT_INDEX : EXIT_INPUT;
		goto out;
	}
	int pr = json ? ifs_score_print_json(stdout, &res, sname)
		      : ifs_score_print(stdout, &res, sname);
	if (pr < 0 || fflush(stdout) != 0) {
		cli_error("cannot write the report: %s", strerror(pr < 0 ? -pr : errno));
		r = EXIT_INPUT;
		goto out;
	}
	r = 0;
out:
	ifs_score_result_clear(&res);
	free(probs);
	ifs_truth_free(t);
	ifs_index_close(idx);
	free(path);
	return r;
}
