/* The wallboard page (src/wallboard.html), embedded at build time by
 * cmake/embed.cmake into a generated C file. Internal. */
#ifndef CCPULSE_BOARD_PAGE_H
#define CCPULSE_BOARD_PAGE_H

#include <stddef.h>

extern const char ccp__wallboard_html[];
extern const size_t ccp__wallboard_html_len;

#endif
