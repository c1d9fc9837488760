/*
 * NAME
 *	ternconfdoc - write tern.conf(5) from the parameter table (build time only)
 * SYNOPSIS
 *	ternconfdoc OUTFILE
 * DESCRIPTION
 *	core/CMakeLists.txt runs it to make tern.conf.5; not installed.
 */
#include <stdio.h>

#include "core/config/confdoc.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: ternconfdoc OUTFILE\n");
        return 2;
    }
    FILE *fp = fopen(argv[1], "w");
    if (!fp) {
        perror(argv[1]);
        return 1;
    }
    int rc = confdoc_write(fp, TERN_VERSION);
    if (fclose(fp) != 0 || rc < 0) {
        fprintf(stderr, "ternconfdoc: cannot write %s\n", argv[1]);
        return 1;
    }
    return 0;
}
