/*
 * NAME
 *	test_smtpd - SMTP server conversations as scripts of bytes in, replies out
 * DESCRIPTION
 *	Each script is a table of steps: send bytes (or tell the session that
 *	the queue committed, that it timed out, that the daemon shuts down) and
 *	the reply lines expected, given as prefixes separated by '\n'. Every
 *	script runs twice, once in the chunks as written and once one octet at
 *	a time; both runs must give the same replies and the same messages.
 *	Fake hooks: submit records the queue_msg; check_rcpt permits domains
 *	ending in ".ok" and rejects the others with 554 5.7.1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/base/log.h"
#include "core/smtpd/smtpd.h"

#define MAX_MSGS 8

struct fake {
    struct queue_msg *msg[MAX_MSGS];
    int nmsg;
    int submit_rc; /* returned by submit when < 0 */
    int nchecks;
    int nauth;         /* auth_step calls: the password was looked at */
    int nauth_end;     /* auth_end calls */
    bool auth_pending; /* leave every step pending (SMTPD_AUTH_PENDING) */
    char auth_in[64];  /* the last response the hook was given (copied, as a hook must) */
    size_t auth_inlen;
};

static int fake_submit(void *arg, struct queue_msg *m)
{
    struct fake *f = arg;
    if (f->submit_rc < 0)
        return f->submit_rc;
    assert_true(f->nmsg < MAX_MSGS);
    f->msg[f->nmsg++] = m;
    return 0;
}

static void fake_check_rcpt(void *arg, const struct policy_addr *rcpt, struct policy_verdict *v)
{
    struct fake *f = arg;
    f->nchecks++;
    size_t n = strlen(rcpt->domain);
    if (n >= 3 && strcmp(rcpt->domain + n - 3, ".ok") == 0)
        return;
    v->code = 554;
    snprintf(v->dsn, sizeof(v->dsn), "5.7.1");
    snprintf(v->text, sizeof(v->text), "<%.200s>: Relay access denied", rcpt->addr);
}

/* fake_auth_step - PLAIN "\0alice\0pw" is right; no initial response: an empty 334 */
static void fake_auth_step(void *arg, const char *mech, const char *in, size_t inlen, bool tls,
                           struct smtpd_auth_result *r)
{
    static const char right[] = "\0alice\0pw";
    struct fake *f = arg;
    (void)mech;
    (void)tls;
    f->nauth++;
    f->auth_inlen = in && inlen <= sizeof(f->auth_in) ? inlen : 0;
    if (f->auth_inlen)
        memcpy(f->auth_in, in, inlen);
    if (f->auth_pending) {
        r->status = SMTPD_AUTH_PENDING;
        return;
    }
    if (!in) {
        r->status = SMTPD_AUTH_CONTINUE;
        r->out = "";
        r->outlen = 0;
    } else if (inlen == sizeof(right) - 1 && memcmp(in, right, inlen) == 0) {
        r->status = SMTPD_AUTH_OK;
        r->username = "alice";
    } else {
        r->status = SMTPD_AUTH_FAIL;
        r->why = "authentication failure";
    }
}

static void fake_auth_end(void *arg)
{
    struct fake *f = arg;
    f->nauth_end++;
}

static void fake_reset(struct fake *f)
{
    for (int i = 0; i < f->nmsg; i++)
        queue_msg_free(f->msg[i]);
    memset(f, 0, sizeof(*f));
}

static const struct smtpd_params default_params = {
    .myhostname = "mx.test",
    .banner = "mx.test ESMTP tern",
    .client_addr = "192.0.2.1",
    .client_name = "client.test",
    .client_port = 40000,
    .server_addr = "192.0.2.25",
    .message_size_limit = 10000,
    .recipient_limit = 3,
    .tls_available = false,
};

/* ------------------------------------------------------------- scripts */

enum op {
    END = 0,
    SEND,
    COMMIT,
    TIMEOUT,
    SHUTDOWN,
    SUBMIT_RC,
    TLS_UP,
    AUTH_ASYNC,
    AUTH_DONE,
    HELD
};

struct step {
    enum op op;
    const char *data;   /* SEND */
    int status;         /* COMMIT status, SUBMIT_RC value, TLS_UP index into tls_states[],
                         * AUTH_ASYNC on/off, AUTH_DONE index into auth_results[],
                         * HELD: milliseconds of holds asked for since the last HELD */
    const char *expect; /* reply line prefixes, '\n'-separated; "" = no output */
    int act;            /* expected enum smtpd_action */
};

static const struct smtpd_tls_state *const tls_states[];

/* outcomes a pending SASL step may come back with */
enum { AR_OK, AR_USERNAME, AR_FAIL, AR_TEMP };
static const struct smtpd_auth_result auth_results[] = {
    [AR_OK] = {.status = SMTPD_AUTH_OK, .username = "alice"},
    [AR_USERNAME] = {.status = SMTPD_AUTH_CONTINUE, .out = "Username:", .outlen = 9},
    [AR_FAIL] = {.status = SMTPD_AUTH_FAIL, .why = "authentication failure"},
    [AR_TEMP] = {.status = SMTPD_AUTH_TEMPFAIL, .why = "SASL back end unavailable"},
};

#define S(d, e)                                                                                    \
    {                                                                                              \
        SEND, d, 0, e, SMTPD_CONTINUE                                                              \
    }
#define SW(d, e)                                                                                   \
    {                                                                                              \
        SEND, d, 0, e, SMTPD_WAIT                                                                  \
    }
#define SC(d, e)                                                                                   \
    {                                                                                              \
        SEND, d, 0, e, SMTPD_CLOSE                                                                 \
    }
#define CM(st, e, a)                                                                               \
    {                                                                                              \
        COMMIT, NULL, st, e, a                                                                     \
    }

#define TX_OK "MAIL FROM:<s@a.ok>\r\nRCPT TO:<r@b.ok>\r\nDATA\r\n"

/* check_replies - out holds exactly the lines whose prefixes are listed */
static void check_replies(const char *got, size_t len, const char *expect, const char *ctx)
{
    const char *g = got, *gend = got + len;
    const char *e = expect;
    int line = 0;
    while (*e) {
        const char *ee = strchr(e, '\n');
        size_t elen = ee ? (size_t)(ee - e) : strlen(e);
        const char *crlf = g < gend ? strstr(g, "\r\n") : NULL;
        if (!crlf || (size_t)(crlf - g) < elen || memcmp(g, e, elen) != 0) {
            print_error("%s: reply line %d: expected prefix \"%.*s\", got:\n%.*s\n", ctx, line,
                        (int)elen, e, (int)len, got);
            fail();
        }
        g = crlf + 2;
        e += elen + (ee ? 1 : 0);
        line++;
    }
    if (g != gend) {
        print_error("%s: unexpected extra output:\n%.*s\n", ctx, (int)(gend - g), g);
        fail();
    }
}

/* settle - what the server does after each call: note the hold asked for, and resume while
 * parsing is stopped (the test's output always drains at once) */
static enum smtpd_action settle(struct smtpd_session *s, enum smtpd_action act, struct buf *out,
                                unsigned *held)
{
    for (;;) {
        *held += smtpd_reply_delay_ms(s);
        if (act != SMTPD_CONTINUE || !smtpd_pending(s))
            return act;
        act = smtpd_resume(s, out);
    }
}

/* run_script - run steps; all output is appended to transcript */
static void run_script(const struct smtpd_params *p, const struct step *steps, struct fake *f,
                       bool bytewise, struct buf *transcript, const char *name)
{
    struct smtpd_hooks h = {.arg = f,
                            .submit = fake_submit,
                            .check_rcpt = fake_check_rcpt,
                            .auth_step = fake_auth_step,
                            .auth_end = fake_auth_end};
    struct smtpd_session *s;
    assert_int_equal(smtpd_new(&s, p, &h), 0);
    struct buf out = BUF_INIT;
    smtpd_greeting(s, &out);
    check_replies(buf_ptr(&out), buf_used(&out), "220 mx.test ESMTP tern", name);
    buf_append(transcript, buf_ptr(&out), buf_used(&out));
    unsigned held = 0;
    for (int i = 0; steps[i].op != END; i++) {
        const struct step *st = &steps[i];
        char ctx[160];
        snprintf(ctx, sizeof(ctx), "%s step %d (%s)", name, i, bytewise ? "bytewise" : "chunk");
        buf_reset(&out);
        enum smtpd_action act = SMTPD_CONTINUE;
        switch (st->op) {
        case SEND: {
            size_t n = strlen(st->data);
            if (!bytewise || n == 0) {
                act = settle(s, smtpd_input(s, st->data, n, &out), &out, &held);
            } else {
                /* like the caller: unread input is dropped after STARTTLS */
                for (size_t k = 0; k < n && act != SMTPD_STARTTLS; k++)
                    act = settle(s, smtpd_input(s, st->data + k, 1, &out), &out, &held);
            }
            break;
        }
        case COMMIT:
            act = settle(s, smtpd_commit_done(s, st->status, &out), &out, &held);
            break;
        case HELD:
            if (held != (unsigned)st->status) {
                print_error("%s: held %u ms, expected %d\n", ctx, held, st->status);
                fail();
            }
            held = 0;
            break;
        case TIMEOUT:
            act = smtpd_timeout(s, &out);
            break;
        case SHUTDOWN:
            act = smtpd_shutdown(s, &out);
            break;
        case SUBMIT_RC:
            f->submit_rc = st->status;
            continue;
        case TLS_UP:
            assert_true(smtpd_tls_active(s));
            assert_int_equal(smtpd_tls_started(s, tls_states[st->status]), 0);
            break;
        case AUTH_ASYNC:
            f->auth_pending = st->status;
            continue;
        case AUTH_DONE:
            act = smtpd_auth_done(s, &auth_results[st->status], &out);
            break;
        case END:
            break;
        }
        check_replies(buf_ptr(&out), buf_used(&out), st->expect, ctx);
        if ((int)act != st->act) {
            print_error("%s: action %d, expected %d\n", ctx, (int)act, st->act);
            fail();
        }
        buf_append(transcript, buf_ptr(&out), buf_used(&out));
    }
    smtpd_disconnected(s);
    smtpd_free(s);
    buf_free(&out);
}

/* after_received - the content after the Received: header and its continuation lines */
static const char *after_received(const char *c)
{
    assert_true(strncmp(c, "Received: ", 10) == 0);
    do {
        c = strstr(c, "\r\n");
        assert_non_null(c);
        c += 2;
    } while (*c == '\t');
    return c;
}

/* run_both - run in chunks and octet by octet; results must be identical.
 * The chunked run's messages are left in f. */
static void run_both(const struct smtpd_params *p, const struct step *steps, struct fake *f,
                     const char *name)
{
    struct fake f2 = {0};
    struct buf t1 = BUF_INIT, t2 = BUF_INIT;
    run_script(p, steps, f, false, &t1, name);
    run_script(p, steps, &f2, true, &t2, name);
    /* Queue IDs differ between runs: compare with them masked. */
    for (int i = 0; i < f->nmsg && i < f2.nmsg; i++) {
        char *q1 = strstr(t1.data, f->msg[i]->qid), *q2 = strstr(t2.data, f2.msg[i]->qid);
        if (q1)
            memset(q1, 'Q', QUEUE_ID_LEN);
        if (q2)
            memset(q2, 'Q', QUEUE_ID_LEN);
    }
    assert_string_equal(t1.data ? t1.data : "", t2.data ? t2.data : "");
    assert_int_equal(f->nmsg, f2.nmsg);
    for (int i = 0; i < f->nmsg; i++) {
        struct queue_msg *a = f->msg[i], *b = f2.msg[i];
        assert_string_equal(a->sender, b->sender);
        assert_int_equal(a->nrcpt, b->nrcpt);
        /* bodies equal after the Received: header (which names the queue ID and time) */
        const char *ca = after_received(a->data), *cb = after_received(b->data);
        assert_int_equal(a->len - (size_t)(ca - a->data), b->len - (size_t)(cb - b->data));
        assert_memory_equal(ca, cb, a->len - (size_t)(ca - a->data));
    }
    fake_reset(&f2);
    buf_free(&t1);
    buf_free(&t2);
}

