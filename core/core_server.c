/*
 * core_server - inbound sessions; see core_server.h.
 *
 * Life of a session: accept -> greeting -> (input -> replies)* -> at the end
 * of DATA the message goes to the queue thread and reading pauses (the
 * client waits for its 250 anyway; pausing bounds what we buffer) -> the
 * commit result is posted back to this worker -> 250 or 4xx -> reading
 * resumes. `refs` counts the conn and an outstanding commit; the session is
 * freed when both are gone.
 */
#include "core/core_server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core_conn.h"
#include "core/core_daemon.h"
#include "core/core_log.h"
#include "core/core_smtpd.h"
#include "core/core_worker.h"
#include "policy/policy_relay.h"

struct server_session {
    struct server_session *next, *prev; /* worker's session list */
    struct worker *w;
    struct tern_runtime *rt;
    struct conn *conn;
    struct smtpd_session *smtpd;
    struct loop_timer idle;
    int refs;
    bool waiting_commit;
    bool closing;
    char addr[64], name[80];
    int port;
};

struct commit_result {
    struct server_session *s;
    int status;
};

static void server_act(struct server_session *s, enum smtpd_action act);

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

/* server_check_rcpt - smtpd hook: relay permission */
static void server_check_rcpt(void *arg, const struct policy_addr *rcpt, struct policy_verdict *v)
{
    struct server_session *s = arg;
    struct policy_client c = {.addr = s->addr, .name = s->name};
    policy_relay_check(s->rt->relay, &c, rcpt, v);
}

/* server_act - carry out what the protocol asked for */
static void server_act(struct server_session *s, enum smtpd_action act)
{
    if (!s->conn)
        return;
    conn_flush(s->conn);
    switch (act) {
    case SMTPD_CONTINUE:
        conn_read_resume(s->conn);
        loop_timer_arm(s->w->loop, &s->idle, (uint64_t)s->rt->cfg->smtpd_timeout * 1000);
        break;
    case SMTPD_WAIT:
        conn_read_pause(s->conn);
        loop_timer_cancel(s->w->loop, &s->idle);
        break;
    case SMTPD_CLOSE:
    case SMTPD_STARTTLS: /* no TLS yet: never offered, so never asked for */
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
    server_act(s, smtpd_input(s->smtpd, data, len, conn_out(c)));
}

static void server_closed(struct conn *c, void *owner, int err)
{
    struct server_session *s = owner;
    s->conn = NULL;
    if (s->smtpd)
        smtpd_disconnected(s->smtpd);
    server_unref(s);
}

static const struct conn_ops server_conn_ops = {
    .data = server_data,
    .closed = server_closed,
};

/* server_idle_timeout - smtpd_timeout expired */
static void server_idle_timeout(struct loop_timer *t)
{
    struct server_session *s = (struct server_session *)((char *)t - offsetof(struct server_session, idle));
    if (s->conn && !s->closing)
        server_act(s, smtpd_timeout(s->smtpd, conn_out(s->conn)));
}

/* server_accept - a new inbound connection on this worker */
void server_accept(struct worker *w, int fd, enum listen_kind kind)
{
    struct server_session *s = calloc(1, sizeof(*s));
    if (!s) {
        close(fd);
        return;
    }
    s->w = w;
    s->rt = runtime_ref(w->rt);
    s->refs = 1;
    loop_timer_init(&s->idle, server_idle_timeout);
    if (conn_new(&s->conn, w->loop, fd, &server_conn_ops, s) < 0) {
        close(fd);
        runtime_unref(s->rt);
        free(s);
        return;
    }
    conn_peer(s->conn, s->addr, sizeof(s->addr), &s->port);
    /* tern does no reverse lookups on the submission path: "unknown", as Postfix
     * with smtpd_peername_lookup = no. */
    snprintf(s->name, sizeof(s->name), "unknown");
    const struct tern_config *cfg = s->rt->cfg;
    struct smtpd_params p = {
        .myhostname = cfg->myhostname,
        .banner = cfg->smtpd_banner,
        .client_addr = s->addr,
        .client_name = s->name,
        .client_port = s->port,
        .message_size_limit = cfg->message_size_limit,
        .recipient_limit = cfg->smtpd_recipient_limit,
        .tls_available = false,
    };
    struct smtpd_hooks h = {.arg = s, .submit = server_submit, .check_rcpt = server_check_rcpt};
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
    if (w->draining) {
        server_act(s, smtpd_shutdown(s->smtpd, conn_out(s->conn)));
        return;
    }
    smtpd_greeting(s->smtpd, conn_out(s->conn));
    server_act(s, SMTPD_CONTINUE);
}

/* server_drain_all - say goodbye to every session not mid-commit */
void server_drain_all(struct worker *w)
{
    for (struct server_session *s = w->session_list; s; s = s->next) {
        if (s->conn && !s->closing && !s->waiting_commit)
            server_act(s, smtpd_shutdown(s->smtpd, conn_out(s->conn)));
    }
}
