/*
 * NAME
 *	smtpd - the SMTP server protocol of one session, without I/O
 * SYNOPSIS
 *	#include "core/smtpd/smtpd.h"
 * DESCRIPTION
 *	See smtpd/smtpd.h for the contract. This file holds the whole state
 *	machine: the command-line scanner, the command handlers, the ESMTP
 *	parameters (SIZE, BODY, SMTPUTF8, RET, ENVID, NOTIFY, ORCPT, and
 *	REQUIRETLS, offered and accepted over TLS only as RFC 8689 3 says; their
 *	syntax checks are smtpd/esmtp.c's), the streaming DATA reader and the hand-off
 *	of a finished message to hooks->submit(). What needs no session state
 *	lives beside it: the MAIL/RCPT path parser (smtpd_path.c) and the
 *	Received: header (smtpd_received.c).
 *
 *	Input handling. Every octet goes through one of two scanners, and both
 *	treat CR and LF the same way: CR must be followed by LF, LF must be
 *	preceded by CR, anything else is a bare CR/LF and ends the session
 *	with 521. A CR at the very end of a chunk is held (as pending input in
 *	command mode, as a flag in DATA mode) until the next octet decides.
 *	Because the end of DATA is recognised only as CR LF "." CR LF and every
 *	other CR/LF combination closes the session, no end-of-data variant can
 *	end a message early or smuggle a second envelope.
 *
 *	Memory bounds. In command mode at most one partial command line (< 512
 *	octets) stays unparsed: a longer line is consumed as it arrives and
 *	discarded up to its CRLF. The DATA reader consumes everything it is
 *	given; the content it keeps is bounded by message_size_limit (once the
 *	message is too big, the content is dropped and only counted). While a
 *	message is being committed or a SASL step runs elsewhere (SMTPD_WAIT)
 *	input is only buffered, never parsed; the caller is expected to stop
 *	reading, so the session then holds at most the tail of the last chunk
 *	it was fed. A hard cap of SMTPD_PENDING_MAX guards against a caller
 *	that keeps feeding: beyond it the session answers the commit (or the
 *	AUTH) and then closes with 421. The replies one
 *	call appends are bounded too: at SMTPD_OUT_BATCH octets parsing stops
 *	(smtpd_pending()) with the rest of the input kept, so one 16 KiB chunk of
 *	"EHLO x" lines never becomes half a megabyte of replies; the caller
 *	resumes once its output has drained, and reads nothing meanwhile.
 *
 *	Error counting mirrors Postfix: every 4xx or 5xx reply counts (421 and
 *	521, which end the session, do not); so does each junk command (HELO,
 *	EHLO, RSET, NOOP, VRFY, HELP) beyond smtpd_junk_command_limit. At
 *	smtpd_soft_error_limit every further reply is held for
 *	smtpd_error_sleep_time (parsing stops; the caller holds and resumes), at
 *	smtpd_hard_error_limit the session answers "421 4.7.0 <host> Error: too
 *	many errors", logs "too many errors after CMD from name[addr]" and
 *	closes. A queued message resets both counts, as in Postfix, so a client
 *	that sends many messages on one connection is never cut off.
 * DIAGNOSTICS
 *	smtpd_new() returns 0 or -ENOMEM. Protocol trouble is answered on the
 *	wire and logged (component "smtpd"); it never fails a function.
 */
#include "core/smtpd/smtpd.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base/base64.h"
#include "core/smtpd/esmtp.h"
#include "core/smtpd/hopcount.h"
#include "core/smtpd/tlsrequired.h"
#include "core/smtpd/smtpd_path.h"
#include "core/smtpd/smtpd_received.h"
#include "core/base/log.h"
#include "core/base/printable.h"
#include "core/base/time.h"
#include "policy/policy_addr.h"
#include "policy/policy_sasl.h"

#define SMTPD_LINE_MAX 512           /* command line incl. CRLF (RFC 5321 4.5.3.1.4) */
#define SMTPD_AUTH_LINE_MAX 12288    /* AUTH command and responses (RFC 4954 4) */
#define SMTPD_TEXT_MAX 1000          /* text line incl. CRLF (RFC 5321 4.5.3.1.6) */
#define SMTPD_HARD_ERROR_LIMIT 20    /* Postfix's smtpd_hard_error_limit */
#define SMTPD_SOFT_ERROR_LIMIT 10    /* Postfix's smtpd_soft_error_limit */
#define SMTPD_JUNK_COMMAND_LIMIT 100 /* Postfix's smtpd_junk_command_limit */
#define SMTPD_PENDING_MAX (1u << 20) /* input buffered while a commit is pending */

/* ST_WAIT: a message is being committed; ST_AUTH: a SASL step runs elsewhere (hook said
 * SMTPD_AUTH_PENDING); ST_LOOKUP: a policy hook started a DNS lookup (verdict's lookup).
 * All hold input unparsed until the answer comes. */
enum smtpd_state { ST_CMD, ST_DATA, ST_WAIT, ST_AUTH, ST_LOOKUP, ST_CLOSED };

/* where a command paused for a policy lookup goes on (smtpd_lookup_done) */
enum smtpd_resume { RS_NONE, RS_MAIL, RS_RCPT, RS_DATA, RS_EOD };

/* a RCPT waiting for a policy lookup: what its command line said */
struct smtpd_rcpt_wait {
    struct policy_addr a;
    char *orcpt;
    unsigned notify;
};

/* Per-command counters for the disconnect line, in Postfix's order. */
enum smtpd_cmd {
    CMD_HELO,
    CMD_EHLO,
    CMD_STARTTLS,
    CMD_AUTH,
    CMD_MAIL,
    CMD_RCPT,
    CMD_DATA,
    CMD_RSET,
    CMD_NOOP,
    CMD_VRFY,
    CMD_HELP,
    CMD_QUIT,
    CMD_UNKNOWN,
    CMD_COUNT
};
static const char *const smtpd_cmd_names[CMD_COUNT] = {
    "helo", "ehlo", "starttls", "auth", "mail", "rcpt",    "data",
    "rset", "noop", "vrfy",     "help", "quit", "unknown",
};

struct smtpd_session {
    /* identity, copied at smtpd_new() */
    char *myhostname, *banner, *client_addr, *client_name, *client; /* client: "name[addr]" */
    long size_limit;
    int rcpt_limit;
    int hop_limit; /* hopcount_limit; 0: none */
    bool tls_available, tls_required;
    struct smtpd_hooks hooks;

    enum smtpd_state state;
    struct buf in;     /* unparsed input */
    bool discard_line; /* inside an over-long command line */
    bool overflow;     /* SMTPD_PENDING_MAX exceeded while waiting */
    bool stopped;      /* parsing suspended until smtpd_resume() (output batch, error sleep) */
    bool shutdown_pending;
    bool tls_active;                /* STARTTLS accepted (or smtps) */
    bool tls_done;                  /* ... and the handshake finished */
    char *tls_received;             /* Received: annotation lines ("\r\n\t(...)"), NULL if none */
    char *ccert_fp, *ccert_pkey_fp; /* presented client certificate, NULL if none */
    bool ccert_trusted;             /* ... and its chain verified */
    bool logged_disconnect;
    bool delay_reject;        /* smtpd_delay_reject */
    bool access_denied;       /* the client list rejected at connect: 503 to all but QUIT */
    enum smtpd_resume resume; /* ST_LOOKUP: what goes on after the lookup */
    struct smtpd_rcpt_wait *rcpt_wait; /* RS_RCPT: the recipient being checked */
    int lookup_errors;                 /* errors before the paused command (cmd_ok counting) */

    /* AUTH */
    bool sasl_enabled, sasl_broken, sasl_header;
    const char *sasl_mechs, *sasl_mechs_tls; /* borrowed; NULL: nothing offered in that state */
    bool auth_exchange;                      /* waiting for a client response line */
    char *auth_mech;                         /* during the exchange, then of the authentication */
    char *sasl_user;                         /* authenticated */
    unsigned auth_failures;
    unsigned delay_ms; /* hold the output this long (smtpd_reply_delay_ms) */
    int errors;
    int junk;                               /* junk commands since the last queued message */
    int junk_limit, soft_limit, hard_limit; /* Postfix's smtpd_*_limit */
    char *const *forbidden;                 /* smtpd_forbidden_commands (borrowed) */
    size_t nforbidden;
    unsigned sleep_ms;                      /* smtpd_error_sleep_time; 0: none */
    unsigned long records;                  /* requests completed (smtpd_records) */
    enum smtpd_cmd last_cmd;                /* for "lost connection after X" */
    bool after_eom;                         /* DATA ended, no command since: END-OF-MESSAGE */
    unsigned cmd_total[CMD_COUNT], cmd_ok[CMD_COUNT];

    /* HELO/EHLO */
    char *helo;
    bool esmtp;

    /* envelope */
    bool in_mail;
    char qid[QUEUE_ID_LEN + 1];
    char *sender;
    char *envid;
    int ret, body_type;
    bool smtputf8;
    bool requiretls; /* MAIL FROM ... REQUIRETLS */
    size_t nrcpt, rcpt_cap, rcpt_tried;
    struct queue_rcpt_in *rcpt;

    /* DATA reader */
    struct buf content;  /* Received header + unstuffed content */
    size_t content_size; /* content octets received (limit check) */
    size_t line_len;     /* octets of the current line so far */
    bool d_bol, d_cr, d_dot, d_too_big, d_too_long, d_nomem;
};

/* smtpd_strdup - strdup that accepts NULL with a fallback */
static char *smtpd_strdup(const char *s, const char *dflt)
{
    return strdup(s ? s : dflt);
}

/* smtpd_waiting - is an answer from elsewhere (queue, SASL, policy lookup) outstanding? */
static bool smtpd_waiting(const struct smtpd_session *s)
{
    return s->state == ST_WAIT || s->state == ST_AUTH || s->state == ST_LOOKUP;
}

