//! Client-side checks that keep a command on one line and its key and value
//! exactly as given (the server splits on blanks and trims values).

use super::error::{Error, Result};

/// Longest part of a key or value quoted in an error message.
const SHOWN: usize = 40;

fn shown(s: &str) -> String {
    if s.chars().count() <= SHOWN {
        format!("{s:?}")
    } else {
        let head: String = s.chars().take(SHOWN).collect();
        format!("{head:?}…")
    }
}

/// A key is one non-empty token: no whitespace of any kind.
pub(crate) fn check_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::InvalidKey("a key must not be empty".into()));
    }
    if let Some(c) = key.chars().find(|c| c.is_whitespace()) {
        return Err(Error::InvalidKey(format!(
            "key {} contains whitespace ({c:?}); a key must be a single token",
            shown(key)
        )));
    }
    Ok(())
}

/// A value is the rest of a line: non-empty, no line break, and no
/// whitespace at either end (the server would trim it away).
pub(crate) fn check_value(value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::InvalidValue("a value must not be empty".into()));
    }
    if value.contains(['\n', '\r']) {
        return Err(Error::InvalidValue(format!(
            "value {} contains a line break (\\n or \\r)",
            shown(value)
        )));
    }
    let starts = value.starts_with(char::is_whitespace);
    if starts || value.ends_with(char::is_whitespace) {
        return Err(Error::InvalidValue(format!(
            "value {} {} with whitespace, which the server would trim",
            shown(value),
            if starts { "starts" } else { "ends" }
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for ok in ["a", "{user1}.name", "clé", "a:b:c", "x\u{0}y"] {
            check_key(ok).unwrap();
        }
        for bad in [
            "",
            "a b",
            " a",
            "a\t",
            "a\nb",
            "a\rb",
            "a\u{a0}b",
            "a\u{3000}",
        ] {
            assert!(
                matches!(check_key(bad), Err(Error::InvalidKey(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn values() {
        for ok in ["1", "a b  c", "{\"a\": 1}", "a\tb", "été ☀"] {
            check_value(ok).unwrap();
        }
        for bad in ["", " ", "a\nb", "a\r", "\rb", " a", "a ", "\ta", "a\t"] {
            assert!(
                matches!(check_value(bad), Err(Error::InvalidValue(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn messages_quote_and_cut() {
        let e = check_key("a b").unwrap_err().to_string();
        assert!(e.contains("\"a b\"") && e.contains("whitespace"), "{e}");
        let long = format!("{} x", "k".repeat(100));
        let e = check_key(&long).unwrap_err().to_string();
        assert!(e.len() < 120 && e.contains('…'), "{e}");
        let e = check_value("v ").unwrap_err().to_string();
        assert!(e.contains("ends with whitespace"), "{e}");
    }
}
