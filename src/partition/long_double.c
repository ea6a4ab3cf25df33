/* INCRBYFLOAT's arithmetic, as Redis 7.0 does it: C `long double` (x87
 * 80-bit on x86-64, IEEE quad on aarch64), parsed by `strtold` with the
 * checks of Redis's `string2ld` and printed by `printf("%.17Lf")` with
 * trailing zeros removed (`ld2string`, LD_STR_HUMAN). Rust has no long
 * double, and the digits a client sees depend on the type's precision and
 * the C library's exact decimal conversions: the same C code on the same
 * platform gives the same bytes as redis-server. The process never calls
 * setlocale, so the decimal point is '.'. */

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

/* Redis's MAX_LONG_DOUBLE_CHARS: inputs this long or longer are refused,
 * and every finite result fits. */
#define MAX_LONG_DOUBLE_CHARS (5 * 1024)

/* Redis's string2ld. */
static int parse(const char *s, size_t slen, long double *dp) {
    char buf[MAX_LONG_DOUBLE_CHARS];
    long double value;
    char *eptr;

    if (slen == 0 || slen >= sizeof(buf)) return 0;
    memcpy(buf, s, slen);
    buf[slen] = '\0';

    errno = 0;
    value = strtold(buf, &eptr);
    if (isspace((unsigned char)buf[0]) || eptr[0] != '\0' ||
        (size_t)(eptr - buf) != slen ||
        (errno == ERANGE &&
         (value == HUGE_VAL || value == -HUGE_VAL || fpclassify(value) == FP_ZERO)) ||
        errno == EINVAL || isnan(value))
        return 0;
    *dp = value;
    return 1;
}

/* Adds `incr` to `cur` (absent when `cur` is NULL: 0) and writes the
 * result to `out` (MAX_LONG_DOUBLE_CHARS bytes), its length to `out_len`.
 * Returns 0, or 1 if either is not a valid float, or 2 if the sum is NaN
 * or infinite. */
int corekv_incr_by_float(const char *cur, size_t cur_len, const char *incr, size_t incr_len,
                         char *out, size_t *out_len) {
    long double value = 0, by;
    size_t l;

    if ((cur != NULL && !parse(cur, cur_len, &value)) || !parse(incr, incr_len, &by)) return 1;
    value += by;
    if (isnan(value) || isinf(value)) return 2;
    l = (size_t)snprintf(out, MAX_LONG_DOUBLE_CHARS, "%.17Lf", value);
    if (l + 1 > MAX_LONG_DOUBLE_CHARS) return 2;
    if (strchr(out, '.') != NULL) {
        char *p = out + l - 1;
        while (*p == '0') {
            p--;
            l--;
        }
        if (*p == '.') l--;
    }
    if (l == 2 && out[0] == '-' && out[1] == '0') {
        out[0] = '0';
        l = 1;
    }
    *out_len = l;
    return 0;
}

/* Redis 7.0's getTimeoutFromObjectOrReply for a timeout in seconds (BLPOP
 * and the other blocking commands): `ceill(value * 1000)` converted to
 * `long long`. Returns 0 and sets `ms`, 1 if the text is not a valid float,
 * 2 if the timeout is negative. A value past `long long` (infinity too)
 * converts as redis-server's own cast does on this platform: on x86-64 to
 * LLONG_MIN, so "negative". */
int corekv_timeout_ms(const char *s, size_t len, long long *ms) {
    long double value;
    long long tval;

    if (!parse(s, len, &value)) return 1;
    tval = (long long)ceill(value * 1000.0L);
    if (tval < 0) return 2;
    *ms = tval;
    return 0;
}