/* smtpd_reply - append one reply line; 4xx/5xx count as errors */
__attribute__((format(printf, 3, 4))) static int smtpd_reply(struct smtpd_session *s,
                                                             struct buf *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)buf_vprintf(out, fmt, ap);
    va_end(ap);
    (void)buf_append(out, "\r\n", 2);
    int code = atoi(fmt[0] == '%' ? "0" : fmt);
    if (code >= 400 && code != 421 && code != 521)
        s->errors++;
    return code;
}

/* smtpd_reply_code - like smtpd_reply, for a numeric code from a verdict */
static int smtpd_reply_code(struct smtpd_session *s, struct buf *out, int code, const char *dsn,
                            const char *text)
{
    (void)buf_printf(out, "%d %s %s\r\n", code, dsn, text);
    if (code >= 400)
        s->errors++;
    return code;
}

/* smtpd_verdict_reply - answer a policy rejection; a broken verdict never looks like success */
static void smtpd_verdict_reply(struct smtpd_session *s, struct buf *out, struct policy_verdict *v)
{
    if (v->code < 400 || v->code > 599)
        v->code = 451;
    if (!v->dsn[0])
        memcpy(v->dsn, v->code < 500 ? "4.7.1" : "5.7.1", 6);
    smtpd_reply_code(s, out, v->code, v->dsn, v->text);
}

static const char *smtpd_proto(const struct smtpd_session *s);

/* smtpd_policy - run hooks->check_stage; a rejection is answered and logged; 1: rejected, 0: no
 * objection, -1: the hook started a lookup (ST_LOOKUP; smtpd_lookup_done() goes on at rs) */
static int smtpd_policy(struct smtpd_session *s, enum policy_stage stage, const char *what,
                        struct buf *out, enum smtpd_resume rs)
{
    struct policy_verdict v;
    memset(&v, 0, sizeof(v));
    if (!s->hooks.check_stage)
        return 0;
    s->hooks.check_stage(s->hooks.arg, stage, &v);
    if (v.lookup[0] && rs != RS_NONE) {
        s->state = ST_LOOKUP;
        s->resume = rs;
        return -1;
    }
    if (!v.code)
        return 0;
    smtpd_verdict_reply(s, out, &v);
    char from[300] = "", to[300] = "", helo[300] = "";
    if (s->sender)
        snprintf(from, sizeof(from), "from=<%.280s> ", s->sender);
    if (s->nrcpt == 1 && stage >= POLICY_STAGE_DATA)
        snprintf(to, sizeof(to), "to=<%.280s> ", s->rcpt[0].addr);
    if (s->helo)
        snprintf(helo, sizeof(helo), " helo=<%.280s>", s->helo);
    log_info("smtpd", "%s: reject: %s from %s: %d %s %s; %s%sproto=%s%s",
             s->qid[0] ? s->qid : "NOQUEUE", what, s->client, v.code, v.dsn, v.text, from, to,
             smtpd_proto(s), helo);
    return 1;
}

/* smtpd_envelope_reset - forget the current transaction */
static void smtpd_envelope_reset(struct smtpd_session *s)
{
    free(s->sender);
    free(s->envid);
    for (size_t i = 0; i < s->nrcpt; i++) {
        free(s->rcpt[i].addr);
        free(s->rcpt[i].orcpt);
    }
    free(s->rcpt);
    s->sender = s->envid = NULL;
    s->rcpt = NULL;
    s->nrcpt = s->rcpt_cap = s->rcpt_tried = 0;
    s->ret = DSN_RET_NONE;
    s->body_type = BODY_7BIT;
    s->smtputf8 = false;
    s->requiretls = false;
    s->in_mail = false;
    s->qid[0] = 0;
    buf_free(&s->content);
}

/* smtpd_new - create a session for one connection */
int smtpd_new(struct smtpd_session **out, const struct smtpd_params *p, const struct smtpd_hooks *h)
{
    struct smtpd_session *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->myhostname = smtpd_strdup(p->myhostname, "localhost");
    s->client_addr = smtpd_strdup(p->client_addr, "unknown");
    s->client_name = smtpd_strdup(p->client_name, "unknown");
    if (!s->myhostname || !s->client_addr || !s->client_name)
        goto fail;
    if (p->banner) {
        s->banner = strdup(p->banner);
    } else {
        struct buf b = BUF_INIT;
        if (buf_printf(&b, "%s ESMTP tern", s->myhostname) == 0)
            s->banner = buf_steal(&b, NULL);
        buf_free(&b);
    }
    struct buf c = BUF_INIT;
    if (buf_printf(&c, "%s[%s]", s->client_name, s->client_addr) == 0)
        s->client = buf_steal(&c, NULL);
    buf_free(&c);
    if (!s->banner || !s->client)
        goto fail;
    s->size_limit = p->message_size_limit > 0 ? p->message_size_limit : 0;
    s->rcpt_limit = p->recipient_limit;
    s->hop_limit = p->hopcount_limit > 0 ? p->hopcount_limit : 0;
    s->junk_limit = p->junk_command_limit > 0 ? p->junk_command_limit : SMTPD_JUNK_COMMAND_LIMIT;
    s->forbidden = p->forbidden_commands;
    s->nforbidden = p->nforbidden;
    s->soft_limit = p->soft_error_limit > 0 ? p->soft_error_limit : SMTPD_SOFT_ERROR_LIMIT;
    s->hard_limit = p->hard_error_limit > 0 ? p->hard_error_limit : SMTPD_HARD_ERROR_LIMIT;
    s->sleep_ms = p->error_sleep_ms;
    s->tls_available = p->tls_available || p->tls_wrapper;
    s->tls_required = p->tls_required;
    s->tls_active = p->tls_wrapper;
    s->sasl_enabled = p->sasl_enabled;
    s->sasl_broken = p->sasl_broken_clients;
    s->sasl_header = p->sasl_received_header;
    s->delay_reject = p->delay_reject;
    if (s->sasl_enabled) {
        s->sasl_mechs = p->sasl_mechs && *p->sasl_mechs ? p->sasl_mechs : NULL;
        s->sasl_mechs_tls = p->sasl_mechs_tls && *p->sasl_mechs_tls ? p->sasl_mechs_tls : NULL;
    }
    if (h)
        s->hooks = *h;
    s->state = ST_CMD;
    s->last_cmd = CMD_COUNT;
    smtpd_envelope_reset(s);
    log_info("smtpd", "connect from %s", s->client);
    *out = s;
    return 0;
fail:
    free(s->myhostname);
    free(s->banner);
    free(s->client_addr);
    free(s->client_name);
    free(s->client);
    free(s);
    return -ENOMEM;
}

/* smtpd_last_cmd - the last command in upper case, as Postfix logs it ("lost connection after X")
 */
static const char *smtpd_last_cmd(const struct smtpd_session *s)
{
    static const char *const upper[CMD_COUNT] = {
        "HELO", "EHLO", "STARTTLS", "AUTH", "MAIL", "RCPT",    "DATA",
        "RSET", "NOOP", "VRFY",     "HELP", "QUIT", "UNKNOWN",
    };
    if (s->after_eom)
        return "END-OF-MESSAGE"; /* Postfix's state from the end of DATA to the next command */
    return s->last_cmd < CMD_COUNT ? upper[s->last_cmd] : "CONNECT";
}

/* smtpd_log_disconnect - the Postfix-style "disconnect from" line, once */
static void smtpd_log_disconnect(struct smtpd_session *s)
{
    if (s->logged_disconnect)
        return;
    s->logged_disconnect = true;
    char text[512];
    size_t n = 0;
    unsigned ok = 0, total = 0;
    text[0] = 0;
    for (int i = 0; i < CMD_COUNT; i++) {
        if (!s->cmd_total[i])
            continue;
        ok += s->cmd_ok[i];
        total += s->cmd_total[i];
        int w = s->cmd_ok[i] == s->cmd_total[i]
                    ? snprintf(text + n, sizeof(text) - n, " %s=%u", smtpd_cmd_names[i],
                               s->cmd_total[i])
                    : snprintf(text + n, sizeof(text) - n, " %s=%u/%u", smtpd_cmd_names[i],
                               s->cmd_ok[i], s->cmd_total[i]);
        if (w > 0 && (size_t)w < sizeof(text) - n)
            n += (size_t)w;
    }
    if (ok == total)
        log_info("smtpd", "disconnect from %s%s commands=%u", s->client, text, total);
    else
        log_info("smtpd", "disconnect from %s%s commands=%u/%u", s->client, text, ok, total);
}

/* smtpd_free - release the session (logs the disconnect line if not yet done) */
void smtpd_free(struct smtpd_session *s)
{
    if (!s)
        return;
    if (s->rcpt_wait) /* freed while a RCPT waited for a lookup */
        free(s->rcpt_wait->orcpt);
    free(s->rcpt_wait);
    smtpd_log_disconnect(s);
    smtpd_envelope_reset(s);
    buf_free(&s->in);
    free(s->helo);
    free(s->tls_received);
    free(s->ccert_fp);
    free(s->ccert_pkey_fp);
    free(s->auth_mech);
    free(s->sasl_user);
    free(s->myhostname);
    free(s->banner);
    free(s->client_addr);
    free(s->client_name);
    free(s->client);
    free(s);
}

/* smtpd_greeting - the 220 banner */
void smtpd_greeting(struct smtpd_session *s, struct buf *out)
{
    if (!s->delay_reject && smtpd_policy(s, POLICY_STAGE_CLIENT, "CONNECT", out, RS_NONE)) {
        s->access_denied = true; /* as Postfix: the rejection replaces the greeting */
        return;
    }
    (void)buf_printf(out, "220 %s\r\n", s->banner);
}

/* smtpd_close - enter the closed state (callers drop unparsed input) */
static enum smtpd_action smtpd_close(struct smtpd_session *s)
{
    s->state = ST_CLOSED;
    smtpd_envelope_reset(s);
    return SMTPD_CLOSE;
}