/* msg_body - content after the Received: header */
static const char *msg_body(const struct queue_msg *m)
{
    return after_received(m->data);
}

/* ------------------------------------------------------------- tests */

static void test_ehlo_features(void **state)
{
    (void)state;
    static const struct step plain[] = {
        S("EHLO client.example\r\n",
          "250-mx.test\n250-PIPELINING\n250-SIZE 10000\n250-VRFY\n"
          "250-ENHANCEDSTATUSCODES\n250-8BITMIME\n250-DSN\n250 SMTPUTF8"),
        S("HELO client.example\r\n", "250 mx.test"),
        S("ehlo x\r\n", "250-mx.test\n250-PIPELINING\n250-SIZE 10000\n250-VRFY\n"
                        "250-ENHANCEDSTATUSCODES\n250-8BITMIME\n250-DSN\n250 SMTPUTF8"),
        S("EHLO\r\n", "501 5.5.4 Syntax: EHLO hostname"),
        S("HELO\r\n", "501 5.5.4 Syntax: HELO hostname"),
        SC("QUIT\r\n", "221 2.0.0 Bye"),
        {END, NULL, 0, NULL, 0},
    };
    struct fake f = {0};
    run_both(&default_params, plain, &f, "ehlo");
    fake_reset(&f);

    struct smtpd_params p = default_params;
    p.tls_available = true;
    p.message_size_limit = 0;
    static const struct step tls[] = {
        S("EHLO c\r\n", "250-mx.test\n250-PIPELINING\n250-SIZE\n250-VRFY\n250-STARTTLS\n"
                        "250-ENHANCEDSTATUSCODES\n250-8BITMIME\n250-DSN\n250 SMTPUTF8"),
        /* commands pipelined after STARTTLS are discarded (no injection) */
        {SEND, "STARTTLS\r\nMAIL FROM:<evil@x.ok>\r\n", 0, "220 2.0.0 Ready to start TLS",
         SMTPD_STARTTLS},
        S("MAIL FROM:<s@a.ok>\r\n", "503 5.5.1 Error: send HELO/EHLO first"),
        /* REQUIRETLS (RFC 8689) is offered over TLS only */
        S("EHLO c\r\n", "250-mx.test\n250-PIPELINING\n250-SIZE\n250-VRFY\n250-REQUIRETLS\n"
                        "250-ENHANCEDSTATUSCODES\n250-8BITMIME\n250-DSN\n250 SMTPUTF8"),
        S("STARTTLS\r\n", "503 5.5.1 Error: TLS already active"),
        S("MAIL FROM:<s@a.ok> REQUIRETLS=yes\r\n", "501 5.5.4 Bad REQUIRETLS parameter syntax"),
        S("MAIL FROM:<s@a.ok> REQUIRETLS REQUIRETLS\r\n",
          "501 5.5.4 Bad REQUIRETLS parameter syntax"),
        S("MAIL FROM:<s@a.ok> requiretls\r\nRCPT TO:<r@b.ok>\r\nDATA\r\n",
          "250 2.1.0 Ok\n250 2.1.5 Ok\n354 "),
        /* "TLS-Required: No" means nothing beside REQUIRETLS (RFC 8689 4.1) ... */
        SW("TLS-Required: No\r\n\r\nhi\r\n.\r\n", ""),
        CM(0, "250 2.0.0 Ok: queued as ", SMTPD_CONTINUE),
        /* ... and without it, the message is marked */
        S("MAIL FROM:<s@a.ok>\r\nRCPT TO:<r@b.ok>\r\nDATA\r\n", "250 2.1.0 Ok\n250 2.1.5 Ok\n354 "),
        SW("TLS-Required: No\r\n\r\nhi\r\n.\r\n", ""),
        CM(0, "250 2.0.0 Ok: queued as ", SMTPD_CONTINUE),
        {END, NULL, 0, NULL, 0},
    };
    run_both(&p, tls, &f, "starttls");
    assert_int_equal(f.nmsg, 2);
    assert_non_null(strstr(f.msg[0]->data, "with ESMTPS id "));
    assert_true(f.msg[0]->requiretls);
    assert_false(f.msg[0]->tls_optional);
    assert_false(f.msg[1]->requiretls);
    assert_true(f.msg[1]->tls_optional);
    fake_reset(&f);
}

static void test_commands(void **state)
{
    (void)state;
    static const struct step steps[] = {
        S("MAIL FROM:<s@a.ok>\r\n", "503 5.5.1 Error: send HELO/EHLO first"),
        S("RCPT TO:<r@b.ok>\r\n", "503 5.5.1 Error: need MAIL command"),
        S("DATA\r\n", "503 5.5.1 Error: need RCPT command"),
        S("NOOP\r\n", "250 2.0.0 Ok"),
        S("noop anything\r\n", "250 2.0.0 Ok"),
        S("RSET\r\n", "250 2.0.0 Ok"),
        S("RSET x\r\n", "501 5.5.4 Syntax: RSET"),
        S("VRFY root\r\n", "252 2.0.0 Cannot VRFY user"),
        S("VRFY\r\n", "501 5.5.4"),
        S("HELP\r\n", "214 2.0.0"),
        S("EXPN list\r\n", "500 5.5.2 Error: command not recognized"),
        S("ETRN x\r\n", "500 5.5.2 Error: command not recognized"),
        S("STARTTLS\r\n", "502 5.5.1 Error: STARTTLS not offered"),
        S("\r\n", "500 5.5.2 Error: bad syntax"),
        S("HeLo c\r\n", "250 mx.test"),
        S("mail from:<s@a.ok>\r\n", "250 2.1.0 Ok"),
        S("MAIL FROM:<s@a.ok>\r\n", "503 5.5.1 Error: nested MAIL command"),
        S("DATA\r\n", "503 5.5.1 Error: need RCPT command"),
        S("RCPT TO:<r@evil.example>\r\n", "554 5.7.1 <r@evil.example>: Relay access denied"),
        S("DATA\r\n", "554 5.5.1 Error: no valid recipients"),
        S("MAIL FROM <s@a.ok>\r\n", "503 5.5.1 Error: nested MAIL command"),
        S("RSET\r\n", "250 2.0.0 Ok"),
        S("MAIL FROM <s@a.ok>\r\n", "501 5.5.4 Syntax: MAIL FROM:<address>"),
        S("MAIL FROM: <s@a.ok>\r\n", "250 2.1.0 Ok"),
        S("RCPT <r@b.ok>\r\n", "501 5.5.4 Syntax: RCPT TO:<address>"),
        S("rcpt to:<r@b.ok>\r\n", "250 2.1.5 Ok"),
        S("DATA x\r\n", "501 5.5.4 Syntax: DATA"),
        S("data\r\n", "354 End data with <CR><LF>.<CR><LF>"),
        SW("Subject: t\r\n\r\nbody\r\n.\r\n", ""),
        /* input while waiting is buffered, not answered */
        SW("NOOP\r\n", ""),
        CM(0, "250 2.0.0 Ok: queued as \n250 2.0.0 Ok", SMTPD_CONTINUE),
        SC("QUIT\r\n", "221 2.0.0 Bye"),
        SC("NOOP\r\n", ""),
        {END, NULL, 0, NULL, 0},
    };
    struct fake f = {0};
    run_both(&default_params, steps, &f, "commands");
    assert_int_equal(f.nmsg, 1);
    struct queue_msg *m = f.msg[0];
    assert_string_equal(m->sender, "s@a.ok");
    assert_int_equal(m->nrcpt, 1);
    assert_string_equal(m->rcpt[0].addr, "r@b.ok");
    assert_string_equal(m->client, "client.test[192.0.2.1]");
    assert_string_equal(msg_body(m), "Subject: t\r\n\r\nbody\r\n");
    assert_int_equal(strlen(m->qid), QUEUE_ID_LEN);
    char head[256];
    snprintf(head, sizeof(head),
             "Received: from c (client.test [192.0.2.1])\r\n\tby mx.test (tern) with SMTP id %s\r\n"
             "\tfor <r@b.ok>; ",
             m->qid);
    assert_memory_equal(m->data, head, strlen(head));
    assert_true(m->arrival > 1e9);
    fake_reset(&f);
}

static void test_pipelined(void **state)
{
    (void)state;
    /* Everything in one chunk, two messages, QUIT: the second message waits
     * for the first commit, then is parsed from the buffered input. */
    static const struct step steps[] = {
        SW("EHLO c\r\n" TX_OK "one\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<x@y.ok>\r\n"
           "RCPT TO:<bad@example.com>\r\nRCPT TO:<z@y.ok>\r\nDATA\r\ntwo\r\n.\r\nQUIT\r\n",
           "250-mx.test\n250-\n250-\n250-\n250-\n250-\n250-\n250 SMTPUTF8\n"
           "250 2.1.0 Ok\n250 2.1.5 Ok\n354 "),
        {COMMIT, NULL, 0,
         "250 2.0.0 Ok: queued as \n250 2.1.0 Ok\n250 2.1.5 Ok\n554 5.7.1 <bad@example.com>\n"
         "250 2.1.5 Ok\n354 ",
         SMTPD_WAIT},
        CM(0, "250 2.0.0 Ok: queued as \n221 2.0.0 Bye", SMTPD_CLOSE),
        {END, NULL, 0, NULL, 0},
    };
    struct fake f = {0};
    run_both(&default_params, steps, &f, "pipelined");
    assert_int_equal(f.nmsg, 2);
    assert_string_equal(msg_body(f.msg[0]), "one\r\n");
    assert_string_equal(msg_body(f.msg[1]), "two\r\n");
    assert_string_equal(f.msg[1]->sender, "");
    assert_int_equal(f.msg[1]->nrcpt, 2);
    assert_string_equal(f.msg[1]->rcpt[0].addr, "x@y.ok");
    assert_string_equal(f.msg[1]->rcpt[1].addr, "z@y.ok");
    /* two recipients: no "for" clause */
    assert_null(strstr(f.msg[1]->data, "\tfor <"));
    assert_string_not_equal(f.msg[0]->qid, f.msg[1]->qid);
    fake_reset(&f);
}

