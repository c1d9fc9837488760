/*
 * NAME
 *	policy_table_text - the postmap text format of table sources
 * DESCRIPTION
 *	See policy_table_text.h.
 */
#include "policy/policy_table_text.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/error.h"
#include "core/base/log.h"

/* policy_table_text_trim - strip leading and trailing blanks in place, return the new start */
char *policy_table_text_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

/* policy_table_text_unbrace - "{ text }" -> "text" in place; NULL when the braces do not balance */
char *policy_table_text_unbrace(char *s)
{
    s = policy_table_text_trim(s);
    size_t n = strlen(s);
    if (n < 2 || s[0] != '{' || s[n - 1] != '}')
        return NULL;
    s[n - 1] = 0;
    return policy_table_text_trim(s + 1);
}

/* next_item - the next item of a braced list, in place: 1, 0 at the end, -EINVAL without '}' */
static int next_item(char **cursor, const char *ends, char **item, bool *braced)
{
    char *p = *cursor + strspn(*cursor, " \t\r\n,");
    if (*p == 0)
        return 0;
    *braced = *p == '{';
    if (*braced) {
        char *close = strchr(p, '}');
        if (close == NULL)
            return -EINVAL;
        *close = 0;
        *item = policy_table_text_trim(p + 1);
        *cursor = close + 1;
        return 1;
    }
    char *next = p + strcspn(p, ends);
    if (*next)
        *next++ = 0;
    *item = policy_table_text_trim(p);
    *cursor = next;
    return 1;
}

/* policy_table_text_list - fn for each item of "{ item, { item }, ... }" */
int policy_table_text_list(const char *spec, const char *body, const char *usage, const char *ends,
                           policy_table_text_item_fn *fn, void *ctx, char **err)
{
    char *copy = strdup(body), *item;
    bool braced;
    int rc = -EINVAL;

    if (copy == NULL) {
        error_set(err, "%s: out of memory", spec);
        return -ENOMEM;
    }
    char *p = policy_table_text_unbrace(copy);
    if (p == NULL) {
        error_set(err, "%s: expected %s", spec, usage);
        goto out;
    }
    while ((rc = next_item(&p, ends, &item, &braced)) > 0)
        if ((rc = fn(ctx, item, braced, err)) < 0)
            goto out;
    if (rc < 0)
        error_set(err, "%s: missing '}'", spec);
out:
    free(copy);
    return rc;
}

/* add_logical_line - split "key value" and add it; warn about a missing value unless allowed */
static int add_logical_line(struct policy_table_kv *l, char *line, const char *path, int lineno,
                            bool allow_empty)
{
    char *p = line;
    size_t keylen = strcspn(p, " \t");
    char *value = policy_table_text_trim(p + keylen);
    if (*value == 0 && !allow_empty) {
        log_warn("policy", "%s, line %d: expected format: key whitespace value", path, lineno);
        return 0;
    }
    return policy_table_kv_add(l, p, keylen, value);
}

/* policy_table_text_read - parse a postmap-style text file into l (in file order) */
int policy_table_text_read(const char *path, struct policy_table_kv *l, bool allow_empty,
                           char **err)
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
        char *t = policy_table_text_trim(line);
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
    policy_table_kv_free(l);
    return rc;
}
