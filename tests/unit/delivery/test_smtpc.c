/*
 * test_smtpc - SMTP client state machine against scripted servers.
 *
 * Each case is a script: what the server says, what the client must write
 * in answer and which event smtpc_input() must return; then the per-recipient
 * results. Scripts are tables, in the manner of OpenSMTPD's regress.
 * The STARTTLS scripts play the TLS step with TLS (smtpc_tls_started(); the
 * handshake itself belongs to loop/conn and tls_session).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/delivery/smtpc.h"

enum op { END = 0, SRV, SRV_BYTES, SEND, QUIT, TLS };

/* script flags: true/false in the older entries mean F_PIPE or nothing */
enum { F_PIPE = 1, F_STARTTLS = 2, F_REQUIRE = 4 };

struct step {
    enum op op;
    const char *text;    /* SRV: server bytes; SEND: body */
    const char *expect;  /* client output after the step ("" = nothing) */
    enum smtpc_event ev; /* SRV: returned event; SEND, TLS: the return value */
};

struct want {
    int status;
    const char *dsn;
    const char *reason;
};

struct script {
    const char *name;
    unsigned flags;      /* F_PIPE, F_STARTTLS, F_REQUIRE */
    const char *rcpt[4]; /* recipients of every SEND */
    struct step steps[16];
    struct want want[4]; /* results after the last SEND's transaction */
    const char *error;   /* smtpc_error() substring at the end, or NULL */
};

#define GREET "220 mx.test ESMTP\r\n"
#define EHLO_OUT "EHLO client.test\r\n"
#define EHLO_PIPE "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250-8BITMIME\r\n250 DSN\r\n"
#define EHLO_PLAIN "250-mx.test\r\n250 8BITMIME\r\n"
#define HOST "host mx.test[192.0.2.1]"
#define EHLO_TLS "250-mx.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n"
#define EPERM_EV ((enum smtpc_event) - EPERM)