static void test_dot_unstuffing(void **state)
{
    (void)state;
    static const struct {
        const char *wire; /* after DATA, through the terminator */
        const char *body; /* content as queued */
    } cases[] = {
        {".\r\n", ""},
        {"\r\n.\r\n", "\r\n"},
        {"a\r\n.\r\n", "a\r\n"},
        {"..\r\n.\r\n", ".\r\n"},
        {"..dot\r\n...two\r\n.x\r\n\r\n.\r\n", ".dot\r\n..two\r\nx\r\n\r\n"},
        {"a.\r\n.b.\r\n. \r\n.\r\n", "a.\r\nb.\r\n \r\n"},
        {"tab\there\r\n\x01\x7f\xc3\xa9\r\n.\r\n", "tab\there\r\n\x01\x7f\xc3\xa9\r\n"},
        /* the second "." is a command that does not start with a letter: 221, as Postfix */
        {"x\r\n.\r\n.\r\n", "x\r\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *expect_after = i == 7 ? "250 2.0.0 Ok: queued as \n221 2.7.0 Error: I can break"
                                          : "250 2.0.0 Ok: queued as ";
        const struct step steps[] = {
            S("EHLO c\r\n" TX_OK,
              "250-\n250-\n250-\n250-\n250-\n250-\n250-\n250 \n250 \n250 \n354 "),
            SW(cases[i].wire, ""),
            CM(0, expect_after, i == 7 ? SMTPD_CLOSE : SMTPD_CONTINUE),
            {END, NULL, 0, NULL, 0},
        };
        char name[32];
        snprintf(name, sizeof(name), "dot %zu", i);
        struct fake f = {0};
        run_both(&default_params, steps, &f, name);
        assert_int_equal(f.nmsg, 1);
        assert_string_equal(msg_body(f.msg[0]), cases[i].body);
        size_t hdr = (size_t)(msg_body(f.msg[0]) - f.msg[0]->data);
        assert_int_equal(f.msg[0]->len, hdr + strlen(cases[i].body));
        fake_reset(&f);
    }
}

/* The SMTP smuggling family: a non-standard end-of-data followed by a
 * second envelope. Each must give either one message whose body still holds
 * the smuggled text, or 521 and no message - never a second envelope. */
static void test_smuggling(void **state)
{
    (void)state;
    static const char *const variants[] = {
        "\n.\n",       "\n.\r\n",       "\r.\r",       "\r\n.\n",
        "\r\n.\r",     "\n.\r",         "\r.\n",       "\r.\r\n",
        "\r\n.\r\r\n", "\r\n.\n\r\n",   "\n\r\n.\r\n", "\r\r\n.\r\n",
        "\r\n\r.\r\n", "\r\n.\x00\r\n", "\n..\n",      "\r\n\n.\r\n\n",
    };
    static const char smuggled[] = "MAIL FROM:<evil@x.ok>\r\nRCPT TO:<victim@y.ok>\r\nDATA\r\n"
                                   "Subject: smuggled\r\n\r\nevil\r\n.\r\n";
    for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
        for (int bytewise = 0; bytewise < 2; bytewise++) {
            struct fake f = {0};
            struct smtpd_hooks h = {
                .arg = &f, .submit = fake_submit, .check_rcpt = fake_check_rcpt};
            struct smtpd_session *s;
            assert_int_equal(smtpd_new(&s, &default_params, &h), 0);
            struct buf in = BUF_INIT, out = BUF_INIT;
            buf_puts(&in, "EHLO c\r\n" TX_OK "Subject: hi\r\n\r\nhello");
            size_t vlen = v == 13 ? 6 : strlen(variants[v]); /* variant 13 holds a NUL */
            buf_append(&in, variants[v], vlen);
            buf_puts(&in, smuggled);
            buf_puts(&in, "\r\n.\r\nQUIT\r\n");
            size_t n = buf_used(&in), k = 0;
            enum smtpd_action act = SMTPD_CONTINUE;
            while (k < n && act != SMTPD_CLOSE) {
                size_t step = bytewise ? 1 : n - k;
                act = smtpd_input(s, buf_ptr(&in) + k, step, &out);
                k += step;
                while (act == SMTPD_WAIT)
                    act = smtpd_commit_done(s, 0, &out);
            }
            const char *o = out.data;
            int mails = 0;
            for (const char *p = o; (p = strstr(p, "250 2.1.0")) != NULL; p++)
                mails++;
            if (mails != 1 || f.nmsg > 1) {
                print_error("variant %zu bytewise=%d: %d MAIL accepted, %d messages:\n%s\n", v,
                            bytewise, mails, f.nmsg, o);
                fail();
            }
            if (f.nmsg == 1) {
                assert_non_null(memmem(f.msg[0]->data, f.msg[0]->len, "MAIL FROM:<evil@x.ok>", 21));
            } else {
                assert_non_null(strstr(o, "\r\n521 5.5.2 mx.test Error: bare <"));
                assert_int_equal(act, SMTPD_CLOSE);
            }
            /* every variant with a bare CR or LF is refused outright; only the
             * NUL variant (no bare octet) is one ordinary message */
            assert_int_equal(f.nmsg, v == 13 ? 1 : 0);
            smtpd_free(s);
            buf_free(&in);
            buf_free(&out);
            fake_reset(&f);
        }
    }
}

static void test_bare_cr_lf(void **state)
{
    (void)state;
    static const struct step lf_cmd[] = {
        SC("EHLO c\nMAIL FROM:<s@a.ok>\r\n", "521 5.5.2 mx.test Error: bare <LF> received"),
        SC("NOOP\r\n", ""),
        {END, NULL, 0, NULL, 0},
    };
    static const struct step cr_cmd[] = {
        S("NOOP\r", ""), /* a CR at the end of a chunk waits for the next octet */
        SC("x\r\n", "521 5.5.2 mx.test Error: bare <CR> received"),
        {END, NULL, 0, NULL, 0},
    };
    static const struct step cr_ok[] = {
        S("NOOP\r", ""),
        S("\n", "250 2.0.0 Ok"),
        {END, NULL, 0, NULL, 0},
    };
    static const struct step lf_data[] = {
        S("HELO c\r\n" TX_OK, "250 \n250 \n250 \n354 "),
        S("line\r", ""),
        S("\nx\r", ""),
        SC("\r\n.\r\n", "521 5.5.2 mx.test Error: bare <CR> received"),
        {END, NULL, 0, NULL, 0},
    };
    static const struct step lf_long[] = {
        /* inside an over-long command line too */
        SC("NOOP "
           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
           "xxxxxxx"
           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
           "xxxxxxxxx"
           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
           "xxxxxxxxx"
           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
           "xxxxxxxxx"
           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
           "xxxxxxxxx"
           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
           "xxxxxxxxx"
           "\n",
           "521 5.5.2 mx.test Error: bare <LF> received"),
        {END, NULL, 0, NULL, 0},
    };
    const struct step *const scripts[] = {lf_cmd, cr_cmd, cr_ok, lf_data, lf_long};
    for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
        struct fake f = {0};
        char name[32];
        snprintf(name, sizeof(name), "bare %zu", i);
        run_both(&default_params, scripts[i], &f, name);
        assert_int_equal(f.nmsg, 0);
        fake_reset(&f);
    }
}

/* repeat - a static string of n copies of c */
static const char *repeat(const char *pre, char c, size_t n, const char *post)
{
    static char bufs[8][4096];
    static int next;
    char *b = bufs[next++ % 8];
    size_t pl = strlen(pre);
    memcpy(b, pre, pl);
    memset(b + pl, c, n);
    strcpy(b + pl + n, post);
    return b;
}

static void test_limits(void **state)
{
    (void)state;
    struct fake f = {0};
    /* command lines: 512 octets incl. CRLF pass, 513 do not */
    const struct step cmd[] = {
        S(repeat("NOOP ", 'x', 505, "\r\n"), "250 2.0.0 Ok"),
        S(repeat("NOOP ", 'x', 506, "\r\nNOOP\r\n"),
          "500 5.5.2 Error: line too long\n250 2.0.0 Ok"),
        S(repeat("NOOP ", 'x', 3000, ""), ""),
        S(repeat("", 'y', 3000, ""), ""),
        S("\r\nRSET\r\n", "500 5.5.2 Error: line too long\n250 2.0.0 Ok"),
        {END, NULL, 0, NULL, 0},
    };
    run_both(&default_params, cmd, &f, "cmdline");
    fake_reset(&f);

    /* text lines: 1000 octets incl. CRLF pass, 1001 are refused at the end */
    const struct step text[] = {
        S("EHLO c\r\n" TX_OK, "250-\n250-\n250-\n250-\n250-\n250-\n250-\n250 \n250 \n250 \n354 "),
        SW(repeat("", 'a', 998, "\r\n.\r\n"), ""),
        CM(0, "250 2.0.0 Ok: queued as ", SMTPD_CONTINUE),
        S(TX_OK, "250 2.1.0\n250 2.1.5\n354 "),
        S(repeat("", 'a', 999, "\r\n.\r\n"), "500 5.5.2 Error: line too long"),
        /* the envelope is gone after a refused message */
        S("RCPT TO:<r@b.ok>\r\n", "503 5.5.1 Error: need MAIL command"),
        /* a stuffed dot does not count: 998 octets of content after it pass ... */
        S(TX_OK, "250 2.1.0\n250 2.1.5\n354 "),
        SW(repeat(".", 'a', 998, "\r\n.\r\n"), ""),
        CM(0, "250 2.0.0 Ok: queued as ", SMTPD_CONTINUE),
        /* ... 999 do not */
        S(TX_OK, "250 2.1.0\n250 2.1.5\n354 "),
        S(repeat(".", 'a', 999, "\r\n.\r\n"), "500 5.5.2 Error: line too long"),
        {END, NULL, 0, NULL, 0},
    };
    run_both(&default_params, text, &f, "textline");
    assert_int_equal(f.nmsg, 2);
    fake_reset(&f);

    /* SIZE= and message_size_limit (10000 here) */
    struct smtpd_params p = default_params;
    p.message_size_limit = 2000;
    const struct step size[] = {
        S("EHLO c\r\n", "250-mx.test\n250-PIPELINING\n250-SIZE 2000\n250-\n250-\n250-\n250-\n250 "),
        S("MAIL FROM:<s@a.ok> SIZE=2001\r\n", "552 5.3.4 Message size exceeds fixed limit"),
        S("MAIL FROM:<s@a.ok> SIZE=x1\r\n", "501 5.5.4 Bad message size syntax"),
        S("MAIL FROM:<s@a.ok> SIZE=99999999999999999999999\r\n",
          "501 5.5.4 Bad message size syntax"),
        S("MAIL FROM:<s@a.ok> SIZE\r\n", "501 5.5.4 Bad message size syntax"),
        S("MAIL FROM:<s@a.ok> SIZE=2000\r\nRCPT TO:<r@b.ok>\r\nDATA\r\n",
          "250 2.1.0\n250 2.1.5\n354 "),
        /* 3 x 1000 octets: over the limit, read to the end, then refused */
        S(repeat("", 'a', 998, "\r\n"), ""),
        S(repeat("", 'b', 998, "\r\n"), ""),
        S(repeat("", 'c', 998, "\r\n"), ""),
        S(".\r\n", "552 5.3.4 Error: message file too big"),
        /* exactly at the limit: 2 x 1000 */
        S(TX_OK, "250 2.1.0\n250 2.1.5\n354 "),
        S(repeat("", 'a', 998, "\r\n"), ""),
        SW(repeat("", 'b', 998, "\r\n.\r\n"), ""),
        CM(0, "250 2.0.0 Ok: queued as ", SMTPD_CONTINUE),
        {END, NULL, 0, NULL, 0},
    };
    run_both(&p, size, &f, "size");
    assert_int_equal(f.nmsg, 1);
    assert_int_equal(strlen(msg_body(f.msg[0])), 2000);
    fake_reset(&f);

    /* recipient limit (3 here) */
    const struct step rcpt[] = {
        S("EHLO c\r\nMAIL FROM:<s@a.ok>\r\nRCPT TO:<a@b.ok>\r\nRCPT TO:<b@b.ok>\r\n"
          "RCPT TO:<c@b.ok>\r\nRCPT TO:<d@b.ok>\r\nDATA\r\n",
          "250-\n250-\n250-\n250-\n250-\n250-\n250-\n250 \n250 2.1.0\n250 2.1.5\n250 2.1.5\n"
          "250 2.1.5\n452 4.5.3 Error: too many recipients\n354 "),
        SW("x\r\n.\r\n", ""),
        CM(0, "250 2.0.0 Ok: queued as ", SMTPD_CONTINUE),
        {END, NULL, 0, NULL, 0},
    };
    run_both(&default_params, rcpt, &f, "rcptlimit");
    assert_int_equal(f.nmsg, 1);
    assert_int_equal(f.msg[0]->nrcpt, 3);
    fake_reset(&f);
}

