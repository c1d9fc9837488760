/*
 * NAME
 *	policy_table_kv - key/value pairs of a table source, sorted for bsearch
 * DESCRIPTION
 *	See policy_table_kv.h. As a table (texthash:, inline:) the sorted list
 *	is never written after open, so lookups from any thread need no lock.
 */
#include "policy/policy_table_kv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "policy/policy_table_impl.h"

/* policy_table_kv_lower - ASCII-lowercase s in place */
void policy_table_kv_lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

/* policy_table_kv_add - append copies of key (lowercased) and value */
int policy_table_kv_add(struct policy_table_kv *l, const char *key, size_t keylen,
                        const char *value)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct policy_table_kv_entry *v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL)
            return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    struct policy_table_kv_entry *e = &l->v[l->n];
    e->key = strndup(key, keylen);
    e->value = strdup(value);
    if (e->key == NULL || e->value == NULL) {
        free(e->key);
        free(e->value);
        return -ENOMEM;
    }
    policy_table_kv_lower(e->key);
    e->order = l->n;
    l->n++;
    return 0;
}

/* policy_table_kv_free - release all entries */
void policy_table_kv_free(struct policy_table_kv *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].key);
        free(l->v[i].value);
    }
    free(l->v);
    memset(l, 0, sizeof(*l));
}

/* entry_cmp - qsort order: key, then source position */
static int entry_cmp(const void *a, const void *b)
{
    const struct policy_table_kv_entry *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* policy_table_kv_sort - sort by key and drop later duplicates (logged against `what`) */
void policy_table_kv_sort(struct policy_table_kv *l, const char *what)
{
    if (l->n == 0)
        return;
    qsort(l->v, l->n, sizeof(*l->v), entry_cmp);
    size_t out = 1;
    for (size_t i = 1; i < l->n; i++) {
        if (strcmp(l->v[i].key, l->v[out - 1].key) == 0) {
            log_warn("policy", "%s: duplicate entry: \"%s\" (first one kept)", what, l->v[i].key);
            free(l->v[i].key);
            free(l->v[i].value);
            continue;
        }
        l->v[out++] = l->v[i];
    }
    l->n = out;
}

/* key_find - bsearch comparator: lookup key (any case) against a stored lowercase key */
static int key_find(const void *keyp, const void *elem)
{
    const unsigned char *a = keyp;
    const unsigned char *b =
        (const unsigned char *)((const struct policy_table_kv_entry *)elem)->key;
    for (;; a++, b++) {
        unsigned char ca = (*a >= 'A' && *a <= 'Z') ? (unsigned char)(*a - 'A' + 'a') : *a;
        if (ca != *b)
            return ca < *b ? -1 : 1;
        if (ca == 0)
            return 0;
    }
}

/* policy_table_kv_find - the entry of key (any case), or NULL */
const struct policy_table_kv_entry *policy_table_kv_find(const struct policy_table_kv *l,
                                                         const char *key)
{
    if (l->n == 0)
        return NULL;
    return bsearch(key, l->v, l->n, sizeof(*l->v), key_find);
}

/* policy_table_kv_lookup - lookup of a table whose impl is a sorted list */
int policy_table_kv_lookup(const struct policy_table *t, const char *key, const char **value)
{
    const struct policy_table_kv_entry *e = policy_table_kv_find(t->impl, key);
    if (e == NULL)
        return 0;
    *value = e->value;
    return 1;
}

/* policy_table_kv_walk - every entry, in key order */
int policy_table_kv_walk(const struct policy_table *t, policy_table_walk_fn *fn, void *ctx)
{
    const struct policy_table_kv *l = t->impl;
    for (size_t i = 0; i < l->n; i++)
        if (fn(ctx, l->v[i].key, l->v[i].value) != 0)
            break;
    return 0;
}

/* policy_table_kv_close - free the list a table owns */
void policy_table_kv_close(struct policy_table *t)
{
    if (t->impl == NULL)
        return;
    policy_table_kv_free(t->impl);
    free(t->impl);
}
