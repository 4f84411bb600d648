/* Test support for ccpulse integration tests: free loopback ports,
 * private redis-server processes on those ports (stopped by PID), signals,
 * temp dirs, condition waits with scaled deadlines, and a synchronous
 * hiredis connection for assertions.
 *
 * Every helper here is for test processes only: they block, fork and
 * sleep-poll, which product code must never do on the loop thread.
 * Failures inside helpers are reported through cmocka's fail_msg() (so a
 * missing redis-server binary fails the test and says what is missing)
 * unless the function returns an error code.
 */
#ifndef CCP_TEST_H
#define CCP_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <hiredis/hiredis.h>
#include <uv.h>

/* CCP_TEST_UNDER_TSAN: 1 in a ThreadSanitizer build (clang or gcc), else
 * 0; tests shrink their workloads by it (TSan runs 5-15x slower). */
#if defined(__SANITIZE_THREAD__)
#define CCP_TEST_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CCP_TEST_UNDER_TSAN 1
#endif
#endif
#ifndef CCP_TEST_UNDER_TSAN
#define CCP_TEST_UNDER_TSAN 0
#endif

/* ---- deadlines ------------------------------------------------------- */

/* `ms` scaled by env CCP_TEST_TIMEOUT_MULTIPLIER (a number >= 1, default
 * 1; sanitizer builds set 3-4). Use it for every deadline in a test. */
int ccp_test_ms(int ms);

/* Condition for the wait helpers: true when the awaited state holds. */
typedef bool (*ccp_test_cond_cb)(void *arg);

/* Polls `cond` every few ms until it holds or `timeout_ms` (scaled by
 * ccp_test_ms()) passes. Returns true if it held. For tests without a
 * loop (the condition is driven by another process or thread). */
bool ccp_test_wait_until(ccp_test_cond_cb cond, void *arg, int timeout_ms);

/* Runs `loop` (UV_RUN_ONCE, with a private wake-up timer so idle loops
 * return) until `cond` holds or `timeout_ms` (scaled) passes. The private
 * timer is closed before returning, so the loop holds no extra handle
 * afterwards. Returns true if the condition held. */
bool ccp_test_uv_run_until(uv_loop_t *loop, ccp_test_cond_cb cond, void *arg, int timeout_ms);

/* Runs `loop` until it has no handles left (UV_RUN_DEFAULT), then
 * asserts uv_loop_close(loop) == 0, libuv's MAKE_VALGRIND_HAPPY. */
void ccp_test_uv_close_loop(uv_loop_t *loop);

/* Monotonic clock in ms (for measuring, never for deadlines of product
 * code). */
long long ccp_test_now_ms(void);

/* ---- ports, processes, signals, temp dirs --------------------------- */

/* A loopback TCP port that was free a moment ago: binds 127.0.0.1:0 and
 * reads the port back. Another process may take it before you bind, so
 * servers started on it retry with a fresh port when they fail to bind.
 * Returns the port, or fails the test. */
int ccp_test_free_port(void);

/* Sends SIGTERM to `pid`, waits up to `grace_ms` (scaled) for it to exit,
 * then SIGKILL and waits (waitpid). Returns the wait status, -1 if the
 * pid is not our child. */
int ccp_test_stop_pid(pid_t pid, int grace_ms);
/* SIGKILL and waitpid: a crash. Returns the wait status. */
int ccp_test_kill9_pid(pid_t pid);
/* Starts `argv` (argv[0] the path) as a child with stdout and stderr
 * appended to `logpath`, no other inherited descriptor, the default signal
 * mask, and our environment minus every CCPULSE_* variable (so a test
 * configures the child alone). Returns its pid, or fails the test. */
pid_t ccp_test_spawn(const char *const *argv, const char *logpath);
/* Lines of the file at `path` holding `needle` (0 if it cannot be read). */
int ccp_test_file_count(const char *path, const char *needle);
/* The path of the ccpulse binary under test ($CCP_BIN), or fails. */
const char *ccp_test_bin(void);
/* SIGSTOP / SIGCONT: the process stays, silent, its sockets open. */
void ccp_test_pause_pid(pid_t pid);
void ccp_test_resume_pid(pid_t pid);

/* mkdtemp under $TMPDIR (or /tmp) named "ccp-<tag>-XXXXXX"; writes the
 * path into `dir` (size `dirlen`). Fails the test on error. */
void ccp_test_tmpdir_make(char *dir, size_t dirlen, const char *tag);
/* Removes `dir` and everything below it (never follows symlinks).
 * Returns 0 or -errno. */
int ccp_test_tmpdir_remove(const char *dir);
/* Writes `text` to `dir`/`name`. Fails the test on error. */
void ccp_test_write_file(const char *dir, const char *name, const char *text);

/* ---- a private redis-server ----------------------------------------- */

/* Options of a private server. Zeroed means: free port, no password,
 * no ACL user, no persistence. Owner: the caller; copied at start. */
struct ccp_test_redis_opts {
	int port;                /* 0: pick a free one */
	const char *requirepass; /* password of the default user, or NULL */
	const char *acl_user;    /* an extra ACL user with all rights, or NULL */
	const char *acl_pass;    /* its password */
	bool appendfsync_always; /* AOF on, fsync before each reply: acked
	                          * writes survive kill -9 */
	bool unixsocket;         /* also listen on `dir`/redis.sock */
};

/* A running (or stopped) private redis-server. Owner: the test thread;
 * lives from ccp_test_redis_start() to ccp_test_redis_free(). */
struct ccp_test_redis {
	pid_t pid;               /* 0 when not running */
	int port;
	char dir[256];           /* temp dir: config, log, AOF, socket */
	char sock[300];          /* unix socket path if opts.unixsocket */
	char url[640];           /* redis://[user:pass@]127.0.0.1:port */
	struct ccp_test_redis_opts opts;
	char _requirepass[128], _acl_user[64], _acl_pass[128];
};

/* Starts redis-server (from PATH) with a config written into a new temp
 * dir, on opts->port or a free port, and waits (scaled 10 s) until it
 * answers PING. Fails the test, naming what is missing, if redis-server
 * is not installed or does not come up. `opts` may be NULL. */
void ccp_test_redis_start(struct ccp_test_redis *r, const struct ccp_test_redis_opts *opts);
/* Starts it again on the same port and dir (after stop or kill9): the
 * AOF, if any, is loaded. Waits until it answers. */
void ccp_test_redis_restart(struct ccp_test_redis *r);
/* SIGTERM, SIGKILL after a scaled 5 s, waitpid. No-op if not running. */
void ccp_test_redis_stop(struct ccp_test_redis *r);
/* kill -9 and waitpid. */
void ccp_test_redis_kill9(struct ccp_test_redis *r);
/* Stops it if running and removes its temp dir. */
void ccp_test_redis_free(struct ccp_test_redis *r);

/* A blocking hiredis connection to `r` (authenticated as the ACL user if
 * any, else with requirepass), for assertions only. Fails the test on
 * error. Free with redisFree(). */
redisContext *ccp_test_redis_connect(const struct ccp_test_redis *r);
/* Runs a command (printf-style, hiredis format) on `c`; fails the test if
 * the connection fails. The reply is the caller's: freeReplyObject(). */
redisReply *ccp_test_redis_cmd(redisContext *c, const char *fmt, ...);
/* Shortcut: the integer reply of a command, failing the test otherwise. */
long long ccp_test_redis_int(redisContext *c, const char *fmt, ...);

#endif
