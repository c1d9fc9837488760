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
 * TLS: when the protocol says SMTPD_STARTTLS, the "220 Ready to start TLS"
 * is flushed in the clear and a server tls_session is put between socket and
 * protocol (conn_start_tls). The protocol session has already dropped every
 * octet received after the STARTTLS line, and the conn delivers no further
 * input until the handshake is over, so no plaintext crosses into TLS
 * (CVE-2011-0411). On an smtps listener the handshake comes first and the
 * greeting follows it. The handshake's outcome is logged the Postfix way,
 * counted in the stats, and handed to smtpd_tls_started() (Received: text,
 * client certificate fingerprints).
 *
 * Relay permission: every recipient goes through policy_relay_check() with
 * the client's certificate, verified or not (permit_tls_clientcerts and
 * check_ccert_access key on the fingerprint; permit_tls_all_clientcerts
 * needs ccert_verified). With smtpd_tls_ask_ccert = yes and req_ccert = no
 * a certificate from an unknown CA still completes the handshake: the
 * outcome is only recorded (tls_ctx's verify mode).
 *
 * AUTH: the protocol asks server_auth_step() for each SASL step; one
 * authjob (smtpd/authjob.h) lives from the AUTH command to the end of its
 * exchange. Cyrus never runs on the ring: each step goes to the SASL
 * thread pool and the protocol waits (SMTPD_AUTH_PENDING, reading paused
 * as for a commit, smtpd_timeout still running) until server_auth_done()
 * brings the outcome back through loop_post(). An outstanding step counts
 * in `refs` like a commit, so a session that closes meanwhile is freed
 * only when its step is back. A full pool answers 454 at once. After a
 * failed AUTH the protocol asks for a pause: the replies are held and
 * reading stops for that long (the `pause` timer), then everything goes
 * out at once. permit_sasl_authenticated sees the user.
 * The same pause holds each reply made above smtpd_soft_error_limit for
 * smtpd_error_sleep_time (Postfix sleeps; a timer never blocks the ring).
 *
 * reject_unknown_sender_domain: the policy never does I/O; when it meets
 * the restriction with no DNS answer for the sender's domain, its verdict
 * names the domain (verdict.lookup). The hook then starts a mailhost
 * lookup on the worker's resolver (loop/dns, libunbound, polled on the
 * ring) and hands the verdict back: the command pauses unanswered (smtpd
 * ST_LOOKUP, reading paused as for a commit). The answer, or the
 * SERVER_LOOKUP_TIMEOUT_MS timer (a temporary failure), comes back through
 * server_lookup_resume() -> smtpd_lookup_done(), which asks the policy
 * again with the answer in policy_client.sender_dns. The answer is kept
 * for that sender address for SERVER_LOOKUP_KEEP_MS, so the next RCPTs of
 * the transaction need no lookup. A session has one lookup out at most
 * (its command is paused until it ends); when the connection closes
 * meanwhile the lookup is cancelled (dns_lookup_cancel: no callback ever
 * reaches a freed session). Reading is paused during the lookup, so a
 * POLLRDHUP watch on the socket (server_hup_watch) notices a client that
 * leaves: the session ends at once. (A client that only half-closes after
 * pipelining its commands is ended too; mail clients do not do that.)
 * With smtpd_delay_reject = no, a defer_if_permit raised by the sender
 * list at MAIL is kept (sender_defer) and handed to the RCPT checks.
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
 *	receive buffer (CONN_RECV_SIZE)                          16 KiB
 *	unsent replies: out, wire, sending (<= 4 + 4 KiB + one
 *	  reply in use; each buffer allocated <= 16 KiB)          48 KiB
 *	replies held during a pause (`held`, <= 4 KiB + a reply) 16 KiB
 *	unparsed input (one receive plus a partial AUTH line,
 *	  <= 28 KiB in use; SMTPD_PENDING_MAX 1 MiB as backstop)  32 KiB
 *	session, protocol and conn structs, names                  4 KiB
 *	a RCPT paused for a sender domain lookup (policy_addr)     2 KiB
 *	                                               plaintext 116 KiB
 *	                     tested: 160 KiB (test_bounds.sh, measured ~60)
 *	TLS: wolfSSL's session (about 70 KiB measured idle) with
 *	  its record buffers (2 x 17 KiB), tls_session's cipher-
 *	  text in/out (32 + 16 KiB)                             ~150 KiB
 *	                                        with TLS        ~270 KiB
 *	                     tested: 320 KiB (test_bounds.sh, measured ~180)
 *
 * On top of that, bounded by the configuration: the envelope (sender, and
 * up to smtpd_recipient_limit accepted recipients of at most one 512-octet
 * command line each: about 600 KiB at the default 1000), and during DATA the
 * message (message_size_limit plus the Received: header, allocated up to
 * the next power of two: 16 MiB at the default), handed to the queue at the
 * end. Kernel socket buffers are the kernel's (tcp_wmem, tcp_rmem).
 *
 * Limits (smtpd/anvil.h). Every accepted connection is counted against
 * the total cap first (smtpd_total_connection_limit, or the default
 * derived from the descriptor limit): above it the client gets "421 4.3.2
 * host Error: too many connections" written straight to the socket (on
 * smtps the socket is just closed) and no session is made, so a flood at
 * the cap costs an accept, a send and a close; the warning is logged at
 * most once per 10 s. A session counts until it is freed. Then, as in
 * Postfix, a client outside smtpd_client_event_limit_exceptions is
 * counted by the anvil: over smtpd_client_connection_count_limit or
 * _rate_limit it gets Postfix's warning and "421 4.7.0 host Error: too
 * many connections from ADDR" instead of the greeting (on smtps after
 * the handshake, as Postfix). MAIL, RCPT and AUTH are counted at the
 * command (server_event_ok). A session keeps the runtime it started
 * with, so connect and disconnect are always counted under the same
 * exceptions; a reload applies new limits to new sessions and new
 * commands.
 */
