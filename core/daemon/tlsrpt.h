/*
 * NAME
 *	tlsrpt - TLS-RPT (RFC 8460) reports: from the recorded results to mail in the queue
 * SYNOPSIS
 *	#include "core/daemon/tlsrpt.h"
 *	tlsrpt_send(daemon, fp);    // `ternctl tlsrpt send`, and once a day
 * DESCRIPTION
 *	What delivery_tlsrpt counted in the client TLS cache (kind "tlsrpt")
 *	becomes one report per policy domain and UTC day: the RFC 8460 JSON
 *	(policy_tlsrpt_json), gzip-compressed, in a multipart/report;
 *	report-type="tlsrpt" message (RFC 8460 5.3: Subject "Report Domain: D
 *	Submitter: S Report-ID: <ID>", TLS-Report-Domain, TLS-Report-Submitter,
 *	the attachment S!D!START!END!ID.json.gz as application/tlsrpt+gzip),
 *	from <> to the mailto: addresses of the domain's _smtp._tls TXT record
 *	(looked up now, with tern's DNS servers), through tern's own queue, and
 *	POSTed as application/tlsrpt+gzip to its https: addresses (RFC 8460
 *	5.4, libcurl, 10 s, the host resolved by tern's DNS, the certificate
 *	checked against smtp_tls_CAfile/CApath): once the queue has it or one
 *	POST succeeded, the results are deleted. A domain without such
 *	a record has its results deleted with a log line. The submitter is
 *	myhostname; the contact postmaster@myhostname.
 *	The daily run (daemon/control.c) sends the days before today; `ternctl
 *	tlsrpt send` today's too.
 *	Bounds: TLSRPT_ENTRIES_MAX records are read per run (the rest wait for
 *	the next); each report holds what one record holds (delivery_tlsrpt.h).
 * DIAGNOSTICS
 *	tlsrpt_send: the number of reports queued, or -errno (no client TLS
 *	cache: -ENOENT). Each report, and each domain without a record, is a
 *	line in fp and the log.
 */
#ifndef TERN_DAEMON_TLSRPT_H
#define TERN_DAEMON_TLSRPT_H

#include <stdbool.h>
#include <stdio.h>

#define TLSRPT_ENTRIES_MAX 4096

struct tern_daemon;

/* tlsrpt_send - queue the reports of the recorded days (today too when today is set) */
int tlsrpt_send(struct tern_daemon *d, bool today, FILE *fp);

#endif
