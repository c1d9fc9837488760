/*
 * server - inbound sessions; see smtpd/server.h.
 *
 * Life of a session: accept -> greeting -> (input -> replies)* -> at the end
 * of DATA the message goes to the queue thread and reading pauses (the
 * client waits for its 250 anyway; pausing bounds what we buffer) -> the
 * commit result is posted back to this worker -> 250 or 4xx -> reading
 * resumes. `refs` counts the conn and an outstanding commit; the session is
 * freed when both are gone.
 *
 * Pauses: after a failed AUTH (server_auth.c) the protocol asks for a
 * pause: the replies are held and reading stops for that long (the `pause`
 * timer), then everything goes out at once.
 * The same pause holds each reply made above smtpd_soft_error_limit for
 * smtpd_error_sleep_time (Postfix sleeps; a timer never blocks the ring).
 *
 * Timeouts. Reading: the `idle` timer is the read deadline, smtpd_timeout
 * per read or, with smtpd_per_request_deadline, per request - tern's
 * default, unlike Postfix's, because one event loop holds thousands of
 * sessions and a client trickling an octet a second must not keep one
 * forever: a command line must be complete within smtpd_timeout however it
 * trickles in, DATA content must keep up smtpd_min_data_rate (smtpd/deadline.h);
 * at the deadline "421 4.4.2 <host> Error: timeout exceeded", logged
 * "timeout after X from name[addr]". Writing: the conn's write timeout is
 * smtpd_timeout too (per request likewise): a client that stops reading is
 * dropped, logged the same way, and a closing session that cannot flush its
 * last reply is dropped after CONN_CLOSE_FLUSH_MS at most.
 *
 * BOUNDS: worst-case memory of one inbound session. A client that sends and
 * never reads is not read either: parsing stops after SMTPD_OUT_BATCH (4 KiB)
 * of replies, goes on only when no more than SERVER_OUT_RESUME (4 KiB) is
 * unsent (conn's drained()), and nothing is read meanwhile; the conn itself
 * also stops reading above CONN_OUT_HIGH. The write timeout then ends it.
 *
 *	receive buffer: one per thread (CONN_RECV_SIZE), none
 *	  per session                                              0 KiB
 *	unsent replies: out, wire, sending (<= 4 + 4 KiB + one
 *	  reply in use; each buffer allocated <= 16 KiB)          48 KiB
 *	replies held during a pause (`held`, <= 4 KiB + a reply) 16 KiB
 *	unparsed input (one receive plus a partial AUTH line,
 *	  <= 28 KiB in use; SMTPD_PENDING_MAX 1 MiB as backstop)  32 KiB
 *	session, protocol and conn structs, names                  4 KiB
 *	a RCPT paused for a sender domain lookup (policy_addr)     2 KiB
 *	the PROXY header being read (server_proxy.c; freed
 *	  before the session begins, so never beside the rest)    1 KiB
 *	                                               plaintext 102 KiB
 *	                     tested: 160 KiB (test_bounds.sh, measured ~60)
 *	TLS: wolfSSL's objects (WOLFSSL 11 KiB, its session copy
 *	  37.5 KiB, handshake arrays, hashes, cipher states:
 *	  about 60 KiB allocated) with its record buffers
 *	  (2 x 17 KiB), tls_session's ciphertext in/out
 *	  (32 + 16 KiB)                                         ~140 KiB
 *	                                        with TLS        ~240 KiB
 *	                     tested: 320 KiB (test_bounds.sh, measured ~180)
 *
 * Idle (the client said EHLO, STARTTLS, EHLO and waits): no buffer is held
 * (conn: every buffer freed when empty, reading is a poll; tls_session: the
 * same for the ciphertext buffers), and after the handshake tls_session
 * frees wolfSSL's arrays and returns the untouched pages of its session
 * copy. Resident per session, bench/run idle with 10000 sessions (issue 13,
 * DESIGN.md: at most 32 KiB): 28.4 KiB, of which wolfSSL about 21 (WOLFSSL
 * 10.6, session copy 4.6 resident of 36.6, cipher states, hashes, RNG and
 * the rest 5.7), tls_session 1.5, this struct 1.7, protocol session with
 * its strings 1, conn 0.4, malloc's headers and slack the rest.
 *
 * On top of that, bounded by the configuration: the envelope (sender, and
 * up to smtpd_recipient_limit accepted recipients of at most one 512-octet
 * command line each: about 600 KiB at the default 1000), and during DATA the
 * message (message_size_limit plus the Received: header, allocated up to
 * the next power of two: 16 MiB at the default), handed to the queue at the
 * end. Kernel socket buffers are the kernel's (tcp_wmem, tcp_rmem).
 *
 * The pieces: server_tls.c (STARTTLS, smtps), server_auth.c (AUTH),
 * server_check.c (the restrictions), server_lookup.c (sender domain
 * lookups), server_limit.c (client limits, queue_minfree); they share
 * server_impl.h.
 */
