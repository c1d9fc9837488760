/*
 * NAME
 *	policy_table - lookup tables: texthash:, inline:, static:, lmdb:/hash:/btree:
 * SYNOPSIS
 *	#include "policy/policy_table.h"
 *
 *	int policy_table_open(struct policy_table **out, const char *spec, char **err);
 *	int policy_table_lookup(const struct policy_table *t, const char *key, const char **value);
 *	void policy_table_close(struct policy_table *t);
 *	int policy_table_compile(const char *spec, char **err);
 * DESCRIPTION
 *	Text source format (texthash: and the input of policy_table_compile),
 *	as Postfix's postmap reads it:
 *
 *	  # comment                  (first non-blank character is '#')
 *	  key    value text          (key ends at the first blank)
 *	      more value text        (a line starting with a blank continues
 *	                              the previous logical line)
 *
 *	Keys are lowercased; values are kept as written, trimmed, continuation
 *	lines joined with one space. A duplicate key is logged and the first
 *	entry kept (postmap's default). A line without a value is logged and
 *	skipped.
 *
 *	texthash: and inline: tables live in memory as a sorted array searched
 *	with bsearch(); nothing is written after open, so lookups need no lock.
 *
 *	lmdb:/hash:/btree:FILE open FILE.lmdb (MDB_NOSUBDIR) read-only and keep
 *	the environment open; any thread may look up, each lookup runs in its
 *	own read transaction. policy_table_compile() never writes FILE.lmdb in
 *	place: it builds FILE.lmdb.tmpXXXXXX without a lock file, syncs it and
 *	rename()s it over FILE.lmdb, so a reader sees the old table or the new
 *	one, never a mix. An environment opened before the rename keeps reading
 *	the old file until it is reopened (SIGHUP). Because every file is
 *	immutable once visible, readers use MDB_NOLOCK (see open_lmdb for why
 *	a lock file would be harmful). Consequence: rebuild tables with ternmap
 *	(or anything that renames), not with a tool that updates FILE.lmdb in
 *	place while the daemon runs. Keys are stored without a terminating
 *	NUL; lookups also try key+NUL so that tables built by Postfix's postmap
 *	read too.
 *
 *	A value found in an LMDB table is copied into a per-table pool of
 *	distinct values (one short mutex) because the contract promises that
 *	it stays valid until policy_table_close(), longer than the read
 *	transaction that found it. The pool is bounded by the table's distinct
 *	values.
 * DIAGNOSTICS
 *	open and compile: 0, or -errno with *err (malloc'd) naming the table and
 *	the file; -ENOENT for a missing file. lookup: 1 found, 0 not found,
 *	-errno on a table error.
 */
#include "policy/policy_table.h"

#include "core/base/hash.h"
#include "core/base/log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/base/error.h"
#include "policy/policy_cidr.h"

enum table_kind { TABLE_MEMORY, TABLE_STATIC, TABLE_LMDB, TABLE_CIDR };

enum cidr_op { CIDR_MATCH, CIDR_IF, CIDR_ENDIF };

struct cidr_rule {
    enum cidr_op op;
    struct policy_net net;
    bool negate;
    size_t block_end; /* CIDR_IF: index of the matching endif (n when missing) */
    char *pattern;    /* as written, for policy_table_walk */
    char *value;      /* CIDR_MATCH */
};

struct kv {
    char *key;
    char *value;
    size_t order; /* position in the source, so that the first duplicate wins */
};

struct kvlist {
    struct kv *v;
    size_t n;
    size_t cap;
};

struct value_pool {
    char **slot; /* open addressing, NULL = empty */
    size_t cap;  /* power of two */
    size_t n;
};

struct policy_table {
    enum table_kind kind;
    char *spec;
    struct kvlist kv;       /* TABLE_MEMORY: sorted by key */
    char *static_value;     /* TABLE_STATIC */
    struct cidr_rule *cidr; /* TABLE_CIDR, in file order */
    size_t ncidr;
    MDB_env *env; /* TABLE_LMDB */
    MDB_dbi dbi;
    pthread_mutex_t pool_lock;
    struct value_pool pool;
};

/* lmdb_errno - an LMDB return code as -errno */
static int lmdb_errno(int rc)
{
    if (rc > 0)
        return -rc;
    switch (rc) {
    case MDB_MAP_FULL:
        return -ENOSPC;
    case MDB_READERS_FULL:
        return -EAGAIN;
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_CORRUPTED:
        return -EILSEQ;
    default:
        return -EIO;
    }
}

