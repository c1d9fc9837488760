/*
 * NAME
 *	tls_cipher - Postfix's cipher grades and exclusions as explicit wolfSSL suite lists
 * DESCRIPTION
 *	See tls_cipher.h. One table (suites[]) names every suite tern may
 *	offer, best first, with its OpenSSL properties; which of them this
 *	wolfSSL build has is found once per process (wolfSSL_get_ciphers).
 *
 *	Preference: the table's order (OpenSSL's), except that where this
 *	wolfSSL does AES in software (built without AES-NI or ARMv8 crypto, as
 *	Debian's is) ChaCha20-Poly1305 goes before the AEAD suites of its
 *	group, as BoringSSL orders for CPUs without AES instructions: here
 *	AES-256-GCM runs at 151 MB/s against ChaCha20-Poly1305's 467 MB/s
 *	(bench/RESULTS.md, issue 13), and TLS is a fifth of the relay's CPU.
 *	wolfSSL servers choose by their own order, so both legs follow it.
 *	Bounded: the table is fixed; an exclusion list is walked word by word
 *	and each word is matched against the table (no allocation).
 */
#include "tls/tls_cipher.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tls/tls_ctx.h"
#include "tls/tls_internal.h"

/* properties of a table suite (OpenSSL's cipher-string vocabulary) */
enum {
    P_TLS13 = 1u << 0,  /* a TLS 1.3 suite */
    P_TLS12 = 1u << 1,  /* a TLS 1.2 suite that needs TLS 1.2 (AEAD or an HMAC-SHA-2) */
    P_CBC = 1u << 2,    /* CBC with an HMAC; otherwise AEAD */
    P_KECDHE = 1u << 3, /* ephemeral ECDH key exchange */
    P_KDHE = 1u << 4,   /* ephemeral finite-field DH key exchange */
    P_ARSA = 1u << 5,   /* RSA certificate */
    P_AECDSA = 1u << 6, /* ECDSA certificate */
    P_AES128 = 1u << 7,
    P_AES256 = 1u << 8,
    P_AESGCM = 1u << 9,
    P_AESCCM = 1u << 10,
    P_CHACHA20 = 1u << 11,
    P_CAMELLIA128 = 1u << 12,
    P_CAMELLIA256 = 1u << 13,
    P_SHA1 = 1u << 14, /* the HMAC of a CBC suite */
    P_SHA256 = 1u << 15,
    P_SHA384 = 1u << 16,
    P_NONE = 1u << 31, /* a property no table suite has: matches nothing */
};

/* shorthands for the table */
#define E_ECDSA (P_KECDHE | P_AECDSA)
#define E_RSA (P_KECDHE | P_ARSA)
#define D_RSA (P_KDHE | P_ARSA)
#define GCM128 (P_TLS12 | P_AES128 | P_AESGCM)
#define GCM256 (P_TLS12 | P_AES256 | P_AESGCM)
#define CHACHA (P_TLS12 | P_CHACHA20)
#define CBC(enc, mac) (P_CBC | (enc) | (mac) | ((mac) == P_SHA1 ? 0 : P_TLS12))

