/*
 * NAME
 *	queue_corrupt - the corrupt queue: damaged records kept for the operator
 * SYNOPSIS
 *	queue_corrupt_save(q, txn, key, keylen, why);  // copy a record out, fsync'd
 *	queue_corrupt_report(q, qid, why);             // any thread: content failed its CRC
 *	n = queue_corrupt_take(q);                     // queue thread: quarantine reported ones
 *	queue_corrupt_list(dir, fp);                   // what the corrupt queue holds
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
 *	A delivery that finds the content damaged (queue_body_load) cannot
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

#include "core/core_log.h"
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
    if (mkdir(out, 0700) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* queue_corrupt_save - copy the records under key out of the live queue */
int queue_corrupt_save(struct queue *q, MDB_txn *txn, const void *key, size_t keylen,
                       const char *why)
{
    char dir[4096], name[64], path[4200];
    MDB_val k = {keylen, (void *)key}, v;
    int rc = corrupt_dir(q->directory, dir, sizeof(dir));
    if (rc < 0)
        goto fail;
    if (queue_id_valid(key, keylen)) {
        snprintf(name, sizeof(name), "%.*s", (int)keylen, (const char *)key);
    } else {
        size_t n = snprintf(name, sizeof(name), "badkey-");
        for (size_t i = 0; i < keylen && n + 3 < sizeof(name); i++)
            n += (size_t)snprintf(name + n, sizeof(name) - n, "%02x",
                                  ((const unsigned char *)key)[i]);
    }
    if (mdb_get(txn, q->dbi_env, &k, &v) == 0) {
        snprintf(path, sizeof(path), "%s/%s.env", dir, name);
        if ((rc = write_file(path, v.mv_data, v.mv_size)) < 0)
            goto fail;
    }
    if (mdb_get(txn, q->dbi_body, &k, &v) == 0) {
        snprintf(path, sizeof(path), "%s/%s.body", dir, name);
        if ((rc = write_file(path, v.mv_data, v.mv_size)) < 0)
            goto fail;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    atomic_fetch_add(&q->st_corrupt, 1);
    log_warn("qmgr", "%s: saving corrupt queue record (%s) to corrupt/%s", name, why, name);
    return 0;
fail:
    log_warn("qmgr", "%s: corrupt queue record (%s) cannot be saved to %s: %s: left in place", name,
             why, dir, strerror(-rc));
    return rc;
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

/* queue_corrupt_list - the corrupt queue's entries to fp; how many, or -errno */
int queue_corrupt_list(const char *qdir, FILE *fp)
{
    char dir[4096];
    if ((size_t)snprintf(dir, sizeof(dir), "%s/corrupt", qdir) >= sizeof(dir))
        return -ENAMETOOLONG;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 4, ".env") != 0)
            continue;
        if (fp)
            fprintf(fp, "%.*s# (corrupt: kept in %s)\n", (int)(len - 4), de->d_name, dir);
        n++;
    }
    closedir(d);
    return n;
}
