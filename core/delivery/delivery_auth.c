/*
 * delivery_auth - SASL for one outbound connection; see delivery/delivery_auth.h.
 */
#include "core/delivery/delivery_auth.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/auth/auth.h"

struct delivery_auth {
    struct smtpc_auth hooks;
    const struct tern_auth *conf; /* borrowed: the connection holds the runtime */
    struct policy_sasl_secret secret;
    char host[256];
    struct auth_client *ac;
};

/* delivery_auth_status - Cyrus's verdict as delivery/smtpc wants it */
static int delivery_auth_status(enum auth_result r)
{
    switch (r) {
    case AUTH_OK:
    case AUTH_CONTINUE:
        return 0;
    case AUTH_NOMECH:
        return -ENOENT;
    case AUTH_TEMPFAIL:
        return -EAGAIN;
    case AUTH_FAIL:
        break;
    }
    return -EIO;
}

/* delivery_auth_start - smtpc hook: a Cyrus client under this session's options, first message */
static int delivery_auth_start(void *arg, const char *server_mechs, bool tls, const char **mech,
                               const char **out, size_t *outlen, const char **why)
{
    struct delivery_auth *da = arg;
    auth_client_free(da->ac);
    da->ac = NULL;
    int rc = auth_client_new(&da->ac, da->host, da->secret.user, da->secret.pass,
                             tls ? da->conf->client_tls_flags : da->conf->client_flags);
    if (rc < 0) {
        *why = "cannot create a SASL client";
        return rc;
    }
    return delivery_auth_status(auth_client_start(da->ac, server_mechs, mech, out, outlen, why));
}

/* delivery_auth_step - smtpc hook: answer a challenge */
static int delivery_auth_step(void *arg, const char *in, size_t inlen, const char **out,
                              size_t *outlen, const char **why)
{
    struct delivery_auth *da = arg;
    if (!da->ac) {
        *why = "no exchange in progress";
        return -EINVAL;
    }
    return delivery_auth_status(auth_client_step(da->ac, in, inlen, out, outlen, why));
}

int delivery_auth_new(struct delivery_auth **out, const struct tern_auth *a, const char *nexthop,
                      const char *host)
{
    struct policy_sasl_secret secret;
    if (!a || !a->client)
        return 0;
    int rc = authconf_password(a, nexthop, host, &secret);
    if (rc <= 0)
        return rc;
    struct delivery_auth *da = calloc(1, sizeof(*da));
    if (!da) {
        explicit_bzero(&secret, sizeof(secret));
        return -ENOMEM;
    }
    da->conf = a;
    da->secret = secret;
    explicit_bzero(&secret, sizeof(secret));
    snprintf(da->host, sizeof(da->host), "%s", host && *host ? host : "unknown");
    da->hooks =
        (struct smtpc_auth){.arg = da, .start = delivery_auth_start, .step = delivery_auth_step};
    *out = da;
    return 1;
}

const struct smtpc_auth *delivery_auth_hooks(struct delivery_auth *da)
{
    return &da->hooks;
}

const char *delivery_auth_username(const struct delivery_auth *da)
{
    return da->secret.user;
}

void delivery_auth_free(struct delivery_auth *da)
{
    if (!da)
        return;
    auth_client_free(da->ac);
    explicit_bzero(&da->secret, sizeof(da->secret));
    free(da);
}
