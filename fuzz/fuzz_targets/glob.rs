//! `corekv::glob::matches` against a reference: a line-by-line port of
//! Redis 7's `stringmatchlen` (util.c, case-sensitive), which decides what
//! `KEYS`/`SCAN MATCH` select. Its quirks are Redis's and kept on purpose:
//! bytes compare as C's signed `char` in ranges, `[a-]` takes `]` as the
//! range's end (the class goes on), an unclosed class ends the pattern,
//! and only the pattern `*` (which the commands special-case) matches the
//! empty key.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Redis's `stringmatchlen_impl`; `skip` is its `skipLongerMatches`.
fn reference(pattern: &[u8], string: &[u8], skip: &mut bool) -> bool {
    let (mut p, mut s) = (0usize, 0usize);
    // `pattern[i]` past the end reads the C string's terminating NUL.
    let at = |i: usize| pattern.get(i).copied().unwrap_or(0);
    while p < pattern.len() && s < string.len() {
        match pattern[p] {
            b'*' => {
                while p + 1 < pattern.len() && pattern[p + 1] == b'*' {
                    p += 1;
                }
                if p + 1 == pattern.len() {
                    return true;
                }
                while s < string.len() {
                    if reference(&pattern[p + 1..], &string[s..], skip) {
                        return true;
                    }
                    if *skip {
                        return false;
                    }
                    s += 1;
                }
                *skip = true;
                return false;
            }
            b'?' => s += 1,
            b'[' => {
                p += 1;
                let not = at(p) == b'^';
                if not {
                    p += 1;
                }
                let mut matched = false;
                loop {
                    let left = pattern.len().saturating_sub(p);
                    if at(p) == b'\\' && left >= 2 {
                        p += 1;
                        matched |= at(p) == string[s];
                    } else if at(p) == b']' {
                        break;
                    } else if left == 0 {
                        p -= 1;
                        break;
                    } else if left >= 3 && at(p + 1) == b'-' {
                        let (mut start, mut end) = (at(p) as i8, at(p + 2) as i8);
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        p += 2;
                        let c = string[s] as i8;
                        matched |= c >= start && c <= end;
                    } else {
                        matched |= at(p) == string[s];
                    }
                    p += 1;
                }
                if matched == not {
                    return false;
                }
                s += 1;
            }
            c => {
                let c = if c == b'\\' && pattern.len() - p >= 2 {
                    p += 1;
                    pattern[p]
                } else {
                    c
                };
                if c != string[s] {
                    return false;
                }
                s += 1;
            }
        }
        p += 1;
        if s == string.len() {
            while at(p) == b'*' {
                p += 1;
            }
            break;
        }
    }
    p >= pattern.len() && s == string.len()
}

/// What `KEYS pattern` selects in Redis: `*` is special-cased.
fn redis_matches(pattern: &[u8], key: &[u8]) -> bool {
    pattern == b"*" || reference(pattern, key, &mut false)
}

fuzz_target!(|input: &[u8]| {
    // Pattern and key split at the first 0x00 byte (or the middle).
    let cut = input
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(input.len() / 2);
    let (pattern, key) = (&input[..cut], &input[(cut + 1).min(input.len())..]);
    // Bound the reference's backtracking on long runs of stars.
    if pattern.len() > 64 || key.len() > 64 {
        return;
    }
    assert_eq!(
        corekv::glob::matches(pattern, key),
        redis_matches(pattern, key),
        "pattern {:?} key {:?}",
        String::from_utf8_lossy(pattern),
        String::from_utf8_lossy(key)
    );
});
