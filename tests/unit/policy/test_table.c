/*
 * test_table - texthash:, inline:, static:, lmdb:/hash:/btree: and their compiler
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/ternmap_compile.h"
#include "policy/policy_table.h"

static char dir[64];

struct lookup_case {
    const char *key;
    int rc;
    const char *value;
};

/* path_in - "dir/name" in a static buffer (one at a time) */
static const char *path_in(const char *name)
{
    static char buf[256];
    snprintf(buf, sizeof(buf), "%s/%s", dir, name);
    return buf;
}

/* write_file - create dir/name with text */
static void write_file(const char *name, const char *text)
{
    FILE *fp = fopen(path_in(name), "w");
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
}

/* check_lookups - run a table of lookups against t */
static void check_lookups(const struct policy_table *t, const struct lookup_case *c, size_t n,
                          const char *what)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = NULL;
        int rc = policy_table_lookup(t, c[i].key, &v);
        if (rc != c[i].rc)
            fail_msg("%s case %zu \"%s\": rc %d want %d", what, i, c[i].key, rc, c[i].rc);
        if (rc == 1 && strcmp(v, c[i].value) != 0)
            fail_msg("%s case %zu \"%s\": \"%s\" want \"%s\"", what, i, c[i].key, v, c[i].value);
    }
}

static const char source[] = "# transport table\n"
                             "Example.COM      smtp:[relay.example]:2525\n"
                             "\n"
                             "   # indented comment\n"
                             ".example.com     relay:mx.example\n"
                             "user@Example.org error:5.1.1 no such user\n"
                             "multi            first\n"
                             "    second\n"
                             "# comment between continuation lines\n"
                             "\tthird\n"
                             "dup              one\n"
                             "dup              two\n"
                             "novalue\n"
                             "trailing         value with blanks   \t\n"
                             "crlf             windows\r\n"
                             "last             no-newline";

static const struct lookup_case source_cases[] = {
    {"example.com", 1, "smtp:[relay.example]:2525"},
    {"EXAMPLE.com", 1, "smtp:[relay.example]:2525"},
    {".example.com", 1, "relay:mx.example"},
    {"user@example.org", 1, "error:5.1.1 no such user"},
    {"USER@EXAMPLE.ORG", 1, "error:5.1.1 no such user"},
    {"multi", 1, "first second third"},
    {"dup", 1, "one"},
    {"novalue", 0, NULL},
    {"trailing", 1, "value with blanks"},
    {"crlf", 1, "windows"},
    {"last", 1, "no-newline"},
    {"#", 0, NULL},
    {"second", 0, NULL},
    {"example", 0, NULL},
    {"", 0, NULL},
    {"zzz", 0, NULL},
};

static void test_texthash(void **state)
{
    (void)state;
    char spec[300];
    struct policy_table *t = NULL;
    char *err = NULL;
    write_file("transport", source);
    snprintf(spec, sizeof(spec), "texthash:%s", path_in("transport"));
    assert_int_equal(policy_table_open(&t, spec, &err), 0);
    assert_null(err);
    check_lookups(t, source_cases, sizeof(source_cases) / sizeof(source_cases[0]), "texthash");
    policy_table_close(t);

    /* missing file: -ENOENT, err names the table and the file */
    snprintf(spec, sizeof(spec), "texthash:%s", path_in("missing"));
    assert_int_equal(policy_table_open(&t, spec, &err), -ENOENT);
    assert_null(t);
    assert_non_null(err);
    assert_non_null(strstr(err, spec));
    assert_non_null(strstr(err, "No such file"));
    free(err);

    /* empty file: an empty table */
    write_file("empty", "# nothing\n\n");
    snprintf(spec, sizeof(spec), "texthash:%s", path_in("empty"));
    assert_int_equal(policy_table_open(&t, spec, NULL), 0);
    const char *v;
    assert_int_equal(policy_table_lookup(t, "x", &v), 0);
    policy_table_close(t);
}

