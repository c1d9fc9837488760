/*
 * NAME
 *	tlsrpt - TLS-RPT (RFC 8460) reports, from the recorded results to mail in the queue
 * DESCRIPTION
 *	See daemon/tlsrpt.h. Runs on the control thread: the rua lookups are
 *	synchronous (ub_resolve on a resolver of its own, made per run), and
 *	each message waits for the queue's commit, so a report is deleted
 *	only once it is durable. Who owns what: the records read from the
 *	cache (struct entry) live for one run; a message belongs to the queue
 *	once queue_submit() took it.
 */
#include "core/daemon/tlsrpt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unbound.h>
#include <zlib.h>

#include "core/base/base64.h"
#include "core/base/buf.h"
#include "core/base/log.h"
#include "core/base/time.h"
#include "core/config/config.h"
#include "core/config/runtime.h"
#include "core/config/tlsconf.h"
#include "core/daemon/daemon.h"
#include "core/delivery/delivery_tlsrpt.h"
#include "core/loop/dns.h"
#include "core/loop/dns_rr.h"
#include "core/loop/https.h"
#include "policy/policy_hostname.h"
#include "policy/policy_tlsrpt.h"
#include "queue/queue.h"
#include "tls/tls_cache.h"

struct entry {
    char *key, *val; /* "DAY/TYPE/DOMAIN", the record */
    char day[DELIVERY_TLSRPT_DAY_LEN], type[DELIVERY_TLSRPT_TYPE_LEN];
    char domain[DELIVERY_TLSRPT_DOMAIN_LEN];
    bool done;
};

struct run {
    struct entry *e;
    size_t n, cap;
    char today[16];
    bool with_today;
};

struct commit {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int status;
};

/* collect - walk callback: keep a copy of each record (today's only when asked) */
static int collect(enum tls_cache_kind kind, const void *key, size_t klen, const void *val,
                   size_t vlen, time_t expires, void *arg)
{
    struct run *r = arg;
    (void)kind;
    (void)expires;
    if (r->n == TLSRPT_ENTRIES_MAX)
        return 1; /* the rest next time */
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct entry *e = realloc(r->e, cap * sizeof(*e));
        if (!e)
            return -ENOMEM;
        r->e = e;
        r->cap = cap;
    }
    struct entry *e = &r->e[r->n];
    memset(e, 0, sizeof(*e));
    if (!(e->key = strndup(key, klen)) || !(e->val = strndup(val, vlen))) {
        free(e->key);
        free(e->val);
        return -ENOMEM;
    }
    if (delivery_tlsrpt_key_parse(e->key, e->day, e->type, e->domain) < 0 ||
        (!r->with_today && strcmp(e->day, r->today) >= 0)) {
        free(e->key);
        free(e->val);
        return 0;
    }
    r->n++;
    return 0;
}

/* mailbox_ok - local@domain: a local part of printable characters without blanks, brackets or
 * a second @, and a valid host name (what a recipient of tern's queue must be) */
static bool mailbox_ok(const char *a)
{
    const char *at = strchr(a, '@');
    if (!at || at == a || strchr(at + 1, '@'))
        return false;
    for (const char *p = a; p < at; p++)
        if (*p <= ' ' || *p >= 0x7f || strchr("<>()[]\\,;:\"", *p))
            return false;
    return policy_hostname_valid(at + 1, false);
}

/* rua - the mailto: addresses (to[], *nto) and https: URIs (web[], *nweb) of domain's _smtp._tls
 * record */
static void rua(struct ub_ctx *ub, const char *domain, char to[][POLICY_TLSRPT_URI_LEN],
                size_t *nto, char web[][POLICY_TLSRPT_URI_LEN], size_t *nweb)
{
    char name[DNS_RR_NAME_MAX], text[1024], err[200];
    char uri[POLICY_TLSRPT_RUA_MAX][POLICY_TLSRPT_URI_LEN];
    struct ub_result *res = NULL;
    size_t nuri;
    *nto = *nweb = 0;
    snprintf(name, sizeof(name), "_smtp._tls.%s", domain);
    if (ub_resolve(ub, name, DNS_RR_TXT, 1, &res) != 0 || !res || !res->havedata) {
        ub_resolve_free(res);
        return;
    }
    for (size_t i = 0; res->data[i] && *nto + *nweb == 0; i++) {
        if (dns_rr_txt((const unsigned char *)res->data[i], (size_t)res->len[i], text,
                       sizeof(text)) < 0 ||
            policy_tlsrpt_txt(text, strlen(text), uri, &nuri, err, sizeof(err)) < 0)
            continue;
        for (size_t k = 0; k < nuri; k++) {
            if (!strncasecmp(uri[k], "mailto:", 7)) {
                /* the address, up to any "!size" suffix or ?query (RFC 8460 3) */
                size_t an = strcspn(uri[k] + 7, "!?");
                char *a = to[*nto];
                snprintf(a, POLICY_TLSRPT_URI_LEN, "%.*s", (int)an, uri[k] + 7);
                if (mailbox_ok(a))
                    (*nto)++;
                else
                    log_warn("tlsrpt", "%s: rua %s is not a mail address; ignored", domain, uri[k]);
            } else {
                snprintf(web[(*nweb)++], POLICY_TLSRPT_URI_LEN, "%s", uri[k]);
            }
        }
    }
    ub_resolve_free(res);
}

