/* Integration tests of the dev broker: ccp_broker_start() limits, topics
 * and partition counts seen through metadata, a produce/consume round
 * trip, brokers listening on loopback only (read back from
 * /proc/net/tcp{,6}); and `ccpulse broker` (ccp_broker_cmd) run in a
 * forked child: its printed bootstrap address works, the default and
 * extra topics exist, and SIGTERM and SIGINT end it with exit 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "broker_cmd.h"
#include "ccp_test.h"
#include "ccpulse/broker.h"

/* Ports of a bootstrap list "127.0.0.1:P1,127.0.0.1:P2": each entry must
 * be on 127.0.0.1. Returns the count. */
static int bootstrap_ports(const char *bs, int *ports, int max)
{
	int n = 0;
	const char *s = bs;
	while (*s && n < max) {
		assert_true(strncmp(s, "127.0.0.1:", 10) == 0);
		s += 10;
		char *end;
		long p = strtol(s, &end, 10);
		assert_true(p > 0 && p < 65536);
		ports[n++] = (int)p;
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

/* Listening sockets on `port` in /proc/net/tcp and tcp6: how many on
 * 127.0.0.1 and how many on any other address. */
static void listeners(int port, int *loopback, int *other)
{
	*loopback = *other = 0;
	const char *files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
	for (int f = 0; f < 2; f++) {
		FILE *fp = fopen(files[f], "r");
		if (!fp)
			continue;
		char line[512], local[80], remote[80], st[8];
		if (!fgets(line, sizeof(line), fp)) { /* header */
			fclose(fp);
			continue;
		}
		while (fgets(line, sizeof(line), fp)) {
			if (sscanf(line, "%*s %79s %79s %7s", local, remote, st) != 3 || strcmp(st, "0A") != 0)
				continue; /* 0A: LISTEN */
			char *colon = strrchr(local, ':');
			if (!colon || strtol(colon + 1, NULL, 16) != port)
				continue;
			*colon = '\0';
			if (strcmp(local, "0100007F") == 0)
				(*loopback)++;
			else
				(*other)++;
		}
		fclose(fp);
	}
}

static void check_loopback_only(const char *bs, int want_brokers)
{
	int ports[16];
	int n = bootstrap_ports(bs, ports, 16);
	assert_int_equal(n, want_brokers);
	for (int i = 0; i < n; i++) {
		int lo, other;
		listeners(ports[i], &lo, &other);
		assert_int_equal(lo, 1);
		assert_int_equal(other, 0);
	}
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *bs, const char *group)
{
	char e[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "bootstrap.servers", bs, e, sizeof(e));
	rd_kafka_conf_set(conf, "log_level", "3", e, sizeof(e));
	if (group)
		rd_kafka_conf_set(conf, "group.id", group, e, sizeof(e));
	rd_kafka_t *rk = rd_kafka_new(type, conf, e, sizeof(e));
	if (!rk)
		fail_msg("rd_kafka_new: %s", e);
	return rk;
}

/* Partition count of `topic` (-1 if absent) and the number of brokers. */
static int partitions_of(rd_kafka_t *rk, const char *topic, int *n_brokers)
{
	const struct rd_kafka_metadata *md = NULL;
	assert_int_equal(rd_kafka_metadata(rk, 1, NULL, &md, ccp_test_ms(10000)), 0);
	int n = -1;
	for (int i = 0; i < md->topic_cnt; i++)
		if (!strcmp(md->topics[i].topic, topic) && !md->topics[i].err)
			n = md->topics[i].partition_cnt;
	if (n_brokers)
		*n_brokers = md->broker_cnt;
	rd_kafka_metadata_destroy(md);
	return n;
}

static void test_start_errors(void **state)
{
	char err[256];
	const struct ccp_broker_topic ok[] = {{"t", 2}};
	assert_null(ccp_broker_start(0, ok, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "brokers-count=0"));
	assert_null(ccp_broker_start(CCP_BROKER_MAX_BROKERS + 1, ok, 1, err, sizeof(err)));
	const struct ccp_broker_topic zero[] = {{"t0", 0}};
	assert_null(ccp_broker_start(1, zero, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "t0"));
	assert_non_null(strstr(err, "partitions=0"));
	const struct ccp_broker_topic noname[] = {{"", 1}};
	assert_null(ccp_broker_start(1, noname, 1, err, sizeof(err)));
	ccp_broker_stop(NULL);
}

/* Three brokers on loopback, topics with their counts, a round trip. */
static void test_start_topics_roundtrip(void **state)
{
	char err[256];
	const struct ccp_broker_topic topics[] = {{"t-five", 5}, {"t-one", 1}};
	struct ccp_broker *b = ccp_broker_start(3, topics, 2, err, sizeof(err));
	if (!b)
		fail_msg("%s", err);
	assert_non_null(ccp_broker_mock_cluster(b));
	const char *bs = ccp_broker_bootstrap(b);
	check_loopback_only(bs, 3);

	rd_kafka_t *p = client(RD_KAFKA_PRODUCER, bs, NULL);
	int nb = 0;
	assert_int_equal(partitions_of(p, "t-five", &nb), 5);
	assert_int_equal(nb, 3);
	assert_int_equal(partitions_of(p, "t-one", NULL), 1);
	assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC("t-five"), RD_KAFKA_V_PARTITION(2),
					   RD_KAFKA_V_VALUE("hello", 5), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					   RD_KAFKA_V_END),
			 0);
	assert_int_equal(rd_kafka_flush(p, ccp_test_ms(10000)), 0);
	rd_kafka_destroy(p);

	rd_kafka_t *c = client(RD_KAFKA_CONSUMER, bs, "it-broker");
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, "t-five", 2)->offset = RD_KAFKA_OFFSET_BEGINNING;
	assert_int_equal(rd_kafka_assign(c, l), 0);
	rd_kafka_topic_partition_list_destroy(l);
	bool got = false;
	long long deadline = ccp_test_now_ms() + ccp_test_ms(10000);
	while (!got && ccp_test_now_ms() < deadline) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
		if (m && !m->err) {
			assert_int_equal(m->len, 5);
			assert_memory_equal(m->payload, "hello", 5);
			assert_int_equal(m->offset, 0);
			got = true;
		}
		if (m)
			rd_kafka_message_destroy(m);
	}
	assert_true(got);
	rd_kafka_consumer_close(c);
	rd_kafka_destroy(c);
	ccp_broker_stop(b);
}

