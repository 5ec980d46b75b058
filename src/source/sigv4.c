/*
 * sigv4.c - AWS Signature Version 4 (HMAC-SHA256 with OpenSSL's libcrypto),
 * done here rather than by libcurl: libcurl 7.88 neither sends
 * x-amz-content-sha256 nor sorts the query, and this way the signature is
 * checked against AWS's published examples in the unit tests.
 *
 *   canonical request = METHOD \n URI \n sorted query \n
 *                       name:value \n ... (sorted, lowercase) \n
 *                       signed header names \n payload hash
 *   string to sign    = AWS4-HMAC-SHA256 \n date-time \n
 *                       date/region/service/aws4_request \n sha256(canonical)
 *   key               = HMAC(HMAC(HMAC(HMAC("AWS4" secret, date), region),
 *                       service), "aws4_request")
 */
#include "source_int.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void ifs_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	static const char hex[] = "0123456789abcdef";
	if (!EVP_Digest(data, len, md, &n, EVP_sha256(), NULL))
		n = 0;
	for (unsigned i = 0; i < 32; i++) {
		out[2 * i] = i < n ? hex[md[i] >> 4] : '0';
		out[2 * i + 1] = i < n ? hex[md[i] & 15] : '0';
	}
	out[64] = '\0';
}

static int hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
	unsigned int n = 0;
	if (!HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &n) ||
	    n != 32)
		return -1;
	return 0;
}

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

int ifs_uri_encode(ifs_buf *out, const char *s, size_t len, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char e[3] = { '%', hex[c >> 4], hex[c & 15] };
		int r = unreserved(c) || (keep_slash && c == '/') ? ifs_buf_add(out, (char *)&c, 1)
								  : ifs_buf_add(out, e, 3);
		if (r)
			return r;
	}
	if (!out->p && ifs_buf_add(out, "", 0))
		return -ENOMEM;
	return 0;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decodes then encodes again, so that every way of writing a query
 * parameter signs the same. */
static int reencode(ifs_buf *out, const char *s, size_t len)
{
	char *d = malloc(len + 1);
	if (!d)
		return -ENOMEM;
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		int hi, lo;
		if (s[i] == '%' && i + 2 < len && (hi = hexval(s[i + 1])) >= 0 &&
		    (lo = hexval(s[i + 2])) >= 0) {
			d[n++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			d[n++] = s[i];
		}
	}
	int r = ifs_uri_encode(out, d, n, 0);
	free(d);
	return r;
}

struct qparam { char *k, *v; };

static int qcmp(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int c = strcmp(x->k, y->k);
	return c ? c : strcmp(x->v, y->v);
}

/* The canonical query: each key and value encoded, sorted by key then value. */
static int canonical_query(ifs_buf *out, const char *q)
{
	if (!q || !*q)
		return 0;
	size_t n = 1;
	for (const char *p = q; *p; p++)
		n += *p == '&';
	struct qparam *ps = calloc(n, sizeof *ps);
	if (!ps)
		return -ENOMEM;
	size_t np = 0;
	int r = 0;
	for (const char *p = q; *p && !r;) {
		size_t l = strcspn(p, "&");
		if (l) {
			const char *eq = memchr(p, '=', l);
			size_t kl = eq ? (size_t)(eq - p) : l;
			ifs_buf k = { 0 }, v = { 0 };
			if ((r = reencode(&k, p, kl)) ||
			    (r = reencode(&v, eq ? eq + 1 : "", eq ? l - kl - 1 : 0))) {
				free(k.p);
				free(v.p);
				break;
			}
			ps[np++] = (struct qparam){ k.p, v.p };
		}
		p += l + (p[l] == '&');
	}
	if (!r) {
		qsort(ps, np, sizeof *ps, qcmp);
		for (size_t i = 0; i < np && !r; i++)
			r = ifs_buf_addf(out, "%s%s=%s", i ? "&" : "", ps[i].k, ps[i].v);
	}
	for (size_t i = 0; i < np; i++) {
		free(ps[i].k);
		free(ps[i].v);
	}
	free(ps);
	return r;
}

struct chdr { char *name; const char *value; };

