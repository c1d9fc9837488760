/*
 * NAME
 *	policy_relay_impl - what the pieces of policy_relay share (private)
 * SYNOPSIS
 *	#include "policy/policy_relay_impl.h"
 * DESCRIPTION
 *	The compiled form of the restriction lists (struct policy_relay, its
 *	items and classes), the state of one evaluation (struct eval), and the
 *	functions one piece calls in another:
 *	  policy_relay.c           compiling the lists, the restriction names
 *	  policy_relay_domain.c    relay_domains and mydestination
 *	  policy_relay_check.c     the order of the lists (Postfix's smtpd_check)
 *	  policy_relay_restrict.c  one restriction
 *	  policy_relay_access.c    access(5) tables: check_*_access
 *	  policy_relay_reply.c     reply texts
 *	Only the policy_relay*.c files include this header.
 */
#ifndef TERN_POLICY_RELAY_IMPL_H
#define TERN_POLICY_RELAY_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/policy_relay.h"

struct policy_table;
struct policy_netlist;

enum restriction {
    R_PERMIT_MYNETWORKS,
    R_PERMIT_SASL_AUTHENTICATED,
    R_REJECT_UNAUTH_DESTINATION,
    R_DEFER_UNAUTH_DESTINATION,
    R_PERMIT,
    R_REJECT,
    R_PERMIT_TLS_CLIENTCERTS,
    R_PERMIT_TLS_ALL_CLIENTCERTS,
    R_CHECK_CCERT_ACCESS, /* R_CHECK_*: take a table argument */
    R_CHECK_CLIENT_ACCESS,
    R_CHECK_HELO_ACCESS,
    R_CHECK_SENDER_ACCESS,
    R_CHECK_RECIPIENT_ACCESS,
    R_REJECT_NON_FQDN_SENDER,
    R_REJECT_NON_FQDN_RECIPIENT,
    R_REJECT_NON_FQDN_HELO,
    R_REJECT_INVALID_HELO,
    R_REJECT_SENDER_LOGIN_MISMATCH,
    R_REJECT_AUTH_SENDER_LOGIN_MISMATCH,
    R_REJECT_UNAUTH_SENDER_LOGIN_MISMATCH,
    R_REJECT_KNOWN_SENDER_LOGIN_MISMATCH,
    R_REJECT_UNLISTED_RECIPIENT,
    R_PERMIT_AUTH_DESTINATION,
    R_REJECT_UNKNOWN_SENDER_DOMAIN,
    R_CLASS, /* smtpd_restriction_classes member */
};

/* the recipient list's index beside enum policy_stage (reply class "Recipient address") */
#define STAGE_RCPT POLICY_STAGE_COUNT
#define MAX_DEPTH 100

struct ritem {
    enum restriction r;
    struct policy_table *table; /* R_CHECK_*: owned */
    size_t cls;                 /* R_CLASS: index into pr->classes */
};

struct rlist {
    struct ritem *v;
    size_t n;
};

struct rclass {
    char *name;
    struct rlist list;
};

struct policy_relay {
    struct rlist relay;
    struct rlist rcpt;
    struct rlist stage[POLICY_STAGE_COUNT];
    bool delay_reject;
    int unknown_address_code; /* unknown_address_reject_code */
    enum policy_tempfail unknown_tempfail;
    struct policy_table **login_maps; /* smtpd_sender_login_maps */
    size_t nlogin_maps;
    bool uses_login_maps; /* a *_sender_login_mismatch restriction is configured */
    char **mydest;        /* lowercase, trailing dot removed */
    size_t nmydest;
    struct rclass *classes;
    size_t nclasses;
    struct policy_netlist *mynet;
    char **domains; /* lowercase; ".x" = subdomains only */
    size_t ndomains;
    struct policy_table **tables;
    size_t ntables;
    struct policy_table **ccerts; /* relay_clientcerts */
    size_t nccerts;
    bool uses_ccert;
};

enum decision { D_DUNNO, D_PERMIT, D_REJECT };
enum auth { AUTH_NO, AUTH_YES, AUTH_ERROR };

struct eval {
    const struct policy_relay *pr;
    const struct policy_client *client;
    const struct policy_addr *rcpt; /* NULL before RCPT */
    enum auth *auth;
    struct policy_verdict *out;
    int stage;                  /* enum policy_stage or STAGE_RCPT */
    const char *reply_name;     /* what a reply names: "name[addr]", HELO, sender, recipient */
    struct policy_defer *defer; /* defer_if_permit raised so far (Postfix's defer_if_permit) */
};

/* has_text - non-NULL, non-empty */
static inline bool has_text(const char *s)
{
    return s != NULL && *s != 0;
}

/* policy_relay.c */
int policy_relay_builtin(const char *name);
bool policy_relay_takes_table(enum restriction r);
long policy_relay_class(const struct policy_relay *pr, const char *name);
int policy_relay_append_table(struct policy_table ***arr, size_t *n, const char *tok,
                              const char *what, char **err);

/* policy_relay_domain.c */
int policy_relay_domain_add(void *ctx, const char *tok, char **err);
int policy_relay_domain_add_local(void *ctx, const char *tok, char **err);
bool policy_relay_domain_local(const struct policy_relay *pr, const struct policy_addr *rcpt);
enum auth policy_relay_domain_auth(const struct policy_relay *pr, const struct policy_addr *rcpt);

/* policy_relay_check.c */
enum decision policy_relay_check_items(const struct eval *e, const struct ritem *v, size_t n,
                                       int depth);

/* policy_relay_restrict.c */
enum decision policy_relay_restrict_one(const struct eval *e, const struct ritem *it, int depth);
enum decision policy_relay_restrict_unlisted(const struct eval *e);

/* policy_relay_access.c: one check_*_access restriction each */
enum decision policy_relay_access_client(const struct eval *e, const struct policy_table *t,
                                         int depth);
enum decision policy_relay_access_helo(const struct eval *e, const struct policy_table *t,
                                       int depth);
enum decision policy_relay_access_sender(const struct eval *e, const struct policy_table *t,
                                         int depth);
enum decision policy_relay_access_recipient(const struct eval *e, const struct policy_table *t,
                                            int depth);
enum decision policy_relay_access_ccert(const struct eval *e, const struct policy_table *t,
                                        int depth);

/* policy_relay_reply.c */
void policy_relay_reply_rcpt(struct policy_verdict *out, int code, const char *dsn,
                             const struct policy_addr *rcpt, const char *text);
const char *policy_relay_reply_namaddr(const struct policy_client *c, char *buf, size_t len);
__attribute__((format(printf, 4, 5))) enum decision
policy_relay_reply_reject(const struct eval *e, int code, const char *dsn, const char *fmt, ...);
enum decision policy_relay_reply_fixed(const struct eval *e, int code, const char *dsn,
                                       const char *text);
enum decision policy_relay_reply_lookup_error(const struct eval *e, const char *key);

#endif
