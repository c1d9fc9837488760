/*
 * dconn - one outbound connection of a destination: CONNECTING ->
 * HANDSHAKE -> READY <-> BUSY -> QUITTING/CLOSING, its conn, its smtpc
 * session, STARTTLS and the TLS checks (through delivery_tls), its one
 * timer (connect/command timeout, idle, QUIT grace), and the address walk
 * on failure. See delivery.c's header for the whole engine.
 */
#include "core/delivery/delivery_impl.h"

#include "core/delivery/delivery_dane.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/delivery/delivery_auth.h"
#include "core/delivery/delivery_tlsrpt.h"
#include "core/delivery/delivery_utf8.h"
#include "policy/policy_mtasts.h"
#include "core/base/hostport.h"
#include "core/base/error.h"
#include "core/base/log.h"
#include "core/base/stats.h"
#include "core/base/time.h"
#include "tls/tls_session.h"

static void dconn_timer_cb(struct loop_timer *t);
static const struct conn_ops dconn_ops;

/* dconn_alloc - a new connection of dst that will start at address idx */
struct dconn *dconn_alloc(struct dest *dst, size_t idx)
{
    struct dconn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->dst = dst;
    c->addr_index = idx;
    c->state = DC_CONNECTING;
    c->rt = dst->dv->p.rt ? runtime_ref(dst->dv->p.rt) : NULL;
    c->tls_level = delivery_tls_level(c->rt);
    c->t_start = dst->t_lookup > 0 ? dst->t_lookup : time_now();
    c->t_open = time_now();
    dst->t_lookup = 0;
    loop_timer_init(&c->timer, dconn_timer_cb);
    c->next = dst->conns;
    dst->conns = c;
    dst->nconns++;
    dst->dv->nconns++;
    return c;
}

/* dconn_set_reason - remember why the connection failed */
static void dconn_set_reason(struct dconn *c, const char *reason)
{
    char *copy = strdup(reason);
    if (!copy)
        return;
    free(c->reason);
    c->reason = copy;
}

/* dconn_tlsrpt - TLS-RPT: count this session under its DANE or MTA-STS (enforce) policy, if any
 * (result NULL: a success); host and addr name the MX host */
static void dconn_tlsrpt(const struct dconn *c, bool sts, const char *result, const char *host,
                         const char *addr)
{
    const struct tern_tls *t = c->rt ? c->rt->tls : NULL;
    struct tls_cache *tc = t && t->caches ? t->caches->client : NULL;
    if (!tc)
        return;
    if (sts)
        delivery_tlsrpt_note(tc, "sts", c->dst->host, c->dst->sts, result, host, addr);
    else if (c->tls_level == TLS_LEVEL_DANE && c->dane)
        delivery_tlsrpt_note(tc, "tlsa", c->dst->host, NULL, result, host, addr);
}

/* dconn_connect - try addresses from c->addr_index on; false when none is left */
bool dconn_connect(struct dconn *c)
{
    struct dest *dst = c->dst;
    struct delivery *dv = dst->dv;
    char reason[512];

    for (; c->addr_index < dst->naddr; c->addr_index++) {
        const struct dest_addr *a = &dst->addrs[c->addr_index];
        struct sockaddr_storage ss;
        socklen_t sl;
        if (hostport_sockaddr(a->addr, dst->port, &ss, &sl) < 0)
            continue;
        bool sts_blocked = false;
        if (dest_dane_blocked(a, reason, sizeof(reason)) ||
            (sts_blocked = dest_mtasts_blocked(dst, a, reason, sizeof(reason)))) {
            if (sts_blocked)
                dconn_tlsrpt(c, true, "validation-failure", a->host, a->addr);
            /* RFC 7672 2.2, RFC 8461 4.1: not this host; the next one, or defer with this reason */
            log_info("smtp", "%s[%s]:%d: %s", a->host, a->addr, dst->port, reason);
            if (!c->prior_reason && (c->prior_reason = strdup(reason)))
                c->prior_dsn = "4.7.5";
            continue;
        }
        int rc = conn_connect(&c->conn, dv->p.loop, (struct sockaddr *)&ss, sl,
                              (unsigned)dv->p.connect_timeout * 1000u, &dconn_ops, c);
        if (rc == 0)
            return true;
        c->conn = NULL;
        snprintf(reason, sizeof(reason), "connect to %s[%s]:%d: %s", a->host, a->addr, dst->port,
                 strerror(-rc));
        dconn_set_reason(c, reason);
    }
    return false;
}