static void test_dsn_params(void **state)
{
    (void)state;
    static const struct step steps[] = {
        S("EHLO c\r\n", "250-\n250-\n250-\n250-\n250-\n250-\n250-\n250 "),
        S("MAIL FROM:<s@a.ok> RET=XX\r\n", "501 5.5.4 Bad RET parameter syntax"),
        S("MAIL FROM:<s@a.ok> ENVID=a=b\r\n", "501 5.5.4 Bad ENVID parameter syntax"),
        S("MAIL FROM:<s@a.ok> ENVID=a+2b\r\n", "501 5.5.4 Bad ENVID parameter syntax"),
        S("MAIL FROM:<s@a.ok> BODY=BINARYMIME\r\n", "501 5.5.4"),
        S("MAIL FROM:<s@a.ok> AUTH=<>\r\n", "555 5.5.4 Unsupported option: AUTH"),
        S("MAIL FROM:<s@a.ok> FOO\r\n", "555 5.5.4 Unsupported option: FOO"),
        S("MAIL FROM:<s@a.ok> REQUIRETLS\r\n", "530 5.7.10 REQUIRETLS needs a TLS session"),
        S("MAIL FROM:<s@a.ok> RET=HDRS ENVID=abc+2Bdef BODY=8BITMIME SIZE=100\r\n", "250 2.1.0 Ok"),
        S("RCPT TO:<a@b.ok> NOTIFY=NEVER,SUCCESS\r\n",
          "501 5.5.4 Error: Bad NOTIFY parameter syntax"),
        S("RCPT TO:<a@b.ok> NOTIFY=SOMETIMES\r\n", "501 5.5.4 Error: Bad NOTIFY parameter syntax"),
        S("RCPT TO:<a@b.ok> NOTIFY=\r\n", "501 5.5.4 Error: Bad NOTIFY parameter syntax"),
        S("RCPT TO:<a@b.ok> ORCPT=rfc822\r\n", "501 5.5.4 Error: Bad ORCPT parameter syntax"),
        S("RCPT TO:<a@b.ok> ORCPT=rfc822;a=b\r\n", "501 5.5.4 Error: Bad ORCPT parameter syntax"),
        S("RCPT TO:<a@b.ok> XYZ=1\r\n", "555 5.5.4 Unsupported option: XYZ"),
        S("RCPT TO:<a@b.ok> NOTIFY=success,DELAY ORCPT=rfc822;a+40b.ok\r\n", "250 2.1.5 Ok"),
        S("RCPT TO:<n@b.ok> notify=never\r\n", "250 2.1.5 Ok"),
        S("RCPT TO:<p@b.ok>\r\n", "250 2.1.5 Ok"),
        S("DATA\r\n", "354 "),
        SW("x\r\n.\r\n", ""),
        CM(0, "250 2.0.0 Ok: queued as ", SMTPD_CONTINUE),
        S("MAIL FROM:<s@a.ok> RET=FULL BODY=7bit\r\nRCPT TO:<r@b.ok>\r\nDATA\r\n",
          "250 \n250 \n354 "),
        SW(".\r\n", ""),
        CM(0, "250 2.0.0 Ok: queued as ", SMTPD_CONTINUE),
        {END, NULL, 0, NULL, 0},
    };
    struct fake f = {0};
    run_both(&default_params, steps, &f, "dsn");
    assert_int_equal(f.nmsg, 2);
    struct queue_msg *m = f.msg[0];
    assert_int_equal(m->ret, DSN_RET_HDRS);
    assert_string_equal(m->envid, "abc+2Bdef");
    assert_int_equal(m->body_type, BODY_8BITMIME);
    assert_false(m->smtputf8);
    assert_int_equal(m->nrcpt, 3);
    assert_int_equal(m->rcpt[0].notify, DSN_NOTIFY_SUCCESS | DSN_NOTIFY_DELAY);
    assert_string_equal(m->rcpt[0].orcpt, "rfc822;a+40b.ok");
    assert_int_equal(m->rcpt[1].notify, DSN_NOTIFY_NEVER);
    assert_null(m->rcpt[1].orcpt);
    assert_int_equal(m->rcpt[2].notify, 0);
    m = f.msg[1];
    assert_int_equal(m->ret, DSN_RET_FULL);
    assert_null(m->envid);
    assert_int_equal(m->body_type, BODY_7BIT);
    assert_string_equal(msg_body(m), "");
    fake_reset(&f);
}

static void test_addresses(void **state)
{
    (void)state;
    static const struct step steps[] = {
        S("EHLO c\r\n", "250-\n250-\n250-\n250-\n250-\n250-\n250-\n250 "),
        S("MAIL FROM:<s@a.ok\r\n", "501 5.1.7 Bad sender address syntax"),
        S("MAIL FROM:<s@a@b.ok>\r\n", "501 5.1.7 Bad sender address syntax"),
        S("MAIL FROM:<s@a.ok>x\r\n", "501 5.1.7 Bad sender address syntax"),
        S("MAIL FROM:\r\n", "501 5.1.7 Bad sender address syntax"),
        S("MAIL FROM:<j\xc3\xb6rg@a.ok>\r\n", "553 5.6.7"),
        S("MAIL FROM:<>\r\n", "250 2.1.0 Ok"),
        S("RCPT TO:<>\r\n", "501 5.1.3 Bad recipient address syntax"),
        S("RCPT TO:<a b@c.ok>\r\n", "501 5.1.3 Bad recipient address syntax"),
        S("RCPT TO:<r@b.ok\r\n", "501 5.1.3 Bad recipient address syntax"),
        S("RCPT TO:<\xc3\xa9@b.ok>\r\n", "553 5.6.7"),
        S("RCPT TO:<@hop.example:r@b.ok>\r\n", "250 2.1.5 Ok"),
        S("RCPT TO:<\"quoted >\"@b.ok>\r\n", "250 2.1.5 Ok"),
        S("RSET\r\n", "250 2.0.0 Ok"),
        S("MAIL FROM:<j\xc3\xb6rg@a.ok> SMTPUTF8\r\n", "250 2.1.0 Ok"),
        S("RCPT TO:<\xc3\xa9@b.ok>\r\n", "250 2.1.5 Ok"),
        S("DATA\r\n", "354 "),
        SW(".\r\n", ""),
        CM(0, "250 2.0.0 Ok: queued as ", SMTPD_CONTINUE),
        {END, NULL, 0, NULL, 0},
    };
    struct fake f = {0};
    run_both(&default_params, steps, &f, "addresses");
    assert_int_equal(f.nmsg, 1);
    assert_true(f.msg[0]->smtputf8);
    assert_string_equal(f.msg[0]->sender, "j\xc3\xb6rg@a.ok");
    assert_non_null(strstr(f.msg[0]->data, "with UTF8SMTP id "));
    fake_reset(&f);
}

static void test_commit_failures(void **state)
{
    (void)state;
    static const struct step steps[] = {
        S("EHLO c\r\n" TX_OK, "250-\n250-\n250-\n250-\n250-\n250-\n250-\n250 \n250 \n250 \n354 "),
        SW("a\r\n.\r\n", ""),
        CM(-ENOSPC, "452 4.3.1 Insufficient system storage", SMTPD_CONTINUE),
        S(TX_OK, "250 2.1.0\n250 2.1.5\n354 "),
        SW("b\r\n.\r\n", ""),
        CM(-EIO, "451 4.3.0 Error: queue file write error", SMTPD_CONTINUE),
        {SUBMIT_RC, NULL, -EIO, NULL, 0},
        S(TX_OK "c\r\n.\r\n",
          "250 2.1.0\n250 2.1.5\n354 \n451 4.3.0 Error: queue file write error"),
        {SUBMIT_RC, NULL, 0, NULL, 0},
        S(TX_OK, "250 2.1.0\n250 2.1.5\n354 "),
        SW("d\r\n.\r\n", ""),
        /* not waiting: a stray commit answer changes nothing */
        CM(0, "250 2.0.0 Ok: queued as ", SMTPD_CONTINUE),
        CM(0, "", SMTPD_CONTINUE),
        {END, NULL, 0, NULL, 0},
    };
    struct fake f = {0};
    run_both(&default_params, steps, &f, "commit");
    /* the fake keeps the messages it accepted, whatever the commit said */
    assert_int_equal(f.nmsg, 3);
    assert_string_equal(msg_body(f.msg[2]), "d\r\n");
    fake_reset(&f);
}

static void test_errors_timeout_shutdown(void **state)
{
    (void)state;
    struct fake f = {0};
    struct buf b = BUF_INIT;
    for (int i = 0; i < 20; i++)
        buf_puts(&b, "BOGUS\r\n");
    buf_puts(&b, "NOOP\r\n");
    char expect[1024] = "";
    for (int i = 0; i < 20; i++)
        strcat(expect, "500 5.5.2\n");
    strcat(expect, "421 4.7.0 mx.test Error: too many errors");
    const struct step errs[] = {
        SC(b.data, expect),
        {END, NULL, 0, NULL, 0},
    };
    run_both(&default_params, errs, &f, "errors");
    buf_free(&b);

    static const struct step timeout[] = {
        S("HELO c\r\n" TX_OK "partial", "250 \n250 \n250 \n354 "),
        {TIMEOUT, NULL, 0, "421 4.4.2 mx.test Error: timeout exceeded", SMTPD_CLOSE},
        SC(".\r\n", ""),
        {END, NULL, 0, NULL, 0},
    };
    run_both(&default_params, timeout, &f, "timeout");
    assert_int_equal(f.nmsg, 0);

    static const struct step shut[] = {
        S("HELO c\r\n", "250 "),
        {SHUTDOWN, NULL, 0, "421 4.3.2 mx.test Service shutting down", SMTPD_CLOSE},
        {END, NULL, 0, NULL, 0},
    };
    run_both(&default_params, shut, &f, "shutdown");

    /* mid-commit: the 250 comes first, then 421 */
    static const struct step shut_wait[] = {
        SW("HELO c\r\n" TX_OK "x\r\n.\r\nNOOP\r\n", "250 \n250 \n250 \n354 "),
        {SHUTDOWN, NULL, 0, "", SMTPD_WAIT},
        CM(0, "250 2.0.0 Ok: queued as \n421 4.3.2 mx.test Service shutting down", SMTPD_CLOSE),
        {END, NULL, 0, NULL, 0},
    };
    run_both(&default_params, shut_wait, &f, "shutdown-wait");
    assert_int_equal(f.nmsg, 1);
    fake_reset(&f);
}

/* a loop of junk commands after "EHLO c", all in one chunk, under Postfix's default limits
 * (smtpd_junk_command_limit 100, smtpd_hard_error_limit 20) */
struct junk_case {
    const char *name;
    const char *unit;    /* one loop iteration */
    const char *replies; /* its replies, '\n'-separated prefixes */
    int answered;        /* iterations answered before the 421 */
};

