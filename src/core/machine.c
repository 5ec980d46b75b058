/*
 * machine.c - the host name and boot id (machine.h).
 */
#include "inatfs/machine.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

void ifs_machine_host(char *out, size_t size)
{
	if (gethostname(out, size) < 0)
		out[0] = '\0';
	out[size - 1] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

void ifs_machine_boot(char *out, size_t size)
{
	out[0] = '\0';
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	if (!f)
		return;
	if (!fgets(out, (int)size, f))
		out[0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	fclose(f);
}
