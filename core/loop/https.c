/*
 * NAME
 *	https - one HTTPS request with libcurl, to the address tern's resolver gave
 * DESCRIPTION
 *	See loop/https.h. Each request has an easy handle of its own, made
 *	and cleaned up here, so nothing of libcurl outlives a call but its
 *	global set-up.
 */
#include "core/loop/https.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/base/buf.h"

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

struct sink {
    struct buf *body;
    size_t got, max;
    bool over;
};

/* global_init - curl_global_init, once, before any thread uses libcurl */
static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* https_init - libcurl's global set-up, and how it went */
int https_init(char *err, size_t errlen)
{
    pthread_once(&global_once, global_init);
    if (global_rc == CURLE_OK)
        return 0;
    snprintf(err, errlen, "%s", curl_easy_strerror(global_rc));
    return -EIO;
}

/* on_body - libcurl's write callback: keep the body up to its bound */
static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t len = size * n;
    if (s->got + len > s->max) {
        s->over = true;
        return 0; /* libcurl stops: CURLE_WRITE_ERROR */
    }
    s->got += len;
    return buf_append(s->body, p, len) == 0 ? len : 0;
}

/* https_perform - one GET or POST */
int https_perform(const struct https_request *req, struct https_answer *ans, char *err,
                  size_t errlen)
{
    char resolve[400], ctype[300];
    bool v6 = strchr(req->addr, ':') != NULL;
    struct sink sink = {.body = req->body, .max = req->body_max};
    memset(ans, 0, sizeof(*ans));
    int n = snprintf(resolve, sizeof(resolve), "%s:%d:%s%s%s", req->host, req->port, v6 ? "[" : "",
                     req->addr, v6 ? "]" : "");
    int tn = req->type ? snprintf(ctype, sizeof(ctype), "Content-Type: %s", req->type) : 0;
    if (n < 0 || (size_t)n >= sizeof(resolve) || tn < 0 || (size_t)tn >= sizeof(ctype)) {
        snprintf(err, errlen, "host, address or type too long");
        return -EINVAL;
    }
    pthread_once(&global_once, global_init);
    CURL *h = curl_easy_init();
    struct curl_slist *rs = curl_slist_append(NULL, resolve);
    struct curl_slist *hd = req->type ? curl_slist_append(NULL, ctype) : NULL;
    int rc = -ENOMEM;
    if (!h || !rs || (req->type && !hd)) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_RESOLVE, rs);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L); /* RFC 8461 3.3: no redirects */
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, req->timeout);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "tern");
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (req->cafile)
        curl_easy_setopt(h, CURLOPT_CAINFO, req->cafile);
    if (req->capath)
        curl_easy_setopt(h, CURLOPT_CAPATH, req->capath);
    if (req->type) {
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->data);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)req->len);
    }
    if (req->body) {
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    }
    CURLcode cr = curl_easy_perform(h);
    char *type = NULL;
    if (cr == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &ans->status);
        curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &type);
        snprintf(ans->type, sizeof(ans->type), "%s", type ? type : "");
    }
    if (sink.over) {
        rc = -EFBIG;
        snprintf(err, errlen, "the body is larger than %zu octets", req->body_max);
    } else if (cr != CURLE_OK) {
        rc = -EIO;
        snprintf(err, errlen, "%s", curl_easy_strerror(cr));
    } else {
        rc = 0;
    }
out:
    curl_slist_free_all(rs);
    curl_slist_free_all(hd);
    if (h)
        curl_easy_cleanup(h);
    return rc;
}
