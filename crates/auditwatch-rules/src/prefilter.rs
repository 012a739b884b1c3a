//! Prefilters: a necessary condition for a rule to match, over a few fields, cheap to test
//! and true of every record the rule matches.
//!
//! A hunt over millions of records asks "could this rule match this record?" far more
//! often than "does it?". Nearly every SigmaHQ CloudTrail rule names its
//! `eventSource` and `eventName`; a prefilter keeps just such plain-value conditions of
//! the rule's condition, so that a record whose `eventName` is none of the listed
//! ones is skipped without evaluating the rule. A prefilter may admit records the rule
//! does not match (it says nothing about the other conditions), never the reverse:
//! it is derived so that dropping a condition only widens it.
//!
//! - a plain value, or one under `startswith`, `endswith` or `contains` alone, is a
//!   term: the field's value equals, starts with, ends with or contains it;
//! - `and` keeps every side's terms (a field on both sides: the values in both when
//!   both are equalities, else one side's);
//! - `or` keeps only fields constrained on every side (the values of any side);
//! - `not`, keywords, array scopes, other modifiers, wildcards, numbers and `null`
//!   values constrain nothing.
//!
//! Values compare case-insensitively (Sigma's plain values do), both sides folded
//! with `to_lowercase`: strings equal (or a prefix, suffix or part of one another)
//! under ASCII case folding are so too once folded, so the prefilter is never narrower
//! than the rule.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rsigma_parser::{
    ConditionExpr, Detection, DetectionItem, Modifier, Quantifier, SelectorPattern, SigmaValue,
};

/// One way a field's value (folded) may satisfy a term.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Alt {
    Is(String),
    StartsWith(String),
    EndsWith(String),
    Contains(String),
}

impl Alt {
    fn admits(&self, folded: &str) -> bool {
        match self {
            Alt::Is(x) => folded == x,
            Alt::StartsWith(x) => folded.starts_with(x.as_str()),
            Alt::EndsWith(x) => folded.ends_with(x.as_str()),
            Alt::Contains(x) => folded.contains(x.as_str()),
        }
    }
}

/// A conjunction of "field's value satisfies one of these" terms; no terms admits
/// every record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prefilter {
    terms: BTreeMap<String, BTreeSet<Alt>>,
}

impl Prefilter {
    /// Admits every record.
    pub fn any() -> Self {
        Self::default()
    }

    /// Whether it admits every record.
    pub fn is_open(&self) -> bool {
        self.terms.is_empty()
    }

    /// The fields it tests (dotted, as Sigma names them).
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.terms.keys().map(String::as_str)
    }

    /// Only the terms on fields `keep` accepts (a weaker prefilter).
    pub fn restricted(&self, keep: impl Fn(&str) -> bool) -> Self {
        Self {
            terms: self
                .terms
                .iter()
                .filter(|(f, _)| keep(f))
                .map(|(f, v)| (f.clone(), v.clone()))
                .collect(),
        }
    }

    /// Whether a record with these field values (`get` by dotted name; `None` for
    /// absent or null) may match. Terms read a field as one string: a field that
    /// may hold an object or an array (which Sigma matches as text, or element by
    /// element) is no field to prefilter on, see [`Prefilter::restricted`].
    pub fn admits<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.terms.iter().all(|(field, alts)| {
            get(field).is_some_and(|v| {
                let folded = v.to_lowercase();
                alts.iter().any(|a| a.admits(&folded))
            })
        })
    }

    fn and(mut self, other: Self) -> Self {
        let equalities = |alts: &BTreeSet<Alt>| alts.iter().all(|a| matches!(a, Alt::Is(_)));
        for (field, alts) in other.terms {
            match self.terms.get_mut(&field) {
                Some(mine) if equalities(mine) && equalities(&alts) => {
                    mine.retain(|v| alts.contains(v))
                }
                // Either side alone is a necessary condition.
                Some(_) => {}
                None => {
                    self.terms.insert(field, alts);
                }
            }
        }
        self
    }

    fn or(self, other: Self) -> Self {
        let mut terms = BTreeMap::new();
        for (field, mut values) in self.terms {
            if let Some(theirs) = other.terms.get(&field) {
                values.extend(theirs.iter().cloned());
                terms.insert(field, values);
            }
        }
        Self { terms }
    }

    fn all(prefilters: impl IntoIterator<Item = Self>) -> Self {
        prefilters.into_iter().fold(Self::any(), Self::and)
    }

    /// `None` for no alternatives (the caller decides what that means).
    fn either(prefilters: impl IntoIterator<Item = Self>) -> Option<Self> {
        prefilters.into_iter().reduce(Self::or)
    }
}

