/* Checkpoint internals for tests and the fuzz target. Internal. */
#ifndef CCPULSE_SNAPSHOT_INTERNAL_H
#define CCPULSE_SNAPSHOT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Bytes before the body (magic, version, body length) and after it
 * (checksum). */
#define CCP__SNAPSHOT_HEADER_BYTES 16
#define CCP__SNAPSHOT_TRAILER_BYTES 8

/* The checkpoint's 64-bit checksum of data[0, len). Pure. */
uint64_t ccp__snapshot_checksum(const void *data, size_t len);

/* Rewrites the body length and the checksum of the checkpoint-shaped bytes
 * data[0, len) (len >= header + trailer) to match their size and contents,
 * so that a fuzzer's mutations reach the section parsers. Pure. */
void ccp__snapshot_seal(uint8_t *data, size_t len);

#endif
