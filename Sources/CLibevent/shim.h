#ifndef MULTIPROC_EXPORTER_CLIBEVENT_SHIM_H
#define MULTIPROC_EXPORTER_CLIBEVENT_SHIM_H

/* System headers first: event2/event-config.h defines _GNU_SOURCE, and if <features.h> were
   first seen after that, this module's fd_set (fds_bits) would differ from the one in Glibc
   and CZlib (__fds_bits) and Swift refuses to merge the two definitions. */
#include <sys/types.h>
#include <sys/time.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdarg.h>
#include <unistd.h>
#include <sys/syscall.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <event2/listener.h>
#include <event2/bufferevent.h>

/* memfd_create(2) without _GNU_SOURCE games (see above): the system call itself. */
static inline int multiproc_memfd_create(const char *name, unsigned int flags) {
    return (int)syscall(SYS_memfd_create, name, flags);
}
#define MULTIPROC_MFD_CLOEXEC 1U

#endif
