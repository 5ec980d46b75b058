/*
 * machine.h - which machine, and which boot of it, this process runs on: what
 * the build lock's record, a running mount's record and a resumable build
 * carry, so that a reader can tell "this machine, this boot" (its process ids
 * mean something) from anything else (only time tells).
 */
#ifndef INATFS_MACHINE_H
#define INATFS_MACHINE_H

#include <stddef.h>

/* The host name, cut to size and to its first line ("" if unknown). */
void ifs_machine_host(char *out, size_t size);
/* /proc/sys/kernel/random/boot_id, its first line ("" if unknown). */
void ifs_machine_boot(char *out, size_t size);

#endif
