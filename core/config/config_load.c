/*
 * config_load - main.cf read into a new configuration: logical lines, the last setting of a
 * name wins, every value expanded once (loops refused), the refused and local-only parameters
 * checked, inet_interfaces turned into listeners, each known value converted into its field.
 * See config.c's header for the rules and the errors.
 */
#include "core/config/config_impl.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/error.h"
#include "core/base/hostport.h"

enum { ST_NEW, ST_BUSY, ST_DONE };

struct entry {
    const char *name; /* table name, or == uname */
    char *uname;      /* unknown parameter: malloc'd name */
    int tidx;         /* table index or -1 */
    char *text;       /* text from main.cf, or NULL: default */
    int line;         /* 0 = default */
    int state;
    char *value; /* expanded */
};

struct loader {
    const char *path;  /* for messages: DIR/main.cf */
    struct entry *ent; /* config_param_count table entries, then unknown ones */
    size_t n, cap;
    int *stack; /* entries being expanded */
    size_t depth;
    char *err;
};

/* loader_find - entry index of name[0..len), or -1 */
static int loader_find(struct loader *ld, const char *name, size_t len)
{
    int t = config_param_find(name, len);
    if (t >= 0)
        return t;
    for (size_t i = config_param_count; i < ld->n; i++)
        if (strncmp(ld->ent[i].name, name, len) == 0 && ld->ent[i].name[len] == 0)
            return (int)i;
    return -1;
}

/* loader_where - "PATH line N" or "PATH" for messages, formatted into tmp */
static const char *loader_where(struct loader *ld, int line, char *tmp, size_t tlen)
{
    if (line > 0)
        snprintf(tmp, tlen, "%s line %d", ld->path, line);
    else
        snprintf(tmp, tlen, "%s", ld->path);
    return tmp;
}

static int resolve(struct loader *ld, int i);

/* loader_lookup - config_lookup_fn for loading: expand the named entry first */
static int loader_lookup(void *arg, const char *name, size_t len, const char **val)
{
    struct loader *ld = arg;
    int i = loader_find(ld, name, len);
    *val = NULL;
    if (i < 0)
        return 0; /* undefined: empty, like Postfix */
    int rc = resolve(ld, i);
    if (rc < 0)
        return rc;
    *val = ld->ent[i].value;
    return 0;
}

/* resolve - expand entry i (memoised); a loop is -ELOOP with ld->err set */
static int resolve(struct loader *ld, int i)
{
    struct entry *e = &ld->ent[i];
    struct buf b = BUF_INIT;
    char *dyn = NULL;
    char where[512];
    int rc;

    if (e->state == ST_DONE)
        return 0;
    if (e->state == ST_BUSY) {
        /* Name the loop after a member that main.cf sets. */
        size_t k = ld->depth;
        while (k > 0 && ld->stack[k - 1] != i)
            k--;
        int line = 0;
        for (size_t j = k ? k - 1 : 0; j < ld->depth && !line; j++)
            line = ld->ent[ld->stack[j]].line;
        error_set_first(&ld->err, "%s: recursive expansion loop for parameter %s",
                        loader_where(ld, line, where, sizeof(where)), e->name);
        return -ELOOP;
    }
    if (ld->depth >= CONFIG_NESTING_MAX) {
        error_set_first(&ld->err, "%s: $ references nested more than %d deep at %s",
                        loader_where(ld, e->line, where, sizeof(where)), CONFIG_NESTING_MAX,
                        e->name);
        return -ELOOP;
    }
    e->state = ST_BUSY;
    ld->stack[ld->depth++] = i;

    /* Unknown parameters always have text; table ones fall back to the default. */
    const struct config_param *p = e->tidx >= 0 ? &config_param_table[e->tidx] : NULL;
    const char *text = e->text ? e->text : p && p->dflt ? p->dflt : "";
    if (!e->text && p && p->dyn == DYN_MYHOSTNAME) {
        rc = (dyn = config_param_myhostname()) ? buf_puts(&b, dyn) : -ENOMEM;
    } else if (!e->text && p && p->dyn == DYN_MYDOMAIN) {
        const char *host = NULL;
        rc = loader_lookup(ld, "myhostname", strlen("myhostname"), &host);
        if (rc == 0)
            rc = (dyn = config_param_mydomain(host)) ? buf_puts(&b, dyn) : -ENOMEM;
    } else {
        rc = config_expand(text, strlen(text), loader_lookup, ld, &b, 0);
    }
    free(dyn);
    if (rc == -EINVAL)
        error_set_first(&ld->err, "%s: bad $ expression in %s: \"%s\"",
                        loader_where(ld, e->line, where, sizeof(where)), e->name, text);
    if (rc == -ELOOP && !ld->err)
        error_set_first(&ld->err, "%s: ${name?...} nested more than %d deep in %s",
                        loader_where(ld, e->line, where, sizeof(where)), CONFIG_NESTING_MAX,
                        e->name);
    if (rc == -E2BIG && !ld->err)
        error_set_first(&ld->err, "%s: the value of %s is longer than %d octets after expansion",
                        loader_where(ld, e->line, where, sizeof(where)), e->name, CONFIG_VALUE_MAX);
    if (rc < 0)
        goto fail;
    if (!(e->value = buf_steal(&b, NULL))) {
        rc = -ENOMEM;
        goto fail;
    }
    ld->depth--;
    e->state = ST_DONE;
    return 0;

fail:
    buf_free(&b);
    ld->depth--;
    e->state = ST_NEW;
    return rc;
}