/* smtpd_bare - bare CR or LF: 521 and close */
static enum smtpd_action smtpd_bare(struct smtpd_session *s, struct buf *out, bool cr)
{
    const char *what = cr ? "<CR>" : "<LF>";
    log_info("smtpd", "%s: reject: bare %s received from %s", s->qid[0] ? s->qid : "NOQUEUE", what,
             s->client);
    smtpd_reply(s, out, "521 5.5.2 %s Error: bare %s received", s->myhostname, what);
    return smtpd_close(s);
}

/* -------------------------------------------------------------- commands */

/* smtpd_keyword - case-insensitive prefix match; returns what follows or NULL */
static char *smtpd_keyword(char *arg, const char *kw)
{
    size_t n = strlen(kw);
    return strncasecmp(arg, kw, n) == 0 ? arg + n : NULL;
}

/* smtpd_auth_mechs - the mechanisms offered in the session's state, NULL if none */
static const char *smtpd_auth_mechs(const struct smtpd_session *s)
{
    if (!s->sasl_enabled)
        return NULL;
    if (s->tls_active)
        return s->sasl_mechs_tls;
    /* mandatory TLS implies smtpd_tls_auth_only, as in Postfix */
    return s->tls_required ? NULL : s->sasl_mechs;
}

/* smtpd_pre_tls - may the command run before TLS under mandatory TLS? EHLO, HELO, STARTTLS,
 * NOOP, RSET and QUIT (RFC 3207 4 names NOOP, EHLO, STARTTLS and QUIT; HELO as Postfix; RSET
 * carries nothing, so a client may reset before it starts TLS). Everything else, AUTH and MAIL
 * first of all, gets 530: no credentials and no envelope cross the wire in the clear. */
static bool smtpd_pre_tls(enum smtpd_cmd cmd)
{
    switch (cmd) {
    case CMD_HELO:
    case CMD_EHLO:
    case CMD_STARTTLS:
    case CMD_NOOP:
    case CMD_RSET:
    case CMD_QUIT:
    case CMD_UNKNOWN: /* answered "not recognized" first, as Postfix does */
        return true;
    default:
        return false;
    }
}

/* smtpd_cmd_helo - HELO and EHLO; an EHLO implies RSET */
static void smtpd_cmd_helo(struct smtpd_session *s, char *arg, bool esmtp, struct buf *out)
{
    if (!*arg) {
        smtpd_reply(s, out, "501 5.5.4 Syntax: %s hostname", esmtp ? "EHLO" : "HELO");
        return;
    }
    char *h = strdup(arg);
    if (!h) {
        smtpd_reply(s, out, "451 4.3.0 Error: insufficient system resources");
        return;
    }
    char *old = s->helo;
    s->helo = h;
    if (!s->delay_reject &&
        smtpd_policy(s, POLICY_STAGE_HELO, esmtp ? "EHLO" : "HELO", out, RS_NONE)) {
        s->helo = old;
        free(h);
        return;
    }
    free(old);
    s->esmtp = esmtp;
    smtpd_envelope_reset(s);
    if (!esmtp) {
        smtpd_reply(s, out, "250 %s", s->myhostname);
        return;
    }
    (void)buf_printf(out, "250-%s\r\n250-PIPELINING\r\n", s->myhostname);
    if (s->size_limit)
        (void)buf_printf(out, "250-SIZE %ld\r\n", s->size_limit);
    else
        (void)buf_puts(out, "250-SIZE\r\n");
    (void)buf_puts(out, "250-VRFY\r\n");
    if (s->tls_available && !s->tls_active)
        (void)buf_puts(out, "250-STARTTLS\r\n");
    const char *mechs = smtpd_auth_mechs(s);
    if (mechs) {
        (void)buf_printf(out, "250-AUTH %s\r\n", mechs);
        if (s->sasl_broken)
            (void)buf_printf(out, "250-AUTH=%s\r\n", mechs);
    }
    if (s->tls_active)
        (void)buf_puts(out, "250-REQUIRETLS\r\n");
    (void)buf_puts(out, "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250 SMTPUTF8\r\n");
}

/* smtpd_event_ok - the client's rate limit for this event (hooks->event_ok) */
static bool smtpd_event_ok(struct smtpd_session *s, enum smtpd_event ev)
{
    return !s->hooks.event_ok || s->hooks.event_ok(s->hooks.arg, ev);
}

static void smtpd_mail_policy(struct smtpd_session *s, struct buf *out);
static void smtpd_rcpt_check(struct smtpd_session *s, const struct policy_addr *a,
                             const char *orcpt, unsigned notify, struct buf *out);

/* smtpd_cmd_mail - MAIL FROM:<path> [params] */
static void smtpd_cmd_mail(struct smtpd_session *s, char *arg, struct buf *out)
{
    if (!s->helo) {
        smtpd_reply(s, out, "503 5.5.1 Error: send HELO/EHLO first");
        return;
    }
    if (s->in_mail) {
        smtpd_reply(s, out, "503 5.5.1 Error: nested MAIL command");
        return;
    }
    char *p = smtpd_keyword(arg, "FROM:");
    if (!p) {
        smtpd_reply(s, out, "501 5.5.4 Syntax: MAIL FROM:<address>");
        return;
    }
    if (!smtpd_event_ok(s, SMTPD_EVENT_MAIL)) {
        smtpd_reply(s, out, "450 4.7.1 Error: too much mail from %s", s->client_addr);
        return;
    }
    struct policy_addr a;
    char *rest;
    if (smtpd_path(p, &a, &rest) < 0) {
        smtpd_reply(s, out, "501 5.1.7 Bad sender address syntax");
        return;
    }
    int ret = DSN_RET_NONE, body = BODY_7BIT;
    bool utf8 = false, seen_size = false, seen_body = false, requiretls = false;
    unsigned long long msg_size = 0;
    const char *envid = NULL;
    char *key, *val;
    while ((key = esmtp_next_param(&rest, &val)) != NULL) {
        if (strcasecmp(key, "SIZE") == 0) {
            char *e = NULL;
            errno = 0;
            unsigned long long size =
                val && isdigit((unsigned char)*val) ? strtoull(val, &e, 10) : 0;
            if (!val || !e || *e || seen_size || errno) {
                smtpd_reply(s, out, "501 5.5.4 Bad message size syntax");
                return;
            }
            seen_size = true;
            msg_size = size;
            if (s->size_limit && size > (unsigned long long)s->size_limit) {
                smtpd_reply(s, out, "552 5.3.4 Message size exceeds fixed limit");
                return;
            }
        } else if (strcasecmp(key, "BODY") == 0) {
            if (val && strcasecmp(val, "7BIT") == 0 && !seen_body)
                body = BODY_7BIT;
            else if (val && strcasecmp(val, "8BITMIME") == 0 && !seen_body)
                body = BODY_8BITMIME;
            else {
                smtpd_reply(s, out, "501 5.5.4 Unsupported BODY parameter");
                return;
            }
            seen_body = true;
        } else if (strcasecmp(key, "SMTPUTF8") == 0) {
            if (val || utf8) {
                smtpd_reply(s, out, "501 5.5.4 Bad SMTPUTF8 parameter syntax");
                return;
            }
            utf8 = true;
        } else if (strcasecmp(key, "REQUIRETLS") == 0) {
            if (!s->tls_active) { /* not offered in the clear: RFC 8689 3 */
                smtpd_reply(s, out, "530 5.7.10 REQUIRETLS needs a TLS session");
                return;
            }
            if (val || requiretls) {
                smtpd_reply(s, out, "501 5.5.4 Bad REQUIRETLS parameter syntax");
                return;
            }
            requiretls = true;
        } else if (strcasecmp(key, "RET") == 0) {
            if (ret == DSN_RET_NONE && val && strcasecmp(val, "FULL") == 0)
                ret = DSN_RET_FULL;
            else if (ret == DSN_RET_NONE && val && strcasecmp(val, "HDRS") == 0)
                ret = DSN_RET_HDRS;
            else {
                smtpd_reply(s, out, "501 5.5.4 Bad RET parameter syntax");
                return;
            }
        } else if (strcasecmp(key, "AUTH") == 0 && s->sasl_enabled) {
            /* RFC 4954 5: the submitter's claimed identity; tern keeps no use for it */
            if (!val || !*val || (strcmp(val, "<>") != 0 && !esmtp_xtext_ok(val))) {
                smtpd_reply(s, out, "501 5.5.4 Bad AUTH parameter syntax");
                return;
            }
        } else if (strcasecmp(key, "ENVID") == 0) {
            if (envid || !val || !*val || strlen(val) > ESMTP_ENVID_MAX || !esmtp_xtext_ok(val)) {
                smtpd_reply(s, out, "501 5.5.4 Bad ENVID parameter syntax");
                return;
            }
            envid = val;
        } else {
            smtpd_reply(s, out, "555 5.5.4 Unsupported option: %s", key);
            return;
        }
    }
    if (s->hooks.space_ok && !s->hooks.space_ok(s->hooks.arg, msg_size)) {
        smtpd_reply(s, out, "452 4.3.1 Insufficient system storage"); /* queue_minfree */
        return;
    }
    if ((a.utf8 || smtpd_path_8bit(a.addr)) && !utf8) {
        smtpd_reply(s, out, "553 5.6.7 Must declare SMTPUTF8 to send unicode address");
        return;
    }
    s->sender = strdup(a.addr);
    s->envid = envid ? strdup(envid) : NULL;
    if (!s->sender || (envid && !s->envid)) {
        smtpd_envelope_reset(s);
        smtpd_reply(s, out, "451 4.3.0 Error: insufficient system resources");
        return;
    }
    s->ret = ret;
    s->body_type = body;
    s->smtputf8 = utf8;
    s->requiretls = requiretls;
    smtpd_mail_policy(s, out);
}

/* smtpd_mail_policy - the sender list (without delay_reject), then the transaction starts; also
 * where a MAIL paused for a lookup goes on */
