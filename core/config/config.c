/*
 * NAME
 *	config - main.cf: one parameter table, an immutable config struct
 * SYNOPSIS
 *	See config/config.h.
 * DESCRIPTION
 *	One static table (param_table[]) names every parameter tern knows: its
 *	type, its default text (as `postconf -d` would show it), where it lives in
 *	struct tern_config (or -1: accepted and kept raw for a later issue) and a
 *	line of help. It drives parsing, `ternd -n` and config_get().
 *
 *	Loading happens in three passes:
 *	1. read main.cf into logical lines (comments and blank lines skipped,
 *	   indented lines continue the previous one), each `name = value`
 *	   recorded against its table entry or as an unknown parameter;
 *	2. expand every value ($name, ${name}, $(name), ${name?text},
 *	   ${name:text}, $$) recursively and memoised, so order in the file does
 *	   not matter; a parameter met again while being expanded is a loop, and
 *	   an expanded value is at most CONFIG_VALUE_MAX octets (nested
 *	   references multiply: a few hundred octets of main.cf could otherwise
 *	   ask for gigabytes); references and ${name?...} may nest
 *	   CONFIG_NESTING_MAX deep (a chain of 20000 parameters overflowed the
 *	   stack);
 *	3. convert typed values into the struct, and record every parameter
 *	   (table and unknown, expanded) in cfg->raw[], sorted by name so that
 *	   config_get() is a binary search and `ternd -n` is alphabetical like
 *	   `postconf -n`.
 *
 *	Defaults may reference other parameters; myhostname (gethostname(),
 *	canonicalised when it has no dot) and mydomain (myhostname minus its
 *	first label, "localdomain" when there is none) are computed.
 * DIAGNOSTICS
 *	config_load() returns 0, -ENOENT (no main.cf), -ENOMEM, or -EINVAL
 *	with *err naming the file, line, parameter and value.
 */
#include "core/config/config.h"

#include "core/base/hostport.h"
#include "core/base/buf.h"
#include "core/base/log.h"

#include <ctype.h>
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum param_type { P_STRING, P_INT, P_TIME, P_SIZE, P_BOOL, P_LIST };

/* Computed defaults (no fixed text). */
enum param_dyn { DYN_NONE, DYN_MYHOSTNAME, DYN_MYDOMAIN, DYN_REFUSED };

struct param {
    const char *name;
    enum param_type type;
    const char *dflt; /* default text, expanded like a value */
    long off;         /* offsetof(struct tern_config, field), or -1: raw only */
    const char *help;
    int port; /* P_LIST/P_STRING: items must be host[:port]; default port (-1: no check) */
    enum param_dyn dyn;
    char unit; /* P_TIME: unit of a bare number */
};

#define OFF(f) ((long)offsetof(struct tern_config, f))
/* clang-format off */
#define S(n, d, h) {#n, P_STRING, d, OFF(n), h, -1, DYN_NONE, 0}
#define I(n, d, h) {#n, P_INT, d, OFF(n), h, -1, DYN_NONE, 0}
#define T(n, d, h) {#n, P_TIME, d, OFF(n), h, -1, DYN_NONE, 's'}
#define Z(n, d, h) {#n, P_SIZE, d, OFF(n), h, -1, DYN_NONE, 0}
#define B(n, d, h) {#n, P_BOOL, d, OFF(n), h, -1, DYN_NONE, 0}
#define L(n, d, h) {#n, P_LIST, d, OFF(n), h, -1, DYN_NONE, 0}
#define HP(n, d, port, h) {#n, P_LIST, d, OFF(n), h, port, DYN_NONE, 0}
/* known but refused unless at its default (h says why; inet_*: see inet_interfaces()) */
#define X(n, d, h) {#n, P_STRING, d, -1, h, -1, DYN_REFUSED, 0}
/* raw: a parameter read where it is used with config_get() */
#define R(n, d, h) {#n, P_STRING, d, -1, h, -1, DYN_NONE, 0}
/* clang-format on */

