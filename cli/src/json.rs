//! JSON that keeps its objects' key order, for pretty-printing values as
//! they were stored (serde_json's `Value` sorts keys).

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    /// Members in document order (duplicates kept).
    Object(Vec<(String, Json)>),
}

impl Json {
    pub fn parse(text: &str) -> serde_json::Result<Self> {
        serde_json::from_str(text)
    }

    /// Indented JSON, two spaces a level, except that an array holding no
    /// object stays on one line when short enough (`[[0, 8191]]`).
    pub fn pretty(&self) -> String {
        let mut out = String::new();
        self.write_pretty(&mut out, 0);
        out
    }

    /// The one-line form `[a, [b, c]]` of a value without objects.
    fn one_line(&self) -> Option<String> {
        match self {
            Self::Object(_) => None,
            Self::Array(items) => {
                let parts: Option<Vec<String>> = items.iter().map(Json::one_line).collect();
                Some(format!("[{}]", parts?.join(", ")))
            }
            scalar => Some(serde_json::to_string(scalar).expect("JSON always serializes")),
        }
    }

    fn write_pretty(&self, out: &mut String, depth: usize) {
        const INLINE_MAX: usize = 72;
        let pad = |out: &mut String, depth: usize| out.push_str(&"  ".repeat(depth));
        match self {
            Self::Array(items) if items.is_empty() => out.push_str("[]"),
            Self::Object(members) if members.is_empty() => out.push_str("{}"),
            Self::Array(items) => {
                if let Some(line) = self.one_line().filter(|l| l.len() <= INLINE_MAX) {
                    out.push_str(&line);
                    return;
                }
                out.push_str("[\n");
                for (i, item) in items.iter().enumerate() {
                    pad(out, depth + 1);
                    item.write_pretty(out, depth + 1);
                    out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                }
                pad(out, depth);
                out.push(']');
            }
            Self::Object(members) => {
                out.push_str("{\n");
                for (i, (k, v)) in members.iter().enumerate() {
                    pad(out, depth + 1);
                    out.push_str(&serde_json::to_string(k).expect("JSON always serializes"));
                    out.push_str(": ");
                    v.write_pretty(out, depth + 1);
                    out.push_str(if i + 1 < members.len() { ",\n" } else { "\n" });
                }
                pad(out, depth);
                out.push('}');
            }
            scalar => out.push_str(&serde_json::to_string(scalar).expect("JSON always serializes")),
        }
    }

    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Self::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Null => s.serialize_unit(),
            Self::Bool(b) => s.serialize_bool(*b),
            Self::Number(n) => n.serialize(s),
            Self::String(v) => s.serialize_str(v),
            Self::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Self::Object(members) => {
                let mut map = s.serialize_map(Some(members.len()))?;
                for (k, v) in members {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        serde_json::Number::from_f64(v)
            .map(Json::Number)
            .ok_or_else(|| E::custom("not a finite number"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members = Vec::new();
        while let Some((k, v)) = map.next_entry()? {
            members.push((k, v));
        }
        Ok(Json::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_key_order_and_round_trips() {
        let text = r#"{"z": 1, "a": [true, null, -2, 1.5, "s"], "m": {"y": {}, "b": []}}"#;
        let json = Json::parse(text).unwrap();
        let compact = serde_json::to_string(&json).unwrap();
        assert_eq!(
            compact,
            r#"{"z":1,"a":[true,null,-2,1.5,"s"],"m":{"y":{},"b":[]}}"#
        );
        assert_eq!(json.get("z"), Some(&Json::Number(1.into())));
        assert_eq!(
            json.pretty(),
            "{\n  \"z\": 1,\n  \"a\": [true, null, -2, 1.5, \"s\"],\n  \"m\": {\n    \"y\": {},\n    \"b\": []\n  }\n}"
        );
        // Arrays with objects, or long ones, go one element a line.
        assert_eq!(
            Json::parse("[[0, 1], [2, 3]]").unwrap().pretty(),
            "[[0, 1], [2, 3]]"
        );
        assert_eq!(
            Json::parse("[[0, 1], {}]").unwrap().pretty(),
            "[\n  [0, 1],\n  {}\n]"
        );
        let long = Json::parse(&format!("[\"{}\", 1]", "x".repeat(80))).unwrap();
        assert_eq!(long.pretty().lines().count(), 4);
        assert_eq!(Json::parse("\"a\\nb\"").unwrap().pretty(), "\"a\\nb\"");
        assert!(Json::parse("{").is_err());
        assert!(Json::parse("[1] x").is_err());
    }
}