static const struct script scripts[] = {
    {"pipelined, one recipient rejected",
     true,
     {"a@x.test", "b@x.test", "c@x.test"},
     {{SRV, GREET, EHLO_OUT, SMTPC_NEED_MORE},
      {SRV, EHLO_PIPE, "", SMTPC_READY},
      {SEND, "Hi\r\n",
       "MAIL FROM:<s@y.test> SIZE=4 BODY=8BITMIME RET=HDRS ENVID=E1\r\n"
       "RCPT TO:<a@x.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@x.test\r\n"
       "RCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test> NOTIFY=NEVER\r\nDATA\r\n",
       0},
      {SRV,
       "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <b@x.test>: Recipient address rejected\r\n"
       "250 2.1.5 Ok\r\n354 go ahead\r\n",
       "Hi\r\n.\r\n", SMTPC_NEED_MORE},
      {SRV, "250 2.0.0 Ok: queued as ABC\r\n", "", SMTPC_TXN_DONE},
      {QUIT, NULL, "QUIT\r\n", 0},
      {SRV, "221 2.0.0 Bye\r\n", "", SMTPC_CLOSED}},
     {{RCPT_SENT, "2.0.0", "250 2.0.0 Ok: queued as ABC"},
      {RCPT_BOUNCED, "5.1.1",
       HOST
       " said: 550 5.1.1 <b@x.test>: Recipient address rejected (in reply to RCPT TO command)"},
      {RCPT_SENT, "2.0.0", "250 2.0.0 Ok: queued as ABC"}},
     NULL},

    {"lock-step without PIPELINING, 4xx on one RCPT",
     true,
     {"a@x.test", "b@x.test"},
     {{SRV, GREET, EHLO_OUT, SMTPC_NEED_MORE},
      {SRV, EHLO_PLAIN, "", SMTPC_READY},
      {SEND, "x", "MAIL FROM:<s@y.test> BODY=8BITMIME\r\n", 0},
      {SRV, "250 ok\r\n", "RCPT TO:<a@x.test>\r\n", SMTPC_NEED_MORE},
      {SRV, "452 4.2.2 mailbox full\r\n", "RCPT TO:<b@x.test>\r\n", SMTPC_NEED_MORE},
      {SRV, "250 ok\r\n", "DATA\r\n", SMTPC_NEED_MORE},
      {SRV, "354 go\r\n", "x\r\n.\r\n", SMTPC_NEED_MORE},
      {SRV, "250 queued\r\n", "", SMTPC_TXN_DONE}},
     {{RCPT_DEFERRED, "4.2.2", HOST " said: 452 4.2.2 mailbox full (in reply to RCPT TO command)"},
      {RCPT_SENT, "2.0.0", "250 queued"}},
     NULL},

    {"multi-line EHLO split byte by byte",
     true,
     {"a@x.test"},
     {{SRV_BYTES, "220-mx.test\r\n220 hello\r\n", EHLO_OUT, SMTPC_NEED_MORE},
      {SRV_BYTES, EHLO_PIPE, "", SMTPC_READY},
      {SEND, "",
       "MAIL FROM:<s@y.test> SIZE=0 BODY=8BITMIME RET=HDRS ENVID=E1\r\n"
       "RCPT TO:<a@x.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@x.test\r\nDATA\r\n",
       0},
      {SRV_BYTES, "250 ok\r\n250 ok\r\n354 go\r\n", ".\r\n", SMTPC_NEED_MORE},
      {SRV_BYTES, "250-2.0.0 first\r\n250 2.0.0 second\r\n", "", SMTPC_TXN_DONE}},
     {{RCPT_SENT, "2.0.0", "250-2.0.0 first 250 2.0.0 second"}},
     NULL},

    {"EHLO refused, HELO used, no extensions",
     true,
     {"a@x.test"},
     {{SRV, GREET, EHLO_OUT, SMTPC_NEED_MORE},
      {SRV, "502 5.5.2 what\r\n", "HELO client.test\r\n", SMTPC_NEED_MORE},
      {SRV, "250 mx.test\r\n", "", SMTPC_READY},
      {SEND, "b\n", "MAIL FROM:<s@y.test>\r\n", 0},
      {SRV, "250 ok\r\n", "RCPT TO:<a@x.test>\r\n", SMTPC_NEED_MORE},
      {SRV, "250 ok\r\n", "DATA\r\n", SMTPC_NEED_MORE},
      {SRV, "354 go\r\n", "b\r\n.\r\n", SMTPC_NEED_MORE},
      {SRV, "554 5.7.1 spam\r\n", "", SMTPC_TXN_DONE}},
     {{RCPT_BOUNCED, "5.7.1", HOST " said: 554 5.7.1 spam (in reply to end of DATA command)"}},
     NULL},

    {"greeting refused",
     true,
     {"a@x.test"},
     {{SRV, "554 5.7.1 go away\r\n", "", SMTPC_FAILED}},
     {{RCPT_PENDING, NULL, NULL}},
     HOST " refused to talk to me: 554 5.7.1 go away"},

    {"EHLO 4xx fails the session",
     true,
     {"a@x.test"},
     {{SRV, GREET, EHLO_OUT, SMTPC_NEED_MORE}, {SRV, "421 4.3.2 busy\r\n", "", SMTPC_FAILED}},
     {{RCPT_PENDING, NULL, NULL}},
     HOST " said: 421 4.3.2 busy (in reply to EHLO command)"},

    {"pipelined, all recipients rejected, DATA 554: no content, then RSET pipelined",
     true,
     {"a@x.test", "b@x.test"},
     {{SRV, GREET, EHLO_OUT, SMTPC_NEED_MORE},
      {SRV, "250-mx\r\n250 PIPELINING\r\n", "", SMTPC_READY},
      {SEND, "x\r\n",
       "MAIL FROM:<s@y.test>\r\nRCPT TO:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n", 0},
      {SRV, "250 ok\r\n550 no a\r\n450 later b\r\n554 5.5.1 no valid recipients\r\n", "",
       SMTPC_TXN_DONE},
      {SEND, "x\r\n",
       "RSET\r\nMAIL FROM:<s@y.test>\r\nRCPT TO:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n", 0},
      {SRV, "250 reset\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n", "x\r\n.\r\n", SMTPC_NEED_MORE},
      {SRV, "250 2.0.0 Ok: queued as Q2\r\n", "", SMTPC_TXN_DONE},
      {SEND, "y", "MAIL FROM:<s@y.test>\r\nRCPT TO:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n",
       0}},
     {{RCPT_PENDING, NULL, NULL}, {RCPT_PENDING, NULL, NULL}},
     NULL},

    {"pipelined, all recipients rejected, DATA 354: just a dot",
     true,
     {"a@x.test"},
     {{SRV, GREET, EHLO_OUT, SMTPC_NEED_MORE},
      {SRV, "250-mx\r\n250 PIPELINING\r\n", "", SMTPC_READY},
      {SEND, "body\r\n", "MAIL FROM:<s@y.test>\r\nRCPT TO:<a@x.test>\r\nDATA\r\n", 0},
      {SRV, "250 ok\r\n550 5.1.1 unknown\r\n354 go\r\n", ".\r\n", SMTPC_NEED_MORE},
      {SRV, "554 5.5.1 no recipients\r\n", "", SMTPC_TXN_DONE}},
     {{RCPT_BOUNCED, "5.1.1", HOST " said: 550 5.1.1 unknown (in reply to RCPT TO command)"}},
     NULL},

    {"MAIL refused applies to all recipients (pipelined)",
     true,
     {"a@x.test", "b@x.test"},
     {{SRV, GREET, EHLO_OUT, SMTPC_NEED_MORE},
      {SRV, "250-mx\r\n250 PIPELINING\r\n", "", SMTPC_READY},
      {SEND, "x", "MAIL FROM:<s@y.test>\r\nRCPT TO:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n",
       0},
      {SRV,
       "553 5.1.8 bad sender\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n503 need RCPT\r\n",
       "", SMTPC_TXN_DONE}},
     {{RCPT_BOUNCED, "5.1.8", HOST " said: 553 5.1.8 bad sender (in reply to MAIL FROM command)"},
      {RCPT_BOUNCED, "5.1.8", HOST " said: 553 5.1.8 bad sender (in reply to MAIL FROM command)"}},
     NULL},

    {"MAIL 4xx lock-step, then RSET before the next MAIL",
     false,
     {"a@x.test"},
     {{SRV, GREET, EHLO_OUT, SMTPC_NEED_MORE},
      {SRV, "250-mx\r\n250 PIPELINING\r\n", "", SMTPC_READY},
      {SEND, "x", "MAIL FROM:<s@y.test>\r\n", 0},
      {SRV, "451 try later\r\n", "", SMTPC_TXN_DONE},
      {SEND, "x", "RSET\r\n", 0},
      {SRV, "250 ok\r\n", "MAIL FROM:<s@y.test>\r\n", SMTPC_NEED_MORE},
      {SRV, "250 ok\r\n", "RCPT TO:<a@x.test>\r\n", SMTPC_NEED_MORE},
      {SRV, "250 ok\r\n", "DATA\r\n", SMTPC_NEED_MORE},
      {SRV, "451 4.3.0 no DATA now\r\n", "", SMTPC_TXN_DONE}},
     {{RCPT_DEFERRED, "4.3.0", HOST " said: 451 4.3.0 no DATA now (in reply to DATA command)"}},
     NULL},

    {"421 during RCPT: open recipients deferred, rejected one stays bounced",
     true,
     {"a@x.test", "b@x.test", "c@x.test"},
     {{SRV, GREET, EHLO_OUT, SMTPC_NEED_MORE},
      {SRV, "250-mx\r\n250 PIPELINING\r\n", "", SMTPC_READY},
      {SEND, "x",
       "MAIL FROM:<s@y.test>\r\nRCPT TO:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\n"
       "DATA\r\n",
       0},
      {SRV, "250 ok\r\n250 ok\r\n550 5.1.1 no\r\n421 4.4.2 shutting down\r\n", "", SMTPC_FAILED}},
     {{RCPT_DEFERRED, "4.4.2", HOST " said: 421 4.4.2 shutting down (in reply to RCPT TO command)"},
      {RCPT_BOUNCED, "5.1.1", HOST " said: 550 5.1.1 no (in reply to RCPT TO command)"},
      {RCPT_DEFERRED, "4.4.2",
       HOST " said: 421 4.4.2 shutting down (in reply to RCPT TO command)"}},
     "shutting down"},

    {"421 while idle",
     true,
     {"a@x.test"},
     {{SRV, GREET, EHLO_OUT, SMTPC_NEED_MORE},
      {SRV, "250 mx\r\n", "", SMTPC_READY},
      {SRV, "421 4.4.2 idle timeout\r\n", "", SMTPC_FAILED}},
     {{RCPT_PENDING, NULL, NULL}},
     "idle timeout"},

    {"malformed reply line",
     true,
     {"a@x.test"},
     {{SRV, GREET, EHLO_OUT, SMTPC_NEED_MORE},
      {SRV, "250-mx\r\n250 PIPELINING\r\n", "", SMTPC_READY},
      {SEND, "x", "MAIL FROM:<s@y.test>\r\nRCPT TO:<a@x.test>\r\nDATA\r\n", 0},
      {SRV, "250 ok\r\nhello there\r\n", "", SMTPC_FAILED}},
     {{RCPT_DEFERRED, "4.4.2", NULL}},
     "malformed"},

    {"code changes inside a multi-line reply",
     true,
     {"a@x.test"},
     {{SRV, GREET, EHLO_OUT, SMTPC_NEED_MORE}, {SRV, "250-mx\r\n251 x\r\n", "", SMTPC_FAILED}},
     {{RCPT_PENDING, NULL, NULL}},
     "malformed"},

    {"final reply 4xx without enhanced code",
     true,
     {"a@x.test"},
     {{SRV, GREET, EHLO_OUT, SMTPC_NEED_MORE},
      {SRV, "250-mx\r\n250 PIPELINING\r\n", "", SMTPC_READY},
      {SEND, "x", "MAIL FROM:<s@y.test>\r\nRCPT TO:<a@x.test>\r\nDATA\r\n", 0},
      {SRV, "250 ok\r\n250 ok\r\n354 go\r\n", "x\r\n.\r\n", SMTPC_NEED_MORE},
      {SRV, "452 disk full\r\n", "", SMTPC_TXN_DONE}},
     {{RCPT_DEFERRED, "4.0.0", HOST " said: 452 disk full (in reply to end of DATA command)"}},
     NULL},

    {"STARTTLS offered and wanted: 220, EHLO again inside TLS, no second STARTTLS",
     F_PIPE | F_STARTTLS,
     {"a@x.test"},
     {{SRV, GREET, EHLO_OUT, SMTPC_NEED_MORE},
      {SRV, EHLO_TLS, "STARTTLS\r\n", SMTPC_NEED_MORE},
      {SRV, "220 2.0.0 Ready to start TLS\r\n", "", SMTPC_STARTTLS},
      {TLS, NULL, EHLO_OUT, 0},
      {SRV, EHLO_TLS, "", SMTPC_READY},
      {SEND, "x", "MAIL FROM:<s@y.test>\r\nRCPT TO:<a@x.test>\r\nDATA\r\n", 0},
      {SRV, "250 ok\r\n250 ok\r\n354 go\r\n", "x\r\n.\r\n", SMTPC_NEED_MORE},
      {SRV, "250 2.0.0 Ok: queued as T1\r\n", "", SMTPC_TXN_DONE}},
     {{RCPT_SENT, "2.0.0", "250 2.0.0 Ok: queued as T1"}},
     NULL},

    {"plaintext sent after the 220 to STARTTLS is dropped, not taken as the EHLO reply",
     F_STARTTLS,
     {"a@x.test"},
     {{SRV, GREET, EHLO_OUT, SMTPC_NEED_MORE},
      {SRV, EHLO_TLS, "STARTTLS\r\n", SMTPC_NEED_MORE},
      {SRV, "220 go ahead\r\n250-injected\r\n250 PIPELINING\r\n", "", SMTPC_STARTTLS},
      {TLS, NULL, EHLO_OUT, 0},
      {SRV, "250-mx.test\r\n250 8BITMIME\r\n", "", SMTPC_READY},
      {SEND, "x", "MAIL FROM:<s@y.test> BODY=8BITMIME\r\n", 0}},
     {{RCPT_PENDING, NULL, NULL}},
     NULL},

    {"STARTTLS wanted (may) but not offered: plaintext",
     F_PIPE | F_STARTTLS,
     {"a@x.test"},
     {{SRV, GREET, EHLO_OUT, SMTPC_NEED_MORE},
      {SRV, EHLO_PLAIN, "", SMTPC_READY},
      {SEND, "x", "MAIL FROM:<s@y.test> BODY=8BITMIME\r\n", 0}},
     {{RCPT_PENDING, NULL, NULL}},
     NULL},

    {"STARTTLS offered but not wanted (none): never sent",
     F_PIPE,
     {"a@x.test"},
     {{SRV, GREET, EHLO_OUT, SMTPC_NEED_MORE},
      {SRV, EHLO_TLS, "", SMTPC_READY},
      {SEND, "x", "MAIL FROM:<s@y.test>\r\nRCPT TO:<a@x.test>\r\nDATA\r\n", 0}},
     {{RCPT_PENDING, NULL, NULL}},
     NULL},

    {"TLS required, not offered: NO_TLS, MAIL refused locally, QUIT",
     F_PIPE | F_REQUIRE,
     {"a@x.test"},
     {{SRV, GREET, EHLO_OUT, SMTPC_NEED_MORE},
      {SRV, EHLO_PIPE, "", SMTPC_NO_TLS},
      {SEND, "x", "", EPERM_EV},
      {QUIT, NULL, "QUIT\r\n", 0},
      {SRV, "221 bye\r\n", "", SMTPC_CLOSED}},
     {{RCPT_PENDING, NULL, NULL}},
     "TLS is required, but was not offered by " HOST},

    {"TLS required, EHLO refused and HELO used: no STARTTLS possible",
     F_REQUIRE,
     {"a@x.test"},
     {{SRV, GREET, EHLO_OUT, SMTPC_NEED_MORE},
      {SRV, "500 what\r\n", "HELO client.test\r\n", SMTPC_NEED_MORE},
      {SRV, "250 mx.test\r\n", "", SMTPC_NO_TLS},
      {SEND, "x", "", EPERM_EV}},
     {{RCPT_PENDING, NULL, NULL}},
     "TLS is required, but was not offered by " HOST},

    {"STARTTLS refused with 454 at may: plaintext on the same connection",
     F_PIPE | F_STARTTLS,
     {"a@x.test"},
     {{SRV, GREET, EHLO_OUT, SMTPC_NEED_MORE},
      {SRV, EHLO_TLS, "STARTTLS\r\n", SMTPC_NEED_MORE},
      {SRV, "454 4.7.0 TLS not available due to temporary reason\r\n", "", SMTPC_NO_TLS},
      {SEND, "x", "MAIL FROM:<s@y.test>\r\nRCPT TO:<a@x.test>\r\nDATA\r\n", 0}},
     {{RCPT_PENDING, NULL, NULL}},
     HOST " said: 454 4.7.0 TLS not available due to temporary reason (in reply to STARTTLS "
          "command)"},

    {"STARTTLS refused with 454 when required: no MAIL",
     F_PIPE | F_REQUIRE,
     {"a@x.test"},
     {{SRV, GREET, EHLO_OUT, SMTPC_NEED_MORE},
      {SRV, EHLO_TLS, "STARTTLS\r\n", SMTPC_NEED_MORE},
      {SRV, "454 4.7.0 not now\r\n", "", SMTPC_NO_TLS},
      {SEND, "x", "", EPERM_EV},
      {QUIT, NULL, "QUIT\r\n", 0}},
     {{RCPT_PENDING, NULL, NULL}},
     "(in reply to STARTTLS command)"},

    {"421 to STARTTLS fails the session",
     F_STARTTLS,
     {"a@x.test"},
     {{SRV, GREET, EHLO_OUT, SMTPC_NEED_MORE},
      {SRV, EHLO_TLS, "STARTTLS\r\n", SMTPC_NEED_MORE},
      {SRV, "421 4.3.2 shutting down\r\n", "", SMTPC_FAILED}},
     {{RCPT_PENDING, NULL, NULL}},
     HOST " said: 421 4.3.2 shutting down (in reply to STARTTLS command)"},

    {"TLS required and up: the transaction goes ahead",
     F_REQUIRE,
     {"a@x.test"},
     {{SRV, GREET, EHLO_OUT, SMTPC_NEED_MORE},
      {SRV, EHLO_TLS, "STARTTLS\r\n", SMTPC_NEED_MORE},
      {SRV, "220 ready\r\n", "", SMTPC_STARTTLS},
      {TLS, NULL, EHLO_OUT, 0},
      {SRV, "250 mx.test\r\n", "", SMTPC_READY},
      {SEND, "x", "MAIL FROM:<s@y.test>\r\n", 0},
      {SRV, "250 ok\r\n", "RCPT TO:<a@x.test>\r\n", SMTPC_NEED_MORE}},
     {{RCPT_PENDING, NULL, NULL}},
     NULL},

    {"SMTPUTF8 and no SIZE when not offered; unknown extension ignored",
     true,
     {"a@x.test"},
     {{SRV, GREET, EHLO_OUT, SMTPC_NEED_MORE},
      {SRV, "250-mx\r\n250-X-FOO bar\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n", "", SMTPC_READY},
      {SEND, "x", "MAIL FROM:<s@y.test> SMTPUTF8\r\n", 0}},
     {{RCPT_PENDING, NULL, NULL}},
     NULL},
};

