/*
 * test_log - base/log: maillog_file reopened after a rotation (logrotate: rename, then
 * SIGHUP), lines before it in the old file, lines after it in the new one; a batching
 * thread's lines held until log_flush(), a warning written at once with the lines before it,
 * a full batch written whole, every line whole and in order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/base/log.h"
#include "core/base/tmpdir.h"

/* slurp - a file's text (malloc'd; "" when missing) */
static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    char *buf = calloc(1, 65536);
    assert_non_null(buf);
    if (fp) {
        size_t n = fread(buf, 1, 65535, fp);
        buf[n] = 0;
        fclose(fp);
    }
    return buf;
}

/* open_in_scratch - a fresh directory into dir, its "maillog" into path, opened as the log */
static void open_in_scratch(char *dir, size_t dlen, char *path, size_t plen)
{
    assert_int_equal(tmpdir_make(dir, dlen, "test_log"), 0);
    snprintf(path, plen, "%s/maillog", dir);
    assert_int_equal(log_open("tern", path), 0);
}

static void test_reopen_after_rename(void **state)
{
    char dir[256], path[300], rotated[300];
    open_in_scratch(dir, sizeof(dir), path, sizeof(path));
    snprintf(rotated, sizeof(rotated), "%s/maillog.1", dir);

    log_info("master", "before the rotation");
    assert_int_equal(rename(path, rotated), 0);
    log_info("master", "between rename and reopen");
    assert_int_equal(log_reopen(), 0);
    log_info("master", "after the reopen");

    char *old = slurp(rotated), *cur = slurp(path);
    assert_non_null(strstr(old, "tern/master["));
    assert_non_null(strstr(old, "before the rotation"));
    assert_non_null(strstr(old, "between rename and reopen"));
    assert_null(strstr(old, "after the reopen"));
    assert_non_null(strstr(cur, "after the reopen"));
    assert_null(strstr(cur, "before the rotation"));
    free(old);
    free(cur);

    log_close();
    unlink(rotated);
    unlink(path);
    rmdir(dir);
}

static void test_reopen_failure_keeps_the_old_file(void **state)
{
    char dir[256], path[300];
    open_in_scratch(dir, sizeof(dir), path, sizeof(path));
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(log_reopen(), -ENOENT); /* the directory is gone */
    log_info("master", "still written to the old descriptor");
    log_close();
}

/* count - occurrences of needle in hay */
static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void test_batch(void **state)
{
    char dir[256], path[300];
    open_in_scratch(dir, sizeof(dir), path, sizeof(path));

    log_batch_begin();
    log_info("smtpd", "gathered one");
    log_info("smtpd", "gathered two");
    char *text = slurp(path);
    assert_string_equal(text, ""); /* nothing written before the flush */
    free(text);
    log_flush();
    text = slurp(path);
    assert_int_equal(count(text, "\n"), 2);
    assert_true(strstr(text, "gathered one") < strstr(text, "gathered two"));
    free(text);

    log_info("smtpd", "before the warning");
    log_warn("smtpd", "at once");
    text = slurp(path);
    assert_non_null(strstr(text, "before the warning"));
    assert_non_null(strstr(text, "tern/smtpd["));
    assert_non_null(strstr(text, "]: warning: at once\n"));
    free(text);

    /* 400 lines of about 100 octets: several full batches, every line whole, in order */
    for (int i = 0; i < 400; i++)
        log_info("qmgr", "line %03d %s", i, "................................................");
    text = slurp(path);
    assert_true(count(text, "\n") > 4 && count(text, "\n") < 404); /* some out, some held */
    free(text);
    log_batch_end();
    text = slurp(path);
    assert_int_equal(count(text, "\n"), 404);
    const char *p = text;
    for (int i = 0; i < 400; i++) {
        char key[32];
        snprintf(key, sizeof(key), "line %03d ", i);
        const char *at = strstr(p, key);
        assert_non_null(at);
        p = at;
    }
    free(text);

    log_info("smtpd", "after the batch");
    text = slurp(path);
    assert_non_null(strstr(text, "after the batch")); /* line by line again */
    free(text);

    log_close();
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reopen_after_rename),
        cmocka_unit_test(test_reopen_failure_keeps_the_old_file),
        cmocka_unit_test(test_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
