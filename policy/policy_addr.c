/*
 * NAME
 *	policy_addr - RFC 5321 paths: parse, normalise, classify
 * SYNOPSIS
 *	#include "policy/policy_addr.h"
 *
 *	int policy_addr_parse(const char *text, bool lenient, struct policy_addr *out);
 *	int policy_addr_format(const char *local, const char *domain, char *out, size_t outlen);
 * DESCRIPTION
 *	policy_addr_parse() reads one Reverse-path or Forward-path:
 *
 *	  Path       = "<" [ A-d-l ":" ] Mailbox ">"
 *	  A-d-l      = "@" Domain *( "," "@" Domain )
 *	  Mailbox    = Local-part [ "@" ( Domain / address-literal ) ]
 *	  Local-part = Dot-string / Quoted-string
 *
 *	The domain part is optional (RCPT TO:<postmaster>, or a quoted local part
 *	that holds the routing itself, <"u@ext">). Blanks before the path are
 *	skipped; after the path must come the end of the text or a blank (the
 *	ESMTP parameters, which start at text + consumed).
 *
 *	Dots in an unquoted local part are accepted anywhere ("a..b", "a."), as
 *	Postfix does: real mail systems send them. An unquoted '@' in the local
 *	part (<u@ext@relay>) is a syntax error, not a guess.
 *
 *	`addr` is built with policy_addr_format(): the local part is re-quoted
 *	only when it needs quotes, so that nobody who re-parses `addr` later can
 *	read <"u@ext"> as u at ext.
 *
 *	policy_addr_format() renders local part and domain for the wire or a
 *	log line, quoting the local part when it is not a valid Dot-string.
 * DIAGNOSTICS
 *	parse: 0, -EINVAL (syntax), -E2BIG (local part > 64 octets as written or
 *	as addr writes it, domain > 255 octets). format: the length written, or
 *	-ENOSPC.
 */
#include "policy/policy_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#define LOCAL_MAX 64   /* RFC 5321 4.5.3.1.1: octets as written, and as addr writes them */
#define DOMAIN_MAX 255 /* RFC 5321 4.5.3.1.2 */

/* is_atext - RFC 5322 atext, plus UTF-8 octets (RFC 6531) */
static bool is_atext(unsigned char c)
{
    if (c >= 0x80)
        return true;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* is_domain_char - letters, digits, hyphen, underscore (seen in practice), UTF-8 */
static bool is_domain_char(unsigned char c)
{
    return c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* utf8_valid - true when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates) */
static bool utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + n >= len)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

