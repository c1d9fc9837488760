/*
 * NAME
 *	smtpd_received - the Received: header tern puts on a message it accepts
 * SYNOPSIS
 *	#include "core/smtpd/smtpd_received.h"
 *
 *	struct smtpd_received r = { .helo = ..., .client_name = ..., ... };
 *	int smtpd_received(struct buf *b, const struct smtpd_received *r);
 * DESCRIPTION
 *	Appends the header field, as Postfix's smtpd writes it:
 *
 *	  Received: from HELO (NAME [ADDR])[TLS lines][
 *	  	(Authenticated sender: USER)]
 *	  	by MYHOSTNAME (tern) with PROTO id QID
 *	  	for <RCPT>; DATE          (one recipient; else ";\r\n\tDATE")
 *
 *	DATE is RFC 5322 local time with its offset. What the client chose is
 *	made safe first (base/printable.h): the HELO name is one token, so it
 *	cannot add "by", "with" or "id" clauses; no control character reaches
 *	the header; the recipient keeps UTF-8 only with SMTPUTF8. The HELO
 *	name and the recipient are cut at 511 octets (a command line's worth).
 *	All strings are borrowed.
 * DIAGNOSTICS
 *	0, or -ENOMEM (b may then hold part of the field).
 */
#ifndef TERN_SMTPD_RECEIVED_H
#define TERN_SMTPD_RECEIVED_H

#include <stdbool.h>
#include <time.h>

#include "core/base/buf.h"

struct smtpd_received {
    const char *helo;        /* HELO/EHLO argument as the client sent it */
    const char *client_name; /* reverse name or "unknown" */
    const char *client_addr;
    const char *tls;       /* TLS annotation lines ("\r\n\t(...)"), NULL: none */
    const char *sasl_user; /* "(Authenticated sender: ...)" line; NULL: none */
    const char *myhostname;
    const char *proto; /* RFC 3848: "ESMTPSA", ... */
    const char *qid;
    const char *rcpt; /* the only recipient ("for <...>"); NULL: more than one */
    bool smtputf8;    /* the recipient may be UTF-8 */
    time_t when;
};

int smtpd_received(struct buf *b, const struct smtpd_received *r);

#endif
