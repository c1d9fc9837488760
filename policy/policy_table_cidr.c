/*
 * NAME
 *	policy_table_cidr - the cidr: table type (Postfix's cidr_table(5))
 * DESCRIPTION
 *	cidr:FILE and cidr:{ { pattern result }, ... }: rules in file order,
 *	"network/prefix result" or "address result" (IPv4, IPv6, optionally in
 *	[]), "!pattern result", and "if [!]pattern" ... "endif" blocks nested
 *	at most 64 deep. The first rule that matches wins; a pattern matches
 *	only keys of its own address family (::ffff:a.b.c.d counts as
 *	a.b.c.d); a key that is no address is "not found". Bad lines are
 *	logged and skipped as Postfix's dict_cidr does; a bad "if" skips its
 *	whole block. The rules are read-only after open; memory is bounded by
 *	the source.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/error.h"
#include "core/base/log.h"
#include "policy/policy_net.h"
#include "policy/policy_table_impl.h"
#include "policy/policy_table_text.h"

enum cidr_op { CIDR_MATCH, CIDR_IF, CIDR_ENDIF };

struct cidr_rule {
    enum cidr_op op;
    struct policy_net net;
    bool negate;
    size_t block_end; /* CIDR_IF: index of the matching endif (n when missing) */
    char *pattern;    /* as written, for policy_table_walk */
    char *value;      /* CIDR_MATCH */
};

struct cidr_table {
    struct cidr_rule *rule; /* in file order */
    size_t n;
};

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

static int cidr_add_line(struct cidr_table *c, const char *key, const char *value,
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
    struct cidr_rule *v = realloc(c->rule, (c->n + 1) * sizeof(*v));
    if (v == NULL)
        return -ENOMEM;
    c->rule = v;
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
        stack[(*depth)++] = c->n;
    } else if (r.op == CIDR_ENDIF) {
        c->rule[stack[--(*depth)]].block_end = c->n;
    }
    c->rule[c->n++] = r;
    return 0;
}

/* cidr_build - rules from lines in file order; an IF without ENDIF ends at the table's end */
static int cidr_build(struct cidr_table *c, const struct policy_table_kv *l, const char *where)
{
    size_t depth = 0, stack[64];
    for (size_t i = 0; i < l->n; i++) {
        int rc = cidr_add_line(c, l->v[i].key, l->v[i].value, where, (int)(i + 1), &depth, stack);
        if (rc < 0)
            return rc;
    }
    while (depth > 0) {
        log_warn("policy", "%s: IF has no matching ENDIF", where);
        c->rule[stack[--depth]].block_end = c->n;
    }
    return 0;
}

/* cidr_item - one "pattern result" of cidr:{ ... } as a line */
static int cidr_item(void *ctx, char *item, bool braced, char **err)
{
    size_t keylen = strcspn(item, " \t");
    return policy_table_kv_add(ctx, item, keylen, policy_table_text_trim(item + keylen));
}

/* cidr_open - cidr:FILE or cidr:{ ... } */
static int cidr_open(struct policy_table *t, const char *name, char **err)
{
    struct policy_table_kv l = {0};
    struct cidr_table *c = calloc(1, sizeof(*c));
    int rc;

    if (c == NULL)
        return -ENOMEM;
    t->impl = c;
    if (name[strspn(name, " \t")] == '{')
        rc = policy_table_text_list(t->spec, name, "cidr:{ { pattern result }, ... }", ",",
                                    cidr_item, &l, err);
    else
        rc = policy_table_text_read(name, &l, true, err);
    if (rc < 0) {
        policy_table_kv_free(&l);
        return rc;
    }
    rc = cidr_build(c, &l, t->spec);
    if (rc < 0)
        error_set(err, "%s: %s", t->spec, rc == -ENOMEM ? "out of memory" : "bad IF/ENDIF");
    policy_table_kv_free(&l);
    return rc;
}

/* cidr_rule_hits - rule pattern (with negation) matches the address; other family: no */
static bool cidr_rule_hits(const struct cidr_rule *r, const struct policy_net_addr *a)
{
    bool comparable =
        (r->net.family == AF_INET && a->have4) || (r->net.family == AF_INET6 && a->have6);
    return comparable && policy_net_contains(&r->net, a) != r->negate;
}

/* cidr_lookup - first matching rule wins; a key that is no address is not found */
static int cidr_lookup(const struct policy_table *t, const char *key, const char **value)
{
    const struct cidr_table *c = t->impl;
    struct policy_net_addr a;
    if (!policy_net_addr_parse(key, &a))
        return 0;
    for (size_t i = 0; i < c->n; i++) {
        const struct cidr_rule *r = &c->rule[i];
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

/* cidr_walk - the match rules in file order, their patterns as keys */
static int cidr_walk(const struct policy_table *t, policy_table_walk_fn *fn, void *ctx)
{
    const struct cidr_table *c = t->impl;
    for (size_t i = 0; i < c->n; i++)
        if (c->rule[i].op == CIDR_MATCH && fn(ctx, c->rule[i].pattern, c->rule[i].value) != 0)
            break;
    return 0;
}

/* cidr_close - free the rules */
static void cidr_close(struct policy_table *t)
{
    struct cidr_table *c = t->impl;
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->rule[i].pattern);
        free(c->rule[i].value);
    }
    free(c->rule);
    free(c);
}

const struct policy_table_type policy_table_cidr = {
    .open = cidr_open,
    .lookup = cidr_lookup,
    .walk = cidr_walk,
    .close = cidr_close,
};
