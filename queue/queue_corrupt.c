/*
 * NAME
 *	queue_corrupt - the corrupt queue: damaged records kept for the operator
 * SYNOPSIS
 *	queue_corrupt_save(q, txn, key, keylen, why);  // copy a record out, fsync'd
 *	queue_corrupt_report(q, qid, why);             // any thread: content failed its CRC
 *	n = queue_corrupt_take(q);                     // queue thread: quarantine reported ones
 *	queue_corrupt_list(dir, snapshot);             // what the corrupt queue holds
 * DESCRIPTION
 *	Like Postfix's "corrupt" queue: a record that fails verification is
 *	never delivered, never skipped in silence, and never deleted without a
 *	copy. queue_corrupt_save() writes the raw envelope record to
 *	queue_directory/corrupt/NAME.env and the raw content (when it can be
 *	read) to NAME.body, both flushed to disk, before the caller removes
 *	the message from the live queue; NAME is the queue ID (or "badkey-"
 *	and the key in hex when the key itself is damaged). It logs once per
 *	record, with the queue ID:
 *	  warning: QID: saving corrupt queue record (WHY) to corrupt/QID
 *
 *	A delivery that finds the content damaged (queue_store_body_load) cannot
 *	write: it reports the queue ID, and the queue thread moves the message
 *	on its next turn. Reports wait in a fixed array of
 *	QUEUE_CORRUPT_PENDING entries under the queue lock; a report that finds
 *	it full is dropped, and the same damage is reported again at the
 *	message's next delivery attempt (nothing is lost, it only waits).
 *
 *	The corrupt queue is counted (queue_stats.corrupt, metrics) and listed
 *	by `ternctl queue`; the operator inspects and removes the files.
 * DIAGNOSTICS
 *	queue_corrupt_save() returns 0 or -errno (the record then stays where
 *	it is, and is not removed).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/dir.h"
#include "core/base/log.h"
#include "queue/queue_impl.h"

/* write_file - create path with data, flushed; 0 or -errno */
static int write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    const char *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        p += n;
        len -= (size_t)n;
    }
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

/* corrupt_dir - queue_directory/corrupt, created if missing */
static int corrupt_dir(const char *qdir, char *out, size_t outlen)
{
    if ((size_t)snprintf(out, outlen, "%s/corrupt", qdir) >= outlen)
        return -ENAMETOOLONG;
    return dir_make(out, 0700);
}

/* corrupt_name - the file name for a key: the queue ID, or "badkey-" and hex */
static void corrupt_name(char *name, size_t len, const void *key, size_t keylen)
{
    if (queue_id_valid(key, keylen)) {
        snprintf(name, len, "%.*s", (int)keylen, (const char *)key);
        return;
    }
    size_t n = (size_t)snprintf(name, len, "badkey-");
    for (size_t i = 0; i < keylen && n + 3 < len; i++)
        n += (size_t)snprintf(name + n, len - n, "%02x", ((const unsigned char *)key)[i]);
}

/* queue_corrupt_write - write NAME.env / NAME.body (each when not NULL), flushed */
int queue_corrupt_write(const char *qdir, const char *name, const void *env, size_t envlen,
                        const void *body, size_t bodylen)
{
    char dir[4096], path[4200];
    int rc = corrupt_dir(qdir, dir, sizeof(dir));
    if (rc < 0)
        return rc;
    if (env) {
        snprintf(path, sizeof(path), "%s/%s.env", dir, name);
        if ((rc = write_file(path, env, envlen)) < 0)
            return rc;
    }
    if (body) {
        snprintf(path, sizeof(path), "%s/%s.body", dir, name);
        if ((rc = write_file(path, body, bodylen)) < 0)
            return rc;
    }
    (void)dir_sync(dir);
    return 0;
}

