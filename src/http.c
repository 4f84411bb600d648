/* The HTTP server (design notes in include/ccpulse/http.h).
 *
 * Reading guide. h2o parses, keeps connections alive and writes; we accept
 * the connections ourselves (so we can count them and reach their sockets
 * at close), register one h2o handler at "/" that does the exact-path
 * routing, and drive SSE streams as h2o "generators".
 *
 * h2o 2.2.5 rules this file keeps (lib/http1.c, lib/core/request.c,
 * lib/core/context.c, lib/common/socket/uv-binding.c.h):
 * - h2o_send() may be called once per proceed: a generator sends, then
 *   waits for proceed() before it sends again. The buffers handed over
 *   stay ours and must stay valid until that proceed(). After a FINAL or
 *   ERROR send, h2o calls neither proceed() nor stop(), and still writes
 *   the buffers later: the last bytes of a stream go into the request's
 *   pool, which lives until the request is disposed.
 * - stop() runs when h2o disposes a request whose generator is still
 *   set: the connection failed (a write error) or closed. h2o stops
 *   reading a connection while it writes a response, so a client that
 *   leaves an event stream is noticed only when a write to it fails.
 * - The socket of an accepted connection is closed by h2o, and the
 *   uv_close callback we gave h2o_uv_socket_create() runs after h2o has
 *   freed its connection: that is where a connection stops counting.
 * - h2o_context_dispose() ends with uv_run(UV_RUN_NOWAIT) to reap the
 *   timers it closed, which must not be called from a loop callback (and
 *   ccp_http_close() is always called from one). dispose_context() does
 *   the same steps without it; the loop reaps those handles, and the
 *   server's memory (which holds them) is freed one close-callback pass
 *   later (see finish()).
 */
#include "ccpulse/http.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <h2o.h>
#include <uv.h>

#include "ccpulse/log.h"
#include "hex.h"
#include "check.h"

#define DEFAULT_CTYPE "text/plain; charset=utf-8"
#define LISTEN_BACKLOG 511
#define ADDR_TEXT_MAX 300


/* A growable byte buffer (malloc). Owner: whoever embeds it. */
struct bytes {
	char *p;
	size_t len, cap;
};

struct stream;

/* One exact path and its handler. Owner: the server (routes array);
 * loop thread; lives until the server is freed. Its open streams hang
 * from it, so a broadcast touches only that path's streams. */
struct route {
	char *path;
	size_t path_len;
	ccp_http_handler_cb cb;
	void *ud;
	struct stream *streams; /* doubly linked, newest first */
	size_t nstreams;
};

/* An open event stream. Owner: the server (its route's list); loop
 * thread; lives from the handler that asked for it until the stream ends
 * (end_stream) or h2o disposes its request (on_stream_stop). */
struct stream {
	h2o_generator_t gen; /* h2o hands this back to proceed/stop */
	struct ccp_http *srv;
	struct route *route;
	h2o_req_t *req;
	int fd;              /* the connection's socket, to cut it */
	struct stream *prev, *next;
	struct bytes pend;   /* queued, not yet handed to h2o */
	struct bytes out;    /* handed to h2o; in flight until proceed */
	bool inflight;
	bool active;         /* something was queued since the last keep-alive tick */
	bool finishing;      /* server closing: end after the in-flight write */
	bool cut;            /* too far behind: end with an error */
	char *tag;           /* the handler's tag (malloc'd), or NULL */
};

/* An accepted connection. Owner: h2o from h2o_accept() until it closes
 * the socket; the server counts it (conns list) until then. Loop thread. */
struct conn {
	uv_tcp_t tcp; /* first: the close callback gets this pointer */
	struct ccp_http *srv;
	struct conn *prev, *next;
};

/* The one h2o handler, at "/". Owner: h2o's config (freed by it). */
struct root_handler {
	h2o_handler_t super;
	struct ccp_http *srv;
};

/* What a handler builds. Owner: on_req's stack; lives for one handler
 * call. The body is malloc'd while it grows and copied into the request's
 * pool once (h2o writes it after the handler returns). */
struct ccp_http_response {
	h2o_req_t *req;
	int status;
	h2o_iovec_t ctype;
	struct bytes body;
	bool sse;
	char *sse_tag; /* malloc'd; handed to the stream */
	bool oom; /* an allocation failed: answer 500 */
};

/* The server. Owner: the caller, from ccp_http_new() until the close
 * callback; every field is touched on the loop thread only. */
struct ccp_http {
	uv_loop_t *loop;
	struct ccp_http_opts o;
	char addr[ADDR_TEXT_MAX]; /* as given, for logs */
	uv_tcp_t listener;
	uv_timer_t keepalive;
	uv_timer_t deadline;      /* close: cut what is still busy */
	h2o_globalconf_t config;
	h2o_context_t ctx;
	h2o_accept_ctx_t accept_ctx;
	bool ctx_live;            /* h2o_context_init done, dispose pending */
	struct route **routes;
	size_t nroutes, routes_cap;
	struct conn *conns;
	int port;
	struct ccp_http_stats stats;
	bool closing;
	ccp_http_close_cb close_cb;
	void *close_ud;
};

