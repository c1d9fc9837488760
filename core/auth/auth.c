/*
 * auth - Cyrus SASL start-up, its lock and its log; see auth/auth.h.
 *
 * auth_lock serialises auth_init() (sasl_set_mutex, sasl_server_init,
 * sasl_client_init: the calls that build Cyrus's plugin and mechanism
 * lists and global callbacks), which the daemon makes before any other
 * thread runs; nothing else takes it. Per-connection calls need no lock
 * of tern's: Cyrus reads those lists without writing them after init,
 * and its own mutexes (installed here) cover what its plugins share.
 */
#include "core/auth/auth.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/auth/auth_internal.h"
#include "core/base/error.h"
#include "core/base/log.h"
#include "policy/policy_sasl.h"

static pthread_mutex_t auth_lock = PTHREAD_MUTEX_INITIALIZER; /* auth_init() only */
#define AUTH_LOCK() pthread_mutex_lock(&auth_lock)
#define AUTH_UNLOCK() pthread_mutex_unlock(&auth_lock)

static bool server_ready, client_ready;
static char *conf_path; /* cyrus_sasl_config_path, for the GETCONFPATH callback */
/* smtpd_sasl_path: Cyrus keeps the pointer it is given at sasl_server_init() and reads it at
 * every sasl_server_new(), so it must outlive the config it came from (a reload frees that) */
static char *app_name;

/* auth_log - Cyrus's messages: errors and warnings only */
static int auth_log(void *context, int level, const char *message)
{
    (void)context;
    if (level <= SASL_LOG_WARN && message)
        log_warn("sasl", "%s", message);
    return SASL_OK;
}

/* auth_getconfpath - where NAME.conf lives */
static int auth_getconfpath(void *context, const char **path)
{
    (void)context;
    *path = conf_path;
    return SASL_OK;
}

/* Cyrus's own mutexes, backed by pthreads: its defaults do nothing. */
static void *auth_mutex_alloc(void)
{
    pthread_mutex_t *m = malloc(sizeof(*m));
    if (m)
        pthread_mutex_init(m, NULL);
    return m;
}
static int auth_mutex_lock(void *m)
{
    return pthread_mutex_lock(m) == 0 ? SASL_OK : SASL_FAIL;
}
static int auth_mutex_unlock(void *m)
{
    return pthread_mutex_unlock(m) == 0 ? SASL_OK : SASL_FAIL;
}
static void auth_mutex_free(void *m)
{
    if (m) {
        pthread_mutex_destroy(m);
        free(m);
    }
}

/* auth_check_type - only Cyrus is built in */
static int auth_check_type(const struct tern_config *cfg, const char *name, char **err)
{
    const char *t = config_get(cfg, name);
    if (t && *t && strcmp(t, "cyrus") != 0) {
        error_set(err, "%s = %s: tern supports only cyrus", name, t);
        return -EINVAL;
    }
    return 0;
}

/* auth_check_options - the four *_security_options parameters */
static int auth_check_options(const struct tern_config *cfg, char **err)
{
    static const char *const names[] = {
        "smtpd_sasl_security_options",
        "smtpd_sasl_tls_security_options",
        "smtp_sasl_security_options",
        "smtp_sasl_tls_security_options",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        unsigned f;
        const char *bad = NULL;
        if (policy_sasl_options_parse(config_get(cfg, names[i]), &f, &bad) < 0) {
            error_set(err,
                      "%s: unknown option \"%.*s\" (known: noplaintext, noactive, "
                      "nodictionary, noanonymous, mutual_auth, forward_secrecy)",
                      names[i], (int)strcspn(bad, " \t,"), bad);
            return -EINVAL;
        }
    }
    return 0;
}

