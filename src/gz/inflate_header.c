/*
 * inflate_header.c - the decoder's block headers (contract in
 * inflate_int.h): reads a block header, stored, fixed or dynamic, and builds
 * the Huffman decoding tables its code describes, in the layout the decoding
 * loop (inflate.c) reads: an 11-bit literal/length table (8-bit distance
 * table) whose entries give the symbol, its code length and its extra bits
 * at once, and second-level tables for longer codes.
 *
 * Validity follows zlib: over-subscribed codes are refused, incomplete ones
 * too unless the code has a single symbol of length 1 (literal/length and
 * distance codes only), a missing end-of-block code, repeats past the end,
 * lengths 286-287, distances 30-31 and distances past the history are
 * errors.
 */
#include "inflate_int.h"

enum { K_LIT, K_DIST, K_CL };

static const uint16_t lbase[29] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
	35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t lext[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
	3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t dbase[30] = {1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129,
	193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t dext[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
	7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
static const uint8_t cl_order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2,
	14, 1, 15};

/* The table entry for symbol sym of `kind`, whose code takes cl bits (in
 * this level of the table). */
static uint32_t entry(int kind, unsigned sym, unsigned cl)
{
	if (kind == K_CL)
		return sym << 16 | cl << 8 | cl;
	if (kind == K_DIST) {
		if (sym >= 30)
			return F_BAD | cl;
		return (uint32_t)dbase[sym] << 16 | cl << 8 | (cl + dext[sym]);
	}
	if (sym < 256)
		return sym << 16 | F_LIT | cl << 8 | cl;
	if (sym == 256)
		return F_EOB | cl << 8 | cl;
	if (sym >= 286)
		return F_BAD | cl;
	sym -= 257;
	return (uint32_t)lbase[sym] << 16 | cl << 8 | (cl + lext[sym]);
}

static const uint8_t rev8[256] = {
	0x00, 0x80, 0x40, 0xc0, 0x20, 0xa0, 0x60, 0xe0, 0x10, 0x90, 0x50, 0xd0, 0x30, 0xb0, 0x70, 0xf0,
	0x08, 0x88, 0x48, 0xc8, 0x28, 0xa8, 0x68, 0xe8, 0x18, 0x98, 0x58, 0xd8, 0x38, 0xb8, 0x78, 0xf8,
	0x04, 0x84, 0x44, 0xc4, 0x24, 0xa4, 0x64, 0xe4, 0x14, 0x94, 0x54, 0xd4, 0x34, 0xb4, 0x74, 0xf4,
	0x0c, 0x8c, 0x4c, 0xcc, 0x2c, 0xac, 0x6c, 0xec, 0x1c, 0x9c, 0x5c, 0xdc, 0x3c, 0xbc, 0x7c, 0xfc,
	0x02, 0x82, 0x42, 0xc2, 0x22, 0xa2, 0x62, 0xe2, 0x12, 0x92, 0x52, 0xd2, 0x32, 0xb2, 0x72, 0xf2,
	0x0a, 0x8a, 0x4a, 0xca, 0x2a, 0xaa, 0x6a, 0xea, 0x1a, 0x9a, 0x5a, 0xda, 0x3a, 0xba, 0x7a, 0xfa,
	0x06, 0x86, 0x46, 0xc6, 0x26, 0xa6, 0x66, 0xe6, 0x16, 0x96, 0x56, 0xd6, 0x36, 0xb6, 0x76, 0xf6,
	0x0e, 0x8e, 0x4e, 0xce, 0x2e, 0xae, 0x6e, 0xee, 0x1e, 0x9e, 0x5e, 0xde, 0x3e, 0xbe, 0x7e, 0xfe,
	0x01, 0x81, 0x41, 0xc1, 0x21, 0xa1, 0x61, 0xe1, 0x11, 0x91, 0x51, 0xd1, 0x31, 0xb1, 0x71, 0xf1,
	0x09, 0x89, 0x49, 0xc9, 0x29, 0xa9, 0x69, 0xe9, 0x19, 0x99, 0x59, 0xd9, 0x39, 0xb9, 0x79, 0xf9,
	0x05, 0x85, 0x45, 0xc5, 0x25, 0xa5, 0x65, 0xe5, 0x15, 0x95, 0x55, 0xd5, 0x35, 0xb5, 0x75, 0xf5,
	0x0d, 0x8d, 0x4d, 0xcd, 0x2d, 0xad, 0x6d, 0xed, 0x1d, 0x9d, 0x5d, 0xdd, 0x3d, 0xbd, 0x7d, 0xfd,
	0x03, 0x83, 0x43, 0xc3, 0x23, 0xa3, 0x63, 0xe3, 0x13, 0x93, 0x53, 0xd3, 0x33, 0xb3, 0x73, 0xf3,
	0x0b, 0x8b, 0x4b, 0xcb, 0x2b, 0xab, 0x6b, 0xeb, 0x1b, 0x9b, 0x5b, 0xdb, 0x3b, 0xbb, 0x7b, 0xfb,
	0x07, 0x87, 0x47, 0xc7, 0x27, 0xa7, 0x67, 0xe7, 0x17, 0x97, 0x57, 0xd7, 0x37, 0xb7, 0x77, 0xf7,
	0x0f, 0x8f, 0x4f, 0xcf, 0x2f, 0xaf, 0x6f, 0xef, 0x1f, 0x9f, 0x5f, 0xdf, 0x3f, 0xbf, 0x7f, 0xff,
};

/* The code c of l bits, bits reversed (deflate sends codes MSB first and
 * the tables are indexed by the next bits, LSB first). */
static inline unsigned reverse(unsigned c, unsigned l)
{
	return (unsigned)(rev8[c & 255] << 8 | rev8[(c >> 8) & 255]) >> (16 - l);
}

/*
 * Builds the decoding table for the code lengths lens[0..n): a main table
 * indexed by the next tb bits, and for each tb-bit prefix of longer codes a
 * subtable of 2^(longest - tb) entries. Returns 0, or -1 if zlib would
 * refuse the lengths.
 *
 * A complete code fills every slot: codes are placed length by length in a
 * table of 2^length slots, which doubles (a copy of itself) before the next
 * length, so each code is written once and its repeats are copied in bulk.
 */
static int build(uint32_t *t, unsigned tb, size_t tsize, const uint16_t *lens, unsigned n,
		 int kind)
{
	unsigned count[16] = {0}, offs[17];
	unsigned max = 0;
	for (unsigned s = 0; s < n; s++)
		count[lens[s]]++;
	for (unsigned l = 15; l > 0 && !max; l--)
		if (count[l])
			max = l;
	int left = 1;
	for (unsigned l = 1; l <= 15; l++) {
		left <<= 1;
		left -= (int)count[l];
		if (left < 0)
			return -1;   /* over-subscribed */
	}
	if (max == 0 && kind == K_CL)
		return -1;
	if (left > 0 && max != 0 && (kind == K_CL || max != 1))
		return -1;   /* incomplete */
	size_t main = (size_t)1 << tb;
	if (left > 0) {
		/* a distance code with no codes (every use is an error), or one
		 * code of one bit: fill the rest with errors */
		for (size_t i = 0; i < main; i++)
			t[i] = F_BAD | 1u;
		for (unsigned s = 0; s < n; s++)
			if (lens[s] == 1)
				for (size_t j = 0; j < main; j += 2)
					t[j] = entry(kind, s, 1);
		return 0;
	}
	/* the symbols in canonical order: by length, then by value */
	uint16_t sorted[320];
	offs[1] = 0;
	for (unsigned l = 1; l <= 15; l++)
		offs[l + 1] = offs[l] + count[l];
	for (unsigned s = 0; s < n; s++)
		if (lens[s])
			sorted[offs[lens[s]]++] = (uint16_t)s;
	unsigned code = 0, k = 0;
	size_t size = 1;
	unsigned top = max < tb ? max : tb;
	for (unsigned l = 1; l <= top; l++) {
		memcpy(t + size, t, size * sizeof *t);   /* (the first time: two unset slots) */
		size *= 2;
		for (unsigned i = 0; i < count[l]; i++, k++, code++)
			t[reverse(code, l)] = entry(kind, sorted[k], l);
		code <<= 1;
	}
	for (; size < main; size *= 2)
		memcpy(t + size, t, size * sizeof *t);
	if (max <= tb)
		return 0;
	/* longer codes: a subtable per tb-bit prefix, as big as its longest code needs */
	uint8_t longest[1u << GZI_LBITS];
	uint16_t rev[320];
	unsigned c = code;
	for (unsigned l = tb + 1, kk = k; l <= max; l++, c <<= 1)
		for (unsigned i = 0; i < count[l]; i++, kk++, c++)
			rev[kk] = (uint16_t)reverse(c, l);
	for (size_t i = 0; i < main; i++)
		longest[i] = 0;
	for (unsigned l = tb + 1, kk = k; l <= max; l++)
		for (unsigned i = 0; i < count[l]; i++, kk++)
			longest[rev[kk] & (main - 1)] = (uint8_t)l;   /* increasing l: the last is the longest */
	size_t used = main;
	for (unsigned l = tb + 1, kk = k; l <= max; l++) {
		for (unsigned i = 0; i < count[l]; i++, kk++) {
			unsigned p = rev[kk] & (unsigned)(main - 1);
			uint32_t *m = &t[p];
			if (longest[p]) {
				/* the prefix's first code: its subtable */
				unsigned sb = longest[p] - tb;
				if (used + ((size_t)1 << sb) > tsize)
					return -1;   /* cannot happen for a valid code */
				*m = (uint32_t)used << 16 | F_SUB | sb << 8 | tb;
				used += (size_t)1 << sb;
				longest[p] = 0;
			}
			uint32_t *sub = &t[E_VAL(*m)];
			unsigned sb = E_CL(*m);
			uint32_t e = entry(kind, sorted[kk], l - tb);
			for (size_t j = rev[kk] >> tb; j < ((size_t)1 << sb); j += (size_t)1 << (l - tb))
				sub[j] = e;
		}
	}
	return 0;
}

static int build_fixed(gzi_dec *d)
{
	uint16_t lens[288];
	unsigned s = 0;
	for (; s < 144; s++)
		lens[s] = 8;
	for (; s < 256; s++)
		lens[s] = 9;
	for (; s < 280; s++)
		lens[s] = 7;
	for (; s < 288; s++)
		lens[s] = 8;
	if (build(d->lt, GZI_LBITS, GZI_LT_SIZE, lens, 288, K_LIT))
		return -1;
	for (s = 0; s < 32; s++)
		lens[s] = 5;
	return build(d->dt, GZI_DBITS, GZI_DT_SIZE, lens, 32, K_DIST);
}

/* Checked bit reading for block headers (input is there, or it is the end). */
static int need(gzi_dec *d, unsigned n)
{
	while (d->bitcnt < n) {
		if (d->ip >= d->in_len)
			return -1;
		d->bitbuf |= (uint64_t)d->in[d->ip++] << d->bitcnt;
		d->bitcnt += 8;
	}
	return 0;
}

static uint32_t bits(gzi_dec *d, unsigned n)
{
	uint32_t v = (uint32_t)(d->bitbuf & (((uint64_t)1 << n) - 1));
	d->bitbuf >>= n;
	d->bitcnt -= n;
	return v;
}

/* Reads a block header. Returns 0, or GZI_D_TRUNC / GZI_D_ERR. */
int gzi_inflate_header(gzi_dec *d)
{
	d->block_bit = gzi_dec_bit(d);
	if (need(d, 3))
		return GZI_D_TRUNC;
	d->last = (int)bits(d, 1);
	d->btype = (int)bits(d, 2);
	if (d->btype == 0) {
		bits(d, d->bitcnt & 7);
		if (need(d, 32))
			return GZI_D_TRUNC;
		uint32_t len = bits(d, 16), nlen = bits(d, 16);
		if (len != (~nlen & 0xffffu))
			return fail(d, "invalid stored block lengths");
		d->ip -= d->bitcnt >> 3;   /* whole bytes: the stored data is read from in[] */
		d->bitbuf = 0;
		d->bitcnt = 0;
		d->stored_left = len;
		d->state = S_STORED;
		d->hdr_bits = (uint32_t)(gzi_dec_bit(d) - d->block_bit);
		return 0;
	}
	if (d->btype == 1) {
		if (!d->fixed_ready && build_fixed(d))
			return fail(d, "internal error: fixed code");
		d->fixed_ready = 1;
		d->state = S_CODES;
		d->hdr_bits = 3;
		return 0;
	}
	if (d->btype == 3)
		return fail(d, "invalid block type");
	d->fixed_ready = 0;
	if (need(d, 14))
		return GZI_D_TRUNC;
	unsigned nlen = bits(d, 5) + 257, ndist = bits(d, 5) + 1, ncode = bits(d, 4) + 4;
	if (nlen > 286 || ndist > 30)
		return fail(d, "too many length or distance symbols");
	uint16_t lens[320];
	memset(lens, 0, 19 * sizeof *lens);
	for (unsigned i = 0; i < ncode; i++) {
		if (need(d, 3))
			return GZI_D_TRUNC;
		lens[cl_order[i]] = (uint16_t)bits(d, 3);
	}
	uint32_t clt[128];
	if (build(clt, 7, 128, lens, 19, K_CL))
		return fail(d, "invalid code lengths set");
	/* Kraft sums (in 2^-15) of the two codes: an over-subscribed one is
	 * refused at once (random bits, for the block finder, mostly are) */
	uint32_t kraft[2] = {0, 0};
	unsigned i = 0;
	while (i < nlen + ndist) {
		need(d, 7);   /* as many as there are: the entry says how many it takes */
		uint32_t e = clt[d->bitbuf & 127];
		if (E_TOTAL(e) > d->bitcnt)
			return GZI_D_TRUNC;
		bits(d, E_TOTAL(e));
		unsigned sym = E_VAL(e), rep;
		uint16_t v = 0;
		if (sym < 16) {
			if (sym && (kraft[i >= nlen] += 32768u >> sym) > 32768)
				return fail(d, i >= nlen ? "invalid distances set"
					    : "invalid literal/lengths set");
			lens[i++] = (uint16_t)sym;
			continue;
		}
		if (sym == 16) {
			if (i == 0)
				return fail(d, "invalid bit length repeat");
			v = lens[i - 1];
			if (need(d, 2))
				return GZI_D_TRUNC;
			rep = 3 + bits(d, 2);
		} else if (sym == 17) {
			if (need(d, 3))
				return GZI_D_TRUNC;
			rep = 3 + bits(d, 3);
		} else {
			if (need(d, 7))
				return GZI_D_TRUNC;
			rep = 11 + bits(d, 7);
		}
		if (i + rep > nlen + ndist)
			return fail(d, "invalid bit length repeat");
		while (rep--) {
			if (v && (kraft[i >= nlen] += 32768u >> v) > 32768)
				return fail(d, i >= nlen ? "invalid distances set"
					    : "invalid literal/lengths set");
			lens[i++] = v;
		}
	}
	if (lens[256] == 0)
		return fail(d, "invalid code -- missing end-of-block");
	if (build(d->lt, GZI_LBITS, GZI_LT_SIZE, lens, nlen, K_LIT))
		return fail(d, "invalid literal/lengths set");
	if (build(d->dt, GZI_DBITS, GZI_DT_SIZE, lens + nlen, ndist, K_DIST))
		return fail(d, "invalid distances set");
	d->state = S_CODES;
	d->hdr_bits = (uint32_t)(gzi_dec_bit(d) - d->block_bit);
	return 0;
}
