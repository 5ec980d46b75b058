/*
 * sparse.c - sparse windows: which bytes of the 32 KiB before a checkpoint
 * does the data after it actually read?
 *
 * A small raw-deflate decoder in the spirit of zlib's contrib/puff (stored,
 * fixed and dynamic blocks, canonical Huffman codes with a 9-bit lookup
 * table in front of puff's bit-by-bit decode) that starts at a block
 * boundary with a known window and tracks, for every output byte, the
 * window byte it is a copy of (its "root"), if any. A checkpoint serves a
 * tar member whose data starts `skip` bytes after the boundary: only the
 * roots of the output from there on are kept, since the output before it
 * (the previous member's end, the tar headers) is never served from this
 * checkpoint. It stops once skip + 32 KiB of output exist: no distance can
 * reach back past skip after that.
 *
 * The same pass finds the checkpoint's entry: the bit where the symbol that
 * outputs byte `skip` starts, if a symbol starts there inside the first
 * block, and that block's header length. A reader that starts there sees
 * only what the output from `skip` on reads directly of the 32 KiB before
 * it, so those bytes are marked too (need2), and the values of the output
 * before `skip` are worked out (val) to fill them in.
 *
 * Speed is secondary (it decodes ~50 KiB per checkpoint on JPEG data, on the
 * scan's helper thread); correctness is checked by the tests, which decode
 * from every sparse window with ISA-L and compare with the real output.
 */
#include "gz_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <endian.h>
#include <unistd.h>


#define MAXBITS 15
#define FASTBITS 9
#define NOROOT UINT32_MAX   /* a literal, or a copy of one */

typedef struct huff {
	uint16_t count[MAXBITS + 1];
	uint16_t symbol[320];
	uint16_t fast[1 << FASTBITS]; /* (len << 9 | sym), 0: use the slow path */
} huff;

typedef struct dstate {
	const uint8_t *in;
	size_t in_len;
	uint64_t bit, bit_end; /* position, and in_len * 8 */
	/* Byte values are never needed: decoding depends only on the input, and
	 * what is tracked is where each output byte comes from. */
	uint32_t *root;        /* per output byte (index hpos - wlen): NOROOT or
				* the window byte it copies */
	size_t wlen, hpos;     /* hpos: window length + bytes output */
	size_t stop;           /* output wanted: skip + 32 KiB */
	size_t skip;
	const uint8_t *win;    /* the window's bytes */
	uint8_t *val;          /* the bytes of output [0, skip) */
	uint8_t *need2;        /* per window + output byte before skip: read
				* directly by output at or after skip */
	uint64_t first_bit;    /* where the first block starts */
	uint64_t hdr_end;      /* where the current block's codes start */
	int first_block;       /* in the first block */
	uint64_t entry_bit;    /* 0 or the entry (a bit index into in[]) */
	uint32_t entry_hdr;
	const char *why;
	int need_more;
	huff lencode, distcode;
} dstate;

/* 32 bits at the current position: one unaligned load. in[] has 8 zero
 * bytes past in_len, and bit <= bit_end holds whenever we peek (take()
 * checks after every advance), so the load stays inside the buffer. */
static inline uint32_t peek(const dstate *s)
{
	uint64_t v;
	memcpy(&v, s->in + (s->bit >> 3), sizeof v);
	return (uint32_t)(le64toh(v) >> (s->bit & 7));
}

static inline int take(dstate *s, unsigned n, uint32_t *v)
{
	*v = n ? peek(s) & ((1u << n) - 1) : 0;
	s->bit += n;
	if (s->bit > s->bit_end) {
		s->need_more = 1;
		return -1;
	}
	return 0;
}

