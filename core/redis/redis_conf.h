/*
 * NAME
 *	redis_conf - the file a redis:FILE table names (Postfix-style "name = value")
 * SYNOPSIS
 *	#include "core/redis/redis_conf.h"
 *
 *	struct redis_conf *rc;
 *	char *err;
 *	if (redis_conf_load(&rc, "/etc/tern/redis.cf", "/var/spool/tern/tls-near", &err) < 0) ...
 *	redis_conf_free(rc);
 * DESCRIPTION
 *	smtpd_tls_session_cache_database = redis:/etc/tern/redis.cf (and the
 *	smtp_ one) puts a node's TLS state in Redis, shared by every node that
 *	names the same server and prefix. The file says:
 *
 *	  hosts = 127.0.0.1:6379     the server, host:port (port 6379 by
 *	                             default); several: tried in order at
 *	                             each connect
 *	  dbid = 0                   the database (SELECT)
 *	  user =                     ACL user name (Redis 6+); empty: none
 *	  password =                 AUTH password; empty: no AUTH
 *	  timeout = 250ms            connect and each command (ms or s)
 *	  prefix = tern:             what every key and channel begins with
 *	  cache_file = PATH          the node's own near cache (an LMDB file,
 *	                             PATH.lmdb), read on every handshake;
 *	                             default: the caller's (none for leases)
 *	  tls = no                   yes is refused: Debian 12's libhiredis
 *	                             (0.14) cannot speak TLS; reach Redis on
 *	                             loopback or through a tunnel
 *
 *	Blank lines and lines starting with # are skipped. A name not listed,
 *	a bad value, a file that cannot be read: -EINVAL (-errno for the read)
 *	with *err saying which line and why, so that start-up stops.
 */
#ifndef TERN_REDIS_CONF_H
#define TERN_REDIS_CONF_H

#define REDIS_CONF_HOSTS_MAX 8

struct redis_conf {
    char *path; /* the file, for log lines */
    int nhosts;
    char *host[REDIS_CONF_HOSTS_MAX];
    int port[REDIS_CONF_HOSTS_MAX];
    int dbid;
    char *user, *password; /* NULL: none */
    unsigned timeout_ms;
    char *prefix;
    char *cache_file; /* the near cache, without ".lmdb" */
};

/* redis_conf_load - read path; default_cache is cache_file when the file names none */
int redis_conf_load(struct redis_conf **out, const char *path, const char *default_cache,
                    char **err);
/* redis_conf_table - parameter name's value: empty (none: *out NULL) or redis:FILE, loaded */
int redis_conf_table(struct redis_conf **out, const char *name, const char *value, char **err);
void redis_conf_free(struct redis_conf *rc);

#endif
