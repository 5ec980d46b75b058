/*
 * main.c - the inatfs command line: a mount by default, or a subcommand.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "inatfs/trust.h"

void cli_error(const char *fmt, ...)
{
	/* names from the input may be quoted: printed escaped (err.h) */
	char raw[2048], safe[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	ifs_text_escape(raw, safe, sizeof safe);
	fprintf(stderr, "inatfs: %s\n", safe);
}

/* inatfs_help_text: made from the README at build time (scripts/gen-docs) */
#include "help.h"

static void usage(FILE *f)
{
	fputs("usage: inatfs DATA_DIR MOUNTPOINT [options] | inatfs index|info|verify|score ...\n"
	      "Mounts the iNaturalist 2017 downloads in DATA_DIR read-only at MOUNTPOINT,\n"
	      "without extracting them.\n\n", f);
	fputs(inatfs_help_text, f);
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
	/* the subcommands' --follow-links (the mount's is -o follow_links) */
	if (!strcmp(cmd, "index") || !strcmp(cmd, "info") || !strcmp(cmd, "verify") ||
	    !strcmp(cmd, "score")) {
		int k = 1;
		for (int i = 1; i < argc; i++) {
			if (!strcmp(argv[i], "--follow-links"))
				ifs_trust_follow_links(1);
			else
				argv[k++] = argv[i];
		}
		argv[k] = NULL;
		argc = k;
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