/* make_delivery - a delivery from s@y.test to rcpts; DSN data on the first */
static struct queue_delivery *make_delivery(const char *const *rcpts, bool utf8)
{
    struct queue_delivery *d = calloc(1, sizeof(*d));
    size_t n = 0;
    while (n < 4 && rcpts[n])
        n++;
    d->sender = "s@y.test";
    d->envid = "E1";
    d->ret = DSN_RET_HDRS;
    d->body_type = BODY_8BITMIME;
    d->smtputf8 = utf8;
    d->nrcpt = n;
    d->rcpt = calloc(n, sizeof(*d->rcpt));
    for (size_t i = 0; i < n; i++)
        d->rcpt[i].addr = (char *)rcpts[i];
    if (n > 0) {
        d->rcpt[0].notify = DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE;
        d->rcpt[0].orcpt = "rfc822;a@x.test";
    }
    if (n > 2)
        d->rcpt[2].notify = DSN_NOTIFY_NEVER;
    return d;
}

/* free_delivery - free the results and the delivery */
static void free_delivery(struct queue_delivery *d)
{
    for (size_t i = 0; i < d->nrcpt; i++)
        free(d->rcpt[i].reason);
    free(d->rcpt);
    free(d);
}

static const struct smtpc_params params_pipe = {
    .helo_name = "client.test", .peer_name = "mx.test[192.0.2.1]:25", .pipelining = true};