static const h2o_generator_t plain_generator; /* no proceed/stop: single FINAL sends */

/* ---- small helpers ------------------------------------------------------- */

static int bytes_reserve(struct bytes *b, size_t add)
{
	if (add > SIZE_MAX - b->len)
		return -ENOMEM;
	size_t need = b->len + add;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	char *p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int bytes_add(struct bytes *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	int rc = bytes_reserve(b, n);
	if (rc)
		return rc;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static void bytes_free(struct bytes *b)
{
	free(b->p);
	*b = (struct bytes){0};
}

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	}
	return status < 300 ? "OK" : status < 400 ? "Redirect" : status < 500 ? "Client Error" : "Server Error";
}

static void log_kv2(const struct ccp_http *srv, enum ccp_log_level lv, const char *msg, const char *k, const char *v)
{
	if (srv->o.log)
		ccp_log_kv(srv->o.log, lv, msg, "http", srv->addr, k, v, NULL);
}

/* A socket's shutdown(2), for connections h2o holds: SHUT_RD makes an
 * idle reader see EOF; SHUT_RDWR also fails a write that waits on a
 * client that never reads. Either way h2o then closes the connection. */
static void conn_shutdown(struct conn *c, int how)
{
	uv_os_fd_t fd;
	if (uv_fileno((const uv_handle_t *)&c->tcp, &fd) == 0)
		(void)shutdown(fd, how);
}

/* ---- plain responses ----------------------------------------------------- */

/* Sends a whole response in one FINAL send. `body` must live as long as
 * the request (a literal or the request's pool). */
static void send_whole(h2o_req_t *req, int status, h2o_iovec_t ctype, const char *body, size_t len, bool head)
{
	req->res.status = status;
	req->res.reason = reason_phrase(status);
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype.base, ctype.len);
	req->res.content_length = len;
	h2o_start_response(req, (h2o_generator_t *)&plain_generator);
	h2o_iovec_t buf = h2o_iovec_init(body, len);
	h2o_send(req, &buf, (head || len == 0) ? 0 : 1, H2O_SEND_STATE_FINAL);
}

static void send_text(h2o_req_t *req, int status, const char *text, bool head)
{
	send_whole(req, status, h2o_iovec_init(H2O_STRLIT(DEFAULT_CTYPE)), text, strlen(text), head);
}

/* ---- streams ------------------------------------------------------------- */

static void stream_detach(struct stream *st)
{
	struct route *r = st->route;
	if (st->prev)
		st->prev->next = st->next;
	else
		r->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	r->nstreams--;
	st->srv->stats.sse_closed++;
	bytes_free(&st->pend);
	bytes_free(&st->out);
	free(st->tag);
	free(st);
}

/* Ends a stream that has no write in flight: FINAL after what is still
 * queued (a clean end of the chunked body), or ERROR (a broken chunk; h2o
 * closes the connection). The stream is freed before h2o_send, as h2o
 * will never call back into it. */
static void end_stream(struct stream *st, h2o_send_state_t state)
{
	CCP__CHECK(!st->inflight);
	h2o_req_t *req = st->req;
	h2o_iovec_t buf = {NULL, 0};
	if (state == H2O_SEND_STATE_FINAL && st->pend.len) {
		buf.base = h2o_mem_alloc_pool(&req->pool, st->pend.len);
		memcpy(buf.base, st->pend.p, st->pend.len);
		buf.len = st->pend.len;
	}
	/* No next request on this connection: the stream was its last use. */
	req->http1_is_persistent = 0;
	stream_detach(st);
	h2o_send(req, &buf, buf.len ? 1 : 0, state);
}

/* Hands what is queued to h2o if nothing is in flight. */
static void stream_flush(struct stream *st)
{
	if (st->inflight || st->pend.len == 0)
		return;
	struct bytes t = st->out; /* empty: nothing in flight */
	st->out = st->pend;
	st->pend = t;
	st->pend.len = 0;
	st->inflight = true;
	h2o_iovec_t buf = h2o_iovec_init(st->out.p, st->out.len);
	h2o_send(st->req, &buf, 1, H2O_SEND_STATE_IN_PROGRESS);
}

/* The client is too far behind: shut its socket so the write it does not
 * read fails, and end the stream with an error. */
static void stream_cut(struct stream *st)
{
	st->cut = true;
	st->srv->stats.sse_cut++;
	bytes_free(&st->pend);
	if (st->fd >= 0)
		(void)shutdown(st->fd, SHUT_RDWR);
	log_kv2(st->srv, CCP_LOG_WARN, "event stream cut: client too far behind", "path", st->route->path);
	if (!st->inflight)
		end_stream(st, H2O_SEND_STATE_ERROR);
}