/* post - RFC 8460 5.4: the gzip'd report POSTed to an https: rua, its host resolved by tern's
 * DNS; 0 or -errno with err */
static int post(struct ub_ctx *ub, const struct tern_config *cfg, const char *url,
                const struct buf *gz, char *err, size_t errlen)
{
    char host[256], addr[64] = "";
    size_t hn = strcspn(url + 8, ":/?");
    struct ub_result *res = NULL;
    if (hn == 0 || hn >= sizeof(host)) {
        snprintf(err, errlen, "no host in %s", url);
        return -EINVAL;
    }
    memcpy(host, url + 8, hn);
    host[hn] = 0;
    int port = url[8 + hn] == ':' ? atoi(url + 9 + hn) : 443;
    if (ub_resolve(ub, host, DNS_RR_A, 1, &res) == 0 && res && res->havedata && res->len[0] == 4)
        inet_ntop(AF_INET, res->data[0], addr, sizeof(addr));
    ub_resolve_free(res);
    if (!addr[0]) {
        snprintf(err, errlen, "no address for %s", host);
        return -EHOSTUNREACH;
    }
    struct https_request q = {.url = url,
                              .host = host,
                              .port = port,
                              .addr = addr,
                              .cafile = config_nonblank(config_get(cfg, "smtp_tls_CAfile")),
                              .capath = config_nonblank(config_get(cfg, "smtp_tls_CApath")),
                              .timeout = 10,
                              .type = "application/tlsrpt+gzip",
                              .data = buf_ptr(gz),
                              .len = buf_used(gz)};
    struct https_answer a;
    int rc = https_perform(&q, &a, err, errlen);
    if (rc < 0)
        return rc;
    if (a.status < 200 || a.status > 299) {
        snprintf(err, errlen, "HTTP status %ld", a.status);
        return -EIO;
    }
    return 0;
}

/* gzip - data into out, gzip-compressed; 0 or -errno */
static int gzip(const char *data, size_t len, struct buf *out)
{
    z_stream z = {0};
    unsigned char chunk[16384];
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -ENOMEM;
    z.next_in = (unsigned char *)data;
    z.avail_in = (uInt)len;
    int zr, rc = 0;
    do {
        z.next_out = chunk;
        z.avail_out = sizeof(chunk);
        zr = deflate(&z, Z_FINISH);
        if (zr == Z_STREAM_ERROR) {
            rc = -EIO;
            break;
        }
        rc = buf_append(out, chunk, sizeof(chunk) - z.avail_out);
    } while (rc == 0 && zr != Z_STREAM_END);
    deflateEnd(&z);
    return rc;
}

/* policies - the policy objects of the entries of one domain and day, read into rec; how many */
static size_t policies(struct run *r, size_t first, struct policy_tlsrpt_policy *pol,
                       struct delivery_tlsrpt_record *rec, char **copies)
{
    size_t np = 0;
    for (size_t i = first; i < r->n && np < 2; i++) {
        struct entry *e = &r->e[i];
        if (e->done || strcmp(e->day, r->e[first].day) || strcmp(e->domain, r->e[first].domain))
            continue;
        struct policy_tlsrpt_policy *p = &pol[np];
        memset(p, 0, sizeof(*p));
        p->type = e->type;
        p->domain = e->domain;
        char *v = copies[np] = strdup(e->val);
        if (!v)
            break;
        delivery_tlsrpt_parse(v, &rec[np]);
        p->ok = rec[np].ok;
        p->failed = rec[np].failed;
        p->strings = rec[np].policy;
        p->nstrings = rec[np].npolicy;
        p->mx = rec[np].mx;
        p->nmx = rec[np].nmx;
        p->fail = rec[np].fail;
        p->nfail = rec[np].nfail;
        np++;
    }
    return np;
}