/* run_script - play one script, check every step and the results */
static void run_script(const struct script *s)
{
    struct smtpc_session *c;
    struct buf out = BUF_INIT;
    struct queue_delivery *d = make_delivery(s->rcpt, true);

    print_message("script: %s\n", s->name);
    struct smtpc_params sp = {.helo_name = "client.test",
                              .peer_name = "mx.test[192.0.2.1]:25",
                              .pipelining = s->flags & F_PIPE,
                              .starttls = s->flags & F_STARTTLS,
                              .require_tls = s->flags & F_REQUIRE};
    assert_int_equal(smtpc_new(&c, &sp), 0);
    for (const struct step *st = s->steps; st->op != END; st++) {
        enum smtpc_event ev = SMTPC_NEED_MORE;
        switch (st->op) {
        case SRV:
            ev = smtpc_input(c, st->text, strlen(st->text), &out);
            assert_int_equal(ev, st->ev);
            break;
        case SRV_BYTES:
            for (size_t i = 0; st->text[i]; i++) {
                ev = smtpc_input(c, st->text + i, 1, &out);
                if (st->text[i + 1])
                    assert_int_equal(ev, SMTPC_NEED_MORE);
            }
            assert_int_equal(ev, st->ev);
            break;
        case SEND:
            assert_int_equal(smtpc_send(c, d, st->text, strlen(st->text), &out), (int)st->ev);
            break;
        case QUIT:
            smtpc_quit(c, &out);
            break;
        case TLS:
            assert_int_equal(smtpc_tls_started(c, &out), (int)st->ev);
            assert_true(smtpc_tls_active(c));
            break;
        case END:
            break;
        }
        assert_string_equal(buf_ptr(&out), st->expect);
        buf_reset(&out);
    }
    for (size_t i = 0; i < d->nrcpt; i++) {
        const struct want *w = &s->want[i];
        assert_int_equal(d->rcpt[i].status, w->status);
        if (w->dsn)
            assert_string_equal(d->rcpt[i].dsn, w->dsn);
        if (w->reason)
            assert_string_equal(d->rcpt[i].reason, w->reason);
        if (w->status != RCPT_PENDING)
            assert_non_null(d->rcpt[i].reason);
    }
    if (s->error)
        assert_non_null(strstr(smtpc_error(c), s->error));
    smtpc_free(c);
    buf_free(&out);
    free_delivery(d);
}

