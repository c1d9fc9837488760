/*
 * NAME
 *	delivery - per-worker outbound delivery: destinations, connection pools
 * SYNOPSIS
 *	#include "core/delivery/delivery.h"
 * DESCRIPTION
 *	Destinations live in a chained hash table keyed by the next-hop key.
 *	Each has a FIFO of jobs (struct queue_delivery, linked through their
 *	owner_data field, so queueing never allocates), a list of connections,
 *	the addresses of its last lookup (cached DEST_DNS_TTL_MS) and a "dead"
 *	verdict: when every address failed, or DNS gave a final answer, the
 *	jobs queued now get that result, and so does every job that arrives
 *	within DEST_DEAD_HOLD_MS (the rest of the scheduler's burst). Later jobs
 *	try again: the queue's backoff decides when that is. A name that DNS
 *	does not know bounces (5.4.4) only the recipients of that very domain
 *	(MX lookup); for a configured next hop ([host], or a host that is not
 *	the recipient's domain) it is a configuration error and defers (4.4.3).
 *
 *	The job key "discard" (no port) is the discard transport's; every other
 *	key names a next hop with its port, so a host named "discard" is a host.
 *
 *	Loops (delivery/delivery_self.c): an address from a lookup, or a [numeric]
 *	next hop, that is one of tern's listeners or in proxy_interfaces is
 *	tern itself. As Postfix does, exchangers at tern's own preference and
 *	worse are dropped, and when nothing better is left the queue bounces
 *	5.4.6 "mail for X loops back to myself"; no connection is made.
 *
 *	SMTPUTF8 (delivery/delivery_utf8.c): a message received with SMTPUTF8 that
 *	needs it (UTF-8 in the envelope or the headers) bounces 5.6.7 at a
 *	server that does not offer SMTPUTF8; one that does not need it is sent
 *	there without the parameter.
 *
 *	A connection (struct dconn) goes CONNECTING -> HANDSHAKE -> READY <->
 *	BUSY -> QUITTING/CLOSING. It owns one struct conn, one smtpc session and
 *	one loop timer that serves as connect/command timeout, idle timer and
 *	QUIT grace timer depending on the state. It walks the address list from
 *	its start index: a refused connect tries the next address, a refused
 *	greeting or EHLO starts a replacement connection at the next address.
 *
 *	Slow start: while no connection of a destination has completed its
 *	handshake, at most one attempt is in flight, so a dead site costs one
 *	walk of its addresses per burst, not one per job. Once a connection is
 *	up, a new one is started whenever jobs wait and the number of
 *	connections is below the concurrency limit.
 *
 *	Loops are avoided: a connection that dies before completing any
 *	transaction, when no other connection of the destination is alive,
 *	makes the destination dead (its queue deferred with that reason)
 *	instead of triggering an immediate reconnect.
 *
 *	TLS (delivery/delivery_tls.c has the level, name and cache details): a
 *	connection takes the config generation in force when it starts and
 *	keeps it (contexts stay valid across a reload). Once connected, the
 *	level of the attempt comes from delivery_tls_resolve() (smtp_tls_policy_maps /
 *	smtp_tls_per_site for "[host]:port" or the domain, and the server's
 *	host name; else the global level); a table error or bad entry defers
 *	(4.3.0 / 4.7.5) before a byte is read or sent. At may and above the
 *	smtpc session sends STARTTLS when offered; on SMTPC_STARTTLS a client
 *	tls_session (SNI, cached session offered) is put on the conn; when the
 *	handshake is done the level is checked, and the session re-EHLOs.
 *	The session is saved to the cache after the first read that finds a
 *	resumable session (TLS 1.3 tickets follow the handshake). Failures:
 *	  - TLS required (encrypt and up) but not offered, STARTTLS refused,
 *	    or the certificate fails the level: QUIT, and the queue is deferred
 *	    with dsn 4.7.5 and Postfix's reason; no MAIL is ever sent;
 *	  - a failed handshake: the connection is dropped and the queue
 *	    deferred 4.7.5 "Cannot start TLS: handshake failure"; at may the
 *	    worker remembers it for DELIVERY_TLS_FAIL_HOLD_MS per destination and
 *	    address, and the next attempt there goes in plaintext;
 *	  - may with STARTTLS refused: the session goes on in plaintext.
 *	When such a failure at one address is followed by addresses that do
 *	not answer at all, the deferral keeps the first reason and dsn (a
 *	MUST site says "Server certificate not verified", not "Connection
 *	refused" from its IPv6 address).
 *
 *	Every finished job is logged per recipient in Postfix's format and
 *	handed back with queue_delivery_done(). delays=a/b/c/d: a = queued -
 *	arrival, b = time until this worker started the transaction minus c,
 *	c = connection setup (resolve, connect, greeting, EHLO) charged to the
 *	first job of a new connection, d = the transaction itself.
 * DIAGNOSTICS
 *	delivery_new() returns 0 or -ENOMEM. Everything else reports through
 *	the recipients' results and the log (component "smtp").
 */