#include "core/smtpd/server.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/smtpd/anvil.h"
#include "core/auth/auth.h"
#include "core/smtpd/authjob.h"
#include "core/loop/conn.h"
#include "core/daemon/daemon.h"
#include "core/smtpd/deadline.h"
#include "core/loop/dns.h"
#include "core/base/log.h"
#include "core/smtpd/smtpd.h"
#include "core/base/stats.h"
#include "core/base/time.h"
#include "core/config/tlsconf.h"
#include "core/daemon/worker.h"
#include "policy/policy_fingerprint.h"
#include "policy/policy_relay.h"
#include "tls/tls_fprint.h"
#include "tls/tls_session.h"

/* parsing stopped by SMTPD_OUT_BATCH goes on once no more than this is unsent */
#define SERVER_OUT_RESUME SMTPD_OUT_BATCH
/* BOUND: a sender domain lookup answers within this, else it is a temporary failure */
#define SERVER_LOOKUP_TIMEOUT_MS 10000
/* a sender domain's DNS answer serves the same sender address this long */
#define SERVER_LOOKUP_KEEP_MS 60000

struct server_session {
    struct server_session *next, *prev; /* worker's session list */
    struct worker *w;
    struct tern_runtime *rt;
    struct conn *conn;
    struct smtpd_session *smtpd;
    struct loop_timer idle; /* the read deadline (smtpd_timeout, per request or per read) */
    struct deadline_params deadline;
    uint64_t read_due;       /* when `idle` fires (monotonic ms) */
    bool read_due_set;       /* server_data() computed read_due for the next arm */
    struct loop_timer pause; /* holds the replies after a failed AUTH or above the soft limit */
    enum smtpd_action paused_act;
    bool paused;
    struct buf held;      /* replies held during the pause (the conn would flush its own buffer) */
    struct authjob *auth; /* the AUTH exchange in progress, NULL if none */
    char local_addr[64];
    int local_port;
    int refs;
    bool waiting_commit;
    bool closing;
    bool smtps;                           /* implicit TLS listener: greet after the handshake */
    bool handshaking;                     /* TLS handshake in progress */
    char addr[64], name[80], client[160]; /* client: "name[addr]" for logs */
    int port;
    bool ccert_trusted;         /* the client certificate's chain verified */
    char ccert_CN[256];         /* its subject CommonName, "" if none */
    const char *service;        /* Postfix's service name: "smtp", "submission", "smtps" */
    struct anvil_client *anvil; /* counted by the anvil; NULL: exempt or untracked */
    bool refused;               /* smtps: over a client limit, 421 after the handshake */
    /* reject_unknown_sender_domain: one lookup at a time, its answer kept for the sender */
    struct dns_lookup *lookup;        /* in flight, NULL if none */
    struct loop_timer lookup_timer;   /* SERVER_LOOKUP_TIMEOUT_MS */
    char dns_sender[POLICY_ADDR_MAX]; /* the sender whose domain was looked up */
    enum policy_dns dns_status;       /* its answer; POLICY_DNS_UNKNOWN while out */
    uint64_t dns_time;                /* when it came (loop ms) */
    struct policy_defer sender_defer; /* defer_if_permit raised at MAIL (no delay_reject) */
    struct loop_op hup_op;            /* POLLRDHUP on the socket: the client left mid-lookup */
    bool hup_armed;                   /* ... in flight (holds a reference) */
};

