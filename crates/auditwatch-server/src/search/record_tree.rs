//! A record as the event page's JSON viewer shows it: objects keep their keys in the
//! order the record has them (a `serde_json::Value` sorts them), numbers keep their
//! value, and the nesting is bounded by serde_json's recursion limit.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// One JSON value.
#[derive(Debug, PartialEq)]
pub enum Node {
    /// An object's members, in the record's order.
    Object(Vec<(String, Node)>),
    /// An array's items.
    Array(Vec<Node>),
    /// A string.
    String(String),
    /// A number, as text.
    Number(String),
    /// `true`, `false` or `null`.
    Literal(&'static str),
}

impl Node {
    /// `text` read as JSON, or the text itself as a string when it is not JSON.
    pub fn parse(text: &str) -> Node {
        serde_json::from_str(text).unwrap_or_else(|_| Node::String(text.to_string()))
    }

    /// The value as compact JSON text.
    pub fn text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        let quoted = |s: &str| serde_json::to_string(s).unwrap_or_default();
        match self {
            Node::Object(m) => {
                out.push('{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&quoted(k));
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
            Node::Array(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Node::String(s) => out.push_str(&quoted(s)),
            Node::Number(n) => out.push_str(n),
            Node::Literal(l) => out.push_str(l),
        }
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Literal(if v { "true" } else { "false" }))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Number(v.to_string()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Number(v.to_string()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Number(
            serde_json::Number::from_f64(v).map_or_else(|| v.to_string(), |n| n.to_string()),
        ))
    }

    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::String(v))
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Literal("null"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element()? {
            items.push(v);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut members = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Node>()? {
            members.push((k, v));
        }
        Ok(Node::Object(members))
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_the_records_order() {
        let n = Node::parse(r#"{"z":1,"a":[true,null,"x",-2,1.5],"m":{"y":{},"b":[]}}"#);
        let Node::Object(m) = &n else { panic!("{n:?}") };
        let keys: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["z", "a", "m"]);
        assert_eq!(
            m[1].1,
            Node::Array(vec![
                Node::Literal("true"),
                Node::Literal("null"),
                Node::String("x".into()),
                Node::Number("-2".into()),
                Node::Number("1.5".into()),
            ])
        );
        let Node::Object(inner) = &m[2].1 else {
            panic!()
        };
        assert_eq!(inner[0], ("y".into(), Node::Object(vec![])));
    }

    #[test]
    fn text_is_the_record_compacted_in_its_order() {
        let record = r#"{ "z": 1, "a": [true, null, "x\"y", -2, 1.5], "m": {"y": {}, "b": []} }"#;
        assert_eq!(
            Node::parse(record).text(),
            r#"{"z":1,"a":[true,null,"x\"y",-2,1.5],"m":{"y":{},"b":[]}}"#
        );
    }

    #[test]
    fn text_that_is_not_json_is_shown_as_text() {
        assert_eq!(Node::parse("{oops"), Node::String("{oops".into()));
    }
}
