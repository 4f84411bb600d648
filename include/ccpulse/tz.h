/* Time zones for `today`: local midnight of the day holding an instant.
 * A zone is loaded once by IANA name (from the system's zoneinfo) and is
 * then immutable, so any thread may read it. No process globals (TZ) are
 * touched.
 */
#ifndef CCPULSE_TZ_H
#define CCPULSE_TZ_H

#include <stddef.h>
#include <stdint.h>

struct ccp_tz;

/* Loads `name` ("UTC", "Europe/Berlin", ...). Returns NULL with a message
 * naming the zone and the reason in `err`. @thread any */
struct ccp_tz *ccp_tz_load(const char *name, char *err, size_t errlen);
void ccp_tz_free(struct ccp_tz *tz); /* NULL is a no-op */

/* The name the zone was loaded by ("UTC" for NULL): what a checkpoint
 * records, so that state is never read back under another zone. @thread any */
const char *ccp_tz_name(const struct ccp_tz *tz);

/* The local day holding `t_ms`: [*start_ms, *end_ms), epoch ms. A NULL zone
 * is UTC. Handles DST days (23 h, 25 h) and days whose midnight does not
 * exist. @thread any */
void ccp_tz_day_bounds(const struct ccp_tz *tz, int64_t t_ms, int64_t *start_ms, int64_t *end_ms);

#endif
