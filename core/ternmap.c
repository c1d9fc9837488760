/*
 * NAME
 *	ternmap - compile and query tern lookup tables, like postmap
 * SYNOPSIS
 *	ternmap [TYPE:]FILE
 *	ternmap -q KEY [TYPE:]FILE
 * DESCRIPTION
 *	Without -q, reads the text table FILE ("key value" lines, # comments,
 *	continuation lines starting with a blank) and builds FILE.lmdb
 *	atomically: readers see the old table or the new one. TYPE is lmdb,
 *	hash or btree (all build FILE.lmdb); without TYPE, lmdb.
 *
 *	With -q, looks KEY up in the table and prints the value. Any table
 *	type tern reads works here (texthash:, inline:, static: too).
 * DIAGNOSTICS
 *	Exit 0 on success or when the key was found, 1 when it was not found,
 *	2 on errors ("ternmap: fatal: ..." on stderr) and bad usage.
 */
#include "core/ternmap_compile.h"
#include "policy/policy_table.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_NOTFOUND 1
#define EXIT_FATAL 2

/* usage - print the synopsis and exit */
static _Noreturn void usage(void)
{
    fprintf(stderr, "usage: ternmap [-q key] [type:]file\n");
    exit(EXIT_FATAL);
}

/* with_type - "file" -> "lmdb:file"; "type:file" as is (malloc'd) */
static char *with_type(const char *arg)
{
    const char *colon = strchr(arg, ':');
    size_t tl = colon ? (size_t)(colon - arg) : 0;
    bool typed =
        colon != NULL && tl > 0 && strspn(arg, "abcdefghijklmnopqrstuvwxyz0123456789_") == tl;
    char *s = NULL;
    if (typed)
        return strdup(arg);
    if (asprintf(&s, "lmdb:%s", arg) < 0)
        return NULL;
    return s;
}

int main(int argc, char **argv)
{
    const char *key = NULL;
    int c;

    while ((c = getopt(argc, argv, "q:")) != -1) {
        switch (c) {
        case 'q':
            key = optarg;
            break;
        default:
            usage();
        }
    }
    if (optind != argc - 1)
        usage();

    char *spec = with_type(argv[optind]);
    char *err = NULL;
    int status = 0;
    if (spec == NULL) {
        fprintf(stderr, "ternmap: fatal: out of memory\n");
        return EXIT_FATAL;
    }

    if (key == NULL) {
        int rc = ternmap_compile(spec, &err);
        if (rc < 0) {
            fprintf(stderr, "ternmap: fatal: %s\n", err ? err : strerror(-rc));
            status = EXIT_FATAL;
        }
    } else {
        struct policy_table *t = NULL;
        const char *value = NULL;
        int rc = policy_table_open(&t, spec, &err);
        if (rc < 0) {
            fprintf(stderr, "ternmap: fatal: %s\n", err ? err : strerror(-rc));
            status = EXIT_FATAL;
        } else {
            rc = policy_table_lookup(t, key, &value);
            if (rc < 0) {
                fprintf(stderr, "ternmap: fatal: %s: lookup \"%s\": %s\n", spec, key,
                        strerror(-rc));
                status = EXIT_FATAL;
            } else if (rc == 0) {
                status = EXIT_NOTFOUND;
            } else {
                printf("%s\n", value);
                if (fflush(stdout) != 0 || ferror(stdout)) {
                    fprintf(stderr, "ternmap: fatal: write error on stdout\n");
                    status = EXIT_FATAL;
                }
            }
            policy_table_close(t);
        }
    }
    free(err);
    free(spec);
    return status;
}
