/*
 * NAME
 *	fuzz_config - libFuzzer target: main.cf, and what start-up builds from it
 * DESCRIPTION
 *	The input is written as main.cf into a scratch directory (after one
 *	line "myhostname = mx.fuzz.test", which a later line may override, so
 *	that no input costs a resolver lookup for the default) and loaded with
 *	config_load(): Postfix syntax, continuation lines, $name / ${name} /
 *	$(name) / ${name?text} / ${name:text} expansion with loop detection,
 *	and every typed value (times, sizes, booleans, numbers, lists,
 *	listen addresses). A loaded config is then printed as `ternd -n` does,
 *	its warnings logged, every parameter read back, and the run-time
 *	objects built from it (runtime_build(): restrictions, mynetworks,
 *	relay_domains, inline: and cidr:{} tables, the TLS policy, protocols
 *	and cipher grades, SASL options, tables and key files named by path,
 *	which are read, never written) - unless the text mentions /dev, /proc
 *	or /sys, where a "file" may never end or block.
 *
 *	Properties: config_load() gives 0 or a negative errno, and a message
 *	exactly when it fails; every parameter main.cf set reads back through
 *	config_get() as it was stored; runtime_build() gives 0 or a negative
 *	errno (its message, if any, is freed: ASan's leak check sees the rest).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config/config.h"
#include "core/base/hostport.h"
#include "core/config/runtime.h"
#include "fuzz_input.h"
#include "policy/policy_nexthop.h"

static char dir[512], path[600];
static FILE *devnull;

/* LLVMFuzzerInitialize - a scratch directory for main.cf, a quiet maillog */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    fuzz_tmpdir("config", dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/main.cf", dir);
    devnull = fopen("/dev/null", "w");
    if (!devnull)
        abort();
    return 0;
}

/* LLVMFuzzerTestOneInput - one main.cf: load, print, read back, build the runtime */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char head[] = "myhostname = mx.fuzz.test\n";
    char *text = malloc(sizeof(head) + size);
    FUZZ_CHECK(text != NULL);
    memcpy(text, head, sizeof(head) - 1);
    memcpy(text + sizeof(head) - 1, data, size);
    fuzz_write_file(path, text, sizeof(head) - 1 + size);
    bool endless = memmem(data, size, "/dev", 4) || memmem(data, size, "/proc", 5) ||
                   memmem(data, size, "/sys", 4);
    free(text);

    struct tern_config *cfg = NULL;
    char *err = NULL;
    int rc = config_load(&cfg, dir, &err);
    FUZZ_CHECK(rc <= 0);
    if (rc < 0) {
        FUZZ_CHECK(cfg == NULL && err != NULL && err[0] != 0);
        free(err);
        return 0;
    }
    FUZZ_CHECK(cfg != NULL && err == NULL);
    config_print_nondefault(cfg, devnull);
    config_log_warnings(cfg);
    for (size_t i = 0; i < cfg->nraw; i++) {
        const char *v = config_get(cfg, cfg->raw[i].name);
        FUZZ_CHECK(v != NULL && strcmp(v, cfg->raw[i].value) == 0);
        struct config_list l;
        if (config_parse_list(v, &l) == 0)
            config_list_free(&l);
    }
    FUZZ_CHECK(config_get(cfg, "myhostname") != NULL && config_is_set(cfg, "myhostname"));
    for (size_t i = 0; i < cfg->smtpd_listen.n; i++) {
        char host[256];
        int port;
        (void)hostport_split(cfg->smtpd_listen.item[i], 25, host, sizeof(host), &port);
    }
    if (!endless) {
        struct tern_runtime *rt = NULL;
        rc = runtime_build(&rt, cfg, NULL, NULL, &err);
        FUZZ_CHECK(rc <= 0);
        if (rc == 0) {
            /* where mail would go: relayhost and transport_maps as the delivery reads them */
            struct policy_nexthop nh;
            if (policy_nexthop_resolve(*cfg->relayhost ? cfg->relayhost : NULL, rt->transport,
                                       "u@example.com", &nh) == 0 &&
                nh.transport == NEXTHOP_SMTP)
                FUZZ_CHECK(nh.port >= 1 && nh.port <= 65535 && nh.key[0]);
            runtime_unref(rt);
        }
        free(err);
    }
    config_unref(cfg);
    return 0;
}