static const struct param param_table[] = {
    /* identity */
    {"myhostname", P_STRING, NULL, OFF(myhostname), "fully qualified name of this host", -1,
     DYN_MYHOSTNAME, 0},
    {"mydomain", P_STRING, NULL, OFF(mydomain), "domain of this host", -1, DYN_MYDOMAIN, 0},
    S(myorigin, "$myhostname", "domain that locally posted mail appears to come from"),
    S(smtpd_banner, "$myhostname ESMTP tern", "text after 220 in the SMTP greeting"),
    S(smtp_helo_name, "$myhostname", "name sent in EHLO/HELO"),
    S(mail_owner, "tern", "user the daemon runs as after start-up"),
    S(queue_directory, "/var/spool/tern", "where the queue lives"),
    S(syslog_name, "tern", "name in front of every log line"),
    S(maillog_file, "", "log file; empty means syslog"),
    S(compatibility_level, "0",
      "Postfix compatibility level: as Postfix, 0 when unset (md5 fingerprints below 3.6)"),

    /* listeners */
    HP(smtpd_listen, "127.0.0.1:25", 25, "SMTP listeners, addr:port"),
    HP(submission_listen, "", 587, "submission listeners, addr:port"),
    HP(smtps_listen, "", 465, "SMTP over TLS listeners, addr:port"),
    {"metrics_listen", P_STRING, "", OFF(metrics_listen), "metrics endpoint addr:port; empty: off",
     0, DYN_NONE, 0},
    I(worker_threads, "0", "worker threads; 0 means one per CPU"),
    HP(dns_servers, "", 53, "DNS servers addr[:port]; empty: the system resolver"),
    HP(proxy_interfaces, "", 25,
       "addresses (numeric, [:port], port 25 by default) on which a proxy or NAT forwards mail "
       "to tern: a next hop there loops back to tern (5.4.6)"),

    /* smtpd */
    T(smtpd_timeout, "300s", "SMTP server read/write timeout"),
    /* bounds on one client (smtpd/server.c, smtpd/smtpd.c) */
    B(smtpd_per_record_deadline, "yes",
      "smtpd_timeout limits a whole command line, DATA phase or reply, not one read: tern "
      "defaults to yes (Postfix: no unless overloaded) because one event loop holds thousands "
      "of sessions and a client trickling one octet a second must not hold one forever"),
    B(smtpd_per_request_deadline, "$smtpd_per_record_deadline",
      "Postfix 3.7's name for smtpd_per_record_deadline; this one is used"),
    I(smtpd_min_data_rate, "500",
      "DATA octets per second that extend the deadline (with the per-request deadline)"),
    I(smtpd_junk_command_limit, "100",
      "HELO/EHLO/RSET/NOOP/VRFY/HELP commands before each one counts as an error; reset when a "
      "message is queued (tern also counts HELP)"),
    I(smtpd_soft_error_limit, "10", "errors after which every reply waits smtpd_error_sleep_time"),
    I(smtpd_hard_error_limit, "20", "errors after which the session ends with 421"),
    T(smtpd_error_sleep_time, "1s", "reply delay above smtpd_soft_error_limit"),
    Z(message_size_limit, "10240000", "largest message in bytes; 0: no limit"),
    I(smtpd_recipient_limit, "1000", "recipients per message"),
    I(hopcount_limit, "50",
      "Received: headers (tern's own included) at which a message is refused with 554 5.4.6; "
      "0: no limit"),
    L(mynetworks, "127.0.0.0/8 [::1]/128", "trusted client networks"),
    L(relay_domains, "", "domains this host relays to"),
    L(smtpd_relay_restrictions,
      "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination",
      "relay permission restrictions for RCPT TO"),
    L(smtpd_recipient_restrictions, "", "restrictions for RCPT TO"),
    /* policy_relay.c: evaluated where Postfix evaluates them */
    R(smtpd_client_restrictions, "", "restrictions on the client (connect, or RCPT with delay)"),
    R(smtpd_helo_restrictions, "", "restrictions on HELO/EHLO (or at RCPT with delay)"),
    R(smtpd_sender_restrictions, "", "restrictions on MAIL FROM (or at RCPT with delay)"),
    R(smtpd_data_restrictions, "", "restrictions on the DATA command"),
    R(smtpd_end_of_data_restrictions, "", "restrictions after the message content"),
    B(smtpd_delay_reject, "yes",
      "run client, helo and sender restrictions at RCPT TO (Postfix's default)"),
    I(unknown_address_reject_code, "450",
      "reply code when reject_unknown_sender_domain finds no MX, A nor AAAA record (4xx or 5xx)"),
    R(unknown_address_tempfail_action, "$reject_tempfail_action",
      "reject_unknown_sender_domain after a DNS failure: defer_if_permit (450 4.1.8 only if "
      "the rest of the restrictions would permit) or defer (450 at once)"),
    R(reject_tempfail_action, "defer_if_permit",
      "default of the *_tempfail_action parameters: defer_if_permit or defer"),
    R(smtpd_sender_login_maps, "",
      "SASL login names that own each sender address (reject_sender_login_mismatch)"),
    R(mydestination, "$myhostname, localhost.$mydomain, localhost",
      "tern delivers nothing locally: a recipient in these domains gets 550 5.1.1 \"User "
      "unknown in local recipient table\" and is never relayed (set it empty to relay them)"),
    I(smtpd_client_connection_count_limit, "50", "simultaneous connections per client; 0: none"),
    I(smtpd_client_connection_rate_limit, "0", "connections per client per time unit; 0: none"),
    I(smtpd_client_message_rate_limit, "0", "MAIL commands per client per time unit; 0: none"),
    I(smtpd_client_recipient_rate_limit, "0", "RCPT commands per client per time unit; 0: none"),
    I(smtpd_client_auth_rate_limit, "0", "AUTH commands per client per time unit; 0: none"),
    T(anvil_rate_time_unit, "60s", "time unit of the client rate limits"),
    L(smtpd_client_event_limit_exceptions, "$mynetworks", "clients exempt from client limits"),
    I(smtpd_total_connection_limit, "0",
      "inbound connections in total, then 421; 0: derived from the descriptor limit"),
    B(smtpd_forbid_bare_newline, "yes", "reject bare LF in SMTP input"),

    /* delivery */
    S(relayhost, "", "default next hop"),
    S(transport_maps, "", "per-destination next hop table, type:name"),
    I(default_destination_concurrency_limit, "20", "parallel deliveries per destination"),
    I(smtp_connection_reuse_count_limit, "0", "messages per connection; 0: no limit"),
    T(smtp_connection_cache_time_limit, "2s", "how long an idle connection is kept"),
    T(smtp_connection_reuse_time_limit, "300s",
      "a connection takes no new message after it has been open this long"),
    T(smtp_connect_timeout, "30s", "TCP connect timeout"),
    T(smtp_helo_timeout, "300s", "timeout for the greeting and EHLO reply"),
    T(smtp_data_done_timeout, "600s", "timeout for the reply after end of DATA"),
    B(smtp_pipelining, "yes", "pipeline commands when the server offers PIPELINING"),

    /* queue */
    T(minimal_backoff_time, "300s", "shortest retry interval"),
    T(maximal_backoff_time, "4000s", "longest retry interval"),
    T(maximal_queue_lifetime, "5d", "how long a message is retried"),
    T(bounce_queue_lifetime, "5d", "how long a bounce is retried"),
    Z(queue_map_size, "16g", "LMDB map size of the queue index"),
    Z(queue_minfree, "0",
      "free bytes the queue file system needs to accept MAIL (452 4.3.1); also 1.5 x "
      "message_size_limit and SIZE= plus this"),

    /* SASL (auth/auth.c: Cyrus SASL; policy_sasl.c: options and keys) */
    R(smtpd_sasl_auth_enable, "no", "offer and accept AUTH (RFC 4954)"),
    R(smtpd_sasl_type, "cyrus", "SASL implementation of the server; only cyrus"),
    R(smtpd_sasl_path, "smtpd", "Cyrus application name: the server reads NAME.conf"),
    R(cyrus_sasl_config_path, "", "directory of NAME.conf; empty: Cyrus's search path"),
    R(smtpd_sasl_security_options, "noanonymous", "mechanism restrictions without TLS"),
    R(smtpd_sasl_tls_security_options, "$smtpd_sasl_security_options",
      "mechanism restrictions inside TLS"),
    R(smtpd_sasl_local_domain, "", "SASL realm; empty: Cyrus's default"),
    R(smtpd_tls_auth_only, "no", "offer AUTH only inside TLS"),
    R(smtpd_sasl_authenticated_header, "no", "name the SASL user in the Received: header"),
    R(broken_sasl_auth_clients, "no", "also advertise AUTH=mechs for old Outlook clients"),
    R(smtp_sasl_auth_enable, "no", "authenticate to next hops listed in smtp_sasl_password_maps"),
    R(smtp_sasl_type, "cyrus", "SASL implementation of the client; only cyrus"),
    R(smtp_sasl_password_maps, "", "username:password per server hostname or next hop"),
    R(smtp_sasl_security_options, "noplaintext, noanonymous", "mechanism restrictions without TLS"),
    R(smtp_sasl_tls_security_options, "$smtp_sasl_security_options",
      "mechanism restrictions inside TLS"),
    R(smtp_sasl_auth_soft_bounce, "yes", "an AUTH failure defers (tern always defers: yes)"),

    /* Postfix parameters that have an effect elsewhere (R), are documented no-ops (R,
     * "no-op: ..."), or are refused unless at their default (X: the help says why) */
    R(smtpd_use_tls, "no",
      "the talk's STARTTLS switch (config/tlsconf.c: smtpd_tls_security_level may)"),
    R(smtpd_enforce_tls, "no", "the talk's mandatory STARTTLS (config/tlsconf.c: level encrypt)"),
    R(smtpd_tls_security_level, "", "server TLS level: none, may, encrypt (config/tlsconf.c)"),
    R(smtpd_tls_cert_file, "", "server certificate chain, PEM"),
    R(smtpd_tls_key_file, "$smtpd_tls_cert_file", "server private key, PEM"),
    R(smtpd_tls_CAfile, "", "CAs that verify client certificates"),
    R(smtpd_tls_CApath, "", "directory of CAs that verify client certificates"),
    R(smtpd_tls_loglevel, "0", "server TLS logging, as Postfix"),
    R(smtpd_tls_received_header, "no", "TLS details in the Received: header"),
    R(tls_random_source, "dev:/dev/urandom",
      "no-op: wolfSSL seeds itself from the kernel (getrandom); accepted because Postfix main.cf "
      "files set it"),
    R(smtpd_tls_ask_ccert, "no", "ask clients for a certificate"),
    R(smtpd_tls_req_ccert, "no", "require a verified client certificate (encrypt level)"),
    R(smtpd_tls_protocols, ">=TLSv1.2",
      "TLS protocols the server accepts at level may (RFC 8996: TLS 1.2 and up); Postfix's "
      "syntax widens it: \">=TLSv1\" or \"!SSLv2, !SSLv3\" (TLS 1.0 is not in Debian's wolfSSL)"),
    R(smtpd_tls_mandatory_protocols, ">=TLSv1.2",
      "TLS protocols the server accepts at level encrypt; syntax as smtpd_tls_protocols"),
    R(smtpd_tls_session_cache_database, "", "server session cache, btree:PATH or lmdb:PATH"),
    R(smtpd_tls_session_cache_timeout, "3600s",
      "lifetime of cached server sessions and ticket keys"),
    R(smtpd_tls_fingerprint_digest, "",
      "digest of client certificate fingerprints; unset: follows compatibility_level"),
    X(smtpd_tls_dh1024_param_file, "",
      "tern does not implement it: no DH parameters are loaded, so the DHE cipher suites stay "
      "unused and ECDHE is negotiated; remove it"),
    R(smtpd_tls_ciphers, "medium",
      "cipher grade at level may: medium and high are the AEAD suites with forward secrecy "
      "(plus CBC with SHA-1 below TLS 1.2), low and export add every CBC suite; never NULL, "
      "RC4, DES, 3DES, EXPORT, MD5 or anonymous suites; null is refused"),
    R(smtpd_tls_mandatory_ciphers, "medium", "cipher grade at level encrypt; as smtpd_tls_ciphers"),
    R(smtpd_tls_exclude_ciphers, "",
      "ciphers or \"+\"-joined cipher properties to exclude at every level (\"CAMELLIA, "
      "kEDH+aRSA\"); names of suites tern never offers exclude nothing"),
    R(smtpd_tls_mandatory_exclude_ciphers, "",
      "further ciphers to exclude at level encrypt; syntax as smtpd_tls_exclude_ciphers"),
    R(smtp_use_tls, "no", "the talk's opportunistic outbound TLS (level may)"),
    R(smtp_enforce_tls, "no", "the talk's mandatory outbound TLS (level verify)"),
    R(smtp_tls_security_level, "", "client TLS level: none, may, encrypt, verify, secure"),
    R(smtp_tls_CAfile, "", "CAs that verify servers"),
    R(smtp_tls_CApath, "", "directory of CAs that verify servers"),
    R(smtp_tls_cert_file, "", "client certificate chain, PEM"),
    R(smtp_tls_key_file, "$smtp_tls_cert_file", "client private key, PEM"),
    R(smtp_tls_loglevel, "0", "client TLS logging, as Postfix"),
    R(smtp_tls_note_starttls_offer, "no",
      "log servers that offer STARTTLS while TLS is off for them"),
    R(smtp_tls_session_cache_database, "", "client session cache, btree:PATH or lmdb:PATH"),
    R(smtp_tls_session_cache_timeout, "3600s", "lifetime of cached client sessions"),
    R(smtp_tls_per_site, "", "the talk's per-site TLS table (NONE, MAY, MUST, MUST_NOPEERMATCH)"),
    R(smtp_tls_policy_maps, "", "per-destination TLS policy table"),
    R(smtp_tls_fingerprint_digest, "",
      "digest of server certificate fingerprints; unset: follows compatibility_level"),
    R(smtp_tls_protocols, ">=TLSv1.2",
      "TLS protocols the client offers at level may (RFC 8996: TLS 1.2 and up); syntax as "
      "smtpd_tls_protocols; per site: protocols= in smtp_tls_policy_maps"),
    R(smtp_tls_mandatory_protocols, ">=TLSv1.2",
      "TLS protocols the client offers at levels encrypt and up; syntax as smtpd_tls_protocols"),
    R(smtp_tls_ciphers, "medium",
      "client cipher grade at level may; grades as smtpd_tls_ciphers; per site: ciphers="),
    R(smtp_tls_mandatory_ciphers, "medium",
      "client cipher grade at levels encrypt and up; grades as smtpd_tls_ciphers"),
    R(smtp_tls_exclude_ciphers, "",
      "ciphers the client excludes at every level; syntax as smtpd_tls_exclude_ciphers; per "
      "site: exclude="),
    R(smtp_tls_mandatory_exclude_ciphers, "",
      "further ciphers the client excludes at levels encrypt and up"),
    R(smtpd_tls_eccert_file, "", "second (ECDSA) server certificate chain"),
    R(smtpd_tls_eckey_file, "$smtpd_tls_eccert_file", "key of the ECDSA certificate"),
    R(smtp_tls_enforce_peername, "yes",
      "the talk's MUST checks the server name (no: MUST_NOPEERMATCH)"),
    R(smtp_tls_verify_cert_match, "hostname",
      "names a server certificate must match at level verify"),
    R(smtp_tls_secure_cert_match, "nexthop, dot-nexthop",
      "names a server certificate must match at level secure"),
    R(smtp_tls_scert_verifydepth, "9", "longest server certificate chain verified"),
    R(smtpd_tls_ccert_verifydepth, "9", "longest client certificate chain verified"),
    R(relay_clientcerts, "",
      "certificate fingerprints permitted to relay (permit_tls_clientcerts)"),
    R(smtpd_restriction_classes, "", "names of parameters that hold restriction lists"),
    X(smtpd_forbid_bare_newline_exclusions, "",
      "tern does not implement it: a bare newline is rejected from every client (Postfix exempts "
      "$mynetworks by default)"),
    X(inet_interfaces, "all",
      "port-25 listen addresses when smtpd_listen is not set: all, loopback-only, or IP addresses "
      "(config/config.c inet_interfaces())"),
    X(inet_protocols, "all",
      "all, ipv4, ipv6: the address families of inet_interfaces = all/loopback-only; only with "
      "inet_interfaces (outbound connections use both families)"),
    X(alias_maps, "",
      "tern delivers nothing locally (mail for $mydestination gets 550 5.1.1 User unknown): remove "
      "it"),
    X(alias_database, "",
      "tern delivers nothing locally (mail for $mydestination gets 550 5.1.1 User unknown): remove "
      "it"),
    X(append_dot_mydomain, "no", "tern does not implement it: addresses are never rewritten"),
    R(biff, "yes", "no-op: tern delivers nothing locally, so there is nothing to notify"),
    R(readme_directory, "/usr/share/doc/postfix", "no-op: where Postfix keeps its README files"),
    X(notify_classes, "",
      "tern does not implement it: no postmaster notices are sent, problems are logged"),
    X(delay_warning_time, "0h", "tern does not implement it: no delay warnings are sent"),
    X(queue_run_delay, "300s",
      "tern does not implement it: each recipient is retried at its own time "
      "(minimal_backoff_time, maximal_backoff_time)"),
    /* found in Debian's stock Postfix main.cf */
    R(data_directory, "/var/lib/tern",
      "no-op: Postfix's directory for caches and locks; tern keeps each cache where its "
      "*_cache_database names it"),
    R(mailbox_size_limit, "51200000",
      "no-op: a local delivery limit, and tern delivers nothing locally (Debian's main.cf sets "
      "it)"),
    X(recipient_delimiter, "",
      "tern does not implement it: table lookups of user+ext@domain do not fall back to "
      "user@domain"),
};