static void test_cmd_usage(void **state)
{
	char *bad1[] = {"broker", "--partitions", "0"};
	assert_int_equal(ccp_broker_cmd(3, bad1), 2);
	char *bad2[] = {"broker", "--bogus"};
	assert_int_equal(ccp_broker_cmd(2, bad2), 2);
	char *bad3[] = {"broker", "--topic", ":3"};
	assert_int_equal(ccp_broker_cmd(3, bad3), 2);
	char *bad4[] = {"broker", "--brokers-count=99"};
	assert_int_equal(ccp_broker_cmd(2, bad4), 2);
	char *bad5[] = {"broker", "--topic", "x:abc"};
	assert_int_equal(ccp_broker_cmd(3, bad5), 2);
}

/* A child running ccp_broker_cmd with stdout on a pipe. */
struct child {
	pid_t pid;
	int out_fd;
	char bootstrap[512];
};

static void child_start(struct child *ch, int argc, char **argv)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	fflush(stdout);
	fflush(stderr);
	ch->pid = fork();
	assert_true(ch->pid >= 0);
	if (ch->pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		_exit(ccp_broker_cmd(argc, argv));
	}
	close(fds[1]);
	ch->out_fd = fds[0];
	/* Read until the bootstrap line, with a deadline. */
	char buf[4096];
	size_t len = 0;
	long long deadline = ccp_test_now_ms() + ccp_test_ms(10000);
	const char *key = "ccpulse broker: bootstrap.servers=";
	for (;;) {
		buf[len] = '\0';
		char *at = strstr(buf, key);
		char *nl = at ? strchr(at, '\n') : NULL;
		if (nl) {
			*nl = '\0';
			snprintf(ch->bootstrap, sizeof(ch->bootstrap), "%s", at + strlen(key));
			return;
		}
		int left = (int)(deadline - ccp_test_now_ms());
		struct pollfd pfd = {ch->out_fd, POLLIN, 0};
		if (left <= 0 || poll(&pfd, 1, left) <= 0 || len + 1 >= sizeof(buf))
			break;
		ssize_t r = read(ch->out_fd, buf + len, sizeof(buf) - 1 - len);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	ccp_test_kill9_pid(ch->pid);
	fail_msg("no bootstrap line from ccpulse broker; got: %.*s", (int)len, buf);
}

struct exited {
	pid_t pid;
	int status;
	bool done;
};

static bool child_exited(void *arg)
{
	struct exited *x = arg;
	if (!x->done && waitpid(x->pid, &x->status, WNOHANG) == x->pid)
		x->done = true;
	return x->done;
}

static void child_signal_exit0(struct child *ch, int sig)
{
	assert_int_equal(kill(ch->pid, sig), 0);
	struct exited x = {ch->pid, 0, false};
	long long t0 = ccp_test_now_ms();
	if (!ccp_test_wait_until(child_exited, &x, 5000)) {
		ccp_test_kill9_pid(ch->pid);
		fail_msg("ccpulse broker did not exit within 5 s of signal %d", sig);
	}
	print_message("broker exited %lld ms after signal %d\n", ccp_test_now_ms() - t0, sig);
	assert_true(WIFEXITED(x.status));
	assert_int_equal(WEXITSTATUS(x.status), 0);
	close(ch->out_fd);
}

static void test_cmd_sigterm(void **state)
{
	char *argv[] = {"broker", "--partitions", "3", "--topic", "extra:2", "--topic=more", "--brokers-count", "2"};
	struct child ch;
	child_start(&ch, 8, argv);
	check_loopback_only(ch.bootstrap, 2);
	rd_kafka_t *p = client(RD_KAFKA_PRODUCER, ch.bootstrap, NULL);
	int nb = 0;
	assert_int_equal(partitions_of(p, "contact-events", &nb), 3);
	assert_int_equal(nb, 2);
	assert_int_equal(partitions_of(p, "agent-events", NULL), 3);
	assert_int_equal(partitions_of(p, "extra", NULL), 2);
	assert_int_equal(partitions_of(p, "more", NULL), 3);
	rd_kafka_destroy(p);
	child_signal_exit0(&ch, SIGTERM);
}

static void test_cmd_sigint_defaults(void **state)
{
	char *argv[] = {"broker"};
	struct child ch;
	child_start(&ch, 1, argv);
	check_loopback_only(ch.bootstrap, 1);
	rd_kafka_t *p = client(RD_KAFKA_PRODUCER, ch.bootstrap, NULL);
	assert_int_equal(partitions_of(p, "contact-events", NULL), 8);
	assert_int_equal(partitions_of(p, "agent-events", NULL), 8);
	rd_kafka_destroy(p);
	child_signal_exit0(&ch, SIGINT);
}

int main(void)
{
	/* The forking tests run first, while this process has no other threads. */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmd_sigterm),
		cmocka_unit_test(test_cmd_sigint_defaults),
		cmocka_unit_test(test_cmd_usage),
		cmocka_unit_test(test_start_errors),
		cmocka_unit_test(test_start_topics_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