/// The prefilter of a Sigma rule: its conditions are alternatives.
pub fn of_sigma(named: &HashMap<String, Detection>, conditions: &[ConditionExpr]) -> Prefilter {
    Prefilter::either(conditions.iter().map(|c| of_condition(c, named))).unwrap_or_default()
}

fn of_condition(c: &ConditionExpr, named: &HashMap<String, Detection>) -> Prefilter {
    match c {
        ConditionExpr::And(xs) => Prefilter::all(xs.iter().map(|x| of_condition(x, named))),
        ConditionExpr::Or(xs) => {
            Prefilter::either(xs.iter().map(|x| of_condition(x, named))).unwrap_or_default()
        }
        ConditionExpr::Not(_) => Prefilter::any(),
        ConditionExpr::Identifier(name) => named.get(name).map(of_detection).unwrap_or_default(),
        ConditionExpr::Selector {
            quantifier,
            pattern,
        } => {
            // `them` is every name; SigmaHQ leaves `_`-names out of it. Counting them in
            // only widens `1 of`; `all of` counts only names it surely covers.
            let chosen = |with_underscored: bool| {
                named
                    .iter()
                    .filter(move |(name, _)| match pattern {
                        SelectorPattern::Them => with_underscored || !name.starts_with('_'),
                        SelectorPattern::Pattern(p) => glob(p, name),
                    })
                    .map(|(_, d)| of_detection(d))
            };
            match quantifier {
                Quantifier::Any | Quantifier::Count(1) => {
                    Prefilter::either(chosen(true)).unwrap_or_default()
                }
                Quantifier::All => Prefilter::all(chosen(false)),
                Quantifier::Count(_) => Prefilter::any(),
            }
        }
    }
}

fn of_detection(d: &Detection) -> Prefilter {
    match d {
        Detection::AllOf(items) => Prefilter::all(items.iter().map(of_item)),
        Detection::AnyOf(ds) => Prefilter::either(ds.iter().map(of_detection)).unwrap_or_default(),
        Detection::And(ds) => Prefilter::all(ds.iter().map(of_detection)),
        _ => Prefilter::any(),
    }
}

fn of_item(item: &DetectionItem) -> Prefilter {
    let Some(field) = &item.field.name else {
        return Prefilter::any();
    };
    let alt: fn(String) -> Alt = match item.field.modifiers.as_slice() {
        [] => Alt::Is,
        [Modifier::StartsWith] => Alt::StartsWith,
        [Modifier::EndsWith] => Alt::EndsWith,
        [Modifier::Contains] => Alt::Contains,
        _ => return Prefilter::any(),
    };
    if item.values.is_empty() {
        return Prefilter::any();
    }
    let mut values = BTreeSet::new();
    for v in &item.values {
        match v {
            SigmaValue::String(s) => match s.as_plain() {
                Some(plain) => {
                    values.insert(alt(plain.to_lowercase()));
                }
                None => return Prefilter::any(),
            },
            _ => return Prefilter::any(),
        }
    }
    Prefilter {
        terms: BTreeMap::from([(field.clone(), values)]),
    }
}

