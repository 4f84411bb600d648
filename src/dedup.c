/* Event-id dedup horizon (see dedup.h). */
#include "dedup.h"

#include <errno.h>
#include <stdlib.h>

static uint32_t home(const struct ccp_dedup *d, uint64_t key)
{
	/* Keys are already well-mixed hashes: the low bits index directly. */
	return (uint32_t)key & (d->set_cap - 1);
}

int ccp__dedup_init(struct ccp_dedup *d, int64_t horizon_ms, uint32_t max_ids)
{
	d->head = d->len = 0;
	d->cap = 1024;
	d->max_ids = max_ids ? max_ids : 1;
	d->horizon_ms = horizon_ms;
	d->set_cap = 2048;
	d->set_n = 0;
	d->fifo = malloc(d->cap * sizeof(*d->fifo));
	d->set = calloc(d->set_cap, sizeof(*d->set));
	if (!d->fifo || !d->set) {
		ccp__dedup_deinit(d);
		return -ENOMEM;
	}
	return 0;
}

void ccp__dedup_deinit(struct ccp_dedup *d)
{
	free(d->fifo);
	free(d->set);
	d->fifo = NULL;
	d->set = NULL;
	d->set_cap = d->set_n = d->len = d->cap = 0;
}

static void set_del(struct ccp_dedup *d, uint64_t key)
{
	uint32_t mask = d->set_cap - 1, i = home(d, key);
	while (d->set[i] != key) {
		if (!d->set[i])
			return;
		i = (i + 1) & mask;
	}
	/* Backward shift: move later keys of the probe run into the hole, so
	 * lookups never meet tombstones. */
	for (uint32_t j = (i + 1) & mask; d->set[j]; j = (j + 1) & mask) {
		uint32_t h = home(d, d->set[j]);
		if (((j - h) & mask) >= ((j - i) & mask)) {
			d->set[i] = d->set[j];
			i = j;
		}
	}
	d->set[i] = 0;
	d->set_n--;
}

static int set_grow(struct ccp_dedup *d)
{
	uint32_t old_cap = d->set_cap;
	uint64_t *old = d->set, *s = calloc((size_t)old_cap * 2, sizeof(*s));
	if (!s)
		return -ENOMEM;
	d->set = s;
	d->set_cap = old_cap * 2;
	uint32_t mask = d->set_cap - 1;
	for (uint32_t k = 0; k < old_cap; k++) {
		if (!old[k])
			continue;
		uint32_t i = home(d, old[k]);
		while (s[i])
			i = (i + 1) & mask;
		s[i] = old[k];
	}
	free(old);
	return 0;
}

static void drop_oldest(struct ccp_dedup *d)
{
	set_del(d, d->fifo[d->head].key);
	d->head = (d->head + 1) & (d->cap - 1);
	d->len--;
}

void ccp__dedup_expire(struct ccp_dedup *d, int64_t now_ms)
{
	while (d->len && now_ms - d->fifo[d->head].at_ms > d->horizon_ms)
		drop_oldest(d);
}

static int fifo_grow(struct ccp_dedup *d)
{
	struct ccp_dedup_entry *f = malloc((size_t)d->cap * 2 * sizeof(*f));
	if (!f)
		return -ENOMEM;
	for (uint32_t i = 0; i < d->len; i++)
		f[i] = d->fifo[(d->head + i) & (d->cap - 1)];
	free(d->fifo);
	d->fifo = f;
	d->head = 0;
	d->cap *= 2;
	return 0;
}

bool ccp__dedup_check_add(struct ccp_dedup *d, uint64_t key, int64_t now_ms)
{
	if (!key)
		key = 1;
	uint32_t mask = d->set_cap - 1, i = home(d, key);
	for (; d->set[i]; i = (i + 1) & mask)
		if (d->set[i] == key)
			return true;
	/* Not held: make room first (capacity, then table load <= 1/2). */
	bool moved = false;
	if (d->len >= d->max_ids) {
		drop_oldest(d);
		moved = true;
	}
	if (d->len == d->cap && fifo_grow(d)) {
		drop_oldest(d); /* out of memory: forget the oldest instead */
		moved = true;
	}
	if ((d->set_n + 1) * 2 > d->set_cap) {
		if (set_grow(d))
			return false; /* out of memory: the event counts, unremembered */
		moved = true;
	}
	if (moved) {
		/* A drop may have shifted keys, a grow rehashed them: find the
		 * empty slot again. */
		mask = d->set_cap - 1;
		for (i = home(d, key); d->set[i]; i = (i + 1) & mask)
			;
	}
	d->set[i] = key;
	d->set_n++;
	d->fifo[(d->head + d->len) & (d->cap - 1)] = (struct ccp_dedup_entry){key, now_ms};
	d->len++;
	return false;
}

int ccp__dedup_reserve(struct ccp_dedup *d, uint32_t n)
{
	while (d->cap < n)
		if (fifo_grow(d))
			return -ENOMEM;
	while ((uint64_t)n * 2 > d->set_cap)
		if (set_grow(d))
			return -ENOMEM;
	return 0;
}

uint32_t ccp__dedup_count(const struct ccp_dedup *d)
{
	return d->len;
}

size_t ccp__dedup_bytes(const struct ccp_dedup *d)
{
	return (size_t)d->set_cap * sizeof(*d->set) + (size_t)d->cap * sizeof(*d->fifo);
}