/* day_start - midnight UTC of "YYYY-MM-DD" */
static time_t day_start(const char *day)
{
    struct tm tm = {0};
    if (sscanf(day, "%d-%d-%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return timegm(&tm);
}

/* message - the multipart/report of one report into m (data, sender, recipients); 0 or -errno */
static int message(struct queue_msg *m, const char *submitter, const char *domain, const char *id,
                   time_t start, time_t end, const struct buf *gz, char to[][POLICY_TLSRPT_URI_LEN],
                   size_t nto)
{
    struct buf b = BUF_INIT, b64 = BUF_INIT;
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    int rc = base64_encode(&b64, buf_ptr(gz), buf_used(gz));
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    rc = rc ? rc
            : buf_printf(&b,
                         "From: postmaster@%s\r\nDate: %s\r\nMessage-ID: <%s@%s>\r\n"
                         "Subject: Report Domain: %s Submitter: %s Report-ID: <%s@%s>\r\n"
                         "TLS-Report-Domain: %s\r\nTLS-Report-Submitter: %s\r\n",
                         submitter, date, id, submitter, domain, submitter, id, submitter, domain,
                         submitter);
    for (size_t i = 0; i < nto && rc == 0; i++)
        rc = buf_printf(&b, "%s%s", i ? ", " : "To: ", to[i]);
    rc = rc ? rc
            : buf_printf(&b,
                         "\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; "
                         "report-type=\"tlsrpt\"; boundary=\"tlsrpt-%s\"\r\n\r\n"
                         "--tlsrpt-%s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
                         "This is an aggregate TLS report from %s for %s.\r\n\r\n"
                         "--tlsrpt-%s\r\nContent-Type: application/tlsrpt+gzip\r\n"
                         "Content-Transfer-Encoding: base64\r\n"
                         "Content-Disposition: attachment;\r\n"
                         " filename=\"%s!%s!%lld!%lld!%s.json.gz\"\r\n\r\n",
                         id, id, submitter, domain, id, submitter, domain, (long long)start,
                         (long long)end, id);
    for (size_t off = 0; rc == 0 && off < buf_used(&b64); off += 76) {
        size_t n = buf_used(&b64) - off < 76 ? buf_used(&b64) - off : 76;
        rc = buf_append(&b, buf_ptr(&b64) + off, n);
        rc = rc ? rc : buf_puts(&b, "\r\n");
    }
    rc = rc ? rc : buf_printf(&b, "\r\n--tlsrpt-%s--\r\n", id);
    buf_free(&b64);
    if (rc == 0 && (m->rcpt = calloc(nto, sizeof(*m->rcpt)))) {
        for (size_t i = 0; i < nto && rc == 0; i++)
            if (!(m->rcpt[m->nrcpt++].addr = strdup(to[i])))
                rc = -ENOMEM;
    } else if (rc == 0) {
        rc = -ENOMEM;
    }
    if (rc == 0 && (!(m->sender = strdup("")) || !(m->client = strdup("localhost[127.0.0.1]"))))
        rc = -ENOMEM;
    if (rc == 0) {
        m->data = buf_steal(&b, &m->len);
        m->ret = DSN_RET_HDRS;
        m->arrival = time_now();
    }
    buf_free(&b);
    return rc < 0 ? rc : 0;
}

/* committed - queue callback: wake the waiting control thread */
static void committed(void *arg, int status)
{
    struct commit *c = arg;
    pthread_mutex_lock(&c->mu);
    c->done = true;
    c->status = status;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* submit - hand m to the queue and wait until it is durable; 0 or -errno */
static int submit(struct queue *q, struct queue_msg *m)
{
    struct commit c = {.done = false};
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);
    int rc = queue_submit(q, m, committed, &c);
    if (rc == 0) {
        pthread_mutex_lock(&c.mu);
        while (!c.done)
            pthread_cond_wait(&c.cv, &c.mu);
        pthread_mutex_unlock(&c.mu);
        rc = c.status;
    } else {
        queue_msg_free(m);
    }
    pthread_cond_destroy(&c.cv);
    pthread_mutex_destroy(&c.mu);
    return rc;
}

/* one_report - the report of the domain and day of r->e[first], mailed to each mailto: rua and
 * POSTed to each https: one; 1 sent somewhere, 0 nowhere to send, -errno */
static int one_report(struct tern_daemon *d, const struct tern_config *cfg, struct ub_ctx *ub,
                      struct run *r, size_t first, FILE *fp)
{
    const struct entry *e0 = &r->e[first];
    char to[POLICY_TLSRPT_RUA_MAX][POLICY_TLSRPT_URI_LEN];
    char web[POLICY_TLSRPT_RUA_MAX][POLICY_TLSRPT_URI_LEN];
    size_t nto, nweb;
    rua(ub, e0->domain, to, &nto, web, &nweb);
    if (nto + nweb == 0) {
        log_info("tlsrpt",
                 "%s: no TLSRPT record with a mailto: or https: rua; the results of %s dropped",
                 e0->domain, e0->day);
        fprintf(fp, "%s %s: no TLSRPT record, results dropped\n", e0->day, e0->domain);
        return 0;
    }
    struct delivery_tlsrpt_record rec[2];
    struct policy_tlsrpt_policy pol[2];
    char *copies[2] = {NULL, NULL};
    size_t np = policies(r, first, pol, rec, copies);
    char id[QUEUE_ID_LEN + 1], contact[300], err[300];
    queue_id_new(id);
    snprintf(contact, sizeof(contact), "mailto:postmaster@%s", cfg->myhostname);
    time_t start = day_start(e0->day), end = start + 86399;
    struct policy_tlsrpt_report rep = {cfg->myhostname, contact, id, start, end, pol, np};
    struct buf json = BUF_INIT, gz = BUF_INIT;
    int rc = policy_tlsrpt_json(&json, &rep);
    rc = rc ? rc : gzip(buf_ptr(&json), buf_used(&json), &gz);
    int sent = 0;
    for (size_t i = 0; i < nweb && rc == 0; i++) {
        bool ok = post(ub, cfg, web[i], &gz, err, sizeof(err)) == 0;
        sent |= ok;
        log_info("tlsrpt", "%s: report %s for %s %sposted to %s%s%s", e0->domain, id, e0->day,
                 ok ? "" : "not ", web[i], ok ? "" : ": ", ok ? "" : err);
        fprintf(fp, "%s %s: report %s %sposted to %s%s%s\n", e0->day, e0->domain, id,
                ok ? "" : "not ", web[i], ok ? "" : ": ", ok ? "" : err);
    }
    struct queue_msg *m = rc == 0 && nto ? calloc(1, sizeof(*m)) : NULL;
    if (rc == 0 && nto && !m)
        rc = -ENOMEM;
    if (m) {
        queue_id_new(m->qid);
        rc = message(m, cfg->myhostname, e0->domain, id, start, end, &gz, to, nto);
        if (rc == 0) {
            rc = submit(d->queue, m); /* the queue's now, even on failure */
            m = NULL;
        }
        if (rc == 0) {
            sent = 1;
            log_info("tlsrpt", "%s: report %s for %s queued to %s%s", e0->domain, id, e0->day,
                     to[0], nto > 1 ? " and others" : "");
            fprintf(fp, "%s %s: report %s queued to %s%s\n", e0->day, e0->domain, id, to[0],
                    nto > 1 ? " and others" : "");
        }
    }
    if (m)
        queue_msg_free(m);
    buf_free(&json);
    buf_free(&gz);
    free(copies[0]);
    free(copies[1]);
    return rc < 0 ? rc : sent;
}

/* tlsrpt_send - queue the reports of the recorded days */
int tlsrpt_send(struct tern_daemon *d, bool today, FILE *fp)
{
    struct tern_runtime *rt = daemon_runtime(d);
    struct tls_cache *tc = d->tls_caches ? d->tls_caches->client : NULL;
    struct run r = {.with_today = today};
    struct dns_resolver *res = NULL;
    int rc = 0, sent = 0;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(r.today, sizeof(r.today), "%Y-%m-%d", &tm);
    if (!tc) {
        fprintf(fp, "no smtp_tls_session_cache_database: no TLS-RPT results are kept\n");
        rc = -ENOENT;
        goto out;
    }
    if ((rc = tls_cache_flush(tc)) < 0 ||
        (rc = tls_cache_walk(tc, TLS_CACHE_TLSRPT, collect, &r)) < 0)
        goto out;
    if ((rc = dns_resolver_new(&res, rt->cfg->dns_servers.item, rt->cfg->dns_servers.n)) < 0)
        goto out;
    rc = 0;
    for (size_t i = 0; i < r.n; i++) {
        if (r.e[i].done)
            continue;
        int one = one_report(d, rt->cfg, dns_resolver_ub(res), &r, i, fp);
        if (one < 0) {
            rc = one;
            break;
        }
        sent += one;
        /* sent or nobody wants them: the records of this domain and day go */
        for (size_t k = i; k < r.n; k++)
            if (!strcmp(r.e[k].day, r.e[i].day) && !strcmp(r.e[k].domain, r.e[i].domain)) {
                r.e[k].done = true;
                tls_cache_delete(tc, TLS_CACHE_TLSRPT, r.e[k].key, strlen(r.e[k].key));
            }
    }
out:
    for (size_t i = 0; i < r.n; i++) {
        free(r.e[i].key);
        free(r.e[i].val);
    }
    free(r.e);
    dns_resolver_free(res);
    runtime_unref(rt);
    return rc < 0 ? rc : sent;
}
