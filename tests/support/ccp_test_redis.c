/* A private redis-server per test: its own temp dir and config, a free
 * loopback port, started with fork+exec and stopped by PID. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ccp_test.h"

#define START_TIMEOUT_MS 10000
#define STOP_GRACE_MS 5000
/* Fresh ports tried when the chosen one turns out to be taken. */
#define START_ATTEMPTS 5

static void copy_opt(char *dst, size_t cap, const char **field, const char *src)
{
	if (!src) {
		*field = NULL;
		return;
	}
	if (strlen(src) >= cap)
		fail_msg("test redis option longer than %zu bytes: %s", cap - 1, src);
	strcpy(dst, src);
	*field = dst;
}

/* Redis config lines split on spaces; quotes are not understood inside
 * ACL rules, so such passwords are refused here rather than misread. */
static void check_word(const char *what, const char *v)
{
	if (v && (strpbrk(v, " \t\n\"'") || !*v))
		fail_msg("test redis %s must be non-empty without spaces or quotes: '%s'", what, v);
}

static void write_config(struct ccp_test_redis *r)
{
	check_word("requirepass", r->opts.requirepass);
	check_word("acl_user", r->opts.acl_user);
	check_word("acl_pass", r->opts.acl_pass);
	char conf[2048];
	int n = snprintf(conf, sizeof(conf),
			 "port %d\n"
			 "bind 127.0.0.1\n"
			 "dir %s\n"
			 "logfile %s/redis.log\n"
			 "daemonize no\n"
			 "save \"\"\n"
			 "protected-mode no\n"
			 "appendonly %s\n"
			 "appendfsync always\n",
			 r->port, r->dir, r->dir, r->opts.appendfsync_always ? "yes" : "no");
	if (r->opts.unixsocket)
		n += snprintf(conf + n, sizeof(conf) - (size_t)n, "unixsocket %s\nunixsocketperm 700\n", r->sock);
	if (r->opts.requirepass)
		n += snprintf(conf + n, sizeof(conf) - (size_t)n, "requirepass \"%s\"\n", r->opts.requirepass);
	if (r->opts.acl_user)
		n += snprintf(conf + n, sizeof(conf) - (size_t)n, "user %s on >%s ~* &* +@all\n",
			      r->opts.acl_user, r->opts.acl_pass ? r->opts.acl_pass : "");
	if (n < 0 || (size_t)n >= sizeof(conf))
		fail_msg("redis.conf longer than %zu bytes", sizeof(conf));
	ccp_test_write_file(r->dir, "redis.conf", conf);
}

/* Percent-encodes everything but RFC 3986 unreserved characters. */
static void url_escape(char *dst, size_t cap, const char *src)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;
	for (; *src && n + 4 < cap; src++) {
		unsigned char ch = (unsigned char)*src;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			dst[n++] = (char)ch;
		} else {
			dst[n++] = '%';
			dst[n++] = hex[ch >> 4];
			dst[n++] = hex[ch & 15];
		}
	}
	dst[n] = '\0';
}

static void make_url(struct ccp_test_redis *r)
{
	char user[200], pass[400];
	url_escape(user, sizeof(user), r->opts.acl_user ? r->opts.acl_user : "");
	url_escape(pass, sizeof(pass), r->opts.acl_user ? (r->opts.acl_pass ? r->opts.acl_pass : "")
				       : (r->opts.requirepass ? r->opts.requirepass : ""));
	if (r->opts.acl_user || r->opts.requirepass)
		snprintf(r->url, sizeof(r->url), "redis://%s:%s@127.0.0.1:%d", user, pass, r->port);
	else
		snprintf(r->url, sizeof(r->url), "redis://127.0.0.1:%d", r->port);
}