/* Queues bytes on a stream. Returns 1 if queued, 0 if the stream is
 * ending (or was cut now), -ENOMEM. May free `st`. */
static int stream_queue(struct stream *st, const char *p, size_t n)
{
	if (st->cut || st->finishing)
		return 0;
	/* Only a stream with a write outstanding is behind; with none, even
	 * an event larger than the limit leaves at once. */
	if (st->inflight && st->pend.len + n > st->srv->o.sse_max_pending_bytes) {
		stream_cut(st);
		return 0;
	}
	if (bytes_add(&st->pend, p, n))
		return -ENOMEM;
	st->active = true;
	stream_flush(st);
	return 1;
}

static void on_stream_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
	struct stream *st = (struct stream *)gen;
	(void)req;
	st->inflight = false;
	st->out.len = 0;
	if (st->cut)
		end_stream(st, H2O_SEND_STATE_ERROR);
	else if (st->finishing)
		end_stream(st, H2O_SEND_STATE_FINAL);
	else
		stream_flush(st);
}

static void on_stream_stop(h2o_generator_t *gen, h2o_req_t *req)
{
	(void)req;
	stream_detach((struct stream *)gen); /* h2o is done with the buffers too */
}

static void add_sse_headers(h2o_req_t *req)
{
	req->res.status = 200;
	req->res.reason = "OK";
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("text/event-stream"));
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-cache"));
	/* Proxies such as nginx would otherwise hold events back. */
	h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-accel-buffering"), 0, NULL, H2O_STRLIT("no"));
}

/* `tag` (may be NULL) becomes the stream's, freed with it. */
static void start_stream(struct ccp_http *srv, struct route *r, h2o_req_t *req, bool head, char *tag)
{
	if (head) {
		free(tag);
		add_sse_headers(req);
		h2o_start_response(req, (h2o_generator_t *)&plain_generator);
		h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
		return;
	}
	h2o_socket_t *sock = req->conn->callbacks->get_socket ? req->conn->callbacks->get_socket(req->conn) : NULL;
	struct stream *st = calloc(1, sizeof(*st));
	if (!st) {
		free(tag);
		send_text(req, 503, "out of memory\n", false);
		return;
	}
	st->tag = tag;
	st->gen.proceed = on_stream_proceed;
	st->gen.stop = on_stream_stop;
	st->srv = srv;
	st->route = r;
	st->req = req;
	st->fd = sock ? h2o_socket_get_fd(sock) : -1;
	st->next = r->streams;
	if (r->streams)
		r->streams->prev = st;
	r->streams = st;
	r->nstreams++;
	srv->stats.sse_opened++;

	add_sse_headers(req);
	h2o_start_response(req, &st->gen);
	/* Something to send at once, so the headers go out now. */
	char first[64];
	int n = srv->o.sse_retry_ms > 0 ? snprintf(first, sizeof(first), "retry: %d\n\n", srv->o.sse_retry_ms)
					: snprintf(first, sizeof(first), ": open\n\n");
	if (stream_queue(st, first, (size_t)n) < 0) {
		st->finishing = true;
		end_stream(st, H2O_SEND_STATE_ERROR);
	}
}

static void on_keepalive(uv_timer_t *t)
{
	struct ccp_http *srv = t->data;
	static const char comment[] = ": keep-alive\n\n";
	for (size_t i = 0; i < srv->nroutes; i++) {
		struct stream *st = srv->routes[i]->streams, *next;
		for (; st; st = next) {
			next = st->next; /* st may be freed below */
			bool idle = !st->active;
			st->active = false;
			/* The comment itself is no activity: an idle stream gets one
			 * every tick. */
			if (idle && stream_queue(st, comment, sizeof(comment) - 1) == 1) {
				srv->stats.sse_keepalives++;
				st->active = false;
			}
		}
	}
}

/* ---- requests ------------------------------------------------------------ */

static struct route *find_route(const struct ccp_http *srv, const char *path, size_t len)
{
	for (size_t i = 0; i < srv->nroutes; i++) {
		struct route *r = srv->routes[i];
		if (r->path_len == len && memcmp(r->path, path, len) == 0)
			return r;
	}
	return NULL;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct ccp_http *srv = ((struct root_handler *)self)->srv;
	bool get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"));
	bool head = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
	srv->stats.requests++;

