/*
 * NAME
 *	smtpc_impl - what the pieces of the SMTP client protocol share (private)
 * SYNOPSIS
 *	#include "core/delivery/smtpc_impl.h"
 * DESCRIPTION
 *	struct smtpc_session, its states, and the functions one piece calls in
 *	another:
 *	  smtpc.c        the session: replies in, the handshake (greeting, EHLO,
 *	                 STARTTLS), failures, QUIT
 *	  smtpc_send.c   one mail transaction: MAIL, RCPT, DATA, content, results
 *	  smtpc_auth.c   the AUTH exchange towards the server
 *	Only the smtpc*.c files include this header.
 */
#ifndef TERN_DELIVERY_SMTPC_IMPL_H
#define TERN_DELIVERY_SMTPC_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/delivery/smtpc.h"

#define SMTPC_REPLY_MAX (64 * 1024) /* one reply, all lines */
#define SMTPC_EXT_MAX 32

enum smtpc_state {
    S_GREETING, /* waiting for 220 */
    S_EHLO,     /* EHLO sent */
    S_HELO,     /* HELO sent after EHLO 5xx */
    S_STARTTLS, /* STARTTLS sent */
    S_TLS,      /* 220 to STARTTLS: waiting for smtpc_tls_started() */
    S_AUTH,     /* AUTH exchange in progress */
    S_READY,    /* idle, can take a transaction */
    S_TXN,      /* transaction open, replies pending in pend[] */
    S_QUIT,     /* QUIT sent */
    S_FAILED,
    S_CLOSED,
};

enum smtpc_cmd { CMD_RSET, CMD_MAIL, CMD_RCPT, CMD_DATA, CMD_DOT };

struct smtpc_pend {
    enum smtpc_cmd cmd;
    size_t idx; /* recipient index for CMD_RCPT */
};

struct smtpc_ext {
    char name[32];
    char *param; /* text after the keyword, or "" */
};

struct smtpc_session {
    enum smtpc_state state;
    char *helo_name;
    char *host; /* "host name[addr]" for reasons */
    bool want_pipelining;
    bool want_starttls;    /* use STARTTLS if offered */
    bool require_tls;      /* never a transaction in plaintext */
    bool tls_active;       /* smtpc_tls_started() was called */
    bool starttls_offered; /* seen in the EHLO reply before TLS */
    char error[512];

    struct buf in;    /* unparsed server bytes */
    size_t scan;      /* bytes of `in` already scanned for the current reply */
    struct buf reply; /* the current reply's lines, joined */
    int reply_code;   /* code of its first line, 0 = none yet */

    struct smtpc_ext ext[SMTPC_EXT_MAX];
    size_t next;

    /* the open transaction */
    struct queue_delivery *d;
    const char *body;
    size_t blen;
    struct smtpc_pend *pend; /* FIFO of commands awaiting replies */
    size_t pend_head, pend_tail, pend_cap;
    bool *accepted; /* per recipient: RCPT got 2xx */
    size_t naccepted;
    size_t next_rcpt; /* lock-step: next RCPT to write */
    bool pipelined;   /* this transaction is pipelined */
    bool mail_failed; /* MAIL refused: everything else is moot */
    bool discard_dot; /* "." sent only to close DATA with no recipients */
    bool need_rset;   /* last transaction did not end in 2xx */

    /* AUTH */
    const struct smtpc_auth *auth;
    bool auth_done, auth_failed;
    bool auth_then_no_tls; /* STARTTLS was refused: NO_TLS after the exchange */
    int auth_steps;
};

/* smtpc.c */
void smtpc_set_error(struct smtpc_session *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
enum smtpc_event smtpc_fail(struct smtpc_session *c, const char *reason);
enum smtpc_event smtpc_fail_reply(struct smtpc_session *c, const char *cmd);
const struct smtpc_ext *smtpc_find_ext(const struct smtpc_session *c, const char *ext);
bool smtpc_enhanced(const char *text, int code, char dsn[8]);
enum smtpc_event smtpc_ready(struct smtpc_session *c, bool no_tls);

/* smtpc_send.c */
enum smtpc_event smtpc_send_reply(struct smtpc_session *c, struct buf *out);
void smtpc_send_defer_open(struct smtpc_session *c, const char *dsn, const char *reason);
void smtpc_send_rcpt_result(struct queue_delivery_rcpt *r, int status, const char *dsn,
                            char *reason);
const char *smtpc_send_cmd_name(enum smtpc_cmd cmd);

/* smtpc_auth.c */
enum smtpc_event smtpc_auth_begin(struct smtpc_session *c, struct buf *out, bool no_tls);
enum smtpc_event smtpc_auth_reply(struct smtpc_session *c, struct buf *out);

#endif
