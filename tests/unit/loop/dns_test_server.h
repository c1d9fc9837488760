/*
 * dns_test_server - what the DNS unit tests (test_dns: dnsmasq, test_dnssec: NSD) need to
 * start a real server on loopback: a free UDP port, and "does it answer yet?"
 */
#ifndef TERN_TESTS_DNS_TEST_SERVER_H
#define TERN_TESTS_DNS_TEST_SERVER_H

#include <arpa/inet.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* dns_test_free_port - a UDP port on 127.0.0.1 nobody uses right now, -1 after 50 tries */
static inline int dns_test_free_port(void)
{
    for (int tries = 0; tries < 50; tries++) {
        int port = 20000 + (int)(random() % 40000);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
        close(fd);
        if (ok)
            return port;
    }
    return -1;
}

/* dns_test_answers - does the server on the port answer query q (id 0x1234) within 200 ms,
 * with rcode 0 when rcode0? */
static inline int dns_test_answers(int port, const unsigned char *q, size_t n, int rcode0)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    unsigned char buf[512];
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int ok = 0;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (sendto(fd, q, n, 0, (struct sockaddr *)&sa, sizeof(sa)) == (ssize_t)n &&
        poll(&pfd, 1, 200) == 1 && recv(fd, buf, sizeof(buf), 0) > 3)
        ok = buf[0] == 0x12 && buf[1] == 0x34 && (!rcode0 || (buf[3] & 15) == 0);
    close(fd);
    return ok;
}

#endif
