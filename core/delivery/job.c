/*
 * job - a job's results: recipient status, dsn and reason, the per-recipient
 * log line in Postfix's format with delays=a/b/c/d, and the hand-back to the
 * queue (queue_delivery_done). See delivery.c's header for the whole engine.
 */
#include "core/delivery/delivery_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base/log.h"
#include "core/base/time.h"

/* fmt_delay - seconds as Postfix logs them: two significant digits, at most two decimals */
static void fmt_delay(char *out, size_t len, double v)
{
    if (!(v > 0))
        v = 0;
    if (v >= 10)
        snprintf(out, len, "%.0f", v);
    else if (v >= 1)
        snprintf(out, len, "%.1f", v);
    else
        snprintf(out, len, "%.2f", v);
    if (strchr(out, '.')) {
        char *e = out + strlen(out) - 1;
        while (*e == '0')
            *e-- = 0;
        if (*e == '.')
            *e = 0;
    }
}

/* rcpt_set - record a result for one recipient (reason copied) */
static void rcpt_set(struct queue_delivery_rcpt *r, int status, const char *dsn, const char *reason)
{
    r->status = status;
    snprintf(r->dsn, sizeof(r->dsn), "%s", dsn);
    free(r->reason);
    r->reason = strdup(reason ? reason : "");
}

/* job_set_pending - give every recipient without a result this one */
void job_set_pending(struct queue_delivery *d, int status, const char *dsn, const char *reason)
{
    for (size_t i = 0; i < d->nrcpt; i++)
        if (d->rcpt[i].status == RCPT_PENDING)
            rcpt_set(&d->rcpt[i], status, dsn, reason);
}

/* job_finish - log every recipient, return the job to the queue */
void job_finish(struct delivery *dv, struct queue_delivery *d, double pickup, double setup)
{
    static const char *const status_name[] = {"deferred", "sent", "deferred", "bounced"};
    double now = time_now();
    char delay[32], a[32], b[32], c[32], dd[32];

    if (!d->relay)
        d->relay = strdup("none");
    if (pickup <= 0)
        pickup = now;
    if (setup < 0)
        setup = 0;
    fmt_delay(delay, sizeof(delay), now - d->arrival);
    fmt_delay(a, sizeof(a), d->queued - d->arrival);
    fmt_delay(b, sizeof(b), pickup - d->queued - setup);
    fmt_delay(c, sizeof(c), setup);
    fmt_delay(dd, sizeof(dd), now - pickup);
    for (size_t i = 0; i < d->nrcpt; i++) {
        struct queue_delivery_rcpt *r = &d->rcpt[i];
        if (r->status == RCPT_PENDING)
            rcpt_set(r, RCPT_DEFERRED, "4.3.0", "delivery status unknown");
        int st = r->status >= 0 && r->status <= RCPT_BOUNCED ? r->status : RCPT_DEFERRED;
        log_info("smtp",
                 "%s: to=<%s>, relay=%s, delay=%s, delays=%s/%s/%s/%s, dsn=%s, status=%s (%s)",
                 d->qid, r->addr, d->relay ? d->relay : "none", delay, a, b, c, dd, r->dsn,
                 status_name[st], r->reason ? r->reason : "");
    }
    d->owner_data = NULL;
    queue_delivery_done(dv->p.queue, d);
}

/* job_fail - a job that was never sent: every recipient gets this result */
void job_fail(struct delivery *dv, struct queue_delivery *d, int status, const char *dsn,
              const char *reason)
{
    job_set_pending(d, status, dsn, reason);
    job_finish(dv, d, 0, 0);
}

/* rcpt_in_domain - is the domain of addr (after its last '@') the name host? */
static bool rcpt_in_domain(const char *addr, const char *host)
{
    const char *at = strrchr(addr, '@');
    if (!at)
        return false;
    size_t dl = strlen(at + 1), hl = strlen(host);
    if (dl > 0 && at[1 + dl - 1] == '.')
        dl--;
    if (hl > 0 && host[hl - 1] == '.')
        hl--;
    return dl == hl && strncasecmp(at + 1, host, dl) == 0;
}

/* job_fail_notfound - DNS does not know dst->host: only a recipient of that very
 *	domain (MX lookup) bounces; a configured next hop ([host], or a host that is
 *	not the recipient's domain) defers, as Postfix treats it as a configuration
 *	error that must not turn into bounces */
void job_fail_notfound(struct dest *dst, struct queue_delivery *d, const char *reason)
{
    for (size_t i = 0; i < d->nrcpt; i++) {
        struct queue_delivery_rcpt *r = &d->rcpt[i];
        if (r->status != RCPT_PENDING)
            continue;
        if (!dst->no_mx && rcpt_in_domain(r->addr, dst->host))
            rcpt_set(r, RCPT_BOUNCED, "5.4.4", reason);
        else
            rcpt_set(r, RCPT_DEFERRED, "4.4.3", reason);
    }
    job_finish(dst->dv, d, 0, 0);
}

/* job_discard - the discard transport: every recipient is done */
void job_discard(struct delivery *dv, struct queue_delivery *d)
{
    for (size_t i = 0; i < d->nrcpt; i++)
        rcpt_set(&d->rcpt[i], RCPT_SENT, "2.0.0", "discarded");
    free(d->relay);
    d->relay = strdup("none");
    job_finish(dv, d, 0, 0);
}