/* lowercase - ASCII-lowercase s in place */
static void lowercase(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

/* trim - strip leading and trailing blanks in place, return the new start */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

/* kvlist_add - append copies of key (lowercased) and value */
static int kvlist_add(struct kvlist *l, const char *key, size_t keylen, const char *value)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct kv *v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL)
            return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    struct kv *e = &l->v[l->n];
    e->key = strndup(key, keylen);
    e->value = strdup(value);
    if (e->key == NULL || e->value == NULL) {
        free(e->key);
        free(e->value);
        return -ENOMEM;
    }
    lowercase(e->key);
    e->order = l->n;
    l->n++;
    return 0;
}

/* kvlist_free - release all entries */
static void kvlist_free(struct kvlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].key);
        free(l->v[i].value);
    }
    free(l->v);
    memset(l, 0, sizeof(*l));
}

/* kv_cmp - qsort order: key, then source position */
static int kv_cmp(const void *a, const void *b)
{
    const struct kv *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* kvlist_sort - sort by key and drop later duplicates (logged against `what`) */
static void kvlist_sort(struct kvlist *l, const char *what)
{
    if (l->n == 0)
        return;
    qsort(l->v, l->n, sizeof(*l->v), kv_cmp);
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

/* add_logical_line - split "key value" and add it; warn about a missing value unless allowed */
static int add_logical_line(struct kvlist *l, char *line, const char *path, int lineno,
                            bool allow_empty)
{
    char *p = line;
    size_t keylen = strcspn(p, " \t");
    char *value = trim(p + keylen);
    if (*value == 0 && !allow_empty) {
        log_warn("policy", "%s, line %d: expected format: key whitespace value", path, lineno);
        return 0;
    }
    return kvlist_add(l, p, keylen, value);
}

/* read_text_table - parse a postmap-style text file into l (unsorted, in file order);
 * allow_empty keeps lines without a value (value "") for pattern tables */
static int read_text_table(const char *path, struct kvlist *l, bool allow_empty, char **err)
{
    FILE *fp = fopen(path, "r");
    char *line = NULL, *logical = NULL;
    size_t linecap = 0, loglen = 0, logcap = 0;
    int lineno = 0, logline = 0, rc = 0;
    ssize_t got;

    if (fp == NULL) {
        rc = -errno;
        error_set(err, "open %s: %s", path, strerror(errno));
        return rc;
    }
    while ((got = getline(&line, &linecap, fp)) >= 0) {
        lineno++;
        if (memchr(line, 0, (size_t)got) != NULL) {
            error_set(err, "%s, line %d: NUL character in table source", path, lineno);
            rc = -EINVAL;
            goto fail;
        }
        char *t = trim(line);
        if (*t == 0 || *t == '#')
            continue;
        bool cont = (line[0] == ' ' || line[0] == '\t');
        if (cont && logical == NULL) {
            log_warn("policy", "%s, line %d: continuation line without a key: ignored", path,
                     lineno);
            continue;
        }
        if (!cont && logical != NULL) {
            rc = add_logical_line(l, logical, path, logline, allow_empty);
            if (rc < 0)
                goto nomem;
            free(logical);
            logical = NULL;
            loglen = logcap = 0;
        }
        size_t tl = strlen(t);
        size_t need = loglen + tl + 2;
        if (need > logcap) {
            char *n = realloc(logical, need * 2);
            if (n == NULL) {
                rc = -ENOMEM;
                goto nomem;
            }
            logical = n;
            logcap = need * 2;
        }
        if (cont)
            logical[loglen++] = ' ';
        else
            logline = lineno;
        memcpy(logical + loglen, t, tl + 1);
        loglen += tl;
    }
    if (ferror(fp)) {
        rc = -EIO;
        error_set(err, "read %s: %s", path, strerror(errno));
        goto fail;
    }
    if (logical != NULL) {
        rc = add_logical_line(l, logical, path, logline, allow_empty);
        if (rc < 0)
            goto nomem;
    }
    free(logical);
    free(line);
    fclose(fp);
    return 0;

nomem:
    error_set(err, "%s: out of memory", path);
fail:
    free(logical);
    free(line);
    fclose(fp);
    kvlist_free(l);
    return rc;
}

/* strip_braces - "{ text }" -> "text" in place; NULL when the braces do not balance */
static char *strip_braces(char *s)
{
    s = trim(s);
    size_t n = strlen(s);
    if (n < 2 || s[0] != '{' || s[n - 1] != '}')
        return NULL;
    s[n - 1] = 0;
    return trim(s + 1);
}

/* parse_inline - "{ k=v, { k = v w } }" into l */
static int parse_inline(const char *spec, const char *body, struct kvlist *l, char **err)
{
    char *copy = strdup(body);
    int rc = -EINVAL;

    if (copy == NULL) {
        error_set(err, "%s: out of memory", spec);
        return -ENOMEM;
    }
    char *p = strip_braces(copy);
    if (p == NULL) {
        error_set(err, "%s: expected inline:{ key=value, ... }", spec);
        goto fail;
    }
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',' || *p == '\r' || *p == '\n')
            p++;
        if (*p == 0)
            break;
        char *item, *next;
        if (*p == '{') {
            char *close = strchr(p, '}');
            if (close == NULL) {
                error_set(err, "%s: missing '}'", spec);
                goto fail;
            }
            *close = 0;
            item = trim(p + 1);
            next = close + 1;
        } else {
            size_t len = strcspn(p, " \t,\r\n");
            if (strchr("{}", p[len]) && p[len]) {
                error_set(err, "%s: unexpected brace", spec);
                goto fail;
            }
            item = p;
            next = p + len;
            if (*next)
                *next++ = 0;
            if (strchr(item, '{') || strchr(item, '}')) {
                error_set(err, "%s: unbalanced '{' or '}' in \"%s\"", spec, item);
                goto fail;
            }
        }
        char *eq = strchr(item, '=');
        if (eq == NULL) {
            error_set(err, "%s: missing '=' after \"%s\"", spec, item);
            goto fail;
        }
        *eq = 0;
        char *key = trim(item);
        char *value = trim(eq + 1);
        if (*key == 0) {
            error_set(err, "%s: empty key before \"=%s\"", spec, value);
            goto fail;
        }
        if (kvlist_add(l, key, strlen(key), value) < 0) {
            error_set(err, "%s: out of memory", spec);
            rc = -ENOMEM;
            goto fail;
        }
        p = next;
    }
    free(copy);
    return 0;

fail:
    free(copy);
    kvlist_free(l);
    return rc;
}

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

