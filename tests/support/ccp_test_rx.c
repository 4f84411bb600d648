/* The HTTP receiver for tests (see ccp_test_rx.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "ccp_test.h"
#include "ccp_test_rx.h"

/* Listens on 127.0.0.1:`port` (0: any free one); returns the fd or -1. */
static int rx_listen(int port, int *bound)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t al = sizeof(a);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
		close(fd);
		return -1;
	}
	*bound = ntohs(a.sin_port);
	return fd;
}

static void rx_conn_close(struct rx *r, int i)
{
	close(r->conns[i].fd);
	free(r->conns[i].buf);
	r->conns[i] = r->conns[--r->n_conns];
}

static void rx_send_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w <= 0)
			return; /* the client left; it will retry */
		s += w;
		n -= (size_t)w;
	}
}

/* Records the complete requests in the connection's buffer and answers
 * them as the mode says. Returns false if the bytes are not HTTP. */
static bool rx_serve(struct rx *r, struct rx_conn *c)
{
	for (;;) {
		char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
		if (!end)
			return true;
		size_t head = (size_t)(end - c->buf) + 4, cl = 0;
		*end = 0; /* the header block as a string, for the searches below */
		const char *p = strcasestr(c->buf, "\r\nContent-Length:");
		if (p)
			cl = strtoul(p + 17, NULL, 10);
		if (c->len < head + cl) {
			*end = '\r';
			return true;
		}
		struct rx_req q = {0};
		char *line_end = strstr(c->buf, "\r\n");
		if (!line_end || sscanf(c->buf, "%15s %511s", q.method, q.target) != 2)
			return false;
		q.headers = strdup(line_end + 2);
		q.body = malloc(cl + 1);
		if (!q.headers || !q.body)
			return false;
		memcpy(q.body, c->buf + head, cl);
		q.body[cl] = 0;
		q.body_len = cl;
		q.at_ms = ccp_test_now_ms();
		pthread_mutex_lock(&r->mu);
		int status = r->fail_next > 0 ? 500 : r->mode == RX_OK ? 200 : r->mode == RX_FAIL ? 500 : 0;
		if (r->fail_next > 0)
			r->fail_next--;
		q.status = status;
		if (r->n_reqs < RX_MAX_REQS)
			r->reqs[r->n_reqs++] = q;
		else {
			free(q.headers);
			free(q.body);
		}
		pthread_mutex_unlock(&r->mu);
		if (status) {
			char resp[160];
			int n = snprintf(resp, sizeof(resp),
					 "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok",
					 status, status == 200 ? "OK" : "Internal Server Error");
			rx_send_all(c->fd, resp, (size_t)n);
		}
		memmove(c->buf, c->buf + head + cl, c->len - head - cl);
		c->len -= head + cl;
	}
}

static void rx_fail(struct rx *r, const char *why)
{
	pthread_mutex_lock(&r->mu);
	if (!r->why[0])
		snprintf(r->why, sizeof(r->why), "%s: %s", why, strerror(errno));
	pthread_mutex_unlock(&r->mu);
}

