//! Glob-style patterns as Redis's `KEYS`/`SCAN MATCH` understand them:
//! `*` any run, `?` any byte, `[abc]`, `[^a-z]` classes, `\x` escapes.
//!
//! Redis's quirks (its `stringmatchlen`, checked against redis-server 7.0
//! and fuzzed against a port of it: `fuzz/fuzz_targets/glob.rs`) are kept:
//! only the pattern `*` matches the empty key (the commands special-case
//! it; `**` does not); in `[a-]` the `]` ends the range, not the class;
//! range bounds compare as C's signed `char` (bytes from 0x80 sort below
//! ASCII); an unclosed class ends the pattern.

/// True if `text` matches `pattern`.
pub fn matches(pattern: &[u8], text: &[u8]) -> bool {
    if pattern == b"*" {
        return true;
    }
    if text.is_empty() {
        return pattern.is_empty();
    }
    let (mut p, mut t) = (0, 0);
    // Where to resume after the last `*`: (pattern pos after it, text pos).
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            while p < pattern.len() && pattern[p] == b'*' {
                p += 1;
            }
            if p == pattern.len() {
                return true;
            }
            star = Some((p, t));
            continue;
        }
        if let Some(next) = step(pattern, p, text[t]) {
            p = next;
            t += 1;
            continue;
        }
        match star {
            Some((sp, st)) => {
                p = sp;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Matches one text byte `c` against the pattern element at `p`; returns
/// the position after that element.
fn step(pattern: &[u8], p: usize, c: u8) -> Option<usize> {
    match *pattern.get(p)? {
        b'?' => Some(p + 1),
        b'\\' if p + 1 < pattern.len() => (pattern[p + 1] == c).then_some(p + 2),
        b'[' => class(pattern, p + 1, c),
        lit => (lit == c).then_some(p + 1),
    }
}

/// A `[...]` class starting after the `[`.
fn class(pattern: &[u8], mut p: usize, c: u8) -> Option<usize> {
    let negate = pattern.get(p) == Some(&b'^');
    if negate {
        p += 1;
    }
    let mut hit = false;
    while p < pattern.len() && pattern[p] != b']' {
        if pattern[p] == b'\\' && p + 1 < pattern.len() {
            hit |= pattern[p + 1] == c;
            p += 2;
        } else if p + 2 < pattern.len() && pattern[p + 1] == b'-' {
            // Signed, as C's `char` on x86 and ARM Linux in Redis.
            let (a, b) = (pattern[p] as i8, pattern[p + 2] as i8);
            hit |= (a.min(b)..=a.max(b)).contains(&(c as i8));
            p += 3;
        } else {
            hit |= pattern[p] == c;
            p += 1;
        }
    }
    // An unclosed class ends the pattern, as in Redis.
    let after = if p < pattern.len() { p + 1 } else { p };
    (hit != negate).then_some(after)
}

#[cfg(test)]
mod tests {
    use super::matches;

    fn m(p: &str, t: &str) -> bool {
        matches(p.as_bytes(), t.as_bytes())
    }

    #[test]
    fn redis_examples() {
        assert!(m("h?llo", "hello") && m("h?llo", "hallo") && !m("h?llo", "hllo"));
        assert!(m("h*llo", "hllo") && m("h*llo", "heeeello"));
        assert!(m("h[ae]llo", "hello") && m("h[ae]llo", "hallo") && !m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo") && !m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo") && !m("h[a-b]llo", "hcllo"));
        assert!(m("*", "") && m("*", "anything") && m("**", "x"));
        assert!(m("user:*", "user:1") && !m("user:*", "usr:1"));
        assert!(m("*:1", "user:1") && m("a*b*c", "aXbYc") && !m("a*b*c", "aXbY"));
        assert!(m("\\*", "*") && !m("\\*", "x"));
        assert!(!m("", "x") && m("", ""));
        assert!(m("[z-a]", "m"), "reversed range");
    }

    /// Each case as redis-server 7.0.15 answers `KEYS pattern`.
    #[test]
    fn redis_quirks() {
        assert!(m("*", "") && !m("**", "") && !m("?*", "") && m("", ""));
        assert!(m("a**", "a") && !m("a[", "a"));
        // `]` closes the range `a-]`, so the class goes on: {]..a, x}.
        for (key, hit) in [
            ("]", true),
            ("^", true),
            ("a", true),
            ("x", true),
            ("ax", false),
        ] {
            assert_eq!(m("[a-]x", key), hit, "{key}");
        }
        assert!(m("[a-]", "]") && !m("[a-]", "-"));
        // Signed bounds: 0xFF is -1, so [a-\xff] is every byte from 0 to 'a'.
        for (key, hit) in [
            (&b"-"[..], true),
            (b"a", true),
            (b"b", false),
            (b"\xc3", false),
        ] {
            assert_eq!(matches(b"[a-\xff]", key), hit, "{key:?}");
            assert_eq!(matches(b"[\xff-a]", key), hit, "{key:?}");
        }
        assert!(m("[^", "b") && !m("[", "b") && m("[\\]", "]") && !m("[]]", "]"));
        assert!(m("[^]]", "a]") && m("[a-\\]", "\\") && m("a*]", "a]"));
    }
}