/// `*` matches any run of characters; everything else literally (detection names).
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            name.starts_with(head)
                && (0..=name.len() - head.len()).any(|skip| {
                    name.is_char_boundary(head.len() + skip)
                        && glob(tail, &name[head.len() + skip..])
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsigma_parser::parse_sigma_yaml;

    fn prefilter(detection: &str) -> Prefilter {
        let yaml = format!(
            "title: t\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n{detection}"
        );
        let collection = parse_sigma_yaml(&yaml).expect("parses");
        let rule = &collection.rules[0];
        of_sigma(&rule.detection.named, &rule.detection.conditions)
    }

    fn admits(s: &Prefilter, pairs: &[(&str, &str)]) -> bool {
        s.admits(|f| pairs.iter().find(|(k, _)| *k == f).map(|(_, v)| *v))
    }

    #[test]
    fn keeps_plain_values_and_widens_everything_else() {
        let s = prefilter(
            "  selection:\n    eventSource: iam.amazonaws.com\n    eventName:\n      - CreateUser\n      - DeleteUser\n    userAgent|contains: boto\n  condition: selection\n",
        );
        assert_eq!(
            s.fields().collect::<Vec<_>>(),
            ["eventName", "eventSource", "userAgent"]
        );
        let (iam, ua) = (
            ("eventSource", "IAM.amazonaws.com"),
            ("userAgent", "Boto3/1"),
        );
        assert!(admits(&s, &[iam, ("eventName", "deleteuser"), ua]));
        assert!(!admits(&s, &[iam, ("eventName", "GetUser"), ua]));
        assert!(!admits(&s, &[iam, ua]), "absent field");

        // or: only fields on both sides, values of either.
        let s = prefilter(
            "  a:\n    eventSource: s3.amazonaws.com\n    eventName: PutBucketAcl\n  b:\n    eventSource: ec2.amazonaws.com\n  condition: a or b\n",
        );
        assert_eq!(s.fields().collect::<Vec<_>>(), ["eventSource"]);
        assert!(admits(&s, &[("eventSource", "ec2.amazonaws.com")]));
        assert!(!admits(&s, &[("eventSource", "sts.amazonaws.com")]));

        // startswith, endswith and contains alone are terms.
        let s = prefilter(
            "  a:\n    eventName|startswith: Update\n    userAgent|contains: [Boto, cli]\n    eventSource|endswith: .amazonaws.com\n  condition: a\n",
        );
        let ok = [
            ("eventName", "UpdateFunctionConfiguration20150331v2"),
            ("userAgent", "aws-CLI/2"),
            ("eventSource", "lambda.amazonaws.com"),
        ];
        assert!(admits(&s, &ok));
        for (n, bad) in ["GetFunction", "curl", "lambda.example.com"]
            .iter()
            .enumerate()
        {
            let mut r = ok;
            r[n].1 = bad;
            assert!(!admits(&s, &r), "{bad}");
        }
        // and of a prefix and an equality keeps one of them.
        let s = prefilter(
            "  a:\n    eventName|startswith: Update\n  b:\n    eventName: UpdateUser\n  condition: a and b\n",
        );
        assert!(admits(&s, &[("eventName", "UpdateUser")]));

        // not, wildcards and other modifiers constrain nothing; and intersects.
        for open in [
            "  a:\n    eventName: Create*\n  condition: a\n",
            "  a:\n    eventName|contains|all: [Cre, ate]\n  condition: a\n",
            "  a:\n    eventName|re: Create.*\n  condition: a\n",
            "  a:\n    eventName: CreateUser\n  condition: not a\n",
            "  a:\n    eventName: null\n  condition: a\n",
            "  keywords:\n    - evil\n  condition: keywords\n",
        ] {
            assert!(prefilter(open).is_open(), "{open}");
        }
        let s = prefilter(
            "  a:\n    eventName: [A, B]\n  b:\n    eventName: [B, C]\n  condition: a and b\n",
        );
        assert!(admits(&s, &[("eventName", "b")]));
        assert!(!admits(&s, &[("eventName", "a")]));
    }

    #[test]
    fn selectors() {
        let d = "  selection_a:\n    eventName: A\n  selection_b:\n    eventName: B\n  filter:\n    eventSource: x\n";
        let s = prefilter(&format!(
            "{d}  condition: 1 of selection_* and not filter\n"
        ));
        assert!(admits(&s, &[("eventName", "A")]) && admits(&s, &[("eventName", "B")]));
        assert!(!admits(&s, &[("eventName", "C")]));
        let s = prefilter(&format!("{d}  condition: all of selection_*\n"));
        assert!(!admits(&s, &[("eventName", "A")]), "A and B at once: never");
        let s = prefilter(&format!("{d}  condition: 1 of them\n"));
        assert!(s.is_open(), "filter constrains another field");
        assert!(glob("sel*_x*", "selection_xy") && !glob("sel*_x", "selection_xy"));
    }
}
