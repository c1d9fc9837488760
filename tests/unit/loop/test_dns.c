/*
 * test_dns - MX and address lookups through libunbound against a real DNS
 * server: dnsmasq on 127.0.0.1 at a random high port, with the zone below.
 * Skips (77) when /usr/sbin/dnsmasq is missing. dnsmasq is killed at the end
 * whatever happens (group teardown, and atexit for aborts).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/loop/dns.h"
#include "dns_test_server.h"
#include "core/base/error.h"

#define DNSMASQ "/usr/sbin/dnsmasq"

static pid_t dnsmasq_pid = -1;
static int dns_port;
static char server[32];

static const char *const zone[] = {
    "--mx-host=d1.test,mx1.d1.test,10",
    "--mx-host=d1.test,mx2.d1.test,20",
    "--host-record=mx1.d1.test,127.0.0.2",
    "--host-record=mx2.d1.test,127.0.0.3,::3",
    "--host-record=plain.test,127.0.0.4",
    "--dns-rr=nullmx.test,15,000000",
    "--mx-host=eq.test,a.eq.test,5",
    "--mx-host=eq.test,b.eq.test,5",
    "--host-record=a.eq.test,127.0.0.5",
    "--host-record=b.eq.test,127.0.0.6",
    "--mx-host=ghost.test,nowhere.ghost.test,10",
    "--mx-host=half.test,nowhere.half.test,5",
    "--mx-host=half.test,plain.test,50",
    "--mx-host=upper.test,mx.upper.test,10",
    "--host-record=mx.upper.test,127.0.0.7",
    "--host-record=xn--bcher-kva.test,127.0.0.8", /* b\u00fccher.test */
    "--server=/fail.test/127.0.0.1#9",            /* nothing listens: SERVFAIL */
    NULL,
};

/* kill_dnsmasq - stop the server we started (idempotent) */
static void kill_dnsmasq(void)
{
    if (dnsmasq_pid > 0) {
        kill(dnsmasq_pid, SIGTERM);
        waitpid(dnsmasq_pid, NULL, 0);
        dnsmasq_pid = -1;
    }
}

/* probe - does something answer a DNS query on the port (within 200 ms) */
static int probe(int port)
{
    /* query id 0x1234, RD, one question: d1.test MX IN */
    static const unsigned char q[] = {0x12, 0x34, 0x01, 0x00, 0,   1,   0,   0, 0, 0,  0, 0, 2,
                                      'd',  '1',  4,    't',  'e', 's', 't', 0, 0, 15, 0, 1};
    return dns_test_answers(port, q, sizeof(q), 0);
}

static int start_dnsmasq(void **state)
{
    char portarg[32];
    const char *argv[64];
    size_t n = 0;

    (void)state;
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());
    if ((dns_port = dns_test_free_port()) < 0)
        return -1;
    snprintf(portarg, sizeof(portarg), "--port=%d", dns_port);
    snprintf(server, sizeof(server), "127.0.0.1:%d", dns_port);
    argv[n++] = DNSMASQ;
    argv[n++] = "--no-resolv";
    argv[n++] = "--no-hosts";
    argv[n++] = "--no-daemon";
    argv[n++] = "--bind-interfaces";
    argv[n++] = "--listen-address=127.0.0.1";
    argv[n++] = portarg;
    argv[n++] = "--user=root";
    argv[n++] = "--pid-file";
    argv[n++] = "--local=/test/"; /* answer NXDOMAIN for unknown names, never forward */
    for (size_t i = 0; zone[i]; i++)
        argv[n++] = zone[i];
    argv[n] = NULL;

    dnsmasq_pid = fork();
    if (dnsmasq_pid == 0) {
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
            _exit(127);
        execv(DNSMASQ, (char *const *)argv);
        _exit(127);
    }
    if (dnsmasq_pid < 0)
        return -1;
    atexit(kill_dnsmasq);
    for (int i = 0; i < 50; i++) {
        if (probe(dns_port))
            return 0;
        if (waitpid(dnsmasq_pid, NULL, WNOHANG) == dnsmasq_pid) {
            dnsmasq_pid = -1;
            fprintf(stderr, "dnsmasq exited at start-up\n");
            return -1;
        }
    }
    fprintf(stderr, "dnsmasq does not answer on port %d\n", dns_port);
    return -1;
}