static void test_inline(void **state)
{
    (void)state;
    static const struct {
        const char *spec;
        int rc;
        const char *errpart;
        struct lookup_case lookups[4];
    } cases[] = {
        {"inline:{ a=1, B=2 }", 0, NULL, {{"a", 1, "1"}, {"b", 1, "2"}, {"c", 0, NULL}}},
        {"inline:{a=1,b=2}", 0, NULL, {{"A", 1, "1"}, {"b", 1, "2"}}},
        {"inline:{ { key = value with spaces }, k2=v2 }",
         0,
         NULL,
         {{"key", 1, "value with spaces"}, {"k2", 1, "v2"}, {"key ", 0, NULL}}},
        {"inline:{ {x=a,b} }", 0, NULL, {{"x", 1, "a,b"}}},
        {"inline:{ e= }", 0, NULL, {{"e", 1, ""}}},
        {"inline:{ }", 0, NULL, {{"a", 0, NULL}}},
        {"inline:{ a=1, a=2 }", 0, NULL, {{"a", 1, "1"}}},
        {"inline:{ k=smtp:[h]:25 }", 0, NULL, {{"k", 1, "smtp:[h]:25"}}},
        {"inline:a=1", -EINVAL, "expected inline:{", {{NULL, 0, NULL}}},
        {"inline:{ a=1", -EINVAL, "expected inline:{", {{NULL, 0, NULL}}},
        {"inline:{ a }", -EINVAL, "missing '=' after \"a\"", {{NULL, 0, NULL}}},
        {"inline:{ =v }", -EINVAL, "empty key", {{NULL, 0, NULL}}},
        {"inline:{ { a = b }", -EINVAL, "", {{NULL, 0, NULL}}},
        {"inline:{ { a = b }}}", -EINVAL, "", {{NULL, 0, NULL}}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct policy_table *t = NULL;
        char *err = NULL;
        int rc = policy_table_open(&t, cases[i].spec, &err);
        if (rc != cases[i].rc)
            fail_msg("case %zu \"%s\": rc %d want %d (%s)", i, cases[i].spec, rc, cases[i].rc,
                     err ? err : "");
        if (rc < 0) {
            assert_null(t);
            assert_non_null(err);
            if (strstr(err, cases[i].errpart) == NULL)
                fail_msg("case %zu: err \"%s\" lacks \"%s\"", i, err, cases[i].errpart);
            free(err);
            continue;
        }
        size_t n = 0;
        while (n < 4 && cases[i].lookups[n].key)
            n++;
        check_lookups(t, cases[i].lookups, n, cases[i].spec);
        policy_table_close(t);
    }
}

static void test_static_and_errors(void **state)
{
    (void)state;
    static const struct {
        const char *spec;
        int rc;
        const char *value; /* for any key */
        const char *errpart;
    } cases[] = {
        {"static:smtp:[relay.example]:587", 0, "smtp:[relay.example]:587", NULL},
        {"static:{ value with spaces }", 0, "value with spaces", NULL},
        {"static:OK", 0, "OK", NULL},
        {"static:", 0, "", NULL},
        {"static:{ open", -EINVAL, NULL, "unbalanced"},
        {"nosuchtype:/x", -EINVAL, NULL, "unsupported table type \"nosuchtype\""},
        {"/etc/tern/transport", -EINVAL, NULL, "needs a type"},
        {"lmdb:", -EINVAL, NULL, "missing file name"},
        {":x", -EINVAL, NULL, "needs a type"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct policy_table *t = NULL;
        char *err = NULL;
        int rc = policy_table_open(&t, cases[i].spec, &err);
        if (rc != cases[i].rc)
            fail_msg("case %zu \"%s\": rc %d want %d", i, cases[i].spec, rc, cases[i].rc);
        if (rc < 0) {
            assert_non_null(err);
            if (strstr(err, cases[i].errpart) == NULL)
                fail_msg("case %zu: err \"%s\" lacks \"%s\"", i, err, cases[i].errpart);
            free(err);
            continue;
        }
        const char *v = NULL;
        assert_int_equal(policy_table_lookup(t, "anything", &v), 1);
        assert_string_equal(v, cases[i].value);
        assert_int_equal(policy_table_lookup(t, "", &v), 1);
        policy_table_close(t);
    }
}

/* count_tmp - files in dir whose name contains ".tmp" */
static int count_tmp(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".tmp"))
            n++;
    closedir(d);
    return n;
}

