#ifndef MULTIPROC_EXPORTER_CLIBEVENT_OPENSSL_SHIM_H
#define MULTIPROC_EXPORTER_CLIBEVENT_OPENSSL_SHIM_H

/* Same order as CLibevent's shim (fd_set must be seen the same way by every module). */
#include <sys/types.h>
#include <sys/time.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>

#endif
