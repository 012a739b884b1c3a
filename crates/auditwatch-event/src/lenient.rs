//! Field types that accept what CloudTrail actually writes.
//!
//! Over eventVersions 1.0–1.11 the same field has appeared as a string, a number or a
//! boolean (`readOnly: "true"`), and payload fields hold any JSON. These wrappers take
//! each value as a borrowed raw JSON slice and read it the forgiving way, so a record
//! is only rejected for problems that make it unusable.

use std::borrow::Cow;
use std::ops::Deref;

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// A string field: strings as themselves, numbers and booleans as their text, objects
/// and arrays as JSON text, `null` or absent as `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text<'a>(pub Option<Cow<'a, str>>);

/// A payload field kept as JSON text (`requestParameters` …); `null` or absent is `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Json<'a>(pub Option<&'a str>);

/// A boolean field: `true`/`false` or the strings `"true"`/`"false"`; anything else `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flag(pub Option<bool>);

impl<'a> Deref for Text<'a> {
    type Target = Option<Cow<'a, str>>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<'a> Deref for Json<'a> {
    type Target = Option<&'a str>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: &'a RawValue = Deserialize::deserialize(d)?;
        Ok(Text(text_of(raw.get()).map_err(serde::de::Error::custom)?))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Json<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: &'a RawValue = Deserialize::deserialize(d)?;
        let text = raw.get();
        Ok(Json((text != "null").then_some(text)))
    }
}

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: &RawValue = Deserialize::deserialize(d)?;
        Ok(Flag(match raw.get() {
            "true" | "\"true\"" | "\"TRUE\"" | "\"True\"" => Some(true),
            "false" | "\"false\"" | "\"FALSE\"" | "\"False\"" => Some(false),
            _ => None,
        }))
    }
}

fn text_of(raw: &str) -> Result<Option<Cow<'_, str>>, serde_json::Error> {
    match raw.as_bytes().first() {
        Some(b'"') => {
            let inner = &raw[1..raw.len() - 1];
            if inner.contains('\\') {
                serde_json::from_str::<String>(raw).map(|s| Some(Cow::Owned(s)))
            } else {
                Ok(Some(Cow::Borrowed(inner)))
            }
        }
        _ if raw == "null" => Ok(None),
        _ => Ok(Some(Cow::Borrowed(raw))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct T<'a> {
        #[serde(borrow)]
        t: Text<'a>,
    }

    #[test]
    fn text_reads_every_scalar_and_unescapes() {
        let t = |s: &str| {
            serde_json::from_str::<T<'_>>(s)
                .unwrap()
                .t
                .0
                .map(|c| c.into_owned())
        };
        assert_eq!(t(r#"{"t":"a"}"#).as_deref(), Some("a"));
        assert_eq!(t(r#"{"t":"a\"b\u00e9"}"#).as_deref(), Some("a\"bé"));
        assert_eq!(t(r#"{"t":12.5}"#).as_deref(), Some("12.5"));
        assert_eq!(t(r#"{"t":null}"#), None);
        assert_eq!(t(r#"{"t":{"x":1}}"#).as_deref(), Some(r#"{"x":1}"#));
    }
}