#include "core/delivery/delivery_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/delivery/delivery_self.h"
#include "core/delivery/mtasts_fetch.h"
#include "core/base/hash.h"
#include "core/base/time.h"

/* delivery_grow - double the hash table when it gets crowded (failure is harmless) */
void delivery_grow(struct delivery *dv)
{
    size_t n = dv->nbucket * 2;
    struct dest **nb = calloc(n, sizeof(*nb));
    if (!nb)
        return;
    for (size_t i = 0; i < dv->nbucket; i++) {
        struct dest *dst = dv->bucket[i], *next;
        for (; dst; dst = next) {
            next = dst->hnext;
            size_t h = hash_fnv32_str(HASH_FNV32_START, dst->key) & (n - 1);
            dst->hnext = nb[h];
            nb[h] = dst;
        }
    }
    free(dv->bucket);
    dv->bucket = nb;
    dv->nbucket = n;
}

/* delivery_sweep - forget destinations nobody used for a while */
static void delivery_sweep(struct loop_timer *t)
{
    struct delivery *dv = (struct delivery *)((char *)t - offsetof(struct delivery, sweep));
    uint64_t now = time_mono_ms();

    for (size_t i = 0; i < dv->nbucket; i++) {
        struct dest **pp = &dv->bucket[i];
        while (*pp) {
            struct dest *dst = *pp;
            if (dst->nqueued == 0 && dst->nconns == 0 && !dst->resolving &&
                dst->last_used + DEST_IDLE_GC_MS < now) {
                *pp = dst->hnext;
                dv->ndest--;
                dest_free(dst);
                continue;
            }
            pp = &dst->hnext;
        }
    }
    if (dv->ndest > 0)
        loop_timer_arm(dv->p.loop, &dv->sweep, DELIVERY_SWEEP_MS);
}

/* delivery_new - an engine for the calling worker */
int delivery_new(struct delivery **out, const struct delivery_params *p)
{
    struct delivery *dv = calloc(1, sizeof(*dv));
    if (!dv)
        return -ENOMEM;
    dv->p = *p;
    dv->helo_name = strdup(p->helo_name ? p->helo_name : "localhost");
    dv->nbucket = 64;
    dv->bucket = calloc(dv->nbucket, sizeof(*dv->bucket));
    if (!dv->helo_name || !dv->bucket || delivery_tls_failmem_new(&dv->failmem) < 0)
        goto fail;
    dv->p.helo_name = dv->helo_name;
    if (dv->p.rt)
        runtime_ref(dv->p.rt);
    if (dv->p.connect_timeout <= 0)
        dv->p.connect_timeout = 30;
    if (dv->p.helo_timeout <= 0)
        dv->p.helo_timeout = 300;
    if (dv->p.data_done_timeout <= 0)
        dv->p.data_done_timeout = 600;
    if (dv->p.idle_time_limit < 0)
        dv->p.idle_time_limit = 0;
    loop_timer_init(&dv->sweep, delivery_sweep);
    *out = dv;
    return 0;
fail:
    delivery_tls_failmem_free(dv->failmem);
    free(dv->helo_name);
    free(dv->bucket);
    free(dv);
    return -ENOMEM;
}

