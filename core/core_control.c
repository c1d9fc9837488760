/*
 * core_control - the control socket; see core_control.h.
 */
#include "core/core_control.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/core_daemon.h"
#include "core/core_log.h"
#include "core/core_stats.h"

struct control {
    struct tern_daemon *d;
    int fd;
    char path[108];
    pthread_t thread;
    bool running;
};

/* control_open - create the socket, replacing a stale one */
int control_open(struct control **out, struct tern_daemon *d, const char *queue_dir, char **err)
{
    struct control *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->d = d;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if ((size_t)snprintf(c->path, sizeof(c->path), "%s/%s", queue_dir, CONTROL_SOCKET_NAME) >=
        sizeof(sun.sun_path)) {
        asprintf(err, "control socket path too long: %s/%s", queue_dir, CONTROL_SOCKET_NAME);
        free(c);
        return -ENAMETOOLONG;
    }
    memcpy(sun.sun_path, c->path, strlen(c->path) + 1);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        goto fail;
    unlink(c->path);
    mode_t old = umask(0077);
    int rc = bind(c->fd, (struct sockaddr *)&sun, sizeof(sun));
    umask(old);
    if (rc < 0 || listen(c->fd, 16) < 0)
        goto fail;
    *out = c;
    return 0;
fail:;
    int e = errno;
    asprintf(err, "control socket %s: %s", c->path, strerror(e));
    if (c->fd >= 0)
        close(c->fd);
    free(c);
    return -e;
}

/* control_stats - the stats command */
static void control_stats(struct tern_daemon *d, FILE *fp)
{
    struct queue_stats st;
    queue_get_stats(d->queue, &st);
    unsigned long conns = 0;
    for (int i = 0; i < d->nworkers; i++)
        conns += atomic_load(&d->workers[i].connections_total);
    fprintf(fp, "messages_received %llu\n", (unsigned long long)st.received);
    fprintf(fp, "recipients_delivered %llu\n", (unsigned long long)st.delivered);
    fprintf(fp, "recipients_deferred %llu\n", (unsigned long long)st.deferred);
    fprintf(fp, "recipients_bounced %llu\n", (unsigned long long)st.bounced);
    fprintf(fp, "queue_commits %llu\n", (unsigned long long)st.commits);
    fprintf(fp, "queue_committed_messages %llu\n", (unsigned long long)st.committed_msgs);
    if (st.committed_msgs)
        fprintf(fp, "queue_flushes_per_message %.4f\n",
                (double)st.commits / (double)st.committed_msgs);
    fprintf(fp, "queue_size %llu\n", (unsigned long long)st.queue_size);
    fprintf(fp, "inbound_connections %lu\n", conns);
    for (int i = 0; i < STAT_COUNT; i++)
        fprintf(fp, "%s %llu\n", stats_name((enum stat_id)i),
                (unsigned long long)stats_get((enum stat_id)i));
}

/* control_serve - answer one request */
static void control_serve(struct control *c, int fd)
{
    char line[512];
    size_t n = 0;
    while (n < sizeof(line) - 1) {
        ssize_t r = read(fd, line + n, 1);
        if (r <= 0 || line[n] == '\n')
            break;
        n++;
    }
    line[n] = 0;
    char *cmd = strtok(line, " \t\r");
    char *arg = strtok(NULL, " \t\r");
    char *out = NULL;
    size_t outlen = 0;
    FILE *fp = open_memstream(&out, &outlen);
    if (!fp)
        return;
    int rc = 0;
    struct queue *q = c->d->queue;
    if (!cmd) {
        rc = -EINVAL;
    } else if (!strcmp(cmd, "queue") || !strcmp(cmd, "list")) {
        rc = queue_ctl_list(q, fp);
    } else if (!strcmp(cmd, "show") && arg) {
        rc = queue_ctl_show(q, arg, fp);
    } else if (!strcmp(cmd, "flush")) {
        rc = queue_ctl_flush(q);
    } else if (!strcmp(cmd, "hold") && arg) {
        rc = queue_ctl_hold(q, arg);
    } else if (!strcmp(cmd, "release") && arg) {
        rc = queue_ctl_release(q, arg);
    } else if (!strcmp(cmd, "delete") && arg) {
        rc = queue_ctl_delete(q, arg);
    } else if (!strcmp(cmd, "stats")) {
        control_stats(c->d, fp);
    } else {
        rc = -EINVAL;
    }
    fclose(fp);
    FILE *sock = fdopen(dup(fd), "w");
    if (sock) {
        if (rc == -EINVAL && (!cmd || !arg))
            fprintf(sock, "error: usage: queue | show ID | flush | hold ID | release ID | delete ID|ALL | stats\n");
        else if (rc == -ENOENT)
            fprintf(sock, "error: %s: no such message in the queue\n", arg ? arg : "");
        else if (rc < 0)
            fprintf(sock, "error: %s\n", strerror(-rc));
        else
            fprintf(sock, "ok\n");
        if (out && outlen)
            fwrite(out, 1, outlen, sock);
        fclose(sock);
    }
    free(out);
}

static void *control_main(void *arg)
{
    struct control *c = arg;
    for (;;) {
        int fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break; /* closed by control_stop */
        }
        control_serve(c, fd);
        close(fd);
    }
    return NULL;
}

int control_start(struct control *c)
{
    int rc = -pthread_create(&c->thread, NULL, control_main, c);
    c->running = rc == 0;
    return rc;
}

/* control_stop - wake the thread out of accept and join it */
void control_stop(struct control *c)
{
    if (!c)
        return;
    shutdown(c->fd, SHUT_RDWR);
    if (c->running)
        pthread_join(c->thread, NULL);
    close(c->fd);
    unlink(c->path);
    free(c);
}