	struct route *r = find_route(srv, req->path_normalized.base, req->path_normalized.len);
	if (!r) {
		srv->stats.not_found++;
		send_text(req, 404, "not found\n", head);
		return 0;
	}
	if (!get && !head) {
		srv->stats.bad_method++;
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("GET, HEAD"));
		send_text(req, 405, "method not allowed\n", false);
		return 0;
	}

	struct ccp_http_request in = {
		.method = req->method.base,
		.method_len = req->method.len,
		.path = req->path_normalized.base,
		.path_len = req->path_normalized.len,
		.head = head,
		._h2o_req = req,
	};
	if (req->query_at != SIZE_MAX) {
		in.query = req->path.base + req->query_at + 1;
		in.query_len = req->path.len - req->query_at - 1;
	}
	struct ccp_http_response res = {
		.req = req,
		.status = 200,
		.ctype = h2o_iovec_init(H2O_STRLIT(DEFAULT_CTYPE)),
	};
	r->cb(r->ud, &in, &res);

	if (res.oom) {
		bytes_free(&res.body);
		send_text(req, 500, "out of memory\n", head);
		return 0;
	}
	if (res.sse) {
		bytes_free(&res.body);
		if (srv->closing) {
			free(res.sse_tag);
			send_text(req, 503, "shutting down\n", head);
		} else {
			start_stream(srv, r, req, head, res.sse_tag);
		}
		return 0;
	}
	free(res.sse_tag); /* set, then a plain answer after all */
	char *body = NULL;
	if (res.body.len && !head) {
		body = h2o_mem_alloc_pool(&req->pool, res.body.len);
		memcpy(body, res.body.p, res.body.len);
	}
	size_t len = res.body.len;
	bytes_free(&res.body);
	send_whole(req, res.status, res.ctype, body, len, head);
	return 0;
}

void ccp_http_response_status(struct ccp_http_response *res, int status)
{
	res->status = status >= 100 && status <= 599 ? status : 500;
}

static bool has_crlf(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

int ccp_http_response_content_type(struct ccp_http_response *res, const char *type)
{
	if (!type || !*type || has_crlf(type))
		return -EINVAL;
	res->ctype = h2o_strdup(&res->req->pool, type, SIZE_MAX);
	return 0;
}

int ccp_http_response_header(struct ccp_http_response *res, const char *name, const char *value)
{
	if (!name || !*name || !value || has_crlf(value))
		return -EINVAL;
	for (const char *p = name; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == ':' || (unsigned char)*p >= 0x7f)
			return -EINVAL;
	/* Framing is the server's: a handler's value would contradict it. */
	static const char *const framing[] = {"content-length", "transfer-encoding", "connection"};
	for (size_t i = 0; i < sizeof(framing) / sizeof(framing[0]); i++)
		if (!strcasecmp(name, framing[i]))
			return -EINVAL;
	h2o_mem_pool_t *pool = &res->req->pool;
	/* Lower case, as h2o's own names are, so known names map to its tokens. */
	h2o_iovec_t n = h2o_strdup(pool, name, SIZE_MAX);
	h2o_strtolower(n.base, n.len);
	h2o_iovec_t v = h2o_strdup(pool, value, SIZE_MAX);
	h2o_add_header_by_str(pool, &res->req->res.headers, n.base, n.len, 1, NULL, v.base, v.len);
	return 0;
}

int ccp_http_response_body(struct ccp_http_response *res, const void *body, size_t len)
{
	res->body.len = 0;
	return ccp_http_response_append(res, body, len);
}

int ccp_http_response_append(struct ccp_http_response *res, const void *data, size_t len)
{
	int rc = bytes_add(&res->body, data, len);
	if (rc)
		res->oom = true;
	return rc;
}

void ccp_http_response_sse(struct ccp_http_response *res)
{
	res->sse = true;
}

int ccp_http_response_sse_tag(struct ccp_http_response *res, const char *tag)
{
	if (!tag || strlen(tag) > CCP_HTTP_SSE_TAG_MAX)
		return -EINVAL;
	char *t = strdup(tag);
	if (!t)
		return -ENOMEM;
	free(res->sse_tag);
	res->sse_tag = t;
	res->sse = true;
	return 0;
}

const char *ccp_http_request_header(const struct ccp_http_request *req, const char *name, size_t *len)
{
	const h2o_req_t *r = req->_h2o_req;
	size_t nl = strlen(name);
	for (size_t i = 0; i < r->headers.size; i++) {
		const h2o_header_t *h = r->headers.entries + i;
		if (h->name->len == nl && strncasecmp(h->name->base, name, nl) == 0) {
			if (len)
				*len = h->value.len;
			return h->value.base;
		}
	}
	return NULL;
}

/* ---- queries ------------------------------------------------------------- */

/* Decodes one key or value of a query. Returns its length, -EINVAL for
 * a bad escape, -ENOSPC if it does not fit `outlen` with its NUL. */
static long decode_component(const char *s, size_t n, char *out, size_t outlen)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			if (n - i < 3)
				return -EINVAL;
			int hi = ccp__hexval(s[i + 1]), lo = ccp__hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (o + 1 >= outlen)
			return -ENOSPC;
		out[o++] = c;
	}
	if (outlen == 0)
		return -ENOSPC;
	out[o] = 0;
	return (long)o;
}

