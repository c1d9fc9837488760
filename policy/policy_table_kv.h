/*
 * NAME
 *	policy_table_kv - key/value pairs of a table source, sorted for bsearch
 * SYNOPSIS
 *	#include "policy/policy_table_kv.h"
 *
 *	struct policy_table_kv l = {0};
 *	policy_table_kv_add(&l, key, keylen, value);  // copies; key lowercased
 *	policy_table_kv_sort(&l, "texthash:/etc/tern/x");
 *	const struct policy_table_kv_entry *e = policy_table_kv_find(&l, "Example.COM");
 *	policy_table_kv_free(&l);
 * DESCRIPTION
 *	The in-memory form of a postmap-style source: texthash: and inline:
 *	tables look up in it, cidr: reads its lines through it, and ternmap's
 *	compiler writes it into LMDB. Entries are kept in the order added
 *	until policy_table_kv_sort() orders them by key and drops every later
 *	duplicate (logged against `what`, the first one kept, as postmap does).
 *	policy_table_kv_find() matches any case against the lowercased keys.
 *	The list owns its copies; it grows by doubling, bounded by its source.
 * DIAGNOSTICS
 *	policy_table_kv_add: 0 or -ENOMEM (the list is unchanged).
 *	policy_table_kv_find: the entry or NULL.
 */
#ifndef TERN_POLICY_TABLE_KV_H
#define TERN_POLICY_TABLE_KV_H

#include <stddef.h>

struct policy_table_kv_entry {
    char *key; /* lowercased */
    char *value;
    size_t order; /* position in the source, so that the first duplicate wins */
};

struct policy_table_kv {
    struct policy_table_kv_entry *v;
    size_t n;
    size_t cap;
};

int policy_table_kv_add(struct policy_table_kv *l, const char *key, size_t keylen,
                        const char *value);
void policy_table_kv_sort(struct policy_table_kv *l, const char *what);
const struct policy_table_kv_entry *policy_table_kv_find(const struct policy_table_kv *l,
                                                         const char *key);
void policy_table_kv_free(struct policy_table_kv *l);
/* policy_table_kv_lower - ASCII-lowercase s in place (how every table stores and looks up keys) */
void policy_table_kv_lower(char *s);

#endif