/* type_is - compare the type part of a spec */
static bool type_is(const char *spec, size_t typelen, const char *type)
{
    return strlen(type) == typelen && strncmp(spec, type, typelen) == 0;
}

/* lmdb_path - FILE -> malloc'd "FILE.lmdb" */
static char *lmdb_path(const char *file)
{
    char *p = NULL;
    if (asprintf(&p, "%s.lmdb", file) < 0)
        return NULL;
    return p;
}

/* open_lmdb - open FILE.lmdb read-only for lookups from any thread */
static int open_lmdb(struct policy_table *t, const char *file, char **err)
{
    char *path = lmdb_path(file);
    MDB_txn *txn = NULL;
    struct stat st;
    int rc;

    if (path == NULL) {
        error_set(err, "%s: out of memory", t->spec);
        return -ENOMEM;
    }
    if (*file == 0) {
        error_set(err, "%s: missing file name", t->spec);
        rc = -EINVAL;
        goto fail;
    }
    if (stat(path, &st) < 0) {
        rc = -errno;
        error_set(err, "%s: open %s: %s", t->spec, path, strerror(errno));
        goto fail;
    }
    /*
     * MDB_NOLOCK, deliberately. tern never writes FILE.lmdb in place (see
     * policy_table_compile): every file a reader maps is immutable, so no
     * reader table is needed. A lock file would be wrong here twice over:
     * LMDB forbids two environments on one lock file in one process (the
     * second resets the first's mutexes: a SIGHUP reload or two parameters
     * naming one table would crash), and a lock file that outlives a
     * rename() carries the old file's txnid, from which a reader picks the
     * meta page of the new file. Without a lock LMDB picks the newest meta
     * page of the file itself.
     */
    rc = mdb_env_create(&t->env);
    if (rc == 0)
        rc = mdb_env_open(t->env, path, MDB_NOSUBDIR | MDB_RDONLY | MDB_NOTLS | MDB_NOLOCK, 0644);
    if (rc != 0) {
        error_set(err, "%s: open %s: %s", t->spec, path, mdb_strerror(rc));
        rc = lmdb_errno(rc);
        goto fail;
    }
    rc = mdb_txn_begin(t->env, NULL, MDB_RDONLY, &txn);
    if (rc == 0)
        rc = mdb_dbi_open(txn, NULL, 0, &t->dbi);
    if (rc != 0) {
        error_set(err, "%s: open %s: %s", t->spec, path, mdb_strerror(rc));
        rc = lmdb_errno(rc);
        if (txn)
            mdb_txn_abort(txn);
        goto fail;
    }
    mdb_txn_commit(txn);
    free(path);
    return 0;

fail:
    free(path);
    return rc;
}

/* cidr_pattern - "net/prefix", "addr", "[v6]/prefix" into r; NULL or a reason (dict_cidr's) */
static const char *cidr_pattern(const char *text, struct cidr_rule *r)
{
    switch (policy_net_parse(text, &r->net)) {
    case POLICY_NET_OK:
        return NULL;
    case POLICY_NET_ADDRESS:
        return "bad address pattern";
    case POLICY_NET_PREFIX:
        return "bad mask length";
    case POLICY_NET_HOSTBITS:
        return "non-null host address bits: use the network address instead";
    case POLICY_NET_SYNTAX:
        break;
    }
    return "bad net/mask pattern";
}