int ccp_http_query_get(const char *query, size_t query_len, const char *name, char *out, size_t outlen,
		       size_t *out_len)
{
	if (!query || !name)
		return 0;
	size_t name_len = strlen(name);
	const char *p = query, *end = query + query_len;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *pe = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(pe - p));
		const char *ke = eq ? eq : pe;
		/* Keys are compared decoded, so "na%6De" matches "name". */
		char key[256];
		long kl = decode_component(p, (size_t)(ke - p), key, sizeof(key));
		if (kl >= 0 && (size_t)kl == name_len && memcmp(key, name, name_len) == 0) {
			const char *vs = eq ? eq + 1 : pe;
			long vl = decode_component(vs, (size_t)(pe - vs), out, outlen);
			if (vl < 0)
				return (int)vl;
			if (out_len)
				*out_len = (size_t)vl;
			return 1;
		}
		p = amp ? amp + 1 : end;
	}
	return 0;
}

/* ---- Server-Sent Events -------------------------------------------------- */

/* Formats one event. Returns 0, -EINVAL, -ENOMEM. */
static int format_event(struct bytes *b, const char *event, const char *data, size_t len)
{
	int rc = 0;
	if (event && *event) {
		if (has_crlf(event))
			return -EINVAL;
		rc |= bytes_add(b, "event: ", 7);
		rc |= bytes_add(b, event, strlen(event));
		rc |= bytes_add(b, "\n", 1);
	}
	/* One data line per line of `data`: a bare line break inside a
	 * field would end it. An empty `data` is one empty data line. */
	size_t i = 0;
	do {
		const char *nl = len > i ? memchr(data + i, '\n', len - i) : NULL;
		size_t e = nl ? (size_t)(nl - data) : len;
		size_t le = e;
		if (le > i && data[le - 1] == '\r')
			le--;
		rc |= bytes_add(b, "data: ", 6);
		rc |= bytes_add(b, data + i, le - i);
		rc |= bytes_add(b, "\n", 1);
		i = e + 1;
		if (!nl)
			break;
	} while (i <= len);
	rc |= bytes_add(b, "\n", 1);
	return rc ? -ENOMEM : 0;
}

/* A stream a broadcast or count for `tag` selects: all with NULL. */
static bool tag_selects(const struct stream *st, const char *tag)
{
	return !tag || (st->tag && !strcmp(st->tag, tag));
}

int ccp_http_sse_broadcast(struct ccp_http *srv, const char *path, const char *event, const char *data, size_t len)
{
	return ccp_http_sse_broadcast_tag(srv, path, NULL, event, data, len);
}

int ccp_http_sse_broadcast_tag(struct ccp_http *srv, const char *path, const char *tag, const char *event,
			       const char *data, size_t len)
{
	if (srv->closing)
		return -ESHUTDOWN;
	if (!path || (!data && len))
		return -EINVAL;
	struct route *r = find_route(srv, path, strlen(path));
	if (event && has_crlf(event))
		return -EINVAL;
	if (!r || !r->streams)
		return 0;
	struct bytes ev = {0};
	int rc = format_event(&ev, event, data ? data : "", len);
	if (rc) {
		bytes_free(&ev);
		return rc;
	}
	int n = 0;
	struct stream *st = r->streams, *next;
	for (; st; st = next) {
		next = st->next; /* st may be freed below */
		if (!tag_selects(st, tag))
			continue;
		int q = stream_queue(st, ev.p, ev.len);
		if (q < 0) {
			rc = q;
			continue;
		}
		n += q;
	}
	srv->stats.sse_events += (uint64_t)n;
	bytes_free(&ev);
	return n ? n : rc;
}

size_t ccp_http_sse_count_tag(const struct ccp_http *srv, const char *path, const char *tag)
{
	const struct route *r = find_route(srv, path, strlen(path));
	size_t n = 0;
	for (const struct stream *st = r ? r->streams : NULL; st; st = st->next)
		n += tag_selects(st, tag) && !st->cut && !st->finishing;
	return n;
}

size_t ccp_http_sse_count(const struct ccp_http *srv, const char *path)
{
	if (path) {
		const struct route *r = find_route(srv, path, strlen(path));
		return r ? r->nstreams : 0;
	}
	size_t n = 0;
	for (size_t i = 0; i < srv->nroutes; i++)
		n += srv->routes[i]->nstreams;
	return n;
}

/* ---- connections --------------------------------------------------------- */

static void on_rejected_closed(uv_handle_t *h)
{
	free(h); /* struct conn, never given to h2o */
}

static void finish(struct ccp_http *srv);

static void on_conn_closed(uv_handle_t *h)
{
	struct conn *c = (struct conn *)h;
	struct ccp_http *srv = c->srv;
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->stats.connections--;
	free(c);
	if (srv->closing && srv->stats.connections == 0)
		finish(srv);
}

