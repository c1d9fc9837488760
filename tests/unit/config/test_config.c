/*
 * test_config - config/config: main.cf parsing, expansion, defaults, -n output,
 * value parsers. Each test writes main.cf into a fresh mkdtemp directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/base/buf.h"
#include "core/config/config.h"
#include "core/config/tlsconf.h"
#include "core/base/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[64];

/* write_maincf - replace tmpdir/main.cf with text */
static void write_maincf(const char *text)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/main.cf", tmpdir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* load_text - write text as main.cf and load it */
static int load_text(const char *text, struct tern_config **cfg, char **err)
{
    write_maincf(text);
    return config_load(cfg, tmpdir, err);
}

/* load_ok - load text, which must succeed */
static struct tern_config *load_ok(const char *text)
{
    struct tern_config *cfg = NULL;
    char *err = NULL;
    int rc = load_text(text, &cfg, &err);
    if (rc != 0)
        fail_msg("load failed: %d %s\n--\n%s", rc, err ? err : "(no message)", text);
    assert_null(err);
    return cfg;
}

static int setup(void **state)
{
    strcpy(tmpdir, "/tmp/test_config.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int teardown(void **state)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/main.cf", tmpdir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/warn.log", tmpdir);
    unlink(path);
    rmdir(tmpdir);
    return 0;
}

static void test_defaults(void **state)
{
    struct tern_config *cfg = NULL;
    char *err = NULL;
    assert_int_equal(config_load_defaults(&cfg, &err), 0);
    assert_null(err);

    assert_non_null(cfg->myhostname);
    assert_true(*cfg->myhostname);
    char banner[512];
    snprintf(banner, sizeof(banner), "%s ESMTP tern", cfg->myhostname);
    assert_string_equal(cfg->smtpd_banner, banner);
    assert_string_equal(cfg->myorigin, cfg->myhostname);
    assert_string_equal(cfg->smtp_helo_name, cfg->myhostname);
    const char *dot = strchr(cfg->myhostname, '.');
    assert_string_equal(cfg->mydomain, dot ? dot + 1 : "localdomain");
    assert_string_equal(cfg->mail_owner, "tern");
    assert_string_equal(cfg->queue_directory, "/var/spool/tern");
    assert_string_equal(cfg->syslog_name, "tern");
    assert_string_equal(cfg->maillog_file, "");
    assert_string_equal(cfg->compatibility_level, "0");

    assert_int_equal(cfg->smtpd_listen.n, 1);
    assert_string_equal(cfg->smtpd_listen.item[0], "127.0.0.1:25");
    assert_int_equal(cfg->submission_listen.n, 0);
    assert_int_equal(cfg->smtps_listen.n, 0);
    assert_string_equal(cfg->metrics_listen, "");
    assert_int_equal(cfg->worker_threads, 0);
    assert_int_equal(cfg->dns_servers.n, 0);

    assert_int_equal(cfg->smtpd_timeout, 300);
    assert_true(cfg->smtpd_per_record_deadline);
    assert_true(cfg->smtpd_per_request_deadline);
    assert_int_equal(cfg->smtpd_min_data_rate, 500);
    assert_int_equal(cfg->smtpd_junk_command_limit, 100);
    assert_int_equal(cfg->smtpd_soft_error_limit, 10);
    assert_int_equal(cfg->smtpd_hard_error_limit, 20);
    assert_int_equal(cfg->smtpd_error_sleep_time, 1);
    assert_int_equal(cfg->message_size_limit, 10240000);
    assert_int_equal(cfg->smtpd_recipient_limit, 1000);
    assert_int_equal(cfg->mynetworks.n, 2);
    assert_string_equal(cfg->mynetworks.item[0], "127.0.0.0/8");
    assert_string_equal(cfg->mynetworks.item[1], "[::1]/128");
    assert_int_equal(cfg->relay_domains.n, 0);
    assert_int_equal(cfg->smtpd_relay_restrictions.n, 3);
    assert_string_equal(cfg->smtpd_relay_restrictions.item[0], "permit_mynetworks");
    assert_string_equal(cfg->smtpd_relay_restrictions.item[1], "permit_sasl_authenticated");
    assert_string_equal(cfg->smtpd_relay_restrictions.item[2], "defer_unauth_destination");
    assert_int_equal(cfg->smtpd_recipient_restrictions.n, 0);
    assert_int_equal(cfg->smtpd_client_connection_count_limit, 50);
    assert_true(cfg->smtpd_forbid_bare_newline);

    assert_string_equal(cfg->relayhost, "");
    assert_string_equal(cfg->transport_maps, "");
    assert_int_equal(cfg->default_destination_concurrency_limit, 20);
    assert_int_equal(cfg->smtp_connection_reuse_count_limit, 0);
    assert_int_equal(cfg->smtp_connection_reuse_time_limit, 300);
    assert_int_equal(cfg->smtp_connection_cache_time_limit, 2);
    assert_int_equal(cfg->smtp_connect_timeout, 30);
    assert_int_equal(cfg->smtp_helo_timeout, 300);
    assert_int_equal(cfg->smtp_data_done_timeout, 600);
    assert_true(cfg->smtp_pipelining);

    assert_int_equal(cfg->minimal_backoff_time, 300);
    assert_int_equal(cfg->maximal_backoff_time, 4000);
    assert_int_equal(cfg->maximal_queue_lifetime, 5 * 86400);
    assert_int_equal(cfg->bounce_queue_lifetime, 5 * 86400);
    assert_int_equal(cfg->queue_map_size, 16L << 30);

    /* accepted parameters: defaults, expanded */
    assert_string_equal(config_get(cfg, "smtpd_use_tls"), "no");
    assert_string_equal(config_get(cfg, "smtpd_tls_key_file"), "");
    assert_string_equal(config_get(cfg, "smtp_sasl_tls_security_options"),
                        "noplaintext, noanonymous");
    /* tern exempts nobody from the bare-newline rule: the Postfix default is refused */
    assert_string_equal(config_get(cfg, "smtpd_forbid_bare_newline_exclusions"), "");
    assert_string_equal(config_get(cfg, "smtpd_timeout"), "300s");
    assert_null(config_get(cfg, "no_such_parameter"));

    /* every name once, nothing set from a file */
    for (size_t i = 0; i < cfg->nraw; i++) {
        assert_int_equal(cfg->raw[i].line, 0);
        if (i > 0)
            assert_true(strcmp(cfg->raw[i - 1].name, cfg->raw[i].name) < 0);
    }

    /* reference counting */
    assert_ptr_equal(config_ref(cfg), cfg);
    assert_int_equal(atomic_load(&cfg->refs), 2);
    config_unref(cfg);
    assert_int_equal(atomic_load(&cfg->refs), 1);
    config_unref(cfg);
    config_unref(NULL);
}

/* Expansion: main.cf text, parameter, expected config_get() value. */
static const struct {
    const char *text;
    const char *param;
    const char *want;
} expand_cases[] = {
    {"myhostname = mx.example.com\n", "smtpd_banner", "mx.example.com ESMTP tern"},
    {"myhostname = mx.example.com\n", "smtp_helo_name", "mx.example.com"},
    {"myhostname = mx.example.com\n", "myorigin", "mx.example.com"},
    {"myhostname = mx.example.com\n", "mydomain", "example.com"},
    {"myhostname = mx\n", "mydomain", "localdomain"},
    {"myhostname = mx.example.com\n", "mydestination",
     "mx.example.com, localhost.example.com, localhost"},
    /* order in the file does not matter; recursion through several levels */
    {"smtpd_banner = $a banner\na = $b\nb = ${c}\nc = $(myhostname)\nmyhostname = h.x\n",
     "smtpd_banner", "h.x banner"},
    {"x = one\ny = [${x}] [$(x)] [$x]\n", "y", "[one] [one] [one]"},
    {"x = one\ny = $x_two\n", "y", ""}, /* $x_two is one name, undefined */
    {"x = one\ny = ${x}_two\n", "y", "one_two"},
    {"y = cost $$5\n", "y", "cost $5"},
    {"y = a $ b\n", "y", "a $ b"},
    {"x = set\ny = ${x?yes}/${x:no}\n", "y", "yes/"},
    {"x =\ny = ${x?yes}/${x:no}\n", "y", "/no"},
    {"y = ${undefined_thing:fallback $myhostname}\nmyhostname = h.y\n", "y", "fallback h.y"},
    {"smtpd_tls_cert_file = /etc/tern/cert.pem\n", "smtpd_tls_key_file", "/etc/tern/cert.pem"},
    {"relayhost = [smart.example]:587\n", "relayhost", "[smart.example]:587"},
    {"a = $b\nb = $c\nc = $d\nd = $e\ne = end\n", "a", "end"},
};

static void test_expansion(void **state)
{
    for (size_t i = 0; i < sizeof(expand_cases) / sizeof(expand_cases[0]); i++) {
        struct tern_config *cfg = load_ok(expand_cases[i].text);
        const char *got = config_get(cfg, expand_cases[i].param);
        if (!got || strcmp(got, expand_cases[i].want) != 0)
            fail_msg("case %zu: %s = \"%s\", want \"%s\"", i, expand_cases[i].param,
                     got ? got : "(null)", expand_cases[i].want);
        config_unref(cfg);
    }
}

/* The struct fields see expanded values too. */
static void test_expansion_fields(void **state)
{
    struct tern_config *cfg = load_ok("limit = 20m\n"
                                      "message_size_limit = $limit\n"
                                      "port = 2525\n"
                                      "smtpd_listen = 127.0.0.1:$port, [::1]:${port}\n"
                                      "myhostname = relay.example.org\n");
    assert_int_equal(cfg->message_size_limit, 20L << 20);
    assert_int_equal(cfg->smtpd_listen.n, 2);
    assert_string_equal(cfg->smtpd_listen.item[0], "127.0.0.1:2525");
    assert_string_equal(cfg->smtpd_listen.item[1], "[::1]:2525");
    assert_string_equal(cfg->smtpd_banner, "relay.example.org ESMTP tern");
    assert_string_equal(cfg->mydomain, "example.org");
    config_unref(cfg);
}

static void test_continuation_comments(void **state)
{
    struct tern_config *cfg = load_ok("# a comment\n"
                                      "\n"
                                      "   # an indented comment\n"
                                      "smtpd_relay_restrictions =\n"
                                      "    permit_mynetworks,\n"
                                      "\t\tpermit_sasl_authenticated\n"
                                      "# comment inside\n"
                                      "\n"
                                      "    reject_unauth_destination\n"
                                      "smtpd_banner = $myhostname   \n"
                                      "   ESMTP   welcome\n"
                                      "myhostname=h.example\n"
                                      "relayhost = [10.0.0.1]:25 \r\n"
                                      "smtpd_timeout = 60\n"
                                      "smtpd_timeout = 120\n" /* the last setting wins */);
    assert_int_equal(cfg->smtpd_relay_restrictions.n, 3);
    assert_string_equal(cfg->smtpd_relay_restrictions.item[2], "reject_unauth_destination");
    assert_string_equal(config_get(cfg, "smtpd_relay_restrictions"),
                        "permit_mynetworks, permit_sasl_authenticated reject_unauth_destination");
    assert_string_equal(cfg->smtpd_banner, "h.example ESMTP   welcome");
    assert_string_equal(cfg->relayhost, "[10.0.0.1]:25");
    assert_int_equal(cfg->smtpd_timeout, 120);
    config_unref(cfg);
}

/* Typed values through main.cf: text, check. */
static void test_units(void **state)
{
    struct tern_config *cfg = load_ok("smtpd_timeout = 5m\n"
                                      "smtp_connect_timeout = 45\n"
                                      "smtp_helo_timeout = 2h\n"
                                      "maximal_queue_lifetime = 1w\n"
                                      "bounce_queue_lifetime = 1d\n"
                                      "minimal_backoff_time = 10s\n"
                                      "message_size_limit = 0\n"
                                      "queue_map_size = 512m\n"
                                      "smtp_pipelining = no\n"
                                      "smtpd_per_record_deadline = no\n"
                                      "smtpd_error_sleep_time = 2m\n"
                                      "smtpd_forbid_bare_newline = YES\n"
                                      "worker_threads = 4\n"
                                      "dns_servers = 127.0.0.1:5353 ::1\n"
                                      "mynetworks = 10.0.0.0/8,192.168.0.0/16 ,, [fe80::]/10\n");
    assert_int_equal(cfg->smtpd_timeout, 300);
    assert_int_equal(cfg->smtp_connect_timeout, 45);
    assert_int_equal(cfg->smtp_helo_timeout, 7200);
    /* the Postfix 3.7 name follows the older one unless set itself */
    assert_false(cfg->smtpd_per_record_deadline);
    assert_false(cfg->smtpd_per_request_deadline);
    assert_int_equal(cfg->smtpd_error_sleep_time, 120);
    assert_int_equal(cfg->maximal_queue_lifetime, 7 * 86400);
    assert_int_equal(cfg->bounce_queue_lifetime, 86400);
    assert_int_equal(cfg->minimal_backoff_time, 10);
    assert_int_equal(cfg->message_size_limit, 0);
    assert_int_equal(cfg->queue_map_size, 512L << 20);
    assert_false(cfg->smtp_pipelining);
    assert_true(cfg->smtpd_forbid_bare_newline);
    assert_int_equal(cfg->worker_threads, 4);
    assert_int_equal(cfg->dns_servers.n, 2);
    assert_int_equal(cfg->mynetworks.n, 3);
    assert_string_equal(cfg->mynetworks.item[2], "[fe80::]/10");
    config_unref(cfg);
}

/* Bad input: main.cf text, expected rc, substrings the message must contain. */
#define X100                                                                                       \
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
    "xx"                                                                                           \
    "xxxxxx"
#define R10(n) "$" #n "$" #n "$" #n "$" #n "$" #n "$" #n "$" #n "$" #n "$" #n "$" #n
static const struct {
    const char *text;
    int rc;
    const char *msg1, *msg2;
} error_cases[] = {
    {"# c\nsmtpd_timeout = 10\nmessage_size_limit = abc\n", -EINVAL,
     "main.cf line 3: bad value for message_size_limit: \"abc\"", NULL},
    {"smtpd_timeout = 10x\n", -EINVAL, "line 1", "bad value for smtpd_timeout: \"10x\""},
    {"smtpd_timeout = -5\n", -EINVAL, "line 1", "smtpd_timeout"},
    {"smtp_pipelining = maybe\n", -EINVAL, "line 1", "smtp_pipelining"},
    {"smtpd_delay_reject = yse\n", -EINVAL, "line 1", "bad value for smtpd_delay_reject"},
    {"smtpd_hard_error_limit = 0\n", -EINVAL, "line 1", "bad value for smtpd_hard_error_limit"},
    {"smtpd_min_data_rate = 0\n", -EINVAL, "line 1", "smtpd_min_data_rate"},
    {"\n\nworker_threads = many\n", -EINVAL, "line 3", "worker_threads"},
    {"worker_threads = 99999999999\n", -EINVAL, "line 1", "worker_threads"},
    {"queue_map_size = 16t\n", -EINVAL, "line 1", "queue_map_size"},
    {"smtpd_listen = 127.0.0.1:25 127.0.0.1:99999\n", -EINVAL, "line 1", "smtpd_listen"},
    {"submission_listen = [::1:587\n", -EINVAL, "line 1", "submission_listen"},
    {"metrics_listen = 127.0.0.1:http-no-such-service\n", -EINVAL, "line 1", "metrics_listen"},
    {"x = 5\nsmtpd_timeout =\n  ${x}q\n", -EINVAL, "line 2", "\"5q\""},
    {"myhostname = h\nthis line has no equals sign\n", -EINVAL, "line 2", "missing '='"},
    {"   indented = at start\n", -EINVAL, "line 1", "continuation"},
    {"bad name = x\n", -EINVAL, "line 1", "bad parameter name"},
    {"= x\n", -EINVAL, "line 1", "bad parameter name"},
    {"a = $b\nb = $a\n", -EINVAL, "line 1", "recursive"},
    {"myhostname = $smtp_helo_name\n", -EINVAL, "line 1", "recursive"},
    {"\nx = ${x}\n", -EINVAL, "line 2", "recursive"},
    {"\n\nx = ${y\n", -EINVAL, "line 3", "$ expression"},
    {"x = ${y?abc\n", -EINVAL, "line 1", "$ expression"},
    /* 300 octets of main.cf that expand to 10 MB: refused, not allocated */
    {"a0 = " X100 "\na1 = " R10(a0) "\na2 = " R10(a1) "\na3 = " R10(a2) "\na4 = " R10(
         a3) "\nsmtpd_banner = " R10(a4) "\n",
     -EINVAL, "line 6", "smtpd_banner is longer than 1048576 octets"},
};

#undef X100
#undef R10

/* test_nesting - references nest at most 100 deep, conditionals too (a chain of 20000
 * parameters overflowed the stack of `ternd check`) */
static void test_nesting(void **state)
{
    (void)state;
    struct buf text = BUF_INIT;
    for (int i = 0; i < 150; i++)
        assert_int_equal(buf_printf(&text, "p%d = $p%d\n", i, i + 1), 0);
    assert_int_equal(buf_puts(&text, "p150 = end\nsmtpd_banner = $p0\n"), 0);
    struct tern_config *cfg = NULL;
    char *err = NULL;
    assert_int_equal(load_text(buf_ptr(&text), &cfg, &err), -EINVAL);
    if (!err || !strstr(err, "nested more than 100 deep"))
        fail_msg("err \"%s\"", err ? err : "(null)");
    free(err);
    err = NULL;
    buf_reset(&text);
    /* 99 levels are fine */
    for (int i = 0; i < 98; i++)
        assert_int_equal(buf_printf(&text, "p%d = $p%d\n", i, i + 1), 0);
    assert_int_equal(buf_puts(&text, "p98 = end\nsmtpd_banner = $p0\n"), 0);
    assert_int_equal(load_text(buf_ptr(&text), &cfg, &err), 0);
    assert_string_equal(config_get(cfg, "smtpd_banner"), "end");
    config_unref(cfg);
    buf_reset(&text);
    assert_int_equal(buf_puts(&text, "x = 1\nsmtpd_banner = "), 0);
    for (int i = 0; i < 150; i++)
        assert_int_equal(buf_puts(&text, "${x?"), 0);
    for (int i = 0; i < 150; i++)
        assert_int_equal(buf_puts(&text, "}"), 0);
    assert_int_equal(buf_puts(&text, "\n"), 0);
    cfg = NULL;
    assert_int_equal(load_text(buf_ptr(&text), &cfg, &err), -EINVAL);
    if (!err || !strstr(err, "nested more than 100 deep in smtpd_banner"))
        fail_msg("err \"%s\"", err ? err : "(null)");
    free(err);
    buf_free(&text);
}

static void test_errors(void **state)
{
    for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
        struct tern_config *cfg = (void *)1;
        char *err = NULL;
        int rc = load_text(error_cases[i].text, &cfg, &err);
        if (rc != error_cases[i].rc || !err || !strstr(err, error_cases[i].msg1) ||
            (error_cases[i].msg2 && !strstr(err, error_cases[i].msg2)))
            fail_msg("case %zu: rc %d err \"%s\"", i, rc, err ? err : "(null)");
        assert_null(cfg);
        assert_non_null(strstr(err, tmpdir)); /* names the file */
        free(err);
    }
}

