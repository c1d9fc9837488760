/*
 * config_param - the parameter table: every main.cf parameter tern knows, its type, default
 * and help text (tern.conf(5) is written from it), the minimums of the integer ones, and the
 * computed defaults of myhostname and mydomain. See config.c's header for the rules.
 */
#include "core/config/config_impl.h"

#include <errno.h>
#include <netdb.h>
#include <string.h>
#include <unistd.h>

#define OFF(f) ((long)offsetof(struct tern_config, f))
/* clang-format off */
#define S(n, d, h) {#n, P_STRING, d, OFF(n), h, -1, DYN_NONE, 0, false}
#define I(n, d, h) {#n, P_INT, d, OFF(n), h, -1, DYN_NONE, 0, false}
#define T(n, d, h) {#n, P_TIME, d, OFF(n), h, -1, DYN_NONE, 's', false}
#define Z(n, d, h) {#n, P_SIZE, d, OFF(n), h, -1, DYN_NONE, 0, false}
#define B(n, d, h) {#n, P_BOOL, d, OFF(n), h, -1, DYN_NONE, 0, false}
#define L(n, d, h) {#n, P_LIST, d, OFF(n), h, -1, DYN_NONE, 0, false}
#define HP(n, d, port, h) {#n, P_LIST, d, OFF(n), h, port, DYN_NONE, 0, false}
/* known but refused unless at its default (h says why; inet_*: see inet_interfaces()) */
#define X(n, d, h) {#n, P_STRING, d, -1, h, -1, DYN_REFUSED, 0, false}
/* raw: a parameter read where it is used with config_get() */
#define R(n, d, h) {#n, P_STRING, d, -1, h, -1, DYN_NONE, 0, false}
/* used once, at start-up: a reload that changes one says so (config_restart), tern.conf(5)
 * marks it "restart" */
#define S_START(n, d, h) {#n, P_STRING, d, OFF(n), h, -1, DYN_NONE, 0, true}
#define I_START(n, d, h) {#n, P_INT, d, OFF(n), h, -1, DYN_NONE, 0, true}
#define T_START(n, d, h) {#n, P_TIME, d, OFF(n), h, -1, DYN_NONE, 's', true}
#define Z_START(n, d, h) {#n, P_SIZE, d, OFF(n), h, -1, DYN_NONE, 0, true}
#define HP_START(n, d, port, h) {#n, P_LIST, d, OFF(n), h, port, DYN_NONE, 0, true}
#define R_START(n, d, h) {#n, P_STRING, d, -1, h, -1, DYN_NONE, 0, true}
/* clang-format on */

