/*
 * NAME
 *	policy_access - one access(5) lookup result, classified as Postfix's smtpd does
 * SYNOPSIS
 *	struct policy_verdict v;
 *	const char *list;
 *	switch (policy_access_result("REJECT no way", "client.example", "Client certificate",
 *	                             &v, &list)) { ... }
 * DESCRIPTION
 *	policy_access_result interprets one access(5) lookup result the way
 *	Postfix's smtpd does (check_table_result), for check_ccert_access:
 *	  OK, RELAY, or all digits      -> POLICY_ACCESS_PERMIT
 *	  DUNNO, WARN [text], INFO [text] -> POLICY_ACCESS_DUNNO
 *	  REJECT [[d.d.d] text]         -> 554 (access_map_reject_code), 5.7.1
 *	  DEFER [[d.d.d] text]          -> 450 (access_map_defer_code), 4.7.1
 *	  4NN text / 5NN text           -> that code; "5NN 5.x.y text" keeps
 *	                                   the enhanced code (its class is
 *	                                   forced to the reply's), else 4.7.1/5.7.1
 *	all with text "<reply_name>: reply_class rejected: text" (text default
 *	"Access denied") -> POLICY_ACCESS_REJECT;
 *	  anything else                 -> POLICY_ACCESS_RESTRICTIONS: *list
 *	                                   points at the value, a list of
 *	                                   restriction or class names to
 *	                                   evaluate (an empty value means OK,
 *	                                   as in Postfix);
 *	  a value naming a lookup table ("type:name" inside), and actions
 *	  tern does not implement (DEFER_IF_PERMIT, DEFER_IF_REJECT, HOLD,
 *	  DISCARD, FILTER, REDIRECT, BCC, PREPEND, HANGUP)
 *	                                -> POLICY_ACCESS_ERROR, 451 4.3.5
 *	                                   "Server configuration error" (logged).
 */
#ifndef TERN_POLICY_ACCESS_H
#define TERN_POLICY_ACCESS_H

#include "policy/policy_relay.h"

enum policy_access_action {
    POLICY_ACCESS_DUNNO,
    POLICY_ACCESS_PERMIT,
    POLICY_ACCESS_REJECT,
    POLICY_ACCESS_RESTRICTIONS,
    POLICY_ACCESS_ERROR,
};

/* policy_access_result - classify an access(5) result; fills v for REJECT/ERROR, *list for
 * RESTRICTIONS (borrowed from value) */
enum policy_access_action policy_access_result(const char *value, const char *reply_name,
                                               const char *reply_class, struct policy_verdict *v,
                                               const char **list);

#endif