static void *rx_main(void *arg)
{
	struct rx *r = arg;
	for (;;) {
		pthread_mutex_lock(&r->mu);
		bool stop = r->stop, down = r->want_down;
		int port = r->port;
		pthread_mutex_unlock(&r->mu);
		if (stop)
			break;
		if (down && r->lfd >= 0) {
			close(r->lfd);
			r->lfd = -1;
			while (r->n_conns)
				rx_conn_close(r, 0);
		} else if (!down && r->lfd < 0) {
			int bound;
			/* The same port again; if someone took it meanwhile, the
			 * test fails on its deadline, naming the reason. */
			r->lfd = rx_listen(port, &bound);
			if (r->lfd < 0)
				rx_fail(r, "listen again");
		}
		pthread_mutex_lock(&r->mu);
		r->is_down = r->lfd < 0;
		pthread_mutex_unlock(&r->mu);

		struct pollfd pf[RX_MAX_CONNS + 1];
		int n = 0;
		for (int i = 0; i < r->n_conns; i++)
			pf[n++] = (struct pollfd){.fd = r->conns[i].fd, .events = POLLIN};
		if (r->lfd >= 0)
			pf[n++] = (struct pollfd){.fd = r->lfd, .events = POLLIN};
		if (poll(pf, (nfds_t)n, 5) <= 0)
			continue;
		/* Connections first: their indexes match pf[0..n_conns). */
		for (int i = r->n_conns - 1; i >= 0; i--) {
			if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			struct rx_conn *c = &r->conns[i];
			if (c->cap - c->len < 65536) {
				size_t cap = c->cap ? c->cap * 2 : 131072;
				char *b = cap <= RX_MAX_REQ_BYTES ? realloc(c->buf, cap) : NULL;
				if (!b) {
					rx_conn_close(r, i);
					continue;
				}
				c->buf = b;
				c->cap = cap;
			}
			ssize_t got = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
			if (got <= 0) {
				rx_conn_close(r, i);
				continue;
			}
			c->len += (size_t)got;
			if (!rx_serve(r, c))
				rx_conn_close(r, i);
		}
		if (r->lfd >= 0 && (pf[n - 1].revents & POLLIN)) {
			int fd = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0 && r->n_conns < RX_MAX_CONNS)
				r->conns[r->n_conns++] = (struct rx_conn){.fd = fd};
			else if (fd >= 0)
				close(fd);
		}
	}
	if (r->lfd >= 0)
		close(r->lfd);
	while (r->n_conns)
		rx_conn_close(r, 0);
	return NULL;
}

void ccp_test_rx_start(struct rx *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->mu, NULL);
	r->lfd = rx_listen(0, &r->port);
	if (r->lfd < 0)
		fail_msg("receiver: listen on 127.0.0.1:0: %s", strerror(errno));
	assert_int_equal(pthread_create(&r->thread, NULL, rx_main, r), 0);
}

void ccp_test_rx_stop(struct rx *r)
{
	pthread_mutex_lock(&r->mu);
	r->stop = true;
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	for (int i = 0; i < r->n_reqs; i++) {
		free(r->reqs[i].headers);
		free(r->reqs[i].body);
	}
	pthread_mutex_destroy(&r->mu);
}

void ccp_test_rx_mode(struct rx *r, enum rx_mode m, int fail_next)
{
	pthread_mutex_lock(&r->mu);
	r->mode = m;
	r->fail_next = fail_next;
	pthread_mutex_unlock(&r->mu);
}

int ccp_test_rx_count(struct rx *r)
{
	pthread_mutex_lock(&r->mu);
	int n = r->n_reqs;
	pthread_mutex_unlock(&r->mu);
	return n;
}

/* Request `i`, which must have arrived (immutable from then on). */
const struct rx_req *ccp_test_rx_req(struct rx *r, int i)
{
	pthread_mutex_lock(&r->mu);
	int n = r->n_reqs;
	const struct rx_req *q = &r->reqs[i];
	pthread_mutex_unlock(&r->mu);
	if (i >= n)
		fail_msg("request %d has not arrived (%d so far)", i, n);
	return q;
}

static bool rx_is_down(void *arg)
{
	struct rx *r = arg;
	pthread_mutex_lock(&r->mu);
	bool d = r->is_down;
	pthread_mutex_unlock(&r->mu);
	return d;
}

static bool rx_is_up(void *arg)
{
	return !rx_is_down(arg);
}

void ccp_test_rx_set_down(struct rx *r, bool down)
{
	pthread_mutex_lock(&r->mu);
	r->want_down = down;
	pthread_mutex_unlock(&r->mu);
	bool ok = ccp_test_wait_until(down ? rx_is_down : rx_is_up, r, 5000);
	if (!ok) {
		char why[sizeof(r->why)];
		pthread_mutex_lock(&r->mu);
		memcpy(why, r->why, sizeof(why));
		pthread_mutex_unlock(&r->mu);
		fail_msg("receiver did not go %s: %s", down ? "down" : "up", why);
	}
}

