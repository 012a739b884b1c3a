//! The one mapping of the search state: [`SearchForm`] to URL pairs and back
//! ([`pairs`], [`form_url`]), a form with one thing changed ([`changed`]), and the
//! active filters as chips, each with the form without it ([`chips`]). Every link of
//! the search page is built here, so a filter is never lost.

use auditwatch_store::Attribute;

use crate::kit::page::url;
use crate::query::{self, SearchForm};

/// The query pairs of `f` (filters, order, limit, cursor), in a stable order.
pub(super) fn pairs(f: &SearchForm) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    let mut put = |k: &'static str, v: &Option<String>| {
        if let Some(v) = v.as_deref().filter(|v| !v.trim().is_empty()) {
            out.push((k, v.to_string()));
        }
    };
    put("start", &f.start);
    put("end", &f.end);
    put("eventId", &f.event_id);
    put("eventName", &f.event_name);
    put("readOnly", &f.read_only);
    put("username", &f.username);
    put("resourceType", &f.resource_type);
    put("resourceName", &f.resource_name);
    put("eventSource", &f.event_source);
    put("accessKeyId", &f.access_key_id);
    put("q", &f.q);
    put("account", &f.account);
    put("region", &f.region);
    put("errorCode", &f.error_code);
    put("errors", &f.errors);
    put("failed", &f.failed);
    put("sourceIp", &f.source_ip);
    put("origin", &f.origin);
    put("order", &f.order);
    for (k, v) in f.attr.iter().zip(&f.value) {
        if !k.is_empty() || !v.is_empty() {
            out.push(("attr", k.clone()));
            out.push(("value", v.clone()));
        }
    }
    for p in f.param.iter().filter(|p| !p.trim().is_empty()) {
        out.push(("param", p.clone()));
    }
    for e in f.exclude.iter().filter(|e| !e.trim().is_empty()) {
        out.push(("exclude", e.clone()));
    }
    if let Some(l) = f.limit {
        out.push(("limit", l.to_string()));
    }
    if let Some(c) = f.cursor.as_deref().filter(|c| !c.is_empty()) {
        out.push(("cursor", c.to_string()));
    }
    out
}

/// The URL of this form with `cursor` replaced.
pub fn form_url(path: &str, f: &SearchForm, cursor: Option<&str>) -> String {
    let f = SearchForm {
        cursor: cursor.map(str::to_string),
        ..f.clone()
    };
    paged_url(path, &f, &[])
}

/// The URL of `f` (its own cursor) with the newer pages' cursors `back`.
pub(super) fn paged_url(path: &str, f: &SearchForm, back: &[String]) -> String {
    let mut p = pairs(f);
    p.extend(back.iter().map(|b| ("back", b.clone())));
    let borrowed: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
    url(path, &borrowed)
}

/// `f` as a new search (first page) after `change`.
pub(super) fn changed(f: &SearchForm, change: impl FnOnce(&mut SearchForm)) -> SearchForm {
    let mut g = SearchForm {
        cursor: None,
        ..f.clone()
    };
    change(&mut g);
    g
}

/// The form's attribute conditions: the named ones a link may carry (`username=…`,
/// `eventName=…`), which the form has no field of their own for, then the `attr`/`value`
/// pairs. Shown as pairs, they are sent back as pairs: the next search keeps them.
pub(super) fn conditions(f: &SearchForm) -> Vec<(String, String)> {
    let named = (f.named_attributes()).map(|(a, v)| (a.name().to_string(), v.to_string()));
    let pairs = (f.attr.iter().zip(&f.value))
        .filter(|(k, v)| !k.is_empty() || !v.is_empty())
        .map(|(k, v)| (k.clone(), v.clone()));
    named.chain(pairs).collect()
}

/// Clears the named attribute `a` of `g`.
pub(super) fn clear_named(g: &mut SearchForm, a: Attribute) {
    let slot = match a {
        Attribute::EventId => &mut g.event_id,
        Attribute::EventName => &mut g.event_name,
        Attribute::ReadOnly => &mut g.read_only,
        Attribute::Username => &mut g.username,
        Attribute::ResourceType => &mut g.resource_type,
        Attribute::ResourceName => &mut g.resource_name,
        Attribute::EventSource => &mut g.event_source,
        Attribute::AccessKeyId => &mut g.access_key_id,
    };
    *slot = None;
}

/// Every filter of `f` as a chip: (what it says, the search without it).
pub fn chips(f: &SearchForm) -> Vec<(String, SearchForm)> {
    let mut out = Vec::new();
    let text = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    type Slot = fn(&mut SearchForm) -> &mut Option<String>;
    let fields: [(&str, Slot); 10] = [
        ("from", |g| &mut g.start),
        ("to", |g| &mut g.end),
        ("text", |g| &mut g.q),
        ("account", |g| &mut g.account),
        ("region", |g| &mut g.region),
        ("errorCode", |g| &mut g.error_code),
        ("sourceIp", |g| &mut g.source_ip),
        ("origin", |g| &mut g.origin),
        ("errors", |g| &mut g.errors),
        ("failed", |g| &mut g.failed),
    ];
    for (name, slot) in fields {
        let mut probe = f.clone();
        if let Some(v) = text(slot(&mut probe)) {
            let flag = match name {
                "errors" => Some("with an error code"),
                "failed" => Some("failed calls"),
                _ => None,
            };
            if let Some(label) = flag {
                if query::flag(name, &Some(v)).unwrap_or(false) {
                    out.push((label.to_string(), changed(f, |g| *slot(g) = None)));
                }
                continue;
            }
            out.push((format!("{name}: {v}"), changed(f, |g| *slot(g) = None)));
        }
    }
    for (a, v) in f.named_attributes() {
        out.push((
            format!("{}: {v}", a.name()),
            changed(f, |g| clear_named(g, a)),
        ));
    }
    for (i, (k, v)) in f.attr.iter().zip(&f.value).enumerate() {
        if k.is_empty() && v.is_empty() {
            continue;
        }
        out.push((
            format!("{k}: {v}"),
            changed(f, |g| {
                g.attr.remove(i);
                g.value.remove(i);
            }),
        ));
    }
    // Repeated parameters: each non-empty value is a chip that removes that one.
    type List = fn(&mut SearchForm) -> &mut Vec<String>;
    let lists: [(&str, List); 2] = [
        ("requestParameters ", |g| &mut g.param),
        ("NOT ", |g| &mut g.exclude),
    ];
    for (prefix, list) in lists {
        let values = list(&mut f.clone()).clone();
        for (i, v) in values
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.trim().is_empty())
        {
            out.push((
                format!("{prefix}{v}"),
                changed(f, |g| {
                    list(g).remove(i);
                }),
            ));
        }
    }
    out
}
