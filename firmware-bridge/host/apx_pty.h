/*
 * Opening the host side of a virtual serial line: a pseudo terminal whose slave end this process keeps open
 * (so the line stays up while hosts connect and disconnect), in raw mode without echo. Shared by apx_board and
 * the fault relay's pty_bridge. The includer defines _XOPEN_SOURCE 700 / _DEFAULT_SOURCE before any header.
 */
#ifndef APX_PTY_H
#define APX_PTY_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

/* Returns 0 and the master fd, the slave fd and the slave's path; on failure prints "<who>: ..." and returns 2. */
static int apx_open_raw_pty(const char *who, int *master_out, int *slave_out, const char **name_out)
{
    struct termios tio;
    const char *name = NULL;
    int master, slave;
    master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0 || (name = ptsname(master)) == NULL) {
        fprintf(stderr, "%s: ", who);
        perror("pseudo terminal");
        return 2;
    }
    slave = open(name, O_RDWR | O_NOCTTY);
    if (slave < 0 || tcgetattr(slave, &tio) != 0) {
        fprintf(stderr, "%s: ", who);
        perror("slave");
        return 2;
    }
    cfmakeraw(&tio);
    tio.c_cc[VMIN] = 1;
    tio.c_cc[VTIME] = 0;
    if (tcsetattr(slave, TCSANOW, &tio) != 0) {
        fprintf(stderr, "%s: ", who);
        perror("tcsetattr");
        return 2;
    }
    *master_out = master;
    *slave_out = slave;
    *name_out = name;
    return 0;
}

/* Writes all n bytes to fd, retrying on EINTR and waiting (poll, 100 ms) while a non-blocking fd is full.
 * 0, or -1 on any other write error. */
static int apx_write_all(int fd, const unsigned char *p, size_t n)
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

#endif
