/*
 * NAME
 *	ternmap_compile - build FILE.lmdb from the text table FILE, atomically
 * SYNOPSIS
 *	int rc = ternmap_compile("lmdb:/etc/tern/transport", &err);
 * DESCRIPTION
 *	ternmap's compiler (see ternmap_compile.c): a library of its own so
 *	that the tests and the fuzz targets call what ternmap calls.
 * DIAGNOSTICS
 *	0, or -errno with *err (malloc'd) naming the table and the file.
 */
#ifndef TERN_TERNMAP_COMPILE_H
#define TERN_TERNMAP_COMPILE_H

int ternmap_compile(const char *spec, char **err);

#endif
