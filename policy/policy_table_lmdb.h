/*
 * NAME
 *	policy_table_lmdb - what the lmdb: table reader shares with ternmap's compiler
 * SYNOPSIS
 *	char *path = policy_table_lmdb_path("/etc/tern/transport");  // malloc'd ".lmdb" name
 *	int rc = policy_table_lmdb_errno(mdb_rc);                    // -errno
 * DESCRIPTION
 *	The file name convention (FILE -> FILE.lmdb) and the mapping of LMDB's
 *	return codes to -errno, so that the reader (policy_table_lmdb.c) and
 *	the writer (core/ternmap_compile.c) agree. The table type itself is
 *	reached through policy_table_open("lmdb:FILE").
 * DIAGNOSTICS
 *	policy_table_lmdb_path: NULL on ENOMEM. policy_table_lmdb_errno:
 *	MDB_MAP_FULL -ENOSPC, MDB_READERS_FULL -EAGAIN, a damaged or foreign
 *	file -EILSEQ, another LMDB code -EIO, a system error -errno.
 */
#ifndef TERN_POLICY_TABLE_LMDB_H
#define TERN_POLICY_TABLE_LMDB_H

char *policy_table_lmdb_path(const char *file);
int policy_table_lmdb_errno(int rc);

#endif
