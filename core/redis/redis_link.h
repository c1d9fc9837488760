/*
 * NAME
 *	redis_link - one blocking connection to the Redis of a redis_conf
 * SYNOPSIS
 *	#include "core/redis/redis_link.h"
 *
 *	char why[256];
 *	redisContext *c = redis_link_open(conf, why, sizeof(why));
 *	redisReply *r = redis_link_command(c, "PING");   // NULL: the link is broken
 *	redisFree(c);
 * DESCRIPTION
 *	For the threads that talk to Redis on behalf of a node (never a worker:
 *	Redis is not on a message's path). redis_link_open() tries each of
 *	conf->hosts in order with conf->timeout_ms to connect, sets the same
 *	bound on every later read and write, and sends AUTH (user and password)
 *	and SELECT when the file asks for them. NULL with why filled when no
 *	host could be used.
 *
 *	redis_link_command() runs one command (printf-like, hiredis's %s and %b)
 *	and returns its reply; an error reply is a reply (REDIS_REPLY_ERROR),
 *	NULL means the connection is broken (timeout, reset) and must be freed.
 */
#ifndef TERN_REDIS_LINK_H
#define TERN_REDIS_LINK_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "core/redis/redis_conf.h"

redisContext *redis_link_open(const struct redis_conf *conf, char *why, size_t whylen);
redisReply *redis_link_command(redisContext *c, const char *fmt, ...);

#endif
