/*
 * test_dnssec - DNSSEC validation in the resolver and TLSA lookups (dns_rr), against NSD
 * serving zones signed for the test (tests/integration/dnssec_zones.sh: ldns-keygen,
 * ldns-signzone) on 127.0.0.1 at a random high port, their DS records as the trust anchors:
 *   dane.test   signed: an MX with addresses and a TLSA record, a TLSA record and an MX
 *               whose signatures are spoiled (bogus), a host without TLSA records;
 *   plain.test  unsigned: no anchor covers it (insecure).
 * Skips (77) when nsd or ldns-signzone is missing. NSD is stopped at the end whatever
 * happens (group teardown, and atexit for aborts).
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/base/tmpdir.h"
#include "core/loop/dns.h"
#include "dns_test_server.h"
#include "core/loop/dns_rr.h"

#define NSD "/usr/sbin/nsd"
#define SIGNZONE "/usr/bin/ldns-signzone"
#define EE "d1f661baf7156e88516dd96b7d0ec43b6e1db1bc51ab616776b771f891da2b62"

static pid_t nsd_pid = -1;
static char dir[256], server[32], anchors[300];

static const char dane_zone[] =
    "; signed\n"
    "$ORIGIN dane.test.\n"
    "$TTL 300\n"
    "@ IN SOA ns.dane.test. hostmaster.dane.test. 1 3600 600 86400 300\n"
    "@ IN NS ns.dane.test.\n"
    "ns IN A 127.0.0.1\n"
    "@ IN MX 10 mx.dane.test.\n"
    "mx IN A 127.0.0.1\n"
    "_25._tcp.mx IN TLSA 3 1 1 " EE "\n"
    "_25._tcp.mx IN TLSA 2 0 1 " EE "\n"
    "nodane IN MX 10 mx2.nodane.dane.test.\n"
    "mx2.nodane IN A 127.0.0.2\n"
    "badsig IN MX 10 mx.dane.test. ; bogus\n"
    "_25._tcp.mx3 IN TLSA 3 1 1 " EE " ; bogus\n"
    "cn IN MX 10 alias.dane.test.\n"
    "alias IN CNAME mx.dane.test.\n";

static const char plain_zone[] =
    "$ORIGIN plain.test.\n"
    "$TTL 300\n"
    "@ IN SOA ns.plain.test. hostmaster.plain.test. 1 3600 600 86400 300\n"
    "@ IN NS ns.plain.test.\n"
    "ns IN A 127.0.0.1\n"
    "@ IN MX 10 mx.plain.test.\n"
    "mx IN A 127.0.0.3\n"
    "_25._tcp.mx IN TLSA 3 1 1 " EE "\n";

/* stop_nsd_now - stop the server we started (idempotent) */
static void stop_nsd_now(void)
{
    if (nsd_pid > 0) {
        kill(nsd_pid, SIGTERM);
        waitpid(nsd_pid, NULL, 0);
        nsd_pid = -1;
    }
}

/* answers - does the server answer a query for dane.test SOA (within 200 ms)? */
static int answers(int port)
{
    static const unsigned char q[] = {0x12, 0x34, 0x01, 0x00, 0,   1,   0,   0,   0,
                                      0,    0,    0,    4,    'd', 'a', 'n', 'e', 4,
                                      't',  'e',  's',  't',  0,   0,   6,   0,   1};
    return dns_test_answers(port, q, sizeof(q), 1);
}

/* write_file - dir/name with text */
static int write_file(const char *name, const char *text)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

static int start_nsd(void **state)
{
    (void)state;
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());
    int port = dns_test_free_port();
    if (port < 0 || tmpdir_make(dir, sizeof(dir), "test_dnssec") < 0)
        return -1;
    if (write_file("dane.test.zone", dane_zone) < 0 ||
        write_file("plain.test.zone", plain_zone) < 0)
        return -1;
    char cmd[800];
    snprintf(cmd, sizeof(cmd), "sh %s/integration/dnssec_zones.sh %s %d", TESTS_DIR, dir, port);
    if (system(cmd) != 0) {
        fprintf(stderr, "%s failed\n", cmd);
        return -1;
    }
    snprintf(server, sizeof(server), "127.0.0.1:%d", port);
    snprintf(anchors, sizeof(anchors), "%s/ta.ds", dir);
    char conf[300];
    snprintf(conf, sizeof(conf), "%s/nsd.conf", dir);
    nsd_pid = fork();
    if (nsd_pid == 0) {
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
            _exit(127);
        execl(NSD, NSD, "-c", conf, "-d", (char *)NULL);
        _exit(127);
    }
    if (nsd_pid < 0)
        return -1;
    atexit(stop_nsd_now);
    for (int i = 0; i < 50; i++) {
        if (answers(port))
            return 0;
        if (waitpid(nsd_pid, NULL, WNOHANG) == nsd_pid) {
            nsd_pid = -1;
            fprintf(stderr, "nsd exited at start-up (see %s/nsd.log)\n", dir);
            return -1;
        }
        usleep(20000);
    }
    fprintf(stderr, "nsd does not answer on port %d\n", port);
    return -1;
}