/* loader_set - record name = value from line */
static int loader_set(struct loader *ld, const char *name, size_t nlen, const char *value, int line)
{
    int i = loader_find(ld, name, nlen);
    if (i < 0) {
        if (ld->n == ld->cap) {
            size_t ncap = ld->cap * 2;
            struct entry *ne = realloc(ld->ent, ncap * sizeof(*ne));
            if (!ne)
                return -ENOMEM;
            ld->ent = ne;
            ld->cap = ncap;
        }
        struct entry *e = &ld->ent[ld->n];
        memset(e, 0, sizeof(*e));
        if (!(e->uname = strndup(name, nlen)))
            return -ENOMEM;
        e->name = e->uname;
        e->tidx = -1;
        i = (int)ld->n++;
    }
    struct entry *e = &ld->ent[i];
    char *v = strdup(value);
    if (!v)
        return -ENOMEM;
    free(e->text); /* the last setting wins, as in Postfix */
    e->text = v;
    e->line = line;
    return 0;
}

/* trim - strip leading and trailing whitespace in place */
static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

/* loader_logical - one logical line "name = value" that started at line */
static int loader_logical(struct loader *ld, char *text, int line)
{
    char where[512];
    char *eq = strchr(text, '=');
    if (!eq) {
        error_set_first(&ld->err, "%s: missing '=' after parameter name: \"%s\"",
                        loader_where(ld, line, where, sizeof(where)), text);
        return -EINVAL;
    }
    *eq = 0;
    char *name = trim(text);
    char *value = trim(eq + 1);
    bool ok = *name != 0;
    for (char *c = name; *c; c++)
        if (!config_expand_name_char(*c) && *c != '-' && *c != '.')
            ok = false;
    if (!ok) {
        error_set_first(&ld->err, "%s: bad parameter name: \"%s\"",
                        loader_where(ld, line, where, sizeof(where)), name);
        return -EINVAL;
    }
    return loader_set(ld, name, strlen(name), value, line);
}

