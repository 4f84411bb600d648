/* Unit tests for the SPSC ring: single-thread semantics, then a two-thread
 * validator that streams sequence numbers through in random batch sizes and
 * checks order, loss and duplication. Under TSan the validator also checks
 * that every slot handoff is ordered by the ring's release/acquire pairs.
 *
 * CCP_RING_TEST_ITEMS sets the validator's item count (default 30 M, or
 * 10 M when built with TSan); deadlines scale by CCP_TEST_TIMEOUT_MULTIPLIER.
 */
/* ccp-test-labels: threaded */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "ccp_test.h"
#include "ccpulse/ring.h"


/* A ring and its storage in one caller-allocated block, as users embed it. */
struct test_ring {
	struct ccp_ring ring;
	_Alignas(64) uint64_t storage[4096];
};

static struct test_ring *new_ring(uint32_t slot_bytes, uint32_t capacity)
{
	struct test_ring *t = aligned_alloc(64, sizeof(*t));
	assert_non_null(t);
	assert_int_equal(ccp_ring_init(&t->ring, t->storage, sizeof(t->storage), slot_bytes, capacity), 0);
	return t;
}

static void test_init_rejects(void **state)
{
	(void)state;
	struct test_ring *t = aligned_alloc(64, sizeof(*t));
	assert_non_null(t);
	struct ccp_ring *r = &t->ring;
	size_t sz = sizeof(t->storage);
	assert_int_equal(ccp_ring_init(r, t->storage, sz, 8, 0), -EINVAL);
	assert_int_equal(ccp_ring_init(r, t->storage, sz, 8, 12), -EINVAL);
	assert_int_equal(ccp_ring_init(r, t->storage, sz, 0, 8), -EINVAL);
	assert_int_equal(ccp_ring_init(r, t->storage, sz, 24, 8), -EINVAL);
	assert_int_equal(ccp_ring_init(r, t->storage, sz, 8, 8192), -EINVAL); /* 64 KiB > storage */
	assert_int_equal(ccp_ring_init(r, NULL, sz, 8, 8), -EINVAL);
	assert_int_equal(ccp_ring_init(r, (char *)t->storage + 4, sz - 4, 8, 8), -EINVAL);
	assert_int_equal(ccp_ring_init((struct ccp_ring *)((char *)r + 8), t->storage, sz, 8, 8),
			 -EINVAL);
	assert_int_equal(ccp_ring_init(r, t->storage, sz, 8, 4096), 0); /* exactly fits */
	assert_int_equal(ccp_ring_capacity(r), 4096);
	assert_int_equal(ccp_ring_slot_bytes(r), 8);
	assert_int_equal(ccp_ring_init(r, t->storage, sz, 1, 1), 0);
	assert_int_equal(ccp_ring_capacity(r), 1);
	free(t);
}

static void test_layout(void **state)
{
	(void)state;
	/* The two counters and each side's cached copy of the other's counter
	 * sit on separate 64-byte lines. */
	assert_int_equal(offsetof(struct ccp_ring, _head) / 64, 0);
	assert_int_equal(offsetof(struct ccp_ring, _tail_seen) / 64, 0);
	assert_int_equal(offsetof(struct ccp_ring, _tail) / 64, 1);
	assert_int_equal(offsetof(struct ccp_ring, _head_seen) / 64, 1);
	assert_int_equal(offsetof(struct ccp_ring, _slots) / 64, 2);
	assert_int_equal(_Alignof(struct ccp_ring), 64);
}