/* cidr_add_line - one "pattern result", "if pattern" or "endif" line; bad lines are logged
 * and skipped as Postfix's dict_cidr does */
static int cidr_add_line(struct policy_table *t, const char *key, const char *value,
                         const char *where, int lineno, size_t *depth, size_t *stack)
{
    struct cidr_rule r;
    const char *why = NULL;
    const char *pat = key;

    memset(&r, 0, sizeof(r));
    if (strcmp(key, "endif") == 0) {
        if (*value)
            log_warn("policy", "%s, rule %d: ignoring extra text after ENDIF", where, lineno);
        if (*depth == 0) {
            log_warn("policy", "%s, rule %d: ignoring ENDIF without matching IF", where, lineno);
            return 0;
        }
        r.op = CIDR_ENDIF;
    } else {
        if (strcmp(key, "if") == 0) {
            r.op = CIDR_IF;
            pat = value;
            if (*pat == 0) {
                log_warn("policy", "%s, rule %d: no address pattern after IF: skipping this rule",
                         where, lineno);
                return 0;
            }
        } else {
            r.op = CIDR_MATCH;
            if (*value == 0) {
                log_warn("policy", "%s, rule %d: no lookup result: skipping this rule", where,
                         lineno);
                return 0;
            }
        }
        if (*pat == '!') {
            r.negate = true;
            pat++;
        }
        size_t plen = strcspn(pat, " \t");
        char pbuf[INET6_ADDRSTRLEN + 16];
        if (plen >= sizeof(pbuf)) {
            why = "bad net/mask pattern";
        } else {
            memcpy(pbuf, pat, plen);
            pbuf[plen] = 0;
            if (r.op == CIDR_IF && pat[plen] != 0)
                log_warn("policy", "%s, rule %d: ignoring extra text after IF pattern", where,
                         lineno);
            why = cidr_pattern(pbuf, &r);
        }
        if (why) {
            log_warn("policy", "%s, rule %d: %s \"%s\": skipping this %s", where, lineno, why,
                     r.op == CIDR_IF ? value : key, r.op == CIDR_IF ? "IF block" : "rule");
            if (r.op == CIDR_IF) {
                /* Skip the whole block: its rules would otherwise apply unconditionally. */
                r.net.family = -1; /* matches nothing */
            } else {
                return 0;
            }
        }
    }
    struct cidr_rule *v = realloc(t->cidr, (t->ncidr + 1) * sizeof(*v));
    if (v == NULL)
        return -ENOMEM;
    t->cidr = v;
    r.pattern = strdup(r.op == CIDR_MATCH ? key : r.op == CIDR_IF ? value : "endif");
    r.value = strdup(r.op == CIDR_MATCH ? value : "");
    if (r.pattern == NULL || r.value == NULL) {
        free(r.pattern);
        free(r.value);
        return -ENOMEM;
    }
    if (r.op == CIDR_IF) {
        if (*depth >= 64) {
            free(r.pattern);
            free(r.value);
            log_warn("policy", "%s, rule %d: IF nested too deeply", where, lineno);
            return -EINVAL;
        }
        stack[(*depth)++] = t->ncidr;
    } else if (r.op == CIDR_ENDIF) {
        t->cidr[stack[--(*depth)]].block_end = t->ncidr;
    }
    t->cidr[t->ncidr++] = r;
    return 0;
}

/* cidr_build - rules from lines in file order; an IF without ENDIF ends at the table's end */
static int cidr_build(struct policy_table *t, const struct kvlist *l, const char *where)
{
    size_t depth = 0, stack[64];
    for (size_t i = 0; i < l->n; i++) {
        int rc = cidr_add_line(t, l->v[i].key, l->v[i].value, where, (int)(i + 1), &depth, stack);
        if (rc < 0)
            return rc;
    }
    while (depth > 0) {
        log_warn("policy", "%s: IF has no matching ENDIF", where);
        t->cidr[stack[--depth]].block_end = t->ncidr;
    }
    return 0;
}

