/*
 * core_runtime - one configuration generation; see core_runtime.h.
 */
#include "core/core_runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* runtime_build - build policy objects from a loaded config */
int runtime_build(struct tern_runtime **out, struct tern_config *cfg,
                  struct tern_tls_caches *caches, const struct tern_runtime *prev, char **err)
{
    struct tern_runtime *rt = calloc(1, sizeof(*rt));
    if (!rt)
        return -ENOMEM;
    atomic_init(&rt->refs, 1);
    rt->cfg = config_ref(cfg);
    int rc = policy_relay_new(&rt->relay, cfg->smtpd_relay_restrictions.item,
                              cfg->smtpd_relay_restrictions.n,
                              cfg->smtpd_recipient_restrictions.item,
                              cfg->smtpd_recipient_restrictions.n, cfg->mynetworks.item,
                              cfg->mynetworks.n, cfg->relay_domains.item, cfg->relay_domains.n,
                              err);
    if (rc < 0)
        goto fail;
    if (cfg->transport_maps && *cfg->transport_maps) {
        rc = policy_table_open(&rt->transport, cfg->transport_maps, err);
        if (rc < 0)
            goto fail;
    }
    rc = tlsconf_build(&rt->tls, cfg, caches, prev ? prev->tls : NULL, err);
    if (rc < 0)
        goto fail;
    *out = rt;
    return 0;
fail:
    runtime_unref(rt);
    return rc;
}

struct tern_runtime *runtime_ref(struct tern_runtime *rt)
{
    atomic_fetch_add(&rt->refs, 1);
    return rt;
}

void runtime_unref(struct tern_runtime *rt)
{
    if (!rt || atomic_fetch_sub(&rt->refs, 1) != 1)
        return;
    policy_relay_free(rt->relay);
    policy_table_close(rt->transport);
    tlsconf_unref(rt->tls);
    config_unref(rt->cfg);
    free(rt);
}
