/*
 * trust.h - which files inatfs reads as inputs (README "Security").
 *
 * The downloads in DATA_DIR and the index are input that can make the
 * mount serve other files or misbehave, so they are opened here:
 *   - without following a symbolic link (O_NOFOLLOW), unless links are
 *     allowed (-o follow_links, --follow-links): a link planted in place of
 *     a download would serve whatever it points to with the rights of the
 *     user who mounts;
 *   - and, in a folder other users can write to (owned by another user,
 *     world-writable, or group-writable for a group other than this user's
 *     own), only if owned by this user or root.
 * Every refusal is one message naming the file and why.
 */
#ifndef INATFS_TRUST_H
#define INATFS_TRUST_H

#include "inatfs/err.h"

/* Allow symbolic links in place of the downloads and the index (set once,
 * before any thread starts). */
void ifs_trust_follow_links(int yes);
int ifs_trust_links_followed(void);

/*
 * Opens path read-only (flags: more O_ flags, e.g. O_DIRECTORY is not
 * allowed) and checks it as above; a regular file. Returns the descriptor,
 * or a negative errno with err set: -ELOOP (a link), -EACCES (not trusted),
 * -EINVAL (not a regular file), or open's.
 */
int ifs_trust_open(const char *path, int flags, ifs_err *err);

/* The same checks on an open descriptor of path. 0 or a negative errno. */
int ifs_trust_check(int fd, const char *path, ifs_err *err);

#endif