/* cidr_inline - "{ {rule}, {rule} }" into lines */
static int cidr_inline(const char *spec, const char *body, struct kvlist *l, char **err)
{
    char *copy = strdup(body);
    int rc = -EINVAL;

    if (copy == NULL)
        return -ENOMEM;
    char *p = strip_braces(copy);
    if (p == NULL) {
        error_set(err, "%s: expected cidr:{ { pattern result }, ... }", spec);
        goto fail;
    }
    while (*p) {
        p += strspn(p, " \t\r\n,");
        if (*p == 0)
            break;
        char *item, *next;
        if (*p == '{') {
            char *close = strchr(p, '}');
            if (close == NULL) {
                error_set(err, "%s: missing '}'", spec);
                goto fail;
            }
            *close = 0;
            item = trim(p + 1);
            next = close + 1;
        } else {
            size_t len = strcspn(p, ",");
            item = p;
            next = p + len;
            if (*next)
                *next++ = 0;
            item = trim(item);
        }
        size_t keylen = strcspn(item, " \t");
        if (kvlist_add(l, item, keylen, trim(item + keylen)) < 0) {
            rc = -ENOMEM;
            goto fail;
        }
        p = next;
    }
    free(copy);
    return 0;

fail:
    free(copy);
    kvlist_free(l);
    return rc;
}

/* open_cidr - cidr:FILE or cidr:{ ... } */
static int open_cidr(struct policy_table *t, const char *name, char **err)
{
    struct kvlist l = {0};
    int rc;

    t->kind = TABLE_CIDR;
    if (name[strspn(name, " \t")] == '{')
        rc = cidr_inline(t->spec, name, &l, err);
    else
        rc = read_text_table(name, &l, true, err);
    if (rc < 0) {
        if (err && *err && strncmp(*err, t->spec, strlen(t->spec)) != 0) {
            char *inner = *err;
            *err = NULL;
            error_set(err, "%s: %s", t->spec, inner);
            free(inner);
        } else if (err && *err == NULL) {
            error_set(err, "%s: %s", t->spec, strerror(-rc));
        }
        return rc;
    }
    rc = cidr_build(t, &l, t->spec);
    if (rc < 0)
        error_set(err, "%s: %s", t->spec, rc == -ENOMEM ? "out of memory" : "bad IF/ENDIF");
    kvlist_free(&l);
    return rc;
}

/* cidr_rule_hits - rule pattern (with negation) matches the address; other family: no */
static bool cidr_rule_hits(const struct cidr_rule *r, const struct policy_client_addr *a)
{
    bool comparable =
        (r->net.family == AF_INET && a->have4) || (r->net.family == AF_INET6 && a->have6);
    return comparable && policy_net_contains(&r->net, a) != r->negate;
}

/* lookup_cidr - first matching rule wins; a key that is no address is not found */
static int lookup_cidr(const struct policy_table *t, const char *key, const char **value)
{
    struct policy_client_addr a;
    if (!policy_client_addr_parse(key, &a))
        return 0;
    for (size_t i = 0; i < t->ncidr; i++) {
        const struct cidr_rule *r = &t->cidr[i];
        switch (r->op) {
        case CIDR_MATCH:
            if (cidr_rule_hits(r, &a)) {
                *value = r->value;
                return 1;
            }
            break;
        case CIDR_IF:
            if (!cidr_rule_hits(r, &a))
                i = r->block_end; /* the endif (or the end): the loop steps past it */
            break;
        case CIDR_ENDIF:
            break;
        }
    }
    return 0;
}

/* policy_table_open - open a table named "type:name" */
int policy_table_open(struct policy_table **out, const char *spec, char **err)
{
    struct policy_table *t = NULL;
    const char *name;
    size_t typelen;
    int rc;

    *out = NULL;
    if (err)
        *err = NULL;
    if (spec == NULL || split_spec(spec, &typelen, &name) < 0) {
        error_set(err, "\"%s\": table name needs a type, e.g. lmdb:%s", spec ? spec : "",
                  spec ? spec : "/etc/tern/file");
        return -EINVAL;
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL || (t->spec = strdup(spec)) == NULL) {
        free(t);
        error_set(err, "%s: out of memory", spec);
        return -ENOMEM;
    }
    pthread_mutex_init(&t->pool_lock, NULL);

    if (type_is(spec, typelen, "texthash")) {
        t->kind = TABLE_MEMORY;
        rc = read_text_table(name, &t->kv, false, err);
        if (rc < 0) {
            char *inner = err ? *err : NULL;
            if (err) {
                *err = NULL;
                error_set(err, "%s: %s", spec, inner ? inner : strerror(-rc));
            }
            free(inner);
            goto fail;
        }
        kvlist_sort(&t->kv, spec);
    } else if (type_is(spec, typelen, "inline")) {
        t->kind = TABLE_MEMORY;
        rc = parse_inline(spec, name, &t->kv, err);
        if (rc < 0)
            goto fail;
        kvlist_sort(&t->kv, spec);
    } else if (type_is(spec, typelen, "static")) {
        t->kind = TABLE_STATIC;
        char *copy = strdup(name);
        if (copy == NULL) {
            rc = -ENOMEM;
            error_set(err, "%s: out of memory", spec);
            goto fail;
        }
        char *v = trim(copy);
        if (*v == '{') {
            v = strip_braces(v);
            if (v == NULL) {
                free(copy);
                rc = -EINVAL;
                error_set(err, "%s: unbalanced '{'", spec);
                goto fail;
            }
        }
        t->static_value = strdup(v);
        free(copy);
        if (t->static_value == NULL) {
            rc = -ENOMEM;
            error_set(err, "%s: out of memory", spec);
            goto fail;
        }
    } else if (type_is(spec, typelen, "cidr")) {
        rc = open_cidr(t, name, err);
        if (rc < 0)
            goto fail;
    } else if (type_is(spec, typelen, "lmdb") || type_is(spec, typelen, "hash") ||
               type_is(spec, typelen, "btree")) {
        t->kind = TABLE_LMDB;
        rc = open_lmdb(t, name, err);
        if (rc < 0)
            goto fail;
    } else {
        rc = -EINVAL;
        error_set(err,
                  "%s: unsupported table type \"%.*s\" (texthash, inline, static, cidr, "
                  "lmdb, hash, btree)",
                  spec, (int)typelen, spec);
        goto fail;
    }
    *out = t;
    return 0;

fail:
    policy_table_close(t);
    return rc;
}

