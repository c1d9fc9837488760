/*
 * NAME
 *	fuzz_smtpd - libFuzzer target: one SMTP server session fed hostile bytes
 * DESCRIPTION
 *	The front of the input is what a client sends; the back decides
 *	everything the network and the rest of the daemon would: the session's
 *	options (STARTTLS offered or required, smtps, AUTH and its mechanisms,
 *	size and recipient limits), where the client's bytes are split into
 *	reads, whether the queue commits a message or fails (-ENOSPC, -EIO),
 *	whether a STARTTLS handshake succeeds (and with which client
 *	certificate names), what each relay check and each SASL step answers,
 *	and when the idle timer or a shutdown strikes. A seed that is a plain
 *	SMTP conversation runs as a conversation: out of decisions, the rest is
 *	fed at once, commits succeed, handshakes succeed, every recipient is
 *	permitted.
 *
 *	The harness keeps smtpd/server.c's side of the contract: no input
 *	between SMTPD_STARTTLS and smtpd_tls_started() (a failed handshake
 *	closes), commits answered only while a message waits, input that
 *	arrives while a commit is pending still fed (it was on its way).
 *
 *	Properties checked besides ASan/UBSan:
 *	  - every reply line is "ddd" then ' ' or '-', text without CR or LF,
 *	    then CRLF, with a code from 2xx to 5xx;
 *	  - a session that said SMTPD_CLOSE stays closed;
 *	  - a submitted message has a sender, at least one recipient, each
 *	    recipient a non-empty address, and content that starts with
 *	    "Received: " and consists of CRLF-terminated lines without bare CR
 *	    or LF.
 *
 *	The AUTH hooks are simulated in one place (fuzz_auth_step,
 *	fuzz_auth_end below). A step may be left pending (SMTPD_AUTH_PENDING,
 *	as smtpd/server runs Cyrus on a thread pool); its outcome, decided when
 *	it was asked, comes later through smtpd_auth_done(), with input fed
 *	meanwhile as during a commit. When the session stops parsing because
 *	its replies reached a batch or a reply is held (smtpd_pending()), the
 *	harness decides when the output has drained and calls smtpd_resume(),
 *	as smtpd/server's drained() callback does; input may still arrive first.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/smtpd/smtpd.h"
#include "fuzz_input.h"

#define MAX_STEPS 4096 /* bound on actions per input, so that no input loops */

struct harness {
    struct fuzz_input *in;
    struct queue_msg *pending; /* submitted, waiting for the commit */
    bool auth_active;          /* between the first auth_step and auth_end */
    bool auth_pending;         /* a step left pending: its outcome is in auth_result */
    struct smtpd_auth_result auth_result;
    char challenge[64];
    char username[64];
};

/* check_output - every reply line is well formed; then forget the output */
static void check_output(struct buf *out)
{
    const char *p = buf_ptr(out), *end = p + buf_used(out);
    while (p < end) {
        const char *crlf = memchr(p, '\r', (size_t)(end - p));
        FUZZ_CHECK(crlf != NULL && crlf + 1 < end && crlf[1] == '\n');
        FUZZ_CHECK(crlf - p >= 4);
        FUZZ_CHECK(p[0] >= '2' && p[0] <= '5' && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' &&
                   p[2] <= '9' && (p[3] == ' ' || p[3] == '-'));
        FUZZ_CHECK(memchr(p, '\n', (size_t)(crlf - p)) == NULL);
        p = crlf + 2;
    }
    buf_reset(out);
}

/* check_message - what the session hands to the queue */
static void check_message(const struct queue_msg *m)
{
    FUZZ_CHECK(m->sender != NULL);
    FUZZ_CHECK(m->nrcpt >= 1 && m->rcpt != NULL);
    for (size_t i = 0; i < m->nrcpt; i++)
        FUZZ_CHECK(m->rcpt[i].addr != NULL && m->rcpt[i].addr[0] != 0);
    FUZZ_CHECK(m->data != NULL && m->len >= 10 && memcmp(m->data, "Received: ", 10) == 0);
    for (size_t i = 0; i < m->len; i++) {
        if (m->data[i] == '\r')
            FUZZ_CHECK(i + 1 < m->len && m->data[i + 1] == '\n');
        else if (m->data[i] == '\n')
            FUZZ_CHECK(i > 0 && m->data[i - 1] == '\r');
    }
    FUZZ_CHECK(m->len >= 2 && m->data[m->len - 2] == '\r' && m->data[m->len - 1] == '\n');
}