struct commit_result {
    struct server_session *s;
    int status;
};

static void server_act(struct server_session *s, enum smtpd_action act);
static void server_hold_output(struct server_session *s);

/* server_lookup_cancel - drop a sender domain lookup in flight (no callback will come) */
static void server_lookup_cancel(struct server_session *s)
{
    loop_timer_cancel(s->w->loop, &s->lookup_timer);
    if (!s->lookup)
        return;
    dns_lookup_cancel(s->w->dns, s->lookup);
    s->lookup = NULL;
}

/* server_unref - drop a reference; free at zero */
static void server_unref(struct server_session *s)
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

/* server_policy_client - what the restrictions may know of the session so far */
static void server_policy_client(const struct server_session *s, struct policy_client *c)
{
    *c = (struct policy_client){
        .addr = s->addr,
        .name = s->name,
        .ccert_fingerprint = s->smtpd ? smtpd_ccert_presented(s->smtpd, false) : NULL,
        .ccert_pkey_fingerprint = s->smtpd ? smtpd_ccert_presented(s->smtpd, true) : NULL,
        .ccert_verified = s->ccert_trusted,
        .ccert_subject = s->ccert_CN,
        .sasl_authenticated = s->smtpd && smtpd_sasl_username(s->smtpd) != NULL,
        .sasl_username = s->smtpd ? smtpd_sasl_username(s->smtpd) : NULL,
        .helo = s->smtpd ? smtpd_helo(s->smtpd) : NULL,
        .sender = s->smtpd ? smtpd_sender(s->smtpd) : NULL,
        .smtputf8 = s->smtpd && smtpd_smtputf8(s->smtpd),
        .deferred = s->sender_defer.code ? &s->sender_defer : NULL,
    };
    /* the sender domain's DNS answer, if one is known for this sender */
    if (c->sender && s->dns_status != POLICY_DNS_UNKNOWN && strcmp(c->sender, s->dns_sender) == 0 &&
        loop_now(s->w->loop) - s->dns_time < SERVER_LOOKUP_KEEP_MS)
        c->sender_dns = s->dns_status;
}

/* server_answered - what the protocol said after an answer from elsewhere (a SASL step, a lookup):
 * a draining daemon says goodbye; the command came from input read during a pause: answer in
 * order with the held replies */
static void server_answered(struct server_session *s, enum smtpd_action act)
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

/* server_lookup_resume - the sender domain's answer is in: the paused command goes on */
static void server_lookup_resume(struct server_session *s, enum policy_dns status)
{
    s->dns_status = status;
    s->dns_time = loop_now(s->w->loop);
    if (!s->conn || s->closing || !s->smtpd)
        return;
    server_answered(s, smtpd_lookup_done(s->smtpd, conn_out(s->conn)));
}

