/* Ports, child processes, signals and temp dirs for tests. Children are
 * always stopped by their PID, never by name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ccp_test.h"

int ccp_test_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fail_msg("socket(AF_INET): %s", strerror(errno));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t alen = sizeof(a);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
		int e = errno;
		close(fd);
		fail_msg("bind/getsockname 127.0.0.1:0: %s", strerror(e));
	}
	close(fd);
	return ntohs(a.sin_port);
}

/* waitpid without blocking, retried on EINTR. Returns 1 if reaped. */
static int reap(pid_t pid, int *status)
{
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

static int reap_blocking(pid_t pid)
{
	int status = 0;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return status;
}

int ccp_test_stop_pid(pid_t pid, int grace_ms)
{
	int status = 0;
	if (pid <= 0)
		return -1;
	/* A stopped process would not act on SIGTERM. */
	kill(pid, SIGCONT);
	if (kill(pid, SIGTERM) != 0 && errno == ESRCH)
		return reap_blocking(pid);
	long long deadline = ccp_test_now_ms() + ccp_test_ms(grace_ms);
	while (ccp_test_now_ms() < deadline) {
		int r = reap(pid, &status);
		if (r != 0)
			return r > 0 ? status : -1;
		struct timespec ts = {0, 2 * 1000000L};
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	return reap_blocking(pid);
}

int ccp_test_kill9_pid(pid_t pid)
{
	if (pid <= 0)
		return -1;
	kill(pid, SIGKILL);
	return reap_blocking(pid);
}

void ccp_test_pause_pid(pid_t pid)
{
	if (pid <= 0 || kill(pid, SIGSTOP) != 0)
		fail_msg("SIGSTOP %d: %s", (int)pid, strerror(errno));
}

void ccp_test_resume_pid(pid_t pid)
{
	if (pid <= 0 || kill(pid, SIGCONT) != 0)
		fail_msg("SIGCONT %d: %s", (int)pid, strerror(errno));
}

extern char **environ;

pid_t ccp_test_spawn(const char *const *argv, const char *logpath)
{
	/* Built before fork: the child of a threaded process may only call
	 * async-signal-safe functions until exec. */
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 1, sizeof(char *));
	assert_non_null(env);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "CCPULSE_", 8))
			env[k++] = environ[i];
	int logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (logfd < 0)
		fail_msg("open %s: %s", logpath, strerror(errno));
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		fail_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(logfd, STDOUT_FILENO);
		dup2(logfd, STDERR_FILENO);
		close_range(3, ~0U, 0); /* the mock brokers' sockets, our Redis connections */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL); /* so SIGTERM reaches libuv's handler */
		execve(argv[0], (char *const *)argv, env);
		_exit(127);
	}
	close(logfd);
	free(env);
	return pid;
}

int ccp_test_file_count(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char line[2048];
	int n = 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

const char *ccp_test_bin(void)
{
	const char *bin = getenv("CCP_BIN");
	if (!bin || !*bin)
		fail_msg("CCP_BIN is not set (the path of the ccpulse binary)");
	return bin;
}

void ccp_test_tmpdir_make(char *dir, size_t dirlen, const char *tag)
{
	const char *base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	int n = snprintf(dir, dirlen, "%s/ccp-%s-XXXXXX", base, tag);
	if (n < 0 || (size_t)n >= dirlen)
		fail_msg("temp dir name too long for %zu bytes: %s/ccp-%s-XXXXXX", dirlen, base, tag);
	if (!mkdtemp(dir))
		fail_msg("mkdtemp(%s): %s", dir, strerror(errno));
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path) == 0 ? 0 : -errno;
}

int ccp_test_tmpdir_remove(const char *dir)
{
	if (!dir || !*dir)
		return 0;
	int r = nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return r < 0 ? -errno : r;
}

void ccp_test_write_file(const char *dir, const char *name, const char *text)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		fail_msg("fopen(%s): %s", path, strerror(errno));
	size_t len = strlen(text);
	if (fwrite(text, 1, len, f) != len || fclose(f) != 0)
		fail_msg("write %s: %s", path, strerror(errno));
}
