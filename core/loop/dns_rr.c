/*
 * NAME
 *	dns_rr - asynchronous lookups of one record type on a dns_resolver (see dns_rr.h)
 * DESCRIPTION
 *	The query goes to the resolver's unbound context; unbound calls back
 *	from ub_process(), which dns_resolver_process() runs on the resolver's
 *	thread, so the callback runs there too. The lookup object is freed
 *	right after the callback, or by dns_rr_cancel().
 */
#include "core/loop/dns_rr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unbound.h>

#include "core/base/error.h"
#include "core/base/log.h"

enum { RCODE_NXDOMAIN = 3 };

struct dns_rr {
    dns_rr_cb *cb;
    void *arg;
    int id; /* unbound's async id */
    enum dns_rr_type type;
    char name[DNS_RR_NAME_MAX];
};

/* type_name - for log lines */
static const char *type_name(enum dns_rr_type t)
{
    switch (t) {
    case DNS_RR_A:
        return "A";
    case DNS_RR_TXT:
        return "TXT";
    case DNS_RR_AAAA:
        return "AAAA";
    case DNS_RR_TLSA:
        return "TLSA";
    }
    return "?";
}

/* rr_cb - unbound's answer: hand it over, free the lookup */
static void rr_cb(void *arg, int err, struct ub_result *ans)
{
    struct dns_rr *q = arg;
    struct dns_rr_result res = {.status = DNS_TEMPFAIL};
    const char *why = "Host not found, try again";

    if (err != 0 || !ans) {
        log_warn("dns", "%s lookup of %s: %s", type_name(q->type), q->name, ub_strerror(err));
    } else if (ans->bogus) {
        log_warn("dns", "DNSSEC validation of %s type %s failed: %s", q->name, type_name(q->type),
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
            if (res.n == DNS_RR_MAX) {
                log_warn("dns", "%s: more than %d %s records, the rest ignored", q->name,
                         DNS_RR_MAX, type_name(q->type));
                break;
            }
            res.rdata[res.n] = (const unsigned char *)ans->data[i];
            res.len[res.n++] = (size_t)ans->len[i];
        }
    }
    res.secure = ans && !ans->bogus && ans->secure;
    if (res.status != DNS_OK)
        snprintf(res.error, sizeof(res.error),
                 "Host or domain name not found. Name service error for name=%s type=%s: %s",
                 q->name, type_name(q->type), why);
    q->cb(q->arg, &res);
    if (ans)
        ub_resolve_free(ans);
    free(q);
}

/* dns_rr_lookup - the records of type at name; *handle valid until the callback runs */
int dns_rr_lookup(struct dns_resolver *r, const char *name, enum dns_rr_type type, dns_rr_cb *cb,
                  void *arg, struct dns_rr **handle)
{
    size_t len = strlen(name);
    if (len == 0 || len >= DNS_RR_NAME_MAX)
        return -EINVAL;
    struct dns_rr *q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    q->cb = cb;
    q->arg = arg;
    q->type = type;
    memcpy(q->name, name, len + 1);
    int e = ub_resolve_async(dns_resolver_ub(r), q->name, (int)type, 1, q, rr_cb, &q->id);
    if (e != 0) {
        log_warn("dns", "cannot query %s type %s: %s", q->name, type_name(type), ub_strerror(e));
        free(q);
        return -TERN_ERR_DNS;
    }
    *handle = q;
    return 0;
}

/* dns_rr_cancel - drop a lookup whose callback has not run: it never will */
void dns_rr_cancel(struct dns_resolver *r, struct dns_rr *q)
{
    if (!q)
        return;
    ub_cancel(dns_resolver_ub(r), q->id);
    free(q);
}

/* dns_rr_tlsa_name - "_port._tcp.host", host without trailing dots; 0 or -EINVAL */
int dns_rr_tlsa_name(const char *host, unsigned port, char *out, size_t len)
{
    size_t n = strlen(host);
    while (n > 0 && host[n - 1] == '.')
        n--;
    if (n == 0 || n > 253 || port == 0 || port > 65535)
        return -EINVAL;
    int w = snprintf(out, len, "_%u._tcp.%.*s", port, (int)n, host);
    return w > 0 && (size_t)w < len ? 0 : -EINVAL;
}

/* dns_rr_txt - join the character-strings of one TXT RDATA into out; length or -EINVAL */
long dns_rr_txt(const unsigned char *rdata, size_t len, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t n = rdata[i++];
        if (n > len - i || o + n >= outlen)
            return -EINVAL;
        memcpy(out + o, rdata + i, n);
        o += n;
        i += n;
    }
    if (outlen == 0)
        return -EINVAL;
    out[o] = 0;
    return (long)o;
}