/* server_lookup_cb - the resolver answered (on this worker, from dns_resolver_process) */
static void server_lookup_cb(void *arg, const struct dns_result *res)
{
    struct server_session *s = arg;
    s->lookup = NULL;
    loop_timer_cancel(s->w->loop, &s->lookup_timer);
    enum policy_dns st = res->status == DNS_OK         ? POLICY_DNS_FOUND
                         : res->status == DNS_NOTFOUND ? POLICY_DNS_NOTFOUND
                         : res->status == DNS_NULL_MX  ? POLICY_DNS_NULLMX
                                                       : POLICY_DNS_TEMPFAIL;
    if (st == POLICY_DNS_TEMPFAIL)
        log_warn("smtpd", "%s: sender domain lookup: %s", s->client,
                 res->error[0] ? res->error : "temporary failure");
    server_lookup_resume(s, st);
}

/* server_lookup_timeout - SERVER_LOOKUP_TIMEOUT_MS passed: a temporary failure */
static void server_lookup_timeout(struct loop_timer *t)
{
    struct server_session *s =
        (struct server_session *)((char *)t - offsetof(struct server_session, lookup_timer));
    server_lookup_cancel(s);
    log_warn("smtpd", "%s: sender domain lookup of <%s> timed out after %d s", s->client,
             s->dns_sender, SERVER_LOOKUP_TIMEOUT_MS / 1000);
    server_lookup_resume(s, POLICY_DNS_TEMPFAIL);
}

/* server_hup_cb - the client shut its side while reading was paused: if a lookup is out, the
 * session ends now (the lookup is cancelled) rather than when the answer comes */
static void server_hup_cb(struct loop_op *op, int res, unsigned flags)
{
    struct server_session *s =
        (struct server_session *)((char *)op - offsetof(struct server_session, hup_op));
    s->hup_armed = false;
    if (res > 0 && s->lookup && s->conn && !s->closing) {
        server_lookup_cancel(s);
        s->closing = true;
        conn_abort(s->conn); /* server_closed(): "lost connection after RCPT" */
    }
    server_unref(s);
}

/* server_hup_watch - reading pauses during a lookup, so a client that goes away would be
 * noticed only after it: watch for the hang-up instead (one poll per session; it completes at the
 * latest when the socket is shut down, and holds a reference until then) */
static void server_hup_watch(struct server_session *s)
{
    if (s->hup_armed || !s->conn || conn_fd(s->conn) < 0)
        return;
    struct io_uring_sqe *sqe = loop_sqe(s->w->loop);
    io_uring_prep_poll_add(sqe, conn_fd(s->conn), POLLRDHUP);
    s->hup_op.cb = server_hup_cb;
    loop_op_arm(sqe, &s->hup_op);
    s->hup_armed = true;
    s->refs++;
}

/* server_lookup_start - look domain up for sender; false: answered at once (s->dns_status) */
static bool server_lookup_start(struct server_session *s, const char *sender, const char *domain)
{
    snprintf(s->dns_sender, sizeof(s->dns_sender), "%s", sender ? sender : "");
    s->dns_time = loop_now(s->w->loop);
    if (s->lookup) {
        /* cannot happen: the command that started it is still paused */
        s->dns_status = POLICY_DNS_TEMPFAIL;
        return false;
    }
    int rc = dns_lookup_mailhost(s->w->dns, domain, server_lookup_cb, s, &s->lookup);
    if (rc < 0) {
        s->lookup = NULL;
        /* a name that cannot be a DNS name (IDNA refused it) does not exist */
        s->dns_status = rc == -EINVAL ? POLICY_DNS_NOTFOUND : POLICY_DNS_TEMPFAIL;
        if (rc != -EINVAL)
            log_warn("smtpd", "%s: cannot look up sender domain %s: %s", s->client, domain,
                     strerror(-rc));
        return false;
    }
    s->dns_status = POLICY_DNS_UNKNOWN;
    loop_timer_arm(s->w->loop, &s->lookup_timer, SERVER_LOOKUP_TIMEOUT_MS);
    server_hup_watch(s);
    return true;
}

