/* Integration tests of the HTTP server (http.h) on a private loop, talked
 * to by real TCP clients: blocking sockets on a helper thread, while the
 * test thread runs the loop. Routes with bodies, content types and
 * headers, HEAD, keep-alive, 404, 405, h2o's size limits, query decoding,
 * two SSE clients getting broadcasts in order and keep-alive comments, a
 * client leaving mid-stream, a client too slow to keep up, 50 concurrent
 * connections, and close with connections still open. Every loop ends
 * with uv_loop_close() == 0.
 *
 * The helper thread never calls cmocka: it records what it saw and the
 * test thread asserts after joining it. The two threads share only the
 * job's atomics (steps and go signals) and, after the join, its buffers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "ccp_test.h"
#include "ccpulse/http.h"
#include "ccpulse/log.h"

#define RAW_MAX (256 * 1024)
#define NCONC 50

/* ---- the server side ------------------------------------------------------ */

/* One test's loop and server. Owner: the test (test thread). */
struct fx {
	uv_loop_t loop;
	struct ccp_http *srv;
	FILE *logf;           /* the server's log lines (warn and up) */
	struct ccp_log log;
	int port;
	bool closed;
	int hello_calls;
	int events_calls;
};

static void hello_cb(void *ud, const struct ccp_http_request *req, struct ccp_http_response *res)
{
	struct fx *f = ud;
	(void)req;
	f->hello_calls++;
	ccp_http_response_body(res, "hello\n", 6);
}

static void json_cb(void *ud, const struct ccp_http_request *req, struct ccp_http_response *res)
{
	(void)ud;
	(void)req;
	ccp_http_response_status(res, 201);
	assert_int_equal(ccp_http_response_content_type(res, "application/json"), 0);
	assert_int_equal(ccp_http_response_content_type(res, "bad\r\ntype"), -EINVAL);
	assert_int_equal(ccp_http_response_header(res, "X-Test", "yes"), 0);
	assert_int_equal(ccp_http_response_header(res, "Bad Name", "x"), -EINVAL);
	assert_int_equal(ccp_http_response_header(res, "X-Bad", "a\nb"), -EINVAL);
	ccp_http_response_body(res, "{\"ignored\":", 11);
	ccp_http_response_body(res, "{\"a\":", 5); /* replaces */
	ccp_http_response_append(res, "1}", 2);
}

/* Echoes decoded query parameters and one request header. */
static void echo_line(struct ccp_http_response *res, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(line));
	assert_int_equal(ccp_http_response_append(res, line, (size_t)n), 0);
}

static void echo_cb(void *ud, const struct ccp_http_request *req, struct ccp_http_response *res)
{
	(void)ud;
	char v[64];
	size_t n = 0, hl = 0;
	int rc = ccp_http_query_get(req->query, req->query_len, "name", v, sizeof(v), &n);
	echo_line(res, "name=%d:%s:%zu\n", rc, rc == 1 ? v : "", n);
	rc = ccp_http_query_get(req->query, req->query_len, "flag", v, sizeof(v), &n);
	echo_line(res, "flag=%d:%zu\n", rc, rc == 1 ? n : 99);
	echo_line(res, "x=%d\n", ccp_http_query_get(req->query, req->query_len, "x", v, sizeof(v), NULL));
	echo_line(res, "missing=%d\n", ccp_http_query_get(req->query, req->query_len, "missing", v, sizeof(v), NULL));
	const char *cl = ccp_http_request_header(req, "X-Client", &hl);
	echo_line(res, "client=%.*s\nraw=%.*s\n", cl ? (int)hl : 0, cl ? cl : "", (int)req->query_len,
		  req->query ? req->query : "");
}

static void events_cb(void *ud, const struct ccp_http_request *req, struct ccp_http_response *res)
{
	struct fx *f = ud;
	(void)req;
	f->events_calls++;
	ccp_http_response_header(res, "X-Stream", "1");
	ccp_http_response_sse(res);
}

/* A stream tagged with its ?tag= (none without it); a tag over the
 * limit is refused and answered 400 instead. */
static void tagged_cb(void *ud, const struct ccp_http_request *req, struct ccp_http_response *res)
{
	(void)ud;
	static char tag[CCP_HTTP_SSE_TAG_MAX + 8];
	int rc = ccp_http_query_get(req->query, req->query_len, "tag", tag, sizeof(tag), NULL);
	if (rc == 1 && ccp_http_response_sse_tag(res, tag) == 0)
		return;
	if (rc == 1) {
		ccp_http_response_status(res, 400);
		ccp_http_response_body(res, "bad tag\n", 8);
		return;
	}
	ccp_http_response_sse(res);
}

static void on_closed(void *ud)
{
	((struct fx *)ud)->closed = true;
}

static void server_opts(struct ccp_http_opts *o)
{
	ccp_http_opts_defaults(o);
	o->log = NULL; /* fx_start sets the fixture's */
	o->addr = "127.0.0.1:0";
	o->sse_keepalive_ms = 100;
	o->sse_retry_ms = 1500;
	o->close_timeout_ms = 500;
	o->max_body_bytes = 1024;
}