static int hcmp(const void *a, const void *b)
{
	return strcmp(((const struct chdr *)a)->name, ((const struct chdr *)b)->name);
}

/* value trimmed, runs of spaces made one */
static int add_trimmed(ifs_buf *out, const char *v)
{
	while (*v == ' ' || *v == '\t')
		v++;
	int space = 0, r = 0;
	for (; *v && !r; v++) {
		if (*v == ' ' || *v == '\t') {
			space = 1;
			continue;
		}
		if (space)
			r = ifs_buf_add(out, " ", 1);
		space = 0;
		if (!r)
			r = ifs_buf_add(out, v, 1);
	}
	return r;
}

int ifs_sigv4_authorization(const struct ifs_sigv4_req *q, char *out, size_t outlen)
{
	if (!q->amz_date || strlen(q->amz_date) != 16 || !q->key_id || !q->secret ||
	    !q->region || !q->service || !q->payload_hash || q->nheaders == 0 || q->nheaders > 32)
		return -EINVAL;
	char date[9];
	memcpy(date, q->amz_date, 8);
	date[8] = '\0';
	struct chdr h[32];
	size_t nh = 0;
	int r = 0;
	ifs_buf creq = { 0 }, names = { 0 }, sts = { 0 };
	char *keybuf = NULL;
	for (size_t i = 0; i < q->nheaders; i++) {
		char *n = strdup(q->headers[i].name);
		if (!n) {
			r = -ENOMEM;
			goto out;
		}
		for (char *p = n; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		h[nh++] = (struct chdr){ n, q->headers[i].value };
	}
	qsort(h, nh, sizeof *h, hcmp);
	if ((r = ifs_buf_addf(&creq, "%s\n%s\n", q->method, q->path && *q->path ? q->path : "/")) ||
	    (r = canonical_query(&creq, q->query)) || (r = ifs_buf_add(&creq, "\n", 1)))
		goto out;
	for (size_t i = 0; i < nh; i++) {
		if ((r = ifs_buf_addf(&creq, "%s:", h[i].name)) || (r = add_trimmed(&creq, h[i].value)) ||
		    (r = ifs_buf_add(&creq, "\n", 1)) ||
		    (r = ifs_buf_addf(&names, "%s%s", i ? ";" : "", h[i].name)))
			goto out;
	}
	if ((r = ifs_buf_addf(&creq, "\n%s\n%s", names.p, q->payload_hash)))
		goto out;
	char ch[65];
	ifs_sha256_hex(creq.p, creq.len, ch);
	if ((r = ifs_buf_addf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", q->amz_date,
			      date, q->region, q->service, ch)))
		goto out;
	if (asprintf(&keybuf, "AWS4%s", q->secret) < 0) {
		keybuf = NULL;
		r = -ENOMEM;
		goto out;
	}
	unsigned char k1[32], k2[32], k3[32], k4[32], sig[32];
	if (hmac(keybuf, strlen(keybuf), date, k1) || hmac(k1, 32, q->region, k2) ||
	    hmac(k2, 32, q->service, k3) || hmac(k3, 32, "aws4_request", k4) ||
	    hmac(k4, 32, sts.p, sig)) {
		r = -EIO;
		goto out;
	}
	char sh[65];
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++)
		sh[2 * i] = hex[sig[i] >> 4], sh[2 * i + 1] = hex[sig[i] & 15];
	sh[64] = '\0';
	int n = snprintf(out, outlen, "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, "
			 "SignedHeaders=%s, Signature=%s", q->key_id, date, q->region, q->service,
			 names.p, sh);
	if (n < 0 || (size_t)n >= outlen)
		r = -ENOSPC;
	OPENSSL_cleanse(k1, sizeof k1);
	OPENSSL_cleanse(k2, sizeof k2);
	OPENSSL_cleanse(k3, sizeof k3);
	OPENSSL_cleanse(k4, sizeof k4);
out:
	if (keybuf) {
		OPENSSL_cleanse(keybuf, strlen(keybuf));
		free(keybuf);
	}
	for (size_t i = 0; i < nh; i++)
		free(h[i].name);
	free(creq.p);
	free(names.p);
	free(sts.p);
	return r;
}