/* server_check - run the policy; a verdict that needs a DNS answer starts the lookup (v->lookup
 * stays set: the command waits) or, when none can start, is run again with the failure */
static void server_check(struct server_session *s, int stage, const struct policy_addr *rcpt,
                         struct policy_verdict *v)
{
    struct policy_client c;
    for (int round = 0; round < 2; round++) {
        server_policy_client(s, &c);
        if (round == 1)
            c.sender_dns = s->dns_status;
        if (stage < 0)
            policy_relay_check(s->rt->relay, &c, rcpt, v);
        else
            policy_relay_check_stage(s->rt->relay, (enum policy_stage)stage, &c, NULL, v);
        if (!v->lookup[0] || round == 1 || server_lookup_start(s, c.sender, v->lookup))
            break;
    }
    if (v->lookup[0] && s->lookup == NULL) {
        /* the policy asked twice for the same answer: never a permit */
        v->lookup[0] = 0;
        return;
    }
    if (stage == POLICY_STAGE_SENDER && !v->lookup[0])
        s->sender_defer = v->defer; /* code 0 clears an older one */
}

/* server_check_rcpt - smtpd hook: relay permission (and the delayed lists) */
static void server_check_rcpt(void *arg, const struct policy_addr *rcpt, struct policy_verdict *v)
{
    server_check(arg, -1, rcpt, v);
}

/* server_check_stage - smtpd hook: the client/helo/sender/data/end-of-data lists */
static void server_check_stage(void *arg, enum policy_stage stage, struct policy_verdict *v)
{
    server_check(arg, (int)stage, NULL, v);
}

/* server_auth_done - on the worker: a SASL step came back from the pool */
static void server_auth_done(void *arg)
{
    struct server_session *s = arg;
    struct smtpd_auth_result r;
    authjob_result(s->auth, &r);
    if (s->conn && !s->closing)
        server_answered(s, smtpd_auth_done(s->smtpd, &r, conn_out(s->conn)));
    server_unref(s);
}

/* server_auth_step - smtpd hook: one SASL step, sent to the pool (Cyrus may block) */
static void server_auth_step(void *arg, const char *mech, const char *in, size_t inlen, bool tls,
                             struct smtpd_auth_result *r)
{
    struct server_session *s = arg;
    const struct tern_auth *a = s->rt->auth;
    if (mech) {
        struct auth_server_params p = {
            .hostname = s->rt->cfg->myhostname,
            .realm = a->realm,
            .local_addr = s->local_addr,
            .local_port = s->local_port,
            .remote_addr = s->addr,
            .remote_port = s->port,
            .secflags = tls ? a->server_tls_flags : a->server_flags,
        };
        authjob_free(s->auth);
        s->auth = NULL;
        if (authjob_new(&s->auth, &p, s->w->loop, server_auth_done, s) < 0) {
            r->status = SMTPD_AUTH_TEMPFAIL;
            r->why = "out of memory";
            return;
        }
    }
    if (!s->auth) {
        r->status = SMTPD_AUTH_FAIL;
        r->why = "no exchange in progress";
        return;
    }
    int rc = authjob_step(s->auth, s->w->daemon->auth_pool, mech, in, inlen);
    if (rc < 0) {
        r->status = SMTPD_AUTH_TEMPFAIL;
        r->why = rc == -EAGAIN   ? "too many authentications in progress"
                 : rc == -ENOMEM ? "out of memory"
                                 : "SASL back end unavailable";
        return;
    }
    s->refs++;
    r->status = SMTPD_AUTH_PENDING;
}

/* server_auth_end - smtpd hook: the exchange is over */
static void server_auth_end(void *arg)
{
    struct server_session *s = arg;
    if (authjob_busy(s->auth))
        return; /* cannot happen (smtpd never ends a pending step); freed with the session */
    authjob_free(s->auth);
    s->auth = NULL;
}