static void fx_start(struct fx *f, const struct ccp_http_opts *o)
{
	char err[256] = "";
	struct ccp_http_opts oo = *o;
	oo.log = &f->log;
	f->closed = false;
	f->srv = ccp_http_new(&f->loop, &oo, err, sizeof(err));
	if (!f->srv)
		fail_msg("ccp_http_new: %s", err);
	f->port = ccp_http_port(f->srv);
	assert_true(f->port > 0);
	assert_int_equal(ccp_http_route(f->srv, "/hello", hello_cb, f), 0);
	assert_int_equal(ccp_http_route(f->srv, "/json", json_cb, f), 0);
	assert_int_equal(ccp_http_route(f->srv, "/echo", echo_cb, f), 0);
	assert_int_equal(ccp_http_route(f->srv, "/events", events_cb, f), 0);
	assert_int_equal(ccp_http_route(f->srv, "/tagged", tagged_cb, f), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->logf = tmpfile();
	assert_non_null(f->logf);
	ccp_log_init(&f->log);
	f->log.level = CCP_LOG_WARN;
	f->log.fd = fileno(f->logf);
	struct ccp_http_opts o;
	server_opts(&o);
	fx_start(f, &o);
	*state = f;
	return 0;
}

/* What the server logged so far (warn and up). */
static const char *log_text(struct fx *f)
{
	static char buf[8192];
	size_t n = (size_t)pread(fileno(f->logf), buf, sizeof(buf) - 1, 0);
	buf[n < sizeof(buf) ? n : 0] = 0;
	return buf;
}

static bool is_closed(void *arg)
{
	return ((struct fx *)arg)->closed;
}

static void fx_close(struct fx *f)
{
	if (!f->srv)
		return;
	assert_int_equal(ccp_http_close(f->srv, on_closed, f), 0);
	assert_true(ccp_test_uv_run_until(&f->loop, is_closed, f, 5000));
	f->srv = NULL;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	fx_close(f);
	ccp_test_uv_close_loop(&f->loop);
	fclose(f->logf);
	free(f);
	return 0;
}

/* ---- the client side (helper thread) --------------------------------------- */

/* A client script run on a helper thread. Owner: the test; the thread
 * writes `raw`, `len`, `ok` and the counters, the test reads them after
 * pthread_join. `step` (client progress) and `go` (test's signal) are
 * the only fields both touch while the thread runs. */
struct job {
	void (*fn)(struct job *);
	int port;
	atomic_int step;
	atomic_int go;
	atomic_bool done;
	pthread_t thread;
	char raw[6][RAW_MAX];
	size_t len[6];
	bool ok[6];
	int n_ok;
	char why[256];
};

static int tcp_connect(int port, int rcvbuf)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	int ms = ccp_test_ms(5000);
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool send_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w <= 0)
			return false;
		s += w;
		n -= (size_t)w;
	}
	return true;
}

static bool send_str(int fd, const char *s)
{
	return send_all(fd, s, strlen(s));
}

/* Reads until EOF (true), an error or the receive timeout (false), or
 * the buffer is full. */
static bool read_to_eof(int fd, char *buf, size_t cap, size_t *len)
{
	for (;;) {
		if (*len + 1 >= cap)
			return false;
		ssize_t r = recv(fd, buf + *len, cap - 1 - *len, 0);
		if (r == 0) {
			buf[*len] = 0;
			return true;
		}
		if (r < 0)
			return false;
		*len += (size_t)r;
		buf[*len] = 0;
	}
}

/* Reads until `needle` occurs at or after offset `from`. */
static bool read_until(int fd, char *buf, size_t cap, size_t *len, size_t from, const char *needle)
{
	for (;;) {
		buf[*len] = 0;
		if (*len > from && strstr(buf + from, needle))
			return true;
		if (*len + 1 >= cap)
			return false;
		ssize_t r = recv(fd, buf + *len, cap - 1 - *len, 0);
		if (r <= 0)
			return false;
		*len += (size_t)r;
	}
}

/* One request on a fresh connection, the response read to EOF. */
static bool http_do(int port, const char *req, char *buf, size_t cap, size_t *len)
{
	int fd = tcp_connect(port, 0);
	if (fd < 0)
		return false;
	bool ok = send_str(fd, req) && read_to_eof(fd, buf, cap, len);
	close(fd);
	return ok;
}

static void wait_go(struct job *j, int v)
{
	long long deadline = ccp_test_now_ms() + ccp_test_ms(10000);
	while (atomic_load(&j->go) < v && ccp_test_now_ms() < deadline) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
}

static void *job_main(void *arg)
{
	struct job *j = arg;
	j->fn(j);
	atomic_store(&j->done, true);
	return NULL;
}

static struct job *job_start(struct fx *f, void (*fn)(struct job *))
{
	struct job *j = calloc(1, sizeof(*j));
	assert_non_null(j);
	j->fn = fn;
	j->port = f->port;
	assert_int_equal(pthread_create(&j->thread, NULL, job_main, j), 0);
	return j;
}

static bool job_done(void *arg)
{
	return atomic_load(&((struct job *)arg)->done);
}

/* Runs the loop until the client script ends, then joins it. */
static void job_finish(struct fx *f, struct job *j)
{
	bool done = ccp_test_uv_run_until(&f->loop, job_done, j, 20000);
	if (!done)
		atomic_store(&j->go, 1000); /* unblock it before failing */
	pthread_join(j->thread, NULL);
	assert_true(done);
}

struct step_wait {
	struct job *j;
	int step;
};

static bool step_reached(void *arg)
{
	struct step_wait *w = arg;
	return atomic_load(&w->j->step) >= w->step || atomic_load(&w->j->done);
}

static void run_until_step(struct fx *f, struct job *j, int step)
{
	struct step_wait w = {j, step};
	assert_true(ccp_test_uv_run_until(&f->loop, step_reached, &w, 10000));
	if (atomic_load(&j->step) < step)
		fail_msg("client stopped at step %d (wanted %d): %s", atomic_load(&j->step), step, j->why);
}

/* ---- response parsing (test thread) ----------------------------------------- */