static void test_lmdb_compile(void **state)
{
    (void)state;
    static const char *const types[] = {"lmdb", "hash", "btree"};
    char spec[300];
    char *err = NULL;

    write_file("map", source);
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        struct policy_table *t = NULL;
        unlink(path_in("map.lmdb"));
        snprintf(spec, sizeof(spec), "%s:%s", types[i], path_in("map"));
        assert_int_equal(ternmap_compile(spec, &err), 0);
        assert_null(err);
        assert_int_equal(access(path_in("map.lmdb"), R_OK), 0);
        assert_int_equal(policy_table_open(&t, spec, &err), 0);
        check_lookups(t, source_cases, sizeof(source_cases) / sizeof(source_cases[0]), spec);
        /* a found value stays valid across later lookups */
        const char *v1, *v2;
        assert_int_equal(policy_table_lookup(t, "multi", &v1), 1);
        for (int k = 0; k < 100; k++)
            assert_int_equal(policy_table_lookup(t, "Example.com", &v2), 1);
        assert_int_equal(policy_table_lookup(t, "MULTI", &v2), 1);
        assert_ptr_equal(v1, v2);
        assert_string_equal(v1, "first second third");
        policy_table_close(t);
    }
    assert_int_equal(count_tmp(), 0);

    /* no type: lmdb */
    unlink(path_in("map.lmdb"));
    assert_int_equal(ternmap_compile(path_in("map"), &err), 0);
    assert_int_equal(access(path_in("map.lmdb"), R_OK), 0);

    /* missing source: -ENOENT naming the file; missing .lmdb: -ENOENT naming it */
    snprintf(spec, sizeof(spec), "lmdb:%s", path_in("absent"));
    assert_int_equal(ternmap_compile(spec, &err), -ENOENT);
    assert_non_null(err);
    assert_non_null(strstr(err, path_in("absent")));
    free(err);
    err = NULL;
    struct policy_table *t = NULL;
    assert_int_equal(policy_table_open(&t, spec, &err), -ENOENT);
    assert_non_null(err);
    assert_non_null(strstr(err, "absent.lmdb"));
    free(err);
    err = NULL;

    /* compiling other types is refused */
    snprintf(spec, sizeof(spec), "texthash:%s", path_in("map"));
    assert_int_equal(ternmap_compile(spec, &err), -EINVAL);
    assert_non_null(strstr(err, "cannot compile"));
    free(err);
    assert_int_equal(count_tmp(), 0);
}

static void test_lmdb_large(void **state)
{
    (void)state;
    FILE *fp = fopen(path_in("big"), "w");
    assert_non_null(fp);
    for (int i = 0; i < 50000; i++)
        fprintf(fp, "Key%06d.example.com smtp:[host%d.example]:%d\n", i, i, 1000 + i % 5000);
    fclose(fp);
    char spec[300], want[64];
    snprintf(spec, sizeof(spec), "lmdb:%s", path_in("big"));
    assert_int_equal(ternmap_compile(spec, NULL), 0);
    struct policy_table *t = NULL;
    assert_int_equal(policy_table_open(&t, spec, NULL), 0);
    for (int i = 0; i < 50000; i += 997) {
        char key[64];
        const char *v;
        snprintf(key, sizeof(key), "key%06d.EXAMPLE.com", i);
        snprintf(want, sizeof(want), "smtp:[host%d.example]:%d", i, 1000 + i % 5000);
        assert_int_equal(policy_table_lookup(t, key, &v), 1);
        assert_string_equal(v, want);
    }
    policy_table_close(t);
}

