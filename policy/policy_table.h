/*
 * NAME
 *	policy_table - lookup tables: texthash:, inline:, static:, lmdb:/hash:/btree:
 * SYNOPSIS
 *	struct policy_table *t;
 *	policy_table_open(&t, "texthash:/etc/tern/transport", &err);
 *	const char *v; int rc = policy_table_lookup(t, "example.com", &v);
 * DESCRIPTION
 *	Opens a table named as Postfix names them, "type:name":
 *	  texthash:FILE  - "key value" lines read into memory (comments, continuation lines)
 *	  inline:{ k=v, { k = v with spaces } }
 *	  static:VALUE   - every key finds VALUE
 *	  lmdb:FILE, hash:FILE, btree:FILE - the LMDB file FILE.lmdb that
 *	    `ternmap` compiles from FILE (all three names read the same format)
 *	Keys are matched case-insensitively (lowercased), as Postfix's tables do
 *	for addresses and domains. Lookups are pure: no I/O after open except
 *	LMDB's memory-mapped reads, safe from any thread.
 *
 *	The returned value stays valid until policy_table_close().
 *	FILE.lmdb is opened read-only without a lock file (MDB_NOLOCK): tables
 *	must be rebuilt by policy_table_compile/ternmap (temp file + rename),
 *	never updated in place while open. An open table keeps its view of the
 *	file until it is closed and reopened (SIGHUP).
 * DIAGNOSTICS
 *	open: 0, or -errno with *err (malloc'd) naming the table;
 *	lookup: 1 found, 0 not found, -errno on a table error (the caller must
 *	turn that into a 4xx, never a silent permit).
 */
#ifndef TERN_POLICY_TABLE_H
#define TERN_POLICY_TABLE_H

struct policy_table;

int policy_table_open(struct policy_table **out, const char *spec, char **err);
int policy_table_lookup(const struct policy_table *t, const char *key, const char **value);
void policy_table_close(struct policy_table *t);
/* policy_table_compile - ternmap: build FILE.lmdb from text FILE atomically (write temp, rename) */
int policy_table_compile(const char *spec, char **err);

#endif