static void test_full_empty(void **state)
{
	(void)state;
	struct test_ring *t = new_ring(8, 8);
	struct ccp_ring *r = &t->ring;
	uint64_t v;
	assert_false(ccp_ring_pop(r, &v));
	assert_int_equal(ccp_ring_count(r), 0);
	for (uint64_t i = 0; i < 8; i++)
		assert_true(ccp_ring_push(r, &i));
	assert_int_equal(ccp_ring_count(r), 8); /* every slot usable */
	uint64_t x = 99;
	assert_false(ccp_ring_push(r, &x));
	void *p;
	assert_int_equal(ccp_ring_reserve(r, 4, &p), 0);
	for (uint64_t i = 0; i < 8; i++) {
		assert_true(ccp_ring_pop(r, &v));
		assert_int_equal(v, i);
	}
	assert_false(ccp_ring_pop(r, &v));
	assert_int_equal(ccp_ring_peek(r, 4, &p), 0);
	assert_int_equal(ccp_ring_count(r), 0);
	/* Requests for 0 slots return 0 and change nothing. */
	assert_int_equal(ccp_ring_reserve(r, 0, &p), 0);
	assert_int_equal(ccp_ring_peek(r, 0, &p), 0);
	free(t);
}

static void test_wrap_around(void **state)
{
	(void)state;
	struct test_ring *t = new_ring(8, 8);
	struct ccp_ring *r = &t->ring;
	uint64_t next_in = 0, next_out = 0, v;
	/* Move head and tail to 6. */
	for (int i = 0; i < 6; i++, next_in++)
		assert_true(ccp_ring_push(r, &next_in));
	for (int i = 0; i < 6; i++) {
		assert_true(ccp_ring_pop(r, &v));
		assert_int_equal(v, next_out++);
	}
	/* A batch stops at the end of storage: 2 slots, then 6 from slot 0. */
	uint64_t *slots;
	assert_int_equal(ccp_ring_reserve(r, 8, (void **)&slots), 2);
	assert_ptr_equal(slots, &t->storage[6]);
	slots[0] = next_in++;
	slots[1] = next_in++;
	ccp_ring_commit(r, 2);
	assert_int_equal(ccp_ring_reserve(r, 8, (void **)&slots), 6);
	assert_ptr_equal(slots, &t->storage[0]);
	for (int i = 0; i < 6; i++)
		slots[i] = next_in++;
	ccp_ring_commit(r, 6);
	assert_int_equal(ccp_ring_count(r), 8);
	/* The consumer sees the same split. */
	assert_int_equal(ccp_ring_peek(r, 100, (void **)&slots), 2);
	assert_ptr_equal(slots, &t->storage[6]);
	assert_int_equal(slots[0], next_out++);
	assert_int_equal(slots[1], next_out++);
	ccp_ring_release(r, 2);
	assert_int_equal(ccp_ring_peek(r, 100, (void **)&slots), 6);
	for (int i = 0; i < 6; i++)
		assert_int_equal(slots[i], next_out++);
	ccp_ring_release(r, 6);
	/* Many laps with a stride that is prime to the capacity. */
	for (int lap = 0; lap < 1000; lap++) {
		for (int i = 0; i < 5; i++, next_in++)
			assert_true(ccp_ring_push(r, &next_in));
		for (int i = 0; i < 5; i++) {
			assert_true(ccp_ring_pop(r, &v));
			assert_int_equal(v, next_out++);
		}
	}
	assert_int_equal(next_in, next_out);
	free(t);
}

static void test_batch_partial(void **state)
{
	(void)state;
	struct test_ring *t = new_ring(8, 16);
	struct ccp_ring *r = &t->ring;
	uint64_t *slots, *again;
	/* Reserve 10, commit 3: only 3 are visible. */
	assert_int_equal(ccp_ring_reserve(r, 10, (void **)&slots), 10);
	for (int i = 0; i < 10; i++)
		slots[i] = 100 + (uint64_t)i;
	ccp_ring_commit(r, 3);
	assert_int_equal(ccp_ring_count(r), 3);
	assert_int_equal(ccp_ring_peek(r, 10, (void **)&again), 3);
	/* The uncommitted rest is handed out again, at the same place. */
	assert_int_equal(ccp_ring_reserve(r, 20, (void **)&again), 13);
	assert_ptr_equal(again, slots + 3);
	ccp_ring_commit(r, 13);
	assert_int_equal(ccp_ring_reserve(r, 1, (void **)&again), 0); /* full */
	/* Peek 5, release 2: the next peek starts at the third. */
	assert_int_equal(ccp_ring_peek(r, 5, (void **)&again), 5);
	assert_int_equal(again[0], 100);
	ccp_ring_release(r, 2);
	assert_int_equal(ccp_ring_count(r), 14);
	assert_int_equal(ccp_ring_peek(r, 1, (void **)&again), 1);
	assert_int_equal(again[0], 102);
	/* A peek without release consumes nothing. */
	assert_int_equal(ccp_ring_peek(r, 1, (void **)&again), 1);
	assert_int_equal(again[0], 102);
	/* Two freed slots at the front: a reserve asks for 5 and gets 2. */
	assert_int_equal(ccp_ring_reserve(r, 5, (void **)&again), 2);
	assert_ptr_equal(again, &t->storage[0]);
	ccp_ring_commit(r, 0);
	assert_int_equal(ccp_ring_count(r), 14);
	free(t);
}