/* test_nul_byte - a NUL in main.cf is an error naming the file and line, never a value cut
 * short (before issue 10 "myhostname = ab\0cd" loaded as "ab") */
static void test_nul_byte(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        size_t len;
        const char *line;
    } cases[] = {
        {"myhostname = ab\0cd\n", 19, "main.cf line 1: "},
        {"# c\nsmtpd_timeout = 10\nmyhostname = a\0\n", 39, "main.cf line 3: "},
        {"myhostname = a\n  b\0c\n", 21, "main.cf line 2: "},
        {"# comment \0 here\n", 17, "main.cf line 1: "},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[128];
        snprintf(path, sizeof(path), "%s/main.cf", tmpdir);
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        assert_int_equal(fwrite(cases[i].text, 1, cases[i].len, fp), cases[i].len);
        fclose(fp);
        struct tern_config *cfg = NULL;
        char *err = NULL;
        int rc = config_load(&cfg, tmpdir, &err);
        if (rc != -EINVAL || !err || !strstr(err, cases[i].line) || !strstr(err, "NUL"))
            fail_msg("case %zu: rc %d err \"%s\" (myhostname \"%s\")", i, rc, err ? err : "(null)",
                     cfg ? config_get(cfg, "myhostname") : "");
        assert_null(cfg);
        free(err);
    }
}

