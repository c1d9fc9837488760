/*
 * bench_util - parsing and output helpers of tern-bench; see bench_util.h.
 */
#include "bench/bench_util.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* bench_parse_hostport - "host:port" or "[addr]:port" to a socket address */
int bench_parse_hostport(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[256];
    const char *port;
    size_t hl;

    if (!text || !*text)
        return -EINVAL;
    if (text[0] == '[') {
        const char *end = strchr(text, ']');
        if (!end || end[1] != ':')
            return -EINVAL;
        hl = (size_t)(end - text - 1);
        if (hl >= sizeof(host))
            return -EINVAL;
        memcpy(host, text + 1, hl);
        port = end + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon)
            return -EINVAL;
        hl = (size_t)(colon - text);
        if (hl >= sizeof(host))
            return -EINVAL;
        memcpy(host, text, hl);
        port = colon + 1;
    }
    host[hl] = 0;
    if (!*port || strspn(port, "0123456789") != strlen(port))
        return -EINVAL;

    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    if (getaddrinfo(hl ? host : NULL, port, &hints, &res) != 0 || !res)
        return -EINVAL;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* bench_parse_size - "512", "4k", "1m", "2g" */
int bench_parse_size(const char *text, size_t *out)
{
    char *end;
    if (!text || !*text || *text == '-')
        return -EINVAL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text)
        return -EINVAL;
    unsigned long long mult = 1;
    switch (*end) {
    case 0:
        break;
    case 'k':
    case 'K':
        mult = 1024;
        end++;
        break;
    case 'm':
    case 'M':
        mult = 1024 * 1024;
        end++;
        break;
    case 'g':
    case 'G':
        mult = 1024ull * 1024 * 1024;
        end++;
        break;
    default:
        return -EINVAL;
    }
    if (*end == 'b' || *end == 'B')
        end++;
    if (*end || v > SIZE_MAX / mult)
        return -EINVAL;
    *out = (size_t)(v * mult);
    return 0;
}

/* gcd - greatest common divisor */
static unsigned gcd(unsigned a, unsigned b)
{
    while (b) {
        unsigned t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* bench_parse_mix - "1k:50,10k:30,1m:20"; a size without weight weighs 1 */
int bench_parse_mix(const char *text, struct bench_mix *m)
{
    char *copy, *save = NULL, *tok;
    int rc = 0;

    memset(m, 0, sizeof(*m));
    if (!text || !(copy = strdup(text)))
        return text ? -ENOMEM : -EINVAL;
    for (tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        char *colon = strchr(tok, ':');
        unsigned long w = 1;
        if (colon) {
            char *end;
            *colon = 0;
            errno = 0;
            w = strtoul(colon + 1, &end, 10);
            if (errno || end == colon + 1 || *end || w == 0 || w > 1000000) {
                rc = -EINVAL;
                goto fail;
            }
        }
        if (m->n == BENCH_MIX_MAX || (rc = bench_parse_size(tok, &m->size[m->n])) < 0) {
            rc = rc < 0 ? rc : -EINVAL;
            goto fail;
        }
        m->weight[m->n++] = (unsigned)w;
        m->total += (unsigned)w;
    }
    if (m->n == 0) {
        rc = -EINVAL;
        goto fail;
    }
    /* a stride near the golden ratio of total, coprime with it: i -> i*stride % total is a
     * permutation */
    m->stride = (unsigned)((double)m->total * 0.618) | 1u;
    while (m->total > 1 && gcd(m->stride, m->total) != 1)
        m->stride++;
fail:
    free(copy);
    return rc;
}

/* bench_mix_pick - the size of message number index */
size_t bench_mix_pick(const struct bench_mix *m, uint64_t index)
{
    unsigned slot = (unsigned)((index % m->total) * m->stride % m->total);
    for (unsigned i = 0; i < m->n; i++) {
        if (slot < m->weight[i])
            return m->size[i];
        slot -= m->weight[i];
    }
    return m->size[m->n - 1];
}

/* bench_body_make - headers and 76-character filler lines, exactly size bytes */
int bench_body_make(struct buf *out, size_t size, const char *from)
{
    struct buf b = BUF_INIT;
    int rc;

    if ((rc = buf_printf(&b,
                         "From: <%s>\r\nTo: <bench@sink.test>\r\nSubject: tern-bench %zu bytes\r\n"
                         "Message-ID: <bench.%zu@tern-bench>\r\n\r\n",
                         from, size, size)) < 0)
        goto fail;
    if (buf_used(&b) + 3 > size) {
        /* too small for headers: a bare body line */
        buf_reset(&b);
    }
    static const char fill[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopq";
    while (buf_used(&b) < size) {
        size_t left = size - buf_used(&b);
        if (left == 1) { /* only for sizes too small for one line */
            rc = buf_append(&b, "x", 1);
        } else {
            size_t n = left > 78 ? 76 : left - 2;
            if (left - (n + 2) == 1)
                n--; /* never leave a single byte: the last line is at least CRLF */
            if ((rc = buf_append(&b, fill, n)) == 0)
                rc = buf_append(&b, "\r\n", 2);
        }
        if (rc < 0)
            goto fail;
    }
    rc = buf_append(out, buf_ptr(&b), buf_used(&b));
fail:
    buf_free(&b);
    return rc;
}

/* bench_json_str - JSON string literal with escapes */
int bench_json_str(struct buf *out, const char *text)
{
    int rc = buf_puts(out, "\"");
    for (const unsigned char *p = (const unsigned char *)(text ? text : ""); rc == 0 && *p; p++) {
        if (*p == '"' || *p == '\\')
            rc = buf_printf(out, "\\%c", *p);
        else if (*p < 0x20)
            rc = buf_printf(out, "\\u%04x", *p);
        else
            rc = buf_append(out, p, 1);
    }
    return rc ? rc : buf_puts(out, "\"");
}

/* bench_write_atomic - write PATH.tmp, then rename over PATH */
int bench_write_atomic(const char *path, const struct buf *b)
{
    char tmp[4096];
    int fd, rc = 0;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
        return -errno;
    const char *p = buf_ptr(b);
    size_t left = buf_used(b);
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        p += n;
        left -= (size_t)n;
    }
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0)
        unlink(tmp);
    return rc;
}

/* bench_now_us - monotonic microseconds */
uint64_t bench_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
