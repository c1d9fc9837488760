/*
 * auth_internal - what auth/auth.c shares with auth/auth_server.c and auth/auth_client.c
 *
 * Calls on one Cyrus connection take no lock (see auth/auth.h for why that is safe); only
 * auth_init() does, inside auth/auth.c.
 */
#ifndef TERN_AUTH_AUTH_INTERNAL_H
#define TERN_AUTH_AUTH_INTERNAL_H

#include <sasl/sasl.h>

/* AUTH_CB - a typed callback in Cyrus's generic slot (through void (*)(void), which GCC's
 * -Wcast-function-type lets through: Cyrus calls it back with its real type) */
#define AUTH_CB(fn) ((int (*)(void))(void (*)(void))(fn))

/* auth_secprops - Cyrus security properties for POLICY_SASL_* flags (no security layer) */
void auth_secprops(unsigned secflags, sasl_security_properties_t *sp);
/* auth_map_result - Cyrus result code to enum auth_result */
int auth_map_result(int rc);

#endif