static int stop_dnsmasq(void **state)
{
    (void)state;
    kill_dnsmasq();
    return 0;
}

/* One lookup's outcome, copied out of the callback. */
struct outcome {
    int calls;
    enum dns_status status;
    char error[128];
    size_t nhost;
    struct dns_host host[8];
};

static void record(void *arg, const struct dns_result *res)
{
    struct outcome *o = arg;
    o->calls++;
    o->status = res->status;
    snprintf(o->error, sizeof(o->error), "%s", res->error);
    o->nhost = res->nhost < 8 ? res->nhost : 8;
    if (o->nhost)
        memcpy(o->host, res->host, o->nhost * sizeof(*o->host));
}

/* drive - poll the resolver until every outcome has its callback (10 s at most) */
static void drive(struct dns_resolver *r, struct outcome *o, size_t n)
{
    time_t deadline = time(NULL) + 10;
    for (;;) {
        size_t done = 0;
        for (size_t i = 0; i < n; i++)
            done += o[i].calls > 0;
        if (done == n)
            return;
        assert_true(time(NULL) < deadline);
        struct pollfd pfd = {.fd = dns_resolver_fd(r), .events = POLLIN};
        if (poll(&pfd, 1, 500) > 0)
            assert_true(dns_resolver_process(r) >= 0);
    }
}

static struct dns_resolver *new_resolver(void)
{
    struct dns_resolver *r = NULL;
    char *servers[] = {server};
    assert_int_equal(dns_resolver_new(&r, servers, 1), 0);
    return r;
}

struct host_want {
    const char *name;
    int pref;
    const char *addr[3];
};

static const struct {
    const char *domain;
    enum dns_status status;
    size_t nhost;
    struct host_want host[3];
    const char *error; /* substring */
} mx_cases[] = {
    {"d1.test",
     DNS_OK,
     2,
     {{"mx1.d1.test", 10, {"127.0.0.2"}}, {"mx2.d1.test", 20, {"127.0.0.3", "::3"}}},
     NULL},
    {"D1.test.",
     DNS_OK,
     2,
     {{"mx1.d1.test", 10, {"127.0.0.2"}}, {"mx2.d1.test", 20, {"127.0.0.3"}}},
     NULL},
    {"plain.test", DNS_OK, 1, {{"plain.test", 0, {"127.0.0.4"}}}, NULL},
    {"nullmx.test", DNS_NULL_MX, 0, {{NULL, 0, {NULL}}}, "nullMX"},
    {"unknown.test", DNS_NOTFOUND, 0, {{NULL, 0, {NULL}}}, "Host not found"},
    {"ghost.test", DNS_NOTFOUND, 0, {{NULL, 0, {NULL}}}, "Host or domain name not found"},
    {"fail.test", DNS_TEMPFAIL, 0, {{NULL, 0, {NULL}}}, "try again"},
    {"half.test", DNS_OK, 1, {{"plain.test", 50, {"127.0.0.4"}}}, NULL},
    /* asked only in capitals: the server compresses the answer against the
     * question, so the exchanger comes back as "mx.UPPER.Test" */
    {"UPPER.Test", DNS_OK, 1, {{"mx.upper.test", 10, {"127.0.0.7"}}}, NULL},
};