static const struct suite {
    uint16_t code;    /* IANA code point */
    const char *name; /* wolfSSL's name, which is OpenSSL's for TLS 1.2 */
    const char *iana; /* IANA's name, which is OpenSSL's for TLS 1.3 */
    uint32_t props;
} suites[] = {
    /* TLS 1.3: OpenSSL's default order, then CCM (not CCM_8: a 64-bit tag) */
    {0x1302, "TLS13-AES256-GCM-SHA384", "TLS_AES_256_GCM_SHA384", P_TLS13 | P_AES256 | P_AESGCM},
    {0x1303, "TLS13-CHACHA20-POLY1305-SHA256", "TLS_CHACHA20_POLY1305_SHA256",
     P_TLS13 | P_CHACHA20},
    {0x1301, "TLS13-AES128-GCM-SHA256", "TLS_AES_128_GCM_SHA256", P_TLS13 | P_AES128 | P_AESGCM},
    {0x1304, "TLS13-AES128-CCM-SHA256", "TLS_AES_128_CCM_SHA256", P_TLS13 | P_AES128 | P_AESCCM},
    /* TLS 1.2 AEAD with forward secrecy (RFC 9325 section 4.2) */
    {0xc02c, "ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
     E_ECDSA | GCM256},
    {0xc030, "ECDHE-RSA-AES256-GCM-SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
     E_RSA | GCM256},
    {0xcca9, "ECDHE-ECDSA-CHACHA20-POLY1305", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
     E_ECDSA | CHACHA},
    {0xcca8, "ECDHE-RSA-CHACHA20-POLY1305", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
     E_RSA | CHACHA},
    {0xc02b, "ECDHE-ECDSA-AES128-GCM-SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
     E_ECDSA | GCM128},
    {0xc02f, "ECDHE-RSA-AES128-GCM-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
     E_RSA | GCM128},
    {0xc0ac, "ECDHE-ECDSA-AES128-CCM", "TLS_ECDHE_ECDSA_WITH_AES_128_CCM",
     E_ECDSA | P_TLS12 | P_AES128 | P_AESCCM},
    {0x009f, "DHE-RSA-AES256-GCM-SHA384", "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", D_RSA | GCM256},
    {0xccaa, "DHE-RSA-CHACHA20-POLY1305", "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
     D_RSA | CHACHA},
    {0x009e, "DHE-RSA-AES128-GCM-SHA256", "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", D_RSA | GCM128},
    /* CBC with HMAC-SHA-2: TLS 1.2 only */
    {0xc024, "ECDHE-ECDSA-AES256-SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
     E_ECDSA | CBC(P_AES256, P_SHA384)},
    {0xc028, "ECDHE-RSA-AES256-SHA384", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
     E_RSA | CBC(P_AES256, P_SHA384)},
    {0xc023, "ECDHE-ECDSA-AES128-SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
     E_ECDSA | CBC(P_AES128, P_SHA256)},
    {0xc027, "ECDHE-RSA-AES128-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
     E_RSA | CBC(P_AES128, P_SHA256)},
    {0x006b, "DHE-RSA-AES256-SHA256", "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
     D_RSA | CBC(P_AES256, P_SHA256)},
    {0x0067, "DHE-RSA-AES128-SHA256", "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
     D_RSA | CBC(P_AES128, P_SHA256)},
    {0x00c4, "DHE-RSA-CAMELLIA256-SHA256", "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256",
     D_RSA | CBC(P_CAMELLIA256, P_SHA256)},
    {0x00be, "DHE-RSA-CAMELLIA128-SHA256", "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA256",
     D_RSA | CBC(P_CAMELLIA128, P_SHA256)},
    /* CBC with HMAC-SHA-1: what TLS 1.0 and 1.1 can use */
    {0xc00a, "ECDHE-ECDSA-AES256-SHA", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
     E_ECDSA | CBC(P_AES256, P_SHA1)},
    {0xc014, "ECDHE-RSA-AES256-SHA", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
     E_RSA | CBC(P_AES256, P_SHA1)},
    {0xc009, "ECDHE-ECDSA-AES128-SHA", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
     E_ECDSA | CBC(P_AES128, P_SHA1)},
    {0xc013, "ECDHE-RSA-AES128-SHA", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
     E_RSA | CBC(P_AES128, P_SHA1)},
    {0x0039, "DHE-RSA-AES256-SHA", "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
     D_RSA | CBC(P_AES256, P_SHA1)},
    {0x0033, "DHE-RSA-AES128-SHA", "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
     D_RSA | CBC(P_AES128, P_SHA1)},
    {0x0088, "DHE-RSA-CAMELLIA256-SHA", "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA",
     D_RSA | CBC(P_CAMELLIA256, P_SHA1)},
    {0x0045, "DHE-RSA-CAMELLIA128-SHA", "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA",
     D_RSA | CBC(P_CAMELLIA128, P_SHA1)},
};
#define NSUITES (sizeof(suites) / sizeof(suites[0]))
_Static_assert(NSUITES <= 64, "one bit per suite in a uint64_t");

