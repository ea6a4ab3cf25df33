//! Reply lines → what the user sees.

use crate::json::Json;

/// How one reply is shown, and whether it counts as a failure.
#[derive(Debug, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    pub is_error: bool,
}

const RED: &str = "\x1b[31m";
const RESET: &str = "\x1b[0m";

/// Renders one reply line:
///
/// * `{"status": "Ok"}` → `OK`
/// * a string result → the string, pretty-printed if it is itself a JSON
///   object or array
/// * any other result (`TOPOLOGY`'s object) → pretty-printed JSON
/// * `{"status": "Error", "mesg": m}` → `(error) m`, red if `color`
///
/// With `raw`, the line itself. A line that is not a protocol reply is shown
/// as it is, as an error.
pub fn render(line: &str, raw: bool, color: bool) -> Rendered {
    let reply = Json::parse(line).ok();
    let status = reply.as_ref().and_then(|r| r.get("status")?.as_str());
    let is_error = status != Some("Ok");
    if raw {
        return Rendered {
            text: line.to_string(),
            is_error,
        };
    }
    let text = match (status, &reply) {
        (Some("Ok"), Some(reply)) => match reply.get("result") {
            None => "OK".to_string(),
            Some(Json::String(s)) => match Json::parse(s) {
                Ok(v @ (Json::Object(_) | Json::Array(_))) => v.pretty(),
                _ => s.clone(),
            },
            Some(other) => other.pretty(),
        },
        (Some("Error"), Some(reply)) => {
            let mesg = reply.get("mesg").and_then(Json::as_str).unwrap_or("");
            error_text(mesg, color)
        }
        _ => error_text(&format!("unexpected reply: {line}"), color),
    };
    Rendered { text, is_error }
}

/// `(error) mesg`, in red when `color`.
pub fn error_text(mesg: &str, color: bool) -> String {
    if color {
        format!("{RED}(error) {mesg}{RESET}")
    } else {
        format!("(error) {mesg}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(line: &str) -> (String, bool) {
        let r = render(line, false, false);
        (r.text, r.is_error)
    }

    #[test]
    fn ok_values_and_errors() {
        assert_eq!(show(r#"{"status": "Ok"}"#), ("OK".into(), false));
        assert_eq!(
            show(r#"{"status": "Ok", "result": "PONG"}"#),
            ("PONG".into(), false)
        );
        assert_eq!(
            show(r#"{"status": "Ok", "result": "a \"quoted\" \\ value"}"#),
            (r#"a "quoted" \ value"#.into(), false)
        );
        assert_eq!(
            show(r#"{"status": "Error", "mesg": "key not found"}"#),
            ("(error) key not found".into(), true)
        );
        assert_eq!(
            render(r#"{"status": "Error", "mesg": "x"}"#, false, true).text,
            "\x1b[31m(error) x\x1b[0m"
        );
    }

    #[test]
    fn json_results_are_pretty_printed_in_order() {
        let (text, _) = show(
            r#"{"status": "Ok", "result": "{\"first_name\": \"George\", \"last_name\": \"Washington\"}"}"#,
        );
        assert_eq!(
            text,
            "{\n  \"first_name\": \"George\",\n  \"last_name\": \"Washington\"\n}"
        );
        let (text, _) = show(r#"{"status": "Ok", "result": "[1, 2]"}"#);
        assert_eq!(text, "[1, 2]");
        let (text, _) = show(r#"{"status": "Ok", "result": "[{\"a\": 1}]"}"#);
        assert_eq!(text, "[\n  {\n    \"a\": 1\n  }\n]");
        // Scalars that happen to be JSON stay as they are.
        assert_eq!(show(r#"{"status": "Ok", "result": "42"}"#).0, "42");
        assert_eq!(show(r#"{"status": "Ok", "result": "\"s\""}"#).0, "\"s\"");
        assert_eq!(show(r#"{"status": "Ok", "result": "{oops"}"#).0, "{oops");
        let (text, error) = show(
            r#"{"status": "Ok", "result": {"slots": 16384, "hash": "crc16-xmodem", "partitions": [{"id": 0, "slots": [[0, 16383]]}]}}"#,
        );
        assert!(!error);
        assert!(
            text.starts_with("{\n  \"slots\": 16384,\n  \"hash\""),
            "{text}"
        );
    }

    #[test]
    fn raw_and_garbage() {
        let line = r#"{"status": "Ok", "result": "x"}"#;
        assert_eq!(render(line, true, true).text, line);
        assert!(render(r#"{"status": "Error", "mesg": "m"}"#, true, false).is_error);
        assert_eq!(
            show("not json"),
            ("(error) unexpected reply: not json".into(), true)
        );
        assert!(show(r#"{"result": "x"}"#).1);
    }
}