/* server_unit_ms - anvil_rate_time_unit in ms */
static uint64_t server_unit_ms(const struct server_session *s)
{
    return (uint64_t)s->rt->cfg->anvil_rate_time_unit * 1000;
}

/* server_space_ok - smtpd hook: queue_minfree (queue_space.c) */
static bool server_space_ok(void *arg, unsigned long long size)
{
    struct server_session *s = arg;
    const struct tern_config *cfg = s->rt->cfg;
    return queue_space_check(s->w->daemon->queue, size, cfg->queue_minfree,
                             cfg->message_size_limit) == 0;
}

/* server_event_ok - smtpd hook: smtpd_client_message/recipient/auth_rate_limit */
static bool server_event_ok(void *arg, enum smtpd_event ev)
{
    struct server_session *s = arg;
    const struct tern_config *cfg = s->rt->cfg;
    static const struct {
        enum anvil_event anvil;
        const char *what; /* Postfix's words */
    } events[] = {
        [SMTPD_EVENT_MAIL] = {ANVIL_MAIL, "Message delivery request rate limit exceeded"},
        [SMTPD_EVENT_RCPT] = {ANVIL_RCPT, "Recipient address rate limit exceeded"},
        [SMTPD_EVENT_AUTH] = {ANVIL_AUTH, "AUTH command rate limit exceeded"},
    };
    int limit = ev == SMTPD_EVENT_MAIL   ? cfg->smtpd_client_message_rate_limit
                : ev == SMTPD_EVENT_RCPT ? cfg->smtpd_client_recipient_rate_limit
                                         : cfg->smtpd_client_auth_rate_limit;
    if (!s->anvil || limit <= 0)
        return true;
    int rate = anvil_event(s->w->daemon->anvil, s->anvil, events[ev].anvil, time_mono_ms(),
                           server_unit_ms(s));
    if (rate <= limit)
        return true;
    log_warn("smtpd", "%s: %d from %s for service %s", events[ev].what, rate, s->client,
             s->service);
    return false;
}

/* server_admit - count the client (Postfix's anvil); false: over its connection count or rate
 * limit (warned), to be refused with 421 */
static bool server_admit(struct server_session *s)
{
    const struct tern_config *cfg = s->rt->cfg;
    int count = 0, rate = 0;
    if (policy_netlist_match(s->rt->limit_exceptions, s->addr))
        return true;
    if (anvil_connect(s->w->daemon->anvil, s->service, s->addr, time_mono_ms(), server_unit_ms(s),
                      &s->anvil, &count, &rate) < 0)
        return true; /* out of memory: no client limit rather than no service */
    if (cfg->smtpd_client_connection_count_limit > 0 &&
        count > cfg->smtpd_client_connection_count_limit) {
        log_warn("smtpd", "Connection concurrency limit exceeded: %d from %s for service %s", count,
                 s->client, s->service);
        return false;
    }
    if (cfg->smtpd_client_connection_rate_limit > 0 &&
        rate > cfg->smtpd_client_connection_rate_limit) {
        log_warn("smtpd", "Connection rate limit exceeded: %d from %s for service %s", rate,
                 s->client, s->service);
        return false;
    }
    return true;
}

