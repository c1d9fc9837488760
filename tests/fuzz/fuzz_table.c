/*
 * NAME
 *	fuzz_table - libFuzzer target: the text of every table type
 * DESCRIPTION
 *	One decision from the back picks the table type, the front is its
 *	text:
 *	  0 texthash:FILE       the text written to FILE
 *	  1 cidr:FILE           the text written to FILE (cidr_table(5) lines)
 *	  2 inline:TEXT         the text is the spec after "inline:"
 *	  3 cidr:TEXT           the text is the spec after "cidr:" ("{ ... }")
 *	  4 static:TEXT
 *	  5 lmdb:FILE           the text compiled by ternmap_compile (ternmap)
 *	The last line of the text is also used as a lookup key, beside a fixed
 *	set of addresses and names.
 *
 *	Properties:
 *	  - open gives 0, or a negative errno with a message;
 *	  - every entry policy_table_walk() reports is found again by
 *	    policy_table_lookup() with the same value (memory and LMDB tables:
 *	    the first of duplicate keys wins in both), also in upper case;
 *	  - type 5 is a differential test: the LMDB table that ternmap builds
 *	    from the text and texthash: on the same text hold the same entries
 *	    and answer every lookup the same way;
 *	  - lookups give 1, 0 or a negative errno, and a found value is a
 *	    string;
 *	  - used as transport_maps (and the key as relayhost), a next hop that
 *	    resolves has a port 1..65535 and a key without blanks or controls.
 *	Scratch files live in fuzz_tmpdir() (tests/fuzz/run points TMPDIR at
 *	/dev/shm when it can, so that ternmap's fsyncs cost nothing).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "policy/policy_nexthop.h"
#include "core/ternmap_compile.h"
#include "policy/policy_table.h"

static char dir[512], file[600];

static const char *const fixed_keys[] = {
    "127.0.0.1",  "::1",         "192.0.2.1",   "10.1.2.3",     "::ffff:10.1.2.3",
    "[10.1.2.3]", "2001:db8::1", "example.com", ".example.com", "*",
    "",
};

/* LLVMFuzzerInitialize - a scratch directory for table files */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    fuzz_tmpdir("table", dir, sizeof(dir));
    snprintf(file, sizeof(file), "%s/table", dir);
    return 0;
}

struct walk_ctx {
    const struct policy_table *t;
    size_t n;
};

/* walk_fn - cidr: and static: entries: a pattern (or "*") is no key to look up exactly, but
 * looking it up must not fail */
static int walk_fn(void *arg, const char *key, const char *value)
{
    struct walk_ctx *w = arg;
    const char *found = NULL;
    FUZZ_CHECK(key != NULL && value != NULL);
    w->n++;
    FUZZ_CHECK(policy_table_lookup(w->t, key, &found) >= 0);
    return 0;
}

