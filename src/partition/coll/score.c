/* Sorted-set scores as Redis 7.0 reads and prints them: `strtod` with the
 * checks of `getDoubleFromObject` (ZADD's scores, weights) or of
 * `zslParseRange` (ZRANGEBYSCORE's bounds), and `printf("%.17g")`
 * (`addReplyDouble`). The same C library calls give the same bytes as
 * redis-server on the same platform (hex floats, "infinity", underflow,
 * rounding of the 17th digit). The process never calls setlocale, so the
 * decimal point is '.'. */

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A NUL-terminated copy of `s` (arguments may hold NUL bytes: strtod
 * stops there, as it does on Redis's sds strings). */
static char *terminated(const char *s, size_t len) {
    char *buf = malloc(len + 1);
    if (buf == NULL) return NULL;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return buf;
}

/* Redis's getDoubleFromObject: the whole argument is a number, no leading
 * space, no overflow or underflow to zero, not NaN. Returns 1 and sets
 * `out`, or 0. */
int corekv_score_parse(const char *s, size_t len, double *out) {
    char *buf, *eptr;
    double value;
    int ok;

    if (len == 0) return 0;
    buf = terminated(s, len);
    if (buf == NULL) return 0;
    errno = 0;
    value = strtod(buf, &eptr);
    ok = !(isspace((unsigned char)buf[0]) || (size_t)(eptr - buf) != len ||
           (errno == ERANGE &&
            (value == HUGE_VAL || value == -HUGE_VAL || fpclassify(value) == FP_ZERO)) ||
           isnan(value));
    free(buf);
    if (ok) *out = value;
    return ok;
}

/* zslParseRange's reading of one bound (after its '('): strtod up to the
 * end or a NUL byte, any value but NaN. Returns 1 and sets `out`, or 0. */
int corekv_score_parse_bound(const char *s, size_t len, double *out) {
    char *buf, *eptr;
    double value;
    int ok;

    buf = terminated(s, len);
    if (buf == NULL) return 0;
    value = strtod(buf, &eptr);
    ok = eptr[0] == '\0' && !isnan(value);
    free(buf);
    if (ok) *out = value;
    return ok;
}

/* "%.17g" of `d` into `out` (at least 32 bytes); returns the length. */
size_t corekv_score_format(double d, char *out) {
    int n = snprintf(out, 32, "%.17g", d);
    return n < 0 ? 0 : (size_t)n;
}
