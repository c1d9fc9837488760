/*
 * heap - the malloc settings of a process that runs conns; see base/heap.h.
 */
#include "core/base/heap.h"

#include <malloc.h>

#define HEAP_MMAP_THRESHOLD (4 << 20)  /* larger blocks are mapped */
#define HEAP_TRIM_THRESHOLD (32 << 20) /* free memory kept at an arena's top before a trim */

/* heap_tune - keep freed memory for reuse instead of handing it back on every free */
void heap_tune(void)
{
    mallopt(M_MMAP_THRESHOLD, HEAP_MMAP_THRESHOLD);
    mallopt(M_TRIM_THRESHOLD, HEAP_TRIM_THRESHOLD);
}
