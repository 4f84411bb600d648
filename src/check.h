/* CCP__CHECK: an invariant that only a programmer error can break; always
 * compiled in (an abort with the place beats running on corrupt state).
 * Never for input, which gets a specific error instead. Internal. */
#ifndef CCPULSE_CHECK_H
#define CCPULSE_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CCP__CHECK(c)                                                                          \
	do {                                                                                   \
		if (!(c)) {                                                                    \
			fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #c); \
			abort();                                                               \
		}                                                                              \
	} while (0)

#endif
