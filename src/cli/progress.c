/*
 * progress.c - progress on stderr: a bar redrawn in place when stderr is a
 * terminal, else one line every 5% (logs, CI, systemd).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static struct {
	double t0;
	uint64_t done0;   /* bytes done at t0: the first report comes after some work */
	char file[256];
	int last_pct;
	int drawn;
} pg = { .last_pct = -1 };

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void draw(const char *what, uint64_t done, uint64_t total)
{
	if (strcmp(pg.file, what) != 0) {
		if (pg.drawn && isatty(2))
			fputc('\n', stderr);
		snprintf(pg.file, sizeof pg.file, "%s", what);
		pg.t0 = now();
		pg.done0 = done;
		pg.last_pct = -1;
		pg.drawn = 0;
	}
	double el = now() - pg.t0;
	double rate = el > 0.05 && done > pg.done0 ? (double)(done - pg.done0) / el : 0;
	int pct = total ? (int)(100.0 * (double)done / (double)total) : 0;
	double eta = rate > 0 && total > done ? (double)(total - done) / rate : 0;
	if (isatty(2)) {
		char bar[31];
		int fill = pct * 30 / 100;
		for (int i = 0; i < 30; i++)
			bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
		bar[30] = '\0';
		fprintf(stderr, "\r%s [%s] %3d%% %.1f/%.1f MB %.0f MB/s ETA %d:%02d ",
			what, bar, pct, (double)done / 1e6, (double)total / 1e6, rate / 1e6,
			(int)eta / 60, (int)eta % 60);
		pg.drawn = 1;
	} else if (pct / 5 != pg.last_pct / 5 || pg.last_pct < 0) {
		fprintf(stderr, "inatfs: %s: %d%% (%.1f of %.1f MB, %.0f MB/s, ETA %d:%02d)\n",
			what, pct, (double)done / 1e6, (double)total / 1e6, rate / 1e6,
			(int)eta / 60, (int)eta % 60);
	}
	pg.last_pct = pct;
}

/* Seconds since the first progress report (phases show where the time goes). */
static double since_start(void)
{
	static double t0;
	if (t0 == 0)
		t0 = now();
	return now() - t0;
}

void cli_progress(void *ctx, const ifs_build_progress *p)
{
	(void)ctx;
	double el = since_start();
	if (strcmp(p->phase, "scan") == 0 && p->file) {
		char what[300];
		const char *base = strrchr(p->file, '/');
		snprintf(what, sizeof what, "scanning %s", base ? base + 1 : p->file);
		draw(what, p->done, p->total);
		return;
	}
	cli_progress_done();
	if (strcmp(p->phase, "annotations") == 0)
		fprintf(stderr, "inatfs: reading annotations: %s [%.1f s]\n", p->file ? p->file : "",
			el);
	else if (strcmp(p->phase, "join") == 0)
		fprintf(stderr, "inatfs: joining annotations to tar members [%.1f s]\n", el);
	else if (strcmp(p->phase, "write") == 0)
		fprintf(stderr, "inatfs: writing the index [%.1f s]\n", el);
	else if (strcmp(p->phase, "resume") == 0)
		fprintf(stderr, "inatfs: going on with an interrupted build%s%s [%.1f s]\n",
			p->file ? ": scanned up to " : "", p->file ? p->file : "", el);
	else
		fprintf(stderr, "inatfs: %s [%.1f s]\n", p->phase, el);
}

void cli_progress_bytes(const char *what, uint64_t done, uint64_t total)
{
	draw(what, done, total);
}

void cli_progress_done(void)
{
	if (pg.drawn && isatty(2))
		fputc('\n', stderr);
	pg.drawn = 0;
	pg.file[0] = '\0';
}
