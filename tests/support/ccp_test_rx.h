/* A plain HTTP/1.1 receiver for tests of outgoing HTTP (webhooks): a
 * helper thread listening on 127.0.0.1 that records every request and
 * answers 200, 500 or not at all, and can go down and come back.
 * Fields under `mu` are shared with the test thread. */
#ifndef CCP_TEST_RX_H
#define CCP_TEST_RX_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define RX_MAX_REQS 256
#define RX_MAX_CONNS 16
#define RX_MAX_REQ_BYTES (1 << 20)

enum rx_mode {
	RX_OK,    /* 200 */
	RX_FAIL,  /* 500 */
	RX_STUCK, /* read the request, never answer */
};

/* One request as received. Owner: the receiver's array; immutable once
 * counted in n_reqs; freed at teardown. */
struct rx_req {
	char method[16];
	char target[512];
	char *headers; /* the header lines, CRLF-separated, NUL-terminated */
	char *body;    /* NUL-terminated */
	size_t body_len;
	long long at_ms; /* monotonic arrival time */
	int status;      /* answered with; 0: not answered */
};

/* A connection of the receiver. Owner: the receiver thread. */
struct rx_conn {
	int fd;
	char *buf;
	size_t len, cap;
};

/* The receiver. Fields under `mu` are shared with the test thread; the
 * rest belong to the receiver thread while it runs. */
struct rx {
	pthread_t thread;
	pthread_mutex_t mu;
	/* under mu */
	int port;
	enum rx_mode mode;
	int fail_next;  /* answer 500 to this many requests first */
	bool want_down; /* the test's wish */
	bool is_down;   /* the thread's state */
	bool stop;
	struct rx_req reqs[RX_MAX_REQS];
	int n_reqs;
	char why[256]; /* the thread's trouble, if any */
	/* receiver thread only */
	int lfd;
	struct rx_conn conns[RX_MAX_CONNS];
	int n_conns;
};

void ccp_test_rx_start(struct rx *r);
void ccp_test_rx_stop(struct rx *r);
void ccp_test_rx_mode(struct rx *r, enum rx_mode m, int fail_next);
int ccp_test_rx_count(struct rx *r);
const struct rx_req *ccp_test_rx_req(struct rx *r, int i);
void ccp_test_rx_set_down(struct rx *r, bool down);

#endif