static void smtpd_mail_policy(struct smtpd_session *s, struct buf *out)
{
    if (!s->delay_reject) {
        int r = smtpd_policy(s, POLICY_STAGE_SENDER, "MAIL", out, RS_MAIL);
        if (r < 0)
            return;
        if (r > 0) {
            smtpd_envelope_reset(s);
            return;
        }
    }
    s->in_mail = true;
    queue_id_new(s->qid);
    if (s->sasl_user)
        log_info("smtpd", "%s: client=%s, sasl_method=%s, sasl_username=%s", s->qid, s->client,
                 s->auth_mech, s->sasl_user);
    else
        log_info("smtpd", "%s: client=%s", s->qid, s->client);
    smtpd_reply(s, out, "250 2.1.0 Ok");
}

/* smtpd_proto - protocol name for logs and Received: (RFC 3848, RFC 6531) */
static const char *smtpd_proto(const struct smtpd_session *s)
{
    static const char *const names[2][2][2] = {
        /* [smtputf8][tls][authenticated] */
        {{"ESMTP", "ESMTPA"}, {"ESMTPS", "ESMTPSA"}},
        {{"UTF8SMTP", "UTF8SMTPA"}, {"UTF8SMTPS", "UTF8SMTPSA"}},
    };
    if (!s->esmtp)
        return "SMTP";
    return names[s->smtputf8][s->tls_active][s->sasl_user != NULL];
}

/* smtpd_cmd_rcpt - RCPT TO:<path> [params] */
static void smtpd_cmd_rcpt(struct smtpd_session *s, char *arg, struct buf *out)
{
    if (!s->in_mail) {
        smtpd_reply(s, out, "503 5.5.1 Error: need MAIL command");
        return;
    }
    char *p = smtpd_keyword(arg, "TO:");
    if (!p) {
        smtpd_reply(s, out, "501 5.5.4 Syntax: RCPT TO:<address>");
        return;
    }
    if (!smtpd_event_ok(s, SMTPD_EVENT_RCPT)) {
        smtpd_reply(s, out, "450 4.7.1 Error: too many recipients from %s", s->client_addr);
        return;
    }
    s->rcpt_tried++;
    struct policy_addr a;
    char *rest;
    if (smtpd_path(p, &a, &rest) < 0 || a.null_path || !a.addr[0]) {
        smtpd_reply(s, out, "501 5.1.3 Bad recipient address syntax");
        return;
    }
    unsigned notify = 0;
    const char *orcpt = NULL;
    char *key, *val;
    while ((key = esmtp_next_param(&rest, &val)) != NULL) {
        if (strcasecmp(key, "NOTIFY") == 0) {
            if (notify || !val || esmtp_notify_parse(val, &notify) < 0) {
                smtpd_reply(s, out, "501 5.5.4 Error: Bad NOTIFY parameter syntax");
                return;
            }
        } else if (strcasecmp(key, "ORCPT") == 0) {
            if (orcpt || !val || !esmtp_orcpt_ok(val)) {
                smtpd_reply(s, out, "501 5.5.4 Error: Bad ORCPT parameter syntax");
                return;
            }
            orcpt = val;
        } else {
            smtpd_reply(s, out, "555 5.5.4 Unsupported option: %s", key);
            return;
        }
    }
    if ((a.utf8 || smtpd_path_8bit(a.addr)) && !s->smtputf8) {
        smtpd_reply(s, out, "553 5.6.7 Must declare SMTPUTF8 to send unicode address");
        return;
    }
    if (s->rcpt_limit > 0 && s->nrcpt >= (size_t)s->rcpt_limit) {
        smtpd_reply(s, out, "452 4.5.3 Error: too many recipients");
        return;
    }
    smtpd_rcpt_check(s, &a, orcpt, notify, out);
}

/* smtpd_rcpt_wait - keep a recipient while the policy looks something up; false: no memory */
static bool smtpd_rcpt_wait(struct smtpd_session *s, const struct policy_addr *a, const char *orcpt,
                            unsigned notify)
{
    struct smtpd_rcpt_wait *w = malloc(sizeof(*w));
    if (!w)
        return false;
    w->a = *a;
    w->notify = notify;
    w->orcpt = orcpt ? strdup(orcpt) : NULL;
    if (orcpt && !w->orcpt) {
        free(w);
        return false;
    }
    s->rcpt_wait = w;
    s->state = ST_LOOKUP;
    s->resume = RS_RCPT;
    return true;
}

/* smtpd_rcpt_check - the relay and recipient policy, then the recipient joins the envelope; also
 * where a RCPT paused for a lookup goes on */
static void smtpd_rcpt_check(struct smtpd_session *s, const struct policy_addr *a,
                             const char *orcpt, unsigned notify, struct buf *out)
{
    struct policy_verdict v;
    memset(&v, 0, sizeof(v));
    if (s->hooks.check_rcpt)
        s->hooks.check_rcpt(s->hooks.arg, a, &v);
    if (v.lookup[0]) {
        if (smtpd_rcpt_wait(s, a, orcpt, notify))
            return;
        memset(&v, 0, sizeof(v));
        v.code = 451;
        snprintf(v.dsn, sizeof(v.dsn), "4.3.0");
        snprintf(v.text, sizeof(v.text), "Error: insufficient system resources");
    }
    if (v.code) {
        smtpd_verdict_reply(s, out, &v);
        log_info("smtpd",
                 "%s: reject: RCPT from %s: %d %s %s; from=<%s> to=<%s> proto=%s helo=<%s>",
                 s->qid[0] ? s->qid : "NOQUEUE", s->client, v.code, v.dsn, v.text, s->sender,
                 a->addr, smtpd_proto(s), s->helo);
        return;
    }
    if (s->nrcpt == s->rcpt_cap) {
        size_t cap = s->rcpt_cap ? s->rcpt_cap * 2 : 4;
        struct queue_rcpt_in *r = realloc(s->rcpt, cap * sizeof(*r));
        if (!r) {
            smtpd_reply(s, out, "452 4.3.1 Insufficient system storage");
            return;
        }
        s->rcpt = r;
        s->rcpt_cap = cap;
    }
    struct queue_rcpt_in *r = &s->rcpt[s->nrcpt];
    r->addr = strdup(a->addr);
    r->orcpt = orcpt ? strdup(orcpt) : NULL;
    r->notify = notify;
    if (!r->addr || (orcpt && !r->orcpt)) {
        free(r->addr);
        free(r->orcpt);
        smtpd_reply(s, out, "452 4.3.1 Insufficient system storage");
        return;
    }
    s->nrcpt++;
    smtpd_reply(s, out, "250 2.1.5 Ok");
}

static void smtpd_data_policy(struct smtpd_session *s, struct buf *out);

/* smtpd_cmd_data - DATA: start the reader with the Received: header */
static bool smtpd_cmd_data(struct smtpd_session *s, char *arg, struct buf *out)
{
    if (*arg) {
        smtpd_reply(s, out, "501 5.5.4 Syntax: DATA");
        return false;
    }
    if (!s->in_mail) {
        smtpd_reply(s, out, "503 5.5.1 Error: need RCPT command");
        return false;
    }
    if (s->nrcpt == 0) {
        smtpd_reply(s, out,
                    s->rcpt_tried ? "554 5.5.1 Error: no valid recipients"
                                  : "503 5.5.1 Error: need RCPT command");
        return false;
    }
    smtpd_data_policy(s, out);
    return true;
}

/* smtpd_data_policy - the data list, then 354; also where a DATA paused for a lookup goes on */
static void smtpd_data_policy(struct smtpd_session *s, struct buf *out)
{
    if (smtpd_policy(s, POLICY_STAGE_DATA, "DATA", out, RS_DATA))
        return;
    buf_free(&s->content);
    struct smtpd_received r = {
        .helo = s->helo,
        .client_name = s->client_name,
        .client_addr = s->client_addr,
        .tls = s->tls_received,
        .sasl_user = s->sasl_header ? s->sasl_user : NULL,
        .myhostname = s->myhostname,
        .proto = smtpd_proto(s),
        .qid = s->qid,
        .rcpt = s->nrcpt == 1 ? s->rcpt[0].addr : NULL,
        .smtputf8 = s->smtputf8,
        .when = time(NULL),
    };
    int rc = smtpd_received(&s->content, &r);
    if (rc < 0) {
        smtpd_reply(s, out, "451 4.3.0 Error: insufficient system resources");
        return;
    }
    s->content_size = 0;
    s->line_len = 0;
    s->d_bol = true;
    s->d_cr = s->d_dot = s->d_too_big = s->d_too_long = s->d_nomem = false;
    s->state = ST_DATA;
    smtpd_reply(s, out, "354 End data with <CR><LF>.<CR><LF>");
}

/* smtpd_cmd_starttls - STARTTLS: the caller switches to TLS */
static enum smtpd_action smtpd_cmd_starttls(struct smtpd_session *s, char *arg, struct buf *out)
{
    if (!s->tls_available) {
        smtpd_reply(s, out, "502 5.5.1 Error: STARTTLS not offered");
        return SMTPD_CONTINUE;
    }
    if (*arg) {
        smtpd_reply(s, out, "501 5.5.4 Syntax: STARTTLS");
        return SMTPD_CONTINUE;
    }
    if (s->tls_active) {
        smtpd_reply(s, out, "503 5.5.1 Error: TLS already active");
        return SMTPD_CONTINUE;
    }
    if (s->in_mail) {
        smtpd_reply(s, out, "503 5.5.1 Error: MAIL transaction in progress");
        return SMTPD_CONTINUE;
    }
    smtpd_reply(s, out, "220 2.0.0 Ready to start TLS");
    /* RFC 3207 4.2: forget everything learned before the handshake. */
    s->tls_active = true;
    free(s->helo);
    s->helo = NULL;
    s->esmtp = false;
    free(s->sasl_user);
    free(s->auth_mech);
    s->sasl_user = s->auth_mech = NULL;
    smtpd_envelope_reset(s);
    return SMTPD_STARTTLS;
}

