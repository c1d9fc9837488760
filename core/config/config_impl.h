/*
 * NAME
 *	config_impl - what the configuration's files share (private to core/config)
 * DESCRIPTION
 *	The parameter table's types (config_param.c), expansion (config_expand.c),
 *	the integer parser the loader uses (config_parse.c), and the two helpers
 *	of config.c that loading needs. Nothing outside core/config includes it.
 */
#ifndef TERN_CONFIG_CONFIG_IMPL_H
#define TERN_CONFIG_CONFIG_IMPL_H

#include "core/config/config.h"

#include <stddef.h>

#include "core/base/buf.h"

enum param_type { P_STRING, P_INT, P_TIME, P_SIZE, P_BOOL, P_LIST };

/* Computed defaults (no fixed text). */
enum param_dyn { DYN_NONE, DYN_MYHOSTNAME, DYN_MYDOMAIN, DYN_REFUSED };

struct config_param {
    const char *name;
    enum param_type type;
    const char *dflt; /* default text, expanded like a value */
    long off;         /* offsetof(struct tern_config, field), or -1: raw only */
    const char *help;
    int port; /* P_LIST/P_STRING: items must be host[:port]; default port (-1: no check) */
    enum param_dyn dyn;
    char unit;     /* P_TIME: unit of a bare number */
    bool at_start; /* used once, at start-up: a reload does not change it (config_restart) */
};

extern const struct config_param config_param_table[];
extern const size_t config_param_count;

/* config_param_find - table index of name[0..len), or -1 */
int config_param_find(const char *name, size_t len);
/* config_param_min - the smallest value a P_INT parameter accepts */
int config_param_min(const char *name);
/* config_param_myhostname - gethostname(), made fully qualified when possible; malloc'd */
char *config_param_myhostname(void);
/* config_param_mydomain - myhostname minus its first label, or "localdomain"; malloc'd */
char *config_param_mydomain(const char *host);

/* config_lookup_fn - value of name[0..len) (*val NULL: undefined), 0 or -errno */
#define CONFIG_VALUE_MAX (1 << 20) /* octets of one expanded value */
#define CONFIG_NESTING_MAX 100     /* nested $name references and ${name?...} */
typedef int (*config_lookup_fn)(void *arg, const char *name, size_t len, const char **val);
/* config_expand - append text[0..tlen) to out with every $ expression expanded through fn;
 * nest: the depth of the caller's own expansion (0 at the top). 0 or -errno (-ELOOP when
 * nested deeper than CONFIG_NESTING_MAX, -E2BIG past CONFIG_VALUE_MAX octets) */
int config_expand(const char *text, size_t tlen, config_lookup_fn fn, void *arg, struct buf *out,
                  int nest);

/* config_expand_name_char - a character of a parameter name ($name stops at any other) */
int config_expand_name_char(char c);

/* config_parse_int - a non-negative decimal that fits an int */
int config_parse_int(const char *s, int *out);

/* config_free - release everything */
void config_free(struct tern_config *cfg);
/* config_raw_cmp - order raw[] by name */
int config_raw_cmp(const void *a, const void *b);

#endif
