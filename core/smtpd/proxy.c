/*
 * proxy - the PROXY protocol header; see smtpd/proxy.h.
 *
 * The format is HAProxy's "The PROXY protocol" (versions 1 and 2). Every
 * test reads only octets below len; the v2 length is checked against
 * PROXY_MAX before anything past the fixed part is read.
 */
#include "core/smtpd/proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const unsigned char v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                         0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const char v1_sig[] = "PROXY ";

#define V2_FIXED 16
#define V2_CMD_LOCAL 0x0
#define V2_CMD_PROXY 0x1
#define V2_AF_UNSPEC 0x0
#define V2_AF_INET 0x1
#define V2_AF_INET6 0x2
#define V2_AF_UNIX 0x3
#define V2_STREAM 0x1
#define V2_DGRAM 0x2
#define V2_TLV_CRC32C 0x03

/* bad - say why, refuse */
static long bad(const char **why, const char *what)
{
    *why = what;
    return -EBADMSG;
}

/* v1_port - a decimal port 0-65535 without leading zeros; -1 if not one */
static int v1_port(const char *s, size_t n)
{
    if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= 65535 ? v : -1;
}

/* set_addr - the numeric text of a binary address; an IPv4-mapped IPv6 one as IPv4, so that
 * mynetworks and the logs see the client as it is */
static void set_addr(char *out, size_t outlen, int family, const unsigned char *a)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (family == AF_INET6 && memcmp(a, mapped, sizeof(mapped)) == 0) {
        family = AF_INET;
        a += sizeof(mapped);
    }
    if (!inet_ntop(family, a, out, (socklen_t)outlen))
        snprintf(out, outlen, "unknown");
}

/* v1_addr - one address of the family named; false if not one */
static bool v1_addr(const char *s, size_t n, int family, char *out, size_t outlen)
{
    char tmp[INET6_ADDRSTRLEN];
    unsigned char bin[16];
    if (n == 0 || n >= sizeof(tmp))
        return false;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    if (inet_pton(family, tmp, bin) != 1)
        return false;
    set_addr(out, outlen, family, bin);
    return true;
}

/* v1_parse - "PROXY TCP4 src dst sport dport\r\n" or "PROXY UNKNOWN ...\r\n" */
static long v1_parse(const char *p, size_t len, struct proxy_header *h, const char **why)
{
    size_t n = len < PROXY_V1_MAX ? len : PROXY_V1_MAX, end = 0;
    for (; end < n && p[end] != '\r'; end++)
        if (p[end] == '\n')
            return bad(why, "v1 line ends without CR");
        else if ((unsigned char)p[end] < 0x20 || (unsigned char)p[end] > 0x7e)
            return bad(why, "v1 line holds a control or non-ASCII octet");
    if (end == n || end + 2 > PROXY_V1_MAX) { /* no CR within what came, or too late */
        if (len < PROXY_V1_MAX && end == n)
            return 0;
        *why = "v1 line too long";
        return -EMSGSIZE;
    }
    if (end + 1 == len) /* the CR is the last octet so far */
        return 0;
    if (p[end + 1] != '\n')
        return bad(why, "v1 line ends without CR LF");
    h->version = 1;
    const char *f[6];
    size_t flen[6], nf = 0;
    for (size_t i = 0; i <= end && nf < 6;) {
        size_t j = i;
        while (j < end && p[j] != ' ')
            j++;
        f[nf] = p + i;
        flen[nf++] = j - i;
        i = j + 1;
        if (nf == 2 && flen[1] == 7 && memcmp(f[1], "UNKNOWN", 7) == 0) {
            h->local = true; /* the rest of the line says nothing tern may use */
            return (long)end + 2;
        }
    }
    int family;
    if (nf >= 2 && flen[1] == 4 && memcmp(f[1], "TCP4", 4) == 0)
        family = AF_INET;
    else if (nf >= 2 && flen[1] == 4 && memcmp(f[1], "TCP6", 4) == 0)
        family = AF_INET6;
    else
        return bad(why, "v1 protocol is not TCP4, TCP6 or UNKNOWN");
    if (nf != 6 || f[5] + flen[5] != p + end)
        return bad(why, "v1 line is not PROXY, protocol, two addresses and two ports");
    if (!v1_addr(f[2], flen[2], family, h->src, sizeof(h->src)) ||
        !v1_addr(f[3], flen[3], family, h->dst, sizeof(h->dst)))
        return bad(why, "bad v1 address");
    h->sport = v1_port(f[4], flen[4]);
    h->dport = v1_port(f[5], flen[5]);
    if (h->sport < 0 || h->dport < 0)
        return bad(why, "bad v1 port");
    h->local = false;
    return (long)end + 2;
}