#define NPARAM (sizeof(param_table) / sizeof(param_table[0]))

int config_param_doc(size_t i, struct config_param_doc *out)
{
    static const char *const type_names[] = {"string", "integer", "time",
                                             "size",   "boolean", "list"};
    if (i >= NPARAM)
        return -ENOENT;
    const struct param *p = &param_table[i];
    out->name = p->name;
    out->type = type_names[p->type];
    out->dflt = p->dyn == DYN_MYHOSTNAME || p->dyn == DYN_MYDOMAIN ? NULL : p->dflt;
    out->help = p->help;
    out->refused = p->dyn == DYN_REFUSED;
    out->raw = p->off < 0 && p->dyn != DYN_REFUSED;
    return 0;
}

/* Smallest values of integer parameters where 0 makes no sense (Postfix's minimums). */
static const struct {
    const char *name;
    int min;
} param_min[] = {
    {"smtpd_min_data_rate", 1},
    {"smtpd_junk_command_limit", 1},
    {"smtpd_soft_error_limit", 1},
    {"smtpd_hard_error_limit", 1},
};

/* param_min_of - the smallest value a P_INT parameter accepts */
static int param_min_of(const char *name)
{
    for (size_t i = 0; i < sizeof(param_min) / sizeof(param_min[0]); i++)
        if (strcmp(param_min[i].name, name) == 0)
            return param_min[i].min;
    return 0;
}

