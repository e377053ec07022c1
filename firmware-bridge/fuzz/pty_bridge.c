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

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { (void)sig; g_stop = 1; }

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                struct pollfd pf;
                pf.fd = fd;
                pf.events = POLLOUT;
                pf.revents = 0;
                (void)poll(&pf, 1, 100);
                continue;
            }
            return -1;
        }
        p += (size_t)w;
        n -= (size_t)w;
    }
    return 0;
}

int main(void)
{
    int master, slave;
    const char *name;
    struct termios tio;
    struct sigaction sa;
    static unsigned char buf[65536];
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0 || (name = ptsname(master)) == NULL) {
        perror("pty_bridge: pseudo terminal");
        return 2;
    }
    slave = open(name, O_RDWR | O_NOCTTY);
    if (slave < 0 || tcgetattr(slave, &tio) != 0) {
        perror("pty_bridge: slave");
        return 2;
    }
    cfmakeraw(&tio);
    tio.c_cc[VMIN] = 1;
    tio.c_cc[VTIME] = 0;
    if (tcsetattr(slave, TCSANOW, &tio) != 0) {
        perror("pty_bridge: tcsetattr");
        return 2;
    }
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
            if (r > 0 && write_all(1, buf, (size_t)r) != 0) break;
        }
        if (pf[1].revents & (POLLIN | POLLHUP)) {
            ssize_t r = read(0, buf, sizeof buf);
            if (r <= 0) break; /* the relay is gone or cut the line */
            if (write_all(master, buf, (size_t)r) != 0) break;
        }
    }
    close(slave);
    close(master);
    return 0;
}