#include "core/smtpd/server.h"
#include "core/smtpd/server_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/smtpd/anvil.h"
#include "core/smtpd/authjob.h"
#include "core/loop/conn.h"
#include "core/daemon/daemon.h"
#include "core/base/log.h"
#include "core/base/time.h"
#include "core/config/tlsconf.h"
#include "core/daemon/worker.h"

struct commit_result {
    struct server_session *s;
    int status;
};

/* server_unref - drop a reference; free at zero */
void server_unref(struct server_session *s)
{
    if (--s->refs > 0)
        return;
    struct worker *w = s->w;
    if (s->prev)
        s->prev->next = s->next;
    else
        w->session_list = s->next;
    if (s->next)
        s->next->prev = s->prev;
    w->sessions--;
    loop_timer_cancel(w->loop, &s->idle);
    loop_timer_cancel(w->loop, &s->pause);
    server_lookup_cancel(s);
    anvil_disconnect(w->daemon->anvil, s->anvil, time_mono_ms());
    anvil_total_leave(w->daemon->anvil);
    authjob_free(s->auth);
    buf_free(&s->held);
    if (s->smtpd)
        smtpd_free(s->smtpd);
    runtime_unref(s->rt);
    free(s);
}

/* server_commit_apply - on the worker: the queue answered */
static void server_commit_apply(void *arg)
{
    struct commit_result *cr = arg;
    struct server_session *s = cr->s;
    int status = cr->status;
    free(cr);
    s->waiting_commit = false;
    if (s->conn) {
        enum smtpd_action act = smtpd_commit_done(s->smtpd, status, conn_out(s->conn));
        if (act == SMTPD_CONTINUE && s->w->draining)
            act = smtpd_shutdown(s->smtpd, conn_out(s->conn));
        server_act(s, act);
    }
    server_unref(s);
}

/* server_commit_done - on the queue thread: post the result to the worker */
static void server_commit_done(void *arg, int status)
{
    struct server_session *s = arg;
    struct commit_result *cr = malloc(sizeof(*cr));
    while (!cr) {
        /* The result must reach the session; memory pressure is transient. */
        usleep(1000);
        cr = malloc(sizeof(*cr));
    }
    cr->s = s;
    cr->status = status;
    while (loop_post(s->w->loop, server_commit_apply, cr) < 0)
        usleep(1000);
}

/* server_submit - smtpd hook: hand the message to the queue */
static int server_submit(void *arg, struct queue_msg *m)
{
    struct server_session *s = arg;
    int rc = queue_submit(s->w->daemon->queue, m, server_commit_done, s);
    if (rc < 0)
        return rc;
    s->refs++;
    s->waiting_commit = true;
    return 0;
}

/* server_answered - what the protocol said after an answer from elsewhere (a SASL step, a lookup):
 * a draining daemon says goodbye; the command came from input read during a pause: answer in
 * order with the held replies */
void server_answered(struct server_session *s, enum smtpd_action act)
{
    if (act == SMTPD_CONTINUE && s->w->draining)
        act = smtpd_shutdown(s->smtpd, conn_out(s->conn));
    if (s->paused) {
        s->paused_act = act;
        server_hold_output(s);
    } else {
        server_act(s, act);
    }
}

/* server_hold_output - move what the protocol wrote into the held replies */
void server_hold_output(struct server_session *s)
{
    struct buf *out = conn_out(s->conn);
    if (buf_used(out) > 0 && buf_append(&s->held, buf_ptr(out), buf_used(out)) == 0)
        buf_reset(out);
}

