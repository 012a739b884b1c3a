//! Records read field by field: a caller that holds records in columns hands each
//! field out by its dotted name instead of building the record as JSON first, and
//! one rule is evaluated on it ([`super::SigmaSet::matches_view`]).
//!
//! The answers are those of the record as JSON: a plain string leaf is handed out as
//! it is; anything else (an object, a payload, a path through an array) as the
//! whole top-level field, which is then walked as the JSON record would be.

use std::borrow::Cow;

use rsigma_eval::event::{Event, EventValue, JsonEvent};
use serde_json::Value;

use super::objects_as_text;

/// A record handing out its fields.
pub trait FieldView {
    /// The string at a dotted path when the record keeps one there as a plain
    /// string leaf: `Some(Some(s))`, or `Some(None)` when that leaf is absent;
    /// `None` when the path leads elsewhere (then [`FieldView::top`] is asked).
    fn text(&self, dotted: &str) -> Option<Option<&str>>;

    /// The whole top-level field `name`, as the record as JSON has it; `None`
    /// when absent.
    fn top(&self, name: &str) -> Option<Value>;
}

/// Whether a field name is one a view can hand out: dotted keys, no array indexes
/// or escapes (those are left to the record as JSON).
pub fn viewable(dotted: &str) -> bool {
    !dotted.contains(['[', '\\'])
}

fn owned(v: EventValue<'_>) -> EventValue<'static> {
    match v {
        EventValue::Str(s) => EventValue::Str(Cow::Owned(s.into_owned())),
        EventValue::Int(i) => EventValue::Int(i),
        EventValue::Float(f) => EventValue::Float(f),
        EventValue::Bool(b) => EventValue::Bool(b),
        EventValue::Null => EventValue::Null,
        EventValue::Array(items) => EventValue::Array(items.into_iter().map(owned).collect()),
        EventValue::Map(entries) => EventValue::Map(
            entries
                .into_iter()
                .map(|(k, v)| (Cow::Owned(k.into_owned()), owned(v)))
                .collect(),
        ),
    }
}

/// A view as rsigma's event, for rules that read named fields (no keywords: the
/// whole-record methods see nothing).
pub(super) struct ViewEvent<'a>(pub &'a dyn FieldView);

impl Event for ViewEvent<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        if !viewable(path) {
            return None;
        }
        if let Some(leaf) = self.0.text(path) {
            return leaf.map(|s| EventValue::Str(Cow::Borrowed(s)));
        }
        let root = path.split('.').next().unwrap_or(path);
        let value = self.0.top(root)?;
        let record = Value::Object([(root.to_string(), value)].into_iter().collect());
        JsonEvent::borrow(&record)
            .get_field(path)
            .map(objects_as_text)
            .map(owned)
    }

    fn any_string_value(&self, _: &dyn Fn(&str) -> bool) -> bool {
        false
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        Vec::new()
    }

    fn to_json(&self) -> Value {
        Value::Object(Default::default())
    }
}