static void test_scripts(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++)
        run_script(&scripts[i]);
}

/* Content normalisation: dot-stuffing, bare LF/CR, final line end. */
static const struct {
    const char *body;
    size_t len; /* 0: strlen */
    const char *wire;
} bodies[] = {
    {"", 0, ".\r\n"},
    {"a\r\nb\r\n", 0, "a\r\nb\r\n.\r\n"},
    {"\n.\n", 0, "\r\n..\r\n.\r\n"},
    {".leading", 0, "..leading\r\n.\r\n"},
    {"no final newline", 0, "no final newline\r\n.\r\n"},
    {"a\nb\n", 0, "a\r\nb\r\n.\r\n"},
    {"x\r\n.\r\n", 0, "x\r\n..\r\n.\r\n"},
    {"x\r.\r\ny", 0, "x\r\n..\r\ny\r\n.\r\n"},
    {"..two\r\n...three", 0, "...two\r\n....three\r\n.\r\n"},
    {"a.b\r\n .c\r\n", 0, "a.b\r\n .c\r\n.\r\n"},
    {"\r\n\r\n", 0, "\r\n\r\n.\r\n"},
    {"nul\0byte", 8, "nul\0byte\r\n.\r\n"},
    {"\r", 0, "\r\n.\r\n"},
    {"a\r", 0, "a\r\n.\r\n"},
    {"a\r\r\nb", 0, "a\r\n\r\nb\r\n.\r\n"},
    {"a\n\r.b", 0, "a\r\n\r\n..b\r\n.\r\n"},
    {".", 0, "..\r\n.\r\n"},
    {"a\r\n.", 0, "a\r\n..\r\n.\r\n"},
    {"one\r\ntwo\r\n.three\r\nfour\nfive\r\n", 0, "one\r\ntwo\r\n..three\r\nfour\r\nfive\r\n.\r\n"},
};

