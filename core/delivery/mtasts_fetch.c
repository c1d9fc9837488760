/*
 * NAME
 *	mtasts_fetch - HTTPS fetches of MTA-STS policy files, off the worker's loop
 * DESCRIPTION
 *	See delivery/mtasts_fetch.h. Who owns what: a request is on the
 *	fetcher's list "all" from mtasts_fetch_start() until deliver() runs on
 *	the loop (or the fetcher goes), so mtasts_fetch_cancel() finds it
 *	wherever it is; the thread only fills in its result. The
 *	fetcher itself is counted (refs): one for its owner, one per result
 *	posted to the loop, so a result that reaches the loop after
 *	mtasts_fetch_free() finds it still there, sees the request cancelled,
 *	and frees the last of it.
 */
#include "core/delivery/mtasts_fetch.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base/buf.h"
#include "core/base/log.h"
#include "core/loop/https.h"
#include "core/loop/loop.h"
#include "policy/policy_mtasts.h"

struct req {
    struct req *next;  /* in f->waiting */
    struct req *anext; /* in f->all */
    struct mtasts_fetch *f;
    mtasts_fetch_cb *cb;
    void *arg;
    bool cancelled; /* f->mu */
    char domain[256];
    char addr[64];
    char *cafile, *capath;
    struct buf body;
    int status;
    char error[256];
};

struct mtasts_fetch {
    struct loop *loop;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    pthread_t thread;
    bool running, stop;
    int refs;            /* owner + results posted to the loop */
    struct req *waiting; /* oldest first */
    size_t nwaiting;
    struct req *all; /* every request not yet delivered: waiting, under way, posted */
};

/* req_free - a request and what it holds */
static void req_free(struct req *r)
{
    buf_free(&r->body);
    free(r->cafile);
    free(r->capath);
    free(r);
}

/* unlink_all - take r off f->all; mu held */
static void unlink_all(struct mtasts_fetch *f, struct req *r)
{
    for (struct req **pp = &f->all; *pp; pp = &(*pp)->anext)
        if (*pp == r) {
            *pp = r->anext;
            return;
        }
}

