/*
 * dconn_requiretls - may a REQUIRETLS message go over this connection, and where it goes when
 * it may not (RFC 8689 4.2.1)
 *
 * A message sent with REQUIRETLS goes only over TLS that was verified (DANE, or a name or
 * fingerprint the TLS policy asks for) to a host that offers REQUIRETLS after STARTTLS. When
 * the connection that picks such a job up falls short, the RFC says to QUIT and try the next
 * MX host; only when none is left does the message bounce (5.7.30). So the job is handed to a
 * successor: a new connection of the same destination that starts at the next address of
 * another host, holds the job (dconn.rtls_job) and starts it before anything else once READY.
 * The connection that fell short QUITs at once, which leaves its place under the
 * destination's concurrency limit to the successor; the destination's other jobs wait in its
 * queue as always.
 *
 * A successor that never reaches READY (its hosts refuse the connection, their TLS does not
 * verify) defers the job it holds with its reason, and leaves no verdict on the destination:
 * the preferred host still serves the other mail. The next retry starts from the first host
 * again. A successor that falls short as well hands the job on the same way, so a job walks
 * each MX host at most once per attempt.
 *
 * BOUNDS: the successor takes the place of the connection that QUITs under the destination's
 * limit, and its cluster lease once that one is gone; until its QUIT is answered (at most
 * DCONN_QUIT_GRACE_MS) the site sees both sockets.
 */
#include "core/delivery/delivery_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "core/base/log.h"

/* dconn_requiretls_ok - may a REQUIRETLS message go over c? If not, why into reason */
bool dconn_requiretls_ok(const struct dconn *c, char *reason, size_t len)
{
    if (!c->tls_verified) {
        snprintf(reason, len, "REQUIRETLS: the TLS connection to host %s[%s] was not %s", c->host,
                 c->addr, c->tls_up ? "verified" : "encrypted");
        return false;
    }
    if (!smtpc_offers(c->s, "REQUIRETLS")) {
        snprintf(reason, len, "REQUIRETLS support required, but not offered by host %s[%s]",
                 c->host, c->addr);
        return false;
    }
    return true;
}

/* next_host - the index of the first address after c's that belongs to another host, or naddr */
static size_t next_host(const struct dconn *c)
{
    const struct dest *dst = c->dst;
    size_t i = c->addr_index + 1;
    while (i < dst->naddr && strcasecmp(dst->addrs[i].host, c->host) == 0)
        i++;
    return i < dst->naddr ? i : dst->naddr;
}

/* dconn_requiretls_next - d, a REQUIRETLS job that c may not carry (reason says why), goes to a
 * successor at the next MX host and c QUITs: true. With no other host, d bounces with 5.7.30;
 * while shutting down it is deferred: false, c may take the next job. */
bool dconn_requiretls_next(struct dconn *c, struct queue_delivery *d, const char *reason)
{
    struct dest *dst = c->dst;
    struct delivery *dv = dst->dv;
    size_t idx = next_host(c);

    if (idx >= dst->naddr) {
        job_fail(dv, d, RCPT_BOUNCED, "5.7.30", reason);
        return false;
    }
    if (dv->shutting) {
        job_fail(dv, d, RCPT_DEFERRED, "4.3.0", "mail system is shutting down");
        return false;
    }
    log_info("smtp", "%s: %s: trying the next MX host", d->qid, reason);
    free(d->relay); /* not delivered at c's host: its result is the next host's */
    d->relay = NULL;
    /* c first: a successor that fails at once (every later host blocked by DANE or MTA-STS)
     * kicks the destination, and that must not hand c, still READY, a job to QUIT under */
    dconn_quit(c);
    struct dconn *n = dconn_alloc(dst, idx);
    if (!n) {
        job_fail(dv, d, RCPT_DEFERRED, "4.3.0", "out of memory");
        return true;
    }
    n->rtls_job = d;
    if (!dconn_connect(n)) {
        n->failed = n->connect_failed = true;
        n->state = DC_CLOSING;
        dconn_gone(n); /* defers d with n's reason */
    }
    return true;
}