/* param_find - table index of name[0..len), or -1 */
static int param_find(const char *name, size_t len)
{
    for (size_t i = 0; i < NPARAM; i++)
        if (strncmp(param_table[i].name, name, len) == 0 && param_table[i].name[len] == 0)
            return (int)i;
    return -1;
}

/* set_err - *err = formatted malloc'd message (err may be NULL) */
__attribute__((format(printf, 2, 3))) static void set_err(char **err, const char *fmt, ...)
{
    if (!err || *err)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(err, fmt, ap) < 0)
        *err = NULL;
    va_end(ap);
}

/*
 * Value parsers.
 */

/* config_parse_time - "300", "300s", "5m", "1h", "5d", "1w" */
int config_parse_time(const char *s, char default_unit, int *out_seconds)
{
    if (!s || !isdigit((unsigned char)*s))
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    if (errno)
        return -EINVAL;
    char unit = *end ? *end++ : default_unit;
    if (*end)
        return -EINVAL;
    unsigned long long mul;
    switch (tolower((unsigned char)unit)) {
    case 's':
        mul = 1;
        break;
    case 'm':
        mul = 60;
        break;
    case 'h':
        mul = 3600;
        break;
    case 'd':
        mul = 86400;
        break;
    case 'w':
        mul = 7 * 86400;
        break;
    default:
        return -EINVAL;
    }
    if (n > (unsigned long long)INT_MAX / mul)
        return -EINVAL;
    *out_seconds = (int)(n * mul);
    return 0;
}

/* config_parse_size - bytes with an optional k/m/g suffix (powers of 1024) */
int config_parse_size(const char *s, long *out_bytes)
{
    if (!s || !isdigit((unsigned char)*s))
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    if (errno)
        return -EINVAL;
    unsigned long long mul = 1;
    if (*end) {
        switch (tolower((unsigned char)*end)) {
        case 'k':
            mul = 1ULL << 10;
            break;
        case 'm':
            mul = 1ULL << 20;
            break;
        case 'g':
            mul = 1ULL << 30;
            break;
        default:
            return -EINVAL;
        }
        if (end[1])
            return -EINVAL;
    }
    if (n > (unsigned long long)LONG_MAX / mul)
        return -EINVAL;
    *out_bytes = (long)(n * mul);
    return 0;
}

/* config_parse_bool - yes/no, any case */
bool config_get_bool(const struct tern_config *cfg, const char *name)
{
    bool b = false;
    return config_parse_bool(config_get(cfg, name), &b) == 0 && b;
}

int config_parse_bool(const char *s, bool *out)
{
    if (!s)
        return -EINVAL;
    if (strcasecmp(s, "yes") == 0)
        *out = true;
    else if (strcasecmp(s, "no") == 0)
        *out = false;
    else
        return -EINVAL;
    return 0;
}

/* parse_int - a non-negative decimal that fits an int */
static int parse_int(const char *s, int *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return -EINVAL;
    char *end;
    errno = 0;
    long n = strtol(s, &end, 10);
    if (errno || *end || n > INT_MAX)
        return -EINVAL;
    *out = (int)n;
    return 0;
}

/* is_list_sep - list separators: commas and whitespace */
static int is_list_sep(char c)
{
    return c == ',' || isspace((unsigned char)c);
}

/* config_split_list - split on commas/whitespace into a config_list */
int config_split_list(const char *s, struct config_list *out)
{
    struct config_list l = {0, NULL};
    size_t cap = 0;
    const char *p = s ? s : "";

    for (;;) {
        while (*p && is_list_sep(*p))
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && !is_list_sep(*p))
            p++;
        if (l.n + 1 >= cap) {
            size_t ncap = cap ? cap * 2 : 4;
            char **ni = realloc(l.item, ncap * sizeof(*ni));
            if (!ni)
                goto fail;
            l.item = ni;
            cap = ncap;
        }
        if (!(l.item[l.n] = strndup(start, (size_t)(p - start))))
            goto fail;
        l.n++;
    }
    *out = l;
    return 0;

fail:
    config_list_free(&l);
    return -ENOMEM;
}

/* config_list_free - free the items; the list is left empty */
void config_list_free(struct config_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->item[i]);
    free(l->item);
    l->n = 0;
    l->item = NULL;
}

/*
 * Expansion.
 */

/* lookup_fn - value of name[0..len) (*val NULL: undefined), 0 or -errno */
#define CONFIG_VALUE_MAX (1 << 20) /* octets of one expanded value */
#define CONFIG_NESTING_MAX 100     /* nested $name references and ${name?...} */

typedef int (*lookup_fn)(void *arg, const char *name, size_t len, const char **val);

static int expand(const char *text, size_t tlen, lookup_fn fn, void *arg, struct buf *out,
                  int nest);

/* is_name_char - characters of a parameter name */
static int is_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* expand_one - one $ expression at *pp (just past the '$') */
static int expand_one(const char **pp, const char *end, lookup_fn fn, void *arg, struct buf *out,
                      int nest)
{
    const char *p = *pp;
    const char *name;
    size_t nlen;
    const char *val = NULL;
    int rc;

    if (p < end && *p == '$') {
        *pp = p + 1;
        return buf_append(out, "$", 1);
    }
    if (p < end && is_name_char(*p)) {
        name = p;
        while (p < end && is_name_char(*p))
            p++;
        nlen = (size_t)(p - name);
        *pp = p;
        if ((rc = fn(arg, name, nlen, &val)) < 0)
            return rc;
        return val ? buf_puts(out, val) : 0;
    }
    if (p < end && (*p == '{' || *p == '(')) {
        char open = *p, close = open == '{' ? '}' : ')';
        p++;
        name = p;
        while (p < end && is_name_char(*p))
            p++;
        nlen = (size_t)(p - name);
        if (nlen == 0 || p >= end)
            return -EINVAL;
        if (*p == close) {
            *pp = p + 1;
            if ((rc = fn(arg, name, nlen, &val)) < 0)
                return rc;
            return val ? buf_puts(out, val) : 0;
        }
        if (*p != '?' && *p != ':')
            return -EINVAL;
        /* ${name?text}: text when name is non-empty; ${name:text}: when empty */
        char op = *p++;
        const char *t = p;
        int depth = 1;
        for (; p < end; p++) {
            if (*p == open)
                depth++;
            else if (*p == close && --depth == 0)
                break;
        }
        if (p >= end)
            return -EINVAL;
        *pp = p + 1;
        if ((rc = fn(arg, name, nlen, &val)) < 0)
            return rc;
        bool nonempty = val && *val;
        if ((op == '?') == nonempty)
            return expand(t, (size_t)(p - t), fn, arg, out, nest + 1);
        return 0;
    }
    /* a lone '$' stays literal */
    return buf_append(out, "$", 1);
}

