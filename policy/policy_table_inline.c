/*
 * NAME
 *	policy_table_inline - the inline: table type
 * DESCRIPTION
 *	inline:{ key=value, { key = value with blanks } } as Postfix writes it
 *	in main.cf: items separated by commas or blanks, an item with blanks
 *	in braces. The pairs go into a sorted list (policy_table_kv.h), looked
 *	up by bsearch() from any thread without a lock. A duplicate key is
 *	logged and the first kept; a malformed item fails the open, naming
 *	the table. Memory is bounded by the parameter's text.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/error.h"
#include "policy/policy_table_impl.h"
#include "policy/policy_table_text.h"

struct inline_parse {
    const char *spec;
    struct policy_table_kv *l;
};

/* inline_item - one "key=value" of the list */
static int inline_item(void *ctx, char *item, bool braced, char **err)
{
    struct inline_parse *ip = ctx;
    if (!braced && (strchr(item, '{') || strchr(item, '}'))) {
        error_set(err, "%s: unbalanced '{' or '}' in \"%s\"", ip->spec, item);
        return -EINVAL;
    }
    char *eq = strchr(item, '=');
    if (eq == NULL) {
        error_set(err, "%s: missing '=' after \"%s\"", ip->spec, item);
        return -EINVAL;
    }
    *eq = 0;
    char *key = policy_table_text_trim(item);
    char *value = policy_table_text_trim(eq + 1);
    if (*key == 0) {
        error_set(err, "%s: empty key before \"=%s\"", ip->spec, value);
        return -EINVAL;
    }
    if (policy_table_kv_add(ip->l, key, strlen(key), value) < 0) {
        error_set(err, "%s: out of memory", ip->spec);
        return -ENOMEM;
    }
    return 0;
}

/* inline_open - parse the pairs into a sorted list */
static int inline_open(struct policy_table *t, const char *name, char **err)
{
    struct policy_table_kv *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return -ENOMEM;
    t->impl = l;
    struct inline_parse ip = {t->spec, l};
    int rc = policy_table_text_list(t->spec, name, "inline:{ key=value, ... }", " \t,\r\n",
                                    inline_item, &ip, err);
    if (rc < 0)
        return rc;
    policy_table_kv_sort(l, t->spec);
    return 0;
}

const struct policy_table_type policy_table_inline = {
    .open = inline_open,
    .lookup = policy_table_kv_lookup,
    .walk = policy_table_kv_walk,
    .close = policy_table_kv_close,
};
