/*
 * cpwrite.c - the rows of `checkpoints` one archive's scan writes: each
 * checkpoint with the member ends that lie in its range (schema.h,
 * checkpoints.ends).
 *
 * The scan reports a block boundary (or a member's exact end) once the
 * output before it has been delivered, and a checkpoint only after the
 * boundary it was emitted at (gz.h): when a checkpoint arrives, every such
 * point before its `from` has been seen, so the row before it is complete. Each checkpoint is held until
 * the next one arrives (the last one until the scan ends), and rows are
 * appended in key order, as before.
 */
#include "build.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "inatfs/varint.h"
#include "schema.h"

int ifs_cpw_init(ifs_cpwriter *w, sqlite3 *db, int archive, ifs_err *err)
{
	memset(w, 0, sizeof *w);
	w->db = db;
	w->archive = archive;
	w->err = err;
	/* a resumed scan delivers again the checkpoints between its start and
	 * where the interrupted one stopped: the same rows */
	return ifs_sql_prepare(db, "INSERT OR IGNORE INTO checkpoints VALUES(?1,?2,?3,?4,?5,?6)",
			       &w->ins, err);
}

void ifs_cpw_free(ifs_cpwriter *w)
{
	sqlite3_finalize(w->ins);
	free(w->window);
	free(w->ends);
	free(w->pend);
	free(w->blob);
	memset(w, 0, sizeof *w);
}

/* Room for n more bytes in *a (capacity *cap). */
static int grow(uint8_t **a, size_t *cap, size_t n)
{
	if (n <= *cap)
		return 0;
	size_t c = *cap ? *cap : 256;
	while (c < n)
		c *= 2;
	uint8_t *p = realloc(*a, c);
	if (!p)
		return -ENOMEM;
	*a = p;
	*cap = c;
	return 0;
}

/* Room for one more item of size sz at the end of the queue a (items
 * [*head, *n) in use, capacity *cap): the items in use are moved to the
 * front first, so that a queue that never empties does not grow. Returns
 * the queue (moved), or NULL (out of memory; a is unchanged). */
static void *room(void *a, size_t *head, size_t *n, size_t *cap, size_t sz)
{
	if (*head && *n == *cap) {
		memmove(a, (uint8_t *)a + *head * sz, (*n - *head) * sz);
		*n -= *head;
		*head = 0;
	}
	if (*n < *cap)
		return a;
	size_t c = *cap ? *cap * 2 : 64;
	void *p = realloc(a, c * sz);
	if (p)
		*cap = c;
	return p;
}

static int oom(ifs_cpwriter *w)
{
	return ifs_err_set(w->err, ENOMEM, "out of memory");
}

int ifs_cpw_member_end(ifs_cpwriter *w, uint64_t end)
{
	if (w->npend > w->pend_head && end < w->pend[w->npend - 1])
		return 0;   /* never: members come in order */
	uint64_t *q = room(w->pend, &w->pend_head, &w->npend, &w->pend_cap, sizeof *q);
	if (!q)
		return oom(w);
	w->pend = q;
	w->pend[w->npend++] = end;
	return 0;
}

int ifs_cpw_boundary(ifs_cpwriter *w, uint64_t out, uint64_t in_end)
{
	if (w->pend_head == w->npend || w->pend[w->pend_head] > out)
		return 0;
	while (w->pend_head < w->npend && w->pend[w->pend_head] <= out)
		w->pend_head++;
	if (w->nends && (out <= w->ends[w->nends - 1].out || in_end < w->ends[w->nends - 1].in_end))
		return 0;   /* never: boundaries come in order */
	struct ifs_cp_end *q = room(w->ends, &w->ends_head, &w->nends, &w->ends_cap, sizeof *q);
	if (!q)
		return oom(w);
	w->ends = q;
	w->ends[w->nends].out = out;
	w->ends[w->nends].in_end = in_end;
	w->nends++;
	return 0;
}

