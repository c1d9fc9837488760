/*
 * NAME
 *	server_tls - STARTTLS and smtps on an inbound session
 * SYNOPSIS
 *	#include "core/smtpd/server_impl.h"
 *
 *	bool server_tls_start(struct server_session *s);
 * DESCRIPTION
 *	TLS: when the protocol says SMTPD_STARTTLS, the "220 Ready to start TLS"
 *	is flushed in the clear and a server tls_session is put between socket and
 *	protocol (conn_start_tls). The protocol session has already dropped every
 *	octet received after the STARTTLS line, and the conn delivers no further
 *	input until the handshake is over, so no plaintext crosses into TLS
 *	(CVE-2011-0411). On an smtps listener the handshake comes first and the
 *	greeting follows it. The handshake's outcome is logged the Postfix way,
 *	counted in the stats, and handed to smtpd_tls_started() (Received: text,
 *	client certificate fingerprints).
 * DIAGNOSTICS
 *	server_tls_start: false when the session is closed (no certificate, out of memory: logged
 *	"cannot start TLS", counted). A failed handshake is logged "SSL_accept error from
 *	name[addr]: why", counted, and ends the session.
 */
#include "core/smtpd/server_impl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/base/log.h"
#include "core/base/stats.h"
#include "core/config/tlsconf.h"
#include "core/daemon/worker.h"
#include "core/loop/conn.h"
#include "policy/policy_fingerprint.h"
#include "tls/tls_fprint.h"
#include "tls/tls_session.h"

/* server_tls_digest - smtpd_tls_fingerprint_digest; unset, it follows compatibility_level as in
 * Postfix (md5 below 3.6, as in the talk's tables; sha256 from 3.6) */
static enum tls_digest server_tls_digest(const struct tern_config *cfg)
{
    enum tls_digest d = TLS_DIGEST_SHA256;
    const char *name = config_get(cfg, "smtpd_tls_fingerprint_digest");
    if (!name || !*name)
        name = policy_fingerprint_digest_default(cfg->compatibility_level);
    if (tls_fprint_digest_parse(name, &d) < 0)
        d = TLS_DIGEST_SHA256;
    return d;
}

/* server_tls_done - the handshake ended: log, count, tell the protocol, greet on smtps */
static void server_tls_done(struct conn *c, void *owner, int err)
{
    struct server_session *s = owner;
    s->handshaking = false;
    if (s->closing || !s->smtpd)
        return;
    struct tls_session *ts = conn_tls(c);
    const struct tern_tls *t = s->rt->tls;
    const struct tls_info *info = err == 0 ? tls_session_info(ts) : NULL;
    if (!info) {
        const char *why = tls_session_error(ts);
        stats_inc(STAT_TLS_IN_FAILED);
        log_info("smtpd", "SSL_accept error from %s: %s", s->client,
                 why && *why                  ? why
                 : err == -ECONNRESET || !err ? "lost connection"
                                              : strerror(-err));
        s->closing = true;
        conn_abort(c);
        return;
    }
    stats_inc(info->reused ? STAT_TLS_IN_RESUMED : STAT_TLS_IN_FULL);

    char fp[TLS_FPRINT_MAX] = "", pkey_fp[TLS_FPRINT_MAX] = "";
    if (info->peer_cert) {
        enum tls_digest d = server_tls_digest(s->rt->cfg);
        if (tls_session_fingerprint(ts, d, false, fp, sizeof(fp)) < 0)
            fp[0] = 0;
        if (tls_session_fingerprint(ts, d, true, pkey_fp, sizeof(pkey_fp)) < 0)
            pkey_fp[0] = 0;
    }
    if (t->smtpd_loglevel >= 2 && info->peer_cert)
        log_info("smtpd",
                 "%s: subject_CN=%s, issuer_CN=%s, fingerprint=%s, pkey_fingerprint=%s%s%s",
                 s->client, info->peer_CN, info->issuer_CN, fp, pkey_fp,
                 info->peer_trusted ? "" : ", verify error: ", info->verify_error);
    if (t->smtpd_loglevel >= 2 && info->reused)
        log_info("smtpd", "%s: Reusing old session", s->client);
    if (t->smtpd_loglevel >= 1 && info->reused && info->peer_cert && !info->peer_trusted)
        log_info("smtpd",
                 "%s: re-using session with untrusted certificate, look for details earlier in "
                 "the log",
                 s->client);
    char summary[512];
    if (t->smtpd_loglevel >= 1 && tls_session_summary(ts, summary, sizeof(summary)) >= 0)
        /* "established" for a resumed session too, as Postfix says ("reused" is its word
         * for a cached connection) */
        log_info("smtpd", "%s TLS connection established from %s: %s",
                 !info->peer_cert     ? "Anonymous"
                 : info->peer_trusted ? "Trusted"
                                      : "Untrusted",
                 s->client, summary);

    char received[256];
    bool annotate =
        t->smtpd_received_header && tls_session_received_text(ts, received, sizeof(received)) >= 0;
    struct smtpd_tls_state st = {
        .received = annotate ? received : NULL,
        .ask_ccert = t->smtpd_ask_ccert || t->smtpd_req_ccert,
        .peer_cert = info->peer_cert,
        .peer_trusted = info->peer_trusted,
        .peer_CN = info->peer_CN,
        .issuer_CN = info->issuer_CN,
        .ccert_fingerprint = fp[0] ? fp : NULL,
        .ccert_pubkey_fingerprint = pkey_fp[0] ? pkey_fp : NULL,
    };
    s->ccert_trusted = info->peer_cert && info->peer_trusted;
    snprintf(s->ccert_CN, sizeof(s->ccert_CN), "%s", info->peer_cert ? info->peer_CN : "");
    int rc = smtpd_tls_started(s->smtpd, &st);
    /* the fingerprints, names and trust are copied: the session needs no certificate copy */
    tls_session_forget_peer(ts);
    if (rc < 0) {
        log_warn("smtpd", "out of memory after the TLS handshake with %s", s->client);
        s->closing = true;
        conn_abort(c);
        return;
    }
    if (s->smtps) {
        if (s->w->draining || s->refused) {
            server_act(s, s->refused ? smtpd_refuse(s->smtpd, conn_out(c))
                                     : smtpd_shutdown(s->smtpd, conn_out(c)));
            return;
        }
        smtpd_greeting(s->smtpd, conn_out(c));
    }
    server_act(s, SMTPD_CONTINUE);
}

/* server_tls_start - put a server TLS session on the connection; false: closed */
bool server_tls_start(struct server_session *s)
{
    struct tls_ctx *ctx = s->rt->tls ? s->rt->tls->server_ctx : NULL;
    struct tls_session *ts = NULL;
    int rc = ctx ? tls_session_new(&ts, ctx, true, NULL) : -ENOTSUP;
    if (rc == 0 && (rc = conn_start_tls(s->conn, ts, server_tls_done)) < 0)
        tls_session_free(ts);
    if (rc < 0) {
        stats_inc(STAT_TLS_IN_FAILED);
        log_warn("smtpd", "cannot start TLS with %s: %s", s->client,
                 rc == -ENOTSUP ? "no smtpd TLS certificate configured" : strerror(-rc));
        s->closing = true;
        conn_abort(s->conn);
        return false;
    }
    s->handshaking = true;
    return true;
}
