/*
 * NAME
 *	dir - directories: make one with its parents (mkdir -p), make its entries durable
 * SYNOPSIS
 *	int rc = dir_make("/var/spool/tern/corrupt", 0700);
 *	rc = dir_sync("/var/spool/tern");              // fsync the directory
 *	rc = dir_sync_parent("/etc/tern/access.lmdb"); // fsync the directory holding it
 * DESCRIPTION
 *	dir_make() creates path with mode (and each missing parent with 0755,
 *	as mkdir -p does), and returns 0 when path is a directory afterwards,
 *	whether it was made now or existed: -ENOTDIR when something else is in
 *	its place, -ENAMETOOLONG past PATH_MAX, or the -errno of mkdir or stat.
 *	An existing directory keeps its mode.
 *
 *	dir_sync() fsyncs a directory, so that the entries created, renamed or
 *	removed in it survive a crash; dir_sync_parent() does it for the
 *	directory that holds path ("." for a name without a slash). Both
 *	return 0 or the -errno of open or fsync.
 */
#ifndef TERN_BASE_DIR_H
#define TERN_BASE_DIR_H

#include <sys/types.h>

int dir_make(const char *path, mode_t mode);
int dir_sync(const char *dir);
int dir_sync_parent(const char *path);

#endif