/* OpenSSL's cipher properties: a suite matches when it has every bit of any one alternative */
static const struct keyword {
    const char *word;
    uint32_t any[2]; /* alternatives (0: unused) */
} keywords[] = {
    {"ALL", {0}},  /* no bit required: every suite */
    {"HIGH", {0}}, /* every table suite is HIGH in OpenSSL's terms */
    {"kECDHE", {P_KECDHE}},
    {"ECDHE", {P_KECDHE}},
    {"kEECDH", {P_KECDHE}},
    {"EECDH", {P_KECDHE}},
    {"ECDH", {P_KECDHE}},
    {"kDHE", {P_KDHE}},
    {"DHE", {P_KDHE}},
    {"kEDH", {P_KDHE}},
    {"EDH", {P_KDHE}},
    {"DH", {P_KDHE}},
    {"aRSA", {P_ARSA}},
    {"aECDSA", {P_AECDSA}},
    {"ECDSA", {P_AECDSA}},
    {"AES", {P_AES128, P_AES256}},
    {"AES128", {P_AES128}},
    {"AES256", {P_AES256}},
    {"AESGCM", {P_AESGCM}},
    {"AESCCM", {P_AESCCM}},
    {"CHACHA20", {P_CHACHA20}},
    {"CAMELLIA", {P_CAMELLIA128, P_CAMELLIA256}},
    {"CAMELLIA128", {P_CAMELLIA128}},
    {"CAMELLIA256", {P_CAMELLIA256}},
    {"SHA1", {P_SHA1}},
    {"SHA", {P_SHA1}},
    {"SHA256", {P_SHA256}},
    {"SHA384", {P_SHA384}},
    {"TLSv1.2", {P_TLS12}},
    {"TLSv1", {P_SHA1}}, /* OpenSSL tags the suites usable before TLS 1.2 "SSLv3"/"TLSv1" */
    {"TLSv1.0", {P_SHA1}},
    {"SSLv3", {P_SHA1}},
    /* OpenSSL properties that no suite tern offers has */
    {"aNULL", {P_NONE}},
    {"eNULL", {P_NONE}},
    {"NULL", {P_NONE}},
    {"COMPLEMENTOFALL", {P_NONE}},
    {"COMPLEMENTOFDEFAULT", {P_NONE}},
    {"RC4", {P_NONE}},
    {"RC2", {P_NONE}},
    {"DES", {P_NONE}},
    {"3DES", {P_NONE}},
    {"IDEA", {P_NONE}},
    {"SEED", {P_NONE}},
    {"ARIA", {P_NONE}},
    {"MD5", {P_NONE}},
    {"EXPORT", {P_NONE}},
    {"EXP", {P_NONE}},
    {"LOW", {P_NONE}},
    {"MEDIUM", {P_NONE}},
    {"ADH", {P_NONE}},
    {"AECDH", {P_NONE}},
    {"aDH", {P_NONE}},
    {"aECDH", {P_NONE}},
    {"kECDH", {P_NONE}},
    {"kDH", {P_NONE}},
    {"PSK", {P_NONE}},
    {"kPSK", {P_NONE}},
    {"aPSK", {P_NONE}},
    {"SRP", {P_NONE}},
    {"kSRP", {P_NONE}},
    {"kRSA", {P_NONE}},
    {"RSA", {P_NONE}}, /* OpenSSL: an alias of kRSA (RSA key transport) */
    {"DSS", {P_NONE}},
    {"aDSS", {P_NONE}},
    {"KRB5", {P_NONE}},
    {"GOST", {P_NONE}},
    {"AESCCM8", {P_NONE}},
};
#define NKEYWORDS (sizeof(keywords) / sizeof(keywords[0]))

static pthread_once_t built_once = PTHREAD_ONCE_INIT;
static uint64_t built;         /* bit i: suites[i] is compiled into this wolfSSL */
static uint8_t order[NSUITES]; /* table indexes, most preferred first */

#if defined(WOLFSSL_AESNI) || defined(WOLFSSL_ARMASM)
#define AES_IN_HARDWARE 1
#else
#define AES_IN_HARDWARE 0
#endif

/* aead_group - the suites a ChaCha20 suite is preferred to: TLS 1.3, or TLS 1.2 AEAD of one
 * key exchange; 0 for CBC suites */
static uint32_t aead_group(uint32_t props)
{
    if (props & P_CBC)
        return 0;
    return props & (P_TLS13 | P_KECDHE | P_KDHE);
}

/* find_order - the table order, or with AES in software each group's ChaCha20 suites first */
static void find_order(void)
{
    size_t n = 0;
    uint32_t seen[NSUITES];
    size_t nseen = 0;
    for (size_t i = 0; i < NSUITES; i++) {
        uint32_t g = AES_IN_HARDWARE ? 0 : aead_group(suites[i].props);
        bool first = g != 0;
        for (size_t k = 0; first && k < nseen; k++)
            first = seen[k] != g;
        if (first) {
            seen[nseen++] = g;
            for (size_t j = i; j < NSUITES; j++)
                if ((suites[j].props & P_CHACHA20) && aead_group(suites[j].props) == g)
                    order[n++] = (uint8_t)j;
        }
        if (g == 0 || !(suites[i].props & P_CHACHA20))
            order[n++] = (uint8_t)i;
    }
}

/* find_built - the table suites this wolfSSL has: named by wolfSSL_get_ciphers(), with the code
 * point wolfSSL gives that name (a table typo shows as a missing suite, never a wrong one) */