/* fuzz_submit - the queue takes the message, or refuses it at once */
static int fuzz_submit(void *arg, struct queue_msg *m)
{
    struct harness *h = arg;
    check_message(m);
    FUZZ_CHECK(h->pending == NULL);
    switch (fuzz_input_pick(h->in, 8)) {
    case 6:
        return -ENOSPC;
    case 7:
        return -EIO;
    default:
        h->pending = m;
        return 0;
    }
}

/* fuzz_check_rcpt - relay permission: mostly yes, sometimes a verdict, once a broken one */
static void fuzz_check_rcpt(void *arg, const struct policy_addr *rcpt, struct policy_verdict *v)
{
    struct harness *h = arg;
    static const int codes[] = {0, 0, 0, 0, 554, 450, 421, 250};
    int code = codes[fuzz_input_pick(h->in, 8)];
    if (!code)
        return;
    v->code = code;
    if (fuzz_input_flag(h->in))
        snprintf(v->dsn, sizeof(v->dsn), "%d.7.1", code / 100);
    snprintf(v->text, sizeof(v->text), "<%s>: Relay access denied", rcpt->addr);
}

/* fuzz_auth_step - one simulated SASL step: the outcome, a challenge and a username from the
 * input. The only place that knows the AUTH hook's calling convention. */
static void fuzz_auth_step(void *arg, const char *mech, const char *in, size_t inlen, bool tls,
                           struct smtpd_auth_result *r)
{
    struct harness *h = arg;
    (void)tls;
    if (mech)
        FUZZ_CHECK(!h->auth_active && mech[0] != 0);
    else
        FUZZ_CHECK(h->auth_active);
    FUZZ_CHECK(in != NULL || inlen == 0);
    FUZZ_CHECK(!h->auth_pending);
    h->auth_active = true;
    struct smtpd_auth_result *outcome = r;
    if (fuzz_input_pick(h->in, 4) == 3) {
        /* runs elsewhere: decide the outcome now, hand it over with smtpd_auth_done() later */
        r->status = SMTPD_AUTH_PENDING;
        h->auth_pending = true;
        memset(&h->auth_result, 0, sizeof(h->auth_result));
        outcome = &h->auth_result;
    }
    r = outcome;
    switch (fuzz_input_pick(h->in, 4)) {
    case 0:
        r->status = SMTPD_AUTH_CONTINUE;
        /* a challenge: raw octets, base64 is the session's job */
        for (size_t i = 0; i < sizeof(h->challenge); i++)
            h->challenge[i] = (char)fuzz_input_pick(h->in, 256);
        r->out = h->challenge;
        r->outlen = fuzz_input_pick(h->in, sizeof(h->challenge) + 1);
        break;
    case 1:
        r->status = SMTPD_AUTH_OK;
        /* a username as the client chose it (PLAIN's authzid): any octets but NUL */
        for (size_t i = 0; i + 1 < sizeof(h->username); i++)
            h->username[i] = (char)(1 + fuzz_input_pick(h->in, 255));
        h->username[fuzz_input_pick(h->in, sizeof(h->username))] = 0;
        r->username = fuzz_input_flag(h->in) ? h->username : NULL;
        break;
    case 2:
        r->status = SMTPD_AUTH_FAIL;
        r->why = fuzz_input_flag(h->in) ? "authentication failure" : NULL;
        break;
    default:
        r->status = SMTPD_AUTH_TEMPFAIL;
        r->why = "SASL back end unavailable";
        break;
    }
}

/* fuzz_auth_end - the exchange is over */
static void fuzz_auth_end(void *arg)
{
    struct harness *h = arg;
    FUZZ_CHECK(!h->auth_pending); /* never while a step is out */
    h->auth_active = false;
}

/* tls_up - a handshake result: names from the client's certificate are the client's to choose */
static int tls_up(struct smtpd_session *s, struct fuzz_input *in)
{
    static const char *const names[] = {
        "client.example", "", "a\"quoted\\name", "evil\r\nX-Injected: yes", "\x1b[31mred",
    };
    struct smtpd_tls_state st = {
        .received = fuzz_input_flag(in)
                        ? "(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))"
                        : NULL,
        .ask_ccert = fuzz_input_flag(in),
        .peer_cert = fuzz_input_flag(in),
        .peer_trusted = fuzz_input_flag(in),
        .peer_CN = names[fuzz_input_pick(in, 5)],
        .issuer_CN = names[fuzz_input_pick(in, 5)],
        .ccert_fingerprint = fuzz_input_flag(in) ? "AB:CD:EF" : NULL,
        .ccert_pubkey_fingerprint = fuzz_input_flag(in) ? "01:02:03" : NULL,
    };
    return smtpd_tls_started(s, &st);
}

