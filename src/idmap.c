/* Open-addressing u64 -> u32 map (see idmap.h). */
#include "idmap.h"

#include <errno.h>
#include <stdlib.h>

int ccp__idmap_init(struct ccp_idmap *m, uint32_t cap)
{
	uint32_t c = 16;
	while (c < cap)
		c <<= 1;
	m->slots = calloc(c, sizeof(*m->slots));
	m->cap = c;
	m->n = 0;
	if (!m->slots) {
		m->cap = 0;
		return -ENOMEM;
	}
	return 0;
}

void ccp__idmap_deinit(struct ccp_idmap *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = m->n = 0;
}

static inline uint32_t slot_of(const struct ccp_idmap *m, uint64_t key)
{
	/* Keys are already well-mixed hashes: the low bits index directly. */
	return (uint32_t)key & (m->cap - 1);
}

uint32_t *ccp__idmap_find(const struct ccp_idmap *m, uint64_t key)
{
	uint32_t mask = m->cap - 1;
	for (uint32_t i = slot_of(m, key);; i = (i + 1) & mask) {
		if (m->slots[i].key == key)
			return &m->slots[i].val;
		if (!m->slots[i].key)
			return NULL;
	}
}

static int grow(struct ccp_idmap *m)
{
	struct ccp_idmap big;
	if (ccp__idmap_init(&big, m->cap * 2))
		return -ENOMEM;
	for (uint32_t i = 0; i < m->cap; i++)
		if (m->slots[i].key)
			ccp__idmap_put(&big, m->slots[i].key, m->slots[i].val);
	ccp__idmap_deinit(m);
	*m = big;
	return 0;
}

int ccp__idmap_put(struct ccp_idmap *m, uint64_t key, uint32_t val)
{
	/* Load factor <= 1/2 keeps linear probes short. */
	if ((m->n + 1) * 2 > m->cap && grow(m))
		return -ENOMEM;
	uint32_t mask = m->cap - 1;
	for (uint32_t i = slot_of(m, key);; i = (i + 1) & mask) {
		if (m->slots[i].key == key) {
			m->slots[i].val = val;
			return 0;
		}
		if (!m->slots[i].key) {
			m->slots[i].key = key;
			m->slots[i].val = val;
			m->n++;
			return 0;
		}
	}
}

int ccp__idmap_find_or_put(struct ccp_idmap *m, uint64_t key, uint32_t val)
{
	if ((m->n + 1) * 2 > m->cap && grow(m))
		return -ENOMEM;
	uint32_t mask = m->cap - 1;
	for (uint32_t i = slot_of(m, key);; i = (i + 1) & mask) {
		if (m->slots[i].key == key)
			return 1;
		if (!m->slots[i].key) {
			m->slots[i].key = key;
			m->slots[i].val = val;
			m->n++;
			return 0;
		}
	}
}

bool ccp__idmap_del(struct ccp_idmap *m, uint64_t key)
{
	uint32_t mask = m->cap - 1, i = slot_of(m, key);
	while (m->slots[i].key != key) {
		if (!m->slots[i].key)
			return false;
		i = (i + 1) & mask;
	}
	/* Backward shift: move later entries of the probe run into the hole. */
	for (uint32_t j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
		uint32_t home = slot_of(m, m->slots[j].key);
		/* j's entry may move to i if i lies cyclically in [home, j). */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->slots[i].key = m->slots[j].key;
			m->slots[i].val = m->slots[j].val;
			i = j;
		}
	}
	m->slots[i].key = 0;
	m->n--;
	return true;
}

size_t ccp__idmap_bytes(const struct ccp_idmap *m)
{
	return (size_t)m->cap * sizeof(*m->slots);
}
