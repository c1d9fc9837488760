/*
 * NAME
 *	fuzz_sasl - libFuzzer target: the SASL exchange through Cyrus, both directions
 * DESCRIPTION
 *	Cyrus is set up once as ternd sets it up (auth_init from a main.cf
 *	with smtpd_sasl_auth_enable and smtp_sasl_auth_enable): an smtpd.conf
 *	in cyrus_sasl_config_path with sasldb (user alice, made with
 *	saslpasswd2 when it is installed) and the mechanisms PLAIN, LOGIN,
 *	CRAM-MD5, DIGEST-MD5, SCRAM-SHA-1 and SCRAM-SHA-256.
 *
 *	The front of the input is lines of base64 text as they cross the wire;
 *	decisions from the back pick the side, the mechanism, the security
 *	options (noplaintext, noanonymous, ...) and whether TLS is on:
 *	  server  the client's initial response (first line, "=" for empty, ""
 *	          for none) and responses, decoded as the smtpd session decodes
 *	          them ("*" cancels), through auth_server_step();
 *	  client  the server's mechanism list (first line, raw), then its 334
 *	          challenges, decoded as smtpc decodes them, through
 *	          auth_client_start() / auth_client_step().
 *	Each line also goes through the operator-side parsers of policy_sasl:
 *	security options, a password-map value, the lookup keys of a next hop.
 *
 *	Properties: results are AUTH_* values; a step that continues has
 *	output that base64-encodes (length and pointer agree); AUTH_OK on the
 *	server side names a user; a failure says why. Cyrus itself is not
 *	instrumented for coverage: the guidance comes from tern's side, and
 *	ASan's interceptors watch what Cyrus does with memory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/auth/auth.h"
#include "core/base/base64.h"
#include "core/config/config.h"
#include "fuzz_input.h"
#include "policy/policy_sasl.h"

#define MAX_STEPS 16

static const char *const mechs[] = {"PLAIN",       "LOGIN",         "CRAM-MD5",     "DIGEST-MD5",
                                    "SCRAM-SHA-1", "SCRAM-SHA-256", "NO-SUCH-MECH", "plain"};

/* LLVMFuzzerInitialize - Cyrus set up as ternd sets it up: smtpd.conf, sasldb, auth_init, then the
 * config freed */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char dir[512], path[700], cmd[1600];
    fuzz_quiet();
    fuzz_tmpdir("sasl", dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/smtpd.conf", dir);
    FILE *fp = fopen(path, "w");
    if (!fp)
        abort();
    fprintf(fp,
            "pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: %s/sasldb2\n"
            "mech_list: PLAIN LOGIN CRAM-MD5 DIGEST-MD5 SCRAM-SHA-1 SCRAM-SHA-256\n",
            dir);
    fclose(fp);
    snprintf(cmd, sizeof(cmd),
             "echo 'wonder land' | saslpasswd2 -p -c -f '%s/sasldb2' -u mx.fuzz.test alice "
             ">/dev/null 2>&1",
             dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz_sasl: no saslpasswd2: the sasldb stays empty\n");
    snprintf(path, sizeof(path), "%s/main.cf", dir);
    fp = fopen(path, "w");
    if (!fp)
        abort();
    fprintf(fp,
            "myhostname = mx.fuzz.test\nsmtpd_sasl_auth_enable = yes\n"
            "cyrus_sasl_config_path = %s\nsmtp_sasl_auth_enable = yes\n"
            "smtp_sasl_password_maps = static:alice:wonder land\n",
            dir);
    fclose(fp);
    struct tern_config *cfg;
    char *err = NULL;
    if (config_load(&cfg, dir, &err) < 0 || auth_init(cfg, &err) < 0) {
        fprintf(stderr, "fuzz_sasl: %s\n", err ? err : "set-up failed");
        abort();
    }
    config_unref(cfg);
    return 0;
}

/* decode - a line as smtpd/smtpc decode it; NULL for malformed (the exchange ends there) */
static unsigned char *decode(const char *line, size_t *len)
{
    size_t tlen = strlen(line);
    unsigned char *d = malloc(tlen / 4 * 3 + 1);
    FUZZ_CHECK(d != NULL);
    int n = base64_decode(line, tlen, d, tlen / 4 * 3 + 1);
    if (n < 0) {
        free(d);
        return NULL;
    }
    *len = (size_t)n;
    return d;
}

/* check_step - one step's outcome */
static void check_step(enum auth_result r, const char *out, size_t outlen, const char *why)
{
    FUZZ_CHECK(r == AUTH_OK || r == AUTH_CONTINUE || r == AUTH_FAIL || r == AUTH_TEMPFAIL ||
               r == AUTH_NOMECH);
    FUZZ_CHECK(outlen == 0 || out != NULL);
    if (r == AUTH_CONTINUE || r == AUTH_OK) {
        struct buf b = BUF_INIT;
        FUZZ_CHECK(base64_encode(&b, out ? out : "", outlen) == 0);
        buf_free(&b);
    }
    if (r == AUTH_FAIL || r == AUTH_TEMPFAIL)
        FUZZ_CHECK(why != NULL);
}

/* operator_side - the same text as main.cf and password-map values */
static void operator_side(const char *line)
{
    unsigned flags;
    const char *bad = NULL;
    if (policy_sasl_options_parse(line, &flags, &bad) < 0)
        FUZZ_CHECK(bad != NULL && bad >= line && bad <= line + strlen(line));
    struct policy_sasl_secret sec;
    if (policy_sasl_secret_parse(line, &sec) == 0)
        FUZZ_CHECK(sec.user[0] != 0);
    const char *keys[POLICY_SASL_KEYS_MAX];
    char store[600];
    size_t n = policy_sasl_password_keys(line, "mx1.isp.example", keys, store, sizeof(store));
    FUZZ_CHECK(n <= POLICY_SASL_KEYS_MAX);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(keys[i] >= store && keys[i] < store + sizeof(store));
}

/* server - one AUTH exchange as ternd's smtpd runs it */
static void server(struct fuzz_input *in, const char *mech, unsigned flags)
{
    struct auth_server_params p = {
        .hostname = "mx.fuzz.test",
        .local_addr = "192.0.2.25",
        .local_port = 25,
        .remote_addr = "192.0.2.1",
        .remote_port = 40000,
        .secflags = flags,
    };
    char offered[512];
    if (auth_server_mechs(&p, offered, sizeof(offered)) == 0)
        FUZZ_CHECK(strlen(offered) < sizeof(offered));
    struct auth_server *as;
    if (auth_server_new(&as, &p) < 0)
        return;
    char *line = fuzz_input_line(in, 12288);
    const char *out = NULL, *why = NULL;
    size_t outlen = 0, len = 0;
    unsigned char *data = NULL;
    if (line && *line && strcmp(line, "=") != 0 && !(data = decode(line, &len)))
        goto done; /* 501 5.5.2 Cannot decode response */
    enum auth_result r = auth_server_step(
        as, mech, line && *line ? (data ? (char *)data : "") : NULL, len, &out, &outlen, &why);
    check_step(r, out, outlen, why);
    for (int step = 0; r == AUTH_CONTINUE && step < MAX_STEPS; step++) {
        free(data);
        data = NULL;
        free(line);
        line = fuzz_input_line(in, 12288);
        if (!line || strcmp(line, "*") == 0)
            break; /* the client went away or cancelled */
        operator_side(line);
        if (!(data = decode(line, &len)))
            break;
        r = auth_server_step(as, NULL, (char *)data, len, &out, &outlen, &why);
        check_step(r, out, outlen, why);
    }
    if (r == AUTH_OK)
        FUZZ_CHECK(auth_server_username(as) != NULL);
done:
    free(data);
    free(line);
    auth_server_free(as);
}

/* client - AUTH to a next hop that chooses its mechanism list and challenges */
static void client(struct fuzz_input *in, unsigned flags)
{
    struct auth_client *ac;
    if (auth_client_new(&ac, "mx.fuzz.test", "alice", "wonder land", flags) < 0)
        return;
    char *line = fuzz_input_line(in, 1000);
    const char *mech = NULL, *out = NULL, *why = NULL;
    size_t outlen = 0;
    if (!line)
        goto done;
    operator_side(line);
    enum auth_result r = auth_client_start(ac, line, &mech, &out, &outlen, &why);
    check_step(r, out, outlen, why);
    if (r == AUTH_CONTINUE || r == AUTH_OK)
        FUZZ_CHECK(mech != NULL && strcasestr(line, mech) != NULL);
    for (int step = 0; r == AUTH_CONTINUE && step < MAX_STEPS; step++) {
        free(line);
        line = fuzz_input_line(in, 12288);
        size_t len = 0;
        unsigned char *data = line ? decode(line, &len) : NULL;
        if (!data)
            break;
        r = auth_client_step(ac, (char *)data, len, &out, &outlen, &why);
        check_step(r, out, outlen, why);
        free(data);
    }
done:
    free(line);
    auth_client_free(ac);
}

/* LLVMFuzzerTestOneInput - one exchange, server or client side */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in = fuzz_input_init(data, size);
    bool to_client = fuzz_input_flag(&in);
    const char *mech = mechs[fuzz_input_pick(&in, sizeof(mechs) / sizeof(mechs[0]))];
    unsigned flags = fuzz_input_pick(&in, 64); /* POLICY_SASL_* */
    if (to_client)
        client(&in, flags);
    else
        server(&in, mech, flags);
    return 0;
}
