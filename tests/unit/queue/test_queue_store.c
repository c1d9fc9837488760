/*
 * test_queue_store - the envelope record format: round trips of a table of
 * envelopes, and every truncation or a wrong version refused.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "queue/queue_impl.h"

struct rcpt_case {
    const char *addr, *orcpt, *reason, *dsn;
    unsigned notify;
    uint8_t state;
    uint32_t tries;
};

struct env_case {
    const char *name;
    const char *sender, *envid, *client;
    int ret, body_type;
    bool smtputf8, hold, requiretls, tls_optional;
    size_t size;
    size_t nrcpt;
    struct rcpt_case rcpt[3];
};

static const struct env_case cases[] = {
    {"plain",
     "a@example.com",
     NULL,
     "c[192.0.2.1]",
     DSN_RET_NONE,
     BODY_7BIT,
     false,
     false,
     false,
     false,
     123,
     1,
     {{"b@example.net", NULL, NULL, "", 0, QR_WAITING, 0}}},
    {"null sender, dsn fields, requiretls",
     "",
     "ENV+2Dx",
     NULL,
     DSN_RET_HDRS,
     BODY_8BITMIME,
     true,
     true,
     true,
     false,
     1 << 20,
     2,
     {{"x@y.test", "rfc822;X@Y.test", "451 4.3.0 later", "4.3.0",
       DSN_NOTIFY_FAILURE | DSN_NOTIFY_DELAY, QR_WAITING, 3},
      {"z@y.test", NULL, "250 ok", "2.0.0", DSN_NOTIFY_NEVER, QR_DONE, 1}}},
    {"three recipients, empty strings, TLS-Required: No",
     "s@x",
     "",
     "",
     DSN_RET_FULL,
     BODY_7BIT,
     false,
     true,
     false,
     true,
     0,
     3,
     {{"r1@x", "", "", "5.1.1", 0, QR_DONE, 0},
      {"r2@x", NULL, NULL, "", 0, QR_WAITING, 7},
      {"r3@x", NULL, NULL, "", 0, QR_WAITING, 0}}},
};

/* build - a qmsg from a case */
static struct qmsg *build(const struct env_case *c)
{
    struct qmsg *m = queue_msg_queued_new();
    snprintf(m->qid, sizeof(m->qid), "0123456789ABCDEF");
    m->sender = strdup(c->sender);
    m->envid = queue_strdup(c->envid);
    m->client = queue_strdup(c->client);
    m->ret = c->ret;
    m->body_type = c->body_type;
    m->smtputf8 = c->smtputf8;
    m->hold = c->hold;
    m->requiretls = c->requiretls;
    m->tls_optional = c->tls_optional;
    m->arrival = 1700000000.25;
    m->queued = 1700000000.5;
    m->size = c->size;
    m->nrcpt = c->nrcpt;
    m->rcpt = calloc(c->nrcpt, sizeof(*m->rcpt));
    for (size_t i = 0; i < c->nrcpt; i++) {
        m->rcpt[i].addr = strdup(c->rcpt[i].addr);
        m->rcpt[i].orcpt = queue_strdup(c->rcpt[i].orcpt);
        m->rcpt[i].reason = queue_strdup(c->rcpt[i].reason);
        snprintf(m->rcpt[i].dsn, sizeof(m->rcpt[i].dsn), "%s", c->rcpt[i].dsn);
        m->rcpt[i].notify = c->rcpt[i].notify;
        m->rcpt[i].state = c->rcpt[i].state;
        m->rcpt[i].tries = c->rcpt[i].tries;
        m->rcpt[i].next_try = 1700000100.0 + (double)i;
    }
    return m;
}