static int status_of(const char *raw)
{
	int st = 0;
	if (sscanf(raw, "HTTP/1.%*d %d", &st) != 1)
		return -1;
	return st;
}

/* The value of header `name` (lower case) of the response starting at
 * `raw`, into `out`; false if absent. */
static bool header_of(const char *raw, const char *name, char *out, size_t outlen)
{
	const char *end = strstr(raw, "\r\n\r\n");
	if (!end)
		return false;
	size_t nl = strlen(name);
	for (const char *p = strstr(raw, "\r\n"); p && p < end; p = strstr(p + 2, "\r\n")) {
		const char *h = p + 2;
		if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
			const char *v = h + nl + 1;
			while (*v == ' ')
				v++;
			const char *ve = strstr(v, "\r\n");
			snprintf(out, outlen, "%.*s", (int)(ve - v), v);
			return true;
		}
	}
	return false;
}

static const char *body_of(const char *raw)
{
	const char *end = strstr(raw, "\r\n\r\n");
	return end ? end + 4 : NULL;
}

/* Decodes a chunked body into `out`; returns true if it ended with the
 * last chunk ("0\r\n\r\n"). */
static bool dechunk(const char *body, size_t len, char *out, size_t cap, size_t *outlen)
{
	size_t i = 0;
	*outlen = 0;
	while (i < len) {
		char *e;
		unsigned long n = strtoul(body + i, &e, 16);
		if (e == body + i || e + 2 > body + len || e[0] != '\r' || e[1] != '\n')
			return false;
		i = (size_t)(e - body) + 2;
		if (n == 0)
			return i + 2 <= len && body[i] == '\r' && body[i + 1] == '\n';
		if (i + n + 2 > len || *outlen + n + 1 > cap)
			return false;
		memcpy(out + *outlen, body + i, n);
		*outlen += n;
		out[*outlen] = 0;
		i += n + 2;
	}
	return false;
}

