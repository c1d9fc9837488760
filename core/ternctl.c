/*
 * NAME
 *	ternctl - talk to a running ternd
 * SYNOPSIS
 *	ternctl -c DIR queue [verify] | show ID | flush | hold ID | release ID | delete ID|ALL
 *	ternctl -c DIR tls-cache list | tls-cache purge | tlsrpt send | stats
 * DESCRIPTION
 *	Reads DIR/main.cf for queue_directory, connects to the daemon's control
 *	socket there, sends the command and prints the answer. Exit status 0 on
 *	success, 1 when the daemon reports an error, 2 for usage or connection
 *	problems.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/config/config.h"
#include "core/daemon/control.h"

static void usage(void)
{
    fprintf(
        stderr,
        "usage: ternctl -c CONFIG_DIR queue [verify] | show ID | flush | hold ID | release ID | "
        "delete ID|ALL | tls-cache list|purge | tlsrpt send | stats\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    int ch;
    while ((ch = getopt(argc, argv, "c:")) != -1) {
        if (ch == 'c')
            dir = optarg;
        else
            usage();
    }
    if (!dir || optind >= argc)
        usage();
    char line[512] = "";
    for (int i = optind; i < argc; i++) {
        if (strlen(line) + strlen(argv[i]) + 2 >= sizeof(line))
            usage();
        if (i > optind)
            strcat(line, " ");
        strcat(line, argv[i]);
    }
    strcat(line, "\n");

    struct tern_config *cfg;
    char *err = NULL;
    if (config_load(&cfg, dir, &err) < 0) {
        fprintf(stderr, "ternctl: fatal: %s\n", err ? err : "cannot load configuration");
        free(err);
        return 2;
    }
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", cfg->queue_directory,
                         CONTROL_SOCKET_NAME) >= sizeof(sun.sun_path)) {
        fprintf(stderr, "ternctl: fatal: control socket path too long\n");
        config_unref(cfg);
        return 2;
    }
    config_unref(cfg); /* LeakSanitizer builds: every exit below is clean */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        fprintf(stderr, "ternctl: fatal: cannot reach ternd at %s: %s (is it running?)\n",
                sun.sun_path, strerror(errno));
        return 2;
    }
    size_t len = strlen(line);
    if (write(fd, line, len) != (ssize_t)len) {
        fprintf(stderr, "ternctl: fatal: write to ternd: %s\n", strerror(errno));
        return 2;
    }
    FILE *in = fdopen(fd, "r");
    if (!in)
        return 2;
    char status[512];
    if (!fgets(status, sizeof(status), in)) {
        fprintf(stderr, "ternctl: fatal: ternd closed the connection without an answer\n");
        return 2;
    }
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        fwrite(buf, 1, n, stdout);
    fclose(in);
    if (strncmp(status, "ok", 2) != 0) {
        fprintf(stderr, "ternctl: %s", status);
        return 1;
    }
    return 0;
}
