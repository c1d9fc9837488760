/*
 * NAME
 *	config - main.cf: one parameter table, an immutable config struct
 * SYNOPSIS
 *	struct tern_config *cfg;
 *	int rc = config_load(&cfg, "/etc/tern", &err);   // err: malloc'd message
 *	... cfg->smtpd_timeout ...
 *	config_print_nondefault(cfg, stdout);           // ternd -n
 *	config_unref(cfg);
 * DESCRIPTION
 *	main.cf uses Postfix syntax: `name = value`, `#` comments (whole lines
 *	only), continuation lines that start with whitespace, `$name`, `${name}`
 *	and `$(name)` expansion (recursive, evaluated after the whole file is read,
 *	so order does not matter). Postfix's names are used wherever Postfix has
 *	one, including the 2005 names from the reference talk.
 *
 *	One table of parameters (name, type, default, help) in config/config.c drives
 *	parsing, `ternd -n` and the docs. Unknown parameters get a warning naming
 *	the file and line; a bad value (an unparsable time, size, number, boolean,
 *	address list) fails config_load() with a message naming parameter, value
 *	and line.
 *
 *	Types: time values take Postfix's units (s, m, h, d, w; a bare number is
 *	seconds unless the table says otherwise), booleans are yes/no, lists are
 *	separated by commas and/or whitespace.
 *
 *	The struct is immutable once loaded and shared between threads by
 *	reference count; SIGHUP loads a new one and swaps it whole.
 * DIAGNOSTICS
 *	config_load() returns 0, or -errno / -EINVAL with *err set.
 */
#ifndef TERN_CONFIG_CONFIG_H
#define TERN_CONFIG_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* A parsed list parameter: n items, each a malloc'd string. */
struct config_list {
    size_t n;
    char **item;
};

struct tern_config {
    atomic_int refs;
    char *config_directory; /* the -c DIR */

    /* identity */
    char *myhostname;       /* default: gethostname() (fully qualified if it can be) */
    char *mydomain;         /* default: myhostname minus its first label */
    char *myorigin;         /* default: $myhostname */
    char *smtpd_banner;     /* default: "$myhostname ESMTP tern" */
    char *smtp_helo_name;   /* default: $myhostname */
    char *mail_owner;       /* default: "tern"; dropped to when started as root */
    char *queue_directory;  /* default: "/var/spool/tern" */
    char *syslog_name;      /* default: "tern" */
    char *maillog_file;     /* default: "" (syslog) */
    char *compatibility_level; /* default: "3.7" */

    /* listeners (tern's own): lists of addr:port, "[v6]:port" */
    struct config_list smtpd_listen;      /* default: 127.0.0.1:25 */
    struct config_list submission_listen; /* default: empty */
    struct config_list smtps_listen;      /* default: empty */
    char *metrics_listen;                 /* default: "" (off) */
    int worker_threads;                   /* default: 0 = one per CPU */
    struct config_list dns_servers;       /* default: empty = system resolver */
    char *smtp_dns_support_level;         /* "", enabled or dnssec (validated by tlsconf) */
    char *dnssec_trust_anchor_file;       /* DS/DNSKEY records for dnssec */
    bool smtp_mta_sts_enable;             /* MTA-STS (RFC 8461) for MX destinations */
    struct config_list proxy_interfaces;  /* default: empty; a next hop there is tern */

    /* smtpd */
    int smtpd_timeout;              /* seconds, default 300 */
    char *smtpd_upstream_proxy_protocol;         /* "" or "haproxy" (checked when loaded) */
    int smtpd_upstream_proxy_timeout;            /* seconds, default 5 */
    struct config_list smtpd_forbidden_commands; /* default: CONNECT GET POST PROXY */
    long message_size_limit;        /* bytes, default 10240000; 0 = no limit */
    int smtpd_recipient_limit;      /* default 1000 */
    int hopcount_limit;             /* Received: headers refused at this count; default 50 */
    struct config_list mynetworks;  /* default: 127.0.0.0/8 [::1]/128 */
    struct config_list relay_domains;               /* default: empty */
    struct config_list smtpd_relay_restrictions;    /* default: permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination */
    struct config_list smtpd_recipient_restrictions; /* default: empty */
    /* client limits (Postfix's anvil, smtpd/anvil.h); 0 = no limit */
    int smtpd_client_connection_count_limit; /* simultaneous, default 50 */
    int smtpd_client_connection_rate_limit;  /* per anvil_rate_time_unit, default 0 */
    int smtpd_client_message_rate_limit;     /* MAIL per time unit, default 0 */
    int smtpd_client_recipient_rate_limit;   /* RCPT per time unit, default 0 */
    int smtpd_client_auth_rate_limit;        /* AUTH per time unit, default 0 */
    int anvil_rate_time_unit;                /* seconds, default 60 */
    struct config_list smtpd_client_event_limit_exceptions; /* default: $mynetworks */
    int smtpd_total_connection_limit; /* tern: inbound connections; 0 = from RLIMIT_NOFILE */
    bool smtpd_forbid_bare_newline;                 /* default yes (tern always rejects) */
    bool smtpd_delay_reject;                        /* default yes */
    int unknown_address_reject_code;                /* default 450 */