/* parse_domain - Domain / address-literal at s; lowercases names into dom. -EINVAL, -E2BIG */
static int parse_domain(const char *s, size_t *used, char *dom, size_t domlen)
{
    const char *p = s;
    size_t n = 0;

    if (*p == '[') {
        /* address-literal: [dotted quad], [IPv6:...], [tag:content]; kept as written */
        const char *end = p + 1;
        while (*end && *end != ']') {
            unsigned char c = (unsigned char)*end;
            if (c < 33 || c > 126 || c == '[' || c == '\\')
                return -EINVAL;
            end++;
        }
        if (*end != ']' || end == p + 1)
            return -EINVAL;
        n = (size_t)(end - p) + 1;
        if (n > DOMAIN_MAX)
            return -E2BIG;
        char inner[DOMAIN_MAX + 1];
        memcpy(inner, p + 1, n - 2);
        inner[n - 2] = 0;
        unsigned char bin[16];
        if (strncasecmp(inner, "IPv6:", 5) == 0) {
            if (inet_pton(AF_INET6, inner + 5, bin) != 1)
                return -EINVAL;
        } else if (strchr(inner, ':') == NULL) {
            if (inet_pton(AF_INET, inner, bin) != 1)
                return -EINVAL;
        } else {
            /* General-address-literal: Standardized-tag ":" dcontent */
            const char *colon = strchr(inner, ':');
            if (colon == inner || colon[1] == 0)
                return -EINVAL;
            for (const char *t = inner; t < colon; t++)
                if (!is_domain_char((unsigned char)*t) || (unsigned char)*t >= 0x80)
                    return -EINVAL;
        }
        if (n >= domlen)
            return -E2BIG;
        memcpy(dom, p, n);
        dom[n] = 0;
        *used = n;
        return 0;
    }

    /* sub-domain *("." sub-domain), one trailing dot tolerated and dropped */
    bool label_start = true;
    while (*p) {
        unsigned char c = (unsigned char)*p;
        if (c == '.') {
            if (label_start)
                return -EINVAL;
            label_start = true;
        } else if (is_domain_char(c)) {
            label_start = false;
        } else {
            break;
        }
        p++;
    }
    size_t len = (size_t)(p - s);
    if (len == 0)
        return -EINVAL;
    if (len == 1 && s[0] == '.')
        return -EINVAL;
    size_t keep = (s[len - 1] == '.') ? len - 1 : len;
    if (keep > DOMAIN_MAX || keep >= domlen)
        return -E2BIG;
    for (size_t i = 0; i < keep; i++) {
        char c = s[i];
        dom[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    dom[keep] = 0;
    *used = len;
    return 0;
}

/* parse_local - Dot-string or Quoted-string at s, unquoted into local. -EINVAL, -E2BIG */
static int parse_local(const char *s, size_t *used, char *local, size_t locallen, bool *quoted)
{
    const char *p = s;
    size_t n = 0;

    if (*p == '"') {
        *quoted = true;
        p++;
        for (;;) {
            unsigned char c = (unsigned char)*p;
            if (c == 0)
                return -EINVAL; /* unbalanced quote */
            if (c == '"')
                break;
            if (c == '\\') {
                unsigned char e = (unsigned char)p[1];
                if (e < 32 || e == 127)
                    return -EINVAL; /* quoted-pairSMTP: %d92 %d32-126 */
                c = e;
                p++;
            } else if (c < 32 || c == 127) {
                return -EINVAL;
            }
            if (n + 1 >= locallen)
                return -E2BIG;
            local[n++] = (char)c;
            p++;
        }
        p++; /* closing quote */
    } else {
        *quoted = false;
        while (*p && (is_atext((unsigned char)*p) || *p == '.')) {
            if (n + 1 >= locallen)
                return -E2BIG;
            local[n++] = *p++;
        }
    }
    local[n] = 0;
    if (n == 0)
        return -EINVAL;
    if ((size_t)(p - s) > LOCAL_MAX)
        return -E2BIG;
    *used = (size_t)(p - s);
    return 0;
}

/* parse_route - skip an A-d-l ("@a,@b:") at s; sets *used to 0 when there is none */
static int parse_route(const char *s, size_t *used)
{
    const char *p = s;
    char dom[DOMAIN_MAX + 1];
    size_t n;

    *used = 0;
    if (*p != '@')
        return 0;
    for (;;) {
        if (*p != '@')
            return -EINVAL;
        int rc = parse_domain(p + 1, &n, dom, sizeof(dom));
        if (rc < 0)
            return rc;
        p += 1 + n;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p != ':')
            return -EINVAL;
        p++;
        break;
    }
    *used = (size_t)(p - s);
    return 0;
}

/* policy_addr_parse - parse a MAIL FROM / RCPT TO path, see the module comment */
int policy_addr_parse(const char *text, bool lenient, struct policy_addr *out)
{
    const char *p = text;
    size_t n;
    int rc;

    memset(out, 0, sizeof(*out));
    if (text == NULL)
        return -EINVAL;
    while (*p == ' ' || *p == '\t')
        p++;

    bool bracket = (*p == '<');
    if (bracket)
        p++;
    else if (!lenient)
        return -EINVAL;

    if (bracket && *p == '>') {
        out->null_path = true;
        p++;
        goto done;
    }

    rc = parse_route(p, &n);
    if (rc < 0)
        return rc;
    if (n > 0) {
        out->routed = true;
        p += n;
    }

    rc = parse_local(p, &n, out->local, sizeof(out->local), &out->quoted);
    if (rc < 0)
        return rc;
    p += n;

    if (*p == '@') {
        p++;
        rc = parse_domain(p, &n, out->domain, sizeof(out->domain));
        if (rc < 0)
            return rc;
        p += n;
    }

    if (bracket) {
        if (*p != '>')
            return -EINVAL;
        p++;
    }

    /* A routing operator inside the local part: u%ext@relay, u!ext@relay, "u@ext". */
    if (strpbrk(out->local, "@%!") != NULL)
        out->routed = true;

    if (!utf8_valid((const unsigned char *)out->local, strlen(out->local)) ||
        !utf8_valid((const unsigned char *)out->domain, strlen(out->domain)))
        return -EINVAL;
    for (const char *q = out->local; *q; q++)
        if ((unsigned char)*q >= 0x80)
            out->utf8 = true;
    for (const char *q = out->domain; *q; q++)
        if ((unsigned char)*q >= 0x80)
            out->utf8 = true;

    rc = policy_addr_format(out->local, out->domain, out->addr, sizeof(out->addr));
    if (rc < 0)
        return -E2BIG;
    /* The limit holds for addr too, which may quote what came unquoted (".a" -> "\".a\""):
     * otherwise addr would be too long to parse again, here or at the next hop. */
    if ((size_t)rc - (out->domain[0] ? strlen(out->domain) + 1 : 0) > LOCAL_MAX)
        return -E2BIG;

done:
    /* After the path: end of text or a blank before ESMTP parameters. */
    if (*p != 0 && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
        return -EINVAL;
    out->consumed = (size_t)(p - text);
    if (out->null_path)
        out->addr[0] = 0;
    return 0;
}

/* local_needs_quotes - true unless `local` is a valid Dot-string */
static bool local_needs_quotes(const char *local)
{
    bool dot_ok = false; /* a dot is allowed only after an atext */
    if (*local == 0)
        return true;
    for (const char *p = local; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '.') {
            if (!dot_ok)
                return true;
            dot_ok = false;
        } else if (is_atext(c)) {
            dot_ok = true;
        } else {
            return true;
        }
    }
    return !dot_ok; /* trailing dot */
}

/* policy_addr_format - render local@domain for the wire, quoting the local part if needed */
int policy_addr_format(const char *local, const char *domain, char *out, size_t outlen)
{
    size_t n = 0;

#define PUT(ch)                                                                                    \
    do {                                                                                           \
        if (n + 1 >= outlen)                                                                       \
            goto nospace;                                                                          \
        out[n++] = (ch);                                                                           \
    } while (0)

    if (outlen == 0)
        return -ENOSPC;
    if (local_needs_quotes(local)) {
        PUT('"');
        for (const char *p = local; *p; p++) {
            if (*p == '"' || *p == '\\')
                PUT('\\');
            PUT(*p);
        }
        PUT('"');
    } else {
        for (const char *p = local; *p; p++)
            PUT(*p);
    }
    if (domain && *domain) {
        PUT('@');
        for (const char *p = domain; *p; p++)
            PUT(*p);
    }
    out[n] = 0;
    return (int)n;
#undef PUT

nospace:
    out[0] = 0;
    return -ENOSPC;
}