static void test_junk_limit(void **state)
{
    (void)state;
    /* EHLO is a junk command too (as in Postfix): the 101st junk command after it is
     * the first to cost an error, the 120th such error-costing command the last answered. */
    static const struct junk_case cases[] = {
        {"noop", "NOOP\r\n", "250 2.0.0 Ok", 120},
        {"rset", "RSET\r\n", "250 2.0.0 Ok", 120},
        {"vrfy", "VRFY u\r\n", "252 2.0.0", 120},
        {"help", "HELP\r\n", "214 2.0.0", 120},
        {"mail-rset", "MAIL FROM:<s@a.ok>\r\nRSET\r\n", "250 2.1.0 Ok\n250 2.0.0 Ok", 120},
        {"mixed", "RSET\r\nNOOP\r\nVRFY x\r\nHELP\r\n",
         "250 2.0.0 Ok\n250 2.0.0 Ok\n252 2.0.0\n214 2.0.0", 30},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct junk_case *c = &cases[i];
        struct buf in = BUF_INIT, expect = BUF_INIT;
        buf_puts(&in, "EHLO c\r\n");
        buf_puts(&expect, "250-mx.test\n250-\n250-\n250-\n250-\n250-\n250-\n250 SMTPUTF8\n");
        for (int k = 0; k < c->answered + 50; k++)
            buf_puts(&in, c->unit);
        for (int k = 0; k < c->answered; k++)
            buf_printf(&expect, "%s\n", c->replies);
        buf_puts(&expect, "421 4.7.0 mx.test Error: too many errors");
        const struct step steps[] = {
            SC(in.data, expect.data),
            {END, NULL, 0, NULL, 0},
        };
        struct fake f = {0};
        run_both(&default_params, steps, &f, c->name);
        fake_reset(&f);
        buf_free(&in);
        buf_free(&expect);
    }
}

/* junk_message - 90 NOOPs, 5 refused recipients and a message, appended to b */
static void junk_message(struct buf *b)
{
    for (int k = 0; k < 90; k++)
        buf_puts(b, "NOOP\r\n");
    buf_puts(b, "MAIL FROM:<s@a.ok>\r\n");
    for (int k = 0; k < 5; k++)
        buf_puts(b, "RCPT TO:<r@evil.example>\r\n");
    buf_puts(b, "RCPT TO:<r@b.ok>\r\nDATA\r\nx\r\n.\r\n");
}

static void test_junk_reset(void **state)
{
    (void)state;
    /* a queued message forgives junk and errors: 3 x (90 NOOPs + 5 refused recipients + a
     * message) never reaches a limit */
    struct buf in = BUF_INIT, again = BUF_INIT;
    buf_puts(&in, "EHLO c\r\n");
    junk_message(&in);
    junk_message(&again);
    struct buf expect = BUF_INIT;
    for (int k = 0; k < 90; k++)
        buf_puts(&expect, "250 2.0.0 Ok\n");
    buf_puts(&expect, "250 2.1.0 Ok\n");
    for (int k = 0; k < 5; k++)
        buf_puts(&expect, "554 5.7.1\n");
    buf_puts(&expect, "250 2.1.5 Ok\n354 ");
    struct buf first = BUF_INIT;
    buf_puts(&first, "250-mx.test\n250-\n250-\n250-\n250-\n250-\n250-\n250 SMTPUTF8\n");
    buf_append(&first, buf_ptr(&expect), buf_used(&expect));
    const struct step steps[] = {
        SW(in.data, first.data),         CM(0, "250 2.0.0 Ok: queued as ", SMTPD_CONTINUE),
        SW(again.data, expect.data),     CM(0, "250 2.0.0 Ok: queued as ", SMTPD_CONTINUE),
        SW(again.data, expect.data),     CM(0, "250 2.0.0 Ok: queued as ", SMTPD_CONTINUE),
        SC("QUIT\r\n", "221 2.0.0 Bye"), {END, NULL, 0, NULL, 0},
    };
    struct fake f = {0};
    run_both(&default_params, steps, &f, "junk-reset");
    assert_int_equal(f.nmsg, 3);
    fake_reset(&f);
    buf_free(&in);
    buf_free(&again);
    buf_free(&expect);
    buf_free(&first);
}

static void test_error_sleep(void **state)
{
    (void)state;
    struct smtpd_params p = default_params;
    p.soft_error_limit = 2;
    p.hard_error_limit = 4;
    p.error_sleep_ms = 1000;
    /* replies made from 2 errors on are held 1 s each; the 421 goes with the last held one */
    static const struct step errors[] = {
        SC("BOGUS\r\nBOGUS\r\nBOGUS\r\nBOGUS\r\nNOOP\r\n",
           "500 \n500 \n500 \n500 \n421 4.7.0 mx.test Error: too many errors"),
        {HELD, NULL, 2000, "", SMTPD_CONTINUE},
        {END, NULL, 0, NULL, 0},
    };
    struct fake f = {0};
    run_both(&p, errors, &f, "sleep");

    /* junk commands cost errors that slow the session down too */
    p.junk_command_limit = 2;
    p.soft_error_limit = 1;
    p.hard_error_limit = 3;
    p.error_sleep_ms = 500;
    static const struct step junk[] = {
        S("NOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\n", "250 \n250 \n250 \n250 "),
        {HELD, NULL, 0, "", SMTPD_CONTINUE},
        SC("NOOP\r\nNOOP\r\nNOOP\r\n", "250 \n250 \n421 4.7.0 mx.test Error: too many errors"),
        {HELD, NULL, 1000, "", SMTPD_CONTINUE},
        {END, NULL, 0, NULL, 0},
    };
    run_both(&p, junk, &f, "junk-sleep");

    /* below the soft limit nothing is held; a queued message starts over */
    p = default_params;
    p.soft_error_limit = 3;
    p.error_sleep_ms = 1000;
    static const struct step reset[] = {
        S("HELO c\r\nBOGUS\r\nBOGUS\r\nBOGUS\r\n", "250 \n500 \n500 \n500 "),
        {HELD, NULL, 0, "", SMTPD_CONTINUE},
        S(TX_OK, "250 2.1.0 Ok\n250 2.1.5 Ok\n354 "),
        {HELD, NULL, 3000, "", SMTPD_CONTINUE},
        SW("x\r\n.\r\n", ""),
        CM(0, "250 2.0.0 Ok: queued as ", SMTPD_CONTINUE),
        S("BOGUS\r\nBOGUS\r\nNOOP\r\n", "500 \n500 \n250 "),
        {HELD, NULL, 0, "", SMTPD_CONTINUE},
        {END, NULL, 0, NULL, 0},
    };
    run_both(&p, reset, &f, "sleep-reset");
    assert_int_equal(f.nmsg, 1);
    fake_reset(&f);
}

/* session_new - a session with the fake hooks */
static struct smtpd_session *session_new(const struct smtpd_params *p, struct fake *f)
{
    static struct smtpd_hooks h = {.submit = fake_submit, .check_rcpt = fake_check_rcpt};
    h.arg = f;
    struct smtpd_session *s;
    assert_int_equal(smtpd_new(&s, p, &h), 0);
    return s;
}

/* feed_past_pending_max - 20 x 64 KiB while the session only keeps input: past SMTPD_PENDING_MAX */
static void feed_past_pending_max(struct smtpd_session *s, struct buf *out, enum smtpd_action act)
{
    static char chunk[65536];
    memset(chunk, 'N', sizeof(chunk));
    for (int i = 0; i < 20; i++)
        assert_int_equal(smtpd_input(s, chunk, sizeof(chunk), out), act);
}

static void test_output_batch(void **state)
{
    (void)state;
    /* A chunk of 200 pipelined EHLOs: replies come SMTPD_OUT_BATCH octets at a time, the
     * rest waits for smtpd_resume(); input meanwhile is kept, never answered early. */
    struct smtpd_params p = default_params;
    p.junk_command_limit = 1000000;
    struct fake f = {0};
    struct smtpd_session *s = session_new(&p, &f);
    struct buf in = BUF_INIT, out = BUF_INIT;
    for (int i = 0; i < 200; i++)
        buf_puts(&in, "EHLO c\r\n");
    assert_int_equal(smtpd_input(s, buf_ptr(&in), buf_used(&in), &out), SMTPD_CONTINUE);
    assert_true(smtpd_pending(s));
    assert_true(buf_used(&out) >= SMTPD_OUT_BATCH && buf_used(&out) < SMTPD_OUT_BATCH + 512);
    size_t total = buf_used(&out);
    buf_reset(&out);
    assert_int_equal(smtpd_input(s, "NOOP\r\n", 6, &out), SMTPD_CONTINUE);
    assert_int_equal(buf_used(&out), 0);
    int calls = 1;
    while (smtpd_pending(s)) {
        assert_int_equal(smtpd_resume(s, &out), SMTPD_CONTINUE);
        assert_true(buf_used(&out) < SMTPD_OUT_BATCH + 512);
        total += buf_used(&out);
        calls++;
        if (!smtpd_pending(s))
            assert_memory_equal(buf_ptr(&out) + buf_used(&out) - 14, "250 2.0.0 Ok\r\n", 14);
        buf_reset(&out);
    }
    assert_true(calls > 5);
    assert_int_equal(total, 200 * strlen("250-mx.test\r\n250-PIPELINING\r\n250-SIZE 10000\r\n"
                                         "250-VRFY\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"
                                         "250-DSN\r\n250 SMTPUTF8\r\n") +
                                14);

    /* a caller that keeps feeding while parsing is stopped: 1 MiB, then 421 */
    assert_int_equal(smtpd_input(s, buf_ptr(&in), buf_used(&in), &out), SMTPD_CONTINUE);
    assert_true(smtpd_pending(s));
    feed_past_pending_max(s, &out, SMTPD_CONTINUE);
    buf_reset(&out);
    assert_int_equal(smtpd_resume(s, &out), SMTPD_CLOSE);
    check_replies(buf_ptr(&out), buf_used(&out),
                  "421 4.7.0 mx.test Error: too much pipelined input", "batch-overflow");
    smtpd_free(s);
    buf_free(&in);
    buf_free(&out);
    fake_reset(&f);
}

static void test_records(void **state)
{
    (void)state;
    /* requests completed, for the caller's per-request deadline */
    struct fake f = {0};
    struct smtpd_session *s = session_new(&default_params, &f);
    struct buf out = BUF_INIT;
    static const struct {
        const char *in;
        unsigned long records;
        bool data;
    } steps[] = {
        {"EHLO c\r\nNO", 1, false},
        {"O", 1, false},
        {"P\r\n", 2, false},
        {TX_OK, 5, true},
        {"Subject: x\r\n\r\nbody", 5, true},
        {"\r\n.\r", 5, true},
        {"\n", 6, false},
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        smtpd_input(s, steps[i].in, strlen(steps[i].in), &out);
        assert_int_equal(smtpd_records(s), steps[i].records);
        assert_int_equal(smtpd_in_data(s), steps[i].data);
    }
    /* a write timeout: logged, nothing to say */
    assert_int_equal(smtpd_commit_done(s, 0, &out), SMTPD_CONTINUE);
    buf_reset(&out);
    assert_int_equal(smtpd_timeout(s, NULL), SMTPD_CLOSE);
    assert_int_equal(smtpd_input(s, "NOOP\r\n", 6, &out), SMTPD_CLOSE);
    assert_int_equal(buf_used(&out), 0);
    smtpd_free(s);
    buf_free(&out);
    fake_reset(&f);
}

static void test_pending_bound(void **state)
{
    (void)state;
    /* A caller that keeps feeding while a commit is pending: the session
     * buffers at most SMTPD_PENDING_MAX (1 MiB) and then closes after the 250. */
    struct fake f = {0};
    struct smtpd_session *s = session_new(&default_params, &f);
    struct buf out = BUF_INIT;
    assert_int_equal(smtpd_input(s, "HELO c\r\n" TX_OK "x\r\n.\r\n",
                                 strlen("HELO c\r\n" TX_OK "x\r\n.\r\n"), &out),
                     SMTPD_WAIT);
    feed_past_pending_max(s, &out, SMTPD_WAIT);
    buf_reset(&out);
    assert_int_equal(smtpd_commit_done(s, 0, &out), SMTPD_CLOSE);
    check_replies(buf_ptr(&out), buf_used(&out),
                  "250 2.0.0 Ok: queued as \n421 4.7.0 mx.test Error: too much pipelined input",
                  "pending");
    smtpd_free(s);
    buf_free(&out);
    fake_reset(&f);
}

