/*
 * NAME
 *	policy_table_static - the static: table type
 * DESCRIPTION
 *	static:VALUE finds VALUE for every key; static:{ value with blanks }
 *	keeps the text inside the braces. A walk reports one entry, key "*".
 *	The table owns one copy of the value.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/error.h"
#include "policy/policy_table_impl.h"
#include "policy/policy_table_text.h"

/* static_open - keep a copy of the value, braces removed */
static int static_open(struct policy_table *t, const char *name, char **err)
{
    char *copy = strdup(name);
    if (copy == NULL)
        return -ENOMEM;
    char *v = policy_table_text_trim(copy);
    if (*v == '{' && (v = policy_table_text_unbrace(v)) == NULL) {
        free(copy);
        error_set(err, "%s: unbalanced '{'", t->spec);
        return -EINVAL;
    }
    t->impl = strdup(v);
    free(copy);
    return t->impl ? 0 : -ENOMEM;
}

/* static_lookup - every key finds the value */
static int static_lookup(const struct policy_table *t, const char *key, const char **value)
{
    *value = t->impl;
    return 1;
}

/* static_walk - one entry, key "*" */
static int static_walk(const struct policy_table *t, policy_table_walk_fn *fn, void *ctx)
{
    fn(ctx, "*", t->impl);
    return 0;
}

/* static_close - free the value */
static void static_close(struct policy_table *t)
{
    free(t->impl);
}

const struct policy_table_type policy_table_static = {
    .open = static_open,
    .lookup = static_lookup,
    .walk = static_walk,
    .close = static_close,
};
