/*
 * push.c - the rest of a member decoded whole, pushed into the kernel's page
 * cache (FUSE_NOTIFY_STORE) before the read that decoded it is answered, so
 * that the reader finds the rest cached and sends no more requests
 * (answered first, it would ask for the next pages before the push reached
 * them).
 *
 * A push waits for pages that reads in flight hold (the kernel locks them
 * until answered): the push never covers the read's own pages; reads of the
 * same handle meanwhile are answered from the decoded copy (reader.h); one
 * push per file at a time (other handles' reads of it are served as asked);
 * pushes take at most push_slots threads, half of them (none with -s), so
 * threads remain to answer the reads they wait for.
 */
#include "fuse_int.h"

#include <stdio.h>
#include <string.h>

int ifs_push_take(ifs_fs *fs, uint64_t ino)
{
	pthread_mutex_lock(&fs->push_lock);
	int ok = fs->npushing < fs->push_slots;
	for (unsigned i = 0; ok && i < fs->npushing; i++)
		if (fs->pushing[i] == ino)
			ok = 0;
	if (ok)
		fs->pushing[fs->npushing++] = ino;
	pthread_mutex_unlock(&fs->push_lock);
	return ok;
}

void ifs_push_done(ifs_fs *fs, uint64_t ino)
{
	pthread_mutex_lock(&fs->push_lock);
	for (unsigned i = 0; i < fs->npushing; i++)
		if (fs->pushing[i] == ino) {
			fs->pushing[i] = fs->pushing[--fs->npushing];
			break;
		}
	pthread_mutex_unlock(&fs->push_lock);
}

void ifs_push_range(ifs_fs *fs, uint64_t ino, const uint8_t *data, uint64_t off,
		    uint64_t len)
{
	if (!len)
		return;
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(len);
	bv.buf[0].mem = (void *)(data + off);
	int r = fuse_lowlevel_notify_store(fs->se, ino, (off_t)off, &bv, 0);
	if (r && fs->debug)
		fprintf(stderr, "inatfs: page cache push of inode %llu failed: %s\n",
			(unsigned long long)ino, strerror(-r));
}