static void test_disconnect_log(void **state)
{
    (void)state;
    char path[] = "/tmp/test_smtpd_logXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(log_open("tern", path), 0);

    static const struct step steps[] = {
        S("EHLO c\r\nMAIL FROM:<s@a.ok>\r\nRCPT TO:<r@b.ok>\r\nRCPT "
          "TO:<r@evil.example>\r\nDATA\r\n",
          "250-\n250-\n250-\n250-\n250-\n250-\n250-\n250 \n250 \n250 \n554 5.7.1\n354 "),
        SW("x\r\n.\r\n", ""),
        CM(0, "250 2.0.0 Ok: queued as ", SMTPD_CONTINUE),
        SC("QUIT\r\n", "221 "),
        {END, NULL, 0, NULL, 0},
    };
    struct fake f = {0};
    struct buf t = BUF_INIT;
    run_script(&default_params, steps, &f, false, &t, "log");
    log_close();

    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char text[8192];
    size_t n = fread(text, 1, sizeof(text) - 1, fp);
    text[n] = 0;
    fclose(fp);
    unlink(path);
    char want[128];
    assert_non_null(strstr(text, "tern/smtpd["));
    assert_non_null(strstr(text, "connect from client.test[192.0.2.1]"));
    snprintf(want, sizeof(want), "%s: client=client.test[192.0.2.1]", f.msg[0]->qid);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof(want), "%s: reject: RCPT from client.test[192.0.2.1]: 554 5.7.1 ",
             f.msg[0]->qid);
    assert_non_null(strstr(text, want));
    assert_non_null(strstr(text, "from=<s@a.ok> to=<r@evil.example> proto=ESMTP helo=<c>"));
    assert_non_null(strstr(text, "disconnect from client.test[192.0.2.1] ehlo=1 mail=1 rcpt=1/2 "
                                 "data=1 quit=1 commands=5/6\n"));
    /* exactly one disconnect line although smtpd_disconnected() and smtpd_free() both ran */
    assert_null(strstr(strstr(text, "disconnect from") + 1, "disconnect from"));
    buf_free(&t);
    fake_reset(&f);
}

/* test_hangup_log - where a session ended, as Postfix 3.7 logs it: after the 250 of DATA the
 * state is END-OF-MESSAGE, and a client that hangs up there is not "lost connection" (issue 10) */
static void test_hangup_log(void **state)
{
    (void)state;
/* up to DATA's 354, and the message with its 250 */
#define TO_DATA                                                                                    \
    S("EHLO c\r\nMAIL FROM:<s@a.ok>\r\nRCPT TO:<r@b.ok>\r\nDATA\r\n",                              \
      "250-\n250-\n250-\n250-\n250-\n250-\n250-\n250 \n250 \n250 \n354 ")
#define QUEUED SW("x\r\n.\r\n", ""), CM(0, "250 2.0.0 Ok: queued as ", SMTPD_CONTINUE)
    static const struct step after_eom[] = {TO_DATA, QUEUED, {END, NULL, 0, NULL, 0}};
    static const struct step timeout_eom[] = {
        TO_DATA,
        QUEUED,
        {TIMEOUT, NULL, 0, "421 4.4.2 mx.test Error: timeout exceeded", SMTPD_CLOSE},
        {END, NULL, 0, NULL, 0},
    };
    static const struct step in_data[] = {TO_DATA, S("abc\r\n", ""), {END, NULL, 0, NULL, 0}};
    static const struct step next_cmd[] = {
        TO_DATA, QUEUED, S("MAIL FROM:<s@a.ok>\r\n", "250 "), {END, NULL, 0, NULL, 0}};
#undef TO_DATA
#undef QUEUED
    const struct {
        const char *name;
        const struct step *steps;
        const char *want, *unwanted; /* in the log / never in it */
    } cases[] = {
        {"hang-up after the 250 of DATA", after_eom,
         "disconnect from client.test[192.0.2.1] ehlo=1 mail=1 rcpt=1 data=1 commands=4\n",
         "lost connection"},
        {"timeout after the 250 of DATA", timeout_eom,
         "timeout after END-OF-MESSAGE from client.test[192.0.2.1]\n", "lost connection"},
        {"hang-up in DATA", in_data, "lost connection after DATA (5 bytes) from client.test", NULL},
        {"hang-up after the next command", next_cmd,
         "lost connection after MAIL from client.test[192.0.2.1]\n", "END-OF-MESSAGE"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[] = "/tmp/test_smtpd_logXXXXXX", text[8192];
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(log_open("tern", path), 0);
        struct fake f = {0};
        struct buf t = BUF_INIT;
        run_script(&default_params, cases[i].steps, &f, false, &t, cases[i].name);
        log_close();
        FILE *fp = fopen(path, "r");
        assert_non_null(fp);
        size_t n = fread(text, 1, sizeof(text) - 1, fp);
        text[n] = 0;
        fclose(fp);
        unlink(path);
        if (!strstr(text, cases[i].want) || (cases[i].unwanted && strstr(text, cases[i].unwanted)))
            fail_msg("%s: log is\n%s", cases[i].name, text);
        buf_free(&t);
        fake_reset(&f);
    }
}

/* ------------------------------------------------------------------ TLS */

#define EHLO_TLS                                                                                   \
    "250-mx.test\n250-PIPELINING\n250-SIZE 10000\n250-VRFY\n250-STARTTLS\n"                        \
    "250-ENHANCEDSTATUSCODES\n250-8BITMIME\n250-DSN\n250 SMTPUTF8"
#define EHLO_IN_TLS /* no STARTTLS, and REQUIRETLS (RFC 8689: over TLS only) */                    \
    "250-mx.test\n250-PIPELINING\n250-SIZE 10000\n250-VRFY\n250-REQUIRETLS\n"                      \
    "250-ENHANCEDSTATUSCODES\n250-8BITMIME\n250-DSN\n250 SMTPUTF8"
#define USING "(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))"
#define STLS(d, e)                                                                                 \
    {                                                                                              \
        SEND, d, 0, e, SMTPD_STARTTLS                                                              \
    }
#define UP(t)                                                                                      \
    {                                                                                              \
        TLS_UP, NULL, t, "", SMTPD_CONTINUE                                                        \
    }
#define TX_DONE                                                                                    \
    S(TX_OK, "250 2.1.0 Ok\n250 2.1.5 Ok\n354 "), SW("hi\r\n.\r\n", ""),                           \
        CM(0, "250 2.0.0 Ok: queued as ", SMTPD_CONTINUE)
#define STEPS_END                                                                                  \
    {                                                                                              \
        END, NULL, 0, NULL, 0                                                                      \
    }

static const struct smtpd_tls_state tls_anon = {.received = USING};
static const struct smtpd_tls_state tls_asked = {.received = USING, .ask_ccert = true};
static const struct smtpd_tls_state tls_trusted = {
    .received = USING,
    .ask_ccert = true,
    .peer_cert = true,
    .peer_trusted = true,
    .peer_CN = "client.test",
    .issuer_CN = "Test CA",
    .ccert_fingerprint = "AB:CD:EF",
    .ccert_pubkey_fingerprint = "01:23:45",
};
static const struct smtpd_tls_state tls_untrusted = {
    .received = USING,
    .ask_ccert = true,
    .peer_cert = true,
    .peer_CN = "evil\"cn\r\nX-Injected: 1",
    .issuer_CN = "Test CA",
    .ccert_fingerprint = "AB:CD:EF",
};
static const struct smtpd_tls_state tls_no_header = {
    .received = NULL,
    .ask_ccert = true,
    .peer_cert = true,
    .peer_trusted = true,
    .peer_CN = "client.test",
    .issuer_CN = "Test CA",
};

enum { T_ANON, T_ASKED, T_TRUSTED, T_UNTRUSTED, T_NO_HEADER };
/* clang-format off */
static const struct smtpd_tls_state *const tls_states[] = {
    [T_ANON] = &tls_anon,
    [T_ASKED] = &tls_asked,
    [T_TRUSTED] = &tls_trusted,
    [T_UNTRUSTED] = &tls_untrusted,
    [T_NO_HEADER] = &tls_no_header,
};
/* clang-format on */

/* encrypt: 530 before STARTTLS, state reset after it, no second STARTTLS */
static const struct step tls_required_steps[] = {
    S("EHLO c\r\n", EHLO_TLS),
    S("MAIL FROM:<s@a.ok>\r\n", "530 5.7.0 Must issue a STARTTLS command first"),
    S("NOOP\r\nHELO c\r\n", "250 2.0.0 Ok\n250 mx.test"),
    S("MAIL FROM:<s@a.ok>\r\n", "530 5.7.0 Must issue a STARTTLS command first"),
    S("STARTTLS now\r\n", "501 5.5.4 Syntax: STARTTLS"),
    STLS("STARTTLS\r\n", "220 2.0.0 Ready to start TLS"),
    UP(T_ANON),
    S("MAIL FROM:<s@a.ok>\r\n", "503 5.5.1 Error: send HELO/EHLO first"),
    S("EHLO c\r\n", EHLO_IN_TLS),
    S("STARTTLS\r\n", "503 5.5.1 Error: TLS already active"),
    TX_DONE,
    STEPS_END,
};

/* the injection check: NOOP pipelined behind STARTTLS is never answered */
static const struct step tls_injection_steps[] = {
    STLS("EHLO x\r\nSTARTTLS\r\nNOOP\r\n", EHLO_TLS "\n220 2.0.0 Ready to start TLS"),
    UP(T_ANON),
    S("EHLO y\r\n", EHLO_IN_TLS),
    TX_DONE,
    STEPS_END,
};

/* the same with the STARTTLS line split, so the session's own buffer holds it */
static const struct step tls_injection_buffered_steps[] = {
    S("EHLO x\r\nSTAR", EHLO_TLS),
    STLS("TTLS\r\nNOOP\r\nMAIL FROM:<evil@x.ok>\r\nRCPT TO:<evil@y.ok>\r\n",
         "220 2.0.0 Ready to start TLS"),
    UP(T_ASKED),
    S("MAIL FROM:<s@a.ok>\r\n", "503 5.5.1 Error: send HELO/EHLO first"),
    S("EHLO y\r\n", EHLO_IN_TLS),
    TX_DONE,
    STEPS_END,
};

/* a transaction in progress cannot switch to TLS */
static const struct step tls_mid_mail_steps[] = {
    S("EHLO c\r\nMAIL FROM:<s@a.ok>\r\n", EHLO_TLS "\n250 2.1.0 Ok"),
    S("STARTTLS\r\n", "503 5.5.1 Error: MAIL transaction in progress"),
    S("RSET\r\n", "250 2.0.0 Ok"),
    STLS("STARTTLS\r\n", "220 2.0.0 Ready to start TLS"),
    UP(T_UNTRUSTED),
    S("EHLO c\r\n", EHLO_IN_TLS),
    TX_DONE,
    STEPS_END,
};

/* smtps: TLS from the start, STARTTLS neither offered nor accepted */
static const struct step tls_wrapper_steps[] = {
    UP(T_TRUSTED),
    S("EHLO c\r\n", EHLO_IN_TLS),
    S("STARTTLS\r\n", "503 5.5.1 Error: TLS already active"),
    TX_DONE,
    STEPS_END,
};

static const struct step tls_no_header_steps[] = {
    STLS("EHLO c\r\nSTARTTLS\r\n", EHLO_TLS "\n220 2.0.0 Ready to start TLS"),
    UP(T_NO_HEADER),
    S("EHLO c\r\n", EHLO_IN_TLS),
    TX_DONE,
    STEPS_END,
};

static void test_tls(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        bool available, required, wrapper;
        const struct step *steps;
        const char *want[3]; /* substrings of the queued message */
        const char *unwanted[2];
    } cases[] = {
        /* clang-format off */
        {"required", true, true, false, tls_required_steps,
         {"Received: from c (client.test [192.0.2.1])\r\n\t" USING
          "\r\n\t(No client certificate requested)\r\n\tby mx.test (tern) with ESMTPS id ",
          "\r\n\tfor <r@b.ok>; "},
         {NULL}},
        {"injection", true, false, false, tls_injection_steps,
         {"Received: from y (client.test [192.0.2.1])\r\n\t" USING "\r\n\t(No client"},
         {"evil"}},
        {"injection-buffered", true, false, false, tls_injection_buffered_steps,
         {"\r\n\t" USING "\r\n\t(Client did not present a certificate)\r\n\tby mx.test (tern) "
          "with ESMTPS id "},
         {"evil"}},
        {"mid-mail", true, false, false, tls_mid_mail_steps,
         {"\r\n\t(Client CN \"evil?cn??X-Injected: 1\", Issuer \"Test CA\" (not verified))\r\n\tby "},
         {"\r\nX-Injected"}},
        {"wrapper", false, false, true, tls_wrapper_steps,
         {"\r\n\t" USING "\r\n\t(Client CN \"client.test\", Issuer \"Test CA\" (verified OK))"
          "\r\n\tby mx.test (tern) with ESMTPS id "},
         {NULL}},
        {"wrapper-required", false, true, true, tls_wrapper_steps, {"with ESMTPS id "}, {NULL}},
        {"no-header", true, false, false, tls_no_header_steps,
         {"Received: from c (client.test [192.0.2.1])\r\n\tby mx.test (tern) with ESMTPS id "},
         {"(using", "Client CN"}},
        /* clang-format on */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct smtpd_params p = default_params;
        p.tls_available = cases[i].available;
        p.tls_required = cases[i].required;
        p.tls_wrapper = cases[i].wrapper;
        struct fake f = {0};
        run_both(&p, cases[i].steps, &f, cases[i].name);
        assert_int_equal(f.nmsg, 1);
        const char *data = f.msg[0]->data;
        for (int k = 0; k < 3 && cases[i].want[k]; k++) {
            if (!strstr(data, cases[i].want[k])) {
                print_error("%s: message lacks \"%s\":\n%s\n", cases[i].name, cases[i].want[k],
                            data);
                fail();
            }
        }
        for (int k = 0; k < 2 && cases[i].unwanted[k]; k++) {
            if (strstr(data, cases[i].unwanted[k])) {
                print_error("%s: message has \"%s\":\n%s\n", cases[i].name, cases[i].unwanted[k],
                            data);
                fail();
            }
        }
        assert_string_equal(msg_body(f.msg[0]), "hi\r\n");
        fake_reset(&f);
    }
}