static void test_mx(void **state)
{
    (void)state;
    struct dns_resolver *r = new_resolver();
    size_t n = sizeof(mx_cases) / sizeof(mx_cases[0]);
    struct outcome o[sizeof(mx_cases) / sizeof(mx_cases[0])] = {0};

    for (size_t i = 0; i < n; i++)
        assert_int_equal(dns_lookup_mx(r, mx_cases[i].domain, record, &o[i]), 0);
    drive(r, o, n);
    for (size_t i = 0; i < n; i++) {
        print_message("MX %s: status %d nhost %zu %s\n", mx_cases[i].domain, o[i].status,
                      o[i].nhost, o[i].error);
        assert_int_equal(o[i].calls, 1);
        assert_int_equal(o[i].status, mx_cases[i].status);
        assert_int_equal(o[i].nhost, mx_cases[i].nhost);
        for (size_t h = 0; h < o[i].nhost; h++) {
            const struct host_want *w = &mx_cases[i].host[h];
            assert_string_equal(o[i].host[h].name, w->name);
            assert_int_equal(o[i].host[h].pref, w->pref);
            for (size_t a = 0; a < 3 && w->addr[a]; a++) {
                assert_true(a < o[i].host[h].naddr);
                assert_string_equal(o[i].host[h].addr[a], w->addr[a]);
            }
        }
        if (mx_cases[i].error)
            assert_non_null(strstr(o[i].error, mx_cases[i].error));
    }
    dns_resolver_free(r);
}

/* Equal preferences come in random order: both orders show up in 24 lookups. */
static void test_mx_shuffle(void **state)
{
    (void)state;
    struct dns_resolver *r = new_resolver();
    struct outcome o[24] = {0};
    int a_first = 0;

    for (size_t i = 0; i < 24; i++)
        assert_int_equal(dns_lookup_mx(r, "eq.test", record, &o[i]), 0);
    drive(r, o, 24);
    for (size_t i = 0; i < 24; i++) {
        assert_int_equal(o[i].status, DNS_OK);
        assert_int_equal(o[i].nhost, 2);
        assert_int_equal(o[i].host[0].pref, 5);
        assert_int_equal(o[i].host[1].pref, 5);
        a_first += strcmp(o[i].host[0].name, "a.eq.test") == 0;
    }
    assert_true(a_first > 0 && a_first < 24);
    dns_resolver_free(r);
}

static const struct {
    const char *host;
    enum dns_status status;
    const char *addr[2];
} host_cases[] = {
    {"mx1.d1.test", DNS_OK, {"127.0.0.2"}},
    {"mx2.d1.test", DNS_OK, {"127.0.0.3", "::3"}},
    {"[mx1.d1.test]", DNS_OK, {"127.0.0.2"}},
    {"127.0.0.9", DNS_OK, {"127.0.0.9"}},
    {"[192.0.2.7]", DNS_OK, {"192.0.2.7"}},
    {"[::1]", DNS_OK, {"::1"}},
    {"nohost.test", DNS_NOTFOUND, {NULL}},
    {"d1.test", DNS_NOTFOUND, {NULL}}, /* has MX, no address */
};

static void test_host(void **state)
{
    (void)state;
    struct dns_resolver *r = new_resolver();
    size_t n = sizeof(host_cases) / sizeof(host_cases[0]);
    struct outcome o[sizeof(host_cases) / sizeof(host_cases[0])] = {0};

    for (size_t i = 0; i < n; i++) {
        assert_int_equal(dns_lookup_host(r, host_cases[i].host, record, &o[i]), 0);
        assert_int_equal(o[i].calls, 0); /* never synchronously, not even literals */
    }
    drive(r, o, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(o[i].calls, 1);
        assert_int_equal(o[i].status, host_cases[i].status);
        if (o[i].status != DNS_OK) {
            assert_int_equal(o[i].nhost, 0);
            continue;
        }
        assert_int_equal(o[i].nhost, 1);
        for (size_t a = 0; a < 2 && host_cases[i].addr[a]; a++) {
            assert_true(a < o[i].host[0].naddr);
            assert_string_equal(o[i].host[0].addr[a], host_cases[i].addr[a]);
        }
    }
    dns_resolver_free(r);
}

