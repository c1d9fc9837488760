/*
 * authjob - one inbound SMTP AUTH exchange, its Cyrus steps run off the rings;
 * see smtpd/authjob.h.
 *
 * Between authjob_step() and done() the pool thread owns the job; the hand-
 * overs go through the pool's mutex (submit) and the loop's inbox (post),
 * so each side sees what the other wrote.
 */
#include "core/smtpd/authjob.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct authjob {
    /* the exchange (copied at authjob_new) */
    struct auth_server_params params;
    char *strings; /* one block: hostname, realm, local and remote address */
    struct auth_server *as;
    struct loop *loop;
    loop_post_fn *done;
    void *arg;
    bool busy;
    /* the step in flight */
    char *mech;        /* first step only */
    unsigned char *in; /* a copy of the client's response; wiped after the step */
    size_t inlen;
    bool has_in;
    /* its outcome */
    int err; /* -errno: the Cyrus connection could not be made */
    enum auth_result ar;
    const char *out, *why, *user;
    size_t outlen;
};

/* authjob_pool_new - the SASL step pool */
int authjob_pool_new(struct pool **out)
{
    return pool_new(out, "tern-sasl", AUTHJOB_THREADS, AUTHJOB_QUEUE);
}

/* authjob_copy_strings - the parameters' strings in one allocation */
static int authjob_copy_strings(struct authjob *j, const struct auth_server_params *p)
{
    const char *src[4] = {p->hostname, p->realm, p->local_addr, p->remote_addr};
    const char **dst[4] = {&j->params.hostname, &j->params.realm, &j->params.local_addr,
                           &j->params.remote_addr};
    size_t len = 0;
    for (int i = 0; i < 4; i++)
        len += src[i] ? strlen(src[i]) + 1 : 0;
    j->strings = malloc(len ? len : 1);
    if (!j->strings)
        return -ENOMEM;
    char *w = j->strings;
    for (int i = 0; i < 4; i++) {
        if (!src[i]) {
            *dst[i] = NULL;
            continue;
        }
        size_t n = strlen(src[i]) + 1;
        memcpy(w, src[i], n);
        *dst[i] = w;
        w += n;
    }
    return 0;
}

/* authjob_new - an exchange; nothing of Cyrus is touched yet */
int authjob_new(struct authjob **out, const struct auth_server_params *p, struct loop *l,
                loop_post_fn *done, void *arg)
{
    struct authjob *j = calloc(1, sizeof(*j));
    if (!j)
        return -ENOMEM;
    j->params = *p;
    if (authjob_copy_strings(j, p) < 0) {
        free(j);
        return -ENOMEM;
    }
    j->loop = l;
    j->done = done;
    j->arg = arg;
    *out = j;
    return 0;
}

/* authjob_forget_input - wipe and free the step's copy of the client's response */
static void authjob_forget_input(struct authjob *j)
{
    if (j->in) {
        explicit_bzero(j->in, j->inlen);
        free(j->in);
    }
    free(j->mech);
    j->in = NULL;
    j->mech = NULL;
    j->inlen = 0;
    j->has_in = false;
}

/* authjob_run - on a pool thread: the Cyrus calls, which may block */
static void authjob_run(void *arg)
{
    struct authjob *j = arg;
    j->err = 0;
    j->out = j->why = j->user = NULL;
    j->outlen = 0;
    if (j->mech) {
        auth_server_free(j->as);
        j->as = NULL;
        j->err = auth_server_new(&j->as, &j->params);
    } else if (!j->as) {
        j->err = -EINVAL;
    }
    if (j->err == 0) {
        j->ar = auth_server_step(j->as, j->mech, j->has_in ? (const char *)j->in : NULL, j->inlen,
                                 &j->out, &j->outlen, &j->why);
        if (j->ar == AUTH_OK)
            j->user = auth_server_username(j->as);
    }
    authjob_forget_input(j);
}

/* authjob_post - on the pool thread: hand the outcome to the session's ring */
static void authjob_post(void *arg)
{
    struct authjob *j = arg;
    /* The outcome must reach the session; memory pressure is transient. */
    while (loop_post(j->loop, j->done, j->arg) < 0)
        usleep(1000);
}

/* authjob_step - copy the input and queue the step */
int authjob_step(struct authjob *j, struct pool *pool, const char *mech, const char *in,
                 size_t inlen)
{
    if (j->busy)
        return -EBUSY;
    if (mech && !(j->mech = strdup(mech)))
        return -ENOMEM;
    if (in) {
        j->in = malloc(inlen ? inlen : 1);
        if (!j->in) {
            authjob_forget_input(j);
            return -ENOMEM;
        }
        memcpy(j->in, in, inlen);
        j->inlen = inlen;
        j->has_in = true;
    }
    int rc = pool ? pool_submit(pool, authjob_run, authjob_post, j) : -ESHUTDOWN;
    if (rc < 0) {
        authjob_forget_input(j);
        return rc;
    }
    j->busy = true;
    return 0;
}

/* authjob_result - Cyrus's outcome as the protocol engine wants it */
void authjob_result(struct authjob *j, struct smtpd_auth_result *r)
{
    j->busy = false;
    memset(r, 0, sizeof(*r));
    if (j->err < 0) {
        r->status = j->err == -EINVAL ? SMTPD_AUTH_FAIL : SMTPD_AUTH_TEMPFAIL;
        r->why = j->err == -EINVAL   ? "no exchange in progress"
                 : j->err == -ENOMEM ? "out of memory"
                                     : "SASL back end unavailable";
        return;
    }
    r->why = j->why;
    switch (j->ar) {
    case AUTH_OK:
        r->status = SMTPD_AUTH_OK;
        r->username = j->user;
        break;
    case AUTH_CONTINUE:
        r->status = SMTPD_AUTH_CONTINUE;
        r->out = j->out;
        r->outlen = j->outlen;
        break;
    case AUTH_TEMPFAIL:
        r->status = SMTPD_AUTH_TEMPFAIL;
        break;
    case AUTH_FAIL:
    case AUTH_NOMECH:
        r->status = SMTPD_AUTH_FAIL;
        break;
    }
}

bool authjob_busy(const struct authjob *j)
{
    return j && j->busy;
}

/* authjob_free - end the exchange (Cyrus connection disposed of) */
void authjob_free(struct authjob *j)
{
    if (!j)
        return;
    authjob_forget_input(j);
    auth_server_free(j->as);
    free(j->strings);
    free(j);
}