/* puff's construct(): returns 0 complete, >0 incomplete, <0 oversubscribed. */
static int construct(huff *h, const uint16_t *length, int n)
{
	int left = 1;
	uint16_t offs[MAXBITS + 1];

	memset(h->count, 0, sizeof h->count);
	memset(h->fast, 0, sizeof h->fast);
	for (int sym = 0; sym < n; sym++)
		h->count[length[sym]]++;
	if (h->count[0] == n)
		return 0;
	for (int len = 1; len <= MAXBITS; len++) {
		left <<= 1;
		left -= h->count[len];
		if (left < 0)
			return left;
	}
	offs[1] = 0;
	for (int len = 1; len < MAXBITS; len++)
		offs[len + 1] = (uint16_t)(offs[len] + h->count[len]);
	for (int sym = 0; sym < n; sym++)
		if (length[sym] != 0)
			h->symbol[offs[length[sym]]++] = (uint16_t)sym;

	/* Fast table: walk codes in canonical order, index by the bit-reversed
	 * code (deflate sends Huffman codes MSB first). */
	unsigned code = 0, idx = 0;
	for (int len = 1; len <= FASTBITS; len++) {
		for (int k = 0; k < h->count[len]; k++, idx++, code++) {
			unsigned rev = 0;
			for (int b = 0; b < len; b++)
				rev |= ((code >> b) & 1u) << (len - 1 - b);
			for (unsigned f = rev; f < (1u << FASTBITS); f += 1u << len)
				h->fast[f] = (uint16_t)(len << 9 | h->symbol[idx]);
		}
		code <<= 1;
	}
	return left;
}

/* Next symbol, or -1 (overrun / bad code). */
static inline int decode(dstate *s, const huff *h)
{
	uint32_t bits = peek(s);
	uint16_t f = h->fast[bits & ((1u << FASTBITS) - 1)];
	if (f) {
		s->bit += f >> 9;
		if (s->bit > s->bit_end) {
			s->need_more = 1;
			return -1;
		}
		return f & 511;
	}
	int code = 0, first = 0, index = 0;
	for (int len = 1; len <= MAXBITS; len++) {
		code |= (int)((bits >> (len - 1)) & 1);
		int count = h->count[len];
		if (code - count < first) {
			uint32_t dummy;
			if (take(s, (unsigned)len, &dummy) < 0)
				return -1;
			return h->symbol[index + (code - first)];
		}
		index += count;
		first += count;
		first <<= 1;
		code <<= 1;
	}
	s->why = "invalid Huffman code";
	return -1;
}

static int stored(dstate *s)
{
	uint32_t len, nlen;
	s->bit = (s->bit + 7) & ~(uint64_t)7;
	if (take(s, 16, &len) < 0 || take(s, 16, &nlen) < 0)
		return -1;
	if (len != (~nlen & 0xffff)) {
		s->why = "stored block length mismatch";
		return -1;
	}
	uint64_t byte = s->bit >> 3;
	size_t n = len;
	if (n > s->stop - (s->hpos - s->wlen))
		n = s->stop - (s->hpos - s->wlen); /* nothing later can reach back further */
	if (byte + n > s->in_len) {
		s->need_more = 1;
		return -1;
	}
	size_t at = s->hpos - s->wlen;
	for (size_t i = 0; i < n; i++) {
		s->root[at + i] = NOROOT;
		if (at + i < s->skip)
			s->val[at + i] = s->in[byte + i];
	}
	s->hpos += n;
	s->bit += (uint64_t)len * 8;
	return 0;
}