/* dns_lookup_mailhost: "does mail have somewhere to go back to?" (reject_unknown_sender_domain) */
static const struct {
    const char *domain;
    enum dns_status status;
} mailhost_cases[] = {
    {"d1.test", DNS_OK},
    {"ghost.test", DNS_OK}, /* an MX record is enough, as in Postfix: its host is not looked up */
    {"plain.test", DNS_OK}, /* no MX, an A record */
    {"PLAIN.Test.", DNS_OK},
    {"b\xc3\xbc"
     "cher.test",
     DNS_OK}, /* looked up as xn--bcher-kva.test */
    {"nullmx.test", DNS_NULL_MX},
    {"unknown.test", DNS_NOTFOUND},
    /* no fail.test: after its MX query fails, A and AAAA go to the same dead server and take
     * unbound's retries (the session bounds that: SERVER_LOOKUP_TIMEOUT_MS; test_restrictions.sh
     * has SERVFAIL and silent servers) */
};

static void test_mailhost(void **state)
{
    (void)state;
    struct dns_resolver *r = new_resolver();
    size_t n = sizeof(mailhost_cases) / sizeof(mailhost_cases[0]);
    struct outcome o[sizeof(mailhost_cases) / sizeof(mailhost_cases[0])] = {0};
    struct outcome cancelled = {0};
    struct dns_lookup *lk = NULL, *gone = NULL;

    for (size_t i = 0; i < n; i++) {
        assert_int_equal(dns_lookup_mailhost(r, mailhost_cases[i].domain, record, &o[i], &lk), 0);
        assert_non_null(lk);
    }
    assert_int_equal(dns_lookup_mailhost(r, "d1.test", record, &cancelled, &gone), 0);
    dns_lookup_cancel(r, gone); /* never calls back */
    assert_true(dns_lookup_mailhost(r, "bad\xff.test", record, &cancelled, &gone) < 0);
    drive(r, o, n);
    for (size_t i = 0; i < n; i++) {
        print_message("mailhost %s: status %d %s\n", mailhost_cases[i].domain, o[i].status,
                      o[i].error);
        assert_int_equal(o[i].calls, 1);
        assert_int_equal(o[i].status, mailhost_cases[i].status);
    }
    assert_int_equal(cancelled.calls, 0);
    dns_resolver_free(r);
}

/* Freeing the resolver cancels outstanding lookups without calling back. */
static void test_cancel(void **state)
{
    (void)state;
    struct dns_resolver *r = new_resolver();
    struct outcome o[3] = {0};

    assert_int_equal(dns_lookup_mx(r, "d1.test", record, &o[0]), 0);
    assert_int_equal(dns_lookup_host(r, "plain.test", record, &o[1]), 0);
    assert_int_equal(dns_lookup_host(r, "10.1.2.3", record, &o[2]), 0);
    dns_resolver_free(r);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(o[i].calls, 0);
}

static const struct {
    const char *server;
    int rc;
} server_cases[] = {
    {"127.0.0.1", 0},
    {"127.0.0.1:5353", 0},
    {"[::1]:53", 0},
    {"::1", 0},
    {"[::1]", 0},
    {"dns.example", -TERN_ERR_CONFIG},
    {"127.0.0.1:0", -TERN_ERR_CONFIG},
    {"127.0.0.1:x", -TERN_ERR_CONFIG},
    {"[::1", -TERN_ERR_CONFIG},
};

static void test_servers(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(server_cases) / sizeof(server_cases[0]); i++) {
        struct dns_resolver *r = NULL;
        char *servers[] = {(char *)server_cases[i].server};
        assert_int_equal(dns_resolver_new(&r, servers, 1), server_cases[i].rc);
        if (r)
            assert_true(dns_resolver_fd(r) >= 0);
        dns_resolver_free(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_servers),    cmocka_unit_test(test_mx),
        cmocka_unit_test(test_mx_shuffle), cmocka_unit_test(test_host),
        cmocka_unit_test(test_cancel),     cmocka_unit_test(test_mailhost),
    };
    if (access(DNSMASQ, X_OK) != 0) {
        fprintf(stderr, "%s not found: skipped\n", DNSMASQ);
        return 77;
    }
    return cmocka_run_group_tests(tests, start_dnsmasq, stop_dnsmasq);
}