/* test_inet_interfaces - Postfix's inet_interfaces names the port-25 listeners when smtpd_listen
 * is not set (before issue 10: accepted, and tern listened on 127.0.0.1:25 regardless) */
static void test_inet_interfaces(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *listen; /* smtpd_listen items joined with " " */
    } cases[] = {
        {"inet_interfaces = 127.0.0.2\n", "127.0.0.2:25"},
        {"inet_interfaces = 192.0.2.1, 2001:db8::1\n", "192.0.2.1:25 [2001:db8::1]:25"},
        {"inet_interfaces = [::1]\n", "[::1]:25"},
        {"inet_interfaces = all\n", "0.0.0.0:25 [::]:25"},
        {"inet_interfaces = loopback-only\n", "127.0.0.1:25 [::1]:25"},
        {"inet_interfaces = all\ninet_protocols = all\n", "0.0.0.0:25 [::]:25"},
        {"inet_interfaces = all\ninet_protocols = ipv4\n", "0.0.0.0:25"},
        {"inet_interfaces = loopback-only\ninet_protocols = ipv6\n", "[::1]:25"},
        {"inet_interfaces = localhost\ninet_protocols = ipv4, ipv6\n", "127.0.0.1:25 [::1]:25"},
        {"smtpd_listen = 127.0.0.1:2525\n", "127.0.0.1:2525"},
        {"# nothing\n", "127.0.0.1:25"}, /* tern's default stays loopback */
        {"smtpd_listen = 127.0.0.1:2525\ninet_interfaces = all\ninet_protocols = all\n", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tern_config *cfg = NULL;
        char *err = NULL;
        int rc = load_text(cases[i].text, &cfg, &err);
        if (cases[i].listen == NULL) {
            if (rc != -EINVAL || !err || !strstr(err, "inet_interfaces") ||
                !strstr(err, "smtpd_listen"))
                fail_msg("case %zu: rc %d err %s", i, rc, err ? err : "(null)");
            free(err);
            continue;
        }
        if (rc != 0)
            fail_msg("case %zu: %s", i, err ? err : "?");
        char got[256] = "";
        for (size_t k = 0; k < cfg->smtpd_listen.n; k++)
            snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", k ? " " : "",
                     cfg->smtpd_listen.item[k]);
        if (strcmp(got, cases[i].listen) != 0)
            fail_msg("case %zu: smtpd_listen \"%s\", want \"%s\"", i, got, cases[i].listen);
        config_unref(cfg);
    }
}