/* delivery_set_self - tern's own addresses, for loop detection (the delivery takes me) */
void delivery_set_self(struct delivery *dv, struct delivery_self *me)
{
    delivery_self_free(dv->self);
    dv->self = me;
}

/* delivery_set_runtime - switch to a new config generation for new connections */
void delivery_set_runtime(struct delivery *dv, struct tern_runtime *rt)
{
    runtime_ref(rt);
    runtime_unref(dv->p.rt);
    dv->p.rt = rt;
}

/* delivery_enqueue - take a job from the scheduler (on the worker's thread) */
void delivery_enqueue(struct delivery *dv, struct queue_delivery *d)
{
    struct dest *dst;

    d->owner_data = NULL;
    for (size_t i = 0; i < d->nrcpt; i++)
        d->rcpt[i].status = RCPT_PENDING;
    if (dv->shutting) {
        job_fail(dv, d, RCPT_DEFERRED, "4.3.0", "mail system is shutting down");
        return;
    }
    if (!(dst = dest_for_job(dv, d))) {
        job_fail(dv, d, RCPT_DEFERRED, "4.3.0", "out of memory");
        return;
    }
    dst->last_used = time_mono_ms();
    if (dst->discard) {
        job_discard(dv, d);
        return;
    }
    if (dst->invalid) {
        char reason[400];
        snprintf(reason, sizeof(reason), "mail transport unavailable: bad next hop \"%.300s\"",
                 dst->key);
        job_fail(dv, d, RCPT_DEFERRED, "4.3.5", reason);
        return;
    }
    if (dst->dead_until && time_mono_ms() < dst->dead_until && dst->dead_reason) {
        dest_job_dead(dst, d);
        return;
    }
    dest_push(dst, d);
    dest_kick(dst);
}

/* delivery_shutdown - stop taking jobs: defer the queued ones, QUIT idle connections */
void delivery_shutdown(struct delivery *dv)
{
    if (dv->shutting)
        return;
    dv->shutting = true;
    for (size_t i = 0; i < dv->nbucket; i++) {
        for (struct dest *dst = dv->bucket[i]; dst; dst = dst->hnext) {
            dest_fail_queue(dst, RCPT_DEFERRED, "4.3.0", "mail system is shutting down");
            struct dconn *c = dst->conns, *next;
            for (; c; c = next) {
                next = c->next; /* c may go away below (never next: gone is async) */
                switch (c->state) {
                case DC_READY:
                    loop_timer_cancel(dv->p.loop, &c->timer);
                    dconn_quit(c);
                    break;
                case DC_CONNECTING:
                case DC_HANDSHAKE:
                    if (c->conn) {
                        c->state = DC_CLOSING;
                        loop_timer_cancel(dv->p.loop, &c->timer);
                        conn_abort(c->conn);
                    }
                    break;
                case DC_BUSY: /* finishes its transaction, then quits */
                case DC_QUITTING:
                case DC_CLOSING:
                    break;
                }
            }
        }
    }
    loop_timer_cancel(dv->p.loop, &dv->sweep);
}

/* delivery_busy - connections, lookups or jobs still outstanding */
bool delivery_busy(const struct delivery *dv)
{
    return dv && (dv->nconns > 0 || dv->nlookups > 0 || dv->njobs > 0);
}

/* delivery_free - release the engine; connections still open are left to process exit */
void delivery_free(struct delivery *dv)
{
    if (!dv)
        return;
    loop_timer_cancel(dv->p.loop, &dv->sweep);
    mtasts_fetch_free(dv->mtasts); /* a destination waiting for a fetch waits for ever */
    dv->mtasts = NULL;
    for (size_t i = 0; i < dv->nbucket; i++) {
        struct dest *dst = dv->bucket[i], *next;
        for (; dst; dst = next) {
            next = dst->hnext;
            /* Connections in flight still point here: keep such a destination. */
            if (dst->nconns > 0 || dst->resolving)
                continue;
            dest_free(dst);
        }
    }
    if (dv->nconns == 0 && dv->nlookups == 0) {
        runtime_unref(dv->p.rt);
        delivery_tls_failmem_free(dv->failmem);
        delivery_self_free(dv->self);
        free(dv->bucket);
        free(dv->helo_name);
        free(dv);
    }
}