static void find_built(void)
{
    static char all[16384];
    find_order();
    tls_wolf_init();
    if (wolfSSL_get_ciphers(all, (int)sizeof(all)) != WOLFSSL_SUCCESS)
        return;
    for (size_t i = 0; i < NSUITES; i++) {
        const char *name = suites[i].name;
        size_t n = strlen(name);
        const char *wolf = wolfSSL_get_cipher_name_from_suite((unsigned char)(suites[i].code >> 8),
                                                              (unsigned char)suites[i].code);
        if (!wolf || strcmp(wolf, name) != 0)
            continue;
        for (const char *p = all; (p = strstr(p, name)) != NULL; p += n)
            if ((p == all || p[-1] == ':') && (p[n] == ':' || p[n] == 0)) {
                built |= 1ull << i;
                break;
            }
    }
}

enum grade { G_MEDIUM, G_LOW };

/* grade_parse - Postfix's grade names; -EINVAL with err for null and unknown names */
static int grade_parse(const char *grade, enum grade *out, char *err, size_t errlen)
{
    if (!grade || !*grade || !strcasecmp(grade, "medium") || !strcasecmp(grade, "high")) {
        *out = G_MEDIUM;
        return 0;
    }
    if (!strcasecmp(grade, "low") || !strcasecmp(grade, "export")) {
        *out = G_LOW;
        return 0;
    }
    if (!strcasecmp(grade, "null"))
        tls_wolf_seterr(
            err, errlen,
            "cipher grade \"%s\" (integrity without encryption) is not supported: tern never "
            "offers NULL ciphers",
            grade);
    else
        tls_wolf_seterr(err, errlen, "invalid cipher grade \"%s\" (export, low, medium or high)",
                        grade);
    return -EINVAL;
}

/* match_props - suites (bits) with every property of word[0..len) ("A+B+C"); -EINVAL if unknown */
static int match_props(const char *word, size_t len, uint64_t *out)
{
    uint64_t set = ~0ull;
    while (len > 0) {
        size_t n = 0;
        while (n < len && word[n] != '+')
            n++;
        const struct keyword *k = NULL;
        for (size_t i = 0; i < NKEYWORDS && !k; i++)
            if (strlen(keywords[i].word) == n && !strncmp(keywords[i].word, word, n))
                k = &keywords[i];
        if (!k)
            return -EINVAL;
        uint64_t these = 0;
        for (size_t i = 0; i < NSUITES; i++) {
            uint32_t p = suites[i].props;
            bool hit = !k->any[0] || (p & k->any[0]) == k->any[0] ||
                       (k->any[1] && (p & k->any[1]) == k->any[1]);
            /* as in OpenSSL, properties never reach TLS 1.3 suites */
            if (hit && !(p & P_TLS13))
                these |= 1ull << i;
        }
        set &= these;
        word += n + (n < len);
        len -= n + (n < len);
    }
    *out = set;
    return 0;
}

/* match_name - the suite named word[0..len) (wolfSSL, OpenSSL or IANA name), or 0 */
static uint64_t match_name(const char *word, size_t len)
{
    for (size_t i = 0; i < NSUITES; i++)
        if ((strlen(suites[i].name) == len && !strncasecmp(suites[i].name, word, len)) ||
            (strlen(suites[i].iana) == len && !strncasecmp(suites[i].iana, word, len)))
            return 1ull << i;
    return 0;
}

/* exclusions - the suites an exclusion list names; -EINVAL with err for an unknown word */
static int exclusions(const char *exclude, uint64_t *out, char *err, size_t errlen)
{
    static const char seps[] = " \t\r\n,:";
    uint64_t drop = 0;
    for (const char *p = exclude ? exclude : ""; *(p += strspn(p, seps));) {
        size_t n = strcspn(p, seps);
        uint64_t m = match_name(p, n);
        if (!m && match_props(p, n, &m) < 0) {
            bool named = memchr(p, '-', n) || memchr(p, '_', n);
            bool sane = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                  "0123456789-_.+") >= n;
            if (!named || !sane || memchr(p, '+', n)) {
                tls_wolf_seterr(err, errlen, "unknown cipher or cipher property \"%.*s\" in \"%s\"",
                                (int)n, p, exclude);
                return -EINVAL;
            }
            m = 0; /* a suite tern never offers: nothing to exclude */
        }
        drop |= m;
        p += n;
    }
    *out = drop;
    return 0;
}