/* test_refused - a Postfix parameter tern knows but does not implement stops start-up with its
 * name when set to anything but its default; local delivery settings are refused outright */
static void test_refused(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *want; /* NULL: loads */
    } cases[] = {
        {"alias_maps = hash:/etc/aliases\n", "alias_maps: tern delivers nothing locally"},
        {"alias_database = hash:/etc/aliases\n", "alias_database: tern delivers nothing"},
        {"local_recipient_maps = unix:passwd.byname\n",
         "local_recipient_maps: tern delivers nothing"},
        {"mailbox_command = procmail -a \"$EXTENSION\"\n", "mailbox_command: tern delivers"},
        {"virtual_alias_maps = hash:/etc/postfix/virtual\n",
         "virtual_alias_maps: tern does not implement"},
        {"sender_canonical_maps = hash:/x\n", "sender_canonical_maps: tern does not implement"},
        {"smtpd_tls_dh1024_param_file = /etc/ssl/dh.pem\n",
         "smtpd_tls_dh1024_param_file: tern does not implement"},
        {"append_dot_mydomain = yes\n", "append_dot_mydomain: tern does not implement"},
        {"delay_warning_time = 4h\n", "delay_warning_time: tern does not implement"},
        {"notify_classes = resource, software\n", "notify_classes: tern does not implement"},
        {"inet_protocols = ipv4\n", "inet_protocols"},
        {"inet_interfaces = mail.example.com\n", "inet_interfaces"},
        {"smtpd_forbid_bare_newline_exclusions = $mynetworks\n",
         "smtpd_forbid_bare_newline_exclusions: tern does not implement"},
        {"recipient_delimiter = +\n", "recipient_delimiter: tern does not implement"},
        {"queue_run_delay = 60s\n", "queue_run_delay: tern does not implement"},
        /* defaults, and the documented no-ops of Debian's stock main.cf */
        {"append_dot_mydomain = no\ndelay_warning_time = 0h\nbiff = no\n"
         "readme_directory = no\ndata_directory = /var/lib/postfix\nmailbox_size_limit = 0\n"
         "tls_random_source = dev:/dev/urandom\ninet_protocols = all\nrecipient_delimiter =\n"
         "queue_run_delay = 300s\nsmtpd_tls_dh1024_param_file =\nlocal_recipient_maps =\n"
         "alias_maps =\nalias_database =\nmydestination =\n",
         NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tern_config *cfg = NULL;
        char *err = NULL;
        int rc = load_text(cases[i].text, &cfg, &err);
        if (cases[i].want == NULL) {
            if (rc != 0)
                fail_msg("case %zu: %s", i, err ? err : "?");
            config_unref(cfg);
            continue;
        }
        if (rc != -EINVAL || !err || !strstr(err, cases[i].want) || !strstr(err, "main.cf line 1"))
            fail_msg("case %zu: rc %d err \"%s\"", i, rc, err ? err : "(null)");
        assert_null(cfg);
        free(err);
    }
}

