/*
 * NAME
 *	dir - make a directory and its missing parents (mkdir -p)
 * SYNOPSIS
 *	int rc = dir_make("/var/spool/tern/corrupt", 0700);
 * DESCRIPTION
 *	dir_make() creates path with mode (and each missing parent with 0755,
 *	as mkdir -p does), and returns 0 when path is a directory afterwards,
 *	whether it was made now or existed: -ENOTDIR when something else is in
 *	its place, -ENAMETOOLONG past PATH_MAX, or the -errno of mkdir or stat.
 *	An existing directory keeps its mode.
 */
#ifndef TERN_BASE_DIR_H
#define TERN_BASE_DIR_H

#include <sys/types.h>

int dir_make(const char *path, mode_t mode);

#endif