/* usable - can suite s be negotiated with one of the TLS_PROTO_* bits? */
static bool usable(const struct suite *s, unsigned protocols)
{
    if (s->props & P_TLS13)
        return protocols & TLS_PROTO_TLSv1_3;
    if (s->props & P_TLS12)
        return protocols & TLS_PROTO_TLSv1_2;
    return protocols & (TLS_PROTO_TLSv1 | TLS_PROTO_TLSv1_1 | TLS_PROTO_TLSv1_2);
}

/* select_suites - the table bits for a grade and protocol range, before exclusions */
static uint64_t select_suites(enum grade g, unsigned protocols)
{
    bool below12 =
        protocols & (TLS_PROTO_SSLv2 | TLS_PROTO_SSLv3 | TLS_PROTO_TLSv1 | TLS_PROTO_TLSv1_1);
    uint64_t set = 0;
    for (size_t i = 0; i < NSUITES; i++) {
        uint32_t p = suites[i].props;
        if (!(p & P_CBC) || g == G_LOW || (below12 && (p & P_SHA1)))
            set |= 1ull << i;
    }
    return set;
}

/* choose - the table bits for grade minus exclude at the protocol bits; -EINVAL with err */
static int choose(uint64_t *out, const char *grade, const char *exclude, unsigned protocols,
                  char *err, size_t errlen)
{
    enum grade g;
    uint64_t drop;
    int rc;
    if ((rc = grade_parse(grade, &g, err, errlen)) < 0 ||
        (rc = exclusions(exclude, &drop, err, errlen)) < 0)
        return rc;
    pthread_once(&built_once, find_built);
    uint64_t set = select_suites(g, protocols) & ~drop & built;
    bool fit = false, tls13 = false;
    for (size_t i = 0; i < NSUITES; i++)
        if (set & (1ull << i)) {
            fit |= usable(&suites[i], protocols);
            tls13 |= (suites[i].props & P_TLS13) != 0;
        }
    const char *g_name = grade && *grade ? grade : "medium", *ex = exclude ? exclude : "";
    if (!fit) {
        tls_wolf_seterr(
            err, errlen,
            "cipher grade \"%s\"%s%s%s leaves no cipher suite for the enabled TLS protocols",
            g_name, *ex ? " without \"" : "", ex, *ex ? "\"" : "");
        return -EINVAL;
    }
    if (!tls13 && (protocols & TLS_PROTO_TLSv1_3)) {
        /* a TLS 1.3 peer would pick TLS 1.3 and find no suite: say so instead */
        tls_wolf_seterr(
            err, errlen,
            "cipher grade \"%s\" without \"%s\" leaves no TLS 1.3 cipher suite, but TLSv1.3 "
            "is enabled (exclude it from the protocols: \"!TLSv1.3\")",
            g_name, ex);
        return -EINVAL;
    }
    *out = set;
    return 0;
}

/* tls_cipher_suites - the code points for grade minus exclude at the protocol bits */
int tls_cipher_suites(unsigned char *out, size_t len, const char *grade, const char *exclude,
                      unsigned protocols, char *err, size_t errlen)
{
    uint64_t set;
    int rc = choose(&set, grade, exclude, protocols, err, errlen), n = 0;
    if (rc < 0)
        return rc;
    for (size_t k = 0; k < NSUITES; k++) {
        size_t i = order[k];
        if (!(set & (1ull << i)))
            continue;
        if (len < 2 * (size_t)(n + 1))
            return -ENOSPC;
        out[2 * n] = (unsigned char)(suites[i].code >> 8);
        out[2 * n + 1] = (unsigned char)suites[i].code;
        n++;
    }
    return n;
}

/* tls_cipher_list - the same suites as wolfSSL names joined by ":" */
int tls_cipher_list(char *out, size_t len, const char *grade, const char *exclude,
                    unsigned protocols, char *err, size_t errlen)
{
    uint64_t set;
    int rc = choose(&set, grade, exclude, protocols, err, errlen), n = 0;
    size_t used = 0;
    if (rc < 0)
        return rc;
    if (len == 0)
        return -ENOSPC;
    out[0] = 0;
    for (size_t k = 0; k < NSUITES; k++) {
        size_t i = order[k];
        if (!(set & (1ull << i)))
            continue;
        int w = snprintf(out + used, len - used, "%s%s", n ? ":" : "", suites[i].name);
        if (w < 0 || (size_t)w >= len - used)
            return -ENOSPC;
        used += (size_t)w;
        n++;
    }
    return n;
}

/* tls_cipher_check - does (grade, exclude) leave suites for the protocol bits? */
int tls_cipher_check(const char *grade, const char *exclude, unsigned protocols, char *err,
                     size_t errlen)
{
    uint64_t set;
    return choose(&set, grade, exclude, protocols, err, errlen);
}