static void on_accept(uv_stream_t *l, int status)
{
	struct ccp_http *srv = l->data;
	if (status < 0) {
		log_kv2(srv, CCP_LOG_WARN, "accept failed", "error", uv_strerror(status));
		return;
	}
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		log_kv2(srv, CCP_LOG_ERROR, "accept: out of memory", "error", "ENOMEM");
		return;
	}
	c->srv = srv;
	uv_tcp_init(srv->loop, &c->tcp);
	if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
		uv_close((uv_handle_t *)&c->tcp, on_rejected_closed);
		return;
	}
	if (srv->closing || srv->stats.connections >= (size_t)srv->o.max_connections) {
		srv->stats.rejected++;
		uv_close((uv_handle_t *)&c->tcp, on_rejected_closed);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1); /* events are small and should leave at once */
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->stats.connections++;
	srv->stats.accepted++;
	h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)&c->tcp, on_conn_closed);
	h2o_accept(&srv->accept_ctx, sock);
}

/* ---- address ------------------------------------------------------------- */

/* "HOST:PORT" -> sockaddr. Returns 0 or -1 with `err` filled. */
static int parse_addr(const char *s, struct sockaddr_storage *ss, char *err, size_t errlen)
{
	const char *colon = strrchr(s, ':');
	if (!colon) {
		snprintf(err, errlen, "http address '%s': expected HOST:PORT", s);
		return -1;
	}
	char host[256];
	const char *hs = s, *he = colon;
	if (*hs == '[') {
		if (he == hs || he[-1] != ']') {
			snprintf(err, errlen, "http address '%s': expected [IPv6]:PORT", s);
			return -1;
		}
		hs++;
		he--;
	}
	if ((size_t)(he - hs) >= sizeof(host)) {
		snprintf(err, errlen, "http address '%s': host too long", s);
		return -1;
	}
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = 0;
	char *pe;
	errno = 0;
	long port = strtol(colon + 1, &pe, 10);
	if (colon[1] < '0' || colon[1] > '9' || *pe || errno || port < 0 || port > 65535) {
		snprintf(err, errlen, "http address '%s': port must be 0..65535", s);
		return -1;
	}
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	if (!*host || !strcmp(host, "*")) {
		a4->sin_family = AF_INET;
		a4->sin_addr.s_addr = htonl(INADDR_ANY);
	} else if (!strcmp(host, "localhost")) {
		a4->sin_family = AF_INET;
		a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
	} else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
	} else {
		/* A name: resolved once, here, before the server takes any load. */
		struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
		struct addrinfo *ai = NULL;
		int rc = getaddrinfo(host, NULL, &hints, &ai);
		if (rc || !ai) {
			snprintf(err, errlen, "http address '%s': cannot resolve: %s", s, gai_strerror(rc));
			return -1;
		}
		memcpy(ss, ai->ai_addr, ai->ai_addrlen);
		freeaddrinfo(ai);
	}
	if (ss->ss_family == AF_INET)
		a4->sin_port = htons((uint16_t)port);
	else
		a6->sin6_port = htons((uint16_t)port);
	return 0;
}

/* A listening socket, before any libuv handle exists, so a failure
 * needs no asynchronous cleanup. Returns the fd or -1 with `err`. */