/* server_pause_done - the hold after a failed AUTH is over: send, go on */
static void server_pause_done(struct loop_timer *t)
{
    struct server_session *s =
        (struct server_session *)((char *)t - offsetof(struct server_session, pause));
    s->paused = false;
    if (!s->conn || s->closing)
        return;
    struct buf *out = conn_out(s->conn);
    if (buf_used(&s->held) > 0) {
        /* the held replies go first, then anything written meanwhile */
        struct buf later = *out;
        *out = s->held;
        s->held = (struct buf)BUF_INIT;
        if (buf_used(&later) > 0)
            (void)buf_append(out, buf_ptr(&later), buf_used(&later));
        buf_free(&later);
    }
    server_act(s, s->paused_act);
}

/* server_read_deadline - arm the read timer: at the deadline server_data() computed, else
 * smtpd_timeout from now (a new request starts) */
static void server_read_deadline(struct server_session *s)
{
    uint64_t now = loop_now(s->w->loop);
    if (!s->read_due_set)
        s->read_due = now + s->deadline.timeout_ms;
    s->read_due_set = false;
    loop_timer_arm(s->w->loop, &s->idle, s->read_due > now ? s->read_due - now : 0);
}

/* server_act - carry out what the protocol asked for */
void server_act(struct server_session *s, enum smtpd_action act)
{
    for (;;) {
        if (!s->conn)
            return;
        unsigned hold = s->smtpd ? smtpd_reply_delay_ms(s->smtpd) : 0;
        if (hold && act != SMTPD_STARTTLS) {
            /* Replies wait in the conn's buffer; nothing is read meanwhile. */
            server_hold_output(s);
            conn_read_pause(s->conn);
            loop_timer_cancel(s->w->loop, &s->idle);
            s->paused = true;
            s->paused_act = act;
            loop_timer_arm(s->w->loop, &s->pause, hold);
            return;
        }
        conn_flush(s->conn);
        if (act != SMTPD_CONTINUE || !s->smtpd || !smtpd_pending(s->smtpd))
            break;
        /* The replies so far leave before more pipelined input is parsed, and nothing is read
         * meanwhile: what a client that never reads makes us hold stays bounded. The conn's
         * write timeout guards the wait. */
        conn_read_pause(s->conn);
        loop_timer_cancel(s->w->loop, &s->idle);
        if (conn_unsent(s->conn) > SERVER_OUT_RESUME)
            return; /* server_drained() goes on */
        act = smtpd_resume(s->smtpd, conn_out(s->conn));
    }
    switch (act) {
    case SMTPD_CONTINUE:
        conn_read_resume(s->conn);
        server_read_deadline(s);
        break;
    case SMTPD_WAIT:
        conn_read_pause(s->conn);
        /* the queue always answers; a SASL back end may hang: smtpd_timeout bounds that wait */
        if (authjob_busy(s->auth))
            loop_timer_arm(s->w->loop, &s->idle, (uint64_t)s->rt->cfg->smtpd_timeout * 1000);
        else
            loop_timer_cancel(s->w->loop, &s->idle);
        break;
    case SMTPD_STARTTLS:
        /* the 220 went out in the clear above; the smtpd session dropped the rest of the input */
        if (!server_tls_start(s))
            break;
        conn_read_resume(s->conn);
        server_read_deadline(s);
        break;
    case SMTPD_CLOSE:
        s->closing = true;
        conn_close(s->conn);
        break;
    }
}

static void server_data(struct conn *c, void *owner, const char *data, size_t len)
{
    struct server_session *s = owner;
    if (s->closing)
        return;
    if (s->paused) {
        /* input that was already on its way when reading paused: parsed in order, answers
         * held with the rest */
        enum smtpd_action act = smtpd_input(s->smtpd, data, len, conn_out(c));
        if (act != SMTPD_CONTINUE)
            s->paused_act = act;
        server_hold_output(s);
        return;
    }
    unsigned long records = smtpd_records(s->smtpd);
    bool in_data = smtpd_in_data(s->smtpd);
    enum smtpd_action act = smtpd_input(s->smtpd, data, len, conn_out(c));
    s->read_due = deadline_next(&s->deadline, loop_now(s->w->loop), s->read_due,
                                smtpd_records(s->smtpd) != records, in_data, len);
    s->read_due_set = true;
    server_act(s, act);
}

