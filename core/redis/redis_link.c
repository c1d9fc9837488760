/*
 * redis_link - one blocking connection to Redis; see redis/redis_link.h.
 */
#include "core/redis/redis_link.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

/* handshake - AUTH and SELECT as the file asks; false with why on a refusal */
static bool handshake(redisContext *c, const struct redis_conf *conf, char *why, size_t whylen)
{
    redisReply *r = NULL;
    if (conf->password) {
        r = conf->user ? redisCommand(c, "AUTH %s %s", conf->user, conf->password)
                       : redisCommand(c, "AUTH %s", conf->password);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            snprintf(why, whylen, "AUTH: %s", r ? r->str : c->errstr);
            goto fail;
        }
        freeReplyObject(r);
    }
    if (conf->dbid) {
        r = redisCommand(c, "SELECT %d", conf->dbid);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            snprintf(why, whylen, "SELECT %d: %s", conf->dbid, r ? r->str : c->errstr);
            goto fail;
        }
        freeReplyObject(r);
    }
    return true;
fail:
    if (r)
        freeReplyObject(r);
    return false;
}

redisContext *redis_link_open(const struct redis_conf *conf, char *why, size_t whylen)
{
    struct timeval tv = {conf->timeout_ms / 1000, (conf->timeout_ms % 1000) * 1000};
    snprintf(why, whylen, "no host");
    for (int i = 0; i < conf->nhosts; i++) {
        redisContext *c = redisConnectWithTimeout(conf->host[i], conf->port[i], tv);
        if (c && !c->err && redisSetTimeout(c, tv) == REDIS_OK && handshake(c, conf, why, whylen))
            return c;
        if (!c)
            snprintf(why, whylen, "%s:%d: out of memory", conf->host[i], conf->port[i]);
        else if (c->err)
            snprintf(why, whylen, "%s:%d: %s", conf->host[i], conf->port[i], c->errstr);
        if (c)
            redisFree(c);
    }
    return NULL;
}

redisReply *redis_link_command(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    return r;
}
