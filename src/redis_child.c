/* A private redis-server child (see include/ccpulse/redis_child.h). */
#include "ccpulse/redis_child.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REDIS_START_MS 10000

/* A free loopback TCP port (bound, read back, released). */
int ccp_redis_child_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	int port = -1;
	if (!bind(fd, (struct sockaddr *)&a, sizeof(a)) && !getsockname(fd, (struct sockaddr *)&a, &l))
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* True once something accepts TCP connections on 127.0.0.1:port. */
static bool port_open(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return false;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

/* Starts `redis-server` on 127.0.0.1:port without persistence. Returns its
 * PID, or -1 with a message. */
pid_t ccp_redis_child_start(int port, char *err, size_t errlen)
{
	char portarg[16];
	snprintf(portarg, sizeof(portarg), "%d", port);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		/* Its start-up banner would bury the demo's guide. */
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, STDOUT_FILENO);
		execlp("redis-server", "redis-server", "--port", portarg, "--bind", "127.0.0.1", "--save", "",
		       "--appendonly", "no", "--loglevel", "warning", (char *)NULL);
		fprintf(stderr, "cannot run redis-server (%s); install redis-server or pass --redis URL\n",
			strerror(errno));
		_exit(127);
	}
	for (int waited = 0; waited < REDIS_START_MS; waited += 20) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			snprintf(err, errlen, "redis-server exited at start (status %d)", WEXITSTATUS(st));
			return -1;
		}
		if (port_open(port))
			return pid;
		struct timespec ts = {0, 20000000};
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	snprintf(err, errlen, "redis-server did not listen on port %d within %d ms", port, REDIS_START_MS);
	return -1;
}

void ccp_redis_child_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 250; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		struct timespec ts = {0, 20000000};
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