/* expand - append text[0..tlen) with $ expressions replaced to out; -ELOOP when ${name?...}
 * nest deeper than CONFIG_NESTING_MAX */
static int expand(const char *text, size_t tlen, lookup_fn fn, void *arg, struct buf *out, int nest)
{
    const char *p = text, *end = text + tlen;
    int rc;

    if (nest > CONFIG_NESTING_MAX)
        return -ELOOP;

    while (p < end) {
        const char *d = memchr(p, '$', (size_t)(end - p));
        if (!d)
            return buf_append(out, p, (size_t)(end - p));
        if ((rc = buf_append(out, p, (size_t)(d - p))) < 0)
            return rc;
        p = d + 1;
        if ((rc = expand_one(&p, end, fn, arg, out, nest)) < 0)
            return rc;
        if (buf_used(out) > CONFIG_VALUE_MAX)
            return -E2BIG;
    }
    return 0;
}

/* local_hostname - gethostname(), made fully qualified when possible; malloc'd */
static char *local_hostname(void)
{
    char name[256];
    if (gethostname(name, sizeof(name) - 1) < 0 || !*name)
        return strdup("localhost");
    name[sizeof(name) - 1] = 0;
    if (!strchr(name, '.')) {
        struct addrinfo hints = {.ai_flags = AI_CANONNAME, .ai_socktype = SOCK_STREAM};
        struct addrinfo *res = NULL;
        if (getaddrinfo(name, NULL, &hints, &res) == 0 && res) {
            if (res->ai_canonname && strchr(res->ai_canonname, '.')) {
                char *fq = strdup(res->ai_canonname);
                freeaddrinfo(res);
                return fq;
            }
            freeaddrinfo(res);
        }
    }
    return strdup(name);
}

/* domain_of - myhostname minus its first label, or "localdomain"; malloc'd */
static char *domain_of(const char *host)
{
    const char *dot = host ? strchr(host, '.') : NULL;
    return strdup(dot && dot[1] ? dot + 1 : "localdomain");
}

/*
 * Loading.
 */

enum { ST_NEW, ST_BUSY, ST_DONE };

struct entry {
    const char *name; /* table name, or == uname */
    char *uname;      /* unknown parameter: malloc'd name */
    int tidx;         /* table index or -1 */
    char *text;       /* text from main.cf, or NULL: default */
    int line;         /* 0 = default */
    int state;
    char *value; /* expanded */
};

struct loader {
    const char *path;  /* for messages: DIR/main.cf */
    struct entry *ent; /* NPARAM table entries, then unknown ones */
    size_t n, cap;
    int *stack; /* entries being expanded */
    size_t depth;
    char *err;
};

/* loader_find - entry index of name[0..len), or -1 */
static int loader_find(struct loader *ld, const char *name, size_t len)
{
    int t = param_find(name, len);
    if (t >= 0)
        return t;
    for (size_t i = NPARAM; i < ld->n; i++)
        if (strncmp(ld->ent[i].name, name, len) == 0 && ld->ent[i].name[len] == 0)
            return (int)i;
    return -1;
}

/* loader_where - "PATH line N" or "PATH" for messages, formatted into tmp */
static const char *loader_where(struct loader *ld, int line, char *tmp, size_t tlen)
{
    if (line > 0)
        snprintf(tmp, tlen, "%s line %d", ld->path, line);
    else
        snprintf(tmp, tlen, "%s", ld->path);
    return tmp;
}

static int resolve(struct loader *ld, int i);

/* loader_lookup - lookup_fn for loading: expand the named entry first */
static int loader_lookup(void *arg, const char *name, size_t len, const char **val)
{
    struct loader *ld = arg;
    int i = loader_find(ld, name, len);
    *val = NULL;
    if (i < 0)
        return 0; /* undefined: empty, like Postfix */
    int rc = resolve(ld, i);
    if (rc < 0)
        return rc;
    *val = ld->ent[i].value;
    return 0;
}

/* resolve - expand entry i (memoised); a loop is -ELOOP with ld->err set */
static int resolve(struct loader *ld, int i)
{
    struct entry *e = &ld->ent[i];
    struct buf b = BUF_INIT;
    char *dyn = NULL;
    char where[512];
    int rc;

    if (e->state == ST_DONE)
        return 0;
    if (e->state == ST_BUSY) {
        /* Name the loop after a member that main.cf sets. */
        size_t k = ld->depth;
        while (k > 0 && ld->stack[k - 1] != i)
            k--;
        int line = 0;
        for (size_t j = k ? k - 1 : 0; j < ld->depth && !line; j++)
            line = ld->ent[ld->stack[j]].line;
        set_err(&ld->err, "%s: recursive expansion loop for parameter %s",
                loader_where(ld, line, where, sizeof(where)), e->name);
        return -ELOOP;
    }
    if (ld->depth >= CONFIG_NESTING_MAX) {
        set_err(&ld->err, "%s: $ references nested more than %d deep at %s",
                loader_where(ld, e->line, where, sizeof(where)), CONFIG_NESTING_MAX, e->name);
        return -ELOOP;
    }
    e->state = ST_BUSY;
    ld->stack[ld->depth++] = i;

    /* Unknown parameters always have text; table ones fall back to the default. */
    const struct param *p = e->tidx >= 0 ? &param_table[e->tidx] : NULL;
    const char *text = e->text ? e->text : p && p->dflt ? p->dflt : "";
    if (!e->text && p && p->dyn == DYN_MYHOSTNAME) {
        rc = (dyn = local_hostname()) ? buf_puts(&b, dyn) : -ENOMEM;
    } else if (!e->text && p && p->dyn == DYN_MYDOMAIN) {
        const char *host = NULL;
        rc = loader_lookup(ld, "myhostname", strlen("myhostname"), &host);
        if (rc == 0)
            rc = (dyn = domain_of(host)) ? buf_puts(&b, dyn) : -ENOMEM;
    } else {
        rc = expand(text, strlen(text), loader_lookup, ld, &b, 0);
    }
    free(dyn);
    if (rc == -EINVAL)
        set_err(&ld->err, "%s: bad $ expression in %s: \"%s\"",
                loader_where(ld, e->line, where, sizeof(where)), e->name, text);
    if (rc == -ELOOP && !ld->err)
        set_err(&ld->err, "%s: ${name?...} nested more than %d deep in %s",
                loader_where(ld, e->line, where, sizeof(where)), CONFIG_NESTING_MAX, e->name);
    if (rc == -E2BIG && !ld->err)
        set_err(&ld->err, "%s: the value of %s is longer than %d octets after expansion",
                loader_where(ld, e->line, where, sizeof(where)), e->name, CONFIG_VALUE_MAX);
    if (rc < 0)
        goto fail;
    if (!(e->value = buf_steal(&b, NULL))) {
        rc = -ENOMEM;
        goto fail;
    }
    ld->depth--;
    e->state = ST_DONE;
    return 0;

fail:
    buf_free(&b);
    ld->depth--;
    e->state = ST_NEW;
    return rc;
}