/* kv_find - bsearch comparator: lookup key (any case) against a stored lowercase key */
static int kv_find(const void *keyp, const void *elem)
{
    const unsigned char *a = keyp;
    const unsigned char *b = (const unsigned char *)((const struct kv *)elem)->key;
    for (;; a++, b++) {
        unsigned char ca = (*a >= 'A' && *a <= 'Z') ? (unsigned char)(*a - 'A' + 'a') : *a;
        if (ca != *b)
            return ca < *b ? -1 : 1;
        if (ca == 0)
            return 0;
    }
}

/* pool_intern - stable copy of value[0..len) owned by the table; NULL on ENOMEM */
static const char *pool_intern(struct policy_table *t, const char *value, size_t len)
{
    struct value_pool *vp = &t->pool;
    const char *res = NULL;

    pthread_mutex_lock(&t->pool_lock);
    if ((vp->n + 1) * 2 > vp->cap) {
        size_t cap = vp->cap ? vp->cap * 2 : 64;
        char **slot = calloc(cap, sizeof(*slot));
        if (slot == NULL)
            goto out;
        for (size_t i = 0; i < vp->cap; i++) {
            if (vp->slot[i] == NULL)
                continue;
            size_t j = hash_fnv64_str(HASH_FNV64_START, vp->slot[i]) & (cap - 1);
            while (slot[j])
                j = (j + 1) & (cap - 1);
            slot[j] = vp->slot[i];
        }
        free(vp->slot);
        vp->slot = slot;
        vp->cap = cap;
    }
    size_t j = hash_fnv64(HASH_FNV64_START, value, len) & (vp->cap - 1);
    while (vp->slot[j]) {
        if (strlen(vp->slot[j]) == len && memcmp(vp->slot[j], value, len) == 0) {
            res = vp->slot[j];
            goto out;
        }
        j = (j + 1) & (vp->cap - 1);
    }
    char *copy = strndup(value, len);
    if (copy == NULL)
        goto out;
    vp->slot[j] = copy;
    vp->n++;
    res = copy;
out:
    pthread_mutex_unlock(&t->pool_lock);
    return res;
}

/* lookup_lmdb - one read transaction per lookup */
static int lookup_lmdb(const struct policy_table *t, const char *key, const char **value)
{
    char stackbuf[512];
    char *k = stackbuf;
    size_t len = strlen(key);
    MDB_txn *txn = NULL;
    MDB_val mk, mv;
    int rc;

    if (len == 0)
        return 0;
    if (len + 1 > sizeof(stackbuf) && (k = malloc(len + 1)) == NULL)
        return -ENOMEM;
    memcpy(k, key, len + 1);
    lowercase(k);

    rc = mdb_txn_begin(t->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        rc = lmdb_errno(rc);
        goto out;
    }
    mk.mv_data = k;
    mk.mv_size = len;
    rc = mdb_get(txn, t->dbi, &mk, &mv);
    if (rc == MDB_NOTFOUND) {
        mk.mv_size = len + 1; /* postmap-built: key with its NUL */
        rc = mdb_get(txn, t->dbi, &mk, &mv);
    }
    if (rc == MDB_NOTFOUND || rc == MDB_BAD_VALSIZE) {
        rc = 0;
    } else if (rc != 0) {
        rc = lmdb_errno(rc);
    } else {
        size_t vlen = mv.mv_size;
        const char *vd = mv.mv_data;
        if (vlen > 0 && vd[vlen - 1] == 0)
            vlen--;
        if (memchr(vd, 0, vlen) != NULL)
            vlen = strlen(vd);
        /* policy_table_lookup is const for its callers; the pool is internal state. */
        const char *v = pool_intern((struct policy_table *)t, vd, vlen);
        if (v == NULL) {
            rc = -ENOMEM;
        } else {
            *value = v;
            rc = 1;
        }
    }
    mdb_txn_abort(txn);
out:
    if (k != stackbuf)
        free(k);
    return rc;
}

