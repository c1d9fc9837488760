/*
 * log - maillog-format logging; see base/log.h.
 *
 * Every line is made printable (base/printable.h) after it is formatted:
 * peer-supplied text (EHLO names, addresses, usernames, remote replies)
 * reaches log lines through many call sites, and one pass here covers all
 * of them, so no ESC sequence, BEL, VT/FF or bidi override ever reaches a
 * maillog or a terminal that shows it. Valid UTF-8 is kept (SMTPUTF8).
 *
 * Batching (log_batch_begin/log_flush/log_batch_end): an event loop gathers
 * the lines of one turn in a per-thread buffer of LOG_BATCH_SIZE octets and
 * writes them with one write(2) before it sleeps, instead of one write per
 * line (five lines a message made logging a tenth of ternd's CPU in bench
 * small, issue 13). A line waits at most one turn of its loop; warnings
 * and worse are written at once, after the lines before them. Lines are
 * whole in every write, so O_APPEND keeps threads from splitting them.
 */
#include "core/base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "core/base/printable.h"

static char log_name[64] = "tern";
static char log_host[256] = "localhost";
static atomic_int log_fd = -1;
static atomic_int log_debug_lvl = 0;
static atomic_int log_to_stderr = 1;
static char log_path[4096]; /* maillog_file, for log_reopen(); "" with syslog */
static atomic_int log_pid;  /* getpid() once: ternd does not fork a logging process */

#define LOG_BATCH_SIZE 16384 /* per batching thread: about 80 lines */
static _Thread_local struct {
    int on;     /* inside log_batch_begin .. log_batch_end */
    size_t len; /* octets gathered */
    char buf[LOG_BATCH_SIZE];
} batch;
static _Thread_local struct {
    time_t sec; /* the second stamp[] shows */
    char stamp[32];
} clock_cache;

/* log_open - choose the destination */
int log_open(const char *syslog_name, const char *maillog_file)
{
    if (syslog_name && *syslog_name)
        snprintf(log_name, sizeof(log_name), "%s", syslog_name);
    gethostname(log_host, sizeof(log_host) - 1);
    char *dot = strchr(log_host, '.');
    if (dot)
        *dot = 0;
    if (maillog_file && *maillog_file) {
        int fd = open(maillog_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (fd < 0)
            return -errno;
        int old = atomic_exchange(&log_fd, fd);
        if (old >= 0)
            close(old);
        atomic_store(&log_to_stderr, 0);
        snprintf(log_path, sizeof(log_path), "%s", maillog_file);
    } else {
        openlog(log_name, LOG_PID | LOG_NDELAY, LOG_MAIL);
    }
    return 0;
}

/* log_reopen - SIGHUP: open maillog_file anew (rotated away), then close the old one */
int log_reopen(void)
{
    if (!log_path[0])
        return 0;
    int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    /* dup3 swaps the file behind the descriptor number atomically: a thread that has just
     * loaded log_fd writes to the old file or the new one, never to a closed (and perhaps
     * reused) number, as close-then-swap would allow */
    int cur = atomic_load(&log_fd);
    if (cur < 0) {
        atomic_store(&log_fd, fd);
        return 0;
    }
    int rc = dup3(fd, cur, O_CLOEXEC) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

/* log_chown - before privileges drop: the maillog file becomes the daemon user's, so that
 * log_reopen() of the same file works after the drop */
int log_chown(uid_t uid, gid_t gid)
{
    int fd = atomic_load(&log_fd);
    if (fd < 0)
        return 0;
    return fchown(fd, uid, gid) < 0 ? -errno : 0;
}

/* log_close - close the maillog file */
void log_close(void)
{
    int old = atomic_exchange(&log_fd, -1);
    if (old >= 0)
        close(old);
}

void log_set_debug(int level)
{
    atomic_store(&log_debug_lvl, level);
}

int log_debug_level(void)
{
    return atomic_load(&log_debug_lvl);
}

void log_set_stderr(int on)
{
    atomic_store(&log_to_stderr, on);
}

static const char *sev_prefix(enum log_severity sev)
{
    switch (sev) {
    case LOG_SEV_WARN:
        return "warning: ";
    case LOG_SEV_ERROR:
        return "error: ";
    case LOG_SEV_FATAL:
        return "fatal: ";
    default:
        return "";
    }
}

/* put - write LEN octets of whole lines to the maillog file and, when asked, stderr */
static void put(int fd, const char *p, size_t len)
{
    if (fd >= 0 && write(fd, p, len) < 0) {
        /* nowhere left to report it */
    }
    if (atomic_load(&log_to_stderr) && write(2, p, len) < 0) {
    }
}

/* log_flush - write what this thread gathered */
void log_flush(void)
{
    if (batch.len == 0)
        return;
    put(atomic_load(&log_fd), batch.buf, batch.len);
    batch.len = 0;
}

/* log_batch_begin - gather this thread's lines until log_flush() or log_batch_end() */
void log_batch_begin(void)
{
    batch.on = 1;
}

/* log_batch_end - write what was gathered; lines go out one by one again */
void log_batch_end(void)
{
    log_flush();
    batch.on = 0;
}

/* stamp - "Mon dd hh:mm:ss" of now, formatted once a second per thread */
static const char *stamp(void)
{
    time_t now = time(NULL);
    if (now != clock_cache.sec || !clock_cache.stamp[0]) {
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(clock_cache.stamp, sizeof(clock_cache.stamp), "%b %e %H:%M:%S", &tm);
        clock_cache.sec = now;
    }
    return clock_cache.stamp;
}

/* log_vmsg - format one line and write it (or gather it, see log_batch_begin) */
void log_vmsg(enum log_severity sev, const char *component, const char *fmt, va_list ap)
{
    int saved = errno;
    char text[2048];
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    if (n < 0)
        return;
    printable_fix(text, PRINTABLE_UTF8);
    int fd = atomic_load(&log_fd);
    if (fd < 0) {
        static const int prio[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR, LOG_CRIT};
        syslog(LOG_MAIL | prio[sev], "%s%s", sev_prefix(sev), text);
    }
    if (fd >= 0 || atomic_load(&log_to_stderr)) {
        char line[2400];
        int pid = atomic_load(&log_pid);
        if (pid == 0)
            atomic_store(&log_pid, pid = (int)getpid());
        int len = snprintf(line, sizeof(line), "%s %s %s/%s[%d]: %s%s\n", stamp(), log_host,
                           log_name, component, pid, sev_prefix(sev), text);
        if (len > (int)sizeof(line) - 1) {
            len = (int)sizeof(line) - 1;
            line[len - 1] = '\n';
        }
        if (!batch.on || fd < 0) {
            put(fd, line, (size_t)len);
        } else {
            if (batch.len + (size_t)len > sizeof(batch.buf))
                log_flush();
            memcpy(batch.buf + batch.len, line, (size_t)len);
            batch.len += (size_t)len;
            if (sev >= LOG_SEV_WARN)
                log_flush();
        }
    }
    errno = saved;
}

/* log_msg - printf-style front end */
void log_msg(enum log_severity sev, const char *component, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(sev, component, fmt, ap);
    va_end(ap);
}

/* log_fatal - log and exit; start-up errors and broken invariants only */
void log_fatal(const char *component, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(LOG_SEV_FATAL, component, fmt, ap);
    va_end(ap);
    if (atomic_load(&log_fd) >= 0 && !atomic_load(&log_to_stderr)) {
        /* make start-up failures visible on the terminal too */
        va_start(ap, fmt);
        fprintf(stderr, "ternd: fatal: ");
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
    exit(1);
}
