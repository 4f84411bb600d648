/* The HTTP server: plain HTTP/1.x on a caller's libuv loop (h2o's libuv
 * build), an exact-path route table, and Server-Sent Events streams.
 *
 * DESIGN
 * - One server lives on one uv_loop and every function here is called on
 *   that loop's thread (@thread loop). Nothing blocks: handlers answer
 *   synchronously from what they already hold; the loop does the I/O.
 * - Requests go through h2o 2.2.5 (Debian 12's libh2o, built on libuv):
 *   request parsing, keep-alive, chunked encoding, the request timeout and
 *   size limits are h2o's (a request head over 408 KiB or with over 100
 *   headers: 400, compiled into libh2o; a body over max_body_bytes:
 *   413). h2c upgrades and TLS are off: HTTP/1.x only, for a wallboard,
 *   scrapers and probes on a trusted network.
 * - Routing is ours: an exact match of the normalized path (no query, no
 *   prefix matching); anything else is 404. Only GET and HEAD reach a
 *   handler; other methods get 405 with "Allow: GET, HEAD". HEAD runs the
 *   handler and sends its headers and Content-Length without the body.
 * - A handler fills a struct ccp_http_response (status, content type,
 *   headers, body; all copied) before it returns. Or it marks the request
 *   as an event stream (ccp_http_response_sse): the server then answers
 *   200 text/event-stream, no-cache, keeps the connection open, and
 *   ccp_http_sse_broadcast() writes events to every open stream of that
 *   path. A handler may tag its stream (ccp_http_response_sse_tag), and
 *   a broadcast may then go to one tag's streams only: one path serves
 *   clients that asked for different content. A stream that was idle for a whole keep-alive interval gets a
 *   comment line, which also finds clients that went away (h2o does not
 *   read during a response, so a dead peer shows up as a failed write).
 * - Backpressure: each stream queues what it could not write yet, up to
 *   sse_max_pending_bytes; a client that falls further behind is cut off
 *   (counted), never allowed to grow the server's memory.
 * - ccp_http_new() sets SIGPIPE to SIG_IGN if it is at SIG_DFL (process
 *   wide): libuv writes sockets with write(2), and a browser closing a
 *   stream must cost an EPIPE, not the process.
 * - Close: stops listening, ends every stream after its queued events
 *   (a final chunk), closes idle keep-alive connections, cuts whatever is
 *   still writing after close_timeout_ms, then closes h2o's handles and
 *   frees the server just before close_cb. The loop can then end with
 *   uv_loop_close() == 0.
 */
#ifndef CCPULSE_HTTP_H
#define CCPULSE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct uv_loop_s;
struct ccp_log;
struct ccp_http;
struct ccp_http_response;

/* A request as a handler sees it. Owner: the server; borrowed for the
 * handler call only (copy what must outlive it). Strings are not
 * NUL-terminated. */
struct ccp_http_request {
	const char *method;   /* "GET" or "HEAD" */
	size_t method_len;
	const char *path;     /* normalized path, without the query */
	size_t path_len;
	const char *query;    /* raw query after '?', not decoded; NULL if none */
	size_t query_len;
	bool head;            /* HEAD: the body will not be sent */
	const void *_h2o_req; /* private: the h2o request */
};

/* Handles one request of its route: fills `res` before returning.
 * @thread loop */
typedef void (*ccp_http_handler_cb)(void *ud, const struct ccp_http_request *req, struct ccp_http_response *res);
/* After the server is freed (ccp_http_close). */
typedef void (*ccp_http_close_cb)(void *ud);

/* Options. Owner: the caller; copied by ccp_http_new(). */
struct ccp_http_opts {
	const char *addr;             /* "HOST:PORT": IPv4, [IPv6], localhost, * or
	                               * empty host for any; port 0 picks a free
	                               * one. "127.0.0.1:8080" */
	int sse_keepalive_ms;         /* comment on streams idle this long; 15000 */
	int sse_retry_ms;             /* "retry:" sent when a stream opens; 2000; 0: none */
	size_t sse_max_pending_bytes; /* per stream, queued behind a write the client
	                               * has not taken yet; beyond it the stream
	                               * is cut; 1 MiB */
	int request_timeout_ms;       /* to read a request (and keep-alive idle); 10000 */
	size_t max_body_bytes;        /* request body (413 beyond); 16 KiB */
	int max_connections;          /* open connections; more are closed at accept; 1024 */
	int close_timeout_ms;         /* at close, connections still busy after this are cut; 2000 */
	const struct ccp_log *log;    /* NULL: no log lines */
};

/* Counters since ccp_http_new(). Plain copy; loop thread. */
struct ccp_http_stats {
	uint64_t accepted;          /* connections accepted and served */
	uint64_t rejected;          /* closed at accept: max_connections */
	uint64_t requests;          /* requests that reached routing */
	uint64_t not_found;         /* 404 */
	uint64_t bad_method;        /* 405 */
	uint64_t sse_opened;
	uint64_t sse_closed;        /* ended for any reason, cut ones included */
	uint64_t sse_cut;           /* cut for falling sse_max_pending_bytes behind */
	uint64_t sse_events;        /* events queued, summed over streams */
	uint64_t sse_keepalives;    /* keep-alive comments queued */
	size_t connections;         /* open now */
	size_t streams;             /* open now */
};

/* Defaults as listed in struct ccp_http_opts. */
void ccp_http_opts_defaults(struct ccp_http_opts *o);