static size_t count_of(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* ---- routes, HEAD, keep-alive ------------------------------------------------ */

static void script_routes(struct job *j)
{
	static const char *reqs[6] = {
		"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
		"HEAD /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
		"GET /json?x=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
		/* keep-alive: two requests on one connection, pipelined */
		"GET /hello HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
		"GET /hello HTTP/1.0\r\n\r\n",
		"GET /events HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
	};
	for (int i = 0; i < 6; i++) {
		const char *r = reqs[i];
		if (i == 5)
			r = "HEAD /events HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
		j->ok[i] = http_do(j->port, r, j->raw[i], RAW_MAX, &j->len[i]);
	}
}

static void test_routes(void **state)
{
	struct fx *f = *state;
	struct job *j = job_start(f, script_routes);
	job_finish(f, j);
	char v[256];
	for (int i = 0; i < 6; i++)
		assert_true(j->ok[i]);

	/* GET: status, type, length, body, our server name */
	assert_int_equal(status_of(j->raw[0]), 200);
	assert_true(header_of(j->raw[0], "content-type", v, sizeof(v)));
	assert_string_equal(v, "text/plain; charset=utf-8");
	assert_true(header_of(j->raw[0], "content-length", v, sizeof(v)));
	assert_string_equal(v, "6");
	assert_true(header_of(j->raw[0], "server", v, sizeof(v)));
	assert_string_equal(v, "ccpulse");
	assert_string_equal(body_of(j->raw[0]), "hello\n");

	/* HEAD: the same headers, no body */
	assert_int_equal(status_of(j->raw[1]), 200);
	assert_true(header_of(j->raw[1], "content-length", v, sizeof(v)));
	assert_string_equal(v, "6");
	assert_string_equal(body_of(j->raw[1]), "");

	/* status, type, an added header, a replaced-then-appended body */
	assert_int_equal(status_of(j->raw[2]), 201);
	assert_true(header_of(j->raw[2], "content-type", v, sizeof(v)));
	assert_string_equal(v, "application/json");
	assert_true(header_of(j->raw[2], "x-test", v, sizeof(v)));
	assert_string_equal(v, "yes");
	assert_string_equal(body_of(j->raw[2]), "{\"a\":1}");

	/* keep-alive: two answers on one connection */
	assert_int_equal(count_of(j->raw[3], "HTTP/1.1 200 OK\r\n"), 2);
	assert_int_equal(count_of(j->raw[3], "hello\n"), 2);

	/* HTTP/1.0 without Host */
	assert_int_equal(status_of(j->raw[4]), 200);
	assert_string_equal(body_of(j->raw[4]), "hello\n");

	/* HEAD of an event stream: its headers, no stream */
	assert_int_equal(status_of(j->raw[5]), 200);
	assert_true(header_of(j->raw[5], "content-type", v, sizeof(v)));
	assert_string_equal(v, "text/event-stream");
	assert_string_equal(body_of(j->raw[5]), "");

	assert_int_equal(f->hello_calls, 5);
	/* a peer's reset costs an EPIPE, not the process */
	struct sigaction sa;
	assert_int_equal(sigaction(SIGPIPE, NULL, &sa), 0);
	assert_true(sa.sa_handler == SIG_IGN);
	struct ccp_http_stats st;
	ccp_http_stats(f->srv, &st);
	assert_int_equal(st.requests, 7);
	assert_int_equal(st.sse_opened, 0);
	assert_int_equal(st.not_found + st.bad_method, 0);
	free(j);
}

/* ---- 404, 405, limits ------------------------------------------------------- */

static void script_errors(struct job *j)
{
	/* more headers than h2o's 100 */
	char bigreq[4096];
	size_t o = (size_t)snprintf(bigreq, sizeof(bigreq), "GET /hello HTTP/1.1\r\nHost: t\r\n");
	for (int i = 0; i < 120; i++)
		o += (size_t)snprintf(bigreq + o, sizeof(bigreq) - o, "X-%d: v\r\n", i);
	snprintf(bigreq + o, sizeof(bigreq) - o, "Connection: close\r\n\r\n");
	const char *reqs[6] = {
		"GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
		"GET /hello/ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
		"POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
		"DELETE /hello?x=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
		"POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n",
		bigreq,
	};
	for (int i = 0; i < 6; i++)
		j->ok[i] = http_do(j->port, reqs[i], j->raw[i], RAW_MAX, &j->len[i]);
}

static void test_errors(void **state)
{
	struct fx *f = *state;
	struct job *j = job_start(f, script_errors);
	job_finish(f, j);
	char v[256];
	for (int i = 0; i < 6; i++)
		assert_true(j->ok[i]);
	assert_int_equal(status_of(j->raw[0]), 404);
	assert_int_equal(status_of(j->raw[1]), 404); /* exact paths only */
	assert_int_equal(status_of(j->raw[2]), 405);
	assert_true(header_of(j->raw[2], "allow", v, sizeof(v)));
	assert_string_equal(v, "GET, HEAD");
	assert_int_equal(status_of(j->raw[3]), 405);
	assert_int_equal(status_of(j->raw[4]), 413); /* h2o: body over max_body_bytes */
	assert_int_equal(status_of(j->raw[5]), 400); /* h2o: over 100 headers */
	assert_int_equal(f->hello_calls, 0);
	struct ccp_http_stats st;
	ccp_http_stats(f->srv, &st);
	assert_int_equal(st.not_found, 2);
	assert_int_equal(st.bad_method, 2);
	free(j);
}

/* ---- queries ----------------------------------------------------------------- */

static void test_query_get(void **state)
{
	(void)state;
	char v[16];
	size_t n = 99;
	const char *q = "a=1&name=J%C3%B6rg+M&flag&empty=&bad=%zz&trunc=%4&na%6De2=k&a=2";
	size_t ql = strlen(q);
	assert_int_equal(ccp_http_query_get(q, ql, "a", v, sizeof(v), &n), 1);
	assert_string_equal(v, "1"); /* the first one */
	assert_int_equal(n, 1);
	assert_int_equal(ccp_http_query_get(q, ql, "name", v, sizeof(v), &n), 1);
	assert_string_equal(v, "J\xc3\xb6rg M");
	assert_int_equal(n, 7);
	assert_int_equal(ccp_http_query_get(q, ql, "flag", v, sizeof(v), &n), 1);
	assert_int_equal(n, 0);
	assert_int_equal(ccp_http_query_get(q, ql, "empty", v, sizeof(v), &n), 1);
	assert_string_equal(v, "");
	assert_int_equal(ccp_http_query_get(q, ql, "bad", v, sizeof(v), NULL), -EINVAL);
	assert_int_equal(ccp_http_query_get(q, ql, "trunc", v, sizeof(v), NULL), -EINVAL);
	assert_int_equal(ccp_http_query_get(q, ql, "name2", v, sizeof(v), NULL), 1); /* key decoded */
	assert_string_equal(v, "k");
	assert_int_equal(ccp_http_query_get(q, ql, "nope", v, sizeof(v), NULL), 0);
	assert_int_equal(ccp_http_query_get(q, ql, "nam", v, sizeof(v), NULL), 0);
	assert_int_equal(ccp_http_query_get(q, ql, "name", v, 7, NULL), -ENOSPC);
	assert_int_equal(ccp_http_query_get(q, ql, "name", v, 8, NULL), 1);
	assert_int_equal(ccp_http_query_get(NULL, 0, "a", v, sizeof(v), NULL), 0);
	/* only the first `query_len` bytes count */
	assert_int_equal(ccp_http_query_get(q, 3, "a", v, sizeof(v), NULL), 1);
	assert_int_equal(ccp_http_query_get(q, 3, "name", v, sizeof(v), NULL), 0);
}

static void script_query(struct job *j)
{
	j->ok[0] = http_do(j->port,
			   "GET /echo?name=J%C3%B6rg+M%C3%BCller&flag&x=%zz HTTP/1.1\r\nHost: t\r\nX-Client: it\r\n"
			   "Connection: close\r\n\r\n",
			   j->raw[0], RAW_MAX, &j->len[0]);
	j->ok[1] = http_do(j->port, "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", j->raw[1], RAW_MAX,
			   &j->len[1]);
}

static void test_query_route(void **state)
{
	struct fx *f = *state;
	struct job *j = job_start(f, script_query);
	job_finish(f, j);
	assert_true(j->ok[0] && j->ok[1]);
	assert_int_equal(status_of(j->raw[0]), 200);
	assert_string_equal(body_of(j->raw[0]), "name=1:J\xc3\xb6rg M\xc3\xbcller:13\n"
						 "flag=1:0\n"
						 "x=-22\n"
						 "missing=0\n"
						 "client=it\n"
						 "raw=name=J%C3%B6rg+M%C3%BCller&flag&x=%zz\n");
	assert_string_equal(body_of(j->raw[1]), "name=0::0\nflag=0:99\nx=0\nmissing=0\nclient=\nraw=\n");
	free(j);
}

/* ---- SSE: two clients, order, keep-alive, one leaves, close ends the other --- */

#define SSE_REQ "GET /events HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n"
#define EV1 "event: tick\ndata: one\n\n"
#define EV2 "data: two\ndata: lines\ndata: \n\n"
#define EV3 "event: tick\ndata: three\n\n"
#define EV4 "event: tick\ndata: four\n\n"
#define KEEPALIVE ": keep-alive\n\n"

static void script_sse(struct job *j)
{
	int fd[2];
	for (int i = 0; i < 2; i++) {
		fd[i] = tcp_connect(j->port, 0);
		if (fd[i] < 0 || !send_str(fd[i], SSE_REQ) ||
		    !read_until(fd[i], j->raw[i], RAW_MAX, &j->len[i], 0, "retry: 1500\n\n")) {
			snprintf(j->why, sizeof(j->why), "stream %d did not open", i);
			return;
		}
	}
	atomic_store(&j->step, 1);
	/* the three events, then a keep-alive comment after them */
	for (int i = 0; i < 2; i++) {
		if (!read_until(fd[i], j->raw[i], RAW_MAX, &j->len[i], 0, EV3)) {
			snprintf(j->why, sizeof(j->why), "stream %d: no third event", i);
			return;
		}
		size_t from = (size_t)(strstr(j->raw[i], EV3) - j->raw[i]);
		if (!read_until(fd[i], j->raw[i], RAW_MAX, &j->len[i], from, KEEPALIVE)) {
			snprintf(j->why, sizeof(j->why), "stream %d: no keep-alive after the events", i);
			return;
		}
	}
	atomic_store(&j->step, 2);
	close(fd[0]); /* leaves mid-stream */
	atomic_store(&j->step, 3);
	wait_go(j, 1);
	if (!read_until(fd[1], j->raw[1], RAW_MAX, &j->len[1], 0, EV4)) {
		snprintf(j->why, sizeof(j->why), "stream 1: no fourth event");
		return;
	}
	atomic_store(&j->step, 4);
	/* the server closes: the stream ends with the last chunk, then EOF */
	j->ok[1] = read_to_eof(fd[1], j->raw[1], RAW_MAX, &j->len[1]);
	close(fd[1]);
	j->ok[0] = true;
}

struct count_wait {
	struct fx *f;
	size_t n;
};

static bool streams_are(void *arg)
{
	struct count_wait *w = arg;
	return ccp_http_sse_count(w->f->srv, "/events") == w->n;
}

static void test_sse(void **state)
{
	struct fx *f = *state;
	struct job *j = job_start(f, script_sse);
	struct count_wait two = {f, 2}, one = {f, 1};
	assert_true(ccp_test_uv_run_until(&f->loop, streams_are, &two, 10000));
	run_until_step(f, j, 1);
	assert_int_equal(ccp_http_sse_count(f->srv, NULL), 2);
	assert_int_equal(ccp_http_sse_count(f->srv, "/hello"), 0);

	assert_int_equal(ccp_http_sse_broadcast(f->srv, "/events", "tick", "one", 3), 2);
	assert_int_equal(ccp_http_sse_broadcast(f->srv, "/events", NULL, "two\r\nlines\n", 11), 2);
	assert_int_equal(ccp_http_sse_broadcast(f->srv, "/events", "tick", "three", 5), 2);
	assert_int_equal(ccp_http_sse_broadcast(f->srv, "/events", "bad\nname", "x", 1), -EINVAL);
	assert_int_equal(ccp_http_sse_broadcast(f->srv, "/hello", "tick", "x", 1), 0);
	assert_int_equal(ccp_http_sse_broadcast(f->srv, "/nope", "tick", "x", 1), 0);
	run_until_step(f, j, 3);

	/* the keep-alive comments find the closed one */
	assert_true(ccp_test_uv_run_until(&f->loop, streams_are, &one, 5000));
	assert_int_equal(ccp_http_sse_broadcast(f->srv, "/events", "tick", "four", 4), 1);
	atomic_store(&j->go, 1);
	run_until_step(f, j, 4);

	struct ccp_http_stats st;
	ccp_http_stats(f->srv, &st);
	assert_int_equal(st.sse_opened, 2);
	assert_int_equal(st.sse_closed, 1);
	assert_int_equal(st.sse_cut, 0);
	assert_int_equal(st.streams, 1);
	assert_int_equal(st.sse_events, 7);
	assert_true(st.sse_keepalives >= 2);
	assert_int_equal(f->events_calls, 2);
	assert_string_equal(log_text(f), ""); /* a client leaving is no trouble */

	fx_close(f);
	job_finish(f, j);
	assert_true(j->ok[0]);
	assert_true(j->ok[1]);

	char v[256];
	for (int i = 0; i < 2; i++) {
		const char *raw = j->raw[i];
		assert_int_equal(status_of(raw), 200);
		assert_true(header_of(raw, "content-type", v, sizeof(v)));
		assert_string_equal(v, "text/event-stream");
		assert_true(header_of(raw, "cache-control", v, sizeof(v)));
		assert_string_equal(v, "no-cache");
		assert_true(header_of(raw, "x-stream", v, sizeof(v)));
		assert_string_equal(v, "1");
		assert_true(header_of(raw, "transfer-encoding", v, sizeof(v)));
		assert_string_equal(v, "chunked");
		static char body[RAW_MAX];
		size_t bl;
		bool ended = dechunk(body_of(raw), j->len[i] - (size_t)(body_of(raw) - raw), body, sizeof(body), &bl);
		/* stream 1 saw the server close it cleanly: the last chunk */
		assert_int_equal(ended, i == 1);
		assert_true(strncmp(body, "retry: 1500\n\n", 13) == 0);
		const char *p1 = strstr(body, EV1), *p2 = strstr(body, EV2), *p3 = strstr(body, EV3);
		assert_non_null(p1);
		assert_non_null(p2);
		assert_non_null(p3);
		assert_true(p1 < p2 && p2 < p3);
		assert_non_null(strstr(p3, KEEPALIVE));
		assert_true(i == 0 || strstr(p3, EV4) != NULL);
		assert_int_equal(count_of(body, "data: "), i == 0 ? 5 : 6);
	}
	free(j);
}

/* ---- tagged streams ---------------------------------------------------------- */

static void script_tags(struct job *j)
{
	static const char *const reqs[3] = {
		"GET /tagged?tag=a HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET /tagged?tag=b HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET /tagged HTTP/1.1\r\nHost: t\r\n\r\n",
	};
	int fd[3];
	for (int i = 0; i < 3; i++) {
		fd[i] = tcp_connect(j->port, 0);
		if (fd[i] < 0 || !send_str(fd[i], reqs[i]) ||
		    !read_until(fd[i], j->raw[i], RAW_MAX, &j->len[i], 0, "retry: 1500\n\n")) {
			snprintf(j->why, sizeof(j->why), "stream %d did not open", i);
			return;
		}
	}
	atomic_store(&j->step, 1);
	for (int i = 0; i < 3; i++) {
		j->ok[i] = read_until(fd[i], j->raw[i], RAW_MAX, &j->len[i], 0, "data: all\n\n");
		close(fd[i]);
	}
	/* a tag over the limit: a plain 400 */
	static char big[CCP_HTTP_SSE_TAG_MAX + 200];
	int n = snprintf(big, sizeof(big), "GET /tagged?tag=");
	memset(big + n, 'x', CCP_HTTP_SSE_TAG_MAX + 1);
	snprintf(big + n + CCP_HTTP_SSE_TAG_MAX + 1, 64, " HTTP/1.0\r\n\r\n");
	j->ok[3] = http_do(j->port, big, j->raw[3], RAW_MAX, &j->len[3]);
	atomic_store(&j->step, 2);
}

struct tag_wait {
	struct fx *f;
	const char *tag;
	size_t n;
};

static bool tagged_are(void *arg)
{
	struct tag_wait *w = arg;
	return ccp_http_sse_count_tag(w->f->srv, "/tagged", w->tag) == w->n;
}

static void test_sse_tags(void **state)
{
	struct fx *f = *state;
	struct job *j = job_start(f, script_tags);
	struct tag_wait all = {f, NULL, 3};
	assert_true(ccp_test_uv_run_until(&f->loop, tagged_are, &all, 10000));
	run_until_step(f, j, 1);
	assert_int_equal(ccp_http_sse_count_tag(f->srv, "/tagged", "a"), 1);
	assert_int_equal(ccp_http_sse_count_tag(f->srv, "/tagged", "b"), 1);
	assert_int_equal(ccp_http_sse_count_tag(f->srv, "/tagged", "c"), 0);
	assert_int_equal(ccp_http_sse_count_tag(f->srv, "/nope", NULL), 0);
	assert_int_equal(ccp_http_sse_count(f->srv, "/tagged"), 3);
	assert_int_equal(ccp_http_sse_broadcast_tag(f->srv, "/tagged", "a", NULL, "only a", 6), 1);
	assert_int_equal(ccp_http_sse_broadcast_tag(f->srv, "/tagged", "b", NULL, "only b", 6), 1);
	assert_int_equal(ccp_http_sse_broadcast_tag(f->srv, "/tagged", "c", NULL, "nobody", 6), 0);
	assert_int_equal(ccp_http_sse_broadcast(f->srv, "/tagged", NULL, "all", 3), 3);
	run_until_step(f, j, 2);
	struct tag_wait none = {f, NULL, 0};
	assert_true(ccp_test_uv_run_until(&f->loop, tagged_are, &none, 5000));
	fx_close(f);
	job_finish(f, j);
	for (int i = 0; i < 3; i++) {
		assert_true(j->ok[i]);
		const char *a = strstr(j->raw[i], "data: only a\n"), *b = strstr(j->raw[i], "data: only b\n");
		assert_true((a != NULL) == (i == 0));
		assert_true((b != NULL) == (i == 1));
		assert_true(!a || a < strstr(j->raw[i], "data: all\n")); /* in broadcast order */
	}
	assert_true(j->ok[3]);
	assert_int_equal(status_of(j->raw[3]), 400);
	free(j);
}

/* ---- a client too slow to read is cut ------------------------------------- */

static void script_slow(struct job *j)
{
	int fd = tcp_connect(j->port, 4096);
	if (fd < 0 || !send_str(fd, SSE_REQ) || !read_until(fd, j->raw[0], RAW_MAX, &j->len[0], 0, "retry:")) {
		snprintf(j->why, sizeof(j->why), "stream did not open");
		if (fd >= 0)
			close(fd);
		return;
	}
	atomic_store(&j->step, 1);
	wait_go(j, 1); /* reads nothing meanwhile */
	/* drain what was sent: the connection must end (EOF or reset) */
	for (;;) {
		ssize_t r = recv(fd, j->raw[1], RAW_MAX, 0);
		if (r == 0 || (r < 0 && errno == ECONNRESET)) {
			j->ok[0] = true;
			break;
		}
		if (r < 0)
			break; /* timeout: still open */
	}
	close(fd);
	atomic_store(&j->step, 2);
}

static void test_slow_client_cut(void **state)
{
	struct fx *f = *state;
	fx_close(f);
	struct ccp_http_opts o;
	server_opts(&o);
	o.sse_max_pending_bytes = 64 << 10;
	o.sse_keepalive_ms = 60000;
	fx_start(f, &o);

	struct job *j = job_start(f, script_slow);
	struct count_wait one = {f, 1}, none = {f, 0};
	assert_true(ccp_test_uv_run_until(&f->loop, streams_are, &one, 10000));
	run_until_step(f, j, 1);
	static char ev[16 << 10];
	memset(ev, 'x', sizeof(ev));
	struct ccp_http_stats st = {0};
	int sent = 0;
	/* Kernel buffers take a few MB before our queue grows. */
	for (int i = 0; i < 4000 && st.sse_cut == 0; i++) {
		int rc = ccp_http_sse_broadcast(f->srv, "/events", "big", ev, sizeof(ev));
		assert_true(rc >= 0);
		sent += rc;
		uv_run(&f->loop, UV_RUN_NOWAIT);
		ccp_http_stats(f->srv, &st);
	}
	assert_int_equal(st.sse_cut, 1);
	assert_true(sent > 64);
	assert_true(ccp_test_uv_run_until(&f->loop, streams_are, &none, 5000));
	assert_int_equal(ccp_http_sse_broadcast(f->srv, "/events", "big", "x", 1), 0);
	atomic_store(&j->go, 1);
	job_finish(f, j);
	assert_true(j->ok[0]);
	ccp_http_stats(f->srv, &st);
	assert_int_equal(st.sse_closed, 1);
	assert_int_equal(st.connections, 0);
	assert_non_null(strstr(log_text(f), "event stream cut"));
	free(j);
}

/* ---- 50 connections at once ---------------------------------------------------- */

static void script_concurrent(struct job *j)
{
	int fds[NCONC];
	for (int i = 0; i < NCONC; i++) {
		fds[i] = tcp_connect(j->port, 0);
		if (fds[i] < 0) {
			snprintf(j->why, sizeof(j->why), "connect %d failed", i);
			for (int k = 0; k < i; k++)
				close(fds[k]);
			return;
		}
	}
	atomic_store(&j->step, 1);
	wait_go(j, 1); /* the server holds all of them open now */
	char req[128];
	for (int i = 0; i < NCONC; i++) {
		snprintf(req, sizeof(req), "GET /echo?name=c%d HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", i);
		send_str(fds[i], req);
	}
	for (int i = NCONC - 1; i >= 0; i--) {
		char buf[2048], want[64];
		size_t len = 0;
		snprintf(want, sizeof(want), "name=1:c%d:", i);
		if (read_to_eof(fds[i], buf, sizeof(buf), &len) && status_of(buf) == 200 && strstr(buf, want))
			j->n_ok++;
		close(fds[i]);
	}
}

static bool conns_are_50(void *arg)
{
	struct ccp_http_stats st;
	ccp_http_stats(((struct fx *)arg)->srv, &st);
	return st.connections == NCONC;
}

static void test_concurrent(void **state)
{
	struct fx *f = *state;
	struct job *j = job_start(f, script_concurrent);
	run_until_step(f, j, 1);
	assert_true(ccp_test_uv_run_until(&f->loop, conns_are_50, f, 10000));
	atomic_store(&j->go, 1);
	job_finish(f, j);
	assert_int_equal(j->n_ok, NCONC);
	struct ccp_http_stats st;
	ccp_http_stats(f->srv, &st);
	assert_int_equal(st.accepted, NCONC);
	assert_int_equal(st.requests, NCONC);
	assert_int_equal(st.rejected, 0);
	free(j);
}

/* ---- close with connections open --------------------------------------------- */

static void script_close_open(struct job *j)
{
	int idle = tcp_connect(j->port, 0), sse = tcp_connect(j->port, 0), half = tcp_connect(j->port, 0);
	if (idle < 0 || sse < 0 || half < 0 ||
	    !send_str(idle, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n") ||
	    !read_until(idle, j->raw[0], RAW_MAX, &j->len[0], 0, "hello\n") || !send_str(sse, SSE_REQ) ||
	    !read_until(sse, j->raw[1], RAW_MAX, &j->len[1], 0, "retry:") || !send_str(half, "GET /hel")) {
		snprintf(j->why, sizeof(j->why), "setup failed");
		return;
	}
	atomic_store(&j->step, 1);
	wait_go(j, 1);
	/* all three end without a request from us */
	j->ok[0] = read_to_eof(idle, j->raw[0], RAW_MAX, &j->len[0]);
	j->ok[1] = read_to_eof(sse, j->raw[1], RAW_MAX, &j->len[1]);
	j->ok[2] = read_to_eof(half, j->raw[2], RAW_MAX, &j->len[2]);
	close(idle);
	close(sse);
	close(half);
	atomic_store(&j->step, 2);
}

static bool three_open(void *arg)
{
	struct ccp_http_stats st;
	ccp_http_stats(((struct fx *)arg)->srv, &st);
	return st.connections == 3 && st.streams == 1;
}

static void test_close_with_open_connections(void **state)
{
	struct fx *f = *state;
	struct job *j = job_start(f, script_close_open);
	run_until_step(f, j, 1);
	assert_true(ccp_test_uv_run_until(&f->loop, three_open, f, 10000));
	atomic_store(&j->go, 1);
	long long t0 = ccp_test_now_ms();
	assert_int_equal(ccp_http_close(f->srv, on_closed, f), 0);
	assert_int_equal(ccp_http_close(f->srv, on_closed, f), -EALREADY);
	assert_int_equal(ccp_http_route(f->srv, "/late", hello_cb, f), -ESHUTDOWN);
	assert_int_equal(ccp_http_sse_broadcast(f->srv, "/events", "x", "y", 1), -ESHUTDOWN);
	assert_true(ccp_test_uv_run_until(&f->loop, is_closed, f, 5000));
	f->srv = NULL;
	long long took = ccp_test_now_ms() - t0;
	job_finish(f, j);
	assert_true(j->ok[0] && j->ok[1] && j->ok[2]);
	/* the stream got its last chunk: a clean end, not a cut */
	assert_non_null(strstr(j->raw[1], "\r\n0\r\n\r\n"));
	/* nobody needed the close deadline (500 ms) */
	if (took >= 500)
		fail_msg("close took %lld ms", took);
	free(j);
}

/* ---- close while a stream's write is stuck: the deadline cuts it ------ */

static void test_close_stuck_stream(void **state)
{
	struct fx *f = *state;
	fx_close(f);
	struct ccp_http_opts o;
	server_opts(&o);
	o.sse_max_pending_bytes = 64 << 20; /* never cut for being behind */
	o.sse_keepalive_ms = 60000;
	fx_start(f, &o);

	struct job *j = job_start(f, script_slow); /* opens, then reads nothing */
	struct count_wait one = {f, 1};
	assert_true(ccp_test_uv_run_until(&f->loop, streams_are, &one, 10000));
	run_until_step(f, j, 1);
	/* More than the kernel's buffers hold: the write waits on the client. */
	static char ev[64 << 10];
	memset(ev, 'y', sizeof(ev));
	for (int i = 0; i < 160; i++) {
		assert_int_equal(ccp_http_sse_broadcast(f->srv, "/events", "big", ev, sizeof(ev)), 1);
		uv_run(&f->loop, UV_RUN_NOWAIT);
	}
	long long t0 = ccp_test_now_ms();
	assert_int_equal(ccp_http_close(f->srv, on_closed, f), 0);
	assert_true(ccp_test_uv_run_until(&f->loop, is_closed, f, 5000));
	f->srv = NULL;
	long long took = ccp_test_now_ms() - t0;
	assert_true(took >= 450); /* close_timeout_ms 500: it waited, then cut */
	atomic_store(&j->go, 1);
	job_finish(f, j);
	assert_true(j->ok[0]); /* the client saw the connection end */
	assert_non_null(strstr(log_text(f), "cutting connections still busy"));
	free(j);
}

/* ---- max_connections ---------------------------------------------------------- */

static void script_max_conns(struct job *j)
{
	int fds[3];
	for (int i = 0; i < 3; i++)
		fds[i] = tcp_connect(j->port, 0);
	atomic_store(&j->step, 1);
	wait_go(j, 1);
	for (int i = 0; i < 3; i++) {
		if (fds[i] < 0)
			continue;
		j->ok[i] = send_str(fds[i], "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n") &&
			   read_to_eof(fds[i], j->raw[i], RAW_MAX, &j->len[i]);
		close(fds[i]);
	}
}

static bool two_open_one_rejected(void *arg)
{
	struct ccp_http_stats st;
	ccp_http_stats(((struct fx *)arg)->srv, &st);
	return st.connections == 2 && st.rejected == 1;
}

static void test_max_connections(void **state)
{
	struct fx *f = *state;
	fx_close(f);
	struct ccp_http_opts o;
	server_opts(&o);
	o.max_connections = 2;
	fx_start(f, &o);
	struct job *j = job_start(f, script_max_conns);
	run_until_step(f, j, 1);
	assert_true(ccp_test_uv_run_until(&f->loop, two_open_one_rejected, f, 10000));
	atomic_store(&j->go, 1);
	job_finish(f, j);
	/* two answered, the third closed at accept (its request may fail to send) */
	int answered = 0;
	for (int i = 0; i < 3; i++)
		if (j->len[i] && status_of(j->raw[i]) == 200)
			answered++;
	assert_int_equal(answered, 2);
	assert_int_equal(f->hello_calls, 2);
	free(j);
}

/* ---- options and errors -------------------------------------------------------- */

static void test_new_errors(void **state)
{
	struct fx *f = *state;
	struct ccp_http_opts o;
	char err[256];
	const char *bad[] = {"nocolon", "127.0.0.1:99999", "127.0.0.1:", "127.0.0.1:x", "[::1:80", "no.such.host.invalid:0"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		server_opts(&o);
		o.addr = bad[i];
		err[0] = 0;
		assert_null(ccp_http_new(&f->loop, &o, err, sizeof(err)));
		assert_true(strlen(err) > 0);
	}
	/* the port in use */
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", f->port);
	server_opts(&o);
	o.addr = addr;
	assert_null(ccp_http_new(&f->loop, &o, err, sizeof(err)));
	assert_non_null(strstr(err, "in use"));
	server_opts(&o);
	o.sse_keepalive_ms = 0;
	assert_null(ccp_http_new(&f->loop, &o, err, sizeof(err)));

	/* IPv6 loopback, if the machine has it */
	server_opts(&o);
	o.addr = "[::1]:0";
	struct ccp_http *s6 = ccp_http_new(&f->loop, &o, err, sizeof(err));
	if (s6) {
		assert_true(ccp_http_port(s6) > 0);
		struct fx tmp = {.closed = false};
		assert_int_equal(ccp_http_close(s6, on_closed, &tmp), 0);
		assert_true(ccp_test_uv_run_until(&f->loop, is_closed, &tmp, 5000));
	}

	assert_int_equal(ccp_http_route(f->srv, "/hello", hello_cb, f), -EEXIST);
	assert_int_equal(ccp_http_route(f->srv, "relative", hello_cb, f), -EINVAL);
	assert_int_equal(ccp_http_route(f->srv, "/x", NULL, f), -EINVAL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_get),
		T(test_routes),
		T(test_errors),
		T(test_query_route),
		T(test_sse),
		T(test_sse_tags),
		T(test_slow_client_cut),
		T(test_concurrent),
		T(test_close_with_open_connections),
		T(test_close_stuck_stream),
		T(test_max_connections),
		T(test_new_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