/* loader_set - record name = value from line */
static int loader_set(struct loader *ld, const char *name, size_t nlen, const char *value, int line)
{
    int i = loader_find(ld, name, nlen);
    if (i < 0) {
        if (ld->n == ld->cap) {
            size_t ncap = ld->cap * 2;
            struct entry *ne = realloc(ld->ent, ncap * sizeof(*ne));
            if (!ne)
                return -ENOMEM;
            ld->ent = ne;
            ld->cap = ncap;
        }
        struct entry *e = &ld->ent[ld->n];
        memset(e, 0, sizeof(*e));
        if (!(e->uname = strndup(name, nlen)))
            return -ENOMEM;
        e->name = e->uname;
        e->tidx = -1;
        i = (int)ld->n++;
    }
    struct entry *e = &ld->ent[i];
    char *v = strdup(value);
    if (!v)
        return -ENOMEM;
    free(e->text); /* the last setting wins, as in Postfix */
    e->text = v;
    e->line = line;
    return 0;
}

/* trim - strip leading and trailing whitespace in place */
static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

/* loader_logical - one logical line "name = value" that started at line */
static int loader_logical(struct loader *ld, char *text, int line)
{
    char where[512];
    char *eq = strchr(text, '=');
    if (!eq) {
        set_err(&ld->err, "%s: missing '=' after parameter name: \"%s\"",
                loader_where(ld, line, where, sizeof(where)), text);
        return -EINVAL;
    }
    *eq = 0;
    char *name = trim(text);
    char *value = trim(eq + 1);
    bool ok = *name != 0;
    for (char *c = name; *c; c++)
        if (!is_name_char(*c) && *c != '-' && *c != '.')
            ok = false;
    if (!ok) {
        set_err(&ld->err, "%s: bad parameter name: \"%s\"",
                loader_where(ld, line, where, sizeof(where)), name);
        return -EINVAL;
    }
    return loader_set(ld, name, strlen(name), value, line);
}

/* loader_read - pass 1: main.cf into entries */
static int loader_read(struct loader *ld, FILE *fp)
{
    struct buf logical = BUF_INIT;
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, start = 0, rc = 0;
    char where[512];

    for (;;) {
        ssize_t n = getline(&line, &cap, fp);
        if (n < 0)
            break;
        lineno++;
        if (memchr(line, 0, (size_t)n) != NULL) {
            /* a C string would end there: the rest of the value would vanish in silence */
            set_err(&ld->err, "%s: NUL byte in the line (a binary or damaged file?)",
                    loader_where(ld, lineno, where, sizeof(where)));
            rc = -EINVAL;
            goto fail;
        }
        char *t = trim(line);
        if (*t == 0 || *t == '#')
            continue;
        if (isspace((unsigned char)line[0])) {
            if (!start) {
                set_err(&ld->err, "%s: continuation line without a parameter before it",
                        loader_where(ld, lineno, where, sizeof(where)));
                rc = -EINVAL;
                goto fail;
            }
            if ((rc = buf_puts(&logical, " ")) < 0 || (rc = buf_puts(&logical, t)) < 0)
                goto fail;
            continue;
        }
        if (start && (rc = loader_logical(ld, buf_ptr(&logical), start)) < 0)
            goto fail;
        buf_reset(&logical);
        if ((rc = buf_puts(&logical, t)) < 0)
            goto fail;
        start = lineno;
    }
    if (ferror(fp)) {
        rc = -EIO;
        set_err(&ld->err, "%s: read error", ld->path);
        goto fail;
    }
    if (start)
        rc = loader_logical(ld, buf_ptr(&logical), start);

fail:
    free(line);
    buf_free(&logical);
    return rc;
}

/* raw_cmp - order raw[] by name */
static int raw_cmp(const void *a, const void *b)
{
    return strcmp(((const struct config_raw *)a)->name, ((const struct config_raw *)b)->name);
}

#define LOCAL_ONLY                                                                                 \
    "tern delivers nothing locally (mail for $mydestination gets 550 5.1.1 User unknown): remove " \
    "it"
#define NO_REWRITE "tern does not implement address rewriting: mail would be relayed unrewritten"

/* Postfix parameters outside the table that would change where mail goes: refused by name
 * (prefix: every name that starts so) rather than warned about as unknown */
static const struct {
    const char *name;
    bool prefix;
    const char *why;
} refused_unknown[] = {
    {"local_", true, LOCAL_ONLY},
    {"mailbox_command", false, LOCAL_ONLY},
    {"mailbox_transport", false, LOCAL_ONLY},
    {"home_mailbox", false, LOCAL_ONLY},
    {"luser_relay", false, LOCAL_ONLY},
    {"fallback_transport", false, LOCAL_ONLY},
    {"forward_path", false, LOCAL_ONLY},
    {"virtual_alias_maps", false, NO_REWRITE},
    {"virtual_alias_domains", false, NO_REWRITE},
    {"virtual_mailbox_domains", false, LOCAL_ONLY},
    {"virtual_mailbox_maps", false, LOCAL_ONLY},
    {"canonical_maps", false, NO_REWRITE},
    {"sender_canonical_maps", false, NO_REWRITE},
    {"recipient_canonical_maps", false, NO_REWRITE},
    {"relocated_maps", false, NO_REWRITE},
    {"masquerade_domains", false, NO_REWRITE},
    {"smtp_generic_maps", false, NO_REWRITE},
};

/* same_value - equal but for blanks and commas between words, or the same time */
static bool same_value(const char *a, const char *b)
{
    int ta, tb;
    if (config_parse_time(a, 's', &ta) == 0 && config_parse_time(b, 's', &tb) == 0)
        return ta == tb;
    for (;;) {
        a += strspn(a, " \t,");
        b += strspn(b, " \t,");
        size_t la = strcspn(a, " \t,"), lb = strcspn(b, " \t,");
        if (la != lb || strncmp(a, b, la) != 0)
            return false;
        if (la == 0)
            return true;
        a += la;
        b += lb;
    }
}

/* refuse - a parameter tern knows but does not implement, set to other than its default */
static int refuse(struct loader *ld, const struct entry *e)
{
    char where[512];
    const char *why = NULL;
    if (e->line <= 0)
        return 0;
    if (e->tidx >= 0) {
        const struct param *p = &param_table[e->tidx];
        if (p->dyn != DYN_REFUSED || strncmp(p->name, "inet_", 5) == 0 ||
            same_value(e->value, p->dflt))
            return 0;
        why = p->help;
    } else if (e->value[strspn(e->value, " \t,")] == 0) {
        return 0; /* "local_recipient_maps =" in a relay's main.cf turns the feature off */
    }
    for (size_t i = 0; !why && i < sizeof(refused_unknown) / sizeof(refused_unknown[0]); i++)
        if (refused_unknown[i].prefix
                ? strncmp(e->name, refused_unknown[i].name, strlen(refused_unknown[i].name)) == 0
                : strcmp(e->name, refused_unknown[i].name) == 0)
            why = refused_unknown[i].why;
    if (!why)
        return 0;
    set_err(&ld->err, "%s: %s: %s", loader_where(ld, e->line, where, sizeof(where)), e->name, why);
    return -EINVAL;
}

