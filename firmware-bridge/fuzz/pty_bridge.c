/*
 * pty_bridge — a pseudo terminal wired to stdin/stdout, for src/devices/faultRelay.ts (Node has no pty API).
 *
 *   pty_bridge
 *
 * Opens a pty (raw mode, slave kept open so the line stays up between host connections), prints the slave path
 * as the first line on stdout, then copies bytes the host writes to the pty onto stdout and bytes read from
 * stdin into the pty. Exits when stdin reaches EOF or on SIGTERM/SIGINT: closing the master is the line cut
 * (the host sees the serial line close). No fault logic here: faults are injected by the relay in TypeScript.
 */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "../host/apx_pty.h"

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { (void)sig; g_stop = 1; }


int main(void)
{
    int master, slave;
    const char *name;
    struct sigaction sa;
    static unsigned char buf[65536];
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (apx_open_raw_pty("pty_bridge", &master, &slave, &name) != 0) return 2;
    printf("%s\n", name);
    fflush(stdout);
    while (!g_stop) {
        struct pollfd pf[2];
        pf[0].fd = master;
        pf[0].events = POLLIN;
        pf[0].revents = 0;
        pf[1].fd = 0;
        pf[1].events = POLLIN;
        pf[1].revents = 0;
        if (poll(pf, 2, 200) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (pf[0].revents & POLLIN) {
            ssize_t r = read(master, buf, sizeof buf);
            if (r > 0 && apx_write_all(1, buf, (size_t)r) != 0) break;
        }
        if (pf[1].revents & (POLLIN | POLLHUP)) {
            ssize_t r = read(0, buf, sizeof buf);
            if (r <= 0) break; /* the relay is gone or cut the line */
            if (apx_write_all(master, buf, (size_t)r) != 0) break;
        }
    }
    close(slave);
    close(master);
    return 0;
}