static int listen_socket(const char *addr, const struct sockaddr_storage *ss, char *err, size_t errlen)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "http %s: socket: %s", addr, strerror(errno));
		return -1;
	}
	int one = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	socklen_t len = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	if (bind(fd, (const struct sockaddr *)ss, len) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
		snprintf(err, errlen, "http %s: %s", addr, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- life cycle ---------------------------------------------------------- */

void ccp_http_opts_defaults(struct ccp_http_opts *o)
{
	*o = (struct ccp_http_opts){
		.addr = "127.0.0.1:8080",
		.sse_keepalive_ms = 15000,
		.sse_retry_ms = 2000,
		.sse_max_pending_bytes = 1 << 20,
		.request_timeout_ms = 10000,
		.max_body_bytes = 16 << 10,
		.max_connections = 1024,
		.close_timeout_ms = 2000,
	};
}

static void ignore_sigpipe(void)
{
	struct sigaction sa;
	if (sigaction(SIGPIPE, NULL, &sa) != 0)
		return;
	if (!(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_DFL) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_IGN;
		sigemptyset(&sa.sa_mask);
		(void)sigaction(SIGPIPE, &sa, NULL);
	}
}

static void on_failed_listener_closed(uv_handle_t *h)
{
	struct ccp_http *srv = h->data;
	h2o_config_dispose(&srv->config);
	free(srv);
}

struct ccp_http *ccp_http_new(uv_loop_t *loop, const struct ccp_http_opts *o, char *err, size_t errlen)
{
	if (!loop || !o || !o->addr) {
		snprintf(err, errlen, "http: missing loop, options or address");
		return NULL;
	}
	if (o->sse_keepalive_ms < 10 || o->sse_retry_ms < 0 || o->sse_max_pending_bytes < 1024 ||
	    o->request_timeout_ms < 10 || o->max_body_bytes < 1 || o->max_connections < 1 || o->close_timeout_ms < 1) {
		snprintf(err, errlen,
			 "http: bad option (sse_keepalive_ms >= 10, sse_retry_ms >= 0, sse_max_pending_bytes >= 1024, "
			 "request_timeout_ms >= 10, max_body_bytes >= 1, max_connections >= 1, close_timeout_ms >= 1)");
		return NULL;
	}
	struct sockaddr_storage ss;
	if (parse_addr(o->addr, &ss, err, errlen))
		return NULL;
	int fd = listen_socket(o->addr, &ss, err, errlen);
	if (fd < 0)
		return NULL;

	struct ccp_http *srv = calloc(1, sizeof(*srv));
	if (!srv) {
		close(fd);
		snprintf(err, errlen, "http: out of memory");
		return NULL;
	}
	srv->loop = loop;
	srv->o = *o;
	snprintf(srv->addr, sizeof(srv->addr), "%s", o->addr);
	srv->o.addr = srv->addr;

	h2o_config_init(&srv->config);
	srv->config.server_name = h2o_iovec_init(H2O_STRLIT("ccpulse"));
	srv->config.max_request_entity_size = o->max_body_bytes;
	srv->config.http1.req_timeout = (uint64_t)o->request_timeout_ms;
	srv->config.http1.upgrade_to_http2 = 0;
	h2o_hostconf_t *host = h2o_config_register_host(&srv->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	h2o_pathconf_t *root = h2o_config_register_path(host, "/", 0);
	struct root_handler *rh = (struct root_handler *)h2o_create_handler(root, sizeof(*rh));
	rh->super.on_req = on_req;
	rh->srv = srv;

	uv_tcp_init(loop, &srv->listener);
	srv->listener.data = srv;
	int rc = uv_tcp_open(&srv->listener, fd);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&srv->listener, LISTEN_BACKLOG, on_accept);
	if (rc != 0) {
		snprintf(err, errlen, "http %s: %s", o->addr, uv_strerror(rc));
		/* The handle owns fd (or will close it) and frees srv once closed. */
		uv_close((uv_handle_t *)&srv->listener, on_failed_listener_closed);
		return NULL;
	}
	struct sockaddr_storage bound;
	int blen = sizeof(bound);
	if (uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&bound, &blen) == 0)
		srv->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
							   : ((struct sockaddr_in *)&bound)->sin_port);

	h2o_context_init(&srv->ctx, loop, &srv->config);
	srv->ctx_live = true;
	srv->accept_ctx.ctx = &srv->ctx;
	srv->accept_ctx.hosts = srv->config.hosts;

	uv_timer_init(loop, &srv->keepalive);
	srv->keepalive.data = srv;
	uv_timer_start(&srv->keepalive, on_keepalive, (uint64_t)o->sse_keepalive_ms, (uint64_t)o->sse_keepalive_ms);
	uv_timer_init(loop, &srv->deadline);
	srv->deadline.data = srv;

	ignore_sigpipe();
	if (srv->o.log) {
		char port[16];
		snprintf(port, sizeof(port), "%d", srv->port);
		ccp_log_kv(srv->o.log, CCP_LOG_INFO, "http listening", "http", srv->addr, "port", port, NULL);
	}
	return srv;
}

int ccp_http_port(const struct ccp_http *srv)
{
	return srv->port;
}

int ccp_http_route(struct ccp_http *srv, const char *path, ccp_http_handler_cb cb, void *ud)
{
	if (srv->closing)
		return -ESHUTDOWN;
	if (!path || path[0] != '/' || !cb)
		return -EINVAL;
	size_t len = strlen(path);
	if (find_route(srv, path, len))
		return -EEXIST;
	if (srv->nroutes == srv->routes_cap) {
		size_t cap = srv->routes_cap ? srv->routes_cap * 2 : 8;
		struct route **rs = realloc(srv->routes, cap * sizeof(*rs));
		if (!rs)
			return -ENOMEM;
		srv->routes = rs;
		srv->routes_cap = cap;
	}
	struct route *r = calloc(1, sizeof(*r));
	char *p = malloc(len + 1);
	if (!r || !p) {
		free(r);
		free(p);
		return -ENOMEM;
	}
	memcpy(p, path, len + 1);
	r->path = p;
	r->path_len = len;
	r->cb = cb;
	r->ud = ud;
	srv->routes[srv->nroutes++] = r;
	return 0;
}

void ccp_http_stats(const struct ccp_http *srv, struct ccp_http_stats *out)
{
	*out = srv->stats;
	out->streams = ccp_http_sse_count(srv, NULL);
}

/* h2o_context_dispose() without its uv_run (see the top of this file):
 * the same steps, in its order, for h2o 2.2.5's h2o_context_t. */
