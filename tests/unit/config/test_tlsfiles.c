/*
 * test_tlsfiles - a reload notices renewed TLS files: table of changes made between two
 * snapshots of the same configuration, and whether each counts as a change.
 */
#include <setjmp.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config/config.h"
#include "core/config/tlsfiles.h"

static char dir[64];

/* put - write text to dir/name (truncating in place) */
static void put(const char *name, const char *text)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* later - push a file's times forward, as a rewrite a second later would */
static void later(const char *name)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    struct timespec ts[2] = {{time(NULL) + 5, 0}, {time(NULL) + 5, 0}};
    assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
}

/* ch_touch - same bytes, new times: no change */
static void ch_touch(void)
{
    later("cert.pem");
}
/* ch_rewrite - new bytes in place */
static void ch_rewrite(void)
{
    put("cert.pem", "renewed certificate\n");
    later("cert.pem");
}
/* ch_same_bytes_new_inode - a copy with the same bytes renamed over it: no change */
static void ch_same_bytes_new_inode(void)
{
    char a[256], b[256];
    put("cert.new", "certificate A\n");
    snprintf(a, sizeof(a), "%s/cert.new", dir);
    snprintf(b, sizeof(b), "%s/cert.pem", dir);
    assert_int_equal(rename(a, b), 0);
}
/* ch_key - the key renewed */
static void ch_key(void)
{
    put("key.pem", "new key\n");
    later("key.pem");
}
/* ch_capath_add - a CA added to CApath */
static void ch_capath_add(void)
{
    put("certs/new-ca.pem", "another CA\n");
}
/* ch_removed - the CAfile is gone */
static void ch_removed(void)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/ca.pem", dir);
    assert_int_equal(unlink(p), 0);
}
/* ch_nothing - no change at all */
static void ch_nothing(void)
{
}

static void test_changes(void **state)
{
    (void)state;
    const struct {
        const char *name;
        void (*change)(void);
        const char *want; /* parameter reported, NULL: none */
    } cases[] = {
        {"nothing", ch_nothing, NULL},
        {"touched", ch_touch, NULL},
        {"rewritten in place", ch_rewrite, "smtpd_tls_cert_file"},
        {"same bytes, new inode", ch_same_bytes_new_inode, NULL},
        {"key renewed", ch_key, "smtpd_tls_key_file"},
        {"CApath gains a file", ch_capath_add, "smtpd_tls_CApath"},
        {"CAfile removed", ch_removed, "smtpd_tls_CAfile"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char cmd[128], *err = NULL, cf[2048];
        snprintf(dir, sizeof(dir), "/tmp/tern-tlsfiles-XXXXXX");
        assert_non_null(mkdtemp(dir));
        snprintf(cmd, sizeof(cmd), "%s/certs", dir);
        assert_int_equal(mkdir(cmd, 0755), 0);
        put("cert.pem", "certificate A\n");
        put("key.pem", "key A\n");
        put("ca.pem", "CA\n");
        put("certs/ca1.pem", "CA 1\n");
        snprintf(cf, sizeof(cf),
                 "smtpd_tls_cert_file = %s/cert.pem\nsmtpd_tls_key_file = %s/key.pem\n"
                 "smtpd_tls_CAfile = %s/ca.pem\nsmtpd_tls_CApath = %s/certs\n",
                 dir, dir, dir, dir);
        put("main.cf", cf);
        struct tern_config *cfg;
        if (config_load(&cfg, dir, &err) < 0)
            fail_msg("config: %s", err);
        struct tlsfiles then, now;
        assert_int_equal(tlsfiles_snapshot(&then, cfg), 0);
        cases[i].change();
        assert_int_equal(tlsfiles_snapshot(&now, cfg), 0);
        const char *got = tlsfiles_changed(&then, &now);
        if (cases[i].want ? !got || strcmp(got, cases[i].want) : got != NULL)
            fail_msg("%s: changed %s, want %s", cases[i].name, got ? got : "(none)",
                     cases[i].want ? cases[i].want : "(none)");
        tlsfiles_free(&then);
        tlsfiles_free(&now);
        config_unref(cfg);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_changes)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