/* crc32c - CRC-32C (Castagnoli, reflected 0x82F63B78) of n octets, bit by bit: one header per
 * connection needs no table */
static uint32_t crc32c(uint32_t crc, const unsigned char *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
    }
    return ~crc;
}

/* v2_tlvs - walk the TLVs from off to total: each must fit; a CRC32C must match */
static long v2_tlvs(const unsigned char *p, size_t off, size_t total, const char **why)
{
    while (off < total) {
        if (total - off < 3)
            return bad(why, "v2 TLV header cut short");
        size_t vlen = (size_t)p[off + 1] << 8 | p[off + 2];
        if (vlen > total - off - 3)
            return bad(why, "v2 TLV longer than the header");
        if (p[off] == V2_TLV_CRC32C) {
            if (vlen != 4)
                return bad(why, "v2 CRC32C TLV is not 4 octets");
            uint32_t want = (uint32_t)p[off + 3] << 24 | (uint32_t)p[off + 4] << 16 |
                            (uint32_t)p[off + 5] << 8 | p[off + 6];
            static const unsigned char zero[4];
            uint32_t crc = crc32c(0, p, off + 3);
            crc = crc32c(crc, zero, 4);
            crc = crc32c(crc, p + off + 7, total - off - 7);
            if (crc != want)
                return bad(why, "v2 CRC32C does not match");
        }
        off += 3 + vlen;
    }
    return 0;
}

/* v2_parse - the binary header */
static long v2_parse(const unsigned char *p, size_t len, struct proxy_header *h, const char **why)
{
    if (len < V2_FIXED)
        return 0;
    if (p[12] >> 4 != 2)
        return bad(why, "v2 version is not 2");
    int cmd = p[12] & 0xf;
    if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY)
        return bad(why, "v2 command is not LOCAL or PROXY");
    size_t total = V2_FIXED + ((size_t)p[14] << 8 | p[15]);
    if (total > PROXY_MAX) {
        *why = "v2 header too long";
        return -EMSGSIZE;
    }
    int fam = p[13] >> 4, proto = p[13] & 0xf;
    size_t need = fam == V2_AF_INET ? 12 : fam == V2_AF_INET6 ? 36 : fam == V2_AF_UNIX ? 216 : 0;
    if (fam > V2_AF_UNIX || proto > V2_DGRAM)
        return bad(why, "v2 family or transport unknown");
    if (cmd == V2_CMD_PROXY && total - V2_FIXED < need)
        return bad(why, "v2 length too short for the family");
    if (len < total)
        return 0;
    h->version = 2;
    h->local = cmd == V2_CMD_LOCAL || fam == V2_AF_UNSPEC || fam == V2_AF_UNIX;
    if (cmd == V2_CMD_LOCAL) /* the family and what follows are the proxy's business */
        return (long)total;
    if (!h->local && proto != V2_STREAM)
        return bad(why, "v2 transport is not a stream");
    long rc = v2_tlvs(p, V2_FIXED + need, total, why);
    if (rc < 0)
        return rc;
    if (fam == V2_AF_INET || fam == V2_AF_INET6) {
        int af = fam == V2_AF_INET ? AF_INET : AF_INET6;
        size_t alen = fam == V2_AF_INET ? 4 : 16;
        const unsigned char *a = p + V2_FIXED;
        set_addr(h->src, sizeof(h->src), af, a);
        set_addr(h->dst, sizeof(h->dst), af, a + alen);
        h->sport = a[2 * alen] << 8 | a[2 * alen + 1];
        h->dport = a[2 * alen + 2] << 8 | a[2 * alen + 3];
    }
    return (long)total;
}

long proxy_parse(const void *buf, size_t len, struct proxy_header *h, const char **why)
{
    const unsigned char *p = buf;
    memset(h, 0, sizeof(*h));
    *why = "";
    size_t n1 = len < sizeof(v1_sig) - 1 ? len : sizeof(v1_sig) - 1;
    size_t n2 = len < sizeof(v2_sig) ? len : sizeof(v2_sig);
    if (memcmp(p, v1_sig, n1) == 0)
        return len < sizeof(v1_sig) - 1 ? 0 : v1_parse(buf, len, h, why);
    if (memcmp(p, v2_sig, n2) == 0)
        return v2_parse(p, len, h, why);
    return bad(why, "not a PROXY header");
}