static void test_missing_file(void **state)
{
    struct tern_config *cfg = NULL;
    char *err = NULL;
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/nonexistent", tmpdir);
    assert_int_equal(config_load(&cfg, dir, &err), -ENOENT);
    assert_null(cfg);
    assert_non_null(err);
    assert_non_null(strstr(err, dir));
    assert_non_null(strstr(err, "main.cf"));
    free(err);
    /* err may be NULL */
    assert_int_equal(config_load(&cfg, dir, NULL), -ENOENT);
}

static void test_unknown(void **state)
{
    struct tern_config *cfg = load_ok("myhostname = h.example\n"
                                      "frobnicate_level = 11\n"
                                      "smtpd_use_tls = yes\n"
                                      "smtpd_tls_security_level = may\n"
                                      "smtp_tls_per_site = hash:/etc/tern/tls_per_site\n"
                                      "widget_path = $queue_directory/widgets\n");
    assert_string_equal(config_get(cfg, "frobnicate_level"), "11");
    assert_string_equal(config_get(cfg, "widget_path"), "/var/spool/tern/widgets");
    assert_string_equal(config_get(cfg, "smtpd_use_tls"), "yes");
    assert_string_equal(config_get(cfg, "smtp_tls_per_site"), "hash:/etc/tern/tls_per_site");
    int found = 0;
    for (size_t i = 0; i < cfg->nraw; i++)
        if (strcmp(cfg->raw[i].name, "frobnicate_level") == 0) {
            assert_int_equal(cfg->raw[i].line, 2);
            found++;
        }
    assert_int_equal(found, 1);

    /* warnings name unknown parameters only */
    char logpath[128];
    snprintf(logpath, sizeof(logpath), "%s/warn.log", tmpdir);
    assert_int_equal(log_open("test", logpath), 0);
    config_log_warnings(cfg);
    log_close();
    FILE *fp = fopen(logpath, "r");
    assert_non_null(fp);
    char text[4096];
    size_t n = fread(text, 1, sizeof(text) - 1, fp);
    text[n] = 0;
    fclose(fp);
    assert_non_null(strstr(text, "main.cf, line 2: unknown parameter frobnicate_level"));
    assert_non_null(strstr(text, "main.cf, line 6: unknown parameter widget_path"));
    assert_null(strstr(text, "smtpd_use_tls"));
    assert_null(strstr(text, "smtp_tls_per_site"));
    assert_null(strstr(text, "myhostname"));
    config_unref(cfg);
}