/* LLVMFuzzerTestOneInput - one connection from a hostile client */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in = fuzz_input_init(data, size);
    struct harness h = {.in = &in};
    static const char *const mech_lists[] = {"PLAIN LOGIN", "CRAM-MD5", "", NULL};
    unsigned opt = fuzz_input_pick(&in, 1u << 12);
    struct smtpd_params p = {
        .myhostname = "mx.fuzz.test",
        .banner = (opt & 1) ? NULL : "mx.fuzz.test ESMTP tern",
        .client_addr = "192.0.2.1",
        .client_name = (opt & 2) ? "unknown" : "client.fuzz.test",
        .client_port = 40000,
        .server_addr = "192.0.2.25",
        .message_size_limit = (opt & 4) ? 0 : 2000,
        .recipient_limit = (opt & 8) ? 0 : 3,
        .tls_available = (opt & 16) != 0,
        .tls_required = (opt & 32) != 0,
        .tls_wrapper = (opt & 64) != 0,
        .sasl_enabled = (opt & 128) != 0,
        .sasl_mechs = mech_lists[(opt >> 8) & 3],
        .sasl_mechs_tls = mech_lists[(opt >> 10) & 3],
        .sasl_broken_clients = (opt & 2) != 0,
        .sasl_received_header = (opt & 4) != 0,
    };
    struct smtpd_hooks hooks = {
        .arg = &h,
        .submit = fuzz_submit,
        .check_rcpt = fuzz_check_rcpt,
        .auth_step = fuzz_auth_step,
        .auth_end = fuzz_auth_end,
    };
    struct smtpd_session *s;
    if (smtpd_new(&s, &p, &hooks) < 0)
        return 0;
    struct buf out = BUF_INIT;
    enum smtpd_action act = SMTPD_CONTINUE;
    if (p.tls_wrapper && tls_up(s, &in) < 0)
        goto done;
    smtpd_greeting(s, &out);
    check_output(&out);

    for (int step = 0; step < MAX_STEPS; step++) {
        if (act == SMTPD_STARTTLS) {
            /* the handshake: no smtpd input until it is over; failure closes the connection */
            if (fuzz_input_pick(&in, 8) == 7 || tls_up(s, &in) < 0)
                break;
            act = SMTPD_CONTINUE;
            continue;
        }
        if (act == SMTPD_WAIT && h.pending && (in.n == 0 || fuzz_input_pick(&in, 4) != 3)) {
            static const int status[] = {0, 0, 0, 0, 0, -ENOSPC, -EIO, -ENOMEM};
            queue_msg_free(h.pending);
            h.pending = NULL;
            act = smtpd_commit_done(s, status[fuzz_input_pick(&in, 8)], &out);
            check_output(&out);
            continue;
        }
        if (act == SMTPD_WAIT && h.auth_pending && (in.n == 0 || fuzz_input_pick(&in, 4) != 3)) {
            struct smtpd_auth_result r = h.auth_result;
            h.auth_pending = false;
            act = smtpd_auth_done(s, &r, &out);
            (void)smtpd_reply_delay_ms(s);
            check_output(&out);
            continue;
        }
        if (act == SMTPD_CONTINUE && smtpd_pending(s) && (in.n == 0 || fuzz_input_pick(&in, 4) != 3)) {
            /* the output drained (or a hold ended): parse what the client pipelined */
            act = smtpd_resume(s, &out);
            (void)smtpd_reply_delay_ms(s);
            check_output(&out);
            continue;
        }
        if (in.n == 0)
            break;
        unsigned ev = fuzz_input_pick(&in, 64);
        enum smtpd_action was = act;
        if (ev == 62) {
            act = smtpd_timeout(s, &out);
        } else if (ev == 63) {
            act = smtpd_shutdown(s, &out);
        } else {
            /* one read: 1..256 octets, or (when the back says 0) everything left */
            size_t len = fuzz_input_pick(&in, 257);
            const uint8_t *chunk;
            len = fuzz_input_take(&in, len ? len : in.n, &chunk);
            act = smtpd_input(s, (const char *)chunk, len, &out);
            (void)smtpd_reply_delay_ms(s);
        }
        if (was == SMTPD_CLOSE)
            FUZZ_CHECK(act == SMTPD_CLOSE);
        check_output(&out);
        if (act == SMTPD_CLOSE && fuzz_input_pick(&in, 4) != 3)
            break; /* the connection is closed; rarely, bytes still arrive */
    }
    if (act != SMTPD_CLOSE)
        smtpd_disconnected(s);
    (void)smtpd_tls_active(s);
    (void)smtpd_sasl_username(s);
    (void)smtpd_ccert_fingerprint(s, false);
    (void)smtpd_ccert_presented(s, true);
done:
    smtpd_free(s);
    /* a commit still pending when the client vanished: the queue finishes it alone */
    queue_msg_free(h.pending);
    buf_free(&out);
    return 0;
}