const struct config_param config_param_table[] = {
    /* identity */
    {"myhostname", P_STRING, NULL, OFF(myhostname), "fully qualified name of this host", -1,
     DYN_MYHOSTNAME, 0, false},
    {"mydomain", P_STRING, NULL, OFF(mydomain), "domain of this host", -1, DYN_MYDOMAIN, 0, false},
    S(myorigin, "$myhostname", "domain that locally posted mail appears to come from"),
    S(smtpd_banner, "$myhostname ESMTP tern", "text after 220 in the SMTP greeting"),
    S(smtp_helo_name, "$myhostname", "name sent in EHLO/HELO"),
    S_START(mail_owner, "tern", "user the daemon runs as after start-up"),
    S_START(queue_directory, "/var/spool/tern", "where the queue lives"),
    S_START(syslog_name, "tern", "name in front of every log line"),
    S_START(maillog_file, "", "log file; empty means syslog"),
    S(compatibility_level, "0",
      "Postfix compatibility level: as Postfix, 0 when unset (md5 fingerprints below 3.6)"),

    /* listeners */
    HP_START(smtpd_listen, "127.0.0.1:25", 25, "SMTP listeners, addr:port"),
    HP_START(submission_listen, "", 587, "submission listeners, addr:port"),
    HP_START(smtps_listen, "", 465, "SMTP over TLS listeners, addr:port"),
    {"metrics_listen", P_STRING, "", OFF(metrics_listen), "metrics endpoint addr:port; empty: off",
     0, DYN_NONE, 0, true},
    I_START(worker_threads, "0", "worker threads; 0 means one per CPU"),
    HP(dns_servers, "", 53, "DNS servers addr[:port]; empty: the system resolver"),
    S(smtp_dns_support_level, "",
      "DNS features of delivery: empty or enabled, or dnssec (answers are DNSSEC-validated "
      "in process; needed by the TLS levels dane and dane-only)"),
    S(dnssec_trust_anchor_file, "/usr/share/dns/root.key",
      "tern's own: DNSSEC trust anchors (DS or DNSKEY records) for smtp_dns_support_level = "
      "dnssec; the default is Debian's root key (package dns-root-data)"),
    B(smtp_mta_sts_enable, "yes",
      "tern's own: MTA-STS (RFC 8461) for destinations reached through their MX records: the "
      "_mta-sts TXT record is looked up, the policy fetched over HTTPS and kept in "
      "smtp_tls_session_cache_database (without one, for as long as the MX lookup); enforce "
      "admits only the MX hosts it names, with a certificate that verifies for that name. A "
      "per-site entry in smtp_tls_policy_maps or smtp_tls_per_site, and DANE, take precedence"),
    HP(proxy_interfaces, "", 25,
       "addresses (numeric, [:port], port 25 by default) on which a proxy or NAT forwards mail "
       "to tern: a next hop there loops back to tern (5.4.6)"),

    /* smtpd */
    T(smtpd_timeout, "300s", "SMTP server read/write timeout"),
    S(smtpd_upstream_proxy_protocol, "",
      "the header a balancer in front sends first on every connection to every listener: empty "
      "(none) or haproxy (PROXY protocol v1 or v2); the client address in it is the one that "
      "restrictions, limits, the Received: header and the log use"),
    L(smtpd_forbidden_commands, "CONNECT GET POST PROXY",
      "commands that end the session at once with 221 (Postfix's, and PROXY: a balancer's "
      "header sent to a listener without smtpd_upstream_proxy_protocol); names only, no tables. "
      "As in Postfix, an unknown command that does not start with a letter (Postfix's default "
      "regexp:{{/^[^A-Z]/ Bogus}}) or looks like a message header (\"Subject: x\") ends it too"),
    T(smtpd_upstream_proxy_timeout, "5s",
      "how long the header of smtpd_upstream_proxy_protocol may take to arrive"),
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
    I(default_destination_concurrency_limit, "20",
      "parallel deliveries per destination; across the nodes with destination_lease_database"),
    S_START(destination_lease_database, "",
            "tern's own: redis:FILE makes default_destination_concurrency_limit hold across every "
            "node naming the same Redis (connection leases); empty: per node"),
    I(default_destination_rate_limit, "0",
      "deliveries started per second per destination; across the nodes with "
      "destination_lease_database; 0: no limit"),
    T_START(
        destination_lease_time, "10s",
        "tern's own: how long a node's destination lease outlives the node (a dead node's share "
        "is free again after it)"),
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
    Z_START(queue_map_size, "16g", "LMDB map size of the queue index"),
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
    R_START(smtpd_tls_session_cache_database, "", "server session cache, btree:PATH or lmdb:PATH"),
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
    R(smtp_tls_security_level, "",
      "client TLS level: none, may, encrypt, fingerprint, verify, secure, dane, dane-only"),
    R(smtp_tls_CAfile, "", "CAs that verify servers"),
    R(smtp_tls_CApath, "", "directory of CAs that verify servers"),
    R(smtp_tls_cert_file, "", "client certificate chain, PEM"),
    R(smtp_tls_key_file, "$smtp_tls_cert_file", "client private key, PEM"),
    R(smtp_tls_loglevel, "0", "client TLS logging, as Postfix"),
    R(smtp_tls_note_starttls_offer, "no",
      "log servers that offer STARTTLS while TLS is off for them"),
    R_START(smtp_tls_session_cache_database, "", "client session cache, btree:PATH or lmdb:PATH"),
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
    {"inet_interfaces", P_STRING, "all", -1,
     "port-25 listen addresses when smtpd_listen is not set: all, loopback-only, or IP addresses "
     "(config/config.c inet_interfaces())",
     -1, DYN_REFUSED, 0, true},
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

const size_t config_param_count = sizeof(config_param_table) / sizeof(config_param_table[0]);

int config_param_doc(size_t i, struct config_param_doc *out)
{
    static const char *const type_names[] = {"string", "integer", "time",
                                             "size",   "boolean", "list"};
    if (i >= config_param_count)
        return -ENOENT;
    const struct config_param *p = &config_param_table[i];
    out->name = p->name;
    out->type = type_names[p->type];
    out->dflt = p->dyn == DYN_MYHOSTNAME || p->dyn == DYN_MYDOMAIN ? NULL : p->dflt;
    out->help = p->help;
    out->refused = p->dyn == DYN_REFUSED;
    out->raw = p->off < 0 && p->dyn != DYN_REFUSED;
    out->at_start = p->at_start;
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
int config_param_min(const char *name)
{
    for (size_t i = 0; i < sizeof(param_min) / sizeof(param_min[0]); i++)
        if (strcmp(param_min[i].name, name) == 0)
            return param_min[i].min;
    return 0;
}

/* param_find - table index of name[0..len), or -1 */
int config_param_find(const char *name, size_t len)
{
    for (size_t i = 0; i < config_param_count; i++)
        if (strncmp(config_param_table[i].name, name, len) == 0 &&
            config_param_table[i].name[len] == 0)
            return (int)i;
    return -1;
}

/* local_hostname - gethostname(), made fully qualified when possible; malloc'd */
char *config_param_myhostname(void)
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
char *config_param_mydomain(const char *host)
{
    const char *dot = host ? strchr(host, '.') : NULL;
    return strdup(dot && dot[1] ? dot + 1 : "localdomain");
}
