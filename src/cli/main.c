/*
 * main.c - the inatfs command line: a mount by default, or a subcommand.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

#ifndef INATFS_VERSION
#define INATFS_VERSION "0.1.0"
#endif

void cli_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("inatfs: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: inatfs DATA_DIR MOUNTPOINT [-f] [-d] [-s] [-o OPTION[,OPTION...]]\n"
		"       inatfs index DATA_DIR [--index PATH] [--force]\n"
		"       inatfs info DATA_DIR [--index PATH]\n"
		"       inatfs verify DATA_DIR [--index PATH]\n"
		"       inatfs score PRED.csv DATA_DIR [--split val|train|test] [--check] [--json] [--index PATH]\n"
		"\n"
		"Mounts the iNaturalist 2017 downloads in DATA_DIR (train_val_images.tar.gz,\n"
		"train_val2017.zip, and optionally the test, bbox and location files) read-only\n"
		"at MOUNTPOINT, without extracting them. The first mount builds an index.\n"
		"\n"
		"mount options (-o):\n"
		"  index=PATH      where the index lives (default: DATA_DIR/.inatfs-index.sqlite,\n"
		"                  or $XDG_CACHE_HOME/inatfs/ if DATA_DIR is not writable)\n"
		"  nosidecar       no <hash>.json beside the images in the split views\n"
		"  readdirplus     listings carry attributes: faster ls -l and du, slower find\n"
		"  allow_other     let other users read the mount (FUSE option)\n"
		"  -f              stay in the foreground     -d  debug output (implies -f)\n"
		"  -s              single-threaded\n"
		"\n"
		"exit codes: 0 ok, 1 usage, 2 bad input files, 3 index problem, 4 mount failed,\n"
		"            5 verify found damage\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
		printf("inatfs %s\n", INATFS_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "index"))
		return cmd_index(argc - 1, argv + 1);
	if (!strcmp(cmd, "info"))
		return cmd_info(argc - 1, argv + 1);
	if (!strcmp(cmd, "verify"))
		return cmd_verify(argc - 1, argv + 1);
	if (!strcmp(cmd, "score"))
		return cmd_score(argc - 1, argv + 1);
	return cmd_mount(argc, argv);
}
