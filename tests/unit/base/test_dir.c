/*
 * test_dir - dir_make: parents made, an existing directory accepted, a file in the way refused
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/dir.h"
#include "core/base/tmpdir.h"

static void test_dir_make(void **state)
{
    char top[256], path[512];
    struct stat st;
    assert_int_equal(tmpdir_make(top, sizeof(top), "tern-test-dir"), 0);

    snprintf(path, sizeof(path), "%s/a/b/c", top);
    assert_int_equal(dir_make(path, 0700), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(dir_make(path, 0700), 0); /* exists: fine */

    snprintf(path, sizeof(path), "%s/file", top);
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(dir_make(path, 0700), -ENOTDIR);
    snprintf(path, sizeof(path), "%s/file/sub", top);
    assert_int_equal(dir_make(path, 0700), -ENOTDIR);

    char *longp = malloc(PATH_MAX + 16);
    assert_non_null(longp);
    memset(longp, 'x', PATH_MAX + 15);
    longp[0] = '/';
    longp[PATH_MAX + 15] = 0;
    assert_int_equal(dir_make(longp, 0700), -ENAMETOOLONG);
    free(longp);

    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dir_make),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