/* smtpd_auth_end - the exchange is over; failed or cancelled leaves nothing behind */
static void smtpd_auth_end(struct smtpd_session *s, bool success)
{
    s->auth_exchange = false;
    if (!success) {
        free(s->auth_mech);
        s->auth_mech = NULL;
    }
    if (s->hooks.auth_end)
        s->hooks.auth_end(s->hooks.arg);
}

/* smtpd_auth_answer - answer one SASL step's outcome */
static void smtpd_auth_answer(struct smtpd_session *s, const struct smtpd_auth_result *r,
                              struct buf *out)
{
    /* the hook's strings die with the exchange (smtpd_auth_end): copy the reason first */
    char why[256];
    snprintf(why, sizeof(why), "%s", r->why && *r->why ? r->why : "authentication failure");
    switch (r->status) {
    case SMTPD_AUTH_CONTINUE:
        s->auth_exchange = true;
        (void)buf_puts(out, "334 ");
        (void)base64_encode(out, r->out ? r->out : "", r->out ? r->outlen : 0);
        (void)buf_puts(out, "\r\n");
        return;
    case SMTPD_AUTH_OK:
        free(s->sasl_user);
        s->sasl_user = strdup(r->username && *r->username ? r->username : "unknown");
        if (!s->sasl_user) {
            smtpd_auth_end(s, false);
            smtpd_reply(s, out, "454 4.7.0 Temporary authentication failure: out of memory");
            return;
        }
        smtpd_auth_end(s, true);
        s->cmd_ok[CMD_AUTH]++;
        smtpd_reply(s, out, "235 2.7.0 Authentication successful");
        return;
    case SMTPD_AUTH_PENDING: /* not an outcome: a broken caller */
    case SMTPD_AUTH_TEMPFAIL:
        log_warn("smtpd", "%s: SASL %s authentication aborted: %s", s->client, s->auth_mech, why);
        smtpd_auth_end(s, false);
        smtpd_reply(s, out, "454 4.7.0 Temporary authentication failure: %s", why);
        return;
    case SMTPD_AUTH_FAIL:
        break;
    }
    log_warn("smtpd", "%s: SASL %s authentication failed: %s", s->client, s->auth_mech, why);
    smtpd_auth_end(s, false);
    s->auth_failures++;
    s->delay_ms = policy_sasl_auth_delay_ms(s->auth_failures);
    smtpd_reply(s, out, "535 5.7.8 Error: authentication failed: %s", why);
}

/* smtpd_auth_step - run one SASL step; answer it now, or wait for smtpd_auth_done() */
static void smtpd_auth_step(struct smtpd_session *s, const char *mech, const char *in, size_t inlen,
                            struct buf *out)
{
    struct smtpd_auth_result r = {.status = SMTPD_AUTH_FAIL, .why = "no SASL back end"};
    if (s->hooks.auth_step)
        s->hooks.auth_step(s->hooks.arg, mech, in, inlen, s->tls_active, &r);
    if (r.status == SMTPD_AUTH_PENDING) {
        s->auth_exchange = false;
        s->state = ST_AUTH;
        return;
    }
    smtpd_auth_answer(s, &r, out);
}

/* smtpd_auth_decode - base64 text to bytes (malloc'd into *data); -EINVAL if malformed */
static int smtpd_auth_decode(const char *text, unsigned char **data, size_t *len)
{
    size_t tlen = strlen(text);
    unsigned char *d = malloc(tlen / 4 * 3 + 1);
    if (!d)
        return -ENOMEM;
    int n = base64_decode(text, tlen, d, tlen / 4 * 3 + 1);
    if (n < 0) {
        free(d);
        return n;
    }
    *data = d;
    *len = (size_t)n;
    return 0;
}

/* smtpd_mech_offered - is mech (case-insensitive) in the offered list? */
static bool smtpd_mech_offered(const char *list, const char *mech)
{
    size_t n = strlen(mech);
    for (const char *p = list; p && *p;) {
        size_t w = strcspn(p, " ");
        if (w == n && strncasecmp(p, mech, n) == 0)
            return true;
        p += w;
        p += strspn(p, " ");
    }
    return false;
}

/* smtpd_cmd_auth - AUTH mechanism [initial-response] */
static void smtpd_cmd_auth(struct smtpd_session *s, char *arg, struct buf *out)
{
    if (!s->sasl_enabled) {
        smtpd_reply(s, out, "503 5.5.1 Error: authentication not enabled");
        return;
    }
    if (!smtpd_event_ok(s, SMTPD_EVENT_AUTH)) {
        smtpd_reply(s, out, "450 4.7.1 Error: too many AUTH commands from %s", s->client_addr);
        return;
    }
    if (!s->helo) {
        smtpd_reply(s, out, "503 5.5.1 Error: send HELO/EHLO first");
        return;
    }
    const char *mechs = smtpd_auth_mechs(s);
    if (!mechs) {
        smtpd_reply(s, out, "503 5.5.1 Error: authentication not enabled");
        return;
    }
    if (s->sasl_user) {
        smtpd_reply(s, out, "503 5.5.1 Error: already authenticated");
        return;
    }
    if (s->in_mail) {
        smtpd_reply(s, out, "503 5.5.1 Error: MAIL transaction in progress");
        return;
    }
    char *mech = arg;
    size_t mlen = strcspn(mech, " ");
    char *initial = mech + mlen;
    if (*initial)
        *initial++ = 0;
    initial += strspn(initial, " ");
    if (!*mech || strchr(initial, ' ')) {
        smtpd_reply(s, out, "501 5.5.4 Syntax: AUTH mechanism [initial-response]");
        return;
    }
    if (!smtpd_mech_offered(mechs, mech)) {
        smtpd_reply(s, out, "504 5.5.4 Unsupported authentication mechanism");
        return;
    }
    for (char *c = mech; *c; c++)
        *c = (char)toupper((unsigned char)*c);
    free(s->auth_mech);
    if (!(s->auth_mech = strdup(mech))) {
        smtpd_reply(s, out, "454 4.7.0 Temporary authentication failure: out of memory");
        return;
    }
    unsigned char *data = NULL;
    size_t len = 0;
    if (*initial && strcmp(initial, "=") != 0) {
        int rc = smtpd_auth_decode(initial, &data, &len);
        if (rc < 0) {
            smtpd_auth_end(s, false);
            smtpd_reply(s, out,
                        rc == -ENOMEM ? "454 4.7.0 Temporary authentication failure"
                                      : "501 5.5.2 Cannot decode response");
            return;
        }
    }
    /* "=" is an empty initial response (RFC 4954 4); none at all: NULL */
    const char *in = NULL;
    if (*initial)
        in = data ? (const char *)data : "";
    smtpd_auth_step(s, s->auth_mech, in, len, out);
    if (data) {
        explicit_bzero(data, len);
        free(data);
    }
}

/* smtpd_auth_response - a line from the client inside an AUTH exchange */
static void smtpd_auth_response(struct smtpd_session *s, char *line, struct buf *out)
{
    if (strcmp(line, "*") == 0) {
        smtpd_auth_end(s, false);
        smtpd_reply(s, out, "501 5.7.0 Authentication aborted");
        return;
    }
    unsigned char *data = NULL;
    size_t len = 0;
    int rc = smtpd_auth_decode(line, &data, &len);
    if (rc < 0) {
        smtpd_auth_end(s, false);
        smtpd_reply(s, out,
                    rc == -ENOMEM ? "454 4.7.0 Temporary authentication failure"
                                  : "501 5.5.2 Cannot decode response");
        return;
    }
    smtpd_auth_step(s, NULL, (const char *)data, len, out);
    explicit_bzero(data, len);
    free(data);
}

/* smtpd_is_junk - commands that smtpd_junk_command_limit counts: Postfix's HELO, EHLO, RSET,
 * NOOP, VRFY (and ETRN, which tern does not have), and HELP, which a loop uses just as well */
static bool smtpd_is_junk(enum smtpd_cmd cmd)
{
    return cmd == CMD_HELO || cmd == CMD_EHLO || cmd == CMD_RSET || cmd == CMD_NOOP ||
           cmd == CMD_VRFY || cmd == CMD_HELP;
}

/* smtpd_header_like - the verb (vlen octets) starts as a message header does, "Label:" (printable
 * ASCII without ':' before the colon): a client that lost track of DATA, or a web form posting
 * to port 25 */
static bool smtpd_header_like(const char *verb, size_t vlen)
{
    size_t n = 0;
    while (n < vlen && verb[n] > ' ' && verb[n] < 127 && verb[n] != ':')
        n++;
    return n > 0 && n < vlen && verb[n] == ':';
}

/* smtpd_forbidden - an unknown verb (vlen octets) that ends the session: one of
 * smtpd_forbidden_commands, one that does not start with a letter (Postfix's default has
 * regexp:{{/^[^A-Z]/ Bogus}} for that), or a header (Postfix's is_header rule) */
static bool smtpd_forbidden(const struct smtpd_session *s, const char *line, size_t vlen)
{
    if (!isalpha((unsigned char)line[0]) || smtpd_header_like(line, vlen))
        return true;
    for (size_t i = 0; i < s->nforbidden; i++)
        if (strlen(s->forbidden[i]) == vlen && strncasecmp(line, s->forbidden[i], vlen) == 0)
            return true;
    return false;
}