/* server_drained - the replies went out: parse what the client pipelined meanwhile */
static void server_drained(struct conn *c, void *owner)
{
    struct server_session *s = owner;
    if (s->closing || s->paused || s->handshaking || !s->smtpd || !smtpd_pending(s->smtpd) ||
        conn_unsent(c) > SERVER_OUT_RESUME)
        return;
    server_act(s, smtpd_resume(s->smtpd, conn_out(c)));
}

static void server_closed(struct conn *c, void *owner, int err)
{
    struct server_session *s = owner;
    s->conn = NULL;
    server_lookup_cancel(s); /* nobody is left to answer */
    if (s->smtpd) {
        if (err == -ETIMEDOUT && !s->closing)
            smtpd_timeout(s->smtpd, NULL); /* the client stopped reading: "timeout after X" */
        smtpd_disconnected(s->smtpd);
    }
    /* the client's connection count drops now; the total counts the session until it is freed */
    anvil_disconnect(s->w->daemon->anvil, s->anvil, time_mono_ms());
    s->anvil = NULL;
    server_unref(s);
}

static const struct conn_ops server_conn_ops = {
    .data = server_data,
    .closed = server_closed,
    .drained = server_drained,
};

/* server_idle_timeout - smtpd_timeout expired */
static void server_idle_timeout(struct loop_timer *t)
{
    struct server_session *s =
        (struct server_session *)((char *)t - offsetof(struct server_session, idle));
    if (!s->conn || s->closing)
        return;
    if (s->handshaking) {
        /* nothing can be said inside a TLS session that is not up */
        log_info("smtpd", "timeout after %s from %s", s->smtps ? "CONNECT" : "STARTTLS", s->client);
        s->closing = true;
        conn_abort(s->conn);
        return;
    }
    server_act(s, smtpd_timeout(s->smtpd, conn_out(s->conn)));
}

/* server_service - Postfix's service name of a listener kind (anvil keys, log lines) */
static const char *server_service(enum listen_kind kind)
{
    return kind == LISTEN_SMTPS ? "smtps" : kind == LISTEN_SUBMISSION ? "submission" : "smtp";
}

/* server_accept - a new inbound connection on this worker: behind a balancer its PROXY header
 * comes first (server_proxy.c), then the session begins */
void server_accept(struct worker *w, int fd, enum listen_kind kind)
{
    struct anvil *anvil = w->daemon->anvil;
    int total_limit = daemon_total_limit(w->daemon, w->rt->cfg);
    if (!anvil_total_enter(anvil, total_limit)) {
        server_limit_refuse_total(w, fd, kind, total_limit);
        return;
    }
    struct server_session *s = calloc(1, sizeof(*s));
    if (!s) {
        close(fd);
        anvil_total_leave(anvil);
        return;
    }
    s->w = w;
    s->rt = runtime_ref(w->rt);
    s->refs = 1;
    s->proxy_fd = -1;
    s->service = server_service(kind);
    loop_timer_init(&s->idle, server_idle_timeout);
    loop_timer_init(&s->pause, server_pause_done);
    loop_timer_init(&s->lookup_timer, server_lookup_timeout);
    s->next = w->session_list;
    if (s->next)
        s->next->prev = s;
    w->session_list = s;
    w->sessions++;
    atomic_fetch_add(&w->connections_total, 1);
    if (*s->rt->cfg->smtpd_upstream_proxy_protocol)
        server_proxy_start(s, fd, kind);
    else
        server_begin(s, fd, kind, NULL);
}

/* server_begin - the session proper: the client is the socket's peer, or the one a PROXY header
 * named */
