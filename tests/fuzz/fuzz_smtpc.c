/*
 * NAME
 *	fuzz_smtpc - libFuzzer target: the SMTP client session and its reply parser
 * DESCRIPTION
 *	The front of the input is what a hostile next hop answers (greeting,
 *	EHLO lines, STARTTLS, AUTH challenges, replies to pipelined commands);
 *	the back decides what the rest of tern would: the session's options
 *	(PIPELINING, STARTTLS wanted or required, AUTH), where the server's
 *	bytes are split into reads, whether a TLS handshake succeeds, what the
 *	SASL client answers, which message goes out next (recipients, DSN
 *	parameters, a body with bare LFs or leading dots) and when to QUIT.
 *	Out of decisions, a seed conversation runs as the plain path: one
 *	message with two recipients, TLS and AUTH succeeding, then QUIT.
 *
 *	Properties checked besides ASan/UBSan:
 *	  - what tern writes never holds a bare CR or a bare LF (commands and
 *	    content alike end their lines with CRLF), so no reply can smuggle a
 *	    command or end the content early;
 *	  - after SMTPC_TXN_DONE or SMTPC_FAILED no recipient of the
 *	    transaction is left RCPT_PENDING, and each one that is not sent has
 *	    a reason and a DSN code of its class (4.x.x deferred, 5.x.x bounced);
 *	  - SMTPC_FAILED comes with a non-empty smtpc_error().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/delivery/smtpc.h"
#include "fuzz_input.h"

#define MAX_STEPS 4096
#define MAX_RCPT 4

struct harness {
    struct fuzz_input *in;
    char auth_out[48];
};

/* fuzz_auth_start - pick a mechanism from the server's list (or none) */
static int fuzz_auth_start(void *arg, const char *server_mechs, bool tls, const char **mech,
                           const char **out, size_t *outlen, const char **why)
{
    struct harness *h = arg;
    static const char *const mechs[] = {"PLAIN", "LOGIN", "CRAM-MD5", NULL};
    (void)tls;
    FUZZ_CHECK(server_mechs != NULL && server_mechs[0] != 0);
    unsigned k = fuzz_input_pick(h->in, 5);
    if (k == 4) {
        *why = "no worthy mechs found";
        return -ENOENT;
    }
    *mech = mechs[k];
    *out = fuzz_input_flag(h->in) ? "\0user\0secret" : NULL;
    *outlen = *out ? 12 : 0;
    return 0;
}

/* fuzz_auth_step - answer a challenge: some octets, or an error */
static int fuzz_auth_step(void *arg, const char *in, size_t inlen, const char **out, size_t *outlen,
                          const char **why)
{
    struct harness *h = arg;
    FUZZ_CHECK(in != NULL || inlen == 0);
    if (fuzz_input_pick(h->in, 8) == 7) {
        *why = "SASL(-1): generic failure";
        return -EIO;
    }
    for (size_t i = 0; i < sizeof(h->auth_out); i++)
        h->auth_out[i] = (char)fuzz_input_pick(h->in, 256);
    *out = h->auth_out;
    *outlen = fuzz_input_pick(h->in, sizeof(h->auth_out) + 1);
    return 0;
}

/* check_output - no bare CR or LF in anything tern sends; then forget it */
static void check_output(struct buf *out)
{
    const char *p = buf_ptr(out);
    size_t n = buf_used(out);
    FUZZ_CHECK(n == 0 || (n >= 2 && p[n - 2] == '\r' && p[n - 1] == '\n'));
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\r')
            FUZZ_CHECK(i + 1 < n && p[i + 1] == '\n');
        else if (p[i] == '\n')
            FUZZ_CHECK(i > 0 && p[i - 1] == '\r');
    }
    buf_reset(out);
}

/* check_results - every recipient of a finished transaction has a result */
static void check_results(const struct queue_delivery *d)
{
    for (size_t i = 0; i < d->nrcpt; i++) {
        const struct queue_delivery_rcpt *r = &d->rcpt[i];
        FUZZ_CHECK(r->status == RCPT_SENT || r->status == RCPT_DEFERRED ||
                   r->status == RCPT_BOUNCED);
        if (r->status == RCPT_DEFERRED)
            FUZZ_CHECK(r->dsn[0] == '4' && r->dsn[1] == '.');
        if (r->status == RCPT_BOUNCED)
            FUZZ_CHECK(r->dsn[0] == '5' && r->dsn[1] == '.');
        if (r->status != RCPT_SENT)
            FUZZ_CHECK(r->reason != NULL && r->reason[0] != 0);
    }
}