/* smtpd_command - dispatch one complete command line (NUL-terminated) */
static enum smtpd_action smtpd_command(struct smtpd_session *s, char *line, size_t len,
                                       struct buf *out)
{
    if (len == 0 || memchr(line, 0, len)) {
        smtpd_reply(s, out, "500 5.5.2 Error: bad syntax");
        return SMTPD_CONTINUE;
    }
    size_t vlen = strcspn(line, " ");
    char *arg = line + vlen;
    while (*arg == ' ')
        arg++;
    /* trailing white space is not part of any argument */
    char *e = line + len;
    while (e > arg && (e[-1] == ' ' || e[-1] == '\t'))
        *--e = 0;
    static const struct {
        const char *name;
        enum smtpd_cmd cmd;
    } verbs[] = {
        {"HELO", CMD_HELO}, {"EHLO", CMD_EHLO}, {"STARTTLS", CMD_STARTTLS}, {"AUTH", CMD_AUTH},
        {"MAIL", CMD_MAIL}, {"RCPT", CMD_RCPT}, {"DATA", CMD_DATA},         {"RSET", CMD_RSET},
        {"NOOP", CMD_NOOP}, {"VRFY", CMD_VRFY}, {"HELP", CMD_HELP},         {"QUIT", CMD_QUIT},
    };
    enum smtpd_cmd cmd = CMD_UNKNOWN;
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (strlen(verbs[i].name) == vlen && strncasecmp(line, verbs[i].name, vlen) == 0)
            cmd = verbs[i].cmd;
    s->last_cmd = cmd;
    s->after_eom = false;
    s->cmd_total[cmd]++;
    if (cmd == CMD_UNKNOWN && smtpd_forbidden(s, line, vlen)) {
        char shown[101];
        printable_copy(shown, sizeof(shown), line, PRINTABLE_ASCII);
        log_warn("smtpd", "non-SMTP command from %s: %s", s->client, shown);
        smtpd_reply(s, out, "221 2.7.0 Error: I can break rules, too. Goodbye.");
        return smtpd_close(s);
    }
    if (s->access_denied && cmd != CMD_QUIT) {
        smtpd_reply(s, out, "503 5.7.0 Error: access denied for %s", s->client);
        return SMTPD_CONTINUE;
    }
    if (s->tls_required && !s->tls_active && !smtpd_pre_tls(cmd)) {
        smtpd_reply(s, out, "530 5.7.0 Must issue a STARTTLS command first");
        return SMTPD_CONTINUE;
    }
    int errors_before = s->errors;
    enum smtpd_action act = SMTPD_CONTINUE;

    switch (cmd) {
    case CMD_HELO:
    case CMD_EHLO:
        smtpd_cmd_helo(s, arg, cmd == CMD_EHLO, out);
        break;
    case CMD_STARTTLS:
        act = smtpd_cmd_starttls(s, arg, out);
        break;
    case CMD_AUTH:
        /* counted as a success only when the exchange succeeds */
        smtpd_cmd_auth(s, arg, out);
        return SMTPD_CONTINUE;
    case CMD_MAIL:
        smtpd_cmd_mail(s, arg, out);
        break;
    case CMD_RCPT:
        smtpd_cmd_rcpt(s, arg, out);
        break;
    case CMD_DATA:
        /* counted as a success only when the message is queued */
        smtpd_cmd_data(s, arg, out);
        return SMTPD_CONTINUE;
    case CMD_RSET:
        if (*arg) {
            smtpd_reply(s, out, "501 5.5.4 Syntax: RSET");
            break;
        }
        smtpd_envelope_reset(s);
        smtpd_reply(s, out, "250 2.0.0 Ok");
        break;
    case CMD_NOOP:
        smtpd_reply(s, out, "250 2.0.0 Ok");
        break;
    case CMD_VRFY:
        if (!*arg)
            smtpd_reply(s, out, "501 5.5.4 Syntax: VRFY address");
        else
            smtpd_reply(s, out, "252 2.0.0 Cannot VRFY user; try RCPT to attempt delivery");
        break;
    case CMD_HELP:
        smtpd_reply(
            s, out,
            "214 2.0.0 Commands: HELO EHLO STARTTLS AUTH MAIL RCPT DATA RSET NOOP VRFY HELP QUIT");
        break;
    case CMD_QUIT:
        smtpd_reply(s, out, "221 2.0.0 Bye");
        s->cmd_ok[cmd]++;
        return smtpd_close(s);
    default:
        smtpd_reply(s, out, "500 5.5.2 Error: command not recognized");
        break;
    }
    if (s->state == ST_LOOKUP)
        s->lookup_errors = errors_before; /* counted when the command is answered */
    else if (s->errors == errors_before)
        s->cmd_ok[cmd]++;
    if (smtpd_is_junk(cmd) && s->junk++ > s->junk_limit)
        s->errors++; /* as Postfix: the reply was a success, the session pays anyway */
    return act;
}

/* ------------------------------------------------------------------ DATA */

/* smtpd_content_add - keep content octets unless the message is already refused */
static void smtpd_content_add(struct smtpd_session *s, const char *p, size_t n)
{
    s->content_size += n;
    if (s->d_too_big || s->d_nomem)
        return;
    if (s->size_limit && s->content_size > (size_t)s->size_limit) {
        s->d_too_big = true;
        buf_free(&s->content); /* count the rest, keep nothing */
        return;
    }
    if (buf_append(&s->content, p, n) < 0) {
        s->d_nomem = true;
        buf_free(&s->content);
    }
}

/* smtpd_submit_error - reply to a failed commit or submit */
static void smtpd_submit_error(struct smtpd_session *s, int status, struct buf *out)
{
    if (status == -ENOSPC)
        smtpd_reply(s, out, "452 4.3.1 Insufficient system storage");
    else
        smtpd_reply(s, out, "451 4.3.0 Error: queue file write error");
    log_info("smtpd", "%s: reject: END-OF-MESSAGE from %s: queue error: %s", s->qid, s->client,
             strerror(status < 0 ? -status : status));
}

/* smtpd_too_many_hops - hopcount_limit: refuse a message with that many Received: (own
 *	included) as Postfix does, so that two relays pointing at each other stop the loop */
static bool smtpd_too_many_hops(struct smtpd_session *s, struct buf *out)
{
    if (s->hop_limit <= 0)
        return false;
    size_t hops = hopcount_received(s->content.data + s->content.off,
                                    s->content.len - s->content.off, (size_t)s->hop_limit);
    if (hops < (size_t)s->hop_limit)
        return false;
    smtpd_reply(s, out, "554 5.4.6 Error: too many hops");
    log_info("smtpd",
             "%s: reject: END-OF-MESSAGE from %s: 554 5.4.6 Error: too many hops (%zu Received: "
             "headers, hopcount_limit %d); from=<%s> proto=%s helo=<%s>",
             s->qid, s->client, hops, s->hop_limit, s->sender, smtpd_proto(s), s->helo);
    smtpd_envelope_reset(s);
    return true;
}

static enum smtpd_action smtpd_eod_policy(struct smtpd_session *s, struct buf *out);

/* smtpd_data_end - the message is complete: refuse it or hand it to the queue */
static enum smtpd_action smtpd_data_end(struct smtpd_session *s, struct buf *out)
{
    s->after_eom = true;
    s->state = ST_CMD;
    s->records++;
    if (s->d_too_big || s->d_too_long || s->d_nomem) {
        if (s->d_too_big)
            smtpd_reply(s, out, "552 5.3.4 Error: message file too big");
        else if (s->d_too_long)
            smtpd_reply(s, out, "500 5.5.2 Error: line too long");
        else
            smtpd_reply(s, out, "452 4.3.1 Insufficient system storage");
        log_info("smtpd", "%s: reject: END-OF-MESSAGE from %s: %s; from=<%s> proto=%s helo=<%s>",
                 s->qid, s->client,
                 s->d_too_big    ? "552 5.3.4 message file too big"
                 : s->d_too_long ? "500 5.5.2 line too long"
                                 : "452 4.3.1 out of memory",
                 s->sender, smtpd_proto(s), s->helo);
        smtpd_envelope_reset(s);
        return SMTPD_CONTINUE;
    }
    return smtpd_eod_policy(s, out);
}

/* smtpd_eod_policy - the end-of-data list, then the queue; also where the end of a message paused
 * for a lookup goes on */
static enum smtpd_action smtpd_eod_policy(struct smtpd_session *s, struct buf *out)
{
    int r = smtpd_policy(s, POLICY_STAGE_EOD, "END-OF-MESSAGE", out, RS_EOD);
    if (r < 0)
        return SMTPD_WAIT;
    if (r > 0) {
        smtpd_envelope_reset(s);
        return SMTPD_CONTINUE;
    }
    if (smtpd_too_many_hops(s, out))
        return SMTPD_CONTINUE;
    struct queue_msg *m = calloc(1, sizeof(*m));
    if (!m)
        goto nomem;
    memcpy(m->qid, s->qid, sizeof(m->qid));
    m->client = strdup(s->client);
    if (!m->client)
        goto nomem;
    /* Move the envelope into the message. */
    m->sender = s->sender;
    m->envid = s->envid;
    m->rcpt = s->rcpt;
    m->nrcpt = s->nrcpt;
    s->sender = s->envid = NULL;
    s->rcpt = NULL;
    s->nrcpt = s->rcpt_cap = 0;
    m->ret = s->ret;
    m->body_type = s->body_type;
    m->smtputf8 = s->smtputf8;
    m->requiretls = s->requiretls;
    m->data = buf_steal(&s->content, &m->len);
    if (!m->data)
        goto nomem;
    /* RFC 8689 4.1: with REQUIRETLS the header field means nothing */
    m->tls_optional = !m->requiretls && tlsrequired_no(m->data, m->len);
    m->arrival = time_now();

    int rc = s->hooks.submit ? s->hooks.submit(s->hooks.arg, m) : -ENOSYS;
    if (rc < 0) {
        queue_msg_free(m);
        smtpd_submit_error(s, rc, out);
        smtpd_envelope_reset(s);
        return SMTPD_CONTINUE;
    }
    s->state = ST_WAIT;
    return SMTPD_WAIT;
nomem:
    queue_msg_free(m);
    smtpd_submit_error(s, -ENOSPC, out);
    smtpd_envelope_reset(s);
    return SMTPD_CONTINUE;
}

