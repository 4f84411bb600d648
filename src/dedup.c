/* Event-id dedup horizon (see dedup.h). */
#include "dedup.h"

#include <errno.h>
#include <stdlib.h>

int ccp__dedup_init(struct ccp_dedup *d, int64_t horizon_ms, uint32_t max_ids)
{
	d->head = d->len = 0;
	d->cap = 1024;
	d->max_ids = max_ids ? max_ids : 1;
	d->horizon_ms = horizon_ms;
	d->fifo = malloc(d->cap * sizeof(*d->fifo));
	if (!d->fifo || ccp__idmap_init(&d->set, 2048)) {
		free(d->fifo);
		d->fifo = NULL;
		return -ENOMEM;
	}
	return 0;
}

void ccp__dedup_deinit(struct ccp_dedup *d)
{
	free(d->fifo);
	d->fifo = NULL;
	ccp__idmap_deinit(&d->set);
}

static void drop_oldest(struct ccp_dedup *d)
{
	ccp__idmap_del(&d->set, d->fifo[d->head].key);
	d->head = (d->head + 1) & (d->cap - 1);
	d->len--;
}

void ccp__dedup_expire(struct ccp_dedup *d, int64_t now_ms)
{
	while (d->len && now_ms - d->fifo[d->head].at_ms > d->horizon_ms)
		drop_oldest(d);
}

static int grow(struct ccp_dedup *d)
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
	int found = ccp__idmap_find_or_put(&d->set, key, 0);
	if (found == 1)
		return true;
	if (found < 0)
		return false; /* out of memory: the event counts, unremembered */
	/* Make room in the FIFO; the id just inserted is never the oldest. */
	if (d->len >= d->max_ids)
		drop_oldest(d);
	if (d->len == d->cap && grow(d))
		drop_oldest(d); /* out of memory: forget the oldest instead */
	d->fifo[(d->head + d->len) & (d->cap - 1)] = (struct ccp_dedup_entry){key, now_ms};
	d->len++;
	return false;
}

size_t ccp__dedup_bytes(const struct ccp_dedup *d)
{
	return ccp__idmap_bytes(&d->set) + (size_t)d->cap * sizeof(*d->fifo);
}