/* delivery_make - one message's recipients, chosen by the input */
static void delivery_make(struct queue_delivery *d, struct queue_delivery_rcpt *r,
                          struct fuzz_input *in)
{
    static char *const addrs[] = {"a@rcpt.test", "b@rcpt.test", "\"sp ace\"@rcpt.test",
                                  "bad<angle@rcpt.test"};
    static char *const orcpts[] = {NULL, "rfc822;a@rcpt.test", "rfc822;x+2By@r.test", "has space"};
    static char *const senders[] = {"s@snd.test", "", "bad\r\nMAIL FROM:<x>"};
    static char *const envids[] = {NULL, "ENV+2D1", "bad id"};
    memset(d, 0, sizeof(*d));
    snprintf(d->qid, sizeof(d->qid), "0123456789ABCDEF");
    d->sender = senders[fuzz_input_pick(in, 3)];
    d->envid = envids[fuzz_input_pick(in, 3)];
    d->ret = (int)fuzz_input_pick(in, 3);
    d->body_type = (int)fuzz_input_pick(in, 2);
    d->smtputf8 = fuzz_input_flag(in);
    d->nrcpt = 1 + fuzz_input_pick(in, MAX_RCPT);
    d->rcpt = r;
    for (size_t i = 0; i < d->nrcpt; i++) {
        memset(&r[i], 0, sizeof(r[i]));
        r[i].addr = addrs[fuzz_input_pick(in, 4)];
        r[i].orcpt = orcpts[fuzz_input_pick(in, 4)];
        r[i].notify = fuzz_input_pick(in, 16);
        r[i].index = (uint32_t)i;
    }
}

/* delivery_release - free what the session put into the results */
static void delivery_release(struct queue_delivery *d)
{
    for (size_t i = 0; i < d->nrcpt; i++) {
        free(d->rcpt[i].reason);
        d->rcpt[i].reason = NULL;
    }
    d->nrcpt = 0;
}

/* LLVMFuzzerTestOneInput - one connection to a hostile next hop */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const bodies[] = {
        "Subject: t\r\n\r\nbody\r\n",
        ".leading dot\nbare LF\n..two\r\n.\r\n",
        "no final newline",
        "\r\r\n\n\r.",
        "",
    };
    struct fuzz_input in = fuzz_input_init(data, size);
    struct harness h = {.in = &in};
    struct smtpc_auth auth = {.arg = &h, .start = fuzz_auth_start, .step = fuzz_auth_step};
    unsigned opt = fuzz_input_pick(&in, 16);
    struct smtpc_params p = {
        .helo_name = "tern.fuzz.test",
        .peer_name = (opt & 8) ? "mx.fuzz.test[192.0.2.9]:25" : "odd-peer-name",
        .pipelining = !(opt & 1),
        .starttls = !(opt & 2),
        .require_tls = (opt & 4) != 0,
        .auth = fuzz_input_flag(&in) ? NULL : &auth,
    };
    struct smtpc_session *c;
    if (smtpc_new(&c, &p) < 0)
        return 0;
    struct buf out = BUF_INIT;
    struct queue_delivery d = {0};
    struct queue_delivery_rcpt rcpt[MAX_RCPT];
    bool in_txn = false, quit = false;
    enum smtpc_event ev = SMTPC_NEED_MORE;

    for (int step = 0; step < MAX_STEPS; step++) {
        if (ev == SMTPC_TXN_DONE) {
            FUZZ_CHECK(in_txn);
            check_results(&d);
            delivery_release(&d);
            in_txn = false;
            ev = SMTPC_READY;
        }
        if (ev == SMTPC_FAILED) {
            FUZZ_CHECK(smtpc_error(c)[0] != 0);
            if (in_txn) {
                check_results(&d);
                delivery_release(&d);
                in_txn = false;
            }
            if (fuzz_input_flag(&in))
                smtpc_quit(c, &out);
            check_output(&out);
            break;
        }
        if (ev == SMTPC_CLOSED)
            break;
        if (ev == SMTPC_STARTTLS) {
            if (fuzz_input_pick(&in, 8) == 7 || smtpc_tls_started(c, &out) < 0)
                break; /* the handshake failed: the connection is dropped */
            ev = SMTPC_NEED_MORE;
            check_output(&out);
            continue;
        }
        if ((ev == SMTPC_READY || ev == SMTPC_NO_TLS) && !in_txn && !quit) {
            /* next message, or goodbye */
            if (in.n == 0 || fuzz_input_pick(&in, 4) == 3) {
                smtpc_quit(c, &out);
                quit = true;
            } else {
                const char *body = bodies[fuzz_input_pick(&in, 5)];
                delivery_make(&d, rcpt, &in);
                int rc = smtpc_send(c, &d, body, strlen(body), &out);
                if (rc == -EINVAL) {
                    /* an envelope that cannot go on the wire: nothing sent, try another */
                    FUZZ_CHECK(buf_used(&out) == 0);
                    delivery_release(&d);
                    continue;
                }
                if (rc == 0) {
                    in_txn = true;
                } else {
                    delivery_release(&d);
                    smtpc_quit(c, &out);
                    quit = true;
                }
            }
            check_output(&out);
            ev = SMTPC_NEED_MORE;
            continue;
        }
        if (in.n == 0)
            break;
        size_t len = fuzz_input_pick(&in, 257);
        const uint8_t *chunk;
        len = fuzz_input_take(&in, len ? len : in.n, &chunk);
        ev = smtpc_input(c, (const char *)chunk, len, &out);
        check_output(&out);
    }
    (void)smtpc_offers(c, "PIPELINING");
    (void)smtpc_starttls_offered(c);
    (void)smtpc_auth_failed(c);
    (void)smtpc_authenticated(c);
    (void)smtpc_tls_active(c);
    if (in_txn) {
        /* the connection was lost mid-transaction */
        smtpc_fail_open(c, NULL);
        check_results(&d);
        delivery_release(&d);
    }
    smtpc_free(c);
    buf_free(&out);
    return 0;
}
