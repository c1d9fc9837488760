/*
 * NAME
 *	policy_tlsrpt - TLS-RPT (RFC 8460): the _smtp._tls TXT record and the JSON report
 * SYNOPSIS
 *	#include "policy/policy_tlsrpt.h"
 *	char rua[POLICY_TLSRPT_RUA_MAX][POLICY_TLSRPT_URI_LEN];
 *	size_t n;
 *	policy_tlsrpt_txt(txt, len, rua, &n, err, sizeof(err)); // "v=TLSRPTv1; rua=mailto:r@x"
 *	struct policy_tlsrpt_report r = {...};
 *	policy_tlsrpt_json(&buf, &r);
 * DESCRIPTION
 *	policy_tlsrpt_txt() reads one TXT record (RFC 8460 3): "v=TLSRPTv1"
 *	first, then ";"-separated fields (policy_taglist); "rua" is a comma-
 *	separated list of mailto: and https: URIs, of which the first
 *	POLICY_TLSRPT_RUA_MAX are kept (other schemes are skipped). A record
 *	without rua, or with a second one, is invalid.
 *	policy_tlsrpt_json() writes the report of RFC 8460 4.4: organization-
 *	name, date-range, contact-info, report-id, and per policy its type,
 *	strings, domain and MX hosts, the summary counts and the failure
 *	details (result-type, sending-mta-ip, receiving-mx-hostname,
 *	receiving-ip, failed-session-count). Strings are escaped as JSON wants.
 * DIAGNOSTICS
 *	policy_tlsrpt_txt: 0 or -EINVAL with err. policy_tlsrpt_json: 0 or
 *	-ENOMEM.
 */
#ifndef TERN_POLICY_TLSRPT_H
#define TERN_POLICY_TLSRPT_H

#include <stddef.h>
#include <time.h>

#include "core/base/buf.h"

#define POLICY_TLSRPT_RUA_MAX 8
#define POLICY_TLSRPT_URI_LEN 320

struct policy_tlsrpt_failure {
    const char *result_type; /* "certificate-host-mismatch", "starttls-not-supported", ... */
    const char *sending_ip, *mx, *receiving_ip; /* "" when not known */
    unsigned long count;
};

struct policy_tlsrpt_policy {
    const char *type; /* "sts", "tlsa" or "no-policy-found" */
    const char *domain;
    const char *const *strings; /* the policy, one string per line (sts) or record (tlsa) */
    size_t nstrings;
    const char *const *mx; /* sts: the mx patterns */
    size_t nmx;
    unsigned long ok, failed;
    const struct policy_tlsrpt_failure *fail;
    size_t nfail;
};

struct policy_tlsrpt_report {
    const char *org, *contact, *report_id;
    time_t start, end; /* the date range, end inclusive */
    const struct policy_tlsrpt_policy *pol;
    size_t npol;
};

/* policy_tlsrpt_txt - the rua URIs of one _smtp._tls TXT record; 0 or -EINVAL with err */
int policy_tlsrpt_txt(const char *txt, size_t len, char rua[][POLICY_TLSRPT_URI_LEN], size_t *n,
                      char *err, size_t errlen);
/* policy_tlsrpt_json - the JSON report, appended to out; 0 or -ENOMEM */
int policy_tlsrpt_json(struct buf *out, const struct policy_tlsrpt_report *r);

#endif
