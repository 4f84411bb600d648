/* redis:// and unix:// URLs (see include/ccpulse/redis_url.h). A hand
 * parser: the grammar is small, and errors must name the part at fault
 * without echoing a password. */
#include "ccpulse/redis_url.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hex.h"
#include "fail.h"


/* Percent-decodes [s, s+len) into dst (cap bytes, NUL-terminated).
 * Returns 0, -1 on a bad escape or a decoded NUL, -2 if too long. */
static int pct_decode(char *dst, size_t cap, const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			if (i + 2 >= len)
				return -1;
			int hi = ccp__hexval(s[i + 1]), lo = ccp__hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = hi * 16 + lo;
			if (c == 0)
				return -1;
			i += 2;
		}
		if (n + 1 >= cap)
			return -2;
		dst[n++] = (char)c;
	}
	dst[n] = '\0';
	return 0;
}

/* Parses a decimal in [lo, hi] from [s, s+len). Returns 0 or -1. */
static int parse_int(const char *s, size_t len, long lo, long hi, int *out)
{
	if (len == 0 || len > 10)
		return -1;
	long v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

/* USER:PASSWORD before '@' (the whole userinfo, undecoded). */
static int parse_userinfo(struct ccp_redis_url *u, const char *s, size_t len, char *err, size_t errlen)
{
	const char *colon = memchr(s, ':', len);
	size_t ulen = colon ? (size_t)(colon - s) : len;
	int r = pct_decode(u->user, sizeof(u->user), s, ulen);
	if (r == -1)
		return ccp__fail(err, errlen, "redis URL: user: bad percent-escape (use %%XY, not NUL)");
	if (r == -2)
		return ccp__fail(err, errlen, "redis URL: user longer than %d bytes", CCP_REDIS_URL_USER_MAX - 1);
	if (!colon) {
		/* "user@host" without a password cannot AUTH. */
		return ccp__fail(err, errlen, "redis URL: user '%s' has no password (write USER:PASSWORD@ "
			    "or :PASSWORD@)", u->user);
	}
	r = pct_decode(u->password, sizeof(u->password), colon + 1, len - ulen - 1);
	if (r == -1)
		return ccp__fail(err, errlen, "redis URL: password: bad percent-escape (use %%XY, not NUL)");
	if (r == -2)
		return ccp__fail(err, errlen, "redis URL: password longer than %d bytes", CCP_REDIS_URL_PASS_MAX - 1);
	u->has_password = true;
	return 0;
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '.' || c == '_';
}

/* HOST[:PORT] (authority without userinfo). */
static int parse_hostport(struct ccp_redis_url *u, const char *s, size_t len, char *err, size_t errlen)
{
	const char *port = NULL;
	size_t portlen = 0;
	if (len == 0)
		return ccp__fail(err, errlen, "redis URL: host is missing (redis://HOST:PORT)");
	if (s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (!close)
			return ccp__fail(err, errlen, "redis URL: IPv6 host lacks its closing ']'");
		size_t hlen = (size_t)(close - s - 1);
		if (hlen == 0 || hlen >= sizeof(u->host))
			return ccp__fail(err, errlen, "redis URL: IPv6 host is empty or too long");
		memcpy(u->host, s + 1, hlen);
		u->host[hlen] = '\0';
		unsigned char buf[16];
		if (inet_pton(AF_INET6, u->host, buf) != 1)
			return ccp__fail(err, errlen, "redis URL: '%s' is not an IPv6 address (zone ids are not "
				    "supported)", u->host);
		u->kind = CCP_REDIS_URL_IPV6;
		size_t rest = len - (hlen + 2);
		if (rest) {
			if (close[1] != ':')
				return ccp__fail(err, errlen, "redis URL: expected ':PORT' after ']'");
			port = close + 2;
			portlen = rest - 1;
		}
	} else {
		const char *colon = memchr(s, ':', len);
		size_t hlen = colon ? (size_t)(colon - s) : len;
		if (colon && memchr(colon + 1, ':', len - hlen - 1))
			return ccp__fail(err, errlen, "redis URL: host: IPv6 literals need brackets: redis://[::1]:6379");
		if (hlen == 0)
			return ccp__fail(err, errlen, "redis URL: host is missing (redis://HOST:PORT)");
		if (hlen >= sizeof(u->host))
			return ccp__fail(err, errlen, "redis URL: host longer than %d bytes", CCP_REDIS_URL_HOST_MAX - 1);
		for (size_t i = 0; i < hlen; i++)
			if (!name_char(s[i]))
				return ccp__fail(err, errlen, "redis URL: host: character '%c' not allowed (IPv6 needs "
					    "brackets: [::1])", s[i]);
		memcpy(u->host, s, hlen);
		u->host[hlen] = '\0';
		unsigned char buf[4];
		u->kind = inet_pton(AF_INET, u->host, buf) == 1 ? CCP_REDIS_URL_IPV4 : CCP_REDIS_URL_NAME;
		if (colon) {
			port = colon + 1;
			portlen = len - hlen - 1;
		}
	}
	if (port && parse_int(port, portlen, 1, 65535, &u->port) != 0)
		return ccp__fail(err, errlen, "redis URL: port '%.*s' must be 1..65535", (int)(portlen > 16 ? 16 : portlen),
			    port);
	return 0;
}

static int parse_db(struct ccp_redis_url *u, const char *s, size_t len, char *err, size_t errlen)
{
	if (parse_int(s, len, 0, CCP_REDIS_URL_DB_MAX, &u->db) != 0)
		return ccp__fail(err, errlen, "redis URL: db '%.*s' must be 0..%d", (int)(len > 16 ? 16 : len), s,
			    CCP_REDIS_URL_DB_MAX);
	return 0;
}

int ccp_redis_url_parse(struct ccp_redis_url *u, const char *url, char *err, size_t errlen)
{
	memset(u, 0, sizeof(*u));
	u->port = 6379;
	if (!url || !*url)
		return ccp__fail(err, errlen, "redis URL is empty (redis://HOST:PORT[/DB])");
	bool is_unix;
	const char *p;
	if (!strncmp(url, "redis://", 8)) {
		is_unix = false;
		p = url + 8;
	} else if (!strncmp(url, "unix://", 7)) {
		is_unix = true;
		p = url + 7;
	} else if (!strncmp(url, "rediss://", 9)) {
		return ccp__fail(err, errlen, "redis URL: rediss:// (TLS) is not supported by hiredis 0.14; "
			    "use redis:// through stunnel or a TLS sidecar");
	} else {
		return ccp__fail(err, errlen, "redis URL must start with redis:// or unix://");
	}
	size_t len = strlen(p);
	/* Userinfo ends at the last '@' before the path: passwords may hold a
	 * raw '@' if the writer forgot to escape it, but never a '/'. */
	const char *end_auth = is_unix ? p + len : p + strcspn(p, "/?#");
	const char *at = NULL;
	for (const char *q = p; q < end_auth; q++)
		if (*q == '@')
			at = q;
	if (at) {
		int r = parse_userinfo(u, p, (size_t)(at - p), err, errlen);
		if (r)
			return r;
		p = at + 1;
		len = strlen(p);
	}
	if (is_unix) {
		u->kind = CCP_REDIS_URL_UNIX;
		u->port = 0;
		size_t plen = strcspn(p, "?#");
		if (plen == 0 || p[0] != '/')
			return ccp__fail(err, errlen, "unix URL: socket path must be absolute (unix:///path/redis.sock)");
		if (plen >= sizeof(u->path))
			return ccp__fail(err, errlen, "unix URL: socket path longer than %d bytes",
				    CCP_REDIS_URL_PATH_MAX - 1);
		memcpy(u->path, p, plen);
		u->path[plen] = '\0';
		p += plen;
		if (*p == '?') {
			if (strncmp(p, "?db=", 4))
				return ccp__fail(err, errlen, "unix URL: only '?db=N' may follow the path");
			return parse_db(u, p + 4, strlen(p + 4), err, errlen);
		}
		if (*p)
			return ccp__fail(err, errlen, "unix URL: unexpected '%c' after the path", *p);
		return 0;
	}
	size_t alen = strcspn(p, "/?#");
	int r = parse_hostport(u, p, alen, err, errlen);
	if (r)
		return r;
	p += alen;
	if (*p == '/') {
		p++;
		size_t dlen = strcspn(p, "?#");
		if (dlen) {
			r = parse_db(u, p, dlen, err, errlen);
			if (r)
				return r;
		}
		p += dlen;
	}
	if (*p)
		return ccp__fail(err, errlen, "redis URL: unexpected '%c' after the address (query strings are not "
			    "supported)", *p);
	return 0;
}

int ccp_redis_url_redacted(const struct ccp_redis_url *u, char *buf, size_t buflen)
{
	const char *pw = u->has_password ? ":***@" : "";
	const char *user = u->has_password ? u->user : "";
	if (u->kind == CCP_REDIS_URL_UNIX)
		return snprintf(buf, buflen, "unix://%s%s%s?db=%d", user, pw, u->path, u->db);
	if (u->kind == CCP_REDIS_URL_IPV6)
		return snprintf(buf, buflen, "redis://%s%s[%s]:%d/%d", user, pw, u->host, u->port, u->db);
	return snprintf(buf, buflen, "redis://%s%s%s:%d/%d", user, pw, u->host, u->port, u->db);
}
