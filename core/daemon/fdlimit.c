/*
 * fdlimit - raise RLIMIT_NOFILE, derive the inbound cap; see daemon/fdlimit.h.
 */
#include "core/daemon/fdlimit.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <sys/resource.h>

#define FDLIMIT_NR_OPEN "/proc/sys/fs/nr_open"
#define FDLIMIT_NR_OPEN_DEFAULT 1048576ul

/* fdlimit_nr_open - the kernel's ceiling for RLIMIT_NOFILE */
static unsigned long fdlimit_nr_open(void)
{
    unsigned long n = 0;
    FILE *fp = fopen(FDLIMIT_NR_OPEN, "re");
    if (fp) {
        if (fscanf(fp, "%lu", &n) != 1)
            n = 0;
        fclose(fp);
    }
    return n > 0 ? n : FDLIMIT_NR_OPEN_DEFAULT;
}

/* fdlimit_raise - soft RLIMIT_NOFILE up to the hard limit */
int fdlimit_raise(struct fdlimit *out)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -errno;
    unsigned long hard =
        rl.rlim_max == RLIM_INFINITY ? fdlimit_nr_open() : (unsigned long)rl.rlim_max;
    out->before = out->after = (unsigned long)rl.rlim_cur;
    out->hard = hard;
    if (rl.rlim_cur != RLIM_INFINITY && (unsigned long)rl.rlim_cur >= hard)
        return 0;
    rl.rlim_cur = (rlim_t)hard;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -errno;
    out->after = hard;
    return 0;
}

/* fdlimit_inbound - half of what the reserve leaves, at least 1 */
int fdlimit_inbound(unsigned long nofile, int nworkers, size_t nlisteners)
{
    unsigned long workers = nworkers > 0 ? (unsigned long)nworkers : 1;
    unsigned long reserve = FDLIMIT_RESERVE + workers * (FDLIMIT_PER_WORKER + nlisteners);
    if (nofile <= reserve + 2)
        return 1;
    unsigned long n = (nofile - reserve) / 2;
    return n > INT_MAX ? INT_MAX : (int)n;
}
