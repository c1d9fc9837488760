/*
 * NAME
 *	server_limit - what a client may cost: connection, rate and storage limits
 * SYNOPSIS
 *	#include "core/smtpd/server_impl.h"
 *
 *	bool server_limit_admit(struct server_session *s);
 *	void server_limit_refuse_total(struct worker *w, int fd, enum listen_kind kind, int limit);
 *	bool server_limit_event_ok(void *arg, enum smtpd_event ev);
 *	bool server_limit_space_ok(void *arg, unsigned long long size);
 * DESCRIPTION
 *	Limits (smtpd/anvil.h). Every accepted connection is counted against
 *	the total cap first (smtpd_total_connection_limit, or the default
 *	derived from the descriptor limit): above it the client gets "421 4.3.2
 *	host Error: too many connections" written straight to the socket (on
 *	smtps the socket is just closed) and no session is made, so a flood at
 *	the cap costs an accept, a send and a close; the warning is logged at
 *	most once per 10 s. A session counts until it is freed. Then, as in
 *	Postfix, a client outside smtpd_client_event_limit_exceptions is
 *	counted by the anvil: over smtpd_client_connection_count_limit or
 *	_rate_limit it gets Postfix's warning and "421 4.7.0 host Error: too
 *	many connections from ADDR" instead of the greeting (on smtps after
 *	the handshake, as Postfix). MAIL, RCPT and AUTH are counted at the
 *	command (server_limit_event_ok). A session keeps the runtime it started
 *	with, so connect and disconnect are always counted under the same
 *	exceptions; a reload applies new limits to new sessions and new
 *	commands.
 *
 *	Storage: server_limit_space_ok answers MAIL's SIZE (or 0) against
 *	queue_minfree and message_size_limit (queue_space_check); no is "452
 *	4.3.1 Insufficient system storage".
 * DIAGNOSTICS
 *	Postfix's warnings: "Connection concurrency limit exceeded: N from name[addr] for
 *	service S", "Connection rate limit exceeded", "Message delivery request rate limit
 *	exceeded", ...; the total cap's warning at most once per 10 s.
 */
#include "core/smtpd/server_impl.h"

#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/base/log.h"
#include "core/base/time.h"
#include "core/config/tlsconf.h"
#include "core/daemon/daemon.h"
#include "core/daemon/worker.h"
#include "core/smtpd/anvil.h"

/* server_limit_unit_ms - anvil_rate_time_unit in ms */
static uint64_t server_limit_unit_ms(const struct server_session *s)
{
    return (uint64_t)s->rt->cfg->anvil_rate_time_unit * 1000;
}

/* server_limit_space_ok - smtpd hook: queue_minfree (queue_space.c) */
bool server_limit_space_ok(void *arg, unsigned long long size)
{
    struct server_session *s = arg;
    const struct tern_config *cfg = s->rt->cfg;
    return queue_space_check(s->w->daemon->queue, size, cfg->queue_minfree,
                             cfg->message_size_limit) == 0;
}

/* server_limit_event_ok - smtpd hook: smtpd_client_message/recipient/auth_rate_limit */
bool server_limit_event_ok(void *arg, enum smtpd_event ev)
{
    struct server_session *s = arg;
    const struct tern_config *cfg = s->rt->cfg;
    static const struct {
        enum anvil_event anvil;
        const char *what; /* Postfix's words */
    } events[] = {
        [SMTPD_EVENT_MAIL] = {ANVIL_MAIL, "Message delivery request rate limit exceeded"},
        [SMTPD_EVENT_RCPT] = {ANVIL_RCPT, "Recipient address rate limit exceeded"},
        [SMTPD_EVENT_AUTH] = {ANVIL_AUTH, "AUTH command rate limit exceeded"},
    };
    int limit = ev == SMTPD_EVENT_MAIL   ? cfg->smtpd_client_message_rate_limit
                : ev == SMTPD_EVENT_RCPT ? cfg->smtpd_client_recipient_rate_limit
                                         : cfg->smtpd_client_auth_rate_limit;
    if (!s->anvil || limit <= 0)
        return true;
    int rate = anvil_event(s->w->daemon->anvil, s->anvil, events[ev].anvil, time_mono_ms(),
                           server_limit_unit_ms(s));
    if (rate <= limit)
        return true;
    log_warn("smtpd", "%s: %d from %s for service %s", events[ev].what, rate, s->client,
             s->service);
    return false;
}

/* server_limit_admit - count the client (Postfix's anvil); false: over its connection count or rate
 * limit (warned), to be refused with 421 */
bool server_limit_admit(struct server_session *s)
{
    const struct tern_config *cfg = s->rt->cfg;
    int count = 0, rate = 0;
    if (policy_netlist_match(s->rt->limit_exceptions, s->addr))
        return true;
    if (anvil_connect(s->w->daemon->anvil, s->service, s->addr, time_mono_ms(),
                      server_limit_unit_ms(s), &s->anvil, &count, &rate) < 0)
        return true; /* out of memory: no client limit rather than no service */
    if (cfg->smtpd_client_connection_count_limit > 0 &&
        count > cfg->smtpd_client_connection_count_limit) {
        log_warn("smtpd", "Connection concurrency limit exceeded: %d from %s for service %s", count,
                 s->client, s->service);
        return false;
    }
    if (cfg->smtpd_client_connection_rate_limit > 0 &&
        rate > cfg->smtpd_client_connection_rate_limit) {
        log_warn("smtpd", "Connection rate limit exceeded: %d from %s for service %s", rate,
                 s->client, s->service);
        return false;
    }
    return true;
}

/* server_limit_refuse_total - over the total cap: 421 (not on smtps) and close, no session */
void server_limit_refuse_total(struct worker *w, int fd, enum listen_kind kind, int limit)
{
    const struct tern_config *cfg = w->rt->cfg;
    if (kind != LISTEN_SMTPS) {
        char reply[320];
        int n = snprintf(reply, sizeof(reply), "421 4.3.2 %s Error: too many connections\r\n",
                         cfg->myhostname);
        /* a fresh socket's send buffer is empty: this never blocks, and a short write is fine */
        if (n > 0 && (size_t)n < sizeof(reply))
            (void)send(fd, reply, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    close(fd);
    unsigned long n;
    if (anvil_total_refused(w->daemon->anvil, time_mono_ms(), &n))
        log_warn("smtpd",
                 "too many connections in total (smtpd_total_connection_limit = %d): new clients "
                 "get 421 (%lu refused since the last warning)",
                 limit, n);
}