static void test_print_nondefault(void **state)
{
    struct tern_config *cfg =
        load_ok("myhostname = mx.example.com\n"
                "smtp_helo_name = mx.example.com\n" /* equals its expanded default */
                "smtpd_timeout = 300s\n"            /* equals its default */
                "message_size_limit = 20m\n"
                "zzz_unknown = 1\n"
                "relayhost =\n" /* empty, as default */
                "smtpd_use_tls = yes\n"
                "smtpd_banner = $myhostname ESMTP\n"
                "mynetworks = 127.0.0.0/8 [::1]/128\n"
                "smtpd_tls_key_file = $smtpd_tls_cert_file\n"
                "inet_interfaces = loopback-only\n");
    char *out = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&out, &len);
    assert_non_null(fp);
    config_print_nondefault(cfg, fp);
    fclose(fp);
    assert_string_equal(out, "inet_interfaces = loopback-only\n"
                             "message_size_limit = 20m\n"
                             "myhostname = mx.example.com\n"
                             "smtpd_banner = mx.example.com ESMTP\n"
                             "smtpd_use_tls = yes\n"
                             "zzz_unknown = 1\n");
    free(out);
    config_unref(cfg);

    /* nothing set: nothing printed */
    cfg = load_ok("# only a comment\n");
    fp = open_memstream(&out, &len);
    config_print_nondefault(cfg, fp);
    fclose(fp);
    assert_string_equal(out, "");
    free(out);
    config_unref(cfg);
}