/* test_tls_ccert - only a verified client certificate's fingerprints reach the policy */
static void test_tls_ccert(void **state)
{
    (void)state;
    static const struct {
        const struct smtpd_tls_state *tls;
        const char *fp, *pkey_fp;
    } cases[] = {
        {&tls_anon, NULL, NULL},
        {&tls_asked, NULL, NULL},
        {&tls_trusted, "AB:CD:EF", "01:23:45"},
        {&tls_untrusted, NULL, NULL},
        {&tls_no_header, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct smtpd_params p = default_params;
        p.tls_available = true;
        struct smtpd_session *s;
        struct buf out = BUF_INIT;
        assert_int_equal(smtpd_new(&s, &p, NULL), 0);
        assert_false(smtpd_tls_active(s));
        assert_int_equal(smtpd_input(s, "STARTTLS\r\n", 10, &out), SMTPD_STARTTLS);
        assert_true(smtpd_tls_active(s));
        assert_null(smtpd_ccert_fingerprint(s, false));
        assert_int_equal(smtpd_tls_started(s, cases[i].tls), 0);
        const char *fp = smtpd_ccert_fingerprint(s, false);
        const char *pk = smtpd_ccert_fingerprint(s, true);
        if (cases[i].fp)
            assert_string_equal(fp, cases[i].fp);
        else
            assert_null(fp);
        if (cases[i].pkey_fp)
            assert_string_equal(pk, cases[i].pkey_fp);
        else
            assert_null(pk);
        smtpd_free(s);
        buf_free(&out);
    }
}

/* ------------------------------------------------------------------ AUTH */

#define EHLO_AUTH                                                                                  \
    "250-mx.test\n250-PIPELINING\n250-SIZE 10000\n250-VRFY\n250-AUTH PLAIN LOGIN\n"                \
    "250-REQUIRETLS\n250-ENHANCEDSTATUSCODES\n250-8BITMIME\n250-DSN\n250 SMTPUTF8"
#define PLAIN_OK "AUTH PLAIN AGFsaWNlAHB3\r\n"      /* "\0alice\0pw" */
#define PLAIN_BAD "AUTH PLAIN AGFsaWNlAGJhZA==\r\n" /* "\0alice\0bad" */
#define MUST_TLS "530 5.7.0 Must issue a STARTTLS command first"

/* encrypt (RFC 3207 4, issue 9): before the handshake every command but HELO, EHLO, STARTTLS,
 * NOOP, RSET and QUIT gets 530, AUTH among them and never
 * offered, even when mechanisms exist for plaintext sessions (smtpd_tls_auth_only = no) */
static const struct step tls_gate_steps[] = {
    S("EHLO c\r\n", EHLO_TLS),
    S(PLAIN_OK, MUST_TLS),
    S("AUTH LOGIN\r\n", MUST_TLS),
    S("MAIL FROM:<s@a.ok>\r\n", MUST_TLS),
    S("RCPT TO:<r@b.ok>\r\n", MUST_TLS),
    S("DATA\r\n", MUST_TLS),
    S("RSET\r\n", "250 2.0.0 Ok"),
    S("VRFY alice\r\n", MUST_TLS),
    S("NOOP\r\n", "250 2.0.0 Ok"),
    S("HELP\r\n", MUST_TLS),
    S("HELO c\r\n", "250 mx.test"),
    S("EXPN x\r\n", "500 5.5.2 Error: command not recognized"),
    STLS("STARTTLS\r\n", "220 2.0.0 Ready to start TLS"),
    UP(T_ANON),
    S(PLAIN_OK, "503 5.5.1 Error: send HELO/EHLO first"),
    S("EHLO c\r\n", EHLO_AUTH),
    S(PLAIN_BAD, "535 5.7.8 Error: authentication failed: authentication failure"),
    S(PLAIN_OK, "235 2.7.0 Authentication successful"),
    TX_DONE,
    STEPS_END,
};

/* QUIT is answered before TLS */
static const struct step tls_gate_quit_steps[] = {
    S("EHLO c\r\nAUTH PLAIN\r\n", EHLO_TLS "\n" MUST_TLS),
    SC("QUIT\r\n", "221 2.0.0 Bye"),
    STEPS_END,
};

/* test_auth_tls_gate - under encrypt nothing of AUTH happens before TLS */
static void test_auth_tls_gate(void **state)
{
    (void)state;
    struct smtpd_params p = default_params;
    p.tls_available = true;
    p.tls_required = true;
    p.sasl_enabled = true;
    p.sasl_mechs = "PLAIN LOGIN";
    p.sasl_mechs_tls = "PLAIN LOGIN";
    struct fake f = {0};
    run_both(&p, tls_gate_steps, &f, "tls-gate");
    /* the hook saw the two AUTH commands inside TLS only */
    assert_int_equal(f.nauth, 2);
    assert_int_equal(f.nmsg, 1);
    assert_non_null(strstr(f.msg[0]->data, "with ESMTPSA id "));
    fake_reset(&f);
    run_both(&p, tls_gate_quit_steps, &f, "tls-gate-quit");
    assert_int_equal(f.nauth, 0);
    fake_reset(&f);

    /* without encrypt the same configuration offers and accepts AUTH in plaintext */
    p.tls_required = false;
    static const struct step plain_steps[] = {
        S("EHLO c\r\n", "250-mx.test\n250-PIPELINING\n250-SIZE 10000\n250-VRFY\n250-STARTTLS\n"
                        "250-AUTH PLAIN LOGIN\n250-ENHANCEDSTATUSCODES\n250-8BITMIME\n250-DSN\n"
                        "250 SMTPUTF8"),
        S(PLAIN_OK, "235 2.7.0 Authentication successful"),
        STEPS_END,
    };
    run_both(&p, plain_steps, &f, "no-gate");
    assert_int_equal(f.nauth, 1);
    fake_reset(&f);
}

#define ASYNC                                                                                      \
    {                                                                                              \
        AUTH_ASYNC, NULL, 1, "", 0                                                                 \
    }
#define AD(r, e, a)                                                                                \
    {                                                                                              \
        AUTH_DONE, NULL, r, e, a                                                                   \
    }
#define EHLO_AUTH_NOTLS                                                                            \
    "250-mx.test\n250-PIPELINING\n250-SIZE 10000\n250-VRFY\n250-AUTH PLAIN LOGIN\n"                \
    "250-ENHANCEDSTATUSCODES\n250-8BITMIME\n250-DSN\n250 SMTPUTF8"

/* a step left pending: input is held unparsed until smtpd_auth_done(), then answered in order */
static const struct step async_ok_steps[] = {
    ASYNC,
    S("EHLO c\r\n", EHLO_AUTH_NOTLS),
    SW(PLAIN_OK "NOOP\r\nMAIL FROM:<s@a.ok>\r\n", ""),
    SW("RCPT TO:<r@b.ok>\r\n", ""),
    AD(AR_OK, "235 2.7.0 Authentication successful\n250 2.0.0 Ok\n250 2.1.0 Ok\n250 2.1.5 Ok",
       SMTPD_CONTINUE),
    AD(AR_OK, "", SMTPD_CONTINUE), /* nobody waits for it: nothing happens */
    S("DATA\r\n", "354 "),
    SW("hi\r\n.\r\n", ""),
    AD(AR_FAIL, "", SMTPD_WAIT), /* not while a commit is pending either */
    CM(0, "250 2.0.0 Ok: queued as ", SMTPD_CONTINUE),
    STEPS_END,
};

/* AUTH LOGIN: every step of the exchange may be pending */
static const struct step async_login_steps[] = {
    ASYNC,
    S("EHLO c\r\n", EHLO_AUTH_NOTLS),
    SW("AUTH LOGIN\r\n", ""),
    AD(AR_USERNAME, "334 VXNlcm5hbWU6", SMTPD_CONTINUE),
    SW("YWxpY2U=\r\n", ""),
    AD(AR_OK, "235 2.7.0 Authentication successful", SMTPD_CONTINUE),
    S("AUTH LOGIN\r\n", "503 5.5.1 Error: already authenticated"),
    STEPS_END,
};

/* failures come back as 535 and 454; the session goes on */
static const struct step async_fail_steps[] = {
    ASYNC,
    S("EHLO c\r\n", EHLO_AUTH_NOTLS),
    SW(PLAIN_BAD, ""),
    AD(AR_FAIL, "535 5.7.8 Error: authentication failed: authentication failure", SMTPD_CONTINUE),
    SW(PLAIN_OK "NOOP\r\n", ""),
    AD(AR_TEMP,
       "454 4.7.0 Temporary authentication failure: SASL back end unavailable\n250 2.0.0 Ok",
       SMTPD_CONTINUE),
    STEPS_END,
};

/* smtpd_timeout while waiting: 421 at once; the late outcome changes nothing */
static const struct step async_timeout_steps[] = {
    ASYNC,
    S("EHLO c\r\n", EHLO_AUTH_NOTLS),
    SW(PLAIN_OK "NOOP\r\n", ""),
    {TIMEOUT, NULL, 0, "421 4.4.2 mx.test Error: timeout exceeded", SMTPD_CLOSE},
    AD(AR_OK, "", SMTPD_CLOSE),
    STEPS_END,
};

/* shutdown while waiting: the outcome is answered, then 421, held input dropped */
static const struct step async_shutdown_steps[] = {
    ASYNC,
    S("EHLO c\r\n", EHLO_AUTH_NOTLS),
    SW(PLAIN_OK "NOOP\r\n", ""),
    {SHUTDOWN, NULL, 0, "", SMTPD_WAIT},
    AD(AR_OK, "235 2.7.0 Authentication successful\n421 4.3.2 mx.test Service shutting down",
       SMTPD_CLOSE),
    STEPS_END,
};

/* test_auth_async - the hook may run a step elsewhere (Cyrus on the SASL pool) */
static void test_auth_async(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const struct step *steps;
        int nauth, nauth_end, nmsg;
    } cases[] = {
        {"async-ok", async_ok_steps, 1, 1, 1},
        {"async-login", async_login_steps, 2, 1, 0},
        {"async-fail", async_fail_steps, 2, 2, 0},
        /* the exchange's state is the caller's to drop with the session: never while pending */
        {"async-timeout", async_timeout_steps, 1, 0, 0},
        {"async-shutdown", async_shutdown_steps, 1, 1, 0},
    };
    struct smtpd_params p = default_params;
    p.sasl_enabled = true;
    p.sasl_mechs = "PLAIN LOGIN";
    p.sasl_mechs_tls = "PLAIN LOGIN";
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fake f = {0};
        run_both(&p, cases[i].steps, &f, cases[i].name);
        assert_int_equal(f.nauth, cases[i].nauth);
        assert_int_equal(f.nauth_end, cases[i].nauth_end);
        assert_int_equal(f.nmsg, cases[i].nmsg);
        if (f.nmsg)
            assert_non_null(strstr(f.msg[0]->data, "with ESMTPA id "));
        fake_reset(&f);
    }
    /* the hook got the decoded response and may keep a copy of it */
    struct fake f = {.auth_pending = true};
    struct buf t = BUF_INIT;
    run_script(&p, async_ok_steps, &f, false, &t, "async-input");
    assert_int_equal(f.auth_inlen, 9);
    assert_memory_equal(f.auth_in, "\0alice\0pw", 9);
    buf_free(&t);
    fake_reset(&f);
}

