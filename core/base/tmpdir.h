/*
 * NAME
 *	tmpdir - a fresh private directory under $TMPDIR
 * SYNOPSIS
 *	char dir[256];
 *	tmpdir_make(dir, sizeof(dir), "tern-bench-sink");   // "/tmp/tern-bench-sink.1234.9f3a01c2"
 * DESCRIPTION
 *	For scratch state that belongs to one process (the bench sink's session
 *	cache, unit tests): mode 0700, a name from the pid and random bits, made
 *	with mkdir(2) so an existing entry is never reused. The caller removes it.
 * DIAGNOSTICS
 *	0, or -errno (-ENAMETOOLONG when out is too small).
 */
#ifndef TERN_BASE_TMPDIR_H
#define TERN_BASE_TMPDIR_H

#include <stddef.h>

int tmpdir_make(char *out, size_t len, const char *prefix);

#endif
