/*
 * NAME
 *	delivery_self - is a next hop's address tern itself? (mail loops)
 * SYNOPSIS
 *	#include "core/delivery/delivery_self.h"
 * DESCRIPTION
 *	See the header. The set is two small arrays (the listeners, and the
 *	local addresses a wildcard listener stands for), bounded by the
 *	number of listeners and of interface addresses (DELIVERY_SELF_LOCAL_MAX).
 *	delivery/delivery asks it for every address a lookup returns, before it
 *	connects: a next hop at one of these addresses and ports is tern, and
 *	mail sent there would come back for ever.
 */
#include "core/delivery/delivery_self.h"
#include "core/base/hostport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define DELIVERY_SELF_LOCAL_MAX 256 /* interface addresses kept for wildcard listeners */

struct delivery_self_addr {
    int family;          /* AF_INET or AF_INET6 */
    unsigned char a[16]; /* 4 or 16 octets */
    int port;            /* listeners; 0 in the local set */
    bool any;            /* a wildcard listener: every local address */
};

struct delivery_self {
    struct delivery_self_addr *lst; /* the listeners */
    size_t nlst;
    struct delivery_self_addr *local; /* interface addresses, for wildcard listeners */
    size_t nlocal;
};

/* addr_from_sockaddr - fill x from sa; false for another family */
static bool addr_from_sockaddr(struct delivery_self_addr *x, const struct sockaddr *sa)
{
    memset(x, 0, sizeof(*x));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        x->family = AF_INET;
        memcpy(x->a, &s4->sin_addr, 4);
        x->port = ntohs(s4->sin_port);
        x->any = s4->sin_addr.s_addr == htonl(INADDR_ANY);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        x->port = ntohs(s6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            x->family = AF_INET;
            memcpy(x->a, &s6->sin6_addr.s6_addr[12], 4);
            x->any = memcmp(x->a, "\0\0\0\0", 4) == 0;
        } else {
            x->family = AF_INET6;
            memcpy(x->a, &s6->sin6_addr, 16);
            x->any = IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr);
        }
        return true;
    }
    return false;
}

/* addr_parse - a numeric address ("::ffff:a.b.c.d" as IPv4); false if not numeric */
static bool addr_parse(struct delivery_self_addr *x, const char *text)
{
    struct in6_addr a6;
    memset(x, 0, sizeof(*x));
    if (inet_pton(AF_INET, text, x->a) == 1) {
        x->family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, text, &a6) != 1)
        return false;
    if (IN6_IS_ADDR_V4MAPPED(&a6)) {
        x->family = AF_INET;
        memcpy(x->a, &a6.s6_addr[12], 4);
    } else {
        x->family = AF_INET6;
        memcpy(x->a, &a6, 16);
    }
    return true;
}

/* same_addr - the same family and address */
static bool same_addr(const struct delivery_self_addr *x, const struct delivery_self_addr *y)
{
    return x->family == y->family && memcmp(x->a, y->a, x->family == AF_INET ? 4 : 16) == 0;
}

/* is_loopback - 127.0.0.0/8 or ::1 */
static bool is_loopback(const struct delivery_self_addr *x)
{
    static const unsigned char v6lo[16] = {[15] = 1};
    if (x->family == AF_INET)
        return x->a[0] == 127;
    return memcmp(x->a, v6lo, 16) == 0;
}

/* is_local - an address of this machine: loopback or an interface address */
static bool is_local(const struct delivery_self *me, const struct delivery_self_addr *x)
{
    if (is_loopback(x))
        return true;
    for (size_t i = 0; i < me->nlocal; i++)
        if (same_addr(&me->local[i], x))
            return true;
    return false;
}

/* proxy_entry - parse one proxy_interfaces item into x (port set); false if not numeric */
static bool proxy_entry(struct delivery_self_addr *x, const char *item)
{
    char host[256];
    int port;
    if (hostport_split(item, 25, host, sizeof(host), &port) < 0 || !addr_parse(x, host))
        return false;
    x->port = port;
    return true;
}

/* load_local - the interface addresses, for wildcard listeners (failure: loopback only) */
static void load_local(struct delivery_self *me)
{
    struct ifaddrs *ifa = NULL;
    if (getifaddrs(&ifa) < 0)
        return;
    size_t n = 0;
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next)
        if (i->ifa_addr && n < DELIVERY_SELF_LOCAL_MAX)
            n++;
    me->local = n ? calloc(n, sizeof(*me->local)) : NULL;
    for (struct ifaddrs *i = ifa; me->local && i && me->nlocal < n; i = i->ifa_next)
        if (i->ifa_addr && addr_from_sockaddr(&me->local[me->nlocal], i->ifa_addr))
            me->nlocal++;
    freeifaddrs(ifa);
}

/* delivery_self_check - every proxy_interfaces entry is a numeric address[:port]; -EINVAL, *err set
 */
int delivery_self_check(const struct config_list *proxy, char **err)
{
    for (size_t i = 0; proxy && i < proxy->n; i++) {
        struct delivery_self_addr x;
        if (proxy_entry(&x, proxy->item[i]))
            continue;
        if (err && asprintf(err, "proxy_interfaces: \"%s\" is not a numeric address[:port]",
                            proxy->item[i]) < 0)
            *err = NULL;
        return -EINVAL;
    }
    return 0;
}

/* delivery_self_new - the addresses of the bound listeners fds[0..nfd), and the local ones */
int delivery_self_new(struct delivery_self **out, const int *fds, size_t nfd,
                      const struct config_list *proxy, char **err)
{
    struct delivery_self *me = calloc(1, sizeof(*me));
    bool wildcard = false;

    *out = NULL;
    if (!me || (nfd && !(me->lst = calloc(nfd, sizeof(*me->lst))))) {
        free(me);
        return -ENOMEM;
    }
    int rc = delivery_self_check(proxy, err);
    if (rc < 0) {
        delivery_self_free(me);
        return rc;
    }
    for (size_t i = 0; i < nfd; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getsockname(fds[i], (struct sockaddr *)&ss, &sl) < 0 ||
            !addr_from_sockaddr(&me->lst[me->nlst], (struct sockaddr *)&ss))
            continue;
        wildcard |= me->lst[me->nlst].any;
        me->nlst++;
    }
    if (wildcard)
        load_local(me);
    *out = me;
    return 0;
}

/* delivery_self_is_me - does a connection to addr:port reach tern (a listener or proxy_interfaces)?
 */
bool delivery_self_is_me(const struct delivery_self *me, const struct config_list *proxy,
                         const char *addr, int port)
{
    struct delivery_self_addr x;
    if (!addr_parse(&x, addr))
        return false;
    for (size_t i = 0; me && i < me->nlst; i++) {
        const struct delivery_self_addr *l = &me->lst[i];
        if (l->port != port)
            continue;
        if (l->any ? (l->family == AF_INET6 || x.family == AF_INET) && is_local(me, &x)
                   : same_addr(l, &x))
            return true;
    }
    for (size_t i = 0; proxy && i < proxy->n; i++) {
        struct delivery_self_addr p;
        if (proxy_entry(&p, proxy->item[i]) && p.port == port && same_addr(&p, &x))
            return true;
    }
    return false;
}

/* delivery_self_free - release the set */
void delivery_self_free(struct delivery_self *me)
{
    if (!me)
        return;
    free(me->lst);
    free(me->local);
    free(me);
}