/* dconn_gone - the connection is over: free it, then decide what the queue needs */
void dconn_gone(struct dconn *c)
{
    struct dest *dst = c->dst;
    struct delivery *dv = dst->dv;
    bool failed = c->failed, setup_failed = c->failed && !c->was_ready;
    bool connect_failed = c->connect_failed;
    const char *fail_dsn = c->fail_dsn ? c->fail_dsn : "4.4.2"; /* static strings */
    int ntxn = c->ntxn;
    size_t next_index = c->addr_index + 1;
    char *reason = c->reason;
    char *prior_reason = c->prior_reason;
    const char *prior_dsn = c->prior_dsn;
    struct queue_delivery *handed = c->rtls_job; /* a successor that never got ready */

    /* The later addresses did not answer: the earlier failure (a TLS policy failure, a
     * refused greeting) says more about the site than "connection refused". */
    if (connect_failed && prior_reason) {
        free(reason);
        reason = prior_reason;
        fail_dsn = prior_dsn ? prior_dsn : "4.4.2";
        connect_failed = false;
        prior_reason = NULL;
    }

    loop_timer_cancel(dv->p.loop, &c->timer);
    for (struct dconn **pp = &dst->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    dst->nconns--;
    dv->nconns--;
    smtpc_free(c->s);
    delivery_auth_free(c->auth);
    policy_tls_site_release(&c->tls_site);
    delivery_dane_free(c->dane);
    runtime_unref(c->rt);
    free(c->body);
    free(c);
    dst->last_used = time_mono_ms();
    if (!dv->shutting)
        dest_share_kick(dst); /* first: a sibling waiting for the slot gets it */

    /* A successor for a REQUIRETLS job (dconn_requiretls.c) that never got ready defers the job
     * and leaves no verdict on the site: the other mail stays with the preferred host. */
    if (handed) {
        const char *why = reason ? reason : "REQUIRETLS: the next MX host could not be reached";
        if (dv->shutting)
            why = "mail system is shutting down";
        job_fail(dv, handed, RCPT_DEFERRED, connect_failed ? "4.4.1" : fail_dsn, why);
        failed = false;
    }

    if (dv->shutting || dst->nqueued == 0 || !failed) {
        if (!dv->shutting)
            dest_kick(dst);
        free(reason);
        free(prior_reason);
        return;
    }
    /* Someone else is (or may soon be) serving the queue. */
    if (dest_alive(dst, NULL) > 0) {
        free(reason);
        free(prior_reason);
        return;
    }
    if (setup_failed && !connect_failed && next_index < dst->naddr) {
        /* Greeting or EHLO refused: try the next address, like Postfix. */
        struct dconn *n = dconn_alloc(dst, next_index);
        if (n) {
            dconn_set_reason(n, reason);
            n->prior_reason = prior_reason ? prior_reason : strdup(reason ? reason : "");
            n->prior_dsn = prior_reason ? prior_dsn : fail_dsn;
            prior_reason = NULL;
            if (dconn_connect(n)) {
                free(reason);
                free(prior_reason);
                return;
            }
            n->failed = n->connect_failed = true;
            n->state = DC_CLOSING;
            dconn_gone(n);
            free(reason);
            free(prior_reason);
            return;
        }
    }
    if (ntxn > 0) {
        /* It did work before: one fresh try. */
        free(reason);
        free(prior_reason);
        dest_kick(dst);
        return;
    }
    if (connect_failed)
        dest_set_dead(dst, RCPT_DEFERRED, "4.4.1", reason ? reason : "no usable address");
    else
        dest_set_dead(dst, RCPT_DEFERRED, fail_dsn, reason ? reason : "lost connection");
    free(reason);
    free(prior_reason);
}

/* dconn_close - end the connection (politely unless abort); dconn_gone() follows */
static void dconn_close(struct dconn *c, bool abort)
{
    struct delivery *dv = c->dst->dv;

    loop_timer_cancel(dv->p.loop, &c->timer);
    c->state = DC_CLOSING;
    if (!c->conn) {
        dconn_gone(c);
        return;
    }
    if (abort)
        conn_abort(c->conn);
    else
        conn_close(c->conn);
}

/* dconn_host - "host[addr]" of the peer, for reasons */
static void dconn_host(const struct dconn *c, char *out, size_t len)
{
    const char *end = strrchr(c->peer, ']');
    int n = end ? (int)(end - c->peer) + 1 : (int)strlen(c->peer);
    snprintf(out, len, "%.*s", n, c->peer);
}

/* dconn_end_job - the open transaction is over (results filled in): return it */
static void dconn_end_job(struct dconn *c)
{
    struct queue_delivery *d = c->job;
    double setup = 0;

    if (!d)
        return;
    if (c->fresh) {
        setup = c->t_ready - c->t_start;
        if (setup > c->t_pickup - d->dispatched)
            setup = c->t_pickup - d->dispatched;
        c->fresh = false;
    }
    c->job = NULL;
    free(c->body);
    c->body = NULL;
    c->blen = 0;
    job_finish(c->dst->dv, d, c->t_pickup, setup);
}

/* dconn_fail - the connection is unusable: defer the open job, close */
static void dconn_fail(struct dconn *c, const char *reason, bool abort)
{
    if (c->state == DC_CLOSING)
        return;
    if (c->s)
        smtpc_fail_open(c->s, reason);
    if (c->job)
        job_set_pending(c->job, RCPT_DEFERRED, "4.4.2", reason);
    dconn_end_job(c);
    dconn_set_reason(c, reason);
    c->failed = true;
    dconn_close(c, abort);
}

/* dconn_quit - say QUIT and wait briefly for the reply */
void dconn_quit(struct dconn *c)
{
    struct delivery *dv = c->dst->dv;

    if (!c->conn || !c->s) {
        dconn_close(c, true);
        return;
    }
    smtpc_quit(c->s, conn_out(c->conn));
    conn_flush(c->conn);
    c->state = DC_QUITTING;
    loop_timer_arm(dv->p.loop, &c->timer, DCONN_QUIT_GRACE_MS);
}

/* dconn_reusable - may this connection take another job? Not after reuse_count_limit jobs, not
 * after it has been open reuse_time_limit (Postfix's smtp_connection_reuse_time_limit), and not
 * when it belongs to an older config generation: after a reload a busy connection finishes its
 * job with the TLS policy it was opened with, then goes; new jobs get the new policy. */
static bool dconn_reusable(const struct dconn *c)
{
    const struct delivery *dv = c->dst->dv;
    if (dv->p.reuse_count_limit > 0 && c->ntxn >= dv->p.reuse_count_limit)
        return false;
    if (dv->p.reuse_time_limit > 0 && time_now() - c->t_open >= dv->p.reuse_time_limit)
        return false;
    return c->rt == dv->p.rt;
}

/* dconn_start - start job d on c (READY): true when c took it, or can take nothing more; false
 * when d got its result here and c may take the next */
static bool dconn_start(struct dconn *c, struct queue_delivery *d)
{
    struct delivery *dv = c->dst->dv;
    char reason[600];
    char *body = NULL;
    size_t blen = 0;
    int rc = queue_store_body_load(dv->p.queue, d->qid, &body, &blen);
    if (rc < 0) {
        snprintf(reason, sizeof(reason), "cannot read message content: %s", error_str(rc));
        job_fail(dv, d, RCPT_DEFERRED, "4.3.0", reason);
        return false;
    }
    free(d->relay);
    d->relay = strdup(c->peer);
    c->t_pickup = time_now();
    if (d->smtputf8 && !smtpc_offers(c->s, "SMTPUTF8") && delivery_utf8_needed(d, body, blen)) {
        /* RFC 6531 3.4 and Postfix: no silent downgrade of what needs UTF-8 */
        free(body);
        snprintf(reason, sizeof(reason), "SMTPUTF8 is required, but was not offered by host %s[%s]",
                 c->host, c->addr);
        job_fail(dv, d, RCPT_BOUNCED, "5.6.7", reason);
        return false;
    }
    if (d->requiretls && !dconn_requiretls_ok(c, reason, sizeof(reason))) {
        free(body);
        return dconn_requiretls_next(c, d, reason);
    }
    rc = smtpc_send(c->s, d, body, blen, conn_out(c->conn));
    if (rc == 0) {
        c->job = d;
        c->body = body;
        c->blen = blen;
        c->state = DC_BUSY;
        loop_timer_arm(dv->p.loop, &c->timer, (uint64_t)dv->p.data_done_timeout * 1000u);
        conn_flush(c->conn);
        return true;
    }
    free(body);
    if (rc == -EINVAL) {
        job_fail(dv, d, RCPT_BOUNCED, "5.1.3",
                 "bad address syntax: sender, recipient or parameter contains a control "
                 "character");
        return false;
    }
    if (rc == -ENOMEM) {
        job_fail(dv, d, RCPT_DEFERRED, "4.3.0", "out of memory");
        return false;
    }
    /* The server talked out of turn: the session is unusable. */
    snprintf(reason, sizeof(reason), "%s", smtpc_error(c->s));
    job_fail(dv, d, RCPT_DEFERRED, "4.4.2", reason);
    dconn_fail(c, reason, true);
    return true;
}

/* dconn_take_next - READY: start the job handed over, else the next queued job, or idle */
void dconn_take_next(struct dconn *c)
{
    struct dest *dst = c->dst;
    struct delivery *dv = dst->dv;
    struct queue_delivery *d = c->rtls_job;

    c->rtls_job = NULL; /* a REQUIRETLS job an earlier MX host could not carry: first */
    if (d && dconn_start(c, d))
        return;
    if (dv->shutting || !dconn_reusable(c) || dest_share_yield(c)) {
        dconn_quit(c);
        if (!dv->shutting)
            dest_kick(dst);
        return;
    }
    while (dst->nqueued > 0 && dest_rate_take(dst) && (d = dest_pop(dst)) != NULL)
        if (dconn_start(c, d))
            return;
    c->state = DC_READY;
    loop_timer_arm(dv->p.loop, &c->timer, (uint64_t)dv->p.idle_time_limit * 1000u);
}

/* dconn_mtasts_level - the destination's MTA-STS policy for this attempt, unless DANE or a
 * per-site table decided the level: enforce makes it secure with the MX host name the only
 * reference name (RFC 8461 4.1); testing only notes that what fails is to be logged */
static void dconn_mtasts_level(struct dconn *c)
{
    const struct dest *dst = c->dst;
    c->sts = c->sts_testing = false;
    if (!dst->sts || c->tls_level == TLS_LEVEL_DANE || c->tls_level == TLS_LEVEL_DANE_ONLY ||
        c->tls_site.table)
        return;
    if (dst->sts->mode != POLICY_MTASTS_ENFORCE) {
        c->sts_testing = true;
        return;
    }
    c->sts = true;
    c->tls_level = TLS_LEVEL_SECURE;
    if (c->rt->tls->smtp_loglevel >= 1)
        log_info("smtp", "%s: MTA-STS policy of %s (enforce): TLS level secure, match %s", c->peer,
                 dst->host, c->host);
}

/* dconn_mtasts_testing - MTA-STS testing (RFC 8461 5): what enforce would have refused here is
 * logged, and the mail goes on as it would without a policy */
static void dconn_mtasts_testing(const struct dconn *c)
{
    const struct dest *dst = c->dst;
    struct tls_session *ts = c->tls_up ? conn_tls(c->conn) : NULL;
    const struct tls_info *info = ts ? tls_session_info(ts) : NULL;
    const char *host = c->host, *why = NULL, *type = NULL;
    if (!policy_mtasts_mx_match(dst->sts, c->host))
        why = "the MX host is not one the policy names", type = "validation-failure";
    else if (!info)
        why = "no TLS", type = "starttls-not-supported";
    else if (!info->peer_trusted)
        why = "the certificate is not trusted", type = "certificate-not-trusted";
    else if (tls_session_peer_match(ts, &host, 1) != 1)
        why = "the certificate does not name the MX host", type = "certificate-host-mismatch";
    if (why)
        log_warn("smtp", "%s: MTA-STS policy of %s (testing) not met: %s; delivering all the same",
                 c->peer, dst->host, why);
    dconn_tlsrpt(c, true, type, c->host, c->addr);
}

/* dconn_tls_peer - the names of this connection's peer, for TLS */
static void dconn_tls_peer(const struct dconn *c, struct delivery_tls_peer *p)
{
    p->nexthop = c->dst->host;
    p->host = c->host;
    p->addr = c->addr;
    p->port = c->dst->port;
    p->tlsa = c->dane && c->tlsa_digest[0] ? c->tlsa_digest : NULL;
    p->sts = c->sts;
}

/* dconn_tls_failed - the handshake failed: drop the connection, defer; may: plaintext next time */
static void dconn_tls_failed(struct dconn *c, const char *detail)
{
    struct delivery *dv = c->dst->dv;

    c->tls_handshaking = false;
    stats_inc(STAT_TLS_OUT_FAILED);
    log_info("smtp", "SSL_connect error to %s: %s", c->peer, detail && *detail ? detail : "-1");
    /* A cached session that was offered may be what the server choked on. */
    delivery_tls_forget(c->rt ? c->rt->tls : NULL, c->tls_key);
    if (c->tls_level == TLS_LEVEL_MAY)
        delivery_tls_failmem_add(dv->failmem, c->dst->key, c->addr,
                                 time_mono_ms() + DELIVERY_TLS_FAIL_HOLD_MS);
    c->fail_dsn = "4.7.5";
    dconn_fail(c, "Cannot start TLS: handshake failure", true);
}

/* dconn_tls_done - the handshake is over: check the level, then EHLO again inside TLS */
static void dconn_tls_done(struct conn *conn, void *owner, int err)
{
    struct dconn *c = owner;
    struct delivery *dv = c->dst->dv;
    struct tls_session *ts = conn_tls(conn);
    const struct tern_tls *t = c->rt ? c->rt->tls : NULL;
    const struct tls_info *info;
    struct delivery_tls_status st;
    struct delivery_tls_peer p;
    char reason[300];

    if (c->state == DC_CLOSING || !c->tls_handshaking)
        return;
    c->tls_handshaking = false;
    if (err < 0 || !ts || !(info = tls_session_info(ts))) {
        dconn_tls_failed(c, ts ? tls_session_error(ts) : NULL);
        return;
    }
    stats_inc(info->reused ? STAT_TLS_OUT_RESUMED : STAT_TLS_OUT_FULL);
    dconn_tls_peer(c, &p);
    int rc = delivery_tls_check(c->tls_level, &c->tls_site, c->dane, ts, &p, &st, reason,
                                sizeof(reason));
    delivery_tls_log_established(t, ts, &p, &st);
    if (c->sts || c->tls_level == TLS_LEVEL_DANE)
        dconn_tlsrpt(c, c->sts,
                     rc == 0                          ? NULL
                     : c->tls_level == TLS_LEVEL_DANE ? "tlsa-invalid"
                     : st.trusted                     ? "certificate-host-mismatch"
                                                      : "certificate-not-trusted",
                     c->host, c->addr);
    if (rc == 0 && st.match[0] && t && t->smtp_loglevel >= 1 &&
        (c->rt->tls_sites_tables || c->tls_level == TLS_LEVEL_DANE))
        log_info("smtp", "%s: tls=%s, match %s", c->peer, tlsconf_level_name(c->tls_level),
                 st.match);
    if (rc < 0) {
        if (t && t->smtp_loglevel >= 1)
            log_info("smtp", "%s: %s%s%s", c->peer, reason, info->verify_error[0] ? ": " : "",
                     info->verify_error);
        c->fail_dsn = "4.7.5";
        smtpc_quit(c->s, conn_out(conn)); /* inside TLS: nothing else is said */
        dconn_fail(c, reason, false);
        return;
    }
    c->tls_up = true;
    c->tls_verified = st.matched;
    if (smtpc_tls_started(c->s, conn_out(conn)) < 0) {
        dconn_fail(c, "out of memory", true);
        return;
    }
    conn_flush(conn);
    loop_timer_arm(dv->p.loop, &c->timer, (uint64_t)dv->p.helo_timeout * 1000u);
}

/* dconn_starttls - the server said 220 to STARTTLS: start the handshake */
static void dconn_starttls(struct dconn *c)
{
    struct delivery *dv = c->dst->dv;
    struct tls_session *ts = NULL;
    struct delivery_tls_peer p;

    dconn_tls_peer(c, &p);
    if (!c->rt || delivery_tls_session_new(&ts, c->rt->tls, c->tls_level, &p, &c->tls_site,
                                           c->tls_key, sizeof(c->tls_key)) < 0) {
        c->fail_dsn = "4.7.5";
        dconn_fail(c, "Cannot start TLS: cannot create a TLS session", true);
        return;
    }
    c->tls_handshaking = true;
    loop_timer_arm(dv->p.loop, &c->timer, (uint64_t)dv->p.helo_timeout * 1000u);
    /* done() may run before this returns (an immediate failure); it copes with that. */
    if (conn_start_tls(c->conn, ts, dconn_tls_done) < 0) {
        tls_session_free(ts);
        dconn_tls_failed(c, "cannot start TLS on the connection");
    }
}

/* dconn_tls_save - store the session once it is resumable (TLS 1.3: after the ticket) */
static void dconn_tls_save(struct dconn *c)
{
    struct tls_session *ts = c->conn ? conn_tls(c->conn) : NULL;
    const struct tls_info *info;

    if (!c->tls_up || c->tls_saved || !ts || !(info = tls_session_info(ts)))
        return;
    /* A resumed TLS 1.2 session is the one already cached; TLS 1.3 brings a fresh ticket. */
    if (info->reused && strcmp(info->protocol, "TLSv1.3") != 0) {
        c->tls_saved = true;
        return;
    }
    int rc = delivery_tls_save(c->rt->tls, ts, c->tls_key);
    if (rc != 0) {
        c->tls_saved = true;
        if (rc < 0)
            log_warn("smtp", "cannot cache the TLS session of %s: %s", c->peer, error_str(rc));
    }
}

/* dconn_event - act on what the protocol engine says */
static void dconn_event(struct dconn *c, enum smtpc_event ev)
{
    struct delivery *dv = c->dst->dv;
    char reason[600];

    switch (ev) {
    case SMTPC_NEED_MORE:
        if (c->state == DC_HANDSHAKE)
            loop_timer_arm(dv->p.loop, &c->timer, (uint64_t)dv->p.helo_timeout * 1000u);
        else if (c->state == DC_BUSY)
            loop_timer_arm(dv->p.loop, &c->timer, (uint64_t)dv->p.data_done_timeout * 1000u);
        break;
    case SMTPC_NO_TLS:
        if (c->sts || c->tls_level == TLS_LEVEL_DANE)
            dconn_tlsrpt(c, c->sts, "starttls-not-supported", c->host, c->addr);
        if (c->tls_level >= TLS_LEVEL_ENCRYPT) {
            /* Not offered, or refused: say QUIT, send nothing else in the clear. */
            snprintf(reason, sizeof(reason), "%s", smtpc_error(c->s));
            c->fail_dsn = "4.7.5";
            smtpc_quit(c->s, conn_out(c->conn));
            dconn_fail(c, reason, false);
            break;
        }
        /* may: STARTTLS refused, go on in plaintext. */
        if (c->rt && c->rt->tls->smtp_loglevel >= 1)
            log_info("smtp", "%s: %s; continuing in plaintext", c->peer, smtpc_error(c->s));
        /* fall through */
    case SMTPC_READY:
        if (c->state != DC_HANDSHAKE)
            break;
        if (!smtpc_tls_active(c->s) && smtpc_starttls_offered(c->s) && c->rt &&
            c->rt->tls->smtp_note_starttls_offer)
            log_info("smtp", "Host offered STARTTLS: [%s]", c->host);
        if (c->sts_testing)
            dconn_mtasts_testing(c);
        c->t_ready = time_now();
        c->fresh = true;
        c->was_ready = true;
        dconn_take_next(c);
        /* A pool that just proved the site works may grow now. */
        dest_kick(c->dst);
        break;
    case SMTPC_TXN_DONE:
        c->ntxn++;
        dconn_end_job(c);
        dconn_take_next(c);
        break;
    case SMTPC_FAILED:
        snprintf(reason, sizeof(reason), "%s", smtpc_error(c->s));
        if (smtpc_auth_failed(c->s))
            c->fail_dsn = "4.7.0"; /* deferred, as Postfix with smtp_sasl_auth_soft_bounce */
        if (!reason[0])
            dconn_host(c, reason, sizeof(reason));
        /* After a refused greeting Postfix says QUIT; so do we, then close. */
        if (c->job)
            job_set_pending(c->job, RCPT_DEFERRED, "4.4.2", reason);
        dconn_end_job(c);
        smtpc_quit(c->s, conn_out(c->conn));
        dconn_fail(c, reason, false);
        break;
    case SMTPC_CLOSED:
        dconn_close(c, false);
        break;
    case SMTPC_STARTTLS:
        dconn_starttls(c);
        break;
    }
}

/* dconn_data - server bytes */
static void dconn_data(struct conn *conn, void *owner, const char *data, size_t len)
{
    struct dconn *c = owner;
    if (!c->s || c->state == DC_CLOSING)
        return;
    if (c->tls_up && !c->tls_saved)
        dconn_tls_save(c); /* the ticket, if any, came before these bytes */
    enum smtpc_event ev = smtpc_input(c->s, data, len, conn_out(conn));
    if (c->state == DC_QUITTING) {
        /* 221, or anything else: we are leaving anyway. */
        if (ev != SMTPC_NEED_MORE)
            dconn_close(c, false);
        return;
    }
    dconn_event(c, ev);
    if (c->conn && c->state != DC_CLOSING)
        conn_flush(c->conn);
}

/* dconn_closed - the socket is gone */
static void dconn_closed(struct conn *conn, void *owner, int err)
{
    struct dconn *c = owner;
    char host[400], reason[600];

    c->conn = NULL;
    if (c->state == DC_CLOSING || c->state == DC_QUITTING) {
        dconn_gone(c);
        return;
    }
    if (c->tls_handshaking) {
        dconn_tls_failed(c, err < 0 ? strerror(-err) : "lost connection during the handshake");
        return;
    }
    dconn_host(c, host, sizeof(host));
    if (err < 0)
        snprintf(reason, sizeof(reason), "lost connection with %s: %s", host, strerror(-err));
    else
        snprintf(reason, sizeof(reason), "lost connection with %s", host);
    if (c->state == DC_READY && !c->job) {
        /* An idle connection closed by the server: nothing lost. */
        c->state = DC_CLOSING;
        dconn_gone(c);
        return;
    }
    dconn_fail(c, reason, true); /* no conn: goes straight to dconn_gone() */
}

/* dconn_dane_level - at dane or dane-only, the level this host gets (delivery_dane.h) and its
 * records; false when the attempt is deferred (done here) */
static bool dconn_dane_level(struct dconn *c, const struct dest_addr *a)
{
    enum tls_level level;
    char why[300] = "", reason[400];

    delivery_dane_free(c->dane);
    c->dane = NULL;
    if (c->tls_level != TLS_LEVEL_DANE && c->tls_level != TLS_LEVEL_DANE_ONLY)
        return true;
    if (delivery_dane_level(c->tls_level, a->secure, a->dane, &level, why, sizeof(why)) < 0) {
        c->fail_dsn = "4.7.5";
        snprintf(reason, sizeof(reason), "TLS is required, but %s", why);
        log_info("smtp", "%s: %s", c->peer, reason);
        dconn_fail(c, reason, true);
        return false;
    }
    c->tlsa_digest[0] = 0;
    if (level == TLS_LEVEL_DANE && (delivery_dane_dup(&c->dane, a->dane) < 0 ||
                                    delivery_dane_digest(c->dane, c->tlsa_digest) < 0)) {
        dconn_fail(c, "out of memory", true);
        return false;
    }
    if (why[0] && c->rt->tls->smtp_loglevel >= 1)
        log_info("smtp", "%s: dane: %s: TLS level %s", c->peer, why, tlsconf_level_name(level));
    c->tls_level = level;
    return true;
}

/* dconn_connected - the TCP connect finished */
static void dconn_connected(struct conn *conn, void *owner, int err)
{
    struct dconn *c = owner;
    struct dest *dst = c->dst;
    struct delivery *dv = dst->dv;
    char reason[600];

    if (err < 0) {
        const struct dest_addr *a = &dst->addrs[c->addr_index];
        c->conn = NULL;
        snprintf(reason, sizeof(reason), "connect to %s[%s]:%d: %s", a->host, a->addr, dst->port,
                 strerror(-err));
        dconn_set_reason(c, reason);
        if (!dv->shutting) {
            c->addr_index++;
            if (dconn_connect(c))
                return;
        }
        c->failed = c->connect_failed = true;
        c->state = DC_CLOSING;
        dconn_gone(c);
        return;
    }
    const struct dest_addr *a = &dst->addrs[c->addr_index];
    snprintf(c->peer, sizeof(c->peer), "%s[%s]:%d", a->host, a->addr, dst->port);
    snprintf(c->host, sizeof(c->host), "%s", a->host);
    snprintf(c->addr, sizeof(c->addr), "%s", a->addr);
    stats_inc(STAT_OUT_CONNECTIONS);
    /* The level of this attempt: per-site policy for the next hop and this server. */
    struct delivery_tls_peer tp;
    dconn_tls_peer(c, &tp);
    policy_tls_site_release(&c->tls_site);
    if (dest_tls_resolve(c->rt, dst, &tp, &c->tls_site, &c->tls_level) < 0) {
        /* Defer; nothing is said on the connection. */
        c->fail_dsn = strcmp(c->tls_site.dsn, "4.3.0") == 0 ? "4.3.0" : "4.7.5";
        snprintf(reason, sizeof(reason), "%s",
                 c->tls_site.why[0] ? c->tls_site.why : "client TLS policy problem");
        log_warn("smtp", "%s: %s", c->peer, reason);
        dconn_fail(c, reason, true);
        return;
    }
    delivery_tls_log_policy(c->rt, c->peer, c->tls_level, &c->tls_site);
    if (!dconn_dane_level(c, a)) /* dane, dane-only: what DNSSEC said about this host */
        return;
    dconn_mtasts_level(c);
    /* may, after a failed handshake here: plaintext this time (Postfix's retry). */
    bool plain_retry = c->tls_level == TLS_LEVEL_MAY &&
                       delivery_tls_failmem_has(dv->failmem, dst->key, c->addr, time_mono_ms());
    if (plain_retry && c->rt->tls->smtp_loglevel >= 1)
        log_info("smtp", "%s: TLS handshake failed recently, trying plaintext", c->peer);
    /* SASL: credentials for this server or next hop (smtp_sasl_password_maps) */
    delivery_auth_free(c->auth);
    c->auth = NULL;
    int arc = c->rt ? delivery_auth_new(&c->auth, c->rt->auth, dst->key, c->host) : 0;
    if (arc < 0) {
        c->fail_dsn = "4.3.0";
        snprintf(reason, sizeof(reason), "smtp_sasl_password_maps lookup error for %s: %s", c->peer,
                 error_str(arc));
        log_warn("smtp", "%s", reason);
        dconn_fail(c, reason, true);
        return;
    }
    struct smtpc_params sp = {
        .helo_name = dv->helo_name,
        .peer_name = c->peer,
        .pipelining = dv->p.pipelining,
        .starttls = c->tls_level >= TLS_LEVEL_MAY && !plain_retry,
        .require_tls = c->tls_level >= TLS_LEVEL_ENCRYPT,
        .auth = c->auth ? delivery_auth_hooks(c->auth) : NULL,
    };
    if (smtpc_new(&c->s, &sp) < 0) {
        c->s = NULL;
        dconn_fail(c, "out of memory", true);
        return;
    }
    if (dv->shutting) {
        dconn_close(c, true);
        return;
    }
    c->state = DC_HANDSHAKE;
    loop_timer_arm(dv->p.loop, &c->timer, (uint64_t)dv->p.helo_timeout * 1000u);
}

/* dconn_timer_cb - connect/command timeout, idle expiry, QUIT grace */
static void dconn_timer_cb(struct loop_timer *t)
{
    struct dconn *c = (struct dconn *)((char *)t - offsetof(struct dconn, timer));
    char host[400], reason[600];

    switch (c->state) {
    case DC_READY:
        dconn_quit(c);
        break;
    case DC_QUITTING:
        dconn_close(c, true);
        break;
    case DC_HANDSHAKE:
        if (c->tls_handshaking) {
            dconn_tls_failed(c, "timed out");
            break;
        }
        /* fall through */
    case DC_BUSY:
        dconn_host(c, host, sizeof(host));
        snprintf(reason, sizeof(reason), "conversation with %s timed out while %s", host,
                 c->state == DC_HANDSHAKE ? "performing the initial protocol handshake"
                                          : "receiving the server reply");
        dconn_fail(c, reason, true);
        break;
    case DC_CONNECTING: /* conn_connect() has its own timeout */
    case DC_CLOSING:
        break;
    }
}

static const struct conn_ops dconn_ops = {
    .connected = dconn_connected,
    .data = dconn_data,
    .closed = dconn_closed,
};