static void dispose_context(h2o_context_t *ctx)
{
	h2o_globalconf_t *config = ctx->globalconf;
	for (size_t i = 0; config->hosts[i] != NULL; i++) {
		h2o_hostconf_t *hostconf = config->hosts[i];
		for (size_t j = 0; j != hostconf->paths.size; j++)
			h2o_context_dispose_pathconf_context(ctx, hostconf->paths.entries + j);
		h2o_context_dispose_pathconf_context(ctx, &hostconf->fallback_path);
	}
	free(ctx->_pathconfs_inited.entries);
	free(ctx->_module_configs);
	h2o_timeout_dispose(ctx->loop, &ctx->zero_timeout);
	h2o_timeout_dispose(ctx->loop, &ctx->one_sec_timeout);
	h2o_timeout_dispose(ctx->loop, &ctx->hundred_ms_timeout);
	h2o_timeout_dispose(ctx->loop, &ctx->handshake_timeout);
	h2o_timeout_dispose(ctx->loop, &ctx->http1.req_timeout);
	h2o_timeout_dispose(ctx->loop, &ctx->http2.idle_timeout);
	h2o_timeout_dispose(ctx->loop, &ctx->http2.graceful_shutdown_timeout);
	h2o_timeout_dispose(ctx->loop, &ctx->proxy.io_timeout);
	h2o_filecache_destroy(ctx->filecache);
	ctx->filecache = NULL;
	for (size_t i = 0; i != ctx->storage.size; i++) {
		h2o_context_storage_item_t *item = ctx->storage.entries + i;
		if (item->dispose)
			item->dispose(item->data);
	}
	free(ctx->storage.entries);
	h2o_multithread_unregister_receiver(ctx->queue, &ctx->receivers.hostinfo_getaddr);
	h2o_multithread_destroy_queue(ctx->queue);
	if (ctx->_timestamp_cache.value)
		h2o_mem_release_shared(ctx->_timestamp_cache.value);
}

static void on_stage2_closed(uv_handle_t *h)
{
	struct ccp_http *srv = h->data;
	ccp_http_close_cb cb = srv->close_cb;
	void *ud = srv->close_ud;
	for (size_t i = 0; i < srv->nroutes; i++) {
		free(srv->routes[i]->path);
		free(srv->routes[i]);
	}
	free(srv->routes);
	free(srv);
	if (cb)
		cb(ud);
}

static void on_stage1_closed(uv_handle_t *h)
{
	struct ccp_http *srv = h->data;
	/* Closed from a close callback, this one's callback runs in a later
	 * pass than every handle closed before: h2o's timers and async,
	 * which live inside srv, are reaped by then. */
	uv_close((uv_handle_t *)&srv->keepalive, on_stage2_closed);
}

/* Every connection is gone: release h2o and our handles. */
static void finish(struct ccp_http *srv)
{
	uv_timer_stop(&srv->deadline);
	if (srv->ctx_live) {
		dispose_context(&srv->ctx);
		srv->ctx_live = false;
	}
	h2o_config_dispose(&srv->config);
	uv_close((uv_handle_t *)&srv->deadline, on_stage1_closed);
}

static void on_close_deadline(uv_timer_t *t)
{
	struct ccp_http *srv = t->data;
	char n[32];
	snprintf(n, sizeof(n), "%zu", srv->stats.connections);
	log_kv2(srv, CCP_LOG_WARN, "http close: cutting connections still busy", "connections", n);
	for (struct conn *c = srv->conns; c; c = c->next)
		conn_shutdown(c, SHUT_RDWR);
}

int ccp_http_close(struct ccp_http *srv, ccp_http_close_cb cb, void *ud)
{
	if (srv->closing)
		return -EALREADY;
	srv->closing = true;
	srv->close_cb = cb;
	srv->close_ud = ud;
	/* Requests still arriving on open connections get no keep-alive. */
	srv->ctx.shutdown_requested = 1;
	uv_close((uv_handle_t *)&srv->listener, NULL);
	uv_timer_stop(&srv->keepalive);
	for (size_t i = 0; i < srv->nroutes; i++) {
		struct stream *st = srv->routes[i]->streams, *next;
		for (; st; st = next) {
			next = st->next;
			st->finishing = true;
			if (!st->inflight)
				end_stream(st, H2O_SEND_STATE_FINAL);
		}
	}
	/* Idle keep-alive connections wait in a read: EOF ends them. Busy ones
	 * finish their response, find no keep-alive, and close. */
	for (struct conn *c = srv->conns; c; c = c->next)
		conn_shutdown(c, SHUT_RD);
	if (srv->stats.connections == 0)
		finish(srv);
	else
		uv_timer_start(&srv->deadline, on_close_deadline, (uint64_t)srv->o.close_timeout_ms,
			       (uint64_t)srv->o.close_timeout_ms);
	return 0;
}