/* policy_table_lookup - 1 found (*value set), 0 not found, -errno on error */
int policy_table_lookup(const struct policy_table *t, const char *key, const char **value)
{
    if (t == NULL || key == NULL)
        return -EINVAL;
    switch (t->kind) {
    case TABLE_STATIC:
        *value = t->static_value;
        return 1;
    case TABLE_MEMORY: {
        if (t->kv.n == 0)
            return 0;
        const struct kv *e = bsearch(key, t->kv.v, t->kv.n, sizeof(*t->kv.v), kv_find);
        if (e == NULL)
            return 0;
        *value = e->value;
        return 1;
    }
    case TABLE_LMDB:
        return lookup_lmdb(t, key, value);
    case TABLE_CIDR:
        return lookup_cidr(t, key, value);
    }
    return -EINVAL;
}

/* walk_lmdb - every entry of an LMDB table, in key order */
static int walk_lmdb(const struct policy_table *t,
                     int (*fn)(void *ctx, const char *key, const char *value), void *ctx)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    char *kb = NULL, *vb = NULL;
    int rc = mdb_txn_begin(t->env, NULL, MDB_RDONLY, &txn);

    if (rc == 0)
        rc = mdb_cursor_open(txn, t->dbi, &cur);
    for (int op = MDB_FIRST; rc == 0; op = MDB_NEXT) {
        rc = mdb_cursor_get(cur, &k, &v, (MDB_cursor_op)op);
        if (rc != 0)
            break;
        char *nk = realloc(kb, k.mv_size + 1), *nv;
        if (nk == NULL) {
            rc = ENOMEM;
            break;
        }
        kb = nk;
        nv = realloc(vb, v.mv_size + 1);
        if (nv == NULL) {
            rc = ENOMEM;
            break;
        }
        vb = nv;
        memcpy(kb, k.mv_data, k.mv_size);
        kb[k.mv_size] = 0;
        memcpy(vb, v.mv_data, v.mv_size);
        vb[v.mv_size] = 0;
        if (fn(ctx, kb, vb) != 0)
            break;
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    if (cur)
        mdb_cursor_close(cur);
    if (txn)
        mdb_txn_abort(txn);
    free(kb);
    free(vb);
    return rc == 0 ? 0 : lmdb_errno(rc);
}

/* policy_table_walk - every entry, for start-up checks; fn returns non-zero to stop */
int policy_table_walk(const struct policy_table *t,
                      int (*fn)(void *ctx, const char *key, const char *value), void *ctx)
{
    if (t == NULL || fn == NULL)
        return -EINVAL;
    switch (t->kind) {
    case TABLE_STATIC:
        fn(ctx, "*", t->static_value);
        return 0;
    case TABLE_MEMORY:
        for (size_t i = 0; i < t->kv.n; i++)
            if (fn(ctx, t->kv.v[i].key, t->kv.v[i].value) != 0)
                break;
        return 0;
    case TABLE_CIDR:
        for (size_t i = 0; i < t->ncidr; i++)
            if (t->cidr[i].op == CIDR_MATCH && fn(ctx, t->cidr[i].pattern, t->cidr[i].value) != 0)
                break;
        return 0;
    case TABLE_LMDB:
        return walk_lmdb(t, fn, ctx);
    }
    return -EINVAL;
}

/* policy_table_close - release a table; NULL is fine */
void policy_table_close(struct policy_table *t)
{
    if (t == NULL)
        return;
    kvlist_free(&t->kv);
    free(t->static_value);
    for (size_t i = 0; i < t->ncidr; i++) {
        free(t->cidr[i].pattern);
        free(t->cidr[i].value);
    }
    free(t->cidr);
    if (t->env)
        mdb_env_close(t->env);
    for (size_t i = 0; i < t->pool.cap; i++)
        free(t->pool.slot[i]);
    free(t->pool.slot);
    pthread_mutex_destroy(&t->pool_lock);
    free(t->spec);
    free(t);
}

