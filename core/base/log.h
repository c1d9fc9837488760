/*
 * NAME
 *	log - maillog-format logging to syslog or maillog_file
 * SYNOPSIS
 *	log_open("tern", "/var/log/tern.log");
 *	log_info("smtpd", "%s: client=%s[%s]", qid, name, addr);
 *	log_warn("qmgr", "%s: cannot open: %s", path, strerror(-rc));
 * DESCRIPTION
 *	Every line looks like Postfix's: "Mon dd hh:mm:ss host tern/smtpd[pid]:
 *	text", so existing maillog tools work. The component ("smtpd", "smtp",
 *	"qmgr", "bounce", "master", "tls") goes after the syslog name. Callers put
 *	the queue ID or session ID first in the text.
 *
 *	Without maillog_file the lines go to syslog(3) (facility mail) and to
 *	stderr; with it, each line is one O_APPEND write(2), so threads need no
 *	lock. Safe to call from any thread. SIGHUP reopens maillog_file
 *	(log_reopen()), so logrotate can move it away and signal, as with
 *	Postfix's postlog: no line is lost and none goes to the old file after
 *	the signal.
 *
 *	Each line is made printable before it is written (base/printable.h:
 *	controls, C1 and bidi/format characters become '?', valid UTF-8
 *	stays), so text a peer supplied cannot forge or recolour log lines.
 *
 *	An event loop may gather its lines: log_batch_begin() once, log_flush()
 *	before each wait, log_batch_end() when it stops; its lines then go out
 *	in one write per turn (at most LOG_BATCH_SIZE, 16 KiB, held per
 *	thread). Warnings and worse are written at once. Only the thread's own
 *	lines are gathered: other threads write theirs line by line.
 *
 *	log_fatal() logs and exits(1): only at start-up or for a broken invariant.
 *	log_debug(level, ...) prints when level <= the level set by
 *	log_set_debug(), mirroring Postfix's *_loglevel parameters.
 */
#ifndef TERN_BASE_LOG_H
#define TERN_BASE_LOG_H

#include <stdarg.h>
#include <sys/types.h>

enum log_severity { LOG_SEV_DEBUG, LOG_SEV_INFO, LOG_SEV_WARN, LOG_SEV_ERROR, LOG_SEV_FATAL };

/* log_open - direct output; maillog_file NULL or "" means syslog+stderr. 0 or -errno */
int log_open(const char *syslog_name, const char *maillog_file);
/* log_reopen - open maillog_file again (logrotate moved it away); on failure the old
 * descriptor stays in use. 0 or -errno; 0 with syslog */
int log_reopen(void);
/* log_chown - give the open maillog file to uid:gid (0 or -errno; 0 with syslog) */
int log_chown(uid_t uid, gid_t gid);
void log_close(void);
void log_set_debug(int level);
int log_debug_level(void);
/* log_set_stderr - also copy every line to stderr (foreground start-up) */
void log_set_stderr(int on);

/* log_batch_begin/log_flush/log_batch_end - gather this thread's lines, write them */
void log_batch_begin(void);
void log_flush(void);
void log_batch_end(void);

void log_msg(enum log_severity sev, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vmsg(enum log_severity sev, const char *component, const char *fmt, va_list ap);
_Noreturn void log_fatal(const char *component, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_info(comp, ...) log_msg(LOG_SEV_INFO, comp, __VA_ARGS__)
#define log_warn(comp, ...) log_msg(LOG_SEV_WARN, comp, __VA_ARGS__)
#define log_error(comp, ...) log_msg(LOG_SEV_ERROR, comp, __VA_ARGS__)
#define log_debug(level, comp, ...)                                                                \
    do {                                                                                           \
        if ((level) <= log_debug_level())                                                          \
            log_msg(LOG_SEV_DEBUG, comp, __VA_ARGS__);                                             \
    } while (0)

#endif