static void test_slot_sizes(void **state)
{
	(void)state;
	/* 1-byte slots and 4 KiB slots copy exactly one slot each. */
	struct test_ring *t = new_ring(1, 16);
	unsigned char b = 7, out = 0;
	assert_true(ccp_ring_push(&t->ring, &b));
	assert_true(ccp_ring_pop(&t->ring, &out));
	assert_int_equal(out, 7);
	free(t);
	t = new_ring(4096, 8);
	static unsigned char big[4096], got[4096];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)(i * 31);
	for (int i = 0; i < 20; i++) {
		big[0] = (unsigned char)i;
		assert_true(ccp_ring_push(&t->ring, big));
		assert_true(ccp_ring_pop(&t->ring, got));
		assert_memory_equal(big, got, sizeof(big));
	}
	free(t);
}

/* ---- two threads ---- */

/* A slot of the validator: the sequence number and a check word, so a torn
 * or stale slot shows up as a mismatch. */
struct seq_slot {
	uint64_t seq;
	uint64_t check;
};

#define CHECK_OF(s) ((s) * 0x9e3779b97f4a7c15ULL ^ 0xa5a5a5a5a5a5a5a5ULL)

/* Shared by the validator's two threads: read-only config, then each
 * thread writes only its own result fields; main reads them after join. */
struct validator {
	struct ccp_ring *ring;
	uint64_t items;
	uint32_t max_batch;
	int64_t deadline_ns; /* CLOCK_MONOTONIC */
	/* producer's results */
	int producer_timed_out;
	/* consumer's results */
	uint64_t received;
	uint64_t bad_at; /* first mismatching position + 1, 0 if none */
	uint64_t bad_seq, bad_check;
	int consumer_timed_out;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Spin briefly, then yield: two cores may be shared with other work.
 * Returns false once the deadline passed. */
static bool backoff(unsigned *spins, int64_t deadline_ns)
{
	if (++*spins < 64)
		return true;
	*spins = 0;
	sched_yield();
	return now_ns() < deadline_ns;
}

static void *producer_main(void *arg)
{
	struct validator *v = arg;
	uint64_t rng = 0x1234567u, seq = 0;
	unsigned spins = 0;
	while (seq < v->items) {
		uint32_t want = 1 + (uint32_t)(xorshift(&rng) % v->max_batch);
		if (want > v->items - seq)
			want = (uint32_t)(v->items - seq);
		struct seq_slot *s;
		uint32_t got = ccp_ring_reserve(v->ring, want, (void **)&s);
		if (!got) {
			if (!backoff(&spins, v->deadline_ns)) {
				v->producer_timed_out = 1;
				return NULL;
			}
			continue;
		}
		/* Commit a random part of what was reserved. */
		uint32_t k = 1 + (uint32_t)(xorshift(&rng) % got);
		for (uint32_t i = 0; i < k; i++) {
			s[i].seq = seq + i;
			s[i].check = CHECK_OF(seq + i);
		}
		ccp_ring_commit(v->ring, k);
		seq += k;
	}
	return NULL;
}

static void *consumer_main(void *arg)
{
	struct validator *v = arg;
	uint64_t rng = 0x7654321u, expect = 0;
	unsigned spins = 0;
	while (expect < v->items) {
		uint32_t want = 1 + (uint32_t)(xorshift(&rng) % v->max_batch);
		struct seq_slot *s;
		uint32_t got = ccp_ring_peek(v->ring, want, (void **)&s);
		if (!got) {
			if (!backoff(&spins, v->deadline_ns)) {
				v->consumer_timed_out = 1;
				break;
			}
			continue;
		}
		uint32_t k = 1 + (uint32_t)(xorshift(&rng) % got);
		for (uint32_t i = 0; i < k; i++) {
			if (s[i].seq != expect || s[i].check != CHECK_OF(expect)) {
				v->bad_at = expect + 1;
				v->bad_seq = s[i].seq;
				v->bad_check = s[i].check;
				v->received = expect;
				return NULL;
			}
			expect++;
		}
		ccp_ring_release(v->ring, k);
	}
	v->received = expect;
	return NULL;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);
	if (!s || !*s)
		return dflt;
	char *end;
	unsigned long long x = strtoull(s, &end, 10);
	if (*end || x == 0)
		fail_msg("%s=\"%s\": want a positive integer", name, s);
	return x;
}