struct reader_arg {
    const char *spec;
    volatile int stop;
    int lookups, errors, bad;
};

/* reader - open, look up, close in a loop while the main thread rebuilds */
static void *reader(void *p)
{
    struct reader_arg *a = p;
    while (!a->stop) {
        struct policy_table *t = NULL;
        if (policy_table_open(&t, a->spec, NULL) < 0) {
            a->errors++;
            continue;
        }
        for (int i = 0; i < 20; i++) {
            const char *v;
            int rc = policy_table_lookup(t, "k", &v);
            a->lookups++;
            if (rc != 1)
                a->errors++;
            else if (strcmp(v, "old") != 0 && strcmp(v, "new") != 0)
                a->bad++;
        }
        policy_table_close(t);
    }
    return NULL;
}

static void test_atomic_rebuild(void **state)
{
    (void)state;
    char spec[300];
    snprintf(spec, sizeof(spec), "lmdb:%s", path_in("atomic"));
    write_file("atomic", "k old\n");
    assert_int_equal(ternmap_compile(spec, NULL), 0);

    /* an open table keeps its view; a new open sees the rebuild */
    struct policy_table *before = NULL, *after = NULL;
    const char *v;
    assert_int_equal(policy_table_open(&before, spec, NULL), 0);
    assert_int_equal(policy_table_lookup(before, "k", &v), 1);
    assert_string_equal(v, "old");
    write_file("atomic", "k new\nextra 1\n");
    assert_int_equal(ternmap_compile(spec, NULL), 0);
    assert_string_equal(v, "old");
    assert_int_equal(policy_table_lookup(before, "k", &v), 1);
    assert_string_equal(v, "old");
    assert_int_equal(policy_table_lookup(before, "extra", &v), 0);
    assert_int_equal(policy_table_open(&after, spec, NULL), 0);
    assert_int_equal(policy_table_lookup(after, "k", &v), 1);
    assert_string_equal(v, "new");
    assert_int_equal(policy_table_lookup(after, "extra", &v), 1);
    policy_table_close(before);
    policy_table_close(after);

    /* one file open twice in one process (SIGHUP reload, two parameters naming one map) */
    struct policy_table *t1 = NULL, *t2 = NULL;
    assert_int_equal(policy_table_open(&t1, spec, NULL), 0);
    assert_int_equal(policy_table_open(&t2, spec, NULL), 0);
    assert_int_equal(policy_table_lookup(t1, "k", &v), 1);
    assert_int_equal(policy_table_lookup(t2, "k", &v), 1);
    policy_table_close(t1);
    assert_int_equal(policy_table_lookup(t2, "extra", &v), 1);
    assert_string_equal(v, "1");
    policy_table_close(t2);

    /* concurrent readers during many rebuilds: never an error, never a torn value */
    struct reader_arg a = {.spec = spec};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, reader, &a), 0);
    for (int i = 0; i < 40; i++) {
        write_file("atomic", i % 2 ? "k old\n" : "k new\n");
        assert_int_equal(ternmap_compile(spec, NULL), 0);
    }
    a.stop = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_true(a.lookups > 0);
    assert_int_equal(a.errors, 0);
    assert_int_equal(a.bad, 0);
    assert_int_equal(count_tmp(), 0);
}

struct lookup_thread {
    const struct policy_table *t;
    int errors;
};

/* lookup_many - lookups from a thread that did not open the table */
static void *lookup_many(void *p)
{
    struct lookup_thread *a = p;
    for (int i = 0; i < 20000; i++) {
        const char *v;
        if (policy_table_lookup(a->t, i % 2 ? "example.com" : "MULTI", &v) != 1 ||
            strcmp(v, i % 2 ? "smtp:[relay.example]:2525" : "first second third") != 0)
            a->errors++;
    }
    return NULL;
}

