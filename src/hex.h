/* The value of one hexadecimal digit, for the decoders that read \u escapes
 * and percent-encoding (decode, redis_url, http). Internal. */
#ifndef CCPULSE_HEX_H
#define CCPULSE_HEX_H

/* 0..15, or -1 if `c` is not a hex digit. */
static inline int ccp__hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
