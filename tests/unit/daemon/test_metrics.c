/*
 * test_metrics - daemon/metrics: metrics_listen values, the bind error, and the
 * Prometheus text of a known snapshot (HELP/TYPE per family, labels,
 * histogram buckets made cumulative, +Inf = _count).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/daemon/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const struct {
    const char *value;
    int rc;
    const char *msg; /* part of the error text */
} check_cases[] = {
    {"", 0, NULL},
    {"127.0.0.1:9465", 0, NULL},
    {"[::1]:9465", 0, NULL},
    {"0.0.0.0:9465", 0, NULL},
    {"localhost:9465", -EINVAL, "not a numeric address"},
    {"127.0.0.1", -EINVAL, "numeric-address:port"},
    {"127.0.0.1:0", -EINVAL, "numeric-address:port"},
    {"127.0.0.1:99999", -EINVAL, "numeric-address:port"},
    {"[::1:9465", -EINVAL, "numeric-address:port"},
};

/* test_check - metrics_listen values */
static void test_check(void **state)
{
    for (size_t i = 0; i < sizeof(check_cases) / sizeof(check_cases[0]); i++) {
        char *err = NULL;
        int rc = metrics_check(check_cases[i].value, &err);
        if (rc != check_cases[i].rc)
            fail_msg("case \"%s\": rc %d, want %d", check_cases[i].value, rc, check_cases[i].rc);
        if (check_cases[i].msg &&
            (!err || !strstr(err, check_cases[i].msg) || !strstr(err, "metrics_listen")))
            fail_msg("case \"%s\": error \"%s\"", check_cases[i].value, err ? err : "(none)");
        free(err);
    }
}

/* test_bind_busy - a port someone listens on is a clear error */
static void test_bind_busy(void **state)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(fd, 1), 0);
    socklen_t len = sizeof(sin);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    char hp[64];
    snprintf(hp, sizeof(hp), "127.0.0.1:%d", ntohs(sin.sin_port));
    struct metrics *m = NULL;
    char *err = NULL;
    assert_int_equal(metrics_open(&m, NULL, hp, &err), -EADDRINUSE);
    assert_null(m);
    assert_non_null(err);
    assert_non_null(strstr(err, "metrics_listen"));
    assert_non_null(strstr(err, "in use"));
    free(err);
    close(fd);
    metrics_close(NULL);
}

/* render - the text of s (malloc'd) */
static char *render(const struct metrics_snapshot *s)
{
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    assert_non_null(fp);
    assert_int_equal(metrics_render(s, fp), 0);
    fclose(fp);
    return text;
}

static const char *const want_lines[] = {
    "# TYPE tern_messages_received_total counter\n",
    "tern_messages_received_total 100\n",
    "tern_recipients_delivered_total 90\n",
    "tern_recipients_deferred_total 7\n",
    "tern_recipients_bounced_total 3\n",
    "# TYPE tern_queue_messages gauge\n",
    "tern_queue_messages 5\n",
    "tern_inbound_connections_total 12\n",
    "tern_outbound_connections_total 4\n",
    "# TYPE tern_tls_handshakes_total counter\n",
    "tern_tls_handshakes_total{direction=\"inbound\",result=\"full\"} 11\n",
    "tern_tls_handshakes_total{direction=\"inbound\",result=\"resumed\"} 22\n",
    "tern_tls_handshakes_total{direction=\"inbound\",result=\"failed\"} 1\n",
    "tern_tls_handshakes_total{direction=\"outbound\",result=\"full\"} 2\n",
    "tern_tls_handshakes_total{direction=\"outbound\",result=\"resumed\"} 33\n",
    "tern_tls_handshakes_total{direction=\"outbound\",result=\"failed\"} 0\n",
    "tern_tls_session_cache_hits_total 33\n",
    "tern_tls_session_cache_misses_total 2\n",
    "tern_queue_commits_total 10\n",
    "tern_queue_committed_messages_total 100\n",
    "# TYPE tern_queue_commit_seconds histogram\n",
    "tern_queue_commit_seconds_bucket{le=\"0.0001\"} 1\n",
    "tern_queue_commit_seconds_bucket{le=\"0.00025\"} 1\n",
    "tern_queue_commit_seconds_bucket{le=\"0.0005\"} 4\n",
    "tern_queue_commit_seconds_bucket{le=\"0.5\"} 9\n",
    "tern_queue_commit_seconds_bucket{le=\"+Inf\"} 10\n",
    "tern_queue_commit_seconds_sum 1.25\n",
    "tern_queue_commit_seconds_count 10\n",
    "# TYPE tern_queue_commit_batch_size histogram\n",
    "tern_queue_commit_batch_size_bucket{le=\"0\"} 0\n",
    "tern_queue_commit_batch_size_bucket{le=\"8\"} 4\n",
    "tern_queue_commit_batch_size_bucket{le=\"16\"} 10\n",
    "tern_queue_commit_batch_size_bucket{le=\"+Inf\"} 10\n",
    "tern_queue_commit_batch_size_sum 100\n",
    "tern_queue_commit_batch_size_count 10\n",
};

/* test_render - a known snapshot, line by line; every sample's family has HELP and TYPE */
static void test_render(void **state)
{
    struct metrics_snapshot s;
    memset(&s, 0, sizeof(s));
    s.queue.received = 100;
    s.queue.delivered = 90;
    s.queue.deferred = 7;
    s.queue.bounced = 3;
    s.queue.queue_size = 5;
    s.queue.commits = 10;
    s.queue.committed_msgs = 100;
    s.queue.commit_seconds_count[0] = 1;                    /* <= 0.0001 */
    s.queue.commit_seconds_count[2] = 3;                    /* <= 0.0005 */
    s.queue.commit_seconds_count[10] = 5;                   /* <= 0.5 */
    s.queue.commit_seconds_count[QUEUE_HIST_SLOTS - 1] = 1; /* +Inf */
    s.queue.commit_seconds_sum = 1.25;
    s.queue.batch_size_count[4] = 4; /* <= 8 */
    s.queue.batch_size_count[5] = 6; /* <= 16 */
    s.queue.batch_size_sum = 100;
    s.inbound_connections = 12;
    s.stats[STAT_OUT_CONNECTIONS] = 4;
    s.stats[STAT_TLS_IN_FULL] = 11;
    s.stats[STAT_TLS_IN_RESUMED] = 22;
    s.stats[STAT_TLS_IN_FAILED] = 1;
    s.stats[STAT_TLS_OUT_FULL] = 2;
    s.stats[STAT_TLS_OUT_RESUMED] = 33;
    s.stats[STAT_TLS_CACHE_HIT] = 33;
    s.stats[STAT_TLS_CACHE_MISS] = 2;
    char *text = render(&s);
    for (size_t i = 0; i < sizeof(want_lines) / sizeof(want_lines[0]); i++)
        if (!strstr(text, want_lines[i]))
            fail_msg("missing line: %s--- text:\n%s", want_lines[i], text);

    /* every sample line belongs to a family announced by HELP and TYPE before it */
    char *save = NULL;
    char family[128] = "";
    int samples = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!strncmp(line, "# HELP ", 7)) {
            sscanf(line + 7, "%127s", family);
            continue;
        }
        if (!strncmp(line, "# TYPE ", 7)) {
            char f[128];
            sscanf(line + 7, "%127s", f);
            assert_string_equal(f, family);
            continue;
        }
        assert_int_equal(strncmp(line, family, strlen(family)), 0);
        assert_int_equal(strncmp(line, "tern_", 5), 0);
        samples++;
    }
    assert_true(samples >= 40);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_bind_busy),
        cmocka_unit_test(test_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