/* server_refuse_total - over the total cap: 421 (not on smtps) and close, no session */
static void server_refuse_total(struct worker *w, int fd, enum listen_kind kind, int limit)
{
    const struct tern_config *cfg = w->rt->cfg;
    if (kind != LISTEN_SMTPS) {
        char reply[320];
        int n = snprintf(reply, sizeof(reply), "421 4.3.2 %s Error: too many connections\r\n",
                         cfg->myhostname);
        /* a fresh socket's send buffer is empty: this never blocks, and a short write is fine */
        if (n > 0 && (size_t)n < sizeof(reply))
            (void)send(fd, reply, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    close(fd);
    unsigned long n;
    if (anvil_total_refused(w->daemon->anvil, time_mono_ms(), &n))
        log_warn("smtpd",
                 "too many connections in total (smtpd_total_connection_limit = %d): new clients "
                 "get 421 (%lu refused since the last warning)",
                 limit, n);
}

/* server_service - Postfix's service name of a listener kind (anvil keys, log lines) */
static const char *server_service(enum listen_kind kind)
{
    return kind == LISTEN_SMTPS ? "smtps" : kind == LISTEN_SUBMISSION ? "submission" : "smtp";
}

/* server_tls_digest - smtpd_tls_fingerprint_digest; unset, it follows compatibility_level as in
 * Postfix (md5 below 3.6, as in the talk's tables; sha256 from 3.6) */
static enum tls_digest server_tls_digest(const struct tern_config *cfg)
{
    enum tls_digest d = TLS_DIGEST_SHA256;
    const char *name = config_get(cfg, "smtpd_tls_fingerprint_digest");
    if (!name || !*name)
        name = policy_fingerprint_digest_default(cfg->compatibility_level);
    if (tls_fprint_digest_parse(name, &d) < 0)
        d = TLS_DIGEST_SHA256;
    return d;
}

/* server_tls_done - the handshake ended: log, count, tell the protocol, greet on smtps */
static void server_tls_done(struct conn *c, void *owner, int err)
{
    struct server_session *s = owner;
    s->handshaking = false;
    if (s->closing || !s->smtpd)
        return;
    struct tls_session *ts = conn_tls(c);
    const struct tern_tls *t = s->rt->tls;
    const struct tls_info *info = err == 0 ? tls_session_info(ts) : NULL;
    if (!info) {
        const char *why = tls_session_error(ts);
        stats_inc(STAT_TLS_IN_FAILED);
        log_info("smtpd", "SSL_accept error from %s: %s", s->client,
                 why && *why                  ? why
                 : err == -ECONNRESET || !err ? "lost connection"
                                              : strerror(-err));
        s->closing = true;
        conn_abort(c);
        return;
    }
    stats_inc(info->reused ? STAT_TLS_IN_RESUMED : STAT_TLS_IN_FULL);

    char fp[TLS_FPRINT_MAX] = "", pkey_fp[TLS_FPRINT_MAX] = "";
    if (info->peer_cert) {
        enum tls_digest d = server_tls_digest(s->rt->cfg);
        if (tls_session_fingerprint(ts, d, false, fp, sizeof(fp)) < 0)
            fp[0] = 0;
        if (tls_session_fingerprint(ts, d, true, pkey_fp, sizeof(pkey_fp)) < 0)
            pkey_fp[0] = 0;
    }
    if (t->smtpd_loglevel >= 2 && info->peer_cert)
        log_info("smtpd",
                 "%s: subject_CN=%s, issuer_CN=%s, fingerprint=%s, pkey_fingerprint=%s%s%s",
                 s->client, info->peer_CN, info->issuer_CN, fp, pkey_fp,
                 info->peer_trusted ? "" : ", verify error: ", info->verify_error);
    if (t->smtpd_loglevel >= 2 && info->reused)
        log_info("smtpd", "%s: Reusing old session", s->client);
    if (t->smtpd_loglevel >= 1 && info->reused && info->peer_cert && !info->peer_trusted)
        log_info("smtpd",
                 "%s: re-using session with untrusted certificate, look for details earlier in "
                 "the log",
                 s->client);
    char summary[512];
    if (t->smtpd_loglevel >= 1 && tls_session_summary(ts, summary, sizeof(summary)) >= 0)
        /* "established" for a resumed session too, as Postfix says ("reused" is its word
         * for a cached connection) */
        log_info("smtpd", "%s TLS connection established from %s: %s",
                 !info->peer_cert     ? "Anonymous"
                 : info->peer_trusted ? "Trusted"
                                      : "Untrusted",
                 s->client, summary);

    char received[256];
    bool annotate =
        t->smtpd_received_header && tls_session_received_text(ts, received, sizeof(received)) >= 0;
    struct smtpd_tls_state st = {
        .received = annotate ? received : NULL,
        .ask_ccert = t->smtpd_ask_ccert || t->smtpd_req_ccert,
        .peer_cert = info->peer_cert,
        .peer_trusted = info->peer_trusted,
        .peer_CN = info->peer_CN,
        .issuer_CN = info->issuer_CN,
        .ccert_fingerprint = fp[0] ? fp : NULL,
        .ccert_pubkey_fingerprint = pkey_fp[0] ? pkey_fp : NULL,
    };
    s->ccert_trusted = info->peer_cert && info->peer_trusted;
    snprintf(s->ccert_CN, sizeof(s->ccert_CN), "%s", info->peer_cert ? info->peer_CN : "");
    if (smtpd_tls_started(s->smtpd, &st) < 0) {
        log_warn("smtpd", "out of memory after the TLS handshake with %s", s->client);
        s->closing = true;
        conn_abort(c);
        return;
    }
    if (s->smtps) {
        if (s->w->draining || s->refused) {
            server_act(s, s->refused ? smtpd_refuse(s->smtpd, conn_out(c))
                                     : smtpd_shutdown(s->smtpd, conn_out(c)));
            return;
        }
        smtpd_greeting(s->smtpd, conn_out(c));
    }
    server_act(s, SMTPD_CONTINUE);
}

/* server_start_tls - put a server TLS session on the connection; false: closed */
static bool server_start_tls(struct server_session *s)
{
    struct tls_ctx *ctx = s->rt->tls ? s->rt->tls->server_ctx : NULL;
    struct tls_session *ts = NULL;
    int rc = ctx ? tls_session_new(&ts, ctx, true, NULL) : -ENOTSUP;
    if (rc == 0 && (rc = conn_start_tls(s->conn, ts, server_tls_done)) < 0)
        tls_session_free(ts);
    if (rc < 0) {
        stats_inc(STAT_TLS_IN_FAILED);
        log_warn("smtpd", "cannot start TLS with %s: %s", s->client,
                 rc == -ENOTSUP ? "no smtpd TLS certificate configured" : strerror(-rc));
        s->closing = true;
        conn_abort(s->conn);
        return false;
    }
    s->handshaking = true;
    return true;
}

/* server_hold_output - move what the protocol wrote into the held replies */
static void server_hold_output(struct server_session *s)
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
static void server_act(struct server_session *s, enum smtpd_action act)
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
        if (!server_start_tls(s))
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

/* server_accept - a new inbound connection on this worker */
void server_accept(struct worker *w, int fd, enum listen_kind kind)
{
    struct anvil *anvil = w->daemon->anvil;
    int total_limit = daemon_total_limit(w->daemon, w->rt->cfg);
    if (!anvil_total_enter(anvil, total_limit)) {
        server_refuse_total(w, fd, kind, total_limit);
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
    s->service = server_service(kind);
    loop_timer_init(&s->idle, server_idle_timeout);
    loop_timer_init(&s->pause, server_pause_done);
    loop_timer_init(&s->lookup_timer, server_lookup_timeout);
    if (conn_new(&s->conn, w->loop, fd, &server_conn_ops, s) < 0) {
        close(fd);
        runtime_unref(s->rt);
        free(s);
        anvil_total_leave(anvil);
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
    };
    struct smtpd_hooks h = {
        .arg = s,
        .submit = server_submit,
        .check_rcpt = server_check_rcpt,
        .check_stage = server_check_stage,
        .auth_step = server_auth_step,
        .auth_end = server_auth_end,
        .event_ok = server_event_ok,
        .space_ok = server_space_ok,
    };
    if (smtpd_new(&s->smtpd, &p, &h) < 0) {
        s->closing = true;
        conn_abort(s->conn);
    }
    s->next = w->session_list;
    if (s->next)
        s->next->prev = s;
    w->session_list = s;
    w->sessions++;
    atomic_fetch_add(&w->connections_total, 1);
    if (!s->smtpd)
        return;
    bool admitted = server_admit(s);
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
        if (server_start_tls(s))
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
    for (struct server_session *s = w->session_list; s; s = s->next) {
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
