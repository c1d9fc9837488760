/*
 * redis_worker - the thread a node talks to Redis from; see redis/redis_worker.h.
 */
#include "core/redis/redis_worker.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/base/log.h"
#include "core/base/time.h"

#define LOG_MS 60000

int redis_worker_start(struct redis_worker *w, void *(*run)(void *), void *arg)
{
    if ((w->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
        return -errno;
    pthread_mutex_init(&w->mu, NULL);
    int rc = pthread_create(&w->thread, NULL, run, arg);
    if (rc != 0) {
        close(w->wake);
        pthread_mutex_destroy(&w->mu);
        return -rc;
    }
    return 0;
}

void redis_worker_ring(struct redis_worker *w)
{
    uint64_t one = 1;
    (void)!write(w->wake, &one, sizeof(one));
}

bool redis_worker_wait(struct redis_worker *w, int fd, int ms)
{
    struct pollfd p[2] = {{.fd = w->wake, .events = POLLIN}, {.fd = fd, .events = POLLIN}};
    if (poll(p, fd >= 0 ? 2 : 1, ms) <= 0)
        return false;
    if (p[0].revents & POLLIN) {
        uint64_t v;
        (void)!read(w->wake, &v, sizeof(v));
    }
    return fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR));
}

void redis_worker_down(struct redis_worker *w, const char *why)
{
    unsigned long n;
    uint64_t now = time_mono_ms();
    w->retry_at = now + REDIS_WORKER_RETRY_MS;
    w->away = true;
    bool due = lograte_tick(&w->down_log, now, LOG_MS, &n); /* counts every outage */
    if (atomic_exchange(&w->up, false) || due)
        log_warn(w->facility, "redis %s: %s; %s until Redis is back (retry every %d ms)",
                 w->conf->path, why, w->meanwhile, REDIS_WORKER_RETRY_MS);
}

bool redis_worker_up(struct redis_worker *w)
{
    atomic_store(&w->up, true);
    lograte_reset(&w->down_log); /* the next outage is told at once */
    bool was = w->away;
    w->away = false;
    return was;
}

void redis_worker_join(struct redis_worker *w)
{
    atomic_store(&w->stop, true);
    redis_worker_ring(w);
    pthread_join(w->thread, NULL);
}

void redis_worker_free(struct redis_worker *w)
{
    close(w->wake);
    pthread_mutex_destroy(&w->mu);
}