/* queue_corrupt_save - copy the records under key out of the live queue */
int queue_corrupt_save(struct queue *q, MDB_txn *txn, const void *key, size_t keylen,
                       const char *why)
{
    char name[64];
    MDB_val k = {keylen, (void *)key}, v, b;
    corrupt_name(name, sizeof(name), key, keylen);
    bool has_env = mdb_get(txn, q->dbi_env, &k, &v) == 0;
    bool has_body = mdb_get(txn, q->dbi_body, &k, &b) == 0;
    /* an envelope-less record still gets an (empty) .env: the corrupt queue lists .env files */
    int rc =
        queue_corrupt_write(q->directory, name, has_env ? v.mv_data : "", has_env ? v.mv_size : 0,
                            has_body ? b.mv_data : NULL, has_body ? b.mv_size : 0);
    if (rc < 0) {
        log_warn("qmgr",
                 "%s: corrupt queue record (%s) cannot be saved to %s/corrupt: %s: left in "
                 "place",
                 name, why, q->directory, strerror(-rc));
        return rc;
    }
    atomic_fetch_add(&q->st_corrupt, 1);
    log_warn("qmgr", "%s: saving corrupt queue record (%s) to corrupt/%s", name, why, name);
    return 0;
}

/* queue_corrupt_report - a reader found qid damaged: have the queue thread move it */
void queue_corrupt_report(struct queue *q, const char *qid, const char *why)
{
    pthread_mutex_lock(&q->lock);
    bool known = false;
    for (size_t i = 0; i < q->corrupt_n && !known; i++)
        known = strcmp(q->corrupt_in[i].qid, qid) == 0;
    if (!known && q->corrupt_n < QUEUE_CORRUPT_PENDING) {
        snprintf(q->corrupt_in[q->corrupt_n].qid, sizeof(q->corrupt_in[0].qid), "%s", qid);
        q->corrupt_in[q->corrupt_n].why = why;
        q->corrupt_n++;
        queue_thread_wake_locked(q);
    }
    pthread_mutex_unlock(&q->lock);
}

/* queue_corrupt_take - quarantine every reported message (queue thread); how many */
size_t queue_corrupt_take(struct queue *q)
{
    struct queue_corrupt_ent v[QUEUE_CORRUPT_PENDING];
    size_t n, moved = 0;
    pthread_mutex_lock(&q->lock);
    n = q->corrupt_n;
    memcpy(v, q->corrupt_in, n * sizeof(v[0]));
    q->corrupt_n = 0;
    pthread_mutex_unlock(&q->lock);
    if (n == 0)
        return 0;
    MDB_txn *txn = NULL;
    if (mdb_txn_begin(q->env, NULL, MDB_RDONLY, &txn) != 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        struct qmsg *m = queue_sched_find(q, v[i].qid);
        if (!m || m->removed)
            continue;
        if (queue_corrupt_save(q, txn, m->qid, QUEUE_ID_LEN, v[i].why) < 0)
            continue;
        queue_ctl_drop(q, m);
        moved++;
    }
    mdb_txn_abort(txn);
    return moved;
}

/* queue_corrupt_list - the corrupt queue's entries into s; how many, or -errno */
int queue_corrupt_list(const char *qdir, struct queue_snapshot *s)
{
    char dir[4096];
    if ((size_t)snprintf(dir, sizeof(dir), "%s/corrupt", qdir) >= sizeof(dir))
        return -ENAMETOOLONG;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    int rc = 0;
    size_t cap = 0;
    struct dirent *de;
    if (!(s->corrupt_dir = strdup(dir)))
        rc = -ENOMEM;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 4, ".env") != 0)
            continue;
        if (s->ncorrupt == cap) {
            cap = cap ? cap * 2 : 16;
            char **v = realloc(s->corrupt, cap * sizeof(*v));
            if (!v) {
                rc = -ENOMEM;
                break;
            }
            s->corrupt = v;
        }
        if (!(s->corrupt[s->ncorrupt] = strndup(de->d_name, len - 4)))
            rc = -ENOMEM;
        else
            s->ncorrupt++;
    }
    closedir(d);
    return rc < 0 ? rc : (int)s->ncorrupt;
}