static void assert_str_or_null(const char *a, const char *b)
{
    if (!a || !b)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

static void test_roundtrip(void **state)
{
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const struct env_case *tc = &cases[c];
        print_message("case: %s\n", tc->name);
        struct qmsg *m = build(tc), *d = NULL;
        struct buf b = BUF_INIT;
        m->body_crc = 0x12345678u;
        m->has_body_crc = true;
        assert_int_equal(queue_store_encode(&b, m), 0);
        assert_int_equal(queue_store_decode(&d, m->qid, buf_ptr(&b), buf_used(&b)), 0);
        assert_true(d->has_body_crc);
        assert_int_equal(d->body_crc, 0x12345678u);
        assert_string_equal(d->qid, m->qid);
        assert_string_equal(d->sender, tc->sender);
        assert_str_or_null(d->envid, tc->envid);
        assert_str_or_null(d->client, tc->client);
        assert_int_equal(d->ret, tc->ret);
        assert_int_equal(d->body_type, tc->body_type);
        assert_int_equal(d->smtputf8, tc->smtputf8);
        assert_int_equal(d->hold, tc->hold);
        assert_int_equal(d->requiretls, tc->requiretls);
        assert_int_equal(d->tls_optional, tc->tls_optional);
        assert_int_equal(d->size, tc->size);
        assert_true(d->arrival == m->arrival && d->queued == m->queued);
        assert_int_equal(d->nrcpt, tc->nrcpt);
        size_t left = 0;
        for (size_t i = 0; i < tc->nrcpt; i++) {
            const struct rcpt_case *rc = &tc->rcpt[i];
            assert_string_equal(d->rcpt[i].addr, rc->addr);
            assert_str_or_null(d->rcpt[i].orcpt, rc->orcpt);
            assert_str_or_null(d->rcpt[i].reason, rc->reason);
            assert_string_equal(d->rcpt[i].dsn, rc->dsn);
            assert_int_equal(d->rcpt[i].notify, rc->notify);
            assert_int_equal(d->rcpt[i].state, rc->state == QR_DONE ? QR_DONE : QR_WAITING);
            assert_int_equal(d->rcpt[i].tries, rc->tries);
            assert_true(d->rcpt[i].next_try == m->rcpt[i].next_try);
            left += rc->state != QR_DONE;
        }
        assert_int_equal(d->nleft, left);
        queue_msg_queued_free(d);

        /* Every truncation is refused, never misread. */
        for (size_t cut = 0; cut < buf_used(&b); cut++) {
            d = NULL;
            assert_true(queue_store_decode(&d, m->qid, buf_ptr(&b), cut) < 0);
            assert_null(d);
        }
        /* So is every single flipped bit: the record's CRC-32C finds it. */
        for (size_t bit = 8; bit < buf_used(&b) * 8; bit++) {
            d = NULL;
            buf_ptr(&b)[bit / 8] ^= (char)(1u << (bit % 8));
            assert_int_equal(queue_store_decode(&d, m->qid, buf_ptr(&b), buf_used(&b)), -EBADMSG);
            assert_null(d);
            buf_ptr(&b)[bit / 8] ^= (char)(1u << (bit % 8));
        }
        /* A version-1 record (before checksums: no content CRC, no trailer) is still read. */
        buf_ptr(&b)[0] = QUEUE_REC_VERSION_1;
        buf_ptr(&b)[1] &= (char)~QUEUE_FLAG_BODY_CRC;
        assert_int_equal(queue_store_decode(&d, m->qid, buf_ptr(&b), buf_used(&b) - 8), 0);
        assert_int_equal(d->nrcpt, tc->nrcpt);
        assert_false(d->has_body_crc);
        assert_string_equal(d->sender, tc->sender);
        queue_msg_queued_free(d);
        d = NULL;
        /* A later version is refused (and quarantined by recovery), never guessed at. */
        buf_ptr(&b)[0] = QUEUE_REC_VERSION + 1;
        assert_int_equal(queue_store_decode(&d, m->qid, buf_ptr(&b), buf_used(&b)), -EPROTO);
        buf_free(&b);
        queue_msg_queued_free(m);
    }
}

/* A field tern never writes makes the record corrupt (found by fuzz_queue_record: a time of
 * 5.5e100 reached a time_t conversion in `ternctl queue`). */
static void test_impossible_fields(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        double arrival, queued, next_try;
        int ret, body_type;
    } bad[] = {
        {"huge arrival", 5.54e100, 1e9, 1e9, 0, 0},
        {"NaN queued", 1e9, NAN, 1e9, 0, 0},
        {"negative next_try", 1e9, 1e9, -1, 0, 0},
        {"infinite next_try", 1e9, 1e9, INFINITY, 0, 0},
        {"ret 3", 1e9, 1e9, 1e9, 3, 0},
        {"body 2", 1e9, 1e9, 1e9, 0, 2},
    };
    for (size_t c = 0; c < sizeof(bad) / sizeof(bad[0]); c++) {
        print_message("case: %s\n", bad[c].name);
        struct qmsg *m = build(&cases[0]), *d = NULL;
        m->arrival = bad[c].arrival;
        m->queued = bad[c].queued;
        m->rcpt[0].next_try = bad[c].next_try;
        m->ret = bad[c].ret;
        m->body_type = bad[c].body_type;
        struct buf b = BUF_INIT;
        assert_int_equal(queue_store_encode(&b, m), 0);
        assert_int_equal(queue_store_decode(&d, m->qid, buf_ptr(&b), buf_used(&b)), -EINVAL);
        assert_null(d);
        buf_free(&b);
        queue_msg_queued_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_impossible_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
