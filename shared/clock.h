/* clock.h: the clocks the threads wait by. */
#ifndef VODQ_CLOCK_H
#define VODQ_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC (durations, progress intervals, timeouts). */
int64_t vodq_mono_ms(void);

/* An absolute CLOCK_REALTIME deadline ms from now, for pthread_cond_timedwait. */
void vodq_deadline_in(struct timespec *ts, int64_t ms);

#endif