/* loader_read - pass 1: main.cf into entries */
static int loader_read(struct loader *ld, FILE *fp)
{
    struct buf logical = BUF_INIT;
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, start = 0, rc = 0;
    char where[512];

    for (;;) {
        ssize_t n = getline(&line, &cap, fp);
        if (n < 0)
            break;
        lineno++;
        if (memchr(line, 0, (size_t)n) != NULL) {
            /* a C string would end there: the rest of the value would vanish in silence */
            error_set_first(&ld->err, "%s: NUL byte in the line (a binary or damaged file?)",
                            loader_where(ld, lineno, where, sizeof(where)));
            rc = -EINVAL;
            goto fail;
        }
        char *t = trim(line);
        if (*t == 0 || *t == '#')
            continue;
        if (isspace((unsigned char)line[0])) {
            if (!start) {
                error_set_first(&ld->err, "%s: continuation line without a parameter before it",
                                loader_where(ld, lineno, where, sizeof(where)));
                rc = -EINVAL;
                goto fail;
            }
            if ((rc = buf_puts(&logical, " ")) < 0 || (rc = buf_puts(&logical, t)) < 0)
                goto fail;
            continue;
        }
        if (start && (rc = loader_logical(ld, buf_ptr(&logical), start)) < 0)
            goto fail;
        buf_reset(&logical);
        if ((rc = buf_puts(&logical, t)) < 0)
            goto fail;
        start = lineno;
    }
    if (ferror(fp)) {
        rc = -EIO;
        error_set_first(&ld->err, "%s: read error", ld->path);
        goto fail;
    }
    if (start)
        rc = loader_logical(ld, buf_ptr(&logical), start);

fail:
    free(line);
    buf_free(&logical);
    return rc;
}

#define LOCAL_ONLY                                                                                 \
    "tern delivers nothing locally (mail for $mydestination gets 550 5.1.1 User unknown): remove " \
    "it"
#define NO_REWRITE "tern does not implement address rewriting: mail would be relayed unrewritten"

/* Postfix parameters outside the table that would change where mail goes: refused by name
 * (prefix: every name that starts so) rather than warned about as unknown */
static const struct {
    const char *name;
    bool prefix;
    const char *why;
} refused_unknown[] = {
    {"local_", true, LOCAL_ONLY},
    {"mailbox_command", false, LOCAL_ONLY},
    {"mailbox_transport", false, LOCAL_ONLY},
    {"home_mailbox", false, LOCAL_ONLY},
    {"luser_relay", false, LOCAL_ONLY},
    {"fallback_transport", false, LOCAL_ONLY},
    {"forward_path", false, LOCAL_ONLY},
    {"virtual_alias_maps", false, NO_REWRITE},
    {"virtual_alias_domains", false, NO_REWRITE},
    {"virtual_mailbox_domains", false, LOCAL_ONLY},
    {"virtual_mailbox_maps", false, LOCAL_ONLY},
    {"canonical_maps", false, NO_REWRITE},
    {"sender_canonical_maps", false, NO_REWRITE},
    {"recipient_canonical_maps", false, NO_REWRITE},
    {"relocated_maps", false, NO_REWRITE},
    {"masquerade_domains", false, NO_REWRITE},
    {"smtp_generic_maps", false, NO_REWRITE},
};

/* same_value - equal but for blanks and commas between words, or the same time */
static bool same_value(const char *a, const char *b)
{
    int ta, tb;
    if (config_parse_time(a, 's', &ta) == 0 && config_parse_time(b, 's', &tb) == 0)
        return ta == tb;
    for (;;) {
        a += strspn(a, " \t,");
        b += strspn(b, " \t,");
        size_t la = strcspn(a, " \t,"), lb = strcspn(b, " \t,");
        if (la != lb || strncmp(a, b, la) != 0)
            return false;
        if (la == 0)
            return true;
        a += la;
        b += lb;
    }
}

/* refuse - a parameter tern knows but does not implement, set to other than its default */
static int refuse(struct loader *ld, const struct entry *e)
{
    char where[512];
    const char *why = NULL;
    if (e->line <= 0)
        return 0;
    if (e->tidx >= 0) {
        const struct config_param *p = &config_param_table[e->tidx];
        if (p->dyn != DYN_REFUSED || strncmp(p->name, "inet_", 5) == 0 ||
            same_value(e->value, p->dflt))
            return 0;
        why = p->help;
    } else if (e->value[strspn(e->value, " \t,")] == 0) {
        return 0; /* "local_recipient_maps =" in a relay's main.cf turns the feature off */
    }
    for (size_t i = 0; !why && i < sizeof(refused_unknown) / sizeof(refused_unknown[0]); i++)
        if (refused_unknown[i].prefix
                ? strncmp(e->name, refused_unknown[i].name, strlen(refused_unknown[i].name)) == 0
                : strcmp(e->name, refused_unknown[i].name) == 0)
            why = refused_unknown[i].why;
    if (!why)
        return 0;
    error_set_first(&ld->err, "%s: %s: %s", loader_where(ld, e->line, where, sizeof(where)),
                    e->name, why);
    return -EINVAL;
}