/* Creates a server on `loop`, bound and listening on o->addr (a host
 * name other than localhost is resolved once, blocking, here). Returns
 * NULL with a message in `err` (a bad option, or the bind error with the
 * address). @thread loop */
struct ccp_http *ccp_http_new(struct uv_loop_s *loop, const struct ccp_http_opts *o, char *err, size_t errlen);

/* The bound port (the one picked when addr said port 0). @thread loop */
int ccp_http_port(const struct ccp_http *srv);

/* Routes GET/HEAD of exactly `path` (copied; starts with '/') to
 * `cb(ud, ...)`. Returns 0; -EEXIST if the path has a route; -EINVAL;
 * -ENOMEM; -ESHUTDOWN after close. @thread loop */
int ccp_http_route(struct ccp_http *srv, const char *path, ccp_http_handler_cb cb, void *ud);

/* ---- responses (inside a handler only) ---------------------------------- */

/* Status code (100..599); 200 if never set. */
void ccp_http_response_status(struct ccp_http_response *res, int status);
/* Content-Type, copied; "text/plain; charset=utf-8" if never set.
 * Returns 0, -EINVAL (CR or LF in it), -ENOMEM. */
int ccp_http_response_content_type(struct ccp_http_response *res, const char *type);
/* Adds a response header, both copied. Returns 0, -EINVAL (empty name,
 * CR/LF/':' where they do not belong; Content-Length, Transfer-Encoding
 * and Connection, which the server sets), -ENOMEM. */
int ccp_http_response_header(struct ccp_http_response *res, const char *name, const char *value);
/* Sets the body to a copy of `len` bytes (replacing any before). Returns
 * 0 or -ENOMEM. */
int ccp_http_response_body(struct ccp_http_response *res, const void *body, size_t len);
/* Appends a copy of `len` bytes to the body. Returns 0 or -ENOMEM. */
int ccp_http_response_append(struct ccp_http_response *res, const void *data, size_t len);
/* Answers with an event stream instead: status, content type and body
 * are ignored; added headers are kept. The stream stays open until the
 * client leaves, is cut, or the server closes. A HEAD request gets the
 * stream's headers only. */
void ccp_http_response_sse(struct ccp_http_response *res);

/* As ccp_http_response_sse, and tags the stream with a copy of `tag`
 * (at most CCP_HTTP_SSE_TAG_MAX bytes): ccp_http_sse_broadcast_tag() and
 * ccp_http_sse_count_tag() select streams by it, so one path can serve
 * streams that want different content (a window, a filter). Returns 0,
 * -EINVAL (NULL or too long), -ENOMEM (then the request is answered as a
 * plain response: status, body). */
int ccp_http_response_sse_tag(struct ccp_http_response *res, const char *tag);
#define CCP_HTTP_SSE_TAG_MAX 65536

/* The value of request header `name` (case-insensitive), its length in
 * *len; NULL if absent. Valid during the handler call. */
const char *ccp_http_request_header(const struct ccp_http_request *req, const char *name, size_t *len);

/* ---- queries ------------------------------------------------------------- */

/* The first parameter `name` of a raw query string ("a=1&b=x%20y"),
 * percent-decoded ('+' is a space) into `out` (NUL-terminated; its
 * length in *out_len, which may be NULL). A parameter without '=' has an
 * empty value. Returns 1 found, 0 absent, -EINVAL for a bad %-escape in
 * the value, -ENOSPC if `outlen` is too small. Pure; `query` may be NULL. */
int ccp_http_query_get(const char *query, size_t query_len, const char *name, char *out, size_t outlen,
		       size_t *out_len);

/* ---- Server-Sent Events -------------------------------------------------- */

/* Queues one event on every open stream of `path`:
 *   event: <event>      (omitted if `event` is NULL or empty)
 *   data: <line>        (one per line of `data`; CRLF or LF ends a line)
 *   <blank line>
 * Returns the number of streams it was queued on (streams already too far
 * behind are cut instead), or -EINVAL (a line break in `event`), -ENOMEM,
 * -ESHUTDOWN after close. @thread loop */
int ccp_http_sse_broadcast(struct ccp_http *srv, const char *path, const char *event, const char *data, size_t len);

/* As ccp_http_sse_broadcast, to the streams of `path` tagged exactly
 * `tag` only (NULL: every stream of the path, tagged or not).
 * @thread loop */
int ccp_http_sse_broadcast_tag(struct ccp_http *srv, const char *path, const char *tag, const char *event,
			       const char *data, size_t len);

/* Open streams of `path`, or of every path if `path` is NULL.
 * @thread loop */
size_t ccp_http_sse_count(const struct ccp_http *srv, const char *path);
/* Open streams of `path` tagged exactly `tag` (NULL: all of the path),
 * not counting streams that are ending. @thread loop */
size_t ccp_http_sse_count_tag(const struct ccp_http *srv, const char *path, const char *tag);

/* Copies the counters. @thread loop */
void ccp_http_stats(const struct ccp_http *srv, struct ccp_http_stats *out);

/* Closes the server as DESIGN says, frees it, then calls `cb(ud)` (may
 * be NULL). Keep running the loop: the close completes in handle close
 * callbacks. Until `cb` runs the queries (port, stats, sse_count) stay
 * valid; after it `srv` is gone. Returns 0, or -EALREADY if already
 * closing. @thread loop */
int ccp_http_close(struct ccp_http *srv, ccp_http_close_cb cb, void *ud);

#endif
