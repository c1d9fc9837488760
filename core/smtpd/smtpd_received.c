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
#include "core/smtpd/smtpd_received.h"

#include <stdio.h>

#include "core/base/printable.h"

#define RECEIVED_WORD_MAX 512 /* a command line incl. CRLF (RFC 5321 4.5.3.1.4) */

/* rfc5322_date - RFC 5322 date-time of t in local time */
static void rfc5322_date(time_t t, char *out, size_t len)
{
    static const char *const wday[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    localtime_r(&t, &tm);
    long off = tm.tm_gmtoff / 60;
    char sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    snprintf(out, len, "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld", wday[tm.tm_wday % 7], tm.tm_mday,
             mon[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign,
             off / 60, off % 60);
}

/* smtpd_received - append the Received: header field of an accepted message */
int smtpd_received(struct buf *b, const struct smtpd_received *r)
{
    char date[64];
    rfc5322_date(r->when, date, sizeof(date));
    char authhdr[300] = "";
    if (r->sasl_user) {
        char user[256];
        printable_copy(user, sizeof(user), r->sasl_user, PRINTABLE_QUOTED);
        snprintf(authhdr, sizeof(authhdr), "\r\n\t(Authenticated sender: %s)", user);
    }
    /* The client's words are one token each: a HELO cannot add "by", "with" or "id" clauses,
     * and no control character reaches the header (base/printable.h). */
    char helo[RECEIVED_WORD_MAX], rcpt[RECEIVED_WORD_MAX];
    printable_copy(helo, sizeof(helo), r->helo, PRINTABLE_TOKEN);
    int rc = buf_printf(b, "Received: from %s (%s [%s])%s%s\r\n\tby %s (tern) with %s id %s", helo,
                        r->client_name, r->client_addr, r->tls ? r->tls : "", authhdr,
                        r->myhostname, r->proto, r->qid);
    if (rc == 0 && r->rcpt) {
        printable_copy(rcpt, sizeof(rcpt), r->rcpt, r->smtputf8 ? PRINTABLE_UTF8 : PRINTABLE_ASCII);
        rc = buf_printf(b, "\r\n\tfor <%s>; %s\r\n", rcpt, date);
    } else if (rc == 0)
        rc = buf_printf(b, ";\r\n\t%s\r\n", date);
    return rc;
}
