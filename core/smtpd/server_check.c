/*
 * NAME
 *	server_check - the restrictions (policy_relay) with what the session knows so far
 * SYNOPSIS
 *	#include "core/smtpd/server_impl.h"
 *
 *	void server_check_rcpt(void *arg, const struct policy_addr *rcpt, struct policy_verdict *v);
 *	void server_check_stage(void *arg, enum policy_stage stage, struct policy_verdict *v);
 * DESCRIPTION
 *	Relay permission: every recipient goes through policy_relay_check() with
 *	the client's certificate, verified or not (permit_tls_clientcerts and
 *	check_ccert_access key on the fingerprint; permit_tls_all_clientcerts
 *	needs ccert_verified). With smtpd_tls_ask_ccert = yes and req_ccert = no
 *	a certificate from an unknown CA still completes the handshake: the
 *	outcome is only recorded (tls_ctx's verify mode).
 *
 *	The smtpd hooks check_rcpt (relay permission and, with
 *	smtpd_delay_reject, the client, helo and sender lists) and check_stage
 *	(one of the other lists) fill in a struct policy_client from the session
 *	and ask the policy. A verdict that needs the sender domain's DNS answer
 *	starts a lookup (server_lookup.c) and leaves v->lookup set: the command
 *	waits. The policy is asked twice at most: the second time with the
 *	lookup's failure, never a permit by default.
 * DIAGNOSTICS
 *	The verdict in v: code 0 = no objection; v->lookup set = the command waits for
 *	server_lookup_resume().
 */
#include "core/smtpd/server_impl.h"

#include <string.h>

#include "core/config/tlsconf.h"
#include "core/daemon/worker.h"

/* server_check_client - what the restrictions may know of the session so far */
static void server_check_client(const struct server_session *s, struct policy_client *c)
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

/* server_check - run the policy; a verdict that needs a DNS answer starts the lookup (v->lookup
 * stays set: the command waits) or, when none can start, is run again with the failure */
static void server_check(struct server_session *s, int stage, const struct policy_addr *rcpt,
                         struct policy_verdict *v)
{
    struct policy_client c;
    for (int round = 0; round < 2; round++) {
        server_check_client(s, &c);
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
void server_check_rcpt(void *arg, const struct policy_addr *rcpt, struct policy_verdict *v)
{
    server_check(arg, -1, rcpt, v);
}

/* server_check_stage - smtpd hook: the client/helo/sender/data/end-of-data lists */
void server_check_stage(void *arg, enum policy_stage stage, struct policy_verdict *v)
{
    server_check(arg, (int)stage, NULL, v);
}