/* write_lmdb - write all entries into a fresh LMDB file at path; MDB_MAP_FULL -> -ENOSPC */
static int write_lmdb(const char *path, const struct kvlist *l, size_t mapsize, char **err)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    int rc;

    rc = mdb_env_create(&env);
    if (rc == 0)
        rc = mdb_env_set_mapsize(env, mapsize);
    /* A private temporary file: no lock file, nobody else opens it. */
    if (rc == 0)
        rc = mdb_env_open(env, path, MDB_NOSUBDIR | MDB_NOLOCK, 0644);
    if (rc == 0)
        rc = mdb_txn_begin(env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_dbi_open(txn, NULL, 0, &dbi);
    for (size_t i = 0; rc == 0 && i < l->n; i++) {
        MDB_val k = {strlen(l->v[i].key), l->v[i].key};
        MDB_val v = {strlen(l->v[i].value), l->v[i].value};
        if (k.mv_size == 0)
            continue;
        if (k.mv_size > (size_t)mdb_env_get_maxkeysize(env)) {
            log_warn("policy", "%s: key too long, skipped: \"%.40s...\"", path, l->v[i].key);
            continue;
        }
        rc = mdb_put(txn, dbi, &k, &v, MDB_APPEND);
    }
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (rc == 0)
        rc = mdb_env_sync(env, 1);
    if (rc != 0 && rc != MDB_MAP_FULL)
        error_set(err, "write %s: %s", path, mdb_strerror(rc));
    if (txn)
        mdb_txn_abort(txn);
    if (env)
        mdb_env_close(env);
    return rc == 0 ? 0 : lmdb_errno(rc);
}

/* fsync_dir - make a rename in the directory of path durable */
static void fsync_dir(const char *path)
{
    char *dir = strdup(path);
    if (dir == NULL)
        return;
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = 0;
    else if (slash)
        *slash = 0;
    int fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

/* policy_table_compile - build FILE.lmdb from text FILE: write a temp file, rename it */
int policy_table_compile(const char *spec, char **err)
{
    struct kvlist l = {0};
    const char *name = spec;
    char *dest = NULL, *tmp = NULL;
    size_t typelen;
    struct stat st;
    int rc, fd = -1;

    if (err)
        *err = NULL;
    if (spec == NULL) {
        error_set(err, "no table name");
        return -EINVAL;
    }
    if (split_spec(spec, &typelen, &name) == 0) {
        if (!type_is(spec, typelen, "lmdb") && !type_is(spec, typelen, "hash") &&
            !type_is(spec, typelen, "btree")) {
            error_set(err, "%s: cannot compile table type \"%.*s\" (lmdb, hash, btree)", spec,
                      (int)typelen, spec);
            return -EINVAL;
        }
    } else {
        name = spec; /* no type: lmdb */
    }
    if (*name == 0) {
        error_set(err, "%s: missing file name", spec);
        return -EINVAL;
    }

    rc = read_text_table(name, &l, false, err);
    if (rc < 0) {
        char *inner = err ? *err : NULL;
        if (err) {
            *err = NULL;
            error_set(err, "%s: %s", spec, inner ? inner : strerror(-rc));
        }
        free(inner);
        goto fail;
    }
    kvlist_sort(&l, name);

    dest = lmdb_path(name);
    if (dest == NULL || asprintf(&tmp, "%s.tmpXXXXXX", dest) < 0) {
        tmp = NULL;
        rc = -ENOMEM;
        error_set(err, "%s: out of memory", spec);
        goto fail;
    }
    fd = mkstemp(tmp);
    if (fd < 0) {
        rc = -errno;
        error_set(err, "create %s: %s", tmp, strerror(errno));
        free(tmp);
        tmp = NULL;
        goto fail;
    }
    /* As postmap: owner read-write, group/other read as the source file allows. */
    mode_t mode = 0644;
    if (stat(name, &st) == 0)
        mode = 0600 | (st.st_mode & 0044);
    if (fchmod(fd, mode) < 0)
        log_warn("policy", "chmod %s: %s", tmp, strerror(errno));
    close(fd);
    fd = -1;

    size_t bytes = 0;
    for (size_t i = 0; i < l.n; i++)
        bytes += strlen(l.v[i].key) + strlen(l.v[i].value) + 64;
    size_t mapsize = (size_t)1 << 20;
    while (mapsize < bytes * 3)
        mapsize *= 2;
    for (;;) {
        rc = write_lmdb(tmp, &l, mapsize, err);
        if (rc != -ENOSPC || mapsize >= ((size_t)1 << 40))
            break;
        mapsize *= 4;
        if (truncate(tmp, 0) < 0) {
            rc = -errno;
            error_set(err, "truncate %s: %s", tmp, strerror(errno));
            break;
        }
    }
    if (rc < 0)
        goto fail;
    if (rename(tmp, dest) < 0) {
        rc = -errno;
        error_set(err, "rename %s to %s: %s", tmp, dest, strerror(errno));
        goto fail;
    }
    free(tmp);
    tmp = NULL;
    fsync_dir(dest);
    rc = 0;

fail:
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    if (fd >= 0)
        close(fd);
    free(dest);
    kvlist_free(&l);
    return rc;
}