/* walk_exact - for memory and LMDB tables: lookup(key) gives exactly the walked value */
static int walk_exact(void *arg, const char *key, const char *value)
{
    struct walk_ctx *w = arg;
    const char *found = NULL;
    w->n++;
    if (!key[0])
        return 0;
    FUZZ_CHECK(policy_table_lookup(w->t, key, &found) == 1);
    FUZZ_CHECK(strcmp(found, value) == 0);
    char *upper = strdup(key);
    FUZZ_CHECK(upper != NULL);
    for (char *p = upper; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    FUZZ_CHECK(policy_table_lookup(w->t, upper, &found) == 1 && strcmp(found, value) == 0);
    free(upper);
    return 0;
}

/* lookup_all - the fixed keys and the input's key; results into out[] when given */
static void lookup_all(const struct policy_table *t, const char *key, int *rcs, const char **vals)
{
    size_t n = sizeof(fixed_keys) / sizeof(fixed_keys[0]);
    for (size_t i = 0; i <= n; i++) {
        const char *v = NULL;
        int rc = policy_table_lookup(t, i < n ? fixed_keys[i] : key, &v);
        FUZZ_CHECK(rc == 0 || rc == 1 || rc < 0);
        if (rc == 1)
            FUZZ_CHECK(v != NULL && strlen(v) < (1u << 30));
        if (rcs) {
            rcs[i] = rc;
            vals[i] = v;
        }
    }
}

/* check_nexthops - the table as transport_maps and the input's key as relayhost, for a few
 * recipients: a next hop that resolves has a port and a key fit to name a connection pool */
static void check_nexthops(const struct policy_table *t, const char *relayhost)
{
    static const char *const rcpts[] = {"u@example.com", "u@sub.example.com", "\"u@x\"",
                                        "u@[192.0.2.1]", "u@127.0.0.1"};
    for (size_t i = 0; i < sizeof(rcpts) / sizeof(rcpts[0]); i++) {
        struct policy_nexthop nh;
        int rc = policy_nexthop_resolve(relayhost[0] ? relayhost : NULL, t, rcpts[i], &nh);
        FUZZ_CHECK(rc <= 0);
        if (rc < 0 || nh.transport != NEXTHOP_SMTP)
            continue;
        FUZZ_CHECK(nh.port >= 1 && nh.port <= 65535 && nh.key[0] && nh.host[0]);
        for (const char *k = nh.key; *k; k++)
            FUZZ_CHECK((unsigned char)*k > ' ' && *k != 127);
    }
}

/* open_table - policy_table_open with its contract checked */
static struct policy_table *open_table(const char *spec)
{
    struct policy_table *t = NULL;
    char *err = NULL;
    int rc = policy_table_open(&t, spec, &err);
    FUZZ_CHECK(rc <= 0);
    if (rc < 0) {
        FUZZ_CHECK(t == NULL && err != NULL);
        free(err);
        return NULL;
    }
    free(err);
    return t;
}

/* differential - ternmap's LMDB table and texthash: read the same text the same way */
static void differential(const char *text, size_t len, const char *key)
{
    char spec[700], *err = NULL;
    fuzz_write_file(file, text, len);
    snprintf(spec, sizeof(spec), "lmdb:%s", file);
    int rc = ternmap_compile(spec, &err);
    free(err);
    snprintf(spec, sizeof(spec), "texthash:%s", file);
    struct policy_table *th = open_table(spec);
    if (rc < 0) {
        policy_table_close(th);
        return;
    }
    snprintf(spec, sizeof(spec), "lmdb:%s", file);
    struct policy_table *lm = open_table(spec);
    FUZZ_CHECK(lm != NULL);
    if (!th) {
        /* texthash: refuses an empty table that ternmap compiles: nothing else may differ */
        policy_table_close(lm);
        return;
    }
    struct walk_ctx w1 = {th, 0}, w2 = {lm, 0};
    FUZZ_CHECK(policy_table_walk(th, walk_exact, &w1) == 0);
    FUZZ_CHECK(policy_table_walk(lm, walk_exact, &w2) == 0);
    FUZZ_CHECK(w1.n == w2.n);
    enum { N = sizeof(fixed_keys) / sizeof(fixed_keys[0]) + 1 };
    int rc1[N], rc2[N];
    const char *v1[N], *v2[N];
    lookup_all(th, key, rc1, v1);
    lookup_all(lm, key, rc2, v2);
    check_nexthops(lm, key);
    for (size_t i = 0; i < N; i++) {
        FUZZ_CHECK(rc1[i] == rc2[i]);
        if (rc1[i] == 1)
            FUZZ_CHECK(strcmp(v1[i], v2[i]) == 0);
    }
    policy_table_close(th);
    policy_table_close(lm);
}

/* LLVMFuzzerTestOneInput - one table text of the chosen type */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in = fuzz_input_init(data, size);
    unsigned kind = fuzz_input_pick(&in, 6);
    size_t len;
    char *text = fuzz_input_rest(&in, &len);
    const char *nl = strrchr(text, '\n');
    char *key = strdup(nl ? nl + 1 : text);
    FUZZ_CHECK(key != NULL);
    char *spec = malloc(len + 700);
    FUZZ_CHECK(spec != NULL);

    switch (kind) {
    case 0:
    case 1:
        fuzz_write_file(file, text, len);
        snprintf(spec, len + 700, "%s:%s", kind == 0 ? "texthash" : "cidr", file);
        break;
    case 2:
        snprintf(spec, len + 700, "inline:%s", text);
        break;
    case 3:
        snprintf(spec, len + 700, "cidr:%s", text);
        break;
    case 4:
        snprintf(spec, len + 700, "static:%s", text);
        break;
    default:
        differential(text, len, key);
        goto done;
    }
    struct policy_table *t = open_table(spec);
    if (t) {
        struct walk_ctx w = {t, 0};
        FUZZ_CHECK(policy_table_walk(t, kind == 0 || kind == 2 ? walk_exact : walk_fn, &w) == 0);
        lookup_all(t, key, NULL, NULL);
        check_nexthops(t, key);
        policy_table_close(t);
    }
done:
    free(spec);
    free(key);
    free(text);
    return 0;
}