static const uint16_t lbase[29] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
	35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint16_t lext[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
	3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t dbase[30] = {1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129,
	193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint16_t dext[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
	7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

/* Decodes one Huffman block's symbols until end-of-block or enough output. */
static int codes(dstate *s)
{
	for (;;) {
		size_t at = s->hpos - s->wlen;
		if (at >= s->stop)
			return 1; /* enough: later copies cannot reach back past skip */
		if (at == s->skip && s->first_block && !s->entry_bit && s->skip) {
			s->entry_bit = s->bit;
			s->entry_hdr = (uint32_t)(s->hdr_end - s->first_bit);
		}
		int sym = decode(s, &s->lencode);
		if (sym < 0)
			return -1;
		if (sym < 256) {
			s->root[at] = NOROOT;
			if (at < s->skip)
				s->val[at] = (uint8_t)sym;
			s->hpos++;
			continue;
		}
		if (sym == 256)
			return 0;
		sym -= 257;
		if (sym >= 29) {
			s->why = "invalid length symbol";
			return -1;
		}
		uint32_t e;
		if (take(s, lext[sym], &e) < 0)
			return -1;
		size_t len = lbase[sym] + e;
		int dsym = decode(s, &s->distcode);
		if (dsym < 0)
			return -1;
		if (dsym >= 30) {
			s->why = "invalid distance symbol";
			return -1;
		}
		if (take(s, dext[dsym], &e) < 0)
			return -1;
		size_t dist = dbase[dsym] + e;
		if (dist > s->hpos) {
			s->why = "distance too far back";
			return -1;
		}
		size_t from = s->hpos - dist;
		for (size_t i = 0; i < len; i++, from++) {
			at = s->hpos - s->wlen;
			s->root[at] = from < s->wlen ? (uint32_t)from : s->root[from - s->wlen];
			if (at < s->skip)
				s->val[at] = from < s->wlen ? s->win[from] : s->val[from - s->wlen];
			else if (from < s->wlen + s->skip)
				s->need2[from] = 1;
			s->hpos++;
		}
	}
}

static int fixed(dstate *s)
{
	uint16_t lengths[288];
	int sym = 0;
	for (; sym < 144; sym++)
		lengths[sym] = 8;
	for (; sym < 256; sym++)
		lengths[sym] = 9;
	for (; sym < 280; sym++)
		lengths[sym] = 7;
	for (; sym < 288; sym++)
		lengths[sym] = 8;
	construct(&s->lencode, lengths, 288);
	for (sym = 0; sym < 30; sym++)
		lengths[sym] = 5;
	construct(&s->distcode, lengths, 30);
	s->hdr_end = s->bit;
	return codes(s);
}

static int dynamic(dstate *s)
{
	static const uint8_t order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
	uint16_t lengths[320];
	uint32_t nlen, ndist, ncode, v;

	if (take(s, 5, &nlen) < 0 || take(s, 5, &ndist) < 0 || take(s, 4, &ncode) < 0)
		return -1;
	nlen += 257;
	ndist += 1;
	ncode += 4;
	if (nlen > 286 || ndist > 30) {
		s->why = "bad dynamic block counts";
		return -1;
	}
	int index;
	for (index = 0; index < (int)ncode; index++) {
		if (take(s, 3, &v) < 0)
			return -1;
		lengths[order[index]] = (uint16_t)v;
	}
	for (; index < 19; index++)
		lengths[order[index]] = 0;
	if (construct(&s->lencode, lengths, 19) != 0) {
		s->why = "bad code-length code";
		return -1;
	}
	index = 0;
	while (index < (int)(nlen + ndist)) {
		int sym = decode(s, &s->lencode);
		if (sym < 0)
			return -1;
		if (sym < 16) {
			lengths[index++] = (uint16_t)sym;
			continue;
		}
		uint16_t len = 0;
		uint32_t rep;
		if (sym == 16) {
			if (index == 0) {
				s->why = "repeat with no previous length";
				return -1;
			}
			len = lengths[index - 1];
			if (take(s, 2, &rep) < 0)
				return -1;
			rep += 3;
		} else if (sym == 17) {
			if (take(s, 3, &rep) < 0)
				return -1;
			rep += 3;
		} else {
			if (take(s, 7, &rep) < 0)
				return -1;
			rep += 11;
		}
		if (index + (int)rep > (int)(nlen + ndist)) {
			s->why = "too many code lengths";
			return -1;
		}
		while (rep--)
			lengths[index++] = len;
	}
	if (lengths[256] == 0) {
		s->why = "no end-of-block code";
		return -1;
	}
	int err = construct(&s->lencode, lengths, (int)nlen);
	if (err < 0 || (err > 0 && nlen - s->lencode.count[0] != 1)) {
		s->why = "bad literal/length code";
		return -1;
	}
	err = construct(&s->distcode, lengths + nlen, (int)ndist);
	if (err < 0 || (err > 0 && ndist - s->distcode.count[0] != 1)) {
		s->why = "bad distance code";
		return -1;
	}
	s->hdr_end = s->bit;
	return codes(s);
}

int gzi_sparse_mark(const uint8_t *in, size_t in_len, unsigned first_bit, const uint8_t *win,
		    size_t wlen, size_t skip, uint32_t *root, uint8_t *need, uint8_t *val,
		    uint8_t *need2, uint64_t *entry_bit, uint32_t *hdr_bits, const char **why)
{
	dstate *s = calloc(1, sizeof *s);
	int ret = -ENOMEM;
	if (!s)
		return ret;
	s->root = root;
	s->in = in;
	s->in_len = in_len;
	s->bit = first_bit;
	s->bit_end = (uint64_t)in_len * 8;
	s->wlen = s->hpos = wlen;
	s->stop = skip + GZI_WSIZE;
	s->skip = skip;
	s->win = win;
	s->val = val;
	s->need2 = need2;
	s->first_bit = first_bit;
	memset(need2, 0, wlen + skip);

	for (;;) {
		uint32_t last, type;
		int rc;
		s->first_block = s->bit == s->first_bit;
		if (take(s, 1, &last) < 0 || take(s, 2, &type) < 0)
			goto fail;
		if (type == 0)
			rc = stored(s);
		else if (type == 1)
			rc = fixed(s);
		else if (type == 2)
			rc = dynamic(s);
		else {
			s->why = "invalid block type";
			rc = -1;
		}
		if (rc < 0)
			goto fail;
		if (rc == 1 || last || s->hpos - s->wlen >= s->stop)
			break;
	}
	memset(need, 0, wlen);
	for (size_t i = skip; i < s->hpos - s->wlen; i++)
		if (root[i] != NOROOT)
			need[root[i]] = 1;
	*entry_bit = s->entry_bit;
	*hdr_bits = s->entry_hdr;
	ret = 0;
	goto out;
fail:
	if (s->need_more) {
		ret = 1;
	} else {
		ret = -EIO;
		*why = s->why ? s->why : "invalid deflate data";
	}
out:
	free(s);
	return ret;
}

int gzi_sparse_finish(ifs_gz_checkpoint *cp, const uint8_t *win, size_t wlen, size_t skip,
		      const uint8_t *need, const uint8_t *val, const uint8_t *need2,
		      uint64_t entry, uint32_t hdr, uint32_t entry_price)
{
	if (gzi_window_encode(win, need, wlen, &cp->window, &cp->window_len) < 0)
		return -ENOMEM;
	if (!entry || hdr > IFS_GZ_HDR_BITS_MAX)
		return 0;
	/* the 32 KiB before `from`: the window's end, then the output before
	 * skip; keep what the output from skip on reads */
	size_t w2 = wlen + skip < GZI_WSIZE ? wlen + skip : GZI_WSIZE;
	size_t base = wlen + skip - w2;
	uint8_t *ew, *win2 = malloc(w2);
	uint32_t elen;
	if (!win2)
		return -ENOMEM;
	size_t from_win = base < wlen ? wlen - base : 0;
	if (from_win)
		memcpy(win2, win + base, from_win);
	memcpy(win2 + from_win, val + (base + from_win - wlen), w2 - from_win);
	int rc = gzi_window_encode(win2, need2 + base, w2, &ew, &elen);
	free(win2);
	if (rc < 0)
		return -ENOMEM;
	/* the entry's window reaches the whole 32 KiB before `from`, so it
	 * keeps more bytes: worth them where it saves enough inflating */
	if (entry_price == IFS_GZ_ENTRY_ALWAYS ||
	    ((uint64_t)elen + GZI_ENTRY_COST) * 4096 <=
	    (uint64_t)cp->window_len * 4096 + (uint64_t)skip * entry_price) {
		free(cp->window);
		cp->window = ew;
		cp->window_len = elen;
		cp->entry_bit = entry;
		cp->hdr_bits = hdr;
	} else {
		free(ew);
	}
	return 0;
}

int gzi_sparse_begin(ifs_gz_checkpoint *cp, size_t wlen, const char *name, ifs_err *err)
{
	free(cp->window);
	cp->window = NULL;
	cp->window_len = 0;
	cp->entry_bit = 0;
	cp->hdr_bits = 0;
	if (cp->from < cp->out)
		return ifs_err_set(err, EINVAL, "%s: checkpoint serves offsets before itself", name);
	if (wlen == 0) {
		cp->from = cp->out; /* no history: everything after out is exact */
		return 0;
	}
	if (wlen > GZI_WSIZE)
		return ifs_err_set(err, EINVAL, "%s: window too large", name);
	if (cp->from - cp->out > GZI_SKIP_MAX)
		cp->from = cp->out; /* a very long block: serve reads from out on */
	return 1;
}

int gzi_sparse_build(ifs_source *src, ifs_gz_checkpoint *cp,
		     const uint8_t *win, size_t wlen, uint32_t entry_price, ifs_err *err)
{
	const char *name = ifs_source_name(src);
	uint8_t *in = NULL, *need = NULL, *val = NULL, *need2 = NULL;
	uint32_t *root = NULL;
	int ret = -ENOMEM;
	const char *why = NULL;
	uint64_t entry = 0;
	uint32_t hdr = 0;

	int pr = gzi_sparse_begin(cp, wlen, name, err);
	if (pr <= 0)
		return pr;
	size_t skip = (size_t)(cp->from - cp->out);
	size_t in_max = GZI_SPARSE_IN_MAX(skip);
	size_t cap = skip + 64 * 1024, have = 0;
	need = malloc(wlen);
	root = malloc((skip + GZI_OUTMAX) * sizeof *root);
	val = malloc(skip + 1);
	need2 = malloc(wlen + skip);
	if (!need || !root || !val || !need2)
		goto oom;
	uint64_t start = cp->in_bit >> 3;
	for (;;) {
		uint8_t *p = realloc(in, cap + 8); /* + zero padding for peek() */
		if (!p)
			goto oom;
		in = p;
		int eof = 0;
		if (have < cap) {   /* short only where the file ends */
			ssize_t n = ifs_source_pread(src, in + have, cap - have, start + have, err);
			if (n < 0) {
				ret = (int)n;
				goto out;
			}
			have += (size_t)n;
			eof = have < cap;
		}
		memset(in + have, 0, 8);
		int rc = gzi_sparse_mark(in, have, (unsigned)(cp->in_bit & 7), win, wlen, skip,
					 root, need, val, need2, &entry, &hdr, &why);
		if (rc == 0)
			break;
		if (rc < 0 && rc != -EIO)
			goto oom;
		if (rc < 0 || eof) {
			ret = ifs_err_set(err, EIO, "%s: corrupt deflate data after compressed "
					  "offset %llu: %s", name, (unsigned long long)start,
					  rc < 0 ? why : "unexpected end of file");
			goto out;
		}
		if (cap == in_max) {
			/* the output needs more input than honest data does (a long
			 * run of empty blocks): keep the whole window, no entry */
			memset(need, 1, wlen);
			entry = 0;
			break;
		}
		cap = cap * 2 < in_max ? cap * 2 : in_max; /* highly compressible data */
	}
	if (gzi_sparse_finish(cp, win, wlen, skip, need, val, need2,
			      entry ? (cp->in_bit & ~(uint64_t)7) + entry : 0, hdr, entry_price) < 0)
		goto oom;
	ret = 0;
	goto out;
oom:
	ret = ifs_err_set(err, ENOMEM, "%s: out of memory building a sparse window", name);
out:
	free(root);
	free(need);
	free(val);
	free(need2);
	free(in);
	return ret;
}
