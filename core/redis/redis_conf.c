/*
 * redis_conf - the file a redis:FILE table names; see redis/redis_conf.h.
 */
#include "core/redis/redis_conf.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/error.h"
#include "core/base/hostport.h"

#define LINE_MAX_LEN 1024

/* trim - strip blanks at both ends, in place */
static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = 0;
    return s;
}

/* parse_ms - "250ms", "2s", "2" (seconds); 1 ms to 60 s */
static int parse_ms(const char *v, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (errno || end == v)
        return -EINVAL;
    if (!strcmp(end, "ms"))
        ;
    else if (!*end || !strcmp(end, "s"))
        n *= 1000;
    else
        return -EINVAL;
    if (n < 1 || n > 60000)
        return -EINVAL;
    *out = (unsigned)n;
    return 0;
}

/* set_hosts - "h1:port, h2" */
static int set_hosts(struct redis_conf *rc, char *v)
{
    for (char *save = NULL, *t = strtok_r(v, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
        char host[256];
        int port;
        if (rc->nhosts == REDIS_CONF_HOSTS_MAX ||
            hostport_split(t, 6379, host, sizeof(host), &port) < 0)
            return -EINVAL;
        if (!(rc->host[rc->nhosts] = strdup(host)))
            return -ENOMEM;
        rc->port[rc->nhosts++] = port;
    }
    return rc->nhosts > 0 ? 0 : -EINVAL;
}

/* set_string - replace *field with a copy of v; empty means none */
static int set_string(char **field, const char *v, bool empty_is_none)
{
    free(*field);
    *field = NULL;
    if (empty_is_none && !*v)
        return 0;
    return (*field = strdup(v)) ? 0 : -ENOMEM;
}

/* set - one "name = value" */
static int set(struct redis_conf *rc, const char *name, char *v, const char **why)
{
    *why = "bad value";
    if (!strcmp(name, "hosts")) {
        for (int i = 0; i < rc->nhosts; i++)
            free(rc->host[i]);
        rc->nhosts = 0;
        return set_hosts(rc, v);
    }
    if (!strcmp(name, "dbid")) {
        char *end;
        long n = strtol(v, &end, 10);
        if (!*v || *end || n < 0 || n > 65535)
            return -EINVAL;
        rc->dbid = (int)n;
        return 0;
    }
    if (!strcmp(name, "user"))
        return set_string(&rc->user, v, true);
    if (!strcmp(name, "password"))
        return set_string(&rc->password, v, true);
    if (!strcmp(name, "timeout"))
        return parse_ms(v, &rc->timeout_ms);
    if (!strcmp(name, "prefix"))
        return strpbrk(v, " \t*?[]") ? -EINVAL : set_string(&rc->prefix, v, false);
    if (!strcmp(name, "cache_file"))
        return *v == '/' ? set_string(&rc->cache_file, v, false) : -EINVAL;
    if (!strcmp(name, "tls")) {
        if (!strcmp(v, "no"))
            return 0;
        *why = !strcmp(v, "yes") ? "TLS to Redis is not available: Debian 12's libhiredis (0.14) "
                                   "has none; reach Redis on loopback or through a tunnel"
                                 : "bad value (no)";
        return -EINVAL;
    }
    *why = "unknown parameter (hosts, dbid, user, password, timeout, prefix, cache_file, tls)";
    return -EINVAL;
}

int redis_conf_load(struct redis_conf **out, const char *path, const char *default_cache,
                    char **err)
{
    *out = NULL;
    struct redis_conf *rc = calloc(1, sizeof(*rc));
    if (!rc)
        return -ENOMEM;
    rc->timeout_ms = 250;
    int res = -ENOMEM;
    char line[LINE_MAX_LEN];
    if (!(rc->path = strdup(path)) || set_string(&rc->prefix, "tern:", false) < 0 ||
        (default_cache && set_string(&rc->cache_file, default_cache, false) < 0) ||
        !(rc->host[0] = strdup("127.0.0.1")))
        goto fail;
    rc->port[0] = 6379;
    rc->nhosts = 1;
    FILE *fp = fopen(path, "re");
    if (!fp) {
        res = -errno;
        error_set(err, "%s: %s", path, strerror(errno));
        goto fail;
    }
    for (int lineno = 1; fgets(line, sizeof(line), fp); lineno++) {
        char *s = trim(line), *eq = strchr(s, '=');
        if (!*s || *s == '#')
            continue;
        const char *why = "not \"name = value\"";
        res = -EINVAL;
        if (eq) {
            *eq = 0;
            res = set(rc, trim(s), trim(eq + 1), &why);
        }
        if (res < 0) {
            error_set(err, "%s, line %d: %s%s%s", path, lineno, eq ? trim(s) : "", eq ? ": " : "",
                      why);
            fclose(fp);
            goto fail;
        }
    }
    fclose(fp);
    if (!rc->cache_file && default_cache) {
        error_set(err, "%s: no cache_file", path);
        res = -EINVAL;
        goto fail;
    }
    *out = rc;
    return 0;
fail:
    redis_conf_free(rc);
    return res;
}

int redis_conf_table(struct redis_conf **out, const char *name, const char *value, char **err)
{
    *out = NULL;
    if (!value || !*value)
        return 0;
    if (strncmp(value, "redis:", 6) != 0) {
        error_set(err, "%s = %s: only redis:FILE is known here", name, value);
        return -EINVAL;
    }
    char *why = NULL;
    int rc = redis_conf_load(out, value + 6, NULL, &why);
    if (rc < 0) {
        error_set(err, "%s = %s: %s", name, value, why ? why : strerror(-rc));
        free(why);
    }
    return rc;
}

void redis_conf_free(struct redis_conf *rc)
{
    if (!rc)
        return;
    for (int i = 0; i < rc->nhosts; i++)
        free(rc->host[i]);
    free(rc->path);
    free(rc->user);
    if (rc->password)
        explicit_bzero(rc->password, strlen(rc->password));
    free(rc->password);
    free(rc->prefix);
    free(rc->cache_file);
    free(rc);
}
