/* Open-addressing u64 -> u32 map (see idmap.h). */
#include "idmap.h"

#include <errno.h>
#include <stdlib.h>

int ccp__idmap_init(struct ccp_idmap *m, uint32_t cap)
{
	uint32_t c = 16;
	while (c < cap)
		c <<= 1;
	m->keys = calloc(c, sizeof(uint64_t));
	m->vals = malloc(c * sizeof(uint32_t));
	m->cap = c;
	m->n = 0;
	if (!m->keys || !m->vals) {
		ccp__idmap_deinit(m);
		return -ENOMEM;
	}
	return 0;
}

void ccp__idmap_deinit(struct ccp_idmap *m)
{
	free(m->keys);
	free(m->vals);
	m->keys = NULL;
	m->vals = NULL;
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
		if (m->keys[i] == key)
			return &m->vals[i];
		if (!m->keys[i])
			return NULL;
	}
}

static int grow(struct ccp_idmap *m)
{
	struct ccp_idmap big;
	if (ccp__idmap_init(&big, m->cap * 2))
		return -ENOMEM;
	for (uint32_t i = 0; i < m->cap; i++)
		if (m->keys[i])
			ccp__idmap_put(&big, m->keys[i], m->vals[i]);
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
		if (m->keys[i] == key) {
			m->vals[i] = val;
			return 0;
		}
		if (!m->keys[i]) {
			m->keys[i] = key;
			m->vals[i] = val;
			m->n++;
			return 0;
		}
	}
}

bool ccp__idmap_del(struct ccp_idmap *m, uint64_t key)
{
	uint32_t mask = m->cap - 1, i = slot_of(m, key);
	while (m->keys[i] != key) {
		if (!m->keys[i])
			return false;
		i = (i + 1) & mask;
	}
	/* Backward shift: move later entries of the probe run into the hole. */
	for (uint32_t j = (i + 1) & mask; m->keys[j]; j = (j + 1) & mask) {
		uint32_t home = slot_of(m, m->keys[j]);
		/* j's entry may move to i if i lies cyclically in [home, j). */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->keys[i] = m->keys[j];
			m->vals[i] = m->vals[j];
			i = j;
		}
	}
	m->keys[i] = 0;
	m->n--;
	return true;
}

size_t ccp__idmap_bytes(const struct ccp_idmap *m)
{
	return (size_t)m->cap * (sizeof(uint64_t) + sizeof(uint32_t));
}