    /* bounds on one client (smtpd/server.c, smtpd/smtpd.c) */
    bool smtpd_per_request_deadline; /* default $smtpd_per_record_deadline (tern: yes) */
    bool smtpd_per_record_deadline;  /* Postfix's older name; default yes */
    int smtpd_min_data_rate;         /* octets/s, default 500 */
    int smtpd_junk_command_limit;    /* default 100 */
    int smtpd_soft_error_limit;      /* default 10 */
    int smtpd_hard_error_limit;      /* default 20 */
    int smtpd_error_sleep_time;      /* seconds, default 1 */

    /* delivery */
    char *relayhost;                /* default "" */
    char *transport_maps;           /* default "" ; "type:name" */
    int default_destination_concurrency_limit; /* default 20 */
    int default_destination_rate_limit;        /* per second; 0 = none */
    char *destination_lease_database;          /* "" or redis:FILE (core/redis/redis_lease) */
    int destination_lease_time;                /* seconds, default 10 */
    int smtp_connection_reuse_count_limit;     /* default 0 = no limit */
    int smtp_connection_cache_time_limit;      /* seconds idle, default 2 */
    int smtp_connection_reuse_time_limit;      /* seconds open, default 300 */
    int smtp_connect_timeout;       /* seconds, default 30 */
    int smtp_helo_timeout;          /* seconds, default 300 */
    int smtp_data_done_timeout;     /* seconds, default 600 */
    bool smtp_pipelining;           /* tern: default yes; use PIPELINING when offered */

    /* queue */
    int minimal_backoff_time;       /* seconds, default 300 */
    int maximal_backoff_time;       /* seconds, default 4000 */
    int maximal_queue_lifetime;     /* seconds, default 5d */
    int bounce_queue_lifetime;      /* seconds, default 5d */
    long queue_minfree;             /* bytes free needed to accept MAIL, default 0 */
    long queue_map_size;            /* tern: LMDB map size in bytes, default 16g */

    /* Parameters that later issues implement are kept by name -> raw value;
     * config_get() reads any parameter, known or not, expanded. */
    size_t nraw;
    struct config_raw {
        char *name;
        char *value;    /* expanded */
        int line;       /* 0 = default */
    } *raw;
};

/* config_param_doc - entry i of the parameter table, for tern.conf(5) (core/ternconfdoc.c):
 * 0, or -ENOENT past the last one. The strings are static. */
struct config_param_doc {
    const char *name;
    const char *type; /* "string", "integer", "time", "size", "boolean", "list" */
    const char *dflt; /* default text as `postconf -d` shows it; NULL: computed */
    const char *help;
    bool refused; /* known but refused unless at its default */
    bool raw;     /* read where it is used (config_get()) */
    bool at_start; /* used once, at start-up: a changed value needs a restart */
};
int config_param_doc(size_t i, struct config_param_doc *out);

/* config_load - read DIR/main.cf; *out gets a config with one reference */
int config_load(struct tern_config **out, const char *config_dir, char **err);
/* config_load_defaults - a config with every default (for tests and `ternd -n`) */
int config_load_defaults(struct tern_config **out, char **err);
/* config_restart_changed - how many of the parameters used only at start-up differ between was
 * and now, their names (", "-separated, cut to len) in names */
size_t config_restart_changed(const struct tern_config *was, const struct tern_config *now,
                              char *names, size_t len);
/* config_get - expanded value of any parameter named in main.cf or the table; NULL if neither */
const char *config_get(const struct tern_config *cfg, const char *name);

/* config_nonblank - v when it holds more than blanks and commas, else NULL: a parameter that
 * is set to nothing is unset */
const char *config_nonblank(const char *v);
/* config_is_set - the parameter is set in main.cf (not just defaulted) */
bool config_is_set(const struct tern_config *cfg, const char *name);
/* config_print_nondefault - `ternd -n`: "name = value" for each parameter set in main.cf whose value differs from its default */
void config_print_nondefault(const struct tern_config *cfg, FILE *fp);
/* config_warnings - log a warning for each unknown parameter (name, line); done once per load by the caller */
void config_log_warnings(const struct tern_config *cfg);

struct tern_config *config_ref(struct tern_config *cfg);
void config_unref(struct tern_config *cfg); /* NULL is fine */

/* Value parsers shared with other modules. All return 0 or -EINVAL. */
int config_parse_time(const char *s, char default_unit, int *out_seconds);
int config_parse_size(const char *s, long *out_bytes); /* "10240000", "16g", "512m", "64k" */
int config_parse_bool(const char *s, bool *out);
/* config_get_bool - a yes/no parameter: true only for "yes" (unset or unparsable: no; `ternd
 * check` reports bad values where they matter) */
bool config_get_bool(const struct tern_config *cfg, const char *name);
/* config_parse_list - split on commas/whitespace into a config_list */
int config_parse_list(const char *s, struct config_list *out);
void config_list_free(struct config_list *l);

#endif
