/*
 * NAME
 *	server_impl - what the pieces of an inbound session share (private)
 * SYNOPSIS
 *	#include "core/smtpd/server_impl.h"
 * DESCRIPTION
 *	struct server_session and the functions one piece calls in another:
 *	  server.c         the session's life and I/O: accept, input, replies, pauses, close
 *	  server_tls.c     STARTTLS and smtps: the handshake and its outcome
 *	  server_auth.c    SMTP AUTH steps on the SASL thread pool
 *	  server_check.c   the restrictions (policy_relay) with what the session knows
 *	  server_lookup.c  the sender domain lookups of reject_unknown_sender_domain
 *	  server_limit.c   client limits (anvil), queue_minfree
 *	  server_proxy.c   the PROXY header a balancer sends before the session
 *	All run on the session's worker thread. Only the server*.c files include this.
 */
#ifndef TERN_SMTPD_SERVER_IMPL_H
#define TERN_SMTPD_SERVER_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/loop/loop.h"
#include "core/smtpd/deadline.h"
#include "core/smtpd/listen.h"
#include "core/smtpd/proxy.h"
#include "core/smtpd/smtpd.h"
#include "policy/policy_relay.h"

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
    /* smtpd_upstream_proxy_protocol: the header before the session (server_proxy.c) */
    int proxy_fd;                  /* the socket while its header is read; -1 otherwise */
    enum listen_kind proxy_kind;   /* the listener it came from */
    char *proxy_buf;               /* PROXY_MAX: a prefix of the header, consumed */
    size_t proxy_have;             /* ... its length */
    struct loop_op proxy_op;       /* POLLIN on the socket */
    bool proxy_armed;              /* ... in flight (holds a reference) */
    struct loop_timer proxy_timer; /* smtpd_upstream_proxy_timeout */
};

/* server.c */
void server_act(struct server_session *s, enum smtpd_action act);
void server_hold_output(struct server_session *s);
void server_unref(struct server_session *s);
void server_answered(struct server_session *s, enum smtpd_action act);

void server_begin(struct server_session *s, int fd, enum listen_kind kind,
                  const struct proxy_header *ph);

/* server_proxy.c */
void server_proxy_start(struct server_session *s, int fd, enum listen_kind kind);
void server_proxy_drain(struct server_session *s);

/* server_tls.c */
bool server_tls_start(struct server_session *s);

/* server_auth.c */
void server_auth_step(void *arg, const char *mech, const char *in, size_t inlen, bool tls,
                      struct smtpd_auth_result *r);
void server_auth_end(void *arg);

/* server_check.c */
void server_check_rcpt(void *arg, const struct policy_addr *rcpt, struct policy_verdict *v);
void server_check_stage(void *arg, enum policy_stage stage, struct policy_verdict *v);

/* server_lookup.c */
bool server_lookup_start(struct server_session *s, const char *sender, const char *domain);
void server_lookup_cancel(struct server_session *s);
void server_lookup_timeout(struct loop_timer *t);

/* server_limit.c */
bool server_limit_admit(struct server_session *s);
void server_limit_refuse_total(struct worker *w, int fd, enum listen_kind kind, int limit);
bool server_limit_event_ok(void *arg, enum smtpd_event ev);
bool server_limit_space_ok(void *arg, unsigned long long size);

#endif
