/*
 * NAME
 *	delivery_dane - DANE for outbound delivery (see delivery_dane.h)
 */
#include "core/delivery/delivery_dane.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "tls/tls_session.h"

/* fill - copy n RDATAs into one block and parse them; 0 or -ENOMEM */
static int fill(struct delivery_dane *t, const unsigned char *const *rdata, const size_t *len,
                size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += len[i];
    if (total && !(t->mem = malloc(total)))
        return -ENOMEM;
    t->memlen = total;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(t->mem + off, rdata[i], len[i]);
        if (tls_dane_parse(t->mem + off, len[i], &t->rr[t->n]) == 0)
            t->n++; /* a malformed RDATA (under 4 octets) is no record at all */
        off += len[i];
    }
    return 0;
}

/* delivery_dane_from_dns - the TLSA answer of one MX host, copied; 0 or -ENOMEM */
int delivery_dane_from_dns(struct delivery_dane **out, const struct dns_rr_result *res,
                           const char *base)
{
    struct delivery_dane *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    snprintf(t->base, sizeof(t->base), "%s", base ? base : "");
    if (res->status == DNS_TEMPFAIL) {
        t->state = DELIVERY_DANE_FAIL;
        snprintf(t->error, sizeof(t->error), "%s", res->error);
    } else if (!res->secure) {
        t->state = DELIVERY_DANE_INSECURE;
    } else if (res->status != DNS_OK || res->n == 0) {
        t->state = DELIVERY_DANE_NONE;
    } else {
        t->state = DELIVERY_DANE_RECORDS;
        if (fill(t, res->rdata, res->len, res->n) < 0) {
            free(t);
            return -ENOMEM;
        }
    }
    *out = t;
    return 0;
}

/* delivery_dane_dup - a copy owned by one attempt; 0 or -ENOMEM */
int delivery_dane_dup(struct delivery_dane **out, const struct delivery_dane *t)
{
    struct delivery_dane *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->state = t->state;
    memcpy(c->base, t->base, sizeof(c->base));
    memcpy(c->error, t->error, sizeof(c->error));
    if (t->memlen) {
        if (!(c->mem = malloc(t->memlen))) {
            free(c);
            return -ENOMEM;
        }
        memcpy(c->mem, t->mem, t->memlen);
        c->memlen = t->memlen;
    }
    for (size_t i = 0; i < t->n; i++) {
        c->rr[i] = t->rr[i];
        c->rr[i].data = c->mem + (t->rr[i].data - t->mem);
    }
    c->n = t->n;
    *out = c;
    return 0;
}

/* delivery_dane_free - NULL is fine */
void delivery_dane_free(struct delivery_dane *t)
{
    if (!t)
        return;
    free(t->mem);
    free(t);
}

/* usable - does the set hold a record an SMTP client may use? */
static bool usable(const struct delivery_dane *t)
{
    for (size_t i = 0; i < t->n; i++)
        if (tls_dane_usable(&t->rr[i]))
            return true;
    return false;
}

/* delivery_dane_level - the level an attempt at dane or dane-only gets; 0 or -EAGAIN with why */
int delivery_dane_level(enum tls_level level, bool addr_secure, const struct delivery_dane *t,
                        enum tls_level *out, char *why, size_t len)
{
    bool only = level == TLS_LEVEL_DANE_ONLY;
    const char *no = NULL;

    *out = level;
    if (level != TLS_LEVEL_DANE && !only)
        return 0;
    if (!addr_secure)
        no = "the MX or address records are not DNSSEC-validated";
    else if (!t) {
        /* validated, but no TLSA answer kept (out of memory, or the policy changed since the
         * lookup): never weaker than the records would have made it */
        snprintf(why, len, "no TLSA answer for a DNSSEC-validated host yet");
        return -EAGAIN;
    } else if (t->state == DELIVERY_DANE_FAIL) {
        snprintf(why, len, "TLSA lookup error: %s", t->error[0] ? t->error : "try again");
        return -EAGAIN;
    } else if (t->state == DELIVERY_DANE_INSECURE)
        no = "the TLSA records are not DNSSEC-validated";
    else if (t->state == DELIVERY_DANE_NONE)
        no = "no TLSA records";
    else if (!usable(t)) {
        if (only) {
            snprintf(why, len, "dane-only: no usable TLSA records");
            return -EAGAIN;
        }
        *out = TLS_LEVEL_ENCRYPT; /* RFC 7672 2.2: TLS, without authentication */
        return 0;
    } else {
        *out = TLS_LEVEL_DANE;
        return 0;
    }
    if (only) {
        snprintf(why, len, "dane-only: %s", no);
        return -EAGAIN;
    }
    *out = TLS_LEVEL_MAY;
    snprintf(why, len, "%s", no);
    return 0;
}

/* delivery_dane_digest - the records' digest (tls_dane_digest), for the session cache key */
int delivery_dane_digest(const struct delivery_dane *t, char out[17])
{
    return tls_dane_digest(t->rr, t->n, out);
}

/* delivery_dane_check - the handshake's chain against the usable records; 0 or -EACCES */
int delivery_dane_check(const struct delivery_dane *t, struct tls_session *s,
                        const char *const *refs, size_t nrefs, struct delivery_tls_status *st,
                        char *reason, size_t len)
{
    struct tls_dane_result r = {.status = TLS_DANE_FAIL};
    int rc = t ? tls_session_dane(s, t->rr, t->n, refs, nrefs, &r) : -EINVAL;
    if (rc < 0 || r.status != TLS_DANE_MATCH) {
        bool why = rc == 0 && r.why[0];
        snprintf(reason, len, "Server certificate not verified%s%s", why ? ": " : "",
                 why ? r.why : "");
        return -EACCES;
    }
    char rec[64];
    tls_dane_describe(&t->rr[r.rr], rec, sizeof(rec));
    st->matched = true;
    snprintf(st->match, sizeof(st->match), "TLSA %s (DANE-%s, depth %zu)", rec,
             t->rr[r.rr].usage == TLS_DANE_EE ? "EE" : "TA", r.depth);
    return 0;
}