static const struct {
    const char *s;
    char unit;
    int rc, want;
} time_cases[] = {
    {"0", 's', 0, 0},
    {"300", 's', 0, 300},
    {"300s", 's', 0, 300},
    {"5m", 's', 0, 300},
    {"2h", 's', 0, 7200},
    {"5d", 's', 0, 432000},
    {"1w", 's', 0, 604800},
    {"10", 'm', 0, 600},
    {"3H", 's', 0, 10800},
    {"", 's', -EINVAL, 0},
    {"s", 's', -EINVAL, 0},
    {"-1", 's', -EINVAL, 0},
    {"1x", 's', -EINVAL, 0},
    {"1ss", 's', -EINVAL, 0},
    {" 1", 's', -EINVAL, 0},
    {"1 s", 's', -EINVAL, 0},
    {"99999999w", 's', -EINVAL, 0},
    {"99999999999999999999999", 's', -EINVAL, 0},
};

static const struct {
    const char *s;
    int rc;
    long want;
} size_cases[] = {
    {"0", 0, 0},
    {"10240000", 0, 10240000},
    {"64k", 0, 65536},
    {"512m", 0, 512L << 20},
    {"16g", 0, 16L << 30},
    {"2G", 0, 2L << 30},
    {"", -EINVAL, 0},
    {"k", -EINVAL, 0},
    {"10kb", -EINVAL, 0},
    {"-5", -EINVAL, 0},
    {"1.5m", -EINVAL, 0},
    {"abc", -EINVAL, 0},
    {"99999999999999999999g", -EINVAL, 0},
};

static const struct {
    const char *s;
    int rc;
    bool want;
} bool_cases[] = {
    {"yes", 0, true}, {"no", 0, false},     {"YES", 0, true},  {"No", 0, false},
    {"", -EINVAL, 0}, {"true", -EINVAL, 0}, {"1", -EINVAL, 0}, {"yess", -EINVAL, 0},
};

static void test_value_parsers(void **state)
{
    for (size_t i = 0; i < sizeof(time_cases) / sizeof(time_cases[0]); i++) {
        int v = -42;
        int rc = config_parse_time(time_cases[i].s, time_cases[i].unit, &v);
        if (rc != time_cases[i].rc || (rc == 0 && v != time_cases[i].want))
            fail_msg("time case %zu \"%s\": rc %d value %d", i, time_cases[i].s, rc, v);
    }
    for (size_t i = 0; i < sizeof(size_cases) / sizeof(size_cases[0]); i++) {
        long v = -42;
        int rc = config_parse_size(size_cases[i].s, &v);
        if (rc != size_cases[i].rc || (rc == 0 && v != size_cases[i].want))
            fail_msg("size case %zu \"%s\": rc %d value %ld", i, size_cases[i].s, rc, v);
    }
    for (size_t i = 0; i < sizeof(bool_cases) / sizeof(bool_cases[0]); i++) {
        bool v = !bool_cases[i].want;
        int rc = config_parse_bool(bool_cases[i].s, &v);
        if (rc != bool_cases[i].rc || (rc == 0 && v != bool_cases[i].want))
            fail_msg("bool case %zu \"%s\": rc %d", i, bool_cases[i].s, rc);
    }
}

