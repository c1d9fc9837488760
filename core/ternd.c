/*
 * NAME
 *	ternd - the tern relay daemon
 * SYNOPSIS
 *	ternd -c DIR            run in the foreground with DIR/main.cf
 *	ternd -c DIR -n         print the parameters that differ from their defaults
 *	ternd -c DIR check      validate config, files and permissions; exit non-zero on trouble
 *	ternd -c DIR recover    ternd stopped: move a damaged queue file aside, keep what reads
 *	ternd -V                print the version (CMake's project(VERSION), the one source)
 * DESCRIPTION
 *	Start-up order matters: everything that needs root happens first (read
 *	config and keys, bind listeners, open the queue's LMDB environment,
 *	create the control socket), then privileges drop to mail_owner, then
 *	the threads start: the queue thread, the SASL threads (AUTH steps off
 *	the rings, smtpd/authjob.h; with smtpd_sasl_auth_enable), one worker
 *	per CPU (or worker_threads), the control thread. The main thread then only waits
 *	for signals: SIGHUP reloads config and maps, SIGTERM/SIGINT drain
 *	(stop accepting, 421 to idle sessions, finish commits) and exit.
 *
 *	The client TLS policy tables are checked entry by entry at start-up,
 *	on reload and by `ternd check` (policy_tls_sites_check): a dane or
 *	dane-only entry without smtp_dns_support_level = dnssec, a tafile=
 *	attribute, or a bad entry refuses the start, keeps
 *	the old configuration on reload, and is an error for check. Certificate
 *	restrictions without smtpd_tls_ask_ccert get a warning.
 *
 *	Right after the maillog opens, the soft descriptor limit is raised to
 *	the hard one (daemon/fdlimit.h) and the outcome logged; the default of
 *	smtpd_total_connection_limit is derived from the limit then in force
 *	and logged too (with a warning when the parameter is set above it).
 *
 *	Under systemd (Type=notify, daemon/notify.h) READY=1 goes out after the
 *	listeners are bound, privileges dropped and every thread started;
 *	RELOADING=1 and READY=1 frame a SIGHUP reload (which also reopens
 *	maillog_file for logrotate); STOPPING=1 starts the drain.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <fcntl.h>

#include "core/auth/auth.h"
#include "core/smtpd/authjob.h"
#include "core/config/config.h"
#include "core/daemon/control.h"
#include "core/daemon/daemon.h"
#include "core/redis/redis_lease.h"
#include "core/redis/redis_mirror.h"
#include "core/base/dir.h"
#include "core/base/error.h"
#include "core/base/heap.h"
#include "core/daemon/fdlimit.h"
#include "core/base/log.h"
#include "core/daemon/metrics.h"
#include "core/daemon/notify.h"
#include "core/config/runtime.h"
#include "core/base/time.h"
#include "queue/queue.h"

#define DRAIN_SECONDS 30
#define AUTH_POOL_STOP_MS 2000 /* after the drain: how long a blocked SASL call may hold the exit */

static void usage(void)
{
    fprintf(stderr, "usage: ternd -c CONFIG_DIR [-n | check | recover]\n       ternd -V\n");
    exit(2);
}

/* lookup_owner - uid/gid of mail_owner; *drop false when no drop is needed */
static int lookup_owner(const char *name, uid_t *uid, gid_t *gid, bool *drop, char **err)
{
    *drop = false;
    if (geteuid() != 0)
        return 0;
    struct passwd *pw = getpwnam(name);
    if (!pw) {
        error_set(err, "mail_owner %s: no such user (create it, or set mail_owner)", name);
        return -ENOENT;
    }
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    *drop = pw->pw_uid != 0;
    return 0;
}