/* content_on_wire - what a session sends after 354 for body: the wire into out (reset first);
 * the transaction is then finished with a 250 */
static void content_on_wire(const char *body, size_t blen, struct buf *out)
{
    static const char *const rc1[] = {"a@x.test", NULL};
    struct smtpc_session *c;
    struct queue_delivery *d = make_delivery(rc1, false);
    const char *srv = GREET "250 mx\r\n";
    struct buf after = BUF_INIT;

    assert_int_equal(smtpc_new(&c, &params_pipe), 0);
    assert_int_equal(smtpc_input(c, srv, strlen(srv), out), SMTPC_READY);
    assert_int_equal(smtpc_send(c, d, body, blen, out), 0);
    assert_int_equal(smtpc_input(c, "250 ok\r\n250 ok\r\n", 16, out), SMTPC_NEED_MORE);
    buf_reset(out);
    assert_int_equal(smtpc_input(c, "354 go\r\n", 8, out), SMTPC_NEED_MORE);
    assert_int_equal(smtpc_input(c, "250 2.0.0 Ok\r\n", 14, &after), SMTPC_TXN_DONE);
    assert_int_equal(d->rcpt[0].status, RCPT_SENT);
    smtpc_free(c);
    buf_free(&after);
    free_delivery(d);
}