static int stop_nsd(void **state)
{
    (void)state;
    stop_nsd_now();
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* tlsa_lookup - dns_rr_lookup of _port._tcp.host, type TLSA */
static int tlsa_lookup(struct dns_resolver *r, const char *host, unsigned port, dns_rr_cb *cb,
                       void *arg, struct dns_rr **t)
{
    char name[DNS_RR_NAME_MAX];
    int rc = dns_rr_tlsa_name(host, port, name, sizeof(name));
    return rc < 0 ? rc : dns_rr_lookup(r, name, DNS_RR_TLSA, cb, arg, t);
}

/* one lookup's outcome, copied out of the callback */
struct outcome {
    int calls;
    enum dns_status status;
    bool secure, host_secure;
    char cname[256]; /* the first host's */
    size_t n;
    unsigned char first[3]; /* a TLSA answer's first record: usage, selector, type */
};

static void record_mx(void *arg, const struct dns_result *res)
{
    struct outcome *o = arg;
    o->calls++;
    o->status = res->status;
    o->secure = res->secure;
    o->n = res->nhost;
    o->host_secure = res->nhost > 0 && res->host[0].secure;
    snprintf(o->cname, sizeof(o->cname), "%s", res->nhost > 0 ? res->host[0].cname : "");
}

static void record_tlsa(void *arg, const struct dns_rr_result *res)
{
    struct outcome *o = arg;
    o->calls++;
    o->status = res->status;
    o->secure = res->secure;
    o->n = res->n;
    if (res->n > 0 && res->len[0] >= 3)
        memcpy(o->first, res->rdata[0], 3);
}

/* drive - poll the resolver until the outcome has its callback (10 s at most) */
static void drive(struct dns_resolver *r, struct outcome *o)
{
    time_t deadline = time(NULL) + 10;
    while (o->calls == 0) {
        assert_true(time(NULL) < deadline);
        struct pollfd pfd = {.fd = dns_resolver_fd(r), .events = POLLIN};
        if (poll(&pfd, 1, 500) > 0)
            assert_true(dns_resolver_process(r) >= 0);
    }
}

static struct dns_resolver *resolver(bool trust)
{
    struct dns_resolver *r = NULL;
    char *servers[] = {server};
    assert_int_equal(dns_resolver_new(&r, servers, 1), 0);
    if (trust)
        assert_int_equal(dns_resolver_trust(r, anchors), 0);
    return r;
}

static struct outcome mx(struct dns_resolver *r, const char *domain)
{
    struct outcome o = {0};
    assert_int_equal(dns_lookup_mx(r, domain, record_mx, &o), 0);
    drive(r, &o);
    return o;
}

static struct outcome tlsa(struct dns_resolver *r, const char *host)
{
    struct outcome o = {0};
    struct dns_rr *t;
    assert_int_equal(tlsa_lookup(r, host, 25, record_tlsa, &o, &t), 0);
    drive(r, &o);
    return o;
}

/* a signed zone: the MX answer and the exchanger's addresses are secure */
static void test_mx_secure(void **state)
{
    (void)state;
    struct dns_resolver *r = resolver(true);
    struct outcome o = mx(r, "dane.test");
    assert_int_equal(o.status, DNS_OK);
    assert_int_equal(o.n, 1);
    assert_true(o.secure);
    assert_true(o.host_secure);
    dns_resolver_free(r);
}

/* an MX host that is a CNAME: its addresses, and the name they were found at */
static void test_mx_cname(void **state)
{
    (void)state;
    struct dns_resolver *r = resolver(true);
    struct outcome o = mx(r, "cn.dane.test");
    assert_int_equal(o.status, DNS_OK);
    assert_true(o.secure);
    assert_true(o.host_secure);
    assert_string_equal(o.cname, "mx.dane.test");
    o = mx(r, "dane.test"); /* no CNAME: nothing noted */
    assert_string_equal(o.cname, "");
    dns_resolver_free(r);
}

/* an unsigned zone beside it: found, not secure; without anchors nothing is secure */
static void test_mx_insecure(void **state)
{
    (void)state;
    struct dns_resolver *r = resolver(true);
    struct outcome o = mx(r, "plain.test");
    assert_int_equal(o.status, DNS_OK);
    assert_false(o.secure);
    assert_false(o.host_secure);
    dns_resolver_free(r);
    r = resolver(false);
    o = mx(r, "dane.test");
    assert_int_equal(o.status, DNS_OK);
    assert_false(o.secure);
    dns_resolver_free(r);
}

/* a spoiled signature on the MX: a temporary failure, never the data */
static void test_mx_bogus(void **state)
{
    (void)state;
    struct dns_resolver *r = resolver(true);
    struct outcome o = mx(r, "badsig.dane.test");
    assert_int_equal(o.status, DNS_TEMPFAIL);
    assert_int_equal(o.n, 0);
    dns_resolver_free(r);
    /* without anchors the same answer is plain data */
    r = resolver(false);
    assert_int_equal(mx(r, "badsig.dane.test").status, DNS_OK);
    dns_resolver_free(r);
}

/* TLSA: secure records, a secure denial, insecure records, a bogus answer */
static void test_tlsa(void **state)
{
    (void)state;
    struct dns_resolver *r = resolver(true);
    struct outcome o = tlsa(r, "mx.dane.test");
    assert_int_equal(o.status, DNS_OK);
    assert_true(o.secure);
    assert_int_equal(o.n, 2);
    assert_true(o.first[0] == 3 || o.first[0] == 2);
    o = tlsa(r, "mx2.nodane.dane.test");
    assert_int_equal(o.status, DNS_NOTFOUND);
    assert_true(o.secure); /* the absence is proven */
    o = tlsa(r, "mx.plain.test");
    assert_int_equal(o.status, DNS_OK);
    assert_false(o.secure);
    o = tlsa(r, "mx3.dane.test");
    assert_int_equal(o.status, DNS_TEMPFAIL);
    assert_int_equal(o.n, 0);
    dns_resolver_free(r);
}

/* a cancelled lookup never calls back; bad names are refused */
static void test_tlsa_cancel(void **state)
{
    (void)state;
    struct dns_resolver *r = resolver(true);
    struct outcome gone = {0};
    struct dns_rr *t;
    assert_int_equal(tlsa_lookup(r, "mx.dane.test", 25, record_tlsa, &gone, &t), 0);
    dns_rr_cancel(r, t);
    struct outcome o = tlsa(r, "mx.dane.test."); /* the trailing dot is dropped */
    assert_int_equal(o.status, DNS_OK);
    assert_int_equal(gone.calls, 0);
    assert_int_equal(tlsa_lookup(r, "", 25, record_tlsa, &gone, &t), -EINVAL);
    assert_int_equal(tlsa_lookup(r, "mx.dane.test", 0, record_tlsa, &gone, &t), -EINVAL);
    dns_resolver_free(r);
}

/* a trust anchor file that is not there stops with a configuration error */
static void test_trust_missing(void **state)
{
    (void)state;
    struct dns_resolver *r = NULL;
    char *servers[] = {server};
    assert_int_equal(dns_resolver_new(&r, servers, 1), 0);
    assert_true(dns_resolver_trust(r, "/nonexistent/root.key") < 0);
    dns_resolver_free(r);
}

int main(void)
{
    struct stat st;
    if (stat(NSD, &st) != 0 || stat(SIGNZONE, &st) != 0) {
        fprintf(stderr, "test_dnssec: %s or %s missing, skipped\n", NSD, SIGNZONE);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mx_secure),     cmocka_unit_test(test_mx_insecure),
        cmocka_unit_test(test_mx_cname),      cmocka_unit_test(test_mx_bogus),
        cmocka_unit_test(test_tlsa),          cmocka_unit_test(test_tlsa_cancel),
        cmocka_unit_test(test_trust_missing),
    };
    return cmocka_run_group_tests(tests, start_nsd, stop_nsd);
}
