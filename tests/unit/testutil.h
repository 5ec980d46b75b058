/*
 * testutil.h - a minimal harness for the C unit tests.
 *
 * CHECK(cond, fmt, ...) records one assertion; a failed one prints file, line
 * and the message, and the test goes on. test_main_end() prints
 * "N passed, N failed" and returns the process exit code.
 */
#ifndef INATFS_TESTUTIL_H
#define INATFS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

extern long tu_passed, tu_failed;

void tu_check(int ok, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define CHECK(cond, ...) tu_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* Prints the closing line; returns 0 if nothing failed, 1 otherwise. */
int tu_end(const char *suite);

/* A fresh temporary directory (removed by the caller, or left for debugging). */
char *tu_tmpdir(const char *tag);

/* Runs a shell command; returns its exit status (or -1). */
int tu_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reads a whole file into memory (malloc'd); *len gets its size. NULL on error. */
uint8_t *tu_slurp(const char *path, size_t *len);

/* Deterministic PRNG (xorshift64*). */
uint64_t tu_rand(uint64_t *state);

#endif