/* loader_entry - the entry of a table parameter */
static struct entry *loader_entry(struct loader *ld, const char *name)
{
    for (size_t i = 0; i < ld->n; i++)
        if (strcmp(ld->ent[i].name, name) == 0)
            return &ld->ent[i];
    return NULL;
}

/* list_add - append a copy of item */
static int list_add(struct config_list *l, const char *item)
{
    char **v = realloc(l->item, (l->n + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    l->item = v;
    if (!(l->item[l->n] = strdup(item)))
        return -ENOMEM;
    l->n++;
    return 0;
}

/* interface_add - one inet_interfaces word as port-25 listeners of the enabled families */
static int interface_add(struct config_list *l, const char *word, bool v4, bool v6)
{
    char buf[64], item[80];
    unsigned char bin[16];
    int rc = 0;
    if (strcmp(word, "all") == 0) {
        if (v4 && (rc = list_add(l, "0.0.0.0:25")) < 0)
            return rc;
        return v6 ? list_add(l, "[::]:25") : 0;
    }
    if (strcmp(word, "loopback-only") == 0 || strcmp(word, "localhost") == 0) {
        if (v4 && (rc = list_add(l, "127.0.0.1:25")) < 0)
            return rc;
        return v6 ? list_add(l, "[::1]:25") : 0;
    }
    size_t len = strlen(word);
    if (len >= 2 && word[0] == '[' && word[len - 1] == ']') {
        word++;
        len -= 2;
    }
    if (len >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, word, len);
    buf[len] = 0;
    if (inet_pton(AF_INET, buf, bin) == 1 && v4)
        snprintf(item, sizeof(item), "%s:25", buf);
    else if (inet_pton(AF_INET6, buf, bin) == 1 && v6)
        snprintf(item, sizeof(item), "[%s]:25", buf);
    else
        return -EINVAL;
    return list_add(l, item);
}

/* inet_interfaces - Postfix's inet_interfaces and inet_protocols as the port-25 listeners when
 * smtpd_listen is not set (tern's own default stays 127.0.0.1:25 while neither is set) */
static int inet_interfaces(struct loader *ld, struct tern_config *cfg)
{
    char where[512];
    struct entry *ii = loader_entry(ld, "inet_interfaces");
    struct entry *ip = loader_entry(ld, "inet_protocols");
    struct entry *sl = loader_entry(ld, "smtpd_listen");
    bool v4 = false, v6 = false;
    struct config_list words = {0, NULL}, listen = {0, NULL};
    int rc = config_split_list(ip->value, &words);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < words.n && rc == 0; i++) {
        if (strcmp(words.item[i], "all") == 0)
            v4 = v6 = true;
        else if (strcmp(words.item[i], "ipv4") == 0)
            v4 = true;
        else if (strcmp(words.item[i], "ipv6") == 0)
            v6 = true;
        else
            rc = -EINVAL;
    }
    config_list_free(&words);
    if (rc < 0 || !(v4 || v6)) {
        set_err(&ld->err, "%s: inet_protocols: bad value \"%s\" (all, ipv4, ipv6)",
                loader_where(ld, ip->line, where, sizeof(where)), ip->value);
        return -EINVAL;
    }
    if (ii->line <= 0) {
        if (ip->line > 0 && !(v4 && v6)) {
            set_err(&ld->err, "%s: inet_protocols: %s",
                    loader_where(ld, ip->line, where, sizeof(where)),
                    "tern applies it only to inet_interfaces (outbound connections use both "
                    "families): list the addresses in smtpd_listen instead");
            return -EINVAL;
        }
        return 0;
    }
    if (sl->line > 0) {
        set_err(&ld->err,
                "%s: inet_interfaces: smtpd_listen is set too (line %d): set one of them "
                "(inet_interfaces names port-25 addresses, smtpd_listen addr:port)",
                loader_where(ld, ii->line, where, sizeof(where)), sl->line);
        return -EINVAL;
    }
    if ((rc = config_split_list(ii->value, &words)) < 0)
        return rc;
    for (size_t i = 0; i < words.n && rc == 0; i++)
        if ((rc = interface_add(&listen, words.item[i], v4, v6)) == -EINVAL)
            set_err(&ld->err,
                    "%s: inet_interfaces: \"%s\" is not an IP address of an enabled family "
                    "(inet_protocols = %s; tern does not resolve names here)",
                    loader_where(ld, ii->line, where, sizeof(where)), words.item[i], ip->value);
    config_list_free(&words);
    if (rc == 0 && listen.n == 0) {
        set_err(&ld->err, "%s: inet_interfaces: no address",
                loader_where(ld, ii->line, where, sizeof(where)));
        rc = -EINVAL;
    }
    if (rc < 0) {
        config_list_free(&listen);
        return rc;
    }
    config_list_free(&cfg->smtpd_listen);
    cfg->smtpd_listen = listen;
    return 0;
}

/* loader_convert - pass 3: typed values into cfg, everything into cfg->raw */
static int loader_convert(struct loader *ld, struct tern_config *cfg)
{
    char where[512];
    char host[256];
    int port;

    if (!(cfg->raw = calloc(ld->n, sizeof(*cfg->raw))))
        return -ENOMEM;
    for (size_t i = 0; i < ld->n; i++) {
        struct entry *e = &ld->ent[i];
        struct config_raw *r = &cfg->raw[cfg->nraw];
        if (!(r->name = strdup(e->name)) || !(r->value = strdup(e->value))) {
            free(r->name);
            return -ENOMEM;
        }
        r->line = e->line;
        cfg->nraw++;
        int refused = refuse(ld, e);
        if (refused < 0)
            return refused;
        if (e->tidx < 0 || param_table[e->tidx].off < 0)
            continue;

        const struct param *p = &param_table[e->tidx];
        void *field = (char *)cfg + p->off;
        int rc = 0;
        switch (p->type) {
        case P_STRING:
            if (p->port >= 0 && *e->value)
                rc = hostport_split(e->value, p->port, host, sizeof(host), &port);
            if (rc == 0 && !(*(char **)field = strdup(e->value)))
                return -ENOMEM;
            break;
        case P_INT:
            rc = parse_int(e->value, field);
            if (rc == 0 && *(int *)field < param_min_of(p->name))
                rc = -EINVAL;
            break;
        case P_TIME:
            rc = config_parse_time(e->value, p->unit, field);
            break;
        case P_SIZE:
            rc = config_parse_size(e->value, field);
            break;
        case P_BOOL:
            rc = config_parse_bool(e->value, field);
            break;
        case P_LIST: {
            struct config_list *l = field;
            if ((rc = config_split_list(e->value, l)) < 0)
                return rc;
            for (size_t k = 0; p->port >= 0 && k < l->n && rc == 0; k++)
                rc = hostport_split(l->item[k], p->port, host, sizeof(host), &port);
            break;
        }
        }
        if (rc < 0) {
            set_err(&ld->err, "%s: bad value for %s: \"%s\"",
                    loader_where(ld, e->line, where, sizeof(where)), p->name, e->value);
            return -EINVAL;
        }
    }
    qsort(cfg->raw, cfg->nraw, sizeof(*cfg->raw), raw_cmp);
    return inet_interfaces(ld, cfg);
}

/* config_free - release everything */
static void config_free(struct tern_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < NPARAM; i++) {
        const struct param *p = &param_table[i];
        if (p->off < 0)
            continue;
        if (p->type == P_STRING)
            free(*(char **)((char *)cfg + p->off));
        else if (p->type == P_LIST)
            config_list_free((struct config_list *)((char *)cfg + p->off));
    }
    for (size_t i = 0; i < cfg->nraw; i++) {
        free(cfg->raw[i].name);
        free(cfg->raw[i].value);
    }
    free(cfg->raw);
    free(cfg->config_directory);
    free(cfg);
}