static void run_validator(uint32_t capacity, uint32_t max_batch, uint64_t items)
{
	struct test_ring *t = new_ring(sizeof(struct seq_slot), capacity);
	const char *m = getenv("CCP_TEST_TIMEOUT_MULTIPLIER");
	double mult = m && atof(m) > 0 ? atof(m) : 1.0;
	struct validator v = {
		.ring = &t->ring,
		.items = items,
		.max_batch = max_batch,
		.deadline_ns = now_ns() + (int64_t)(60e9 * mult),
	};
	int64_t t0 = now_ns();
	pthread_t prod, cons;
	assert_int_equal(pthread_create(&cons, NULL, consumer_main, &v), 0);
	assert_int_equal(pthread_create(&prod, NULL, producer_main, &v), 0);
	assert_int_equal(pthread_join(prod, NULL), 0);
	assert_int_equal(pthread_join(cons, NULL), 0);
	double secs = (double)(now_ns() - t0) / 1e9;
	printf("# capacity %u, batches 1..%u: %llu items in %.2f s (%.1f M/s)\n", capacity, max_batch,
	       (unsigned long long)items, secs, (double)items / secs / 1e6);
	if (v.bad_at)
		fail_msg("position %llu: got seq %llu check %llx, want seq %llu",
			 (unsigned long long)(v.bad_at - 1), (unsigned long long)v.bad_seq,
			 (unsigned long long)v.bad_check, (unsigned long long)(v.bad_at - 1));
	if (v.producer_timed_out || v.consumer_timed_out)
		fail_msg("deadline passed: received %llu of %llu (producer %s, consumer %s)",
			 (unsigned long long)v.received, (unsigned long long)items,
			 v.producer_timed_out ? "stuck" : "done", v.consumer_timed_out ? "stuck" : "done");
	assert_int_equal(v.received, items);
	assert_int_equal(ccp_ring_count(&t->ring), 0); /* nothing left over, nothing extra */
	void *p;
	assert_int_equal(ccp_ring_peek(&t->ring, 1, &p), 0);
	free(t);
}

static void test_two_threads(void **state)
{
	(void)state;
	uint64_t items = env_u64("CCP_RING_TEST_ITEMS", CCP_TEST_UNDER_TSAN ? 10000000 : 30000000);
	/* Mostly-full and mostly-empty phases both occur with this ring. */
	run_validator(1024, 300, items);
	/* A tiny ring: every batch wraps or hits full/empty. */
	run_validator(4, 7, items / 10 ? items / 10 : 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_rejects),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_full_empty),
		cmocka_unit_test(test_wrap_around),
		cmocka_unit_test(test_batch_partial),
		cmocka_unit_test(test_slot_sizes),
		cmocka_unit_test(test_two_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