/* test_auth_pending_bound - input fed while a step is pending is held up to the same cap */
static void test_auth_pending_bound(void **state)
{
    (void)state;
    struct fake f = {.auth_pending = true};
    struct smtpd_hooks h = {.arg = &f, .auth_step = fake_auth_step, .auth_end = fake_auth_end};
    struct smtpd_params p = default_params;
    p.sasl_enabled = true;
    p.sasl_mechs = "PLAIN";
    struct smtpd_session *s;
    assert_int_equal(smtpd_new(&s, &p, &h), 0);
    struct buf out = BUF_INIT;
    const char *start = "EHLO c\r\n" PLAIN_OK;
    assert_int_equal(smtpd_input(s, start, strlen(start), &out), SMTPD_WAIT);
    char chunk[65536];
    memset(chunk, 'N', sizeof(chunk));
    for (int i = 0; i < 20; i++)
        assert_int_equal(smtpd_input(s, chunk, sizeof(chunk), &out), SMTPD_WAIT);
    buf_reset(&out);
    assert_int_equal(smtpd_auth_done(s, &auth_results[AR_OK], &out), SMTPD_CLOSE);
    check_replies(buf_ptr(&out), buf_used(&out),
                  "235 2.7.0 Authentication successful\n"
                  "421 4.7.0 mx.test Error: too much pipelined input",
                  "auth-pending");
    smtpd_free(s);
    buf_free(&out);
    fake_reset(&f);
}

/* ------------------------------------------------------------- policy lookups */

/* a policy whose answer needs a lookup until `answered` (reject_unknown_sender_domain) */
struct lk_fake {
    struct fake f; /* first: fake_submit's arg */
    bool answered;
    bool rcpt_lookup; /* check_rcpt needs it too (delay_reject: the sender list runs at RCPT) */
    int asks[POLICY_STAGE_COUNT + 1]; /* check_stage per stage, then check_rcpt */
};

static void lk_pending(struct policy_verdict *v)
{
    v->code = 451;
    snprintf(v->dsn, sizeof(v->dsn), "4.4.3");
    snprintf(v->text, sizeof(v->text), "Temporary lookup failure");
    snprintf(v->lookup, sizeof(v->lookup), "a.example");
}

static void lk_check_rcpt(void *arg, const struct policy_addr *rcpt, struct policy_verdict *v)
{
    struct lk_fake *l = arg;
    l->asks[POLICY_STAGE_COUNT]++;
    if (l->rcpt_lookup && !l->answered) {
        lk_pending(v);
        return;
    }
    if (strncmp(rcpt->addr, "bad", 3) == 0) {
        v->code = 450;
        snprintf(v->dsn, sizeof(v->dsn), "4.1.8");
        snprintf(v->text, sizeof(v->text),
                 "<s@a.example>: Sender address rejected: Domain not found");
    }
}

static void lk_check_stage(void *arg, enum policy_stage stage, struct policy_verdict *v)
{
    struct lk_fake *l = arg;
    l->asks[stage]++;
    if (stage >= POLICY_STAGE_SENDER && !l->answered)
        lk_pending(v);
}

/* lk_out_has - the replies so far hold want; then forget them */
static void lk_out_has(struct buf *out, const char *want)
{
    char text[2048];
    snprintf(text, sizeof(text), "%.*s", (int)buf_used(out), (const char *)buf_ptr(out));
    if (want == NULL ? buf_used(out) != 0 : strstr(text, want) == NULL)
        fail_msg("expected \"%s\" in \"%s\"", want ? want : "(nothing)", text);
    buf_reset(out);
}

/* test_lookup_pause - a command whose policy needs a lookup waits unanswered, holds what the
 * client pipelined, and goes on at smtpd_lookup_done(); a session freed meanwhile leaks nothing */
static void test_lookup_pause(void **state)
{
    (void)state;
    struct lk_fake l = {.rcpt_lookup = true};
    struct smtpd_hooks h = {.arg = &l,
                            .submit = fake_submit,
                            .check_rcpt = lk_check_rcpt,
                            .check_stage = lk_check_stage};
    struct smtpd_params p = default_params;
    p.delay_reject = true;
    struct smtpd_session *s;
    struct buf out = BUF_INIT;

    /* delay_reject: RCPT pauses, the pipelined rest waits behind it */
    assert_int_equal(smtpd_new(&s, &p, &h), 0);
    const char *in = "EHLO c\r\nMAIL FROM:<s@a.example>\r\nRCPT TO:<r@b.ok>\r\n"
                     "RCPT TO:<bad@b.ok>\r\nNOOP\r\n";
    assert_int_equal(smtpd_input(s, in, strlen(in), &out), SMTPD_WAIT);
    lk_out_has(&out, "250 2.1.0 Ok\r\n");
    assert_int_equal(l.asks[POLICY_STAGE_COUNT], 1);
    assert_int_equal(smtpd_input(s, "QUIT\r\n", 6, &out), SMTPD_WAIT); /* held */
    lk_out_has(&out, NULL);
    l.answered = true;
    assert_int_equal(smtpd_lookup_done(s, &out), SMTPD_CLOSE);
    char text[1024];
    snprintf(text, sizeof(text), "%.*s", (int)buf_used(&out), (const char *)buf_ptr(&out));
    assert_string_equal(text,
                        "250 2.1.5 Ok\r\n"
                        "450 4.1.8 <s@a.example>: Sender address rejected: Domain not found\r\n"
                        "250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n");
    buf_reset(&out);
    assert_int_equal(smtpd_lookup_done(s, &out), SMTPD_CLOSE); /* nobody waits: nothing */
    lk_out_has(&out, NULL);
    smtpd_free(s);

    /* freed while a RCPT waits: its kept recipient goes too (LeakSanitizer) */
    l.answered = false;
    assert_int_equal(smtpd_new(&s, &p, &h), 0);
    in = "EHLO c\r\nMAIL FROM:<s@a.example>\r\nRCPT TO:<r@b.ok> ORCPT=rfc822;r@b.ok\r\n";
    assert_int_equal(smtpd_input(s, in, strlen(in), &out), SMTPD_WAIT);
    assert_int_equal(smtpd_timeout(s, &out), SMTPD_CLOSE);
    smtpd_free(s);
    buf_reset(&out);

    /* without delay_reject: MAIL, DATA and the end of the message pause in turn */
    p.delay_reject = false;
    memset(&l, 0, sizeof(l));
    assert_int_equal(smtpd_new(&s, &p, &h), 0);
    in = "EHLO c\r\nMAIL FROM:<s@a.example>\r\n";
    assert_int_equal(smtpd_input(s, in, strlen(in), &out), SMTPD_WAIT);
    assert_int_equal(l.asks[POLICY_STAGE_SENDER], 1);
    buf_reset(&out);
    l.answered = true;
    assert_int_equal(smtpd_lookup_done(s, &out), SMTPD_CONTINUE);
    lk_out_has(&out, "250 2.1.0 Ok\r\n");
    l.answered = false;
    in = "RCPT TO:<r@b.ok>\r\nDATA\r\n";
    assert_int_equal(smtpd_input(s, in, strlen(in), &out), SMTPD_WAIT);
    lk_out_has(&out, "250 2.1.5 Ok\r\n");
    l.answered = true;
    assert_int_equal(smtpd_lookup_done(s, &out), SMTPD_CONTINUE);
    lk_out_has(&out, "354 ");
    l.answered = false;
    in = "Subject: x\r\n\r\nbody\r\n.\r\n";
    assert_int_equal(smtpd_input(s, in, strlen(in), &out), SMTPD_WAIT);
    lk_out_has(&out, NULL);
    assert_int_equal(l.f.nmsg, 0);
    l.answered = true;
    assert_int_equal(smtpd_lookup_done(s, &out), SMTPD_WAIT); /* now committing */
    assert_int_equal(l.f.nmsg, 1);
    assert_int_equal(smtpd_commit_done(s, 0, &out), SMTPD_CONTINUE);
    lk_out_has(&out, "250 2.0.0 Ok: queued as ");
    smtpd_free(s);
    buf_free(&out);
    fake_reset(&l.f);
}

int main(void)
{
    /* keep cmocka's output readable: session logs go to stderr only on failure paths */
    log_set_stderr(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ehlo_features),
        cmocka_unit_test(test_commands),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_dot_unstuffing),
        cmocka_unit_test(test_smuggling),
        cmocka_unit_test(test_bare_cr_lf),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_dsn_params),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_commit_failures),
        cmocka_unit_test(test_errors_timeout_shutdown),
        cmocka_unit_test(test_junk_limit),
        cmocka_unit_test(test_junk_reset),
        cmocka_unit_test(test_error_sleep),
        cmocka_unit_test(test_output_batch),
        cmocka_unit_test(test_records),
        cmocka_unit_test(test_pending_bound),
        cmocka_unit_test(test_disconnect_log),
        cmocka_unit_test(test_hangup_log),
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_tls_ccert),
        cmocka_unit_test(test_auth_tls_gate),
        cmocka_unit_test(test_auth_async),
        cmocka_unit_test(test_auth_pending_bound),
        cmocka_unit_test(test_lookup_pause),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