/* load - read path (NULL: defaults only) into a new config */
static int load(struct tern_config **out, const char *dir, const char *path, char **err)
{
    struct loader ld = {.path = path ? path : "main.cf"};
    struct tern_config *cfg = NULL;
    FILE *fp = NULL;
    int rc;

    *out = NULL;
    if (err)
        *err = NULL;
    ld.cap = NPARAM + 16;
    if (!(ld.ent = calloc(ld.cap, sizeof(*ld.ent)))) {
        rc = -ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < NPARAM; i++) {
        ld.ent[i].name = param_table[i].name;
        ld.ent[i].tidx = (int)i;
    }
    ld.n = NPARAM;

    if (path) {
        if (!(fp = fopen(path, "r"))) {
            rc = -errno;
            set_err(&ld.err, "cannot open %s: %s", path, strerror(errno));
            goto fail;
        }
        if ((rc = loader_read(&ld, fp)) < 0)
            goto fail;
    }

    if (!(ld.stack = calloc(ld.n, sizeof(*ld.stack)))) {
        rc = -ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < ld.n; i++)
        if ((rc = resolve(&ld, (int)i)) < 0) {
            if (rc == -ELOOP || rc == -E2BIG)
                rc = -EINVAL;
            goto fail;
        }

    if (!(cfg = calloc(1, sizeof(*cfg)))) {
        rc = -ENOMEM;
        goto fail;
    }
    atomic_init(&cfg->refs, 1);
    if (!(cfg->config_directory = strdup(dir))) {
        rc = -ENOMEM;
        goto fail;
    }
    if ((rc = loader_convert(&ld, cfg)) < 0)
        goto fail;
    *out = cfg;
    cfg = NULL;
    rc = 0;

fail:
    if (rc == -ENOMEM)
        set_err(&ld.err, "%s: out of memory", ld.path);
    if (fp)
        fclose(fp);
    config_free(cfg);
    for (size_t i = 0; i < ld.n; i++) {
        free(ld.ent[i].uname);
        free(ld.ent[i].text);
        free(ld.ent[i].value);
    }
    free(ld.ent);
    free(ld.stack);
    if (err)
        *err = ld.err;
    else
        free(ld.err);
    return rc;
}

/* config_load - read DIR/main.cf; *out gets a config with one reference */
int config_load(struct tern_config **out, const char *config_dir, char **err)
{
    char *path = NULL;
    if (asprintf(&path, "%s/main.cf", config_dir) < 0) {
        *out = NULL;
        if (err)
            *err = NULL;
        return -ENOMEM;
    }
    int rc = load(out, config_dir, path, err);
    free(path);
    return rc;
}

/* config_defaults - a config with every default (for tests and `ternd -n`) */
int config_defaults(struct tern_config **out, char **err)
{
    return load(out, "/etc/tern", NULL, err);
}

/* config_nonblank - see config/config.h */
const char *config_nonblank(const char *v)
{
    return v && v[strspn(v, " \t\r\n,")] ? v : NULL;
}

/* config_get - expanded value of any parameter named in main.cf or the table; NULL if neither */
const char *config_get(const struct tern_config *cfg, const char *name)
{
    if (!cfg || !name)
        return NULL;
    struct config_raw key = {.name = (char *)name};
    const struct config_raw *r = bsearch(&key, cfg->raw, cfg->nraw, sizeof(*cfg->raw), raw_cmp);
    return r ? r->value : NULL;
}

/* cfg_lookup - lookup_fn over a loaded config's final values */
static int cfg_lookup(void *arg, const char *name, size_t len, const char **val)
{
    char tmp[256];
    if (len >= sizeof(tmp)) {
        *val = NULL;
        return 0;
    }
    memcpy(tmp, name, len);
    tmp[len] = 0;
    *val = config_get(arg, tmp);
    return 0;
}

/* default_value - table default of param t expanded against cfg; malloc'd or NULL */
static char *default_value(const struct tern_config *cfg, int t)
{
    const struct param *p = &param_table[t];
    struct buf b = BUF_INIT;

    if (p->dyn == DYN_MYHOSTNAME)
        return local_hostname();
    if (p->dyn == DYN_MYDOMAIN)
        return domain_of(config_get(cfg, "myhostname"));
    if (expand(p->dflt, strlen(p->dflt), cfg_lookup, (void *)cfg, &b, 0) < 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}

/* config_print_nondefault - `ternd -n`: "name = value" for each parameter set in main.cf whose
 * value differs from its default */
void config_print_nondefault(const struct tern_config *cfg, FILE *fp)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->nraw; i++) {
        const struct config_raw *r = &cfg->raw[i];
        if (r->line <= 0)
            continue;
        int t = param_find(r->name, strlen(r->name));
        if (t >= 0) {
            char *d = default_value(cfg, t);
            bool same = d && strcmp(d, r->value) == 0;
            free(d);
            if (same)
                continue;
        }
        if (*r->value)
            fprintf(fp, "%s = %s\n", r->name, r->value);
        else
            fprintf(fp, "%s =\n", r->name);
    }
}

/* config_log_warnings - log a warning for each unknown parameter (name, line) */
void config_log_warnings(const struct tern_config *cfg)
{
    if (!cfg)
        return;
    const char *dir = cfg->config_directory ? cfg->config_directory : ".";
    /* Restriction class names are parameters the administrator defines. */
    struct config_list classes = {0, NULL};
    config_split_list(config_get(cfg, "smtpd_restriction_classes"), &classes);
    for (size_t i = 0; i < cfg->nraw; i++) {
        const struct config_raw *r = &cfg->raw[i];
        bool is_class = false;
        for (size_t j = 0; j < classes.n && !is_class; j++)
            is_class = !strcmp(classes.item[j], r->name);
        if (r->line > 0 && !is_class && param_find(r->name, strlen(r->name)) < 0)
            log_warn("config", "%s/main.cf, line %d: unknown parameter %s (not used by tern)", dir,
                     r->line, r->name);
    }
    config_list_free(&classes);
}

/* config_is_set - set in main.cf rather than defaulted */
bool config_is_set(const struct tern_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nraw; i++) {
        if (!strcmp(cfg->raw[i].name, name))
            return cfg->raw[i].line > 0;
    }
    return false;
}

/* config_ref - take one more reference */
struct tern_config *config_ref(struct tern_config *cfg)
{
    if (cfg)
        atomic_fetch_add_explicit(&cfg->refs, 1, memory_order_relaxed);
    return cfg;
}

/* config_unref - drop a reference; the last one frees the config (NULL is fine) */
void config_unref(struct tern_config *cfg)
{
    if (cfg && atomic_fetch_sub_explicit(&cfg->refs, 1, memory_order_acq_rel) == 1)
        config_free(cfg);
}