static pid_t spawn(const struct ccp_test_redis *r)
{
	char conf[512];
	snprintf(conf, sizeof(conf), "%s/redis.conf", r->dir);
	/* The child reports an exec failure through a close-on-exec pipe. */
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0)
		fail_msg("pipe2: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		fail_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		/* Dies with the test process, even when it crashes. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* No inherited stdout/stderr: a server outliving its test must
		 * not hold the test runner's output pipe open. */
		int devnull = open("/dev/null", O_RDWR);
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
		}
		char errpath[600];
		snprintf(errpath, sizeof(errpath), "%s/stderr.log", r->dir);
		int errfd = open(errpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (errfd >= 0)
			dup2(errfd, 2);
		execlp("redis-server", "redis-server", conf, (char *)NULL);
		int e = errno;
		if (write(p[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(p[1]);
	int e = 0;
	ssize_t got;
	do
		got = read(p[0], &e, sizeof(e));
	while (got < 0 && errno == EINTR);
	close(p[0]);
	if (got == (ssize_t)sizeof(e)) {
		waitpid(pid, NULL, 0);
		fail_msg("cannot run redis-server (%s): install Debian package redis-server "
			 "(scripts/setup.sh) or put redis-server on PATH", strerror(e));
	}
	return pid;
}

struct ping_arg {
	struct ccp_test_redis *r;
	bool exited;
};

/* True once the server answers (PONG, or NOAUTH when a password is set),
 * or once the child has exited. */
static bool server_answers(void *arg)
{
	struct ping_arg *pa = arg;
	int status;
	if (waitpid(pa->r->pid, &status, WNOHANG) == pa->r->pid) {
		pa->r->pid = 0;
		pa->exited = true;
		return true;
	}
	struct timeval tv = {0, 200000};
	redisContext *c = redisConnectWithTimeout("127.0.0.1", pa->r->port, tv);
	if (!c)
		return false;
	bool ok = false;
	if (!c->err) {
		redisSetTimeout(c, tv);
		redisReply *rep = redisCommand(c, "PING");
		ok = rep && (rep->type == REDIS_REPLY_STATUS ||
			     (rep->type == REDIS_REPLY_ERROR && !strncmp(rep->str, "NOAUTH", 6)));
		if (rep)
			freeReplyObject(rep);
	}
	redisFree(c);
	return ok;
}

/* Spawns on r->port and waits; returns false if the server exited (for
 * example because the port was taken). */
static bool launch(struct ccp_test_redis *r)
{
	write_config(r);
	r->pid = spawn(r);
	struct ping_arg pa = {.r = r};
	if (!ccp_test_wait_until(server_answers, &pa, START_TIMEOUT_MS)) {
		ccp_test_stop_pid(r->pid, STOP_GRACE_MS);
		r->pid = 0;
		fail_msg("redis-server on 127.0.0.1:%d did not answer PING within %d ms; see %s/redis.log",
			 r->port, ccp_test_ms(START_TIMEOUT_MS), r->dir);
	}
	return !pa.exited;
}

void ccp_test_redis_start(struct ccp_test_redis *r, const struct ccp_test_redis_opts *opts)
{
	memset(r, 0, sizeof(*r));
	if (opts)
		r->opts = *opts;
	copy_opt(r->_requirepass, sizeof(r->_requirepass), &r->opts.requirepass, r->opts.requirepass);
	copy_opt(r->_acl_user, sizeof(r->_acl_user), &r->opts.acl_user, r->opts.acl_user);
	copy_opt(r->_acl_pass, sizeof(r->_acl_pass), &r->opts.acl_pass, r->opts.acl_pass);
	ccp_test_tmpdir_make(r->dir, sizeof(r->dir), "redis");
	snprintf(r->sock, sizeof(r->sock), "%s/redis.sock", r->dir);
	for (int attempt = 0; attempt < START_ATTEMPTS; attempt++) {
		r->port = r->opts.port ? r->opts.port : ccp_test_free_port();
		if (launch(r)) {
			make_url(r);
			return;
		}
		if (r->opts.port)
			break;
	}
	fail_msg("redis-server exited at start (port %d taken?); see %s/redis.log and stderr.log", r->port, r->dir);
}

void ccp_test_redis_restart(struct ccp_test_redis *r)
{
	if (r->pid)
		fail_msg("redis-server %d still running: stop or kill it before restart", (int)r->pid);
	if (!launch(r))
		fail_msg("redis-server could not restart on port %d; see %s/redis.log", r->port, r->dir);
}

void ccp_test_redis_stop(struct ccp_test_redis *r)
{
	if (!r->pid)
		return;
	ccp_test_stop_pid(r->pid, STOP_GRACE_MS);
	r->pid = 0;
}

void ccp_test_redis_kill9(struct ccp_test_redis *r)
{
	if (!r->pid)
		return;
	ccp_test_kill9_pid(r->pid);
	r->pid = 0;
}

void ccp_test_redis_free(struct ccp_test_redis *r)
{
	ccp_test_redis_stop(r);
	if (r->dir[0])
		ccp_test_tmpdir_remove(r->dir);
	r->dir[0] = '\0';
}

redisContext *ccp_test_redis_connect(const struct ccp_test_redis *r)
{
	struct timeval tv = {(long)ccp_test_ms(5000) / 1000, 0};
	redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
	if (!c || c->err)
		fail_msg("connect 127.0.0.1:%d: %s", r->port, c ? c->errstr : "out of memory");
	redisSetTimeout(c, tv);
	redisReply *rep = NULL;
	if (r->opts.acl_user)
		rep = redisCommand(c, "AUTH %s %s", r->opts.acl_user, r->opts.acl_pass ? r->opts.acl_pass : "");
	else if (r->opts.requirepass)
		rep = redisCommand(c, "AUTH %s", r->opts.requirepass);
	if (rep) {
		if (rep->type == REDIS_REPLY_ERROR)
			fail_msg("AUTH on 127.0.0.1:%d: %s", r->port, rep->str);
		freeReplyObject(rep);
	}
	return c;
}

static redisReply *vcmd(redisContext *c, const char *fmt, va_list ap)
{
	redisReply *rep = redisvCommand(c, fmt, ap);
	if (!rep)
		fail_msg("redis command '%s': %s", fmt, c->errstr);
	return rep;
}

redisReply *ccp_test_redis_cmd(redisContext *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	redisReply *rep = vcmd(c, fmt, ap);
	va_end(ap);
	return rep;
}

long long ccp_test_redis_int(redisContext *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	redisReply *rep = vcmd(c, fmt, ap);
	va_end(ap);
	if (rep->type != REDIS_REPLY_INTEGER) {
		char msg[256];
		snprintf(msg, sizeof(msg), "%s", rep->type == REDIS_REPLY_ERROR ? rep->str : "not an integer");
		freeReplyObject(rep);
		fail_msg("redis command '%s': %s", fmt, msg);
	}
	long long v = rep->integer;
	freeReplyObject(rep);
	return v;
}
