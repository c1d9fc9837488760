/*
 * NAME
 *	policy_table_texthash - the texthash: table type
 * DESCRIPTION
 *	texthash:FILE reads FILE, in the postmap text format
 *	(policy_table_text.h), into a sorted list in memory at open
 *	(policy_table_kv.h): no file access after that, lookups by bsearch()
 *	from any thread without a lock. A duplicate key is logged and the
 *	first entry kept; a line without a value is logged and skipped.
 *	Memory is bounded by the file; SIGHUP rereads it.
 */
#include <errno.h>
#include <stdlib.h>

#include "policy/policy_table_impl.h"
#include "policy/policy_table_text.h"

/* texthash_open - read FILE into a sorted list */
static int texthash_open(struct policy_table *t, const char *name, char **err)
{
    struct policy_table_kv *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return -ENOMEM;
    t->impl = l;
    int rc = policy_table_text_read(name, l, false, err);
    if (rc < 0)
        return rc;
    policy_table_kv_sort(l, t->spec);
    return 0;
}

const struct policy_table_type policy_table_texthash = {
    .open = texthash_open,
    .lookup = policy_table_kv_lookup,
    .walk = policy_table_kv_walk,
    .close = policy_table_kv_close,
};