static const struct {
    const char *s;
    size_t n;
    const char *items[4];
} list_cases[] = {
    {"", 0, {NULL}},
    {"  , ,\t", 0, {NULL}},
    {"a", 1, {"a"}},
    {"a,b c", 3, {"a", "b", "c"}},
    {" a ,\tb,,c\n d ", 4, {"a", "b", "c", "d"}},
    {"[::1]:25,127.0.0.1:25", 2, {"[::1]:25", "127.0.0.1:25"}},
};

static void test_split_list(void **state)
{
    for (size_t i = 0; i < sizeof(list_cases) / sizeof(list_cases[0]); i++) {
        struct config_list l;
        assert_int_equal(config_parse_list(list_cases[i].s, &l), 0);
        if (l.n != list_cases[i].n)
            fail_msg("list case %zu: %zu items, want %zu", i, l.n, list_cases[i].n);
        for (size_t k = 0; k < l.n; k++)
            assert_string_equal(l.item[k], list_cases[i].items[k]);
        config_list_free(&l);
        assert_int_equal(l.n, 0);
        config_list_free(&l); /* twice is fine */
    }
}

/* the global client TLS level: smtp_tls_security_level, else the talk's smtp_use_tls,
 * smtp_enforce_tls and smtp_tls_enforce_peername (Postfix's global_tls_level) */
#define ANCHORS "dnssec_trust_anchor_file = " TESTS_DIR "/unit/config/data/ta.ds\n"
static void test_smtp_tls_level(void **state)
{
    static const struct {
        const char *text;
        int rc;
        enum tls_level want;
    } g[] = {
        {"", 0, TLS_LEVEL_NONE},
        {"smtp_use_tls = yes\n", 0, TLS_LEVEL_MAY},
        {"smtp_use_tls = yes\nsmtp_enforce_tls = yes\n", 0, TLS_LEVEL_VERIFY}, /* the talk's */
        {"smtp_enforce_tls = yes\nsmtp_tls_enforce_peername = no\n", 0, TLS_LEVEL_ENCRYPT},
        {"smtp_tls_security_level = secure\n", 0, TLS_LEVEL_SECURE},
        {"smtp_tls_security_level = Encrypt\nsmtp_enforce_tls = yes\n", 0, TLS_LEVEL_ENCRYPT},
        {"smtp_tls_security_level = dane\n", -EINVAL, 0}, /* needs dnssec */
        {"smtp_tls_security_level = dane\nsmtp_dns_support_level = dnssec\n" ANCHORS, 0,
         TLS_LEVEL_DANE},
        {"smtp_tls_security_level = dane-only\nsmtp_dns_support_level = DNSSEC\n" ANCHORS, 0,
         TLS_LEVEL_DANE_ONLY},
        {"smtp_dns_support_level = dnssec\ndnssec_trust_anchor_file = /nonexistent/root.key\n",
         -ENOENT, 0},
        {"smtp_dns_support_level = dnssec\ndnssec_trust_anchor_file = " TLS_DATA_DIR "/ca.pem\n",
         -EINVAL, 0}, /* no DS or DNSKEY record in it */
        {"smtp_tls_security_level = may\nsmtp_dns_support_level = enabled\n", 0, TLS_LEVEL_MAY},
        {"smtp_dns_support_level = disabled\n", -EINVAL, 0}, /* tern always looks up MX */
        {"smtp_dns_support_level = sometimes\n", -EINVAL, 0},
        {"smtp_tls_security_level = halfdane\n", -EINVAL, 0},
        {"smtp_tls_security_level = bogus\n", -EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
        struct tern_config *cfg = load_ok(g[i].text);
        struct tern_tls *t = NULL;
        char *err = NULL;
        int rc = tlsconf_build(&t, cfg, NULL, NULL, &err);
        if (rc != g[i].rc)
            fail_msg("%s: rc %d (%s), want %d", g[i].text, rc, err ? err : "", g[i].rc);
        if (rc == 0)
            assert_int_equal(t->smtp_level, g[i].want);
        else
            assert_non_null(err);
        free(err);
        tlsconf_unref(t);
        config_unref(cfg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_smtp_tls_level, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expansion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expansion_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_continuation_comments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_units, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nesting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nul_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inet_interfaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_print_nondefault, setup, teardown),
        cmocka_unit_test(test_value_parsers),
        cmocka_unit_test(test_split_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
