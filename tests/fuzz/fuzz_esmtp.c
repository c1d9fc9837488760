/*
 * NAME
 *	fuzz_esmtp - libFuzzer target: MAIL FROM / RCPT TO paths and ESMTP/DSN parameters
 * DESCRIPTION
 *	The input's first line is what a client writes after "MAIL FROM:",
 *	the second what it writes after "RCPT TO:" (path and parameters:
 *	SIZE, BODY, SMTPUTF8, RET, ENVID, AUTH; NOTIFY, ORCPT). Both are run
 *	twice:
 *	  - through the parsers directly: policy_addr_parse() for the path,
 *	    then esmtp_next_param() over the rest and every value through
 *	    esmtp_xtext_ok(), esmtp_orcpt_ok(), esmtp_notify_parse();
 *	  - through a real session (EHLO, MAIL, RCPT, DATA with a short
 *	    message), which is how a client reaches them.
 *	Properties:
 *	  - esmtp_next_param() returns keys without blanks or '=' ("=x" gives ""),
 *	    values without blanks, and ends;
 *	  - what esmtp_xtext_ok() accepts is printable ASCII without '=', each
 *	    '+' followed by two upper-case hex digits; esmtp_orcpt_ok() accepts
 *	    at most ESMTP_ORCPT_MAX octets with a ';';
 *	  - NOTIFY bits are non-zero, known, NEVER alone;
 *	  - a message the session queues carries an ENVID and ORCPTs that pass
 *	    those checks again, and NOTIFY bits as above.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/smtpd/esmtp.h"
#include "core/smtpd/smtpd.h"
#include "fuzz_input.h"
#include "policy/policy_addr.h"

/* check_xtext - what esmtp_xtext_ok() accepted really is xtext */
static void check_xtext(const char *v)
{
    for (const char *p = v; *p; p++) {
        unsigned char c = (unsigned char)*p;
        FUZZ_CHECK(c >= 33 && c <= 126 && c != '=');
        if (c == '+') {
            for (int k = 1; k <= 2; k++)
                FUZZ_CHECK((p[k] >= '0' && p[k] <= '9') || (p[k] >= 'A' && p[k] <= 'F'));
            p += 2;
        }
    }
}

/* check_notify - NOTIFY bits as RFC 3461 allows them */
static void check_notify(unsigned bits)
{
    FUZZ_CHECK(bits != 0 && (bits & ~15u) == 0);
    FUZZ_CHECK(!(bits & DSN_NOTIFY_NEVER) || bits == DSN_NOTIFY_NEVER);
}

/* parse_direct - the path, then each parameter through the esmtp_* parsers */
static void parse_direct(const char *line)
{
    struct policy_addr a;
    if (policy_addr_parse(line, true, &a) < 0)
        return;
    char *copy = strdup(line + a.consumed), *rest = copy, *key, *val;
    FUZZ_CHECK(copy != NULL);
    size_t left = strlen(rest);
    while ((key = esmtp_next_param(&rest, &val)) != NULL) {
        FUZZ_CHECK(!strchr(key, ' ') && !strchr(key, '=')); /* "=x": key "", refused later */
        size_t now = strlen(rest);
        FUZZ_CHECK(now < left); /* progress: the loop ends */
        left = now;
        if (!val)
            continue;
        FUZZ_CHECK(!strchr(val, ' '));
        if (esmtp_xtext_ok(val))
            check_xtext(val);
        if (esmtp_orcpt_ok(val)) {
            const char *semi = strchr(val, ';');
            FUZZ_CHECK(semi && semi != val && strlen(val) <= ESMTP_ORCPT_MAX);
            check_xtext(semi + 1);
        }
        unsigned bits = 0;
        if (esmtp_notify_parse(val, &bits) == 0)
            check_notify(bits);
    }
    free(copy);
}

/* fuzz_submit - check what the session would queue, then refuse it (no commit to wait for) */
static int fuzz_submit(void *arg, struct queue_msg *m)
{
    (void)arg;
    if (m->envid) {
        FUZZ_CHECK(m->envid[0] != 0 && strlen(m->envid) <= ESMTP_ENVID_MAX);
        check_xtext(m->envid);
    }
    FUZZ_CHECK(m->ret == DSN_RET_NONE || m->ret == DSN_RET_FULL || m->ret == DSN_RET_HDRS);
    FUZZ_CHECK(m->body_type == BODY_7BIT || m->body_type == BODY_8BITMIME);
    for (size_t i = 0; i < m->nrcpt; i++) {
        if (m->rcpt[i].orcpt)
            FUZZ_CHECK(esmtp_orcpt_ok(m->rcpt[i].orcpt));
        if (m->rcpt[i].notify)
            check_notify(m->rcpt[i].notify);
    }
    return -EIO;
}

/* via_session - the same two lines as a client sends them */
static void via_session(const char *mail, const char *rcpt, bool sasl)
{
    struct smtpd_params p = {
        .myhostname = "mx.fuzz.test",
        .client_addr = "192.0.2.1",
        .client_name = "client.fuzz.test",
        .message_size_limit = 1000,
        .recipient_limit = 10,
        .sasl_enabled = sasl, /* AUTH= is a parameter only then */
        .sasl_mechs = "PLAIN",
    };
    struct smtpd_hooks h = {.submit = fuzz_submit};
    struct smtpd_session *s;
    if (smtpd_new(&s, &p, &h) < 0)
        return;
    struct buf conv = BUF_INIT, out = BUF_INIT;
    (void)buf_printf(&conv,
                     "EHLO client.fuzz.test\r\nMAIL FROM:%s\r\nRCPT TO:%s\r\nDATA\r\n"
                     "Subject: fuzz\r\n\r\nbody\r\n.\r\nQUIT\r\n",
                     mail, rcpt);
    (void)smtpd_input(s, buf_ptr(&conv), buf_used(&conv), &out);
    smtpd_free(s);
    buf_free(&conv);
    buf_free(&out);
}

/* no_line_ends - a line without CR (a bare CR would end the session before the parameters) */
static void no_line_ends(char *s)
{
    for (; *s; s++)
        if (*s == '\r')
            *s = ' ';
}

/* LLVMFuzzerTestOneInput - one MAIL and one RCPT line, directly and through a session */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in = fuzz_input_init(data, size);
    bool sasl = fuzz_input_flag(&in);
    char *mail = fuzz_input_line(&in, 1000);
    char *rcpt = fuzz_input_line(&in, 1000);
    if (!mail)
        return 0;
    if (!rcpt)
        rcpt = strdup("<r@rcpt.test>");
    FUZZ_CHECK(rcpt != NULL);
    parse_direct(mail);
    parse_direct(rcpt);
    no_line_ends(mail);
    no_line_ends(rcpt);
    via_session(mail, rcpt, sasl);
    free(mail);
    free(rcpt);
    return 0;
}
