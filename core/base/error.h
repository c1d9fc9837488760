/*
 * NAME
 *	error - tern's error numbers and their text
 * DESCRIPTION
 *	Functions return 0/>=0 on success and -errno on failure. Errors with no
 *	errno equivalent use the reserved range below -TERN_ERR_BASE;
 *	error_str() names both kinds.
 */
#ifndef TERN_BASE_ERROR_H
#define TERN_BASE_ERROR_H

#define TERN_ERR_BASE 10000
enum {
    TERN_ERR_CONFIG = TERN_ERR_BASE + 1, /* bad configuration value */
    TERN_ERR_PROTOCOL,                   /* peer violated the protocol */
    TERN_ERR_DNS,                        /* name service failure */
};

/* error_str - text for a negative return value (e.g. -ENOENT, -TERN_ERR_CONFIG) */
const char *error_str(int err);

/* error_set - replace *err with a malloc'd message; err may be NULL (then nothing happens) */
void error_set(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* error_set_first - as error_set, but keeps a message already in *err: the first error wins
 * (a loader that goes on after an error to report the one that caused the rest) */
void error_set_first(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
