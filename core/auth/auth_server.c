/*
 * auth_server - one SMTP AUTH exchange on the server side; see auth/auth.h.
 *
 * A fresh Cyrus connection per AUTH command: a cancelled or failed exchange
 * is disposed of whole, so nothing of it survives into the next attempt.
 * An auth_server is used by one thread at a time (the caller's duty; the
 * steps of an exchange never overlap), so these calls take no lock.
 *
 * Two kinds of client response never reach Cyrus, because Cyrus 2.1.28 (Debian
 * 12) leaks memory on them and ternd is one long-lived process, where every
 * leaked octet a client can cause adds up (found by tests/fuzz/fuzz_sasl):
 *   - a response longer than AUTH_RESPONSE_MAX octets, except for the GSSAPI
 *     family whose Kerberos tokens are legitimately large: _canonuser_internal
 *     leaks its copy of an identity that does not fit CANON_BUF_SIZE (1024)
 *     with the realm appended (PLAIN's authcid, SCRAM's n=), up to 9 KB a try;
 *   - a LOGIN username that is empty or starts or ends with white space: the
 *     LOGIN plugin returns from its password step without freeing its copy
 *     of the password when the username fails to canonicalise, and Cyrus's
 *     white-space check also fails names like " a" (it compares the count of
 *     leading blanks with the trimmed length).
 * Both are answered as a failed authentication (535), which they would be.
 * AUTH_RESPONSE_MAX is far above any PLAIN, LOGIN, CRAM-MD5, DIGEST-MD5 or
 * SCRAM response a real client sends.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/auth/auth.h"
#include "core/auth/auth_internal.h"

#define AUTH_RESPONSE_MAX 512 /* octets of one decoded client response (not GSSAPI) */

struct auth_server {
    sasl_conn_t *conn;
    bool big_tokens; /* a GSSAPI-family mechanism: no AUTH_RESPONSE_MAX */
    bool login_user; /* LOGIN: the next response is the username */
    char why[256];
};

/* auth_ipport - Cyrus's "addr;port" form, NULL when unknown */
static const char *auth_ipport(const char *addr, int port, char *buf, size_t len)
{
    if (!addr || !*addr || strcmp(addr, "unknown") == 0)
        return NULL;
    snprintf(buf, len, "%s;%d", addr, port);
    return buf;
}

/* auth_server_open - a Cyrus server connection with the session's properties */
static int auth_server_open(sasl_conn_t **out, const struct auth_server_params *p)
{
    char local[80], remote[80];
    sasl_security_properties_t sp;
    int rc = sasl_server_new("smtp", p->hostname, p->realm && *p->realm ? p->realm : NULL,
                             auth_ipport(p->local_addr, p->local_port, local, sizeof(local)),
                             auth_ipport(p->remote_addr, p->remote_port, remote, sizeof(remote)),
                             NULL, 0, out);
    if (rc != SASL_OK)
        return rc == SASL_NOMEM ? -ENOMEM : -EIO;
    auth_secprops(p->secflags, &sp);
    if (sasl_setprop(*out, SASL_SEC_PROPS, &sp) != SASL_OK) {
        sasl_dispose(out);
        return -EIO;
    }
    return 0;
}

/* auth_server_mechs - what EHLO offers with these flags */
int auth_server_mechs(const struct auth_server_params *p, char *out, size_t len)
{
    sasl_conn_t *conn = NULL;
    const char *list = NULL;
    unsigned n = 0;
    int count = 0;
    if (len == 0)
        return -ENOSPC;
    out[0] = 0;
    if (!auth_server_ready())
        return -ENOTSUP;
    int rc = auth_server_open(&conn, p);
    if (rc == 0) {
        int src = sasl_listmech(conn, NULL, "", " ", "", &list, &n, &count);
        if (src == SASL_OK && list && n < len)
            memcpy(out, list, (size_t)n + 1);
        else if (src == SASL_OK && list)
            rc = -ENOSPC;
        /* SASL_NOMECH: nothing to offer, "" */
        sasl_dispose(&conn);
    }
    return rc;
}

int auth_server_new(struct auth_server **out, const struct auth_server_params *p)
{
    struct auth_server *as = calloc(1, sizeof(*as));
    if (!as)
        return -ENOMEM;
    if (!auth_server_ready()) {
        free(as);
        return -ENOTSUP;
    }
    int rc = auth_server_open(&as->conn, p);
    if (rc < 0) {
        free(as);
        return rc;
    }
    *out = as;
    return 0;
}

/* auth_untrimmed - an empty identity, or one with white space at either end */
static bool auth_untrimmed(const char *in, size_t inlen)
{
    return inlen == 0 || isspace((unsigned char)in[0]) || isspace((unsigned char)in[inlen - 1]);
}

/* auth_refused - a response Cyrus must not see (see the module comment); updates LOGIN's state */
static bool auth_refused(struct auth_server *as, const char *mech, const char *in, size_t inlen)
{
    if (mech) {
        as->big_tokens = strncasecmp(mech, "GSS", 3) == 0 || strncasecmp(mech, "GS2-", 4) == 0;
        as->login_user = strcasecmp(mech, "LOGIN") == 0;
        if (as->login_user && (!in || inlen == 0))
            return false; /* no initial response: Cyrus asks for the username */
    }
    if (!as->big_tokens && inlen > AUTH_RESPONSE_MAX)
        return true;
    if (as->login_user) {
        as->login_user = false;
        return auth_untrimmed(in, inlen);
    }
    return false;
}

/* auth_server_step - sasl_server_start (mech given) or sasl_server_step */
enum auth_result auth_server_step(struct auth_server *as, const char *mech, const char *in,
                                  size_t inlen, const char **out, size_t *outlen, const char **why)
{
    const char *sout = NULL;
    unsigned soutlen = 0;
    int rc;
    if (auth_refused(as, mech, in, inlen)) {
        snprintf(as->why, sizeof(as->why), "authentication failure");
        *out = NULL;
        *outlen = 0;
        *why = as->why;
        return AUTH_FAIL;
    }
    if (mech)
        rc = sasl_server_start(as->conn, mech, in, (unsigned)inlen, &sout, &soutlen);
    else
        rc = sasl_server_step(as->conn, in ? in : "", (unsigned)inlen, &sout, &soutlen);
    if (rc != SASL_OK && rc != SASL_CONTINUE)
        /* Postfix's reply text: Cyrus's short reason, e.g. "authentication failure" */
        snprintf(as->why, sizeof(as->why), "%s", sasl_errstring(rc, NULL, NULL));
    else
        as->why[0] = 0;
    *out = sout;
    *outlen = soutlen;
    *why = as->why;
    return (enum auth_result)auth_map_result(rc);
}

const char *auth_server_username(struct auth_server *as)
{
    const void *user = NULL;
    int rc = sasl_getprop(as->conn, SASL_USERNAME, &user);
    return rc == SASL_OK ? user : NULL;
}

void auth_server_free(struct auth_server *as)
{
    if (!as)
        return;
    sasl_dispose(&as->conn);
    free(as);
}
