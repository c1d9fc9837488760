/*
 * auth_client - SMTP AUTH towards a next hop; see auth/auth.h.
 *
 * The credentials are copied into the object and handed to Cyrus through
 * its USER/AUTHNAME/PASS callbacks; the copy is wiped when it is freed.
 * The client mechanisms compute locally (no back end to wait for), so
 * they run on the delivery's ring; they take no lock (auth/auth.h), so a
 * server step that waits for saslauthd does not hold them up.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/auth/auth.h"
#include "core/auth/auth_internal.h"

struct auth_client {
    sasl_conn_t *conn;
    sasl_callback_t cbs[4];
    char *user;
    sasl_secret_t *secret;
    char why[256];
};

/* auth_client_simple - SASL_CB_USER and SASL_CB_AUTHNAME: the username */
static int auth_client_simple(void *context, int id, const char **result, unsigned *len)
{
    struct auth_client *ac = context;
    if (id != SASL_CB_USER && id != SASL_CB_AUTHNAME)
        return SASL_BADPARAM;
    /* No separate authorization identity: an empty one means "the same as authname". */
    *result = id == SASL_CB_USER ? "" : ac->user;
    if (len)
        *len = (unsigned)strlen(*result);
    return SASL_OK;
}

/* auth_client_pass - SASL_CB_PASS: the password */
static int auth_client_pass(sasl_conn_t *conn, void *context, int id, sasl_secret_t **psecret)
{
    (void)conn;
    struct auth_client *ac = context;
    if (id != SASL_CB_PASS)
        return SASL_BADPARAM;
    *psecret = ac->secret;
    return SASL_OK;
}

int auth_client_new(struct auth_client **out, const char *server_host, const char *user,
                    const char *pass, unsigned secflags)
{
    struct auth_client *ac = calloc(1, sizeof(*ac));
    if (!ac)
        return -ENOMEM;
    size_t plen = strlen(pass);
    ac->user = strdup(user);
    ac->secret = malloc(sizeof(sasl_secret_t) + plen + 1);
    if (ac->secret) {
        /* before any failure path: auth_client_free() wipes secret->len octets */
        ac->secret->len = plen;
        memcpy(ac->secret->data, pass, plen + 1);
    }
    if (!ac->user || !ac->secret) {
        auth_client_free(ac);
        return -ENOMEM;
    }
    ac->cbs[0] = (sasl_callback_t){SASL_CB_USER, AUTH_CB(auth_client_simple), ac};
    ac->cbs[1] = (sasl_callback_t){SASL_CB_AUTHNAME, AUTH_CB(auth_client_simple), ac};
    ac->cbs[2] = (sasl_callback_t){SASL_CB_PASS, AUTH_CB(auth_client_pass), ac};
    ac->cbs[3] = (sasl_callback_t){SASL_CB_LIST_END, NULL, NULL};
    if (!auth_client_ready()) {
        auth_client_free(ac);
        return -ENOTSUP;
    }
    sasl_security_properties_t sp;
    auth_secprops(secflags, &sp);
    int rc = sasl_client_new("smtp", server_host, NULL, NULL, ac->cbs, 0, &ac->conn);
    if (rc == SASL_OK)
        rc = sasl_setprop(ac->conn, SASL_SEC_PROPS, &sp);
    if (rc != SASL_OK) {
        auth_client_free(ac);
        return rc == SASL_NOMEM ? -ENOMEM : -EIO;
    }
    *out = ac;
    return 0;
}

/* auth_client_why - keep Cyrus's reason for the failed call */
static void auth_client_why(struct auth_client *ac, int rc)
{
    const char *detail = ac->conn ? sasl_errdetail(ac->conn) : NULL;
    if (rc == SASL_NOMECH)
        snprintf(ac->why, sizeof(ac->why), "no mechanism available");
    else
        snprintf(ac->why, sizeof(ac->why), "%s",
                 detail && *detail ? detail : sasl_errstring(rc, NULL, NULL));
}

enum auth_result auth_client_start(struct auth_client *ac, const char *server_mechs,
                                   const char **mech, const char **out, size_t *outlen,
                                   const char **why)
{
    const char *cout = NULL, *cmech = NULL;
    unsigned coutlen = 0;
    sasl_interact_t *need = NULL;
    int rc = sasl_client_start(ac->conn, server_mechs, &need, &cout, &coutlen, &cmech);
    if (rc == SASL_INTERACT)
        rc = SASL_BADPARAM; /* every prompt is answered by a callback */
    ac->why[0] = 0;
    if (rc != SASL_OK && rc != SASL_CONTINUE)
        auth_client_why(ac, rc);
    *mech = cmech;
    *out = cout;
    *outlen = coutlen;
    *why = ac->why;
    return (enum auth_result)auth_map_result(rc);
}

enum auth_result auth_client_step(struct auth_client *ac, const char *in, size_t inlen,
                                  const char **out, size_t *outlen, const char **why)
{
    const char *cout = NULL;
    unsigned coutlen = 0;
    sasl_interact_t *need = NULL;
    int rc = sasl_client_step(ac->conn, in, (unsigned)inlen, &need, &cout, &coutlen);
    if (rc == SASL_INTERACT)
        rc = SASL_BADPARAM;
    ac->why[0] = 0;
    if (rc != SASL_OK && rc != SASL_CONTINUE)
        auth_client_why(ac, rc);
    *out = cout;
    *outlen = coutlen;
    *why = ac->why;
    return (enum auth_result)auth_map_result(rc);
}

void auth_client_free(struct auth_client *ac)
{
    if (!ac)
        return;
    if (ac->conn)
        sasl_dispose(&ac->conn);
    if (ac->secret) {
        explicit_bzero(ac->secret->data, ac->secret->len);
        free(ac->secret);
    }
    free(ac->user);
    free(ac);
}
