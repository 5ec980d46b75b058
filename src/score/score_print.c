/*
 * score_print.c - a score result or a list of problems as a table for people
 * and as JSON for programs (cJSON, so hostile supercategory names are
 * escaped). Errors are printed as percentages in the table and as fractions
 * in [0, 1] in JSON.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "inatfs/score.h"

/* Name for the table: non-printable bytes as '?', at most 30 bytes. */
static void put_name(FILE *f, const char *s)
{
	char b[32];
	size_t n = 0;
	for (; s[n] && n < 30; n++)
		b[n] = ((unsigned char)s[n] < 0x20 || s[n] == 0x7f) ? '?' : s[n];
	b[n] = 0;
	fprintf(f, "  %-30s", b);
}

int ifs_score_print(FILE *f, const ifs_score_result *r, const char *split)
{
	if (!r->scored) {
		fprintf(f, "valid submission: %llu rows, one per image of the %s split\n",
			(unsigned long long)r->images, split ? split : "chosen");
		return ferror(f) ? -EIO : 0;
	}
	fprintf(f, "%s split: %llu images, %llu classes\n\n", split ? split : "chosen",
		(unsigned long long)r->images, (unsigned long long)r->classes);
	fprintf(f, "  %-30s %9s %12s %12s\n", "", "images", "top-1 error", "top-5 error");
	fprintf(f, "  %-30s %9llu %11.2f%% %11.2f%%\n", "overall", (unsigned long long)r->images,
		100 * r->top1, 100 * r->top5);
	fprintf(f, "  %-30s %9llu %11.2f%% %11.2f%%\n", "mean over classes",
		(unsigned long long)r->classes, 100 * r->macro_top1, 100 * r->macro_top5);
	fputc('\n', f);
	for (size_t i = 0; i < r->ngroups; i++) {
		put_name(f, r->groups[i].name);
		fprintf(f, " %9llu %11.2f%% %11.2f%%\n", (unsigned long long)r->groups[i].images,
			100 * r->groups[i].top1, 100 * r->groups[i].top5);
	}
	return ferror(f) ? -EIO : 0;
}

/* A new object appended to array a, or NULL (nothing leaked). */
static cJSON *new_item(cJSON *a)
{
	cJSON *o = cJSON_CreateObject();
	if (o && !cJSON_AddItemToArray(a, o)) {
		cJSON_Delete(o);
		o = NULL;
	}
	return o;
}

/* Prints and frees a JSON tree. */
static int emit(FILE *f, cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!s)
		return -ENOMEM;
	fprintf(f, "%s\n", s);
	cJSON_free(s);
	return ferror(f) ? -EIO : 0;
}

int ifs_score_print_json(FILE *f, const ifs_score_result *r, const char *split)
{
	cJSON *o = cJSON_CreateObject(), *m = NULL, *a = NULL;
	int ok = o && cJSON_AddTrueToObject(o, "valid") &&
		 (split ? cJSON_AddStringToObject(o, "split", split) != NULL
			: cJSON_AddNullToObject(o, "split") != NULL) &&
		 cJSON_AddNumberToObject(o, "images", (double)r->images) &&
		 cJSON_AddBoolToObject(o, "scored", r->scored > 0);
	if (ok && r->scored > 0) {
		ok = cJSON_AddNumberToObject(o, "top1_error", r->top1) &&
		     cJSON_AddNumberToObject(o, "top5_error", r->top5) &&
		     (m = cJSON_AddObjectToObject(o, "macro")) &&
		     cJSON_AddNumberToObject(m, "classes", (double)r->classes) &&
		     cJSON_AddNumberToObject(m, "top1_error", r->macro_top1) &&
		     cJSON_AddNumberToObject(m, "top5_error", r->macro_top5) &&
		     (a = cJSON_AddArrayToObject(o, "supercategories"));
		for (size_t i = 0; ok && i < r->ngroups; i++) {
			cJSON *g = new_item(a);
			ok = g &&
			     cJSON_AddStringToObject(g, "name", r->groups[i].name) &&
			     cJSON_AddNumberToObject(g, "images", (double)r->groups[i].images) &&
			     cJSON_AddNumberToObject(g, "top1_error", r->groups[i].top1) &&
			     cJSON_AddNumberToObject(g, "top5_error", r->groups[i].top5);
		}
	}
	if (!ok) {
		cJSON_Delete(o);
		return -ENOMEM;
	}
	return emit(f, o);
}

void ifs_score_print_problems(FILE *f, const char *path, const ifs_score_problems *p)
{
	for (size_t i = 0; i < p->n && i < IFS_SCORE_MAX_PROBLEMS; i++) {
		if (p->item[i].line)
			fprintf(f, "%s:%llu: %s\n", path, (unsigned long long)p->item[i].line,
				p->item[i].msg);
		else
			fprintf(f, "%s: %s\n", path, p->item[i].msg);
	}
	if (p->total > p->n)
		fprintf(f, "%s: ... and %llu more problems\n", path,
			(unsigned long long)(p->total - p->n));
}

int ifs_score_print_problems_json(FILE *f, const ifs_score_problems *p)
{
	cJSON *o = cJSON_CreateObject(), *a = NULL;
	int ok = o && cJSON_AddFalseToObject(o, "valid") &&
		 cJSON_AddNumberToObject(o, "problems_total", (double)p->total) &&
		 cJSON_AddNumberToObject(o, "missing", (double)p->missing) &&
		 (a = cJSON_AddArrayToObject(o, "problems"));
	for (size_t i = 0; ok && i < p->n && i < IFS_SCORE_MAX_PROBLEMS; i++) {
		cJSON *it = new_item(a);
		ok = it &&
		     cJSON_AddNumberToObject(it, "line", (double)p->item[i].line) &&
		     cJSON_AddStringToObject(it, "message", p->item[i].msg);
	}
	if (!ok) {
		cJSON_Delete(o);
		return -ENOMEM;
	}
	return emit(f, o);
}
