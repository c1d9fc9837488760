/*
 * NAME
 *	policy_relay_check - the order of the lists: may this client send to this recipient?
 * SYNOPSIS
 *	#include "policy/policy_relay.h"
 *
 *	void policy_relay_check(const struct policy_relay *pr, const struct policy_client *client,
 *	                        const struct policy_addr *rcpt, struct policy_verdict *out);
 *	void policy_relay_check_stage(const struct policy_relay *pr, enum policy_stage stage,
 *	                              const struct policy_client *client,
 *	                              const struct policy_addr *rcpt, struct policy_verdict *out);
 *	enum decision policy_relay_check_items(const struct eval *e, const struct ritem *v,
 *	                                       size_t n, int depth);
 * DESCRIPTION
 *	Evaluation, as Postfix's smtpd does it at RCPT TO:
 *	  0. with smtpd_delay_reject, the client, helo and sender lists; a
 *	     reject is the answer, a permit ends only its own list.
 *	  1. smtpd_relay_restrictions: the first permit or reject ends the list;
 *	     a reject is the answer.
 *	  2. smtpd_recipient_restrictions, the same way; a reject is the answer.
 *	  3. A permit in either list, or a recipient that is an auth
 *	     destination, is a permit (unless the recipient is in
 *	     mydestination: reject_unlisted_recipient, or a deferral was
 *	     remembered on the way: defer_if_permit).
 *	  4. Otherwise (both lists ran out without a decision for a recipient
 *	     outside relay_domains): 554 5.7.1 Relay access denied. Postfix
 *	     refuses to start with such lists; tern instead makes the lists'
 *	     silence mean "no", so that no configuration is an open relay.
 *	policy_relay_check_items runs one list: the first permit or reject
 *	ends it. Depth is bounded (MAX_DEPTH, 100) against classes naming
 *	themselves.
 * DIAGNOSTICS
 *	A relay_domains table error gives 451 4.3.0, never a permit; nesting
 *	deeper than MAX_DEPTH is logged and answers 451 4.3.5.
 */
#include "policy/policy_relay.h"
#include "policy/policy_relay_impl.h"

#include <string.h>

#include "core/base/log.h"

/* policy_relay_check_items - the first permit or reject ends the list */
enum decision policy_relay_check_items(const struct eval *e, const struct ritem *v, size_t n,
                                       int depth)
{
    if (depth > MAX_DEPTH) {
        log_warn("policy", "restriction classes: unreasonable recursion (a class names itself?)");
        return policy_relay_reply_fixed(e, 451, "4.3.5", "Server configuration error");
    }
    for (size_t i = 0; i < n; i++) {
        enum decision d = policy_relay_restrict_one(e, &v[i], depth);
        if (d != D_DUNNO)
            return d;
    }
    return D_DUNNO;
}

/* eval_list - run one top-level restriction list; D_REJECT fills *out */
static enum decision eval_list(const struct policy_relay *pr, const struct rlist *l, int stage,
                               const struct policy_client *client, const struct policy_addr *rcpt,
                               enum auth *auth, struct policy_verdict *out,
                               struct policy_defer *defer)
{
    char namaddr[320];
    const char *name = "";

    switch (stage) {
    case POLICY_STAGE_CLIENT:
        name = policy_relay_reply_namaddr(client, namaddr, sizeof(namaddr));
        break;
    case POLICY_STAGE_HELO:
        name = client && client->helo ? client->helo : "";
        break;
    case POLICY_STAGE_SENDER:
        name = client && client->sender ? client->sender : "";
        break;
    case POLICY_STAGE_DATA:
        name = "DATA";
        break;
    case POLICY_STAGE_EOD:
        name = "END-OF-MESSAGE";
        break;
    default:
        name = rcpt ? rcpt->addr : "";
        break;
    }
    struct eval e = {pr, client, rcpt, auth, out, stage, name, defer};
    return policy_relay_check_items(&e, l->v, l->n, 0);
}

/* policy_relay_check_stage - one of the client/helo/sender/data/end-of-data lists */
void policy_relay_check_stage(const struct policy_relay *pr, enum policy_stage stage,
                              const struct policy_client *client, const struct policy_addr *rcpt,
                              struct policy_verdict *out)
{
    struct policy_defer defer = {0};
    memset(out, 0, sizeof(*out));
    if (stage < 0 || stage >= POLICY_STAGE_COUNT)
        return;
    enum auth auth = rcpt ? policy_relay_domain_auth(pr, rcpt) : AUTH_NO;
    if (eval_list(pr, &pr->stage[stage], (int)stage, client, rcpt, &auth, out, &defer) == D_REJECT)
        return;
    memset(out, 0, sizeof(*out));
    if (defer.code == 0)
        return;
    if (stage >= POLICY_STAGE_DATA) {
        /* Postfix forgets earlier deferrals at DATA; one raised here answers DATA itself */
        out->code = defer.code;
        memcpy(out->dsn, defer.dsn, sizeof(out->dsn));
        memcpy(out->text, defer.text, sizeof(out->text));
    } else {
        out->defer = defer; /* for the caller to hand to RCPT (client->deferred) */
    }
}

/* apply_defer - a permit becomes the deferral remembered on the way (defer_if_permit) */
static void apply_defer(const struct policy_defer *defer, struct policy_verdict *out)
{
    if (defer->code == 0)
        return;
    memset(out, 0, sizeof(*out));
    out->code = defer->code;
    memcpy(out->dsn, defer->dsn, sizeof(out->dsn));
    memcpy(out->text, defer->text, sizeof(out->text));
}

/* policy_relay_check - the delayed lists, then both recipient lists, for one recipient */
void policy_relay_check(const struct policy_relay *pr, const struct policy_client *client,
                        const struct policy_addr *rcpt, struct policy_verdict *out)
{
    memset(out, 0, sizeof(*out));
    enum auth auth = policy_relay_domain_auth(pr, rcpt);
    /* defer_if_permit: what the sender list raised at MAIL (delay_reject off), or raises now */
    struct policy_defer defer = {0};
    if (client && client->deferred && !pr->delay_reject)
        defer = *client->deferred;

    for (int i = POLICY_STAGE_CLIENT; pr->delay_reject && i <= POLICY_STAGE_SENDER; i++)
        if (eval_list(pr, &pr->stage[i], i, client, rcpt, &auth, out, &defer) == D_REJECT)
            return;
    memset(out, 0, sizeof(*out));
    enum decision d1 = eval_list(pr, &pr->relay, STAGE_RCPT, client, rcpt, &auth, out, &defer);
    if (d1 == D_REJECT)
        return;
    enum decision d2 = eval_list(pr, &pr->rcpt, STAGE_RCPT, client, rcpt, &auth, out, &defer);
    if (d2 == D_REJECT)
        return;
    if (d1 == D_PERMIT || d2 == D_PERMIT || auth == AUTH_YES) {
        struct eval e = {pr, client, rcpt, &auth, out, STAGE_RCPT, rcpt->addr, &defer};
        if (policy_relay_restrict_unlisted(&e) != D_REJECT) { /* smtpd_reject_unlisted_recipient */
            memset(out, 0, sizeof(*out));
            apply_defer(&defer, out);
        }
        return;
    }
    /* Neither list decided and the recipient is not ours: never relay by default. */
    if (auth == AUTH_ERROR)
        policy_relay_reply_rcpt(out, 451, "4.3.0", rcpt, "Temporary lookup failure");
    else
        policy_relay_reply_rcpt(out, 554, "5.7.1", rcpt, "Relay access denied");
}
