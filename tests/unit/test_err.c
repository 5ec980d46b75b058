/* test_err.c - the error type keeps the first cause and formats messages. */
#include "inatfs/err.h"
#include "testutil.h"

#include <errno.h>
#include <string.h>

int main(void)
{
	ifs_err e;
	ifs_err_clear(&e);
	CHECK(e.code == 0 && e.msg[0] == 0, "cleared");
	CHECK(ifs_err_set(&e, EIO, "%s: bad byte at %d", "a.gz", 7) == -EIO, "returns -code");
	CHECK(strcmp(e.msg, "a.gz: bad byte at 7") == 0, "message: %s", e.msg);
	ifs_err_set(&e, EINVAL, "second");
	CHECK(e.code == EIO && strstr(e.msg, "second") == NULL, "first cause kept");
	ifs_err_prefix(&e, "index");
	CHECK(strcmp(e.msg, "index: a.gz: bad byte at 7") == 0, "prefix: %s", e.msg);
	ifs_err_clear(&e);
	CHECK(ifs_err_sys(&e, ENOENT, "open %s", "x") == -ENOENT, "sys code");
	CHECK(strstr(e.msg, "open x: ") == e.msg && strlen(e.msg) > 8, "sys message: %s", e.msg);
	CHECK(ifs_err_set(NULL, EIO, "dropped") == -EIO, "NULL err");

	/* names from the input never reach a terminal as control sequences */
	ifs_err_clear(&e);
	ifs_err_set(&e, EIO, "z.zip: two entries named %s", "\x1b]0;pwned\x07" "a\r\nb\x9b" "2J\xc2\x9b");
	CHECK(strcmp(e.msg, "z.zip: two entries named \\x1b]0;pwned\\x07a\\x0d\\x0ab\\x9b2J"
		     "\\xc2\\x9b") == 0, "escaped: %s", e.msg);
	ifs_err_clear(&e);
	ifs_err_set(&e, EIO, "caf\xc3\xa9 \xe2\x80\x94 ok");
	CHECK(strcmp(e.msg, "caf\xc3\xa9 \xe2\x80\x94 ok") == 0, "UTF-8 kept: %s", e.msg);
	ifs_err_prefix(&e, "/train/%s", "\x1b[31m");
	CHECK(strncmp(e.msg, "/train/\\x1b[31m: caf", 20) == 0, "prefix escaped: %s", e.msg);
	char small[7];
	ifs_text_escape("abc\x01" "def", small, sizeof small);
	CHECK(strcmp(small, "abc") == 0, "cut before a partial escape: %s", small);
	return tu_end("err");
}
