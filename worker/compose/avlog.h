/* avlog.h: FFmpeg's log messages through vodq's logger. */
#ifndef VODQ_COMPOSE_AVLOG_H
#define VODQ_COMPOSE_AVLOG_H

/* Installs an av_log callback that hands every complete FFmpeg line to
 * vodq_log() (so it is JSON in --log-json mode and carries the task's
 * job/type/attempt), with levels mapped: panic/fatal/error -> error,
 * warning -> warn, info -> debug (FFmpeg's info lines are per-run chatter:
 * encoder settings, statistics), verbose and below -> dropped unless the
 * vodq level is debug. Thread-safe: partial lines are assembled per thread.
 * Call once at start, before any libav* use. */
void vodq_compose_log_init(void);

#endif
