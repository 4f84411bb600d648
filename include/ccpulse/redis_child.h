/* A private redis-server child on a loopback port, for the demo and the
 * benches: started without persistence, stopped by its PID (never by
 * name). @thread any; the caller owns the PID. */
#ifndef CCPULSE_REDIS_CHILD_H
#define CCPULSE_REDIS_CHILD_H

#include <stddef.h>
#include <sys/types.h>

/* A free loopback TCP port (bound, read back, released), or -1. */
int ccp_redis_child_free_port(void);

/* Starts `redis-server` on 127.0.0.1:port and waits until it accepts
 * connections. Returns its PID, or -1 with a message in `err`. */
pid_t ccp_redis_child_start(int port, char *err, size_t errlen);

/* SIGTERM, up to 5 s for it to exit, then SIGKILL; reaps it. <= 0: no-op. */
void ccp_redis_child_stop(pid_t pid);

#endif