/* Writes the held checkpoint with the queued ends before `until`. */
static int write_held(ifs_cpwriter *w, uint64_t until)
{
	const ifs_gz_checkpoint *cp = &w->cp;
	size_t k = w->ends_head;
	while (k < w->nends && w->ends[k].out < until)
		k++;
	if (grow(&w->blob, &w->blob_cap, (k - w->ends_head) * 2 * IFS_VARINT_MAX))
		return oom(w);
	size_t n = 0;
	ifs_cp_ends_at at = { cp->from, cp->out, cp->in_bit >> 3 };
	for (size_t i = w->ends_head; i < k; i++)
		if (w->ends[i].out >= at.from && w->ends[i].in_end >= at.in)
			n += ifs_cp_ends_put(w->blob + n, w->ends[i].out, w->ends[i].in_end, &at);
	w->ends_head = k;
	sqlite3_stmt *st = w->ins;
	sqlite3_bind_int64(st, 1, IFS_CP_KEY(w->archive, cp->from));
	sqlite3_bind_int64(st, 2, (sqlite3_int64)(cp->from - cp->out));
	sqlite3_bind_int64(st, 3, (sqlite3_int64)cp->in_bit);
	if (cp->window_len)
		sqlite3_bind_blob(st, 4, cp->window, (int)cp->window_len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 4);
	if (cp->entry_bit)
		sqlite3_bind_int64(st, 5, IFS_CP_ENTRY(cp->entry_bit - cp->in_bit, cp->hdr_bits));
	else
		sqlite3_bind_null(st, 5);
	if (n)
		sqlite3_bind_blob(st, 6, w->blob, (int)n, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 6);
	int r = ifs_sql_step_done(w->db, st, "adding a checkpoint", w->err);
	sqlite3_clear_bindings(st);
	if (r)
		return r;
	w->held = 0;
	ifs_cp_state *c = &w->ring[w->nring++ % IFS_CPW_RING];
	c->out = cp->out;
	c->in_bit = cp->in_bit;
	c->member_out = cp->member_out;
	c->crc = cp->crc;
	c->members = cp->members;
	return 0;
}

int ifs_cpw_checkpoint(ifs_cpwriter *w, const ifs_gz_checkpoint *cp)
{
	int r;
	if (w->held && (r = write_held(w, cp->from)))
		return r;
	/* no row held: the boundaries before this one belong to rows written
	 * before (a resumed scan reports them again) */
	while (w->ends_head < w->nends && w->ends[w->ends_head].out < cp->from)
		w->ends_head++;
	if (grow(&w->window, &w->window_cap, cp->window_len))
		return oom(w);
	w->cp = *cp;
	w->cp.window = cp->window_len ? w->window : NULL;
	if (cp->window_len)
		memcpy(w->window, cp->window, cp->window_len);
	w->held = 1;
	return 0;
}

int ifs_cpw_finish(ifs_cpwriter *w)
{
	return w->held ? write_held(w, UINT64_MAX) : 0;
}

const ifs_cp_state *ifs_cpw_stored(ifs_cpwriter *w, uint64_t off)
{
	/* they are written in increasing order: the newest one that fits */
	uint64_t n = w->nring < IFS_CPW_RING ? w->nring : IFS_CPW_RING;
	for (uint64_t i = 0; i < n; i++) {
		const ifs_cp_state *c = &w->ring[(w->nring - 1 - i) % IFS_CPW_RING];
		if (c->out <= off)
			return c;
	}
	/* none yet: the archive's first checkpoint, held, is made again from the
	 * record by a scan that goes on from it (ifs_cpw_resume_first) */
	if (w->held && w->cp.out == 0 && !w->cp.window_len && !w->nring) {
		ifs_cp_state *c = &w->first;
		c->out = 0;
		c->in_bit = w->cp.in_bit;
		c->member_out = w->cp.member_out;
		c->crc = w->cp.crc;
		c->members = w->cp.members;
		return c;
	}
	return NULL;
}

int ifs_cpw_resume_first(ifs_cpwriter *w, const ifs_gz_checkpoint *cp)
{
	if (cp->out || cp->member_out)
		return 0;
	ifs_gz_checkpoint c = { .in_bit = cp->in_bit, .crc = cp->crc, .members = cp->members };
	return ifs_cpw_checkpoint(w, &c);
}
