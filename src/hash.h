/* 64-bit hashing of id strings, for tables keyed by id. Internal. */
#ifndef CCPULSE_HASH_H
#define CCPULSE_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t ccp__mix64(uint64_t x)
{
	/* splitmix64 finalizer: every input bit reaches every output bit. */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/* xorshift64: cheap jitter for reconnect and retry backoffs (never for
 * anything that must be unpredictable). `*state` must not be 0. */
static inline uint64_t ccp__xorshift64(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

/* Hashes 8 bytes at a time; ids are short (<= 128 bytes). */
static inline uint64_t ccp__hash_bytes(const void *p, size_t len)
{
	const unsigned char *s = p;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ (len * 0xff51afd7ed558ccdULL);
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, s, 8);
		h = ccp__mix64(h ^ w) + 0x9e3779b97f4a7c15ULL;
		s += 8;
		len -= 8;
	}
	uint64_t w = 0;
	memcpy(&w, s, len);
	return ccp__mix64(h ^ w ^ ((uint64_t)len << 56));
}

/* Combines a queue index with an id hash; never 0 (0 marks empty slots). */
static inline uint64_t ccp__key(uint32_t q, uint64_t id_hash)
{
	uint64_t k = ccp__mix64(id_hash ^ ((uint64_t)q * 0x9e3779b97f4a7c15ULL));
	return k ? k : 1;
}

#endif