/* smtpd_data_feed - run the DATA reader over p[0..n); returns octets used */
static size_t smtpd_data_feed(struct smtpd_session *s, const char *p, size_t n, struct buf *out,
                              enum smtpd_action *act)
{
    size_t i = 0;
    while (i < n) {
        char c = p[i];
        if (s->d_cr) {
            s->d_cr = false;
            i++;
            if (c != '\n') {
                *act = smtpd_bare(s, out, true);
                return n;
            }
            if (s->d_dot && s->line_len == 1) {
                *act = smtpd_data_end(s, out);
                return i;
            }
            /* the limit is on content: a stuffed dot does not count */
            if (s->line_len - (s->d_dot ? 1 : 0) + 2 > SMTPD_TEXT_MAX)
                s->d_too_long = true;
            smtpd_content_add(s, "\r\n", 2);
            s->line_len = 0;
            s->d_bol = true;
            s->d_dot = false;
            continue;
        }
        if (c == '\r') {
            s->d_cr = true;
            i++;
            continue;
        }
        if (c == '\n') {
            *act = smtpd_bare(s, out, false);
            return n;
        }
        if (s->d_bol && c == '.') {
            /* dot-unstuffing: the leading dot is dropped (RFC 5321 4.5.2) */
            s->d_bol = false;
            s->d_dot = true;
            s->line_len = 1;
            i++;
            continue;
        }
        /* the rest of the line up to a CR or LF, found with memchr (bodies are long) */
        const char *cr = memchr(p + i, '\r', n - i);
        size_t lim = cr ? (size_t)(cr - p) : n;
        const char *lf = memchr(p + i, '\n', lim - i);
        size_t j = lf ? (size_t)(lf - p) : lim;
        smtpd_content_add(s, p + i, j - i);
        s->line_len += j - i;
        s->d_bol = false;
        i = j;
    }
    return i;
}

/* ------------------------------------------------------------ the engine */

enum scan_result { SCAN_MORE, SCAN_LINE, SCAN_BARE_CR, SCAN_BARE_LF, SCAN_TOO_LONG };

/* smtpd_line_max - the line limit for what starts at p: AUTH lines may be longer */
static size_t smtpd_line_max(const struct smtpd_session *s, const char *p, size_t n)
{
    if (s->auth_exchange || (s->sasl_enabled && n >= 5 && strncasecmp(p, "AUTH ", 5) == 0))
        return SMTPD_AUTH_LINE_MAX;
    return SMTPD_LINE_MAX;
}

/* smtpd_scan_line - find one command line of at most max octets in p[0..n) */
static enum scan_result smtpd_scan_line(const char *p, size_t n, size_t max, size_t *linelen)
{
    for (size_t j = 0; j < n; j++) {
        if (p[j] == '\r') {
            if (j + 1 == n)
                return SCAN_MORE; /* decide when the next octet is here */
            if (p[j + 1] != '\n')
                return SCAN_BARE_CR;
            *linelen = j;
            return SCAN_LINE;
        }
        if (p[j] == '\n')
            return SCAN_BARE_LF;
        if (j >= max - 2) {
            *linelen = j;
            return SCAN_TOO_LONG;
        }
    }
    return SCAN_MORE;
}

/* smtpd_discard - skip the rest of an over-long command line; returns octets used */
static size_t smtpd_discard(struct smtpd_session *s, const char *p, size_t n, struct buf *out,
                            enum smtpd_action *act)
{
    for (size_t j = 0; j < n; j++) {
        if (p[j] == '\r') {
            if (j + 1 == n)
                return j; /* keep the CR until the next octet */
            if (p[j + 1] != '\n') {
                *act = smtpd_bare(s, out, true);
                return n;
            }
            s->discard_line = false;
            s->last_cmd = CMD_UNKNOWN;
            s->after_eom = false;
            s->records++;
            smtpd_reply(s, out, "500 5.5.2 Error: line too long");
            return j + 2;
        }
        if (p[j] == '\n') {
            *act = smtpd_bare(s, out, false);
            return n;
        }
    }
    return n;
}

/* smtpd_step - parse one request (a command line, an AUTH response, the end of an over-long line)
 * or a stretch of DATA from p[0..n); returns octets used, 0 when more input is needed */
static size_t smtpd_step(struct smtpd_session *s, const char *p, size_t n, struct buf *out,
                         enum smtpd_action *act)
{
    if (s->state == ST_DATA)
        return smtpd_data_feed(s, p, n, out, act);
    if (s->discard_line)
        return smtpd_discard(s, p, n, out, act); /* 0: a lone CR, need more */
    size_t len = 0;
    switch (smtpd_scan_line(p, n, smtpd_line_max(s, p, n), &len)) {
    case SCAN_MORE:
        return 0;
    case SCAN_BARE_CR:
        *act = smtpd_bare(s, out, true);
        return n;
    case SCAN_BARE_LF:
        *act = smtpd_bare(s, out, false);
        return n;
    case SCAN_TOO_LONG:
        if (s->auth_exchange)
            smtpd_auth_end(s, false); /* the 500 for the line ends the exchange */
        s->discard_line = true;
        return len;
    case SCAN_LINE:
        break;
    }
    char line[SMTPD_AUTH_LINE_MAX];
    memcpy(line, p, len);
    line[len] = 0;
    s->records++;
    if (s->auth_exchange)
        smtpd_auth_response(s, line, out);
    else
        *act = smtpd_command(s, line, len, out);
    if (*act == SMTPD_STARTTLS)
        return n; /* RFC 3207 5: no plaintext command survives the handshake */
    return len + 2;
}

/* smtpd_run - parse as much of p[0..n) as the state allows
 *
 * Parsing stops early (s->stopped, smtpd_pending()) when this call's replies reach
 * SMTPD_OUT_BATCH octets with input left, so that a client that sends and never reads cannot
 * make one chunk of input into an unbounded heap of replies; and after each reply produced
 * while the session has made smtpd_soft_error_limit errors, which the caller holds for
 * smtpd_error_sleep_time (smtpd_reply_delay_ms) before smtpd_resume() goes on. */
static enum smtpd_action smtpd_run(struct smtpd_session *s, const char *p, size_t n, size_t *used,
                                   struct buf *out)
{
    enum smtpd_action act = SMTPD_CONTINUE;
    size_t i = 0, out0 = buf_used(out);
    while (act == SMTPD_CONTINUE && s->state != ST_CLOSED) {
        if (s->errors >= s->hard_limit) {
            log_info("smtpd", "too many errors after %s from %s", smtpd_last_cmd(s), s->client);
            smtpd_reply(s, out, "421 4.7.0 %s Error: too many errors", s->myhostname);
            act = smtpd_close(s);
            break;
        }
        if (i == n || smtpd_waiting(s) || s->stopped)
            break;
        if (buf_used(out) - out0 >= SMTPD_OUT_BATCH) {
            s->stopped = true;
            break;
        }
        bool slow = s->sleep_ms && s->errors >= s->soft_limit;
        size_t before = buf_used(out);
        size_t k = smtpd_step(s, p + i, n - i, out, &act);
        if (k == 0)
            break;
        i += k;
        if (slow && buf_used(out) > before && act == SMTPD_CONTINUE) {
            /* Postfix sleeps before such a reply; tern holds it (never blocking the loop) */
            if (s->delay_ms < s->sleep_ms)
                s->delay_ms = s->sleep_ms;
            s->stopped = true;
        }
    }
    if (act == SMTPD_CLOSE || s->state == ST_CLOSED) {
        i = n;
        act = SMTPD_CLOSE;
    } else if (smtpd_waiting(s)) {
        act = SMTPD_WAIT;
    }
    *used = i;
    return act;
}

/* smtpd_hold - buffer input while a commit is pending or parsing is stopped, at most
 * SMTPD_PENDING_MAX */
static void smtpd_hold(struct smtpd_session *s, const char *p, size_t n)
{
    if (s->overflow)
        return;
    if (buf_used(&s->in) + n > SMTPD_PENDING_MAX || buf_append(&s->in, p, n) < 0) {
        s->overflow = true;
        buf_free(&s->in);
    }
}

/* smtpd_after_run - drop or keep what smtpd_run() left in s->in */
static enum smtpd_action smtpd_after_run(struct smtpd_session *s, enum smtpd_action act,
                                         size_t used)
{
    if (act == SMTPD_CLOSE || act == SMTPD_STARTTLS) {
        buf_free(&s->in);
        return act;
    }
    buf_consume(&s->in, used);
    if (act == SMTPD_WAIT && buf_used(&s->in) > SMTPD_PENDING_MAX) {
        s->overflow = true;
        buf_free(&s->in);
    }
    return act;
}

/* smtpd_input - feed received octets; replies go to out */
enum smtpd_action smtpd_input(struct smtpd_session *s, const char *data, size_t len,
                              struct buf *out)
{
    if (s->state == ST_CLOSED)
        return SMTPD_CLOSE;
    if (smtpd_waiting(s) || s->stopped) {
        smtpd_hold(s, data, len);
        return smtpd_waiting(s) ? SMTPD_WAIT : SMTPD_CONTINUE;
    }
    size_t used = 0;
    enum smtpd_action act;
    if (buf_used(&s->in) == 0) {
        /* the common case: parse the caller's bytes in place */
        act = smtpd_run(s, data, len, &used, out);
        if (act == SMTPD_WAIT)
            smtpd_hold(s, data + used, len - used);
        else if (act == SMTPD_CONTINUE && used < len &&
                 buf_append(&s->in, data + used, len - used) < 0)
            act = smtpd_close(s); /* a partial command line, or what a stop left */
        return act;
    }
    if (buf_append(&s->in, data, len) < 0) {
        buf_free(&s->in);
        return smtpd_close(s);
    }
    act = smtpd_run(s, buf_ptr(&s->in), buf_used(&s->in), &used, out);
    return smtpd_after_run(s, act, used);
}

/* smtpd_answered - the answer came: close if asked to, else parse what was held */
static enum smtpd_action smtpd_answered(struct smtpd_session *s, struct buf *out)
{
    if (s->shutdown_pending) {
        smtpd_reply(s, out, "421 4.3.2 %s Service shutting down", s->myhostname);
        buf_free(&s->in);
        return smtpd_close(s);
    }
    return smtpd_resume(s, out);
}

