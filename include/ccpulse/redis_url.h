/* Redis addresses as URLs (the `--redis` flag and `redis.url` key):
 *
 *   redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]
 *   unix://[[USER]:PASSWORD@]/PATH/TO/SOCKET[?db=DB]
 *
 * HOST is an IPv4 literal, an IPv6 literal in brackets ("[::1]") or a
 * host name (resolved later, off the loop thread, by the sink). PORT
 * defaults to 6379 and DB to 0. USER and PASSWORD are percent-decoded
 * (RFC 3986), so "p%40ss" is "p@ss". With USER the sink sends
 * `AUTH USER PASSWORD` (Redis 6 ACL); with ":PASSWORD@" alone it sends
 * `AUTH PASSWORD` (requirepass). "rediss://" is refused: Debian's
 * hiredis 0.14 has no TLS (put stunnel or a sidecar in front instead).
 *
 * Pure: no I/O, no allocation, no DNS.
 */
#ifndef CCPULSE_REDIS_URL_H
#define CCPULSE_REDIS_URL_H

#include <stdbool.h>
#include <stddef.h>

#define CCP_REDIS_URL_HOST_MAX 256 /* bytes of HOST, NUL included */
#define CCP_REDIS_URL_PATH_MAX 108 /* sun_path of a unix socket */
#define CCP_REDIS_URL_USER_MAX 128 /* decoded USER, NUL included */
#define CCP_REDIS_URL_PASS_MAX 512 /* decoded PASSWORD, NUL included */

enum ccp_redis_url_host {
	CCP_REDIS_URL_NAME, /* a DNS name: resolve before connecting */
	CCP_REDIS_URL_IPV4, /* dotted quad */
	CCP_REDIS_URL_IPV6, /* literal, stored without brackets */
	CCP_REDIS_URL_UNIX, /* `path` holds the socket */
};

/* A parsed address. Owner: whoever parsed it (usually copied into the
 * sink's options); plain data, any thread. */
struct ccp_redis_url {
	enum ccp_redis_url_host kind;
	char host[CCP_REDIS_URL_HOST_MAX]; /* empty for UNIX */
	int port;                          /* 1..65535; 0 for UNIX */
	char path[CCP_REDIS_URL_PATH_MAX]; /* UNIX only */
	char user[CCP_REDIS_URL_USER_MAX]; /* empty: no ACL user */
	char password[CCP_REDIS_URL_PASS_MAX];
	bool has_password;                 /* AUTH is sent only if set */
	int db;                            /* 0..CCP_REDIS_URL_DB_MAX */
};

#define CCP_REDIS_URL_DB_MAX 1000000 /* far above any `databases` setting */

/* Parses `url` into `u`. Returns 0, or -EINVAL with a message in `err`
 * that names the URL part at fault (never echoing the password).
 * @thread any */
int ccp_redis_url_parse(struct ccp_redis_url *u, const char *url, char *err, size_t errlen);

/* Writes `u` back as a URL with the password replaced by "***", for logs.
 * Returns the length it needed (snprintf's contract). @thread any */
int ccp_redis_url_redacted(const struct ccp_redis_url *u, char *buf, size_t buflen);

#endif
