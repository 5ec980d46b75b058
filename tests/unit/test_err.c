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
	return tu_end("err");
}