/* loader_entry - the entry of a table parameter */
static struct entry *loader_entry(struct loader *ld, const char *name)
{
    for (size_t i = 0; i < ld->n; i++)
        if (strcmp(ld->ent[i].name, name) == 0)
            return &ld->ent[i];
    return NULL;
}

/* list_add - append a copy of item */
static int list_add(struct config_list *l, const char *item)
{
    char **v = realloc(l->item, (l->n + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    l->item = v;
    if (!(l->item[l->n] = strdup(item)))
        return -ENOMEM;
    l->n++;
    return 0;
}

/* interface_add - one inet_interfaces word as port-25 listeners of the enabled families */
static int interface_add(struct config_list *l, const char *word, bool v4, bool v6)
{
    char buf[64], item[80];
    unsigned char bin[16];
    int rc = 0;
    if (strcmp(word, "all") == 0) {
        if (v4 && (rc = list_add(l, "0.0.0.0:25")) < 0)
            return rc;
        return v6 ? list_add(l, "[::]:25") : 0;
    }
    if (strcmp(word, "loopback-only") == 0 || strcmp(word, "localhost") == 0) {
        if (v4 && (rc = list_add(l, "127.0.0.1:25")) < 0)
            return rc;
        return v6 ? list_add(l, "[::1]:25") : 0;
    }
    size_t len = strlen(word);
    if (len >= 2 && word[0] == '[' && word[len - 1] == ']') {
        word++;
        len -= 2;
    }
    if (len >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, word, len);
    buf[len] = 0;
    if (inet_pton(AF_INET, buf, bin) == 1 && v4)
        snprintf(item, sizeof(item), "%s:25", buf);
    else if (inet_pton(AF_INET6, buf, bin) == 1 && v6)
        snprintf(item, sizeof(item), "[%s]:25", buf);
    else
        return -EINVAL;
    return list_add(l, item);
}

/* inet_interfaces - Postfix's inet_interfaces and inet_protocols as the port-25 listeners when
 * smtpd_listen is not set (tern's own default stays 127.0.0.1:25 while neither is set) */
static int inet_interfaces(struct loader *ld, struct tern_config *cfg)
{
    char where[512];
    struct entry *ii = loader_entry(ld, "inet_interfaces");
    struct entry *ip = loader_entry(ld, "inet_protocols");
    struct entry *sl = loader_entry(ld, "smtpd_listen");
    bool v4 = false, v6 = false;
    struct config_list words = {0, NULL}, listen = {0, NULL};
    int rc = config_parse_list(ip->value, &words);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < words.n && rc == 0; i++) {
        if (strcmp(words.item[i], "all") == 0)
            v4 = v6 = true;
        else if (strcmp(words.item[i], "ipv4") == 0)
            v4 = true;
        else if (strcmp(words.item[i], "ipv6") == 0)
            v6 = true;
        else
            rc = -EINVAL;
    }
    config_list_free(&words);
    if (rc < 0 || !(v4 || v6)) {
        error_set_first(&ld->err, "%s: inet_protocols: bad value \"%s\" (all, ipv4, ipv6)",
                        loader_where(ld, ip->line, where, sizeof(where)), ip->value);
        return -EINVAL;
    }
    if (ii->line <= 0) {
        if (ip->line > 0 && !(v4 && v6)) {
            error_set_first(
                &ld->err, "%s: inet_protocols: %s",
                loader_where(ld, ip->line, where, sizeof(where)),
                "tern applies it only to inet_interfaces (outbound connections use both "
                "families): list the addresses in smtpd_listen instead");
            return -EINVAL;
        }
        return 0;
    }
    if (sl->line > 0) {
        error_set_first(&ld->err,
                        "%s: inet_interfaces: smtpd_listen is set too (line %d): set one of them "
                        "(inet_interfaces names port-25 addresses, smtpd_listen addr:port)",
                        loader_where(ld, ii->line, where, sizeof(where)), sl->line);
        return -EINVAL;
    }
    if ((rc = config_parse_list(ii->value, &words)) < 0)
        return rc;
    for (size_t i = 0; i < words.n && rc == 0; i++)
        if ((rc = interface_add(&listen, words.item[i], v4, v6)) == -EINVAL)
            error_set_first(&ld->err,
                            "%s: inet_interfaces: \"%s\" is not an IP address of an enabled family "
                            "(inet_protocols = %s; tern does not resolve names here)",
                            loader_where(ld, ii->line, where, sizeof(where)), words.item[i],
                            ip->value);
    config_list_free(&words);
    if (rc == 0 && listen.n == 0) {
        error_set_first(&ld->err, "%s: inet_interfaces: no address",
                        loader_where(ld, ii->line, where, sizeof(where)));
        rc = -EINVAL;
    }
    if (rc < 0) {
        config_list_free(&listen);
        return rc;
    }
    config_list_free(&cfg->smtpd_listen);
    cfg->smtpd_listen = listen;
    return 0;
}

/* upstream_proxy - smtpd_upstream_proxy_protocol is empty or haproxy, Postfix's one type */
static int upstream_proxy(struct loader *ld, const struct tern_config *cfg)
{
    const char *v = cfg->smtpd_upstream_proxy_protocol;
    if (!v || !*v || strcmp(v, "haproxy") == 0)
        return 0;
    error_set_first(&ld->err,
                    "%s: smtpd_upstream_proxy_protocol: unsupported protocol type \"%s\" "
                    "(empty or haproxy)",
                    ld->path, v);
    return -EINVAL;
}

/* forbidden_commands - smtpd_forbidden_commands names commands; a "type:table" item (Postfix
 * 3.7's default has regexp:{{/^[^A-Z]/ Bogus}}) would match nothing, and tern has no regexp:
 * tables: refused, not accepted and ignored */
static int forbidden_commands(struct loader *ld, const struct tern_config *cfg)
{
    const struct config_list *l = &cfg->smtpd_forbidden_commands;
    for (size_t i = 0; i < l->n; i++) {
        if (!strchr(l->item[i], ':'))
            continue;
        error_set_first(&ld->err,
                        "%s: smtpd_forbidden_commands: \"%s\" is a table, and tern takes only "
                        "command names there (a command that starts with a non-letter, or looks "
                        "like a message header, ends the session anyway)",
                        ld->path, l->item[i]);
        return -EINVAL;
    }
    return 0;
}

/* loader_convert - pass 3: typed values into cfg, everything into cfg->raw */
static int loader_convert(struct loader *ld, struct tern_config *cfg)
{
    char where[512];
    char host[256];
    int port;

    if (!(cfg->raw = calloc(ld->n, sizeof(*cfg->raw))))
        return -ENOMEM;
    for (size_t i = 0; i < ld->n; i++) {
        struct entry *e = &ld->ent[i];
        struct config_raw *r = &cfg->raw[cfg->nraw];
        if (!(r->name = strdup(e->name)) || !(r->value = strdup(e->value))) {
            free(r->name);
            return -ENOMEM;
        }
        r->line = e->line;
        cfg->nraw++;
        int refused = refuse(ld, e);
        if (refused < 0)
            return refused;
        if (e->tidx < 0 || config_param_table[e->tidx].off < 0)
            continue;

        const struct config_param *p = &config_param_table[e->tidx];
        void *field = (char *)cfg + p->off;
        int rc = 0;
        switch (p->type) {
        case P_STRING:
            if (p->port >= 0 && *e->value)
                rc = hostport_split(e->value, p->port, host, sizeof(host), &port);
            if (rc == 0 && !(*(char **)field = strdup(e->value)))
                return -ENOMEM;
            break;
        case P_INT:
            rc = config_parse_int(e->value, field);
            if (rc == 0 && *(int *)field < config_param_min(p->name))
                rc = -EINVAL;
            break;
        case P_TIME:
            rc = config_parse_time(e->value, p->unit, field);
            break;
        case P_SIZE:
            rc = config_parse_size(e->value, field);
            break;
        case P_BOOL:
            rc = config_parse_bool(e->value, field);
            break;
        case P_LIST: {
            struct config_list *l = field;
            if ((rc = config_parse_list(e->value, l)) < 0)
                return rc;
            for (size_t k = 0; p->port >= 0 && k < l->n && rc == 0; k++)
                rc = hostport_split(l->item[k], p->port, host, sizeof(host), &port);
            break;
        }
        }
        if (rc < 0) {
            error_set_first(&ld->err, "%s: bad value for %s: \"%s\"",
                            loader_where(ld, e->line, where, sizeof(where)), p->name, e->value);
            return -EINVAL;
        }
    }
    qsort(cfg->raw, cfg->nraw, sizeof(*cfg->raw), config_raw_cmp);
    int rc = upstream_proxy(ld, cfg);
    rc = rc < 0 ? rc : forbidden_commands(ld, cfg);
    return rc < 0 ? rc : inet_interfaces(ld, cfg);
}

/* load - read path (NULL: defaults only) into a new config */
static int load(struct tern_config **out, const char *dir, const char *path, char **err)
{
    struct loader ld = {.path = path ? path : "main.cf"};
    struct tern_config *cfg = NULL;
    FILE *fp = NULL;
    int rc;

    *out = NULL;
    if (err)
        *err = NULL;
    ld.cap = config_param_count + 16;
    if (!(ld.ent = calloc(ld.cap, sizeof(*ld.ent)))) {
        rc = -ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < config_param_count; i++) {
        ld.ent[i].name = config_param_table[i].name;
        ld.ent[i].tidx = (int)i;
    }
    ld.n = config_param_count;

    if (path) {
        if (!(fp = fopen(path, "r"))) {
            rc = -errno;
            error_set_first(&ld.err, "cannot open %s: %s", path, strerror(errno));
            goto fail;
        }
        if ((rc = loader_read(&ld, fp)) < 0)
            goto fail;
    }

    if (!(ld.stack = calloc(ld.n, sizeof(*ld.stack)))) {
        rc = -ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < ld.n; i++)
        if ((rc = resolve(&ld, (int)i)) < 0) {
            if (rc == -ELOOP || rc == -E2BIG)
                rc = -EINVAL;
            goto fail;
        }

    if (!(cfg = calloc(1, sizeof(*cfg)))) {
        rc = -ENOMEM;
        goto fail;
    }
    atomic_init(&cfg->refs, 1);
    if (!(cfg->config_directory = strdup(dir))) {
        rc = -ENOMEM;
        goto fail;
    }
    if ((rc = loader_convert(&ld, cfg)) < 0)
        goto fail;
    *out = cfg;
    cfg = NULL;
    rc = 0;

fail:
    if (rc == -ENOMEM)
        error_set_first(&ld.err, "%s: out of memory", ld.path);
    if (fp)
        fclose(fp);
    config_free(cfg);
    for (size_t i = 0; i < ld.n; i++) {
        free(ld.ent[i].uname);
        free(ld.ent[i].text);
        free(ld.ent[i].value);
    }
    free(ld.ent);
    free(ld.stack);
    if (err)
        *err = ld.err;
    else
        free(ld.err);
    return rc;
}

/* config_load - read DIR/main.cf; *out gets a config with one reference */
int config_load(struct tern_config **out, const char *config_dir, char **err)
{
    char *path = NULL;
    if (asprintf(&path, "%s/main.cf", config_dir) < 0) {
        *out = NULL;
        if (err)
            *err = NULL;
        return -ENOMEM;
    }
    int rc = load(out, config_dir, path, err);
    free(path);
    return rc;
}

/* config_load_defaults - a config with every default (for tests and `ternd -n`) */
int config_load_defaults(struct tern_config **out, char **err)
{
    return load(out, "/etc/tern", NULL, err);
}
