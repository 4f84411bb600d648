/* SPSC ring handoffs per second across two threads (pinned to two cores when
 * the machine has them), for batch sizes 1, 16 and 256, beside:
 *   (a) a ceiling: one thread doing reserve+commit then peek+release on the
 *       same ring, so no cache line ever crosses cores;
 *   (b) a comparison: a bounded mutex+condvar queue of the same shape (same
 *       slots, capacity and batch sizes; the consumer copies a batch out
 *       under the lock, signalling on every batch).
 * Each figure is the median of 3 runs; every run checks the sum of the
 * sequence numbers it received.
 *
 * usage: bench_ring [ITEMS (default 20000000)]   mutex runs use ITEMS/4 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ccpulse/ring.h"

#define CAPACITY 4096
#define RUNS 3

/* One slot: what the source hands a worker (a sequence number standing in
 * for a message pointer, and a length). */
struct item {
	uint64_t seq;
	uint64_t len;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static int ncpus(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return 1;
	return CPU_COUNT(&set);
}

/* Pins the calling thread to the idx-th CPU it may run on; false if not. */
static int pin(int idx)
{
	cpu_set_t allowed, one;
	if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
		return 0;
	for (int c = 0, seen = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, &allowed))
			continue;
		if (seen++ == idx) {
			CPU_ZERO(&one);
			CPU_SET(c, &one);
			return pthread_setaffinity_np(pthread_self(), sizeof(one), &one) == 0;
		}
	}
	return 0;
}

/* Shared by one bench run's two threads: config is read-only; `ready` is
 * the start barrier; each result field has one writer, read after join. */
struct run {
	uint32_t batch;
	uint64_t items;
	int pin_cpus;
	atomic_int ready;
	double t0, t1;
	uint64_t sum;
	int pinned;
	/* ring */
	struct ccp_ring *ring;
	/* mutex queue */
	pthread_mutex_t mu;
	pthread_cond_t not_empty, not_full;
	struct item *buf;
	uint64_t head, tail; /* under mu */
};

static void start_barrier(struct run *r)
{
	/* Relaxed is enough: the barrier only lines up start times; data is
	 * ordered by the ring or the mutex. */
	atomic_fetch_add_explicit(&r->ready, 1, memory_order_relaxed);
	while (atomic_load_explicit(&r->ready, memory_order_relaxed) < 2)
		cpu_relax();
}

static void *ring_producer(void *arg)
{
	struct run *r = arg;
	if (r->pin_cpus && pin(0))
		r->pinned++;
	start_barrier(r);
	r->t0 = now_s();
	uint64_t seq = 0;
	while (seq < r->items) {
		struct item *s;
		uint32_t want = r->batch;
		if (want > r->items - seq)
			want = (uint32_t)(r->items - seq);
		uint32_t k = ccp_ring_reserve(r->ring, want, (void **)&s);
		if (!k) {
			cpu_relax();
			continue;
		}
		for (uint32_t i = 0; i < k; i++) {
			s[i].seq = seq + i;
			s[i].len = 1;
		}
		ccp_ring_commit(r->ring, k);
		seq += k;
	}
	return NULL;
}

static void *ring_consumer(void *arg)
{
	struct run *r = arg;
	if (r->pin_cpus && pin(1))
		r->pinned++;
	start_barrier(r);
	uint64_t got = 0, sum = 0;
	while (got < r->items) {
		struct item *s;
		uint32_t k = ccp_ring_peek(r->ring, r->batch, (void **)&s);
		if (!k) {
			cpu_relax();
			continue;
		}
		for (uint32_t i = 0; i < k; i++)
			sum += s[i].seq * s[i].len;
		ccp_ring_release(r->ring, k);
		got += k;
	}
	r->t1 = now_s();
	r->sum = sum;
	return NULL;
}

static void *mq_producer(void *arg)
{
	struct run *r = arg;
	if (r->pin_cpus && pin(0))
		r->pinned++;
	start_barrier(r);
	r->t0 = now_s();
	uint64_t seq = 0;
	while (seq < r->items) {
		pthread_mutex_lock(&r->mu);
		while (r->tail - r->head == CAPACITY)
			pthread_cond_wait(&r->not_full, &r->mu);
		uint64_t k = CAPACITY - (r->tail - r->head);
		if (k > r->batch)
			k = r->batch;
		if (k > r->items - seq)
			k = r->items - seq;
		for (uint64_t i = 0; i < k; i++) {
			struct item *s = &r->buf[(r->tail + i) & (CAPACITY - 1)];
			s->seq = seq + i;
			s->len = 1;
		}
		r->tail += k;
		pthread_cond_signal(&r->not_empty);
		pthread_mutex_unlock(&r->mu);
		seq += k;
	}
	return NULL;
}

static void *mq_consumer(void *arg)
{
	struct run *r = arg;
	if (r->pin_cpus && pin(1))
		r->pinned++;
	start_barrier(r);
	struct item local[256];
	uint64_t got = 0, sum = 0;
	while (got < r->items) {
		pthread_mutex_lock(&r->mu);
		while (r->tail == r->head)
			pthread_cond_wait(&r->not_empty, &r->mu);
		uint64_t k = r->tail - r->head;
		if (k > r->batch)
			k = r->batch;
		for (uint64_t i = 0; i < k; i++)
			local[i] = r->buf[(r->head + i) & (CAPACITY - 1)];
		r->head += k;
		pthread_cond_signal(&r->not_full);
		pthread_mutex_unlock(&r->mu);
		for (uint64_t i = 0; i < k; i++)
			sum += local[i].seq * local[i].len;
		got += k;
	}
	r->t1 = now_s();
	r->sum = sum;
	return NULL;
}

