/*
 * NAME
 *	config - main.cf: one parameter table, an immutable config struct
 * SYNOPSIS
 *	See config/config.h.
 * DESCRIPTION
 *	One table (config_param_table[], config_param.c) names every parameter tern knows: its
 *	type, its default text (as `postconf -d` would show it), where it lives in
 *	struct tern_config (or -1: accepted and kept raw for a later issue) and a
 *	line of help. It drives parsing, `ternd -n` and config_get().
 *
 *	Loading (config_load.c) happens in three passes:
 *	1. read main.cf into logical lines (comments and blank lines skipped,
 *	   indented lines continue the previous one), each `name = value`
 *	   recorded against its table entry or as an unknown parameter;
 *	2. expand every value (config_expand.c: $name, ${name}, $(name), ${name?text},
 *	   ${name:text}, $$) recursively and memoised, so order in the file does
 *	   not matter; a parameter met again while being expanded is a loop, and
 *	   an expanded value is at most CONFIG_VALUE_MAX octets (nested
 *	   references multiply: a few hundred octets of main.cf could otherwise
 *	   ask for gigabytes); references and ${name?...} may nest
 *	   CONFIG_NESTING_MAX deep (a chain of 20000 parameters overflowed the
 *	   stack);
 *	3. convert typed values into the struct, and record every parameter
 *	   (table and unknown, expanded) in cfg->raw[], sorted by name so that
 *	   config_get() is a binary search and `ternd -n` is alphabetical like
 *	   `postconf -n`.
 *
 *	Defaults may reference other parameters; myhostname (gethostname(),
 *	canonicalised when it has no dot) and mydomain (myhostname minus its
 *	first label, "localdomain" when there is none) are computed.
 * DIAGNOSTICS
 *	config_load() returns 0, -ENOENT (no main.cf), -ENOMEM, or -EINVAL
 *	with *err naming the file, line, parameter and value.
 */
#include "core/config/config_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"

/* config_free - release everything */
void config_free(struct tern_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < config_param_count; i++) {
        const struct config_param *p = &config_param_table[i];
        if (p->off < 0)
            continue;
        if (p->type == P_STRING)
            free(*(char **)((char *)cfg + p->off));
        else if (p->type == P_LIST)
            config_list_free((struct config_list *)((char *)cfg + p->off));
    }
    for (size_t i = 0; i < cfg->nraw; i++) {
        free(cfg->raw[i].name);
        free(cfg->raw[i].value);
    }
    free(cfg->raw);
    free(cfg->config_directory);
    free(cfg);
}

/* config_raw_cmp - order raw[] by name */
int config_raw_cmp(const void *a, const void *b)
{
    return strcmp(((const struct config_raw *)a)->name, ((const struct config_raw *)b)->name);
}

/* config_parse_bool - yes/no, any case */
bool config_get_bool(const struct tern_config *cfg, const char *name)
{
    bool b = false;
    return config_parse_bool(config_get(cfg, name), &b) == 0 && b;
}

/* config_list_free - free the items; the list is left empty */
void config_list_free(struct config_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->item[i]);
    free(l->item);
    l->n = 0;
    l->item = NULL;
}

/* config_nonblank - see config/config.h */
const char *config_nonblank(const char *v)
{
    return v && v[strspn(v, " \t\r\n,")] ? v : NULL;
}

/* config_get - expanded value of any parameter named in main.cf or the table; NULL if neither */
const char *config_get(const struct tern_config *cfg, const char *name)
{
    if (!cfg || !name)
        return NULL;
    struct config_raw key = {.name = (char *)name};
    const struct config_raw *r =
        bsearch(&key, cfg->raw, cfg->nraw, sizeof(*cfg->raw), config_raw_cmp);
    return r ? r->value : NULL;
}

/* cfg_lookup - config_lookup_fn over a loaded config's final values */
static int cfg_lookup(void *arg, const char *name, size_t len, const char **val)
{
    char tmp[256];
    if (len >= sizeof(tmp)) {
        *val = NULL;
        return 0;
    }
    memcpy(tmp, name, len);
    tmp[len] = 0;
    *val = config_get(arg, tmp);
    return 0;
}

/* default_value - table default of param t expanded against cfg; malloc'd or NULL */
static char *default_value(const struct tern_config *cfg, int t)
{
    const struct config_param *p = &config_param_table[t];
    struct buf b = BUF_INIT;

    if (p->dyn == DYN_MYHOSTNAME)
        return config_param_myhostname();
    if (p->dyn == DYN_MYDOMAIN)
        return config_param_mydomain(config_get(cfg, "myhostname"));
    if (config_expand(p->dflt, strlen(p->dflt), cfg_lookup, (void *)cfg, &b, 0) < 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}

/* config_print_nondefault - `ternd -n`: "name = value" for each parameter set in main.cf whose
 * value differs from its default */
void config_print_nondefault(const struct tern_config *cfg, FILE *fp)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->nraw; i++) {
        const struct config_raw *r = &cfg->raw[i];
        if (r->line <= 0)
            continue;
        int t = config_param_find(r->name, strlen(r->name));
        if (t >= 0) {
            char *d = default_value(cfg, t);
            bool same = d && strcmp(d, r->value) == 0;
            free(d);
            if (same)
                continue;
        }
        if (*r->value)
            fprintf(fp, "%s = %s\n", r->name, r->value);
        else
            fprintf(fp, "%s =\n", r->name);
    }
}

/* config_log_warnings - log a warning for each unknown parameter (name, line) */
void config_log_warnings(const struct tern_config *cfg)
{
    if (!cfg)
        return;
    const char *dir = cfg->config_directory ? cfg->config_directory : ".";
    /* Restriction class names are parameters the administrator defines. */
    struct config_list classes = {0, NULL};
    config_parse_list(config_get(cfg, "smtpd_restriction_classes"), &classes);
    for (size_t i = 0; i < cfg->nraw; i++) {
        const struct config_raw *r = &cfg->raw[i];
        bool is_class = false;
        for (size_t j = 0; j < classes.n && !is_class; j++)
            is_class = !strcmp(classes.item[j], r->name);
        if (r->line > 0 && !is_class && config_param_find(r->name, strlen(r->name)) < 0)
            log_warn("config", "%s/main.cf, line %d: unknown parameter %s (not used by tern)", dir,
                     r->line, r->name);
    }
    config_list_free(&classes);
}

/* config_is_set - set in main.cf rather than defaulted */
bool config_is_set(const struct tern_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nraw; i++) {
        if (!strcmp(cfg->raw[i].name, name))
            return cfg->raw[i].line > 0;
    }
    return false;
}

/* config_ref - take one more reference */
struct tern_config *config_ref(struct tern_config *cfg)
{
    if (cfg)
        atomic_fetch_add_explicit(&cfg->refs, 1, memory_order_relaxed);
    return cfg;
}

/* config_unref - drop a reference; the last one frees the config (NULL is fine) */
void config_unref(struct tern_config *cfg)
{
    if (cfg && atomic_fetch_sub_explicit(&cfg->refs, 1, memory_order_acq_rel) == 1)
        config_free(cfg);
}
