/*
 * NAME
 *	policy_table - lookup tables named "type:name", as Postfix names them
 * SYNOPSIS
 *	#include "policy/policy_table.h"
 *
 *	int policy_table_open(struct policy_table **out, const char *spec, char **err);
 *	int policy_table_lookup(const struct policy_table *t, const char *key, const char **value);
 *	int policy_table_walk(const struct policy_table *t, policy_table_walk_fn *fn, void *ctx);
 *	void policy_table_close(struct policy_table *t);
 * DESCRIPTION
 *	The front end: the registry of table types below, one line per type
 *	name, and the dispatch to each type's backend (policy_table_TYPE.c,
 *	the function table in policy_table_impl.h). A new type is one new
 *	backend file and one line here. What each type reads and how it looks
 *	up is in its backend's header comment.
 * DIAGNOSTICS
 *	open: 0, or -errno with *err (malloc'd) naming the table and the file;
 *	-ENOENT for a missing file, -EINVAL for a spec without a known type.
 *	lookup: 1 found, 0 not found, -errno on a table error.
 */
#include "policy/policy_table.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/error.h"
#include "policy/policy_table_impl.h"

/* the table types, by the name before the colon; the order is that of the error message */
static const struct {
    const char *name;
    const struct policy_table_type *type;
} registry[] = {
    {"texthash", &policy_table_texthash}, {"inline", &policy_table_inline},
    {"static", &policy_table_static},     {"cidr", &policy_table_cidr},
    {"lmdb", &policy_table_lmdb},         {"hash", &policy_table_lmdb},
    {"btree", &policy_table_lmdb},
};
#define NTYPES (sizeof(registry) / sizeof(registry[0]))

/* split_spec - "type:name" -> type length and name; -EINVAL when there is no type */
static int split_spec(const char *spec, size_t *typelen, const char **name)
{
    const char *colon = strchr(spec, ':');
    if (colon == NULL || colon == spec)
        return -EINVAL;
    for (const char *p = spec; p < colon; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            return -EINVAL;
    *typelen = (size_t)(colon - spec);
    *name = colon + 1;
    return 0;
}

/* type_find - the backend of the type part of a spec, or NULL */
static const struct policy_table_type *type_find(const char *spec, size_t typelen)
{
    for (size_t i = 0; i < NTYPES; i++)
        if (strlen(registry[i].name) == typelen && strncmp(spec, registry[i].name, typelen) == 0)
            return registry[i].type;
    return NULL;
}

/* unsupported - the error for an unknown type, listing the known ones */
static void unsupported(const char *spec, size_t typelen, char **err)
{
    char names[128] = "";
    size_t len = 0;
    for (size_t i = 0; i < NTYPES && len < sizeof(names); i++)
        len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s", i ? ", " : "",
                                registry[i].name);
    error_set(err, "%s: unsupported table type \"%.*s\" (%s)", spec, (int)typelen, spec, names);
}

/* name_error - make *err start with the table's spec, as every open error does */
static void name_error(const char *spec, int rc, char **err)
{
    if (err == NULL)
        return;
    if (*err == NULL) {
        error_set(err, "%s: %s", spec, rc == -ENOMEM ? "out of memory" : strerror(-rc));
    } else if (strncmp(*err, spec, strlen(spec)) != 0) {
        char *inner = *err;
        *err = NULL;
        error_set(err, "%s: %s", spec, inner);
        free(inner);
    }
}

/* policy_table_open - open a table named "type:name" */
int policy_table_open(struct policy_table **out, const char *spec, char **err)
{
    const struct policy_table_type *type;
    struct policy_table *t;
    const char *name;
    size_t typelen;

    *out = NULL;
    if (err)
        *err = NULL;
    if (spec == NULL || split_spec(spec, &typelen, &name) < 0) {
        error_set(err, "\"%s\": table name needs a type, e.g. lmdb:%s", spec ? spec : "",
                  spec ? spec : "/etc/tern/file");
        return -EINVAL;
    }
    if ((type = type_find(spec, typelen)) == NULL) {
        unsupported(spec, typelen, err);
        return -EINVAL;
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL || (t->spec = strdup(spec)) == NULL) {
        free(t);
        error_set(err, "%s: out of memory", spec);
        return -ENOMEM;
    }
    t->type = type;
    int rc = type->open(t, name, err);
    if (rc < 0) {
        name_error(spec, rc, err);
        policy_table_close(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* policy_table_lookup - 1 found (*value set), 0 not found, -errno on error */
int policy_table_lookup(const struct policy_table *t, const char *key, const char **value)
{
    if (t == NULL || key == NULL)
        return -EINVAL;
    return t->type->lookup(t, key, value);
}

/* policy_table_walk - every entry, for start-up checks; fn returns non-zero to stop */
int policy_table_walk(const struct policy_table *t, policy_table_walk_fn *fn, void *ctx)
{
    if (t == NULL || fn == NULL)
        return -EINVAL;
    return t->type->walk(t, fn, ctx);
}

/* policy_table_close - release a table; NULL is fine */
void policy_table_close(struct policy_table *t)
{
    if (t == NULL)
        return;
    t->type->close(t);
    free(t->spec);
    free(t);
}
