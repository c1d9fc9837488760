/*
 * NAME
 *	hash - FNV-1a, 32 and 64 bits
 * SYNOPSIS
 *	uint32_t h = hash_fnv32_str(HASH_FNV32_START, nexthop);
 *	uint64_t d = hash_fnv64(HASH_FNV64_START, &st.st_ino, sizeof(st.st_ino));
 *	d = hash_fnv64_str(d, "more");            // continues d
 * DESCRIPTION
 *	The one hash of tern's in-memory tables (destinations, anvil's clients,
 *	queue IDs, interned table values, the session cache's write queue), of its
 *	worker choice per next hop, and of the digests that tell two versions of a
 *	file or of a parameter set apart. Each call continues the hash it is given,
 *	so a key made of parts is hashed without joining them first.
 *
 *	Not a keyed hash: a peer that chooses the keys can make them collide. The
 *	tables hashed here are keyed by what tern or its administrator chose (next
 *	hops, queue IDs, table values) or bounded in size (anvil).
 */
#ifndef TERN_BASE_HASH_H
#define TERN_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV32_START 2166136261u
#define HASH_FNV64_START 1469598103934665603ull

/* hash_fnv32 - continue h over n bytes */
static inline uint32_t hash_fnv32(uint32_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

/* hash_fnv32_str - continue h over a string, without its NUL */
static inline uint32_t hash_fnv32_str(uint32_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

/* hash_fnv64 - continue h over n bytes */
static inline uint64_t hash_fnv64(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* hash_fnv64_str - continue h over a string, without its NUL */
static inline uint64_t hash_fnv64_str(uint64_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h;
}

#endif