/* auth_init - once per process, before privileges drop */
int auth_init(const struct tern_config *cfg, char **err)
{
    static sasl_callback_t server_cbs[] = {
        {SASL_CB_LOG, AUTH_CB(auth_log), NULL},
        {SASL_CB_GETCONFPATH, AUTH_CB(auth_getconfpath), NULL},
        {SASL_CB_LIST_END, NULL, NULL},
    };
    static sasl_callback_t client_cbs[] = {
        {SASL_CB_LOG, AUTH_CB(auth_log), NULL},
        {SASL_CB_LIST_END, NULL, NULL},
    };
    bool want_server = config_get_bool(cfg, "smtpd_sasl_auth_enable");
    bool want_client = config_get_bool(cfg, "smtp_sasl_auth_enable");
    int rc;

    if ((rc = auth_check_options(cfg, err)) < 0)
        return rc;
    if (want_server && (rc = auth_check_type(cfg, "smtpd_sasl_type", err)) < 0)
        return rc;
    if (want_client && (rc = auth_check_type(cfg, "smtp_sasl_type", err)) < 0)
        return rc;
    if (want_client) {
        const char *maps = config_get(cfg, "smtp_sasl_password_maps");
        if (!maps || !maps[strspn(maps, " \t,")]) {
            error_set(err, "smtp_sasl_auth_enable = yes needs smtp_sasl_password_maps");
            return -EINVAL;
        }
    }
    if (!want_server && !want_client)
        return 0;

    AUTH_LOCK();
    sasl_set_mutex(auth_mutex_alloc, auth_mutex_lock, auth_mutex_unlock, auth_mutex_free);
    if (want_server && !server_ready) {
        const char *dir = config_get(cfg, "cyrus_sasl_config_path");
        const char *app = config_get(cfg, "smtpd_sasl_path");
        free(conf_path);
        conf_path = dir && *dir ? strdup(dir) : NULL;
        free(app_name);
        app_name = strdup(app && *app ? app : "smtpd");
        if (!app_name || (dir && *dir && !conf_path)) {
            AUTH_UNLOCK();
            error_set(err, "cannot initialise Cyrus SASL (server): out of memory");
            return -ENOMEM;
        }
        /* without a directory, leave the callback out: Cyrus's search path applies */
        server_cbs[1].id = conf_path ? SASL_CB_GETCONFPATH : SASL_CB_LIST_END;
        rc = sasl_server_init(server_cbs, app_name);
        if (rc != SASL_OK) {
            AUTH_UNLOCK();
            error_set(err, "cannot initialise Cyrus SASL (server): %s",
                      sasl_errstring(rc, NULL, NULL));
            return -EIO;
        }
        server_ready = true;
    }
    if (want_client && !client_ready) {
        rc = sasl_client_init(client_cbs);
        if (rc != SASL_OK) {
            AUTH_UNLOCK();
            error_set(err, "cannot initialise Cyrus SASL (client): %s",
                      sasl_errstring(rc, NULL, NULL));
            return -EIO;
        }
        client_ready = true;
    }
    AUTH_UNLOCK();
    return 0;
}

bool auth_server_ready(void)
{
    return server_ready;
}

bool auth_client_ready(void)
{
    return client_ready;
}

/* auth_secprops - no security layer, the policy flags as Cyrus flags */
void auth_secprops(unsigned secflags, sasl_security_properties_t *sp)
{
    memset(sp, 0, sizeof(*sp));
    sp->min_ssf = 0;
    sp->max_ssf = 0; /* no SASL security layer: TLS protects the session, as in Postfix */
    sp->maxbufsize = 0;
    if (secflags & POLICY_SASL_NOPLAINTEXT)
        sp->security_flags |= SASL_SEC_NOPLAINTEXT;
    if (secflags & POLICY_SASL_NOACTIVE)
        sp->security_flags |= SASL_SEC_NOACTIVE;
    if (secflags & POLICY_SASL_NODICTIONARY)
        sp->security_flags |= SASL_SEC_NODICTIONARY;
    if (secflags & POLICY_SASL_FORWARD_SECRECY)
        sp->security_flags |= SASL_SEC_FORWARD_SECRECY;
    if (secflags & POLICY_SASL_NOANONYMOUS)
        sp->security_flags |= SASL_SEC_NOANONYMOUS;
    if (secflags & POLICY_SASL_MUTUAL_AUTH)
        sp->security_flags |= SASL_SEC_MUTUAL_AUTH;
}

/* auth_map_result - Cyrus codes to what the protocol engines act on */
int auth_map_result(int rc)
{
    switch (rc) {
    case SASL_OK:
        return AUTH_OK;
    case SASL_CONTINUE:
        return AUTH_CONTINUE;
    case SASL_NOMECH:
    case SASL_TOOWEAK:
    case SASL_ENCRYPT:
        return AUTH_NOMECH;
    case SASL_TRYAGAIN:
    case SASL_UNAVAIL:
    case SASL_NOMEM:
        return AUTH_TEMPFAIL;
    default:
        return AUTH_FAIL;
    }
}