/* unref - drop one reference (mu not held); the last frees the fetcher */
static void unref(struct mtasts_fetch *f)
{
    pthread_mutex_lock(&f->mu);
    int left = --f->refs;
    pthread_mutex_unlock(&f->mu);
    if (left > 0)
        return;
    pthread_cond_destroy(&f->wake);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

/* fetch - one GET, its outcome in r->status / r->error / r->body */
static void fetch(struct req *r)
{
    char url[400], host[300];
    snprintf(url, sizeof(url), "https://mta-sts.%s/.well-known/mta-sts.txt", r->domain);
    snprintf(host, sizeof(host), "mta-sts.%s", r->domain);
    struct https_request q = {.url = url,
                              .host = host,
                              .port = 443,
                              .addr = r->addr,
                              .cafile = r->cafile,
                              .capath = r->capath,
                              .timeout = MTASTS_FETCH_TIMEOUT_S,
                              .body = &r->body,
                              .body_max = POLICY_MTASTS_SIZE_MAX};
    struct https_answer a;
    int rc = https_perform(&q, &a, r->error, sizeof(r->error));
    if (rc == -EFBIG) {
        r->status = rc;
        snprintf(r->error, sizeof(r->error), "the policy is larger than %d octets",
                 POLICY_MTASTS_SIZE_MAX);
    } else if (rc < 0) {
        r->status = rc; /* -EIO or -ENOMEM, r->error says which */
    } else if (a.status != 200) {
        r->status = -EPROTO;
        snprintf(r->error, sizeof(r->error), "HTTP status %ld", a.status);
    } else if (strncasecmp(a.type, "text/plain", 10) != 0) {
        r->status = -EPROTO;
        snprintf(r->error, sizeof(r->error), "Content-Type %s, not text/plain",
                 *a.type ? a.type : "missing");
    } else if (buf_append(&r->body, "", 1) < 0) { /* a terminating NUL, not counted */
        r->status = -ENOMEM;
        snprintf(r->error, sizeof(r->error), "out of memory");
    } else {
        r->body.len--;
    }
}

/* deliver - on the loop: hand the result over unless cancelled, then free it */
static void deliver(void *arg)
{
    struct req *r = arg;
    struct mtasts_fetch *f = r->f;
    pthread_mutex_lock(&f->mu);
    bool cancelled = r->cancelled;
    unlink_all(f, r);
    pthread_mutex_unlock(&f->mu);
    if (!cancelled) {
        struct mtasts_fetch_result res = {.domain = r->domain, .status = r->status};
        snprintf(res.error, sizeof(res.error), "%s", r->error);
        if (r->status == 0) {
            res.body = buf_ptr(&r->body);
            res.len = buf_used(&r->body);
        }
        r->cb(r->arg, &res);
    }
    req_free(r);
    unref(f);
}

/* thread_main - take the oldest request, fetch, post the result; until stopped */
static void *thread_main(void *arg)
{
    struct mtasts_fetch *f = arg;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (!f->stop && !f->waiting)
            pthread_cond_wait(&f->wake, &f->mu);
        if (f->stop)
            break;
        struct req *r = f->waiting;
        f->waiting = r->next;
        f->nwaiting--;
        bool skip = r->cancelled;
        pthread_mutex_unlock(&f->mu);
        if (!skip)
            fetch(r);
        pthread_mutex_lock(&f->mu);
        f->refs++;
        if (loop_post(f->loop, deliver, r) < 0) {
            f->refs--;
            unlink_all(f, r);
            log_warn("smtp", "MTA-STS policy of %s: fetched, but the result is lost: out of memory",
                     r->domain);
            req_free(r);
        }
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

/* mtasts_fetch_new - a fetcher posting to loop */
int mtasts_fetch_new(struct mtasts_fetch **out, struct loop *loop)
{
    char err[200];
    if (https_init(err, sizeof(err)) < 0) {
        log_warn("smtp", "cannot set up libcurl: %s", err);
        return -EIO;
    }
    struct mtasts_fetch *f = calloc(1, sizeof(*f));
    if (!f)
        return -ENOMEM;
    f->loop = loop;
    f->refs = 1;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->wake, NULL);
    *out = f;
    return 0;
}

/* mtasts_fetch_free - stop the thread; waiting and posted requests are cancelled */
void mtasts_fetch_free(struct mtasts_fetch *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->stop = true;
    struct req *w = f->waiting;
    f->waiting = NULL;
    f->nwaiting = 0;
    for (struct req *r = f->all; r; r = r->anext)
        r->cancelled = true; /* under way or posted: deliver() frees them */
    for (struct req *r = w; r; r = r->next)
        unlink_all(f, r);
    pthread_cond_signal(&f->wake);
    bool running = f->running;
    pthread_mutex_unlock(&f->mu);
    if (running)
        pthread_join(f->thread, NULL);
    while (w) {
        struct req *next = w->next;
        req_free(w);
        w = next;
    }
    unref(f);
}

/* mtasts_fetch_start - queue a fetch; the thread starts with the first one */
int mtasts_fetch_start(struct mtasts_fetch *f, const char *domain, const char *addr,
                       const char *cafile, const char *capath, mtasts_fetch_cb *cb, void *arg)
{
    if (strlen(domain) >= 256 - sizeof("mta-sts.") || strlen(addr) >= 64)
        return -EINVAL;
    struct req *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->f = f;
    r->cb = cb;
    r->arg = arg;
    snprintf(r->domain, sizeof(r->domain), "%s", domain);
    snprintf(r->addr, sizeof(r->addr), "%s", addr);
    if ((cafile && *cafile && !(r->cafile = strdup(cafile))) ||
        (capath && *capath && !(r->capath = strdup(capath)))) {
        req_free(r);
        return -ENOMEM;
    }
    pthread_mutex_lock(&f->mu);
    int rc = 0;
    if (f->nwaiting >= MTASTS_FETCH_QUEUE_MAX) {
        rc = -EAGAIN;
    } else if (!f->running) {
        if ((rc = -pthread_create(&f->thread, NULL, thread_main, f)) == 0)
            f->running = true;
    }
    if (rc == 0) {
        struct req **tail = &f->waiting;
        while (*tail)
            tail = &(*tail)->next;
        *tail = r;
        f->nwaiting++;
        r->anext = f->all;
        f->all = r;
        pthread_cond_signal(&f->wake);
    }
    pthread_mutex_unlock(&f->mu);
    if (rc < 0)
        req_free(r);
    return rc;
}

/* mtasts_fetch_cancel - arg's requests: waiting ones go, the one under way is not handed over */
void mtasts_fetch_cancel(struct mtasts_fetch *f, void *arg)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    struct req **pp = &f->waiting, *gone = NULL;
    while (*pp) {
        struct req *r = *pp;
        if (r->arg == arg) {
            *pp = r->next;
            f->nwaiting--;
            unlink_all(f, r);
            r->next = gone;
            gone = r;
        } else {
            pp = &r->next;
        }
    }
    for (struct req *r = f->all; r; r = r->anext)
        if (r->arg == arg)
            r->cancelled = true; /* under way or posted: deliver() frees it */
    pthread_mutex_unlock(&f->mu);
    while (gone) {
        struct req *next = gone->next;
        req_free(gone);
        gone = next;
    }
}