/* chown_tree - give the queue directory and its files to mail_owner */
static void chown_tree(const char *dir, uid_t uid, gid_t gid)
{
    if (chown(dir, uid, gid) < 0)
        log_warn("master", "chown %s: %s", dir, strerror(errno));
    DIR *dp = opendir(dir);
    if (!dp)
        return;
    struct dirent *de;
    while ((de = readdir(dp))) {
        if (de->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (lchown(path, uid, gid) < 0)
            log_warn("master", "chown %s: %s", path, strerror(errno));
    }
    closedir(dp);
}

/* start_mirrors - share the redis: caches with the other nodes; the server side's mirror also
 * makes the cluster's ticket keys */
static void start_mirrors(struct tern_daemon *d)
{
    struct tern_tls_caches *c = d->tls_caches;
    const struct tern_tls *t = d->rt->tls;
    int rc;
    if (c->server_redis && (rc = redis_mirror_start(&d->mirror[0], c->server_redis, c->server,
                                                    t ? t->smtpd_cache_timeout : 0)) < 0)
        log_fatal("master", "cannot start the Redis mirror: %s", strerror(-rc));
    if (c->client_redis &&
        (rc = redis_mirror_start(&d->mirror[1], c->client_redis, c->client, 0)) < 0)
        log_fatal("master", "cannot start the Redis mirror: %s", strerror(-rc));
}

/* drop_privileges - become mail_owner for good */
static void drop_privileges(const char *name, uid_t uid, gid_t gid)
{
    if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
        log_fatal("master", "cannot drop privileges to %s: %s", name, strerror(errno));
    if (setuid(0) == 0)
        log_fatal("master", "privileges were not dropped: setuid(0) still works");
}

/* smtps_problem - smtps_listen needs a server certificate; NULL or the reason */
static const char *smtps_problem(const struct tern_runtime *rt)
{
    if (rt->cfg->smtps_listen.n == 0 || (rt->tls && rt->tls->server_ctx))
        return NULL;
    const char *cert = config_get(rt->cfg, "smtpd_tls_cert_file");
    const char *eccert = config_get(rt->cfg, "smtpd_tls_eccert_file");
    if ((!cert || !*cert) && (!eccert || !*eccert))
        return "smtps_listen is set but smtpd_tls_cert_file is not: implicit TLS needs a server "
               "certificate";
    return "smtps_listen is set but no server TLS context could be built";
}

/* tls_sites_problem - smtp_tls_policy_maps / smtp_tls_per_site entries tern cannot honour
 * (tafile=: -ENOTSUP; a bad entry, or dane without dnssec: -EINVAL); 0, or -errno with *err */
static int tls_sites_problem(const struct tern_runtime *rt, char **err)
{
    int rc = policy_tls_sites_check(rt->tls_sites, err);
    if (rc < 0 && err && !*err)
        error_set(err, "client TLS policy: %s", strerror(-rc));
    return rc;
}

/* ccert_warning - certificate rules that can never see a certificate; NULL or the text */
static const char *ccert_warning(const struct tern_runtime *rt)
{
    bool ask = false;
    const char *v = config_get(rt->cfg, "smtpd_tls_ask_ccert");
    const char *req = config_get(rt->cfg, "smtpd_tls_req_ccert");
    bool required = false;
    if (v)
        config_parse_bool(v, &ask);
    if (req)
        config_parse_bool(req, &required);
    if (!policy_relay_uses_ccert(rt->relay) || ask || required)
        return NULL;
    return "a client-certificate restriction (permit_tls_clientcerts, permit_tls_all_clientcerts, "
           "check_ccert_access) is configured but smtpd_tls_ask_ccert = no: it never sees a "
           "certificate";
}

/* run_check - `ternd -c DIR check` */
static int run_check(struct tern_config *cfg)
{
    int problems = 0;
    char *err = NULL;
    struct tern_runtime *rt = NULL;
    struct redis_conf *lease_conf = NULL;
    if (tlsconf_check_keys(cfg, &err) < 0 || tlsconf_check_caches(cfg, &err) < 0 ||
        redis_conf_table(&lease_conf, "destination_lease_database", cfg->destination_lease_database,
                         &err) < 0) {
        fprintf(stderr, "ternd: error: %s\n", err);
        free(err);
        err = NULL;
        problems++;
    }
    redis_conf_free(lease_conf);
    if (auth_init(cfg, &err) < 0 || runtime_build(&rt, cfg, NULL, NULL, &err) < 0) {
        fprintf(stderr, "ternd: error: %s\n", err ? err : "bad configuration");
        free(err);
        err = NULL;
        problems++;
    } else {
        if (smtps_problem(rt)) {
            fprintf(stderr, "ternd: error: %s\n", smtps_problem(rt));
            problems++;
        }
        if (tls_sites_problem(rt, &err) < 0) {
            fprintf(stderr, "ternd: error: %s\n", err ? err : "client TLS policy");
            free(err);
            err = NULL;
            problems++;
        }
        if (ccert_warning(rt))
            fprintf(stderr, "ternd: warning: %s\n", ccert_warning(rt));
    }
    runtime_unref(rt);
    if (metrics_check(cfg->metrics_listen, &err) < 0) {
        fprintf(stderr, "ternd: error: %s\n", err);
        free(err);
        err = NULL;
        problems++;
    }
    uid_t uid;
    gid_t gid;
    bool drop;
    if (lookup_owner(cfg->mail_owner, &uid, &gid, &drop, &err) < 0) {
        fprintf(stderr, "ternd: error: %s\n", err);
        free(err);
        err = NULL;
        problems++;
    }
    struct stat st;
    if (stat(cfg->queue_directory, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            fprintf(stderr, "ternd: error: queue_directory %s is not a directory\n", cfg->queue_directory);
            problems++;
        } else if (st.st_mode & 0077) {
            fprintf(stderr, "ternd: warning: queue_directory %s is accessible by group or others (mode %o)\n",
                    cfg->queue_directory, st.st_mode & 0777);
        }
    } else if (errno != ENOENT) {
        fprintf(stderr, "ternd: error: queue_directory %s: %s\n", cfg->queue_directory, strerror(errno));
        problems++;
    }
    if (cfg->maillog_file && *cfg->maillog_file) {
        int fd = open(cfg->maillog_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (fd < 0) {
            fprintf(stderr, "ternd: error: maillog_file %s: %s\n", cfg->maillog_file, strerror(errno));
            problems++;
        } else {
            close(fd);
        }
    }
    if (problems) {
        fprintf(stderr, "ternd: %d problem%s found in %s/main.cf\n", problems, problems == 1 ? "" : "s",
                cfg->config_directory);
        return 1;
    }
    printf("ternd: configuration %s/main.cf is OK\n", cfg->config_directory);
    return 0;
}

/* raise_fd_limit - soft RLIMIT_NOFILE up to the hard limit, logged */
static void raise_fd_limit(struct fdlimit *fl)
{
    int rc = fdlimit_raise(fl);
    if (rc < 0)
        log_warn("master", "descriptor limit %lu: cannot raise it to %lu: %s", fl->before, fl->hard,
                 strerror(-rc));
    else if (fl->after > fl->before)
        log_info("master", "descriptor limit raised from %lu to %lu", fl->before, fl->after);
    else
        log_info("master", "descriptor limit %lu, already the hard limit", fl->after);
}

/* setup_limits - the anvil and the derived inbound cap (logged) */
static void setup_limits(struct tern_daemon *d, const struct tern_config *cfg, unsigned long nofile)
{
    if (anvil_new(&d->anvil, ANVIL_MAX_IDLE) < 0)
        log_fatal("master", "out of memory");
    size_t nlisteners = cfg->smtpd_listen.n + cfg->submission_listen.n + cfg->smtps_listen.n;
    d->total_limit = fdlimit_inbound(nofile, d->nworkers, nlisteners);
    if (cfg->smtpd_total_connection_limit == 0)
        log_info("master",
                 "smtpd_total_connection_limit = %d (derived from the descriptor limit %lu)",
                 d->total_limit, nofile);
    else if (cfg->smtpd_total_connection_limit > d->total_limit)
        log_warn("master",
                 "smtpd_total_connection_limit = %d is more than the descriptor limit %lu leaves "
                 "for inbound connections (%d): accepts may fail for want of descriptors",
                 cfg->smtpd_total_connection_limit, nofile, d->total_limit);
}

/* queue_params_of - the queue's parameters in cfg (queue_open; a reload reads the retry times,
 * lifetimes and host name of it, queue.h) */
static struct queue_params queue_params_of(const struct tern_config *cfg)
{
    return (struct queue_params){
        .directory = cfg->queue_directory,
        .map_size = (size_t)cfg->queue_map_size,
        .minimal_backoff_time = cfg->minimal_backoff_time,
        .maximal_backoff_time = cfg->maximal_backoff_time,
        .maximal_queue_lifetime = cfg->maximal_queue_lifetime,
        .bounce_queue_lifetime = cfg->bounce_queue_lifetime,
        .myhostname = cfg->myhostname,
    };
}

/* reload - SIGHUP: reopen maillog_file, new config and maps, swapped whole */
static void reload(struct tern_daemon *d, const char *dir)
{
    struct tern_config *cfg;
    char *err = NULL;
    int lrc = log_reopen();
    if (lrc < 0)
        log_warn("master", "cannot reopen maillog_file, still writing to the old one: %s",
                 strerror(-lrc));
    if (config_load(&cfg, dir, &err) < 0) {
        log_error("master", "reload failed, keeping the old configuration: %s", err ? err : "");
        free(err);
        return;
    }
    config_log_warnings(cfg);
    struct tern_runtime *rt;
    int rc = runtime_build(&rt, cfg, d->tls_caches, d->rt, &err);
    config_unref(cfg);
    if (rc < 0) {
        log_error("master", "reload failed, keeping the old configuration: %s", err ? err : "");
        free(err);
        return;
    }
    if (smtps_problem(rt)) {
        log_error("master", "reload failed, keeping the old configuration: %s", smtps_problem(rt));
        runtime_unref(rt);
        return;
    }
    if (tls_sites_problem(rt, &err) < 0) {
        log_error("master", "reload failed, keeping the old configuration: %s", err ? err : "");
        free(err);
        runtime_unref(rt);
        return;
    }
    if (ccert_warning(rt))
        log_warn("master", "%s", ccert_warning(rt));
    char changed[512];
    if (config_restart_changed(d->rt->cfg, rt->cfg, changed, sizeof(changed)) > 0)
        log_warn("master", "reload: %s changed: used only at start-up, in effect after a restart",
                 changed);
    struct queue_params qp = queue_params_of(rt->cfg);
    if ((rc = queue_ctl_reload(d->queue, &qp)) < 0)
        log_warn("master", "reload: the queue kept its retry times, lifetimes or host name: %s",
                 strerror(-rc));
    pthread_mutex_lock(&d->rt_lock);
    struct tern_runtime *old = d->rt;
    d->rt = rt;
    pthread_mutex_unlock(&d->rt_lock);
    for (int i = 0; i < d->nworkers; i++)
        worker_post_runtime(&d->workers[i], rt);
    runtime_unref(old);
    log_info("master", "reload -- version %s, configuration %s", TERN_VERSION, dir);
}

/* drain - SIGTERM: stop taking work, let commits finish, stop */
static void drain(struct tern_daemon *d)
{
    atomic_store(&d->draining, true);
    notify_stopping();
    log_info("master", "terminating on signal: draining");
    for (int i = 0; i < d->nworkers; i++)
        worker_drain(&d->workers[i]);
    double deadline = time_now() + DRAIN_SECONDS;
    while (time_now() < deadline) {
        bool idle = true;
        for (int i = 0; i < d->nworkers; i++)
            idle = idle && worker_idle(&d->workers[i]);
        if (idle)
            break;
        usleep(20000);
    }
    /* The queue first: its thread hands jobs and commit results to the workers' loops, and a
     * post after a loop stopped is never run. Results that come back after this are dropped
     * (the recipients stay on disk for the next start). */
    queue_stop(d->queue);
    for (int i = 0; i < d->nworkers; i++)
        worker_stop_and_join(&d->workers[i]);
}

/* run_recover - `ternd -c DIR recover`: a new queue from what still reads (queue_salvage.c) */
static int run_recover(struct tern_config *cfg)
{
    struct queue_params qp = queue_params_of(cfg);
    int rc = queue_salvage(&qp, stdout);
    if (rc < 0)
        fprintf(stderr, "ternd: recover: %s: %s\n", cfg->queue_directory, strerror(-rc));
    config_unref(cfg);
    return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    heap_tune(); /* before any thread: base/heap.h */
    const char *dir = NULL;
    bool print_n = false, check = false, recover = false;
    int ch;
    while ((ch = getopt(argc, argv, "c:nvV")) != -1) {
        switch (ch) {
        case 'V':
            printf("ternd %s\n", TERN_VERSION);
            return 0;
        case 'c':
            dir = optarg;
            break;
        case 'n':
            print_n = true;
            break;
        case 'v':
            log_set_debug(log_debug_level() + 1);
            break;
        default:
            usage();
        }
    }
    if (optind < argc) {
        if (!strcmp(argv[optind], "check"))
            check = true;
        else if (!strcmp(argv[optind], "recover"))
            recover = true;
        else
            usage();
    }
    if (!dir)
        usage();

    struct tern_config *cfg;
    char *err = NULL;
    if (config_load(&cfg, dir, &err) < 0) {
        fprintf(stderr, "ternd: fatal: %s\n", err ? err : "cannot load configuration");
        free(err); /* LeakSanitizer builds: a bad config exits with its message only */
        return 1;
    }
    if (print_n) {
        config_print_nondefault(cfg, stdout);
        config_unref(cfg);
        return 0;
    }
    if (check) {
        config_log_warnings(cfg);
        int problems = run_check(cfg);
        config_unref(cfg); /* LeakSanitizer builds: check exits clean */
        return problems;
    }

    if (log_open(cfg->syslog_name, cfg->maillog_file) < 0)
        log_fatal("master", "cannot open maillog_file %s: %s", cfg->maillog_file, strerror(errno));
    config_log_warnings(cfg);
    if (recover)
        return run_recover(cfg);
    struct fdlimit fl;
    raise_fd_limit(&fl);

    struct tern_daemon d;
    memset(&d, 0, sizeof(d));
    pthread_mutex_init(&d.rt_lock, NULL);
    if (tlsconf_check_keys(cfg, &err) < 0)
        log_fatal("master", "%s", err);
    if (tlsconf_caches_open(&d.tls_caches, cfg, &err) < 0)
        log_fatal("master", "%s", err);
    if (auth_init(cfg, &err) < 0)
        log_fatal("master", "%s", err);
    if (runtime_build(&d.rt, cfg, d.tls_caches, NULL, &err) < 0)
        log_fatal("master", "%s", err ? err : "bad configuration");
    config_unref(cfg);
    cfg = d.rt->cfg;

    uid_t uid = 0;
    gid_t gid = 0;
    bool drop = false;
    if (lookup_owner(cfg->mail_owner, &uid, &gid, &drop, &err) < 0)
        log_fatal("master", "%s", err);
    if (smtps_problem(d.rt))
        log_fatal("master", "%s", smtps_problem(d.rt));
    if (tls_sites_problem(d.rt, &err) < 0)
        log_fatal("master", "%s", err);
    if (ccert_warning(d.rt))
        log_warn("master", "%s", ccert_warning(d.rt));

    /* Threads inherit this mask; only the main thread takes signals, with sigwait. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = dir_make(cfg->queue_directory, 0700);
    if (rc < 0)
        log_fatal("master", "queue_directory %s: %s", cfg->queue_directory, strerror(-rc));
    struct queue_params qp = queue_params_of(cfg);
    struct queue_hooks qh;
    daemon_queue_hooks(&d, &qh);
    rc = queue_open(&d.queue, &qp, &qh);
    if (rc < 0)
        log_fatal("master", "cannot open the queue in %s: %s", cfg->queue_directory, strerror(-rc));

    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    d.nworkers = cfg->worker_threads > 0 ? cfg->worker_threads : (int)(ncpu > 0 ? ncpu : 1);
    d.workers = calloc((size_t)d.nworkers, sizeof(*d.workers));
    if (!d.workers)
        log_fatal("master", "out of memory");
    setup_limits(&d, cfg, fl.after);
    if (redis_conf_table(&d.lease_conf, "destination_lease_database",
                         cfg->destination_lease_database, &err) < 0)
        log_fatal("master", "%s", err);
    if (d.lease_conf && (rc = redis_lease_start(&d.leases, d.lease_conf,
                                                (unsigned)cfg->destination_lease_time * 1000u)) < 0)
        log_fatal("master", "cannot start the destination leases: %s", strerror(-rc));
    for (int i = 0; i < d.nworkers; i++) {
        if (worker_init(&d.workers[i], &d, i, &err) < 0)
            log_fatal("master", "%s", err ? err : "worker set-up failed");
    }
    struct control *ctl;
    if (control_open(&ctl, &d, cfg->queue_directory, &err) < 0)
        log_fatal("master", "%s", err);
    struct metrics *metrics = NULL;
    if (*cfg->metrics_listen && metrics_open(&metrics, &d, cfg->metrics_listen, &err) < 0)
        log_fatal("master", "%s", err);

    if (drop) {
        chown_tree(cfg->queue_directory, uid, gid);
        if ((rc = log_chown(uid, gid)) < 0)
            log_warn("master", "chown maillog_file %s: %s", cfg->maillog_file, strerror(-rc));
        drop_privileges(cfg->mail_owner, uid, gid);
    }

    if ((rc = queue_start(d.queue)) < 0)
        log_fatal("master", "cannot start the queue manager: %s", strerror(-rc));
    start_mirrors(&d);
    if (auth_server_ready() && (rc = authjob_pool_new(&d.auth_pool)) < 0)
        log_fatal("master", "cannot start the SASL threads: %s", strerror(-rc));
    uint64_t watchdog_ms = notify_watchdog_ms();
    for (int i = 0; i < d.nworkers; i++) {
        if (watchdog_ms)
            worker_watchdog(&d.workers[i], watchdog_ms / 4 ? watchdog_ms / 4 : 1);
        if ((rc = worker_start(&d.workers[i])) < 0)
            log_fatal("master", "cannot start worker %d: %s", i, strerror(-rc));
    }
    if ((rc = control_start(ctl)) < 0)
        log_fatal("master", "cannot start the control thread: %s", strerror(-rc));
    if (metrics && metrics_start(metrics, &err) < 0)
        log_fatal("master", "%s", err);
    log_info("master", "daemon started -- version %s, configuration %s, %d worker%s", TERN_VERSION,
             dir, d.nworkers, d.nworkers == 1 ? "" : "s");

    notify_ready();

    /* The main thread waits for signals; under a systemd watchdog it wakes every half
     * interval and pings only when every worker's ring has stamped itself alive. */
    for (;;) {
        int sig;
        if (watchdog_ms) {
            uint64_t half = watchdog_ms / 2;
            struct timespec ts = {.tv_sec = (time_t)(half / 1000),
                                  .tv_nsec = (long)(half % 1000) * 1000000L};
            sig = sigtimedwait(&sigs, NULL, &ts);
            if (notify_workers_alive(&d, watchdog_ms))
                notify_watchdog();
            if (sig < 0)
                continue;
        } else if (sigwait(&sigs, &sig) != 0) {
            continue;
        }
        if (sig == SIGHUP) {
            notify_reloading();
            reload(&d, dir);
            notify_ready();
            continue;
        }
        break;
    }
    metrics_close(metrics);
    /* first: an answer posted to a worker's loop after it stopped would never run; the
     * connections still open at the drain finish without new ones, and their leases go too */
    redis_lease_stop(d.leases);
    drain(&d);
    /* after it no SASL outcome is posted to a worker's loop, whatever saslauthd does */
    if (pool_free(d.auth_pool, AUTH_POOL_STOP_MS) < 0)
        log_warn("master", "SASL back end still busy after %d ms: not waiting for it",
                 AUTH_POOL_STOP_MS);
    control_stop(ctl);
    queue_close(d.queue);
    for (int i = 0; i < d.nworkers; i++)
        worker_free(&d.workers[i]);
    free(d.workers);
    anvil_free(d.anvil);
    for (int i = 0; i < 2; i++)
        redis_mirror_stop(d.mirror[i]);
    redis_lease_free(d.leases);
    redis_conf_free(d.lease_conf);
    runtime_unref(d.rt);
    tlsconf_caches_close(d.tls_caches);
    log_info("master", "stopped");
    log_close();
    return 0;
}
