/*
 * staters.c - which processes stat the files they list.
 *
 * A listing with attributes costs the kernel an inode per entry, a few
 * microseconds each: find, os.walk and ImageFolder, which need only names
 * and types, would pay that for nothing. A listing without them costs
 * ls -l and du a lookup round trip per entry. The kernel's own guess
 * (READDIRPLUS_AUTO) gives attributes to a folder's first listing request
 * whatever the program does, and later ones only once it has stat'ed
 * entries, which ls and du do after reading the whole folder. So the
 * daemon guesses from the program instead: a process that has looked up a
 * regular file (a stat, an open) gets attributes in its listings from then
 * on; find and ImageFolder look up only folders, to descend into them.
 */
#include "fs.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#define SLOTS 64
#define FORGET_S 60   /* a process not seen for this long is forgotten */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	pid_t pid;
	time_t seen;
} slot[SLOTS];

static time_t now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec;
}

void ifs_fuse_stater_note(pid_t pid)
{
	if (pid <= 0)
		return;
	time_t t = now();
	pthread_mutex_lock(&lock);
	int use = 0;
	for (int i = 0; i < SLOTS; i++) {
		if (slot[i].pid == pid) {
			use = i;
			break;
		}
		if (slot[i].seen < slot[use].seen)
			use = i;   /* else the one seen longest ago */
	}
	slot[use].pid = pid;
	slot[use].seen = t;
	pthread_mutex_unlock(&lock);
}

int ifs_fuse_stater_is(pid_t pid)
{
	if (pid <= 0)
		return 0;
	time_t t = now();
	int yes = 0;
	pthread_mutex_lock(&lock);
	for (int i = 0; i < SLOTS; i++) {
		if (slot[i].pid == pid && t - slot[i].seen <= FORGET_S) {
			slot[i].seen = t;
			yes = 1;
			break;
		}
	}
	pthread_mutex_unlock(&lock);
	return yes;
}