static void check_sum(const struct run *r, const char *what)
{
	uint64_t n = r->items, want = n % 2 ? (n - 1) / 2 * n : n / 2 * (n - 1);
	if (r->sum != want) {
		fprintf(stderr, "bench_ring: %s batch %u: sum %llu, want %llu (lost or duplicated items)\n",
			what, r->batch, (unsigned long long)r->sum, (unsigned long long)want);
		exit(1);
	}
}

/* Items per second across two threads; *pinned counts pinned threads. */
static double two_threads(int use_ring, uint32_t batch, uint64_t items, int pin_cpus, int *pinned)
{
	struct ccp_ring *ring = aligned_alloc(64, sizeof(*ring));
	struct item *storage = aligned_alloc(64, sizeof(struct item) * CAPACITY);
	struct run *r = calloc(1, sizeof(*r));
	if (!ring || !storage || !r) {
		fprintf(stderr, "bench_ring: out of memory\n");
		exit(1);
	}
	memset(storage, 0, sizeof(struct item) * CAPACITY); /* fault pages in before timing */
	if (ccp_ring_init(ring, storage, sizeof(struct item) * CAPACITY, sizeof(struct item), CAPACITY)) {
		fprintf(stderr, "bench_ring: ccp_ring_init failed\n");
		exit(1);
	}
	r->batch = batch;
	r->items = items;
	r->pin_cpus = pin_cpus;
	r->ring = ring;
	r->buf = storage;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->not_empty, NULL);
	pthread_cond_init(&r->not_full, NULL);
	pthread_t p, c;
	pthread_create(&c, NULL, use_ring ? ring_consumer : mq_consumer, r);
	pthread_create(&p, NULL, use_ring ? ring_producer : mq_producer, r);
	pthread_join(p, NULL);
	pthread_join(c, NULL);
	check_sum(r, use_ring ? "ring" : "mutex queue");
	double rate = (double)items / (r->t1 - r->t0);
	*pinned = r->pinned;
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->not_empty);
	pthread_cond_destroy(&r->not_full);
	free(r);
	free(storage);
	free(ring);
	return rate;
}

/* Ceiling (a): the same calls on one thread, so nothing crosses cores. */
static double same_thread(uint32_t batch, uint64_t items)
{
	struct ccp_ring *ring = aligned_alloc(64, sizeof(*ring));
	struct item *storage = aligned_alloc(64, sizeof(struct item) * CAPACITY);
	if (!ring || !storage ||
	    ccp_ring_init(ring, storage, sizeof(struct item) * CAPACITY, sizeof(struct item), CAPACITY)) {
		fprintf(stderr, "bench_ring: setup failed\n");
		exit(1);
	}
	memset(storage, 0, sizeof(struct item) * CAPACITY);
	struct run r = { .batch = batch, .items = items };
	uint64_t seq = 0, sum = 0;
	double t0 = now_s();
	while (seq < items) {
		struct item *s;
		uint32_t want = batch;
		if (want > items - seq)
			want = (uint32_t)(items - seq);
		uint32_t k = ccp_ring_reserve(ring, want, (void **)&s);
		for (uint32_t i = 0; i < k; i++) {
			s[i].seq = seq + i;
			s[i].len = 1;
		}
		ccp_ring_commit(ring, k);
		seq += k;
		uint32_t m = ccp_ring_peek(ring, batch, (void **)&s);
		for (uint32_t i = 0; i < m; i++)
			sum += s[i].seq * s[i].len;
		ccp_ring_release(ring, m);
	}
	double dt = now_s() - t0;
	r.sum = sum;
	check_sum(&r, "same-thread ring");
	free(storage);
	free(ring);
	return (double)items / dt;
}

static double median3(double a, double b, double c)
{
	if (a > b) {
		double t = a;
		a = b;
		b = t;
	}
	return c < a ? a : c > b ? b : c;
}

int main(int argc, char **argv)
{
	uint64_t items = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000000;
	if (items < 1000) {
		fprintf(stderr, "usage: bench_ring [ITEMS >= 1000]\n");
		return 2;
	}
	int cpus = ncpus(), pin_cpus = cpus >= 2, pinned = 0;
	printf("bench_ring: %llu items of %zu bytes, capacity %u slots, %d CPUs%s; median of %d runs\n",
	       (unsigned long long)items, sizeof(struct item), CAPACITY, cpus,
	       pin_cpus ? ", producer pinned to the first, consumer to the second" : " (not pinned)",
	       RUNS);
	printf("%6s %14s %14s %12s %14s %12s\n", "batch", "ring 2 thr", "(a) 1 thread", "ring/(a)",
	       "(b) mutex+cv", "ring/(b)");
	static const uint32_t batches[] = { 1, 16, 256 };
	for (size_t i = 0; i < sizeof(batches) / sizeof(batches[0]); i++) {
		uint32_t b = batches[i];
		double x[RUNS], a[RUNS], m[RUNS];
		for (int k = 0; k < RUNS; k++) {
			x[k] = two_threads(1, b, items, pin_cpus, &pinned);
			a[k] = same_thread(b, items);
			m[k] = two_threads(0, b, items / 4, pin_cpus, &pinned);
		}
		double xr = median3(x[0], x[1], x[2]), ar = median3(a[0], a[1], a[2]);
		double mr = median3(m[0], m[1], m[2]);
		printf("%6u %12.1f M/s %10.1f M/s %11.2fx %10.1f M/s %11.1fx\n", b, xr / 1e6, ar / 1e6,
		       xr / ar, mr / 1e6, xr / mr);
	}
	if (pin_cpus && pinned < 2)
		printf("note: pinning failed; threads ran where the scheduler put them\n");
	return 0;
}
