/*
 * NAME
 *	policy_table_impl - what the table front end and its backends share
 * DESCRIPTION
 *	A table type is one backend file, policy_table_TYPE.c, that defines one
 *	struct policy_table_type, and one line in policy_table.c's registry
 *	that gives it its name (lmdb:, hash: and btree: are three names of one
 *	backend). policy_table_open() splits "type:name", finds the type,
 *	allocates the struct policy_table and calls open(t, name, err), which
 *	sets t->impl; the front end prefixes an error with the table's spec
 *	unless the backend already did, and calls close(t) on failure too, so
 *	close must accept what a failed open left (impl NULL or partial).
 *
 *	lookup and walk must be safe from any thread at once: a backend's impl
 *	is read-only after open, or guards what it changes (the LMDB value
 *	pool). A value handed out stays valid until close.
 */
#ifndef TERN_POLICY_TABLE_IMPL_H
#define TERN_POLICY_TABLE_IMPL_H

#include "policy/policy_table.h"

struct policy_table_type {
    int (*open)(struct policy_table *t, const char *name, char **err);
    int (*lookup)(const struct policy_table *t, const char *key, const char **value);
    int (*walk)(const struct policy_table *t, policy_table_walk_fn *fn, void *ctx);
    void (*close)(struct policy_table *t);
};

struct policy_table {
    const struct policy_table_type *type;
    char *spec; /* "type:name" as configured: every message names it */
    void *impl; /* the backend's own */
};

/* the backends (policy_table_TYPE.c) */
extern const struct policy_table_type policy_table_texthash;
extern const struct policy_table_type policy_table_inline;
extern const struct policy_table_type policy_table_static;
extern const struct policy_table_type policy_table_cidr;
extern const struct policy_table_type policy_table_lmdb;

/* lookup, walk and close of a table whose impl is a sorted struct policy_table_kv
 * (texthash:, inline:; policy_table_kv.c) */
int policy_table_kv_lookup(const struct policy_table *t, const char *key, const char **value);
int policy_table_kv_walk(const struct policy_table *t, policy_table_walk_fn *fn, void *ctx);
void policy_table_kv_close(struct policy_table *t);

#endif