void server_begin(struct server_session *s, int fd, enum listen_kind kind,
                  const struct proxy_header *ph)
{
    struct worker *w = s->w;
    if (conn_new(&s->conn, w->loop, fd, &server_conn_ops, s) < 0) {
        close(fd);
        server_unref(s);
        return;
    }
    const struct tern_config *cfg = s->rt->cfg;
    s->deadline = (struct deadline_params){
        .timeout_ms = (uint64_t)cfg->smtpd_timeout * 1000,
        .per_request = cfg->smtpd_per_request_deadline,
        .min_data_rate = (unsigned)cfg->smtpd_min_data_rate,
    };
    conn_set_write_timeout(s->conn, s->deadline.timeout_ms, s->deadline.per_request);
    conn_peer(s->conn, s->addr, sizeof(s->addr), &s->port);
    conn_local(s->conn, s->local_addr, sizeof(s->local_addr), &s->local_port);
    if (ph && !ph->local) {
        snprintf(s->addr, sizeof(s->addr), "%s", ph->src);
        snprintf(s->local_addr, sizeof(s->local_addr), "%s", ph->dst);
        s->port = ph->sport;
        s->local_port = ph->dport;
    }
    /* tern does no reverse lookups on the submission path: "unknown", as Postfix
     * with smtpd_peername_lookup = no. */
    snprintf(s->name, sizeof(s->name), "unknown");
    snprintf(s->client, sizeof(s->client), "%s[%s]", s->name, s->addr);
    const struct tern_tls *t = s->rt->tls;
    /* STARTTLS is offered from level may on; smtps needs only the certificate */
    bool tls_ok = t && t->server_ctx && t->smtpd_level >= TLS_LEVEL_MAY;
    bool smtps_ok = t && t->server_ctx;
    s->smtps = kind == LISTEN_SMTPS;
    struct smtpd_params p = {
        .myhostname = cfg->myhostname,
        .banner = cfg->smtpd_banner,
        .client_addr = s->addr,
        .client_name = s->name,
        .client_port = s->port,
        .message_size_limit = cfg->message_size_limit,
        .recipient_limit = cfg->smtpd_recipient_limit,
        .hopcount_limit = cfg->hopcount_limit,
        .tls_available = tls_ok,
        .tls_required = tls_ok && t->smtpd_level >= TLS_LEVEL_ENCRYPT,
        .tls_wrapper = s->smtps,
        .sasl_enabled = s->rt->auth->server,
        .sasl_mechs = s->rt->auth->server_mechs,
        .sasl_mechs_tls = s->rt->auth->server_mechs_tls,
        .sasl_broken_clients = s->rt->auth->broken_clients,
        .sasl_received_header = s->rt->auth->received_header,
        .junk_command_limit = cfg->smtpd_junk_command_limit,
        .soft_error_limit = cfg->smtpd_soft_error_limit,
        .hard_error_limit = cfg->smtpd_hard_error_limit,
        .error_sleep_ms =
            cfg->smtpd_error_sleep_time < 86400 ? cfg->smtpd_error_sleep_time * 1000u : 86400000u,
        .delay_reject = policy_relay_delay_reject(s->rt->relay),
        .forbidden_commands = cfg->smtpd_forbidden_commands.item,
        .nforbidden = cfg->smtpd_forbidden_commands.n,
    };
    struct smtpd_hooks h = {
        .arg = s,
        .submit = server_submit,
        .check_rcpt = server_check_rcpt,
        .check_stage = server_check_stage,
        .auth_step = server_auth_step,
        .auth_end = server_auth_end,
        .event_ok = server_limit_event_ok,
        .space_ok = server_limit_space_ok,
    };
    if (smtpd_new(&s->smtpd, &p, &h) < 0) {
        s->closing = true;
        conn_abort(s->conn);
        return;
    }
    bool admitted = server_limit_admit(s);
    if (s->smtps) {
        s->refused = !admitted;
        /* RFC 8314: the handshake first; server_tls_done() greets */
        if (!smtps_ok) {
            log_warn("smtpd",
                     "smtps connection from %s refused: no smtpd TLS certificate "
                     "configured",
                     s->client);
            s->closing = true;
            conn_abort(s->conn);
            return;
        }
        if (server_tls_start(s))
            server_read_deadline(s);
        return;
    }
    if (w->draining) {
        server_act(s, smtpd_shutdown(s->smtpd, conn_out(s->conn)));
        return;
    }
    if (!admitted) {
        server_act(s, smtpd_refuse(s->smtpd, conn_out(s->conn)));
        return;
    }
    smtpd_greeting(s->smtpd, conn_out(s->conn));
    server_act(s, SMTPD_CONTINUE);
}

/* server_drain_all - say goodbye to every session not mid-commit */
void server_drain_all(struct worker *w)
{
    for (struct server_session *s = w->session_list, *next; s; s = next) {
        next = s->next;
        if (s->proxy_fd >= 0) { /* still reading its PROXY header: ends here */
            server_proxy_drain(s);
            continue;
        }
        if (!s->conn || s->closing || s->waiting_commit)
            continue;
        if (s->handshaking) {
            s->closing = true;
            conn_abort(s->conn);
            continue;
        }
        server_act(s, smtpd_shutdown(s->smtpd, conn_out(s->conn)));
    }
}
