/* notify.h: the systemd notification protocol (sd_notify) by hand: one
 * datagram "READY=1", "WATCHDOG=1", "STOPPING=1" or "STATUS=..." to the
 * unix socket named by $NOTIFY_SOCKET ("@name" = abstract). Without
 * $NOTIFY_SOCKET (not under systemd, or Type=simple) every call is a no-op
 * that succeeds. No libsystemd: the protocol is one sendto(). */
#ifndef VODQ_NOTIFY_H
#define VODQ_NOTIFY_H

#include "shared/err.h"

#include <stdint.h>

/* Sends state (e.g. "READY=1\nSTATUS=serving") to $NOTIFY_SOCKET.
 * VODQ_ERR_IO when the socket is named but the send fails. Thread-safe. */
enum vodq_rc vodq_notify(const char *state, struct vodq_err *err);

/* The watchdog period systemd asks for ($WATCHDOG_USEC, when $WATCHDOG_PID
 * is absent or ours), in microseconds; 0 when there is none. */
int64_t vodq_notify_watchdog_usec(void);

/* Call from the main loop as often as it turns (at least every few
 * seconds): sends READY=1 on the first call, then WATCHDOG=1 at most every
 * half watchdog period. Thread-safe; cheap when nothing is due. */
void vodq_notify_tick(void);

#endif
