/*
 * hostport - "host:port" values and numeric socket addresses; see hostport.h.
 */
#include "core/base/hostport.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* parse_port - numeric 1..65535 or a TCP service name */
static int parse_port(const char *s, int *port)
{
    if (!*s)
        return -EINVAL;
    if (isdigit((unsigned char)*s)) {
        char *end;
        errno = 0;
        long n = strtol(s, &end, 10);
        if (errno || *end || n < 1 || n > 65535)
            return -EINVAL;
        *port = (int)n;
        return 0;
    }
    struct servent se, *res = NULL;
    char sbuf[1024];
    if (getservbyname_r(s, "tcp", &se, sbuf, sizeof(sbuf), &res) != 0 || !res)
        return -EINVAL;
    *port = ntohs((uint16_t)res->s_port);
    return 0;
}

/* hostport_split - see hostport.h */
int hostport_split(const char *s, int default_port, char *host, size_t hostlen, int *port)
{
    const char *h, *hend, *ps = NULL;

    if (!s || !host || !port || hostlen == 0)
        return -EINVAL;
    if (*s == '[') {
        h = s + 1;
        if (!(hend = strchr(h, ']')))
            return -EINVAL;
        if (hend[1] == ':')
            ps = hend + 2;
        else if (hend[1])
            return -EINVAL;
    } else {
        h = s;
        const char *colon = strchr(s, ':');
        if (colon && strchr(colon + 1, ':')) {
            hend = s + strlen(s); /* bare IPv6 address, no port */
        } else if (colon) {
            hend = colon;
            ps = colon + 1;
        } else {
            hend = s + strlen(s);
        }
    }
    size_t len = (size_t)(hend - h);
    if (len == 0 || len >= hostlen)
        return -EINVAL;
    for (const char *c = h; c < hend; c++)
        if (isspace((unsigned char)*c) || *c == '[' || *c == ']' || *c == ',' || *c == '/')
            return -EINVAL;
    int p = default_port;
    if (ps && parse_port(ps, &p) < 0)
        return -EINVAL;
    memcpy(host, h, len);
    host[len] = 0;
    *port = p;
    return 0;
}

/* hostport_is_numeric - see hostport.h */
bool hostport_is_numeric(const char *host)
{
    unsigned char tmp[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1;
}

/* hostport_sockaddr - see hostport.h */
int hostport_sockaddr(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        *len = sizeof(*s4);
    } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*s6);
    } else {
        return -EINVAL;
    }
    return 0;
}
