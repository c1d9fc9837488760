/*
 * NAME
 *	policy_table - lookup tables: texthash:, inline:, static:, cidr:, lmdb:/hash:/btree:
 * SYNOPSIS
 *	struct policy_table *t;
 *	policy_table_open(&t, "texthash:/etc/tern/transport", &err);
 *	const char *v; int rc = policy_table_lookup(t, "example.com", &v);
 * DESCRIPTION
 *	Opens a table named as Postfix names them, "type:name":
 *	  texthash:FILE  - "key value" lines read into memory (comments, continuation lines)
 *	  inline:{ k=v, { k = v with spaces } }
 *	  static:VALUE   - every key finds VALUE
 *	  cidr:FILE, cidr:{ { pattern result }, ... } - Postfix's cidr_table(5):
 *	    "network/prefix result" or "address result" lines (IPv4, IPv6,
 *	    optionally in []), "!pattern result" (matches when the address is
 *	    NOT in the network), "if [!]pattern" ... "endif" blocks (nesting).
 *	    Rules are tried in file order, the first match wins; a pattern only
 *	    ever matches keys of its own address family (::ffff:a.b.c.d keys also
 *	    count as a.b.c.d). Keys are addresses; any other key is "not found".
 *	    Bad lines (bad address, host bits set beyond the prefix, no result)
 *	    are logged and skipped as Postfix does; a bad "if" skips its block.
 *	  lmdb:FILE, hash:FILE, btree:FILE - the LMDB file FILE.lmdb that
 *	    `ternmap` compiles from FILE (all three names read the same format)
 *	Each type is a backend of its own, policy_table_TYPE.c, behind one
 *	function table (policy_table_impl.h); a new type is one new file and
 *	one line in policy_table.c's registry.
 *	Keys are matched case-insensitively (lowercased), as Postfix's tables do
 *	for addresses and domains. Lookups are pure: no I/O after open except
 *	LMDB's memory-mapped reads, safe from any thread.
 *
 *	The returned value stays valid until policy_table_close().
 *	FILE.lmdb is opened read-only without a lock file (MDB_NOLOCK): tables
 *	must be rebuilt by ternmap (temp file + rename, core/ternmap_compile.c),
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

/* fn(ctx, key, value) of policy_table_walk: non-zero stops the walk */
typedef int policy_table_walk_fn(void *ctx, const char *key, const char *value);

int policy_table_open(struct policy_table **out, const char *spec, char **err);
int policy_table_lookup(const struct policy_table *t, const char *key, const char **value);
void policy_table_close(struct policy_table *t);
/* policy_table_walk - call fn(ctx, key, value) for every entry (start-up checks, e.g. refusing
 * "dane" in smtp_tls_policy_maps); order: sorted keys, cidr rules in file order (patterns as
 * keys), static: one call with key "*". fn returns non-zero to stop. 0 or -errno. */
int policy_table_walk(const struct policy_table *t, policy_table_walk_fn *fn, void *ctx);

#endif
