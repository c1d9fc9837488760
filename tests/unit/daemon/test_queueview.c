/*
 * test_queueview - the text of `ternctl queue`, show and verify, from snapshots made by hand
 *
 * A table of cases: a snapshot and the exact text it prints (TZ=UTC). The
 * text is what ternctl users and scripts read, so every byte is pinned
 * here; tests/unit/queue/test_queue.c checks the snapshots a real queue
 * makes, and that the two meet.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/daemon/queueview.h"

#define T0 1700000000.0 /* Tue Nov 14 22:13:20 2023 UTC */
#define RCPT_LINE "                                                 " /* 49 spaces */

static struct queue_snapshot_rcpt rcpts_held[] = {
    {.addr = "a@x.test", .reason = "connect to x.test[192.0.2.1]:25: Connection refused"},
    {.addr = "b@x.test", .reason = "connect to x.test[192.0.2.1]:25: Connection refused"},
    {.addr = "c@y.test"},
};
static struct queue_snapshot_rcpt rcpts_active[] = {
    {.addr = "d@z.test", .state = QUEUE_SNAPSHOT_ACTIVE},
};
static struct queue_snapshot_msg list_msgs[] = {
    {.qid = "0123456789ABCDEF",
     .size = 1000,
     .arrival = T0,
     .sender = "s@example.com",
     .hold = true,
     .nrcpt = 3,
     .rcpt = rcpts_held},
    {.qid = "0123456789ABCDF0",
     .size = 1500,
     .arrival = T0 + 86400,
     .sender = "",
     .in_delivery = true,
     .nrcpt = 1,
     .rcpt = rcpts_active},
};
static char *corrupt_two[] = {"00000000000000AA", "badkey-00ff"};

static struct queue_snapshot_rcpt rcpts_show[] = {
    {.addr = "a@x.test", .state = QUEUE_SNAPSHOT_DONE, .tries = 1, .dsn = "2.0.0"},
    {.addr = "b@x.test",
     .state = QUEUE_SNAPSHOT_WAITING,
     .tries = 2,
     .next_try = T0 + 3600,
     .dsn = "4.4.1",
     .orcpt = "rfc822;B@x.test",
     .notify = DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE,
     .reason = "lost connection"},
    {.addr = "c@y.test", .state = QUEUE_SNAPSHOT_ACTIVE, .notify = DSN_NOTIFY_NEVER},
};
static struct queue_snapshot_msg show_msg = {
    .qid = "0123456789ABCDEF",
    .size = 16,
    .arrival = T0,
    .queued = T0 + 1,
    .sender = "s@example.com",
    .envid = "env1",
    .client = "mx.example[192.0.2.7]",
    .ret = DSN_RET_FULL,
    .body_type = BODY_8BITMIME,
    .smtputf8 = true,
    .hold = true,
    .nrcpt = 3,
    .rcpt = rcpts_show,
    .data = "Subject: x\r\n\r\nhi",
    .len = 16,
};
static struct queue_snapshot_msg show_plain = {
    .qid = "0123456789ABCDF0",
    .size = 4,
    .arrival = T0,
    .queued = T0,
    .sender = "",
    .nrcpt = 1,
    .rcpt = rcpts_active,
};
static struct queue_snapshot_damage damaged[] = {
    {.key = "0123456789ABCDEF", .why = "content checksum mismatch"},
    {.key = "short", .why = "malformed key"},
};

#define ENVELOPE_SHOW                                                                              \
    "*** ENVELOPE RECORDS 0123456789ABCDEF ***\n"                                                  \
    "message_size: 16\n"                                                                           \
    "message_arrival_time: Tue Nov 14 22:13:20\n"                                                  \
    "create_time: Tue Nov 14 22:13:21\n"                                                           \
    "sender: s@example.com\n"                                                                      \
    "envid: env1\n"                                                                                \
    "client: mx.example[192.0.2.7]\n"                                                              \
    "ret: full\n"                                                                                  \
    "body: 8bitmime smtputf8\n"                                                                    \
    "hold: yes\n"                                                                                  \
    "recipient: a@x.test status=done tries=1 dsn=2.0.0\n"                                          \
    "recipient: b@x.test status=waiting tries=2 next_try=Tue Nov 14 23:13:20 dsn=4.4.1 "           \
    "orcpt=rfc822;B@x.test notify=SUCCESS,FAILURE,\n"                                              \
    "  reason: lost connection\n"                                                                  \
    "recipient: c@y.test status=active tries=0 notify=NEVER\n"

enum view { LIST, SHOW, VERIFY };

