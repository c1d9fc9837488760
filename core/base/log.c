/*
 * log - maillog-format logging; see base/log.h.
 *
 * Every line is made printable (base/printable.h) after it is formatted:
 * peer-supplied text (EHLO names, addresses, usernames, remote replies)
 * reaches log lines through many call sites, and one pass here covers all
 * of them, so no ESC sequence, BEL, VT/FF or bidi override ever reaches a
 * maillog or a terminal that shows it. Valid UTF-8 is kept (SMTPUTF8).
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

/* log_vmsg - format one line and write it */
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
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        char stamp[32];
        strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
        int len = snprintf(line, sizeof(line), "%s %s %s/%s[%ld]: %s%s\n", stamp, log_host,
                           log_name, component, (long)getpid(), sev_prefix(sev), text);
        if (len > (int)sizeof(line) - 1) {
            len = (int)sizeof(line) - 1;
            line[len - 1] = '\n';
        }
        if (fd >= 0 && write(fd, line, (size_t)len) < 0) {
            /* nowhere left to report it */
        }
        if (atomic_load(&log_to_stderr) && write(2, line, (size_t)len) < 0) {
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