/* smtpd_resume - parse what input is buffered (after a commit, an AUTH step, a stop or a hold) */
enum smtpd_action smtpd_resume(struct smtpd_session *s, struct buf *out)
{
    if (s->state == ST_CLOSED)
        return SMTPD_CLOSE;
    if (smtpd_waiting(s))
        return SMTPD_WAIT;
    s->stopped = false;
    if (s->overflow) {
        log_warn("smtpd", "too much pipelined input from %s", s->client);
        smtpd_reply(s, out, "421 4.7.0 %s Error: too much pipelined input", s->myhostname);
        buf_free(&s->in);
        return smtpd_close(s);
    }
    size_t used = 0;
    enum smtpd_action act = smtpd_run(s, buf_ptr(&s->in), buf_used(&s->in), &used, out);
    return smtpd_after_run(s, act, used);
}

/* smtpd_not_waiting - the action for an answer that nobody waits for (any more) */
static enum smtpd_action smtpd_not_waiting(const struct smtpd_session *s)
{
    if (s->state == ST_CLOSED)
        return SMTPD_CLOSE;
    return smtpd_waiting(s) ? SMTPD_WAIT : SMTPD_CONTINUE;
}

/* smtpd_commit_done - the queue answered for the message being committed */
enum smtpd_action smtpd_commit_done(struct smtpd_session *s, int status, struct buf *out)
{
    if (s->state != ST_WAIT)
        return smtpd_not_waiting(s);
    s->state = ST_CMD;
    if (status == 0) {
        smtpd_reply(s, out, "250 2.0.0 Ok: queued as %s", s->qid);
        s->cmd_ok[CMD_DATA]++;
        s->errors = 0; /* as Postfix: a delivered message forgives errors and junk */
        s->junk = 0;
    } else {
        smtpd_submit_error(s, status, out);
    }
    smtpd_envelope_reset(s);
    return smtpd_answered(s, out);
}

/* smtpd_auth_done - the SASL step the hook left pending has its outcome */
enum smtpd_action smtpd_auth_done(struct smtpd_session *s, const struct smtpd_auth_result *r,
                                  struct buf *out)
{
    if (s->state != ST_AUTH)
        return smtpd_not_waiting(s);
    s->state = ST_CMD;
    smtpd_auth_answer(s, r, out);
    return smtpd_answered(s, out);
}

/* smtpd_lookup_done - the lookup a policy hook started is over: the paused command goes on */
enum smtpd_action smtpd_lookup_done(struct smtpd_session *s, struct buf *out)
{
    if (s->state != ST_LOOKUP)
        return smtpd_not_waiting(s);
    s->state = ST_CMD;
    enum smtpd_resume rs = s->resume;
    s->resume = RS_NONE;
    switch (rs) {
    case RS_MAIL:
        smtpd_mail_policy(s, out);
        break;
    case RS_RCPT: {
        struct smtpd_rcpt_wait *w = s->rcpt_wait;
        s->rcpt_wait = NULL;
        smtpd_rcpt_check(s, &w->a, w->orcpt, w->notify, out);
        free(w->orcpt);
        free(w);
        break;
    }
    case RS_DATA:
        smtpd_data_policy(s, out);
        break;
    case RS_EOD:
        (void)smtpd_eod_policy(s, out);
        break;
    case RS_NONE:
        break;
    }
    if ((rs == RS_MAIL || rs == RS_RCPT) && s->state != ST_LOOKUP && s->errors == s->lookup_errors)
        s->cmd_ok[rs == RS_MAIL ? CMD_MAIL : CMD_RCPT]++;
    if (smtpd_waiting(s))
        return SMTPD_WAIT; /* asked again, or the message went to the queue */
    return smtpd_answered(s, out);
}

/* smtpd_pending - parsing stopped and waits for smtpd_resume() */
bool smtpd_pending(const struct smtpd_session *s)
{
    return s->stopped && (s->state == ST_CMD || s->state == ST_DATA);
}

/* smtpd_records - requests completed so far */
unsigned long smtpd_records(const struct smtpd_session *s)
{
    return s->records;
}

/* smtpd_in_data - reading message content */
bool smtpd_in_data(const struct smtpd_session *s)
{
    return s->state == ST_DATA;
}

/* smtpd_timeout - idle too long */
enum smtpd_action smtpd_timeout(struct smtpd_session *s, struct buf *out)
{
    if (s->state == ST_CLOSED)
        return SMTPD_CLOSE;
    if (s->state == ST_DATA)
        log_info("smtpd", "timeout after DATA (%zu bytes) from %s", s->content_size, s->client);
    else
        log_info("smtpd", "timeout after %s from %s", smtpd_last_cmd(s), s->client);
    if (out)
        smtpd_reply(s, out, "421 4.4.2 %s Error: timeout exceeded", s->myhostname);
    buf_free(&s->in);
    return smtpd_close(s);
}

/* smtpd_refuse - too many connections from this client: 421 instead of the greeting */
enum smtpd_action smtpd_refuse(struct smtpd_session *s, struct buf *out)
{
    smtpd_reply(s, out, "421 4.7.0 %s Error: too many connections from %s", s->myhostname,
                s->client_addr);
    return smtpd_close(s);
}

/* smtpd_shutdown - the daemon drains; a pending commit is answered first */
enum smtpd_action smtpd_shutdown(struct smtpd_session *s, struct buf *out)
{
    if (s->state == ST_CLOSED)
        return SMTPD_CLOSE;
    if (smtpd_waiting(s)) {
        s->shutdown_pending = true;
        return SMTPD_WAIT;
    }
    smtpd_reply(s, out, "421 4.3.2 %s Service shutting down", s->myhostname);
    buf_free(&s->in);
    return smtpd_close(s);
}

/* smtpd_disconnected - the peer went away */
void smtpd_disconnected(struct smtpd_session *s)
{
    /* as Postfix: a client that goes away after the end of a message is no news */
    if (s->state != ST_CLOSED && !s->logged_disconnect && !s->after_eom) {
        if (s->state == ST_DATA)
            log_info("smtpd", "lost connection after DATA (%zu bytes) from %s", s->content_size,
                     s->client);
        else
            log_info("smtpd", "lost connection after %s from %s", smtpd_last_cmd(s), s->client);
    }
    smtpd_log_disconnect(s);
}

/* smtpd_tls_started - the handshake is done: remember what Received: and the policy need */
int smtpd_tls_started(struct smtpd_session *s, const struct smtpd_tls_state *t)
{
    s->tls_active = true;
    s->tls_done = true;
    free(s->tls_received);
    free(s->ccert_fp);
    free(s->ccert_pkey_fp);
    s->tls_received = s->ccert_fp = s->ccert_pkey_fp = NULL;
    s->ccert_trusted = t->peer_cert && t->peer_trusted;
    if (t->peer_cert) {
        if (t->ccert_fingerprint && *t->ccert_fingerprint &&
            !(s->ccert_fp = strdup(t->ccert_fingerprint)))
            return -ENOMEM;
        if (t->ccert_pubkey_fingerprint && *t->ccert_pubkey_fingerprint &&
            !(s->ccert_pkey_fp = strdup(t->ccert_pubkey_fingerprint)))
            return -ENOMEM;
    }
    if (!t->received)
        return 0;
    /* Postfix's smtpd_tls_received_header lines; quotes in names become '?' */
    struct buf b = BUF_INIT;
    int rc = buf_printf(&b, "\r\n\t%s", t->received);
    if (rc == 0 && t->peer_cert) {
        char cn[256], issuer[256];
        printable_copy(cn, sizeof(cn), t->peer_CN, PRINTABLE_QUOTED);
        printable_copy(issuer, sizeof(issuer), t->issuer_CN, PRINTABLE_QUOTED);
        rc = buf_printf(&b, "\r\n\t(Client CN \"%s\", Issuer \"%s\" (%s))", cn, issuer,
                        t->peer_trusted ? "verified OK" : "not verified");
    } else if (rc == 0) {
        rc = buf_puts(&b, t->ask_ccert ? "\r\n\t(Client did not present a certificate)"
                                       : "\r\n\t(No client certificate requested)");
    }
    if (rc == 0)
        s->tls_received = buf_steal(&b, NULL);
    buf_free(&b);
    return s->tls_received ? 0 : -ENOMEM;
}

/* smtpd_tls_active - STARTTLS accepted, or smtps */
bool smtpd_tls_active(const struct smtpd_session *s)
{
    return s->tls_active;
}

/* smtpd_ccert_fingerprint - the verified client certificate's fingerprint, or NULL */
const char *smtpd_ccert_fingerprint(const struct smtpd_session *s, bool pubkey)
{
    if (!s->ccert_trusted)
        return NULL;
    return pubkey ? s->ccert_pkey_fp : s->ccert_fp;
}

/* smtpd_ccert_presented - any presented client certificate's fingerprint, or NULL */
const char *smtpd_ccert_presented(const struct smtpd_session *s, bool pubkey)
{
    return pubkey ? s->ccert_pkey_fp : s->ccert_fp;
}

/* smtpd_helo - the HELO/EHLO argument, or NULL */
const char *smtpd_helo(const struct smtpd_session *s)
{
    return s->helo;
}

/* smtpd_sender - the MAIL FROM address of the transaction, or NULL */
const char *smtpd_sender(const struct smtpd_session *s)
{
    return s->sender;
}

/* smtpd_smtputf8 - MAIL FROM carried SMTPUTF8 */
bool smtpd_smtputf8(const struct smtpd_session *s)
{
    return s->smtputf8;
}

/* smtpd_sasl_username - the authenticated user, or NULL */
const char *smtpd_sasl_username(const struct smtpd_session *s)
{
    return s->sasl_user;
}

/* smtpd_reply_delay_ms - the pending output hold, once */
unsigned smtpd_reply_delay_ms(struct smtpd_session *s)
{
    unsigned d = s->delay_ms;
    s->delay_ms = 0;
    return d;
}