static const struct {
    const char *name;
    enum view view;
    struct queue_snapshot snap;
    const char *want;
} cases[] = {
    {"list: empty", LIST, {0}, "Mail queue is empty\n"},
    {"list: empty, two corrupt",
     LIST,
     {.corrupt_dir = "/q/corrupt", .ncorrupt = 2, .corrupt = corrupt_two},
     "Mail queue is empty\n"
     "00000000000000AA# (corrupt: kept in /q/corrupt)\n"
     "badkey-00ff# (corrupt: kept in /q/corrupt)\n"
     "-- 2 corrupt messages kept for the operator.\n"},
    {"list: held, in delivery, a reason once for two recipients, one corrupt",
     LIST,
     {.nmsg = 2,
      .msg = list_msgs,
      .corrupt_dir = "/q/corrupt",
      .ncorrupt = 1,
      .corrupt = corrupt_two},
     "-Queue ID-        --Size-- ----Arrival Time----  -Sender/Recipient-------\n"
     "0123456789ABCDEF!     1000 Tue Nov 14 22:13:20   s@example.com\n"
     "(connect to x.test[192.0.2.1]:25: Connection refused)\n" RCPT_LINE "a@x.test\n" RCPT_LINE
     "b@x.test\n" RCPT_LINE "c@y.test\n"
     "\n"
     "0123456789ABCDF0*     1500 Wed Nov 15 22:13:20   MAILER-DAEMON\n" RCPT_LINE "d@z.test\n"
     "\n"
     "00000000000000AA# (corrupt: kept in /q/corrupt)\n"
     "-- 3 Kbytes in 2 Requests.\n"
     "-- 1 corrupt message kept for the operator.\n"},
    {"list: one message",
     LIST,
     {.nmsg = 1, .msg = list_msgs + 1},
     "-Queue ID-        --Size-- ----Arrival Time----  -Sender/Recipient-------\n"
     "0123456789ABCDF0*     1500 Wed Nov 15 22:13:20   MAILER-DAEMON\n" RCPT_LINE "d@z.test\n"
     "\n"
     "-- 2 Kbytes in 1 Request.\n"},
    {"show: every field, content without a last newline",
     SHOW,
     {.nmsg = 1, .msg = &show_msg},
     ENVELOPE_SHOW "*** MESSAGE CONTENTS 0123456789ABCDEF ***\n"
                   "Subject: x\r\n\r\nhi\n"
                   "*** END OF MESSAGE 0123456789ABCDEF ***\n"},
    {"show: content not read: the envelope only",
     SHOW,
     {.nmsg = 1, .msg = &show_plain},
     "*** ENVELOPE RECORDS 0123456789ABCDF0 ***\n"
     "message_size: 4\n"
     "message_arrival_time: Tue Nov 14 22:13:20\n"
     "create_time: Tue Nov 14 22:13:20\n"
     "sender: \n"
     "ret: default\n"
     "body: 7bit\n"
     "hold: no\n"
     "recipient: d@z.test status=active tries=0\n"},
    {"verify: sound",
     VERIFY,
     {.walked = true, .nrecords = 1},
     "-- 1 record verified, 0 damaged.\n"},
    {"verify: two damaged, one corrupt",
     VERIFY,
     {.walked = true,
      .nrecords = 3,
      .ndamaged = 2,
      .damaged = damaged,
      .corrupt_dir = "/q/corrupt",
      .ncorrupt = 1,
      .corrupt = corrupt_two},
     "0123456789ABCDEF: content checksum mismatch\n"
     "short: malformed key\n"
     "-- 3 records verified, 2 damaged.\n"
     "00000000000000AA# (corrupt: kept in /q/corrupt)\n"
     "-- 1 corrupt message kept for the operator.\n"},
    {"verify: the walk stopped: what it found, no count",
     VERIFY,
     {.nrecords = 3, .ndamaged = 1, .damaged = damaged},
     "0123456789ABCDEF: content checksum mismatch\n"},
};

static void test_text_table(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    tzset();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *text = NULL;
        size_t len = 0;
        FILE *fp = open_memstream(&text, &len);
        assert_non_null(fp);
        if (cases[i].view == LIST)
            queueview_print_list(&cases[i].snap, fp);
        else if (cases[i].view == SHOW)
            queueview_print_show(&cases[i].snap, fp);
        else
            queueview_print_verify(&cases[i].snap, fp);
        fclose(fp);
        if (strcmp(text, cases[i].want) != 0)
            fail_msg("case %s:\n--- got\n%s--- want\n%s---", cases[i].name, text, cases[i].want);
        free(text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