static void test_content(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct buf out = BUF_INIT;
        size_t blen = bodies[i].len ? bodies[i].len : strlen(bodies[i].body);
        content_on_wire(bodies[i].body, blen, &out);
        size_t wlen = strlen(bodies[i].wire);
        if (bodies[i].len) /* the one with a NUL: compare past it */
            wlen = 3 + 1 + strlen(bodies[i].wire + 4);
        assert_int_equal(buf_used(&out), wlen);
        assert_memory_equal(buf_ptr(&out), bodies[i].wire, wlen);
        buf_free(&out);
    }
}

/* reference_wire - RFC 5321 section 4.5.2 transparency with every line end made CRLF (CR LF, a
 * bare CR, a bare LF), one octet at a time: the oracle the memchr version is compared with */
static size_t reference_wire(const char *p, size_t len, char *out)
{
    size_t o = 0;
    bool bol = true;
    for (size_t i = 0; i < len;) {
        if (bol && p[i] == '.')
            out[o++] = '.';
        bol = false;
        if (p[i] == '\r' || p[i] == '\n') {
            i += (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n') ? 2 : 1;
            out[o++] = '\r';
            out[o++] = '\n';
            bol = true;
            continue;
        }
        out[o++] = p[i++];
    }
    if (!bol) {
        out[o++] = '\r';
        out[o++] = '\n';
    }
    memcpy(out + o, ".\r\n", 3);
    return o + 3;
}

/* test_content_random - 3000 bodies of dots, CRs, LFs and letters: the wire is the oracle's */
static void test_content_random(void **state)
{
    (void)state;
    static const char alphabet[] = {'a', '.', '\r', '\n', 'b'};
    unsigned seed = 12345;
    for (int n = 0; n < 3000; n++) {
        char body[80], want[3 * 80 + 8];
        size_t blen = (size_t)(rand_r(&seed) % 80);
        for (size_t i = 0; i < blen; i++)
            body[i] = alphabet[rand_r(&seed) % sizeof(alphabet)];
        size_t wlen = reference_wire(body, blen, want);
        struct buf out = BUF_INIT;
        content_on_wire(body, blen, &out);
        if (buf_used(&out) != wlen || memcmp(buf_ptr(&out), want, wlen) != 0)
            fail_msg("body %d (%zu octets): wire differs from the oracle's", n, blen);
        buf_free(&out);
    }
}

static void test_extensions(void **state)
{
    (void)state;
    struct smtpc_session *c;
    struct buf out = BUF_INIT;
    const char *srv = GREET "250-mx.test hello\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
                            "250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN\r\n250-starttls\r\n"
                            "250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n";
    assert_int_equal(smtpc_new(&c, &params_pipe), 0);
    assert_int_equal(smtpc_input(c, srv, strlen(srv), &out), SMTPC_READY);
    static const struct {
        const char *ext;
        bool offered;
    } cases[] = {{"PIPELINING", true}, {"SIZE", true},      {"AUTH", true},
                 {"STARTTLS", true},   {"SMTPUTF8", true},  {"ENHANCEDSTATUSCODES", true},
                 {"DSN", false},       {"8BITMIME", false}, {"mx.test", false}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(smtpc_offers(c, cases[i].ext), cases[i].offered);
    assert_true(smtpc_starttls_offered(c));
    assert_false(smtpc_tls_active(c));
    /* Not after a 220 to STARTTLS: refused, nothing written. */
    buf_reset(&out);
    assert_int_equal(smtpc_tls_started(c, &out), -EINVAL);
    assert_int_equal(buf_used(&out), 0);
    smtpc_free(c);
    buf_free(&out);
}

static void test_oversized_reply(void **state)
{
    (void)state;
    struct smtpc_session *c;
    struct buf out = BUF_INIT;
    char chunk[1024];
    enum smtpc_event ev = SMTPC_NEED_MORE;

    assert_int_equal(smtpc_new(&c, &params_pipe), 0);
    /* One endless line, then an endless multi-line reply: both bounded. */
    memset(chunk, 'x', sizeof(chunk));
    memcpy(chunk, "220 ", 4);
    for (int i = 0; i < 200 && ev == SMTPC_NEED_MORE; i++)
        ev = smtpc_input(c, chunk, sizeof(chunk), &out);
    assert_int_equal(ev, SMTPC_FAILED);
    smtpc_free(c);

    assert_int_equal(smtpc_new(&c, &params_pipe), 0);
    ev = SMTPC_NEED_MORE;
    for (int i = 0; i < 10000 && ev == SMTPC_NEED_MORE; i++)
        ev = smtpc_input(c, "220-more text here\r\n", 20, &out);
    assert_int_equal(ev, SMTPC_FAILED);
    assert_non_null(strstr(smtpc_error(c), "malformed or oversized"));
    smtpc_free(c);
    buf_free(&out);
}

static void test_fail_open(void **state)
{
    (void)state;
    static const char *const rcpts[] = {"a@x.test", "b@x.test", NULL};
    struct smtpc_session *c;
    struct buf out = BUF_INIT;
    struct queue_delivery *d = make_delivery(rcpts, false);
    const char *srv = GREET "250-mx\r\n250 PIPELINING\r\n";

    assert_int_equal(smtpc_new(&c, &params_pipe), 0);
    assert_int_equal(smtpc_input(c, srv, strlen(srv), &out), SMTPC_READY);
    assert_int_equal(smtpc_send(c, d, "x", 1, &out), 0);
    assert_int_equal(smtpc_send(c, d, "x", 1, &out), -EBUSY);
    assert_int_equal(smtpc_input(c, "250 ok\r\n550 5.1.1 no\r\n", 22, &out), SMTPC_NEED_MORE);
    smtpc_fail_open(c, "conversation with mx.test[192.0.2.1] timed out while sending RCPT TO");
    assert_int_equal(d->rcpt[0].status, RCPT_BOUNCED);
    assert_int_equal(d->rcpt[1].status, RCPT_DEFERRED);
    assert_string_equal(d->rcpt[1].dsn, "4.4.2");
    assert_string_equal(d->rcpt[1].reason,
                        "conversation with mx.test[192.0.2.1] timed out while sending RCPT TO");
    assert_int_equal(smtpc_input(c, "250 ok\r\n", 8, &out), SMTPC_FAILED);
    assert_int_equal(smtpc_send(c, d, "x", 1, &out), -EBUSY);
    smtpc_free(c);
    buf_free(&out);
    free_delivery(d);
}

static void test_bad_envelope(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"a@x.test\r\nRSET", NULL}, {"<a@x.test>", NULL}, {"a@x\ttest", NULL}};
    const char *srv = GREET "250 mx\r\n";
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct smtpc_session *c;
        struct buf out = BUF_INIT;
        struct queue_delivery *d = make_delivery(bad[i], false);
        assert_int_equal(smtpc_new(&c, &params_pipe), 0);
        assert_int_equal(smtpc_input(c, srv, strlen(srv), &out), SMTPC_READY);
        buf_reset(&out);
        assert_int_equal(smtpc_send(c, d, "x", 1, &out), -EINVAL);
        assert_int_equal(buf_used(&out), 0);
        smtpc_free(c);
        buf_free(&out);
        free_delivery(d);
    }
}

static void test_data_while_idle(void **state)
{
    (void)state;
    static const char *const rcpts[] = {"a@x.test", NULL};
    struct smtpc_session *c;
    struct buf out = BUF_INIT;
    struct queue_delivery *d = make_delivery(rcpts, false);
    const char *srv = GREET "250 mx\r\n250 surprise";

    assert_int_equal(smtpc_new(&c, &params_pipe), 0);
    assert_int_equal(smtpc_input(c, srv, strlen(srv), &out), SMTPC_READY);
    assert_true(smtpc_send(c, d, "x", 1, &out) < 0);
    assert_int_equal(d->rcpt[0].status, RCPT_PENDING);
    smtpc_free(c);
    buf_free(&out);
    free_delivery(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scripts),         cmocka_unit_test(test_content),
        cmocka_unit_test(test_content_random),  cmocka_unit_test(test_extensions),
        cmocka_unit_test(test_oversized_reply), cmocka_unit_test(test_fail_open),
        cmocka_unit_test(test_bad_envelope),    cmocka_unit_test(test_data_while_idle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