static void test_lmdb_threads(void **state)
{
    (void)state;
    char spec[300];
    write_file("thr", source);
    snprintf(spec, sizeof(spec), "btree:%s", path_in("thr"));
    assert_int_equal(ternmap_compile(spec, NULL), 0);
    struct policy_table *t = NULL;
    assert_int_equal(policy_table_open(&t, spec, NULL), 0);
    struct lookup_thread a[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (struct lookup_thread){.t = t};
        assert_int_equal(pthread_create(&th[i], NULL, lookup_many, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(a[i].errors, 0);
    }
    policy_table_close(t);
}

static int walk_collect(void *ctx, const char *key, const char *value);

/* ---- cidr: ---- */

static const char cidr_source[] = "# client.cidr\n"
                                  "192.168.1.1             OK\n"
                                  "192.168.0.0/16          REJECT private\n"
                                  "[2001:db8::1]           OK v6 host\n"
                                  "2001:DB8::/32           REJECT v6 net\n"
                                  "10.1.2.3/8              bad: host bits, skipped\n"
                                  "10.0.0.0/33             bad: mask, skipped\n"
                                  "not-an-address          skipped\n"
                                  "172.16.0.0/12\n"
                                  "if 10.0.0.0/8\n"
                                  "if !10.9.0.0/16\n"
                                  "10.1.0.0/16             inner one\n"
                                  "0.0.0.0/0               inner catch\n"
                                  "endif\n"
                                  "10.9.9.9                inner nine\n"
                                  "endif\n"
                                  "!127.0.0.0/8            not loopback\n"
                                  "127.0.0.1               loopback host\n"
                                  "::/0                    any v6\n"
                                  "  continued\n";

static const struct lookup_case cidr_cases[] = {
    {"192.168.1.1", 1, "OK"},
    {"[192.168.1.1]", 1, "OK"},
    {"192.168.7.7", 1, "REJECT private"},
    {"2001:db8::1", 1, "OK v6 host"},
    {"2001:0DB8:0:0::1", 1, "OK v6 host"},
    {"[IPv6:2001:db8::1]", 1, "OK v6 host"},
    {"2001:db8:ffff::2", 1, "REJECT v6 net"},
    {"10.1.5.5", 1, "inner one"},
    {"10.200.0.1", 1, "inner catch"},
    {"10.9.9.9", 1, "inner nine"}, /* the inner if is false: its rules are skipped */
    {"10.9.1.1", 1, "not loopback"},
    {"172.16.0.1", 1, "not loopback"}, /* the rule without a result was skipped */
    {"8.8.8.8", 1, "not loopback"},
    {"127.0.0.1", 1, "loopback host"}, /* negation: loopback falls through */
    {"127.0.0.2", 0, NULL},
    {"::1", 1, "any v6 continued"},
    {"::ffff:192.168.1.1", 1, "OK"}, /* mapped: compared as IPv4 */
    {"example.com", 0, NULL},
    {"", 0, NULL},
    {"1.2.3", 0, NULL},
    {"[::1", 0, NULL},
};

static void test_cidr(void **state)
{
    (void)state;
    struct policy_table *t = NULL;
    char *err = NULL;
    char spec[128];

    write_file("client.cidr", cidr_source);
    snprintf(spec, sizeof(spec), "cidr:%s", path_in("client.cidr"));
    assert_int_equal(policy_table_open(&t, spec, &err), 0);
    check_lookups(t, cidr_cases, sizeof(cidr_cases) / sizeof(cidr_cases[0]), "cidr file");

    /* walk: match rules in file order, bad ones absent */
    struct walk_rec {
        char keys[512];
        int n;
    } w = {"", 0};
    assert_int_equal(policy_table_walk(t, walk_collect, &w), 0);
    assert_string_equal(w.keys, "192.168.1.1 192.168.0.0/16 [2001:db8::1] 2001:db8::/32 "
                                "10.1.0.0/16 0.0.0.0/0 10.9.9.9 !127.0.0.0/8 127.0.0.1 ::/0 ");
    policy_table_close(t);

    /* inline form, and an unterminated if: the block runs to the end */
    assert_int_equal(
        policy_table_open(&t,
                          "cidr:{ {192.0.2.0/24 OK}, {if ::/0}, {::1 v6 one}, "
                          "{endif}, {endif}, {!0.0.0.0/0 never}, {if 198.51.100.0/24}, "
                          "{0.0.0.0/0 in 198.51.100} }",
                          &err),
        0);
    static const struct lookup_case inline_cases[] = {
        {"192.0.2.9", 1, "OK"},   {"::1", 1, "v6 one"},
        {"::2", 0, NULL},         {"198.51.100.7", 1, "in 198.51.100"},
        {"203.0.113.1", 0, NULL},
    };
    check_lookups(t, inline_cases, sizeof(inline_cases) / sizeof(inline_cases[0]), "cidr inline");
    policy_table_close(t);

    /* a bad "if" pattern skips its whole block (never applies its rules unconditionally) */
    assert_int_equal(policy_table_open(&t,
                                       "cidr:{ {if 10.0.0.1/8}, {0.0.0.0/0 inside}, {endif}, "
                                       "{0.0.0.0/0 outside} }",
                                       &err),
                     0);
    static const struct lookup_case badif_cases[] = {{"10.0.0.1", 1, "outside"}};
    check_lookups(t, badif_cases, 1, "cidr bad if");
    policy_table_close(t);

    /* errors at open */
    assert_int_equal(policy_table_open(&t, "cidr:/nonexistent/x.cidr", &err), -ENOENT);
    assert_non_null(strstr(err, "cidr:/nonexistent/x.cidr"));
    free(err);
    err = NULL;
    assert_int_equal(policy_table_open(&t, "cidr:{ {1.2.3.4 OK}", &err), -EINVAL);
    free(err);
}

/* walk_collect - policy_table_walk callback: collect keys */
static int walk_collect(void *ctx, const char *key, const char *value)
{
    struct {
        char keys[512];
        int n;
    } *w = ctx;
    (void)value;
    snprintf(w->keys + strlen(w->keys), sizeof(w->keys) - strlen(w->keys), "%s ", key);
    w->n++;
    return 0;
}

static void test_walk(void **state)
{
    (void)state;
    struct policy_table *t = NULL;
    char *err = NULL;
    char spec[128];
    struct {
        char keys[512];
        int n;
    } w = {"", 0};

    assert_int_equal(policy_table_open(&t, "inline:{ b=2, a=1, c=3 }", &err), 0);
    assert_int_equal(policy_table_walk(t, walk_collect, &w), 0);
    assert_string_equal(w.keys, "a b c ");
    policy_table_close(t);

    write_file("walk", "Zeta z\nalpha a\nmid m\n");
    snprintf(spec, sizeof(spec), "lmdb:%s", path_in("walk"));
    assert_int_equal(ternmap_compile(spec, &err), 0);
    assert_int_equal(policy_table_open(&t, spec, &err), 0);
    w.keys[0] = 0;
    w.n = 0;
    assert_int_equal(policy_table_walk(t, walk_collect, &w), 0);
    assert_string_equal(w.keys, "alpha mid zeta ");
    policy_table_close(t);

    assert_int_equal(policy_table_open(&t, "static:{ any thing }", &err), 0);
    w.keys[0] = 0;
    assert_int_equal(policy_table_walk(t, walk_collect, &w), 0);
    assert_string_equal(w.keys, "* ");
    policy_table_close(t);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/tern-test-table.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_texthash),
        cmocka_unit_test(test_inline),
        cmocka_unit_test(test_static_and_errors),
        cmocka_unit_test(test_lmdb_compile),
        cmocka_unit_test(test_lmdb_large),
        cmocka_unit_test(test_atomic_rebuild),
        cmocka_unit_test(test_lmdb_threads),
        cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_walk),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
