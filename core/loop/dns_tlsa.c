/*
 * NAME
 *	dns_tlsa - asynchronous TLSA lookups on a dns_resolver (see dns_tlsa.h)
 * DESCRIPTION
 *	The query goes to the resolver's unbound context; unbound calls back
 *	from ub_process(), which dns_resolver_process() runs on the resolver's
 *	thread, so the callback runs there too. The lookup object is freed
 *	right after the callback, or by dns_tlsa_cancel().
 */
#include "core/loop/dns_tlsa.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unbound.h>

#include "core/base/error.h"
#include "core/base/log.h"

enum { T_TLSA = 52, RCODE_NXDOMAIN = 3 };

struct dns_tlsa {
    dns_tlsa_cb *cb;
    void *arg;
    int id; /* unbound's async id */
    char name[280];
};

/* tlsa_cb - unbound's answer: hand it over, free the lookup */
static void tlsa_cb(void *arg, int err, struct ub_result *ans)
{
    struct dns_tlsa *t = arg;
    struct dns_tlsa_result res = {.status = DNS_TEMPFAIL};
    const char *why = "Host not found, try again";

    if (err != 0 || !ans) {
        log_warn("dns", "TLSA lookup of %s: %s", t->name, ub_strerror(err));
    } else if (ans->bogus) {
        log_warn("dns", "DNSSEC validation of %s type TLSA failed: %s", t->name,
                 ans->why_bogus ? ans->why_bogus : "bogus");
        why = "DNSSEC validation failed";
    } else if (ans->nxdomain || ans->rcode == RCODE_NXDOMAIN) {
        res.status = DNS_NOTFOUND;
        why = "Host not found";
    } else if (ans->rcode == 0 && !ans->havedata) {
        res.status = DNS_NOTFOUND;
        why = "Host found but no data record of requested type";
    } else if (ans->rcode == 0) {
        res.status = DNS_OK;
        for (size_t i = 0; ans->data[i]; i++) {
            if (res.n == DNS_TLSA_MAX) {
                log_warn("dns", "%s: more than %d TLSA records, the rest ignored", t->name,
                         DNS_TLSA_MAX);
                break;
            }
            res.rdata[res.n] = (const unsigned char *)ans->data[i];
            res.len[res.n++] = (size_t)ans->len[i];
        }
    }
    res.secure = ans && !ans->bogus && ans->secure;
    if (res.status != DNS_OK)
        snprintf(res.error, sizeof(res.error),
                 "Host or domain name not found. Name service error for name=%s type=TLSA: %s",
                 t->name, why);
    t->cb(t->arg, &res);
    if (ans)
        ub_resolve_free(ans);
    free(t);
}

/* dns_tlsa_lookup - TLSA records of _port._tcp.host; *handle valid until the callback runs */
int dns_tlsa_lookup(struct dns_resolver *r, const char *host, unsigned port, dns_tlsa_cb *cb,
                    void *arg, struct dns_tlsa **handle)
{
    size_t len = strlen(host);
    while (len > 0 && host[len - 1] == '.')
        len--;
    if (len == 0 || len > 253 || port == 0 || port > 65535)
        return -EINVAL;
    struct dns_tlsa *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->cb = cb;
    t->arg = arg;
    snprintf(t->name, sizeof(t->name), "_%u._tcp.%.*s", port, (int)len, host);
    int e = ub_resolve_async(dns_resolver_ub(r), t->name, T_TLSA, 1, t, tlsa_cb, &t->id);
    if (e != 0) {
        log_warn("dns", "cannot query %s type TLSA: %s", t->name, ub_strerror(e));
        free(t);
        return -TERN_ERR_DNS;
    }
    *handle = t;
    return 0;
}

/* dns_tlsa_cancel - drop a lookup whose callback has not run: it never will */
void dns_tlsa_cancel(struct dns_resolver *r, struct dns_tlsa *t)
{
    if (!t)
        return;
    ub_cancel(dns_resolver_ub(r), t->id);
    free(t);
}
