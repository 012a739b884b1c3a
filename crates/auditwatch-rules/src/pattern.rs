//! CloudWatch Logs filter patterns for JSON events, as AWS documents them ("Filter and
//! pattern syntax"): `{ SELECTOR OP VALUE }` terms joined by `&&` and `||` (`&&` binds
//! tighter), parentheses, `IS NULL` / `IS TRUE` / `IS FALSE`, `NOT EXISTS`.
//!
//! - Selectors: `$.a.b`, `$.list[0]`, `$.m[0][1]`; names are letters, digits, `-`, `_`
//!   (and `@`, `:` as CloudTrail keys need).
//! - Strings: quoted (`"a b"`, `\"` escapes) or bare (`UpdateTrail`,
//!   `kms.amazonaws.com`); `*` is a wildcard. Regular expressions: `%…%` (at most
//!   two per pattern, as on AWS; the `regex` crate's syntax, which like AWS has no
//!   look-around or back-references), matched anywhere in the value.
//! - Numbers: sign, decimals, exponent (`1e-3`), compared numerically with `= != < >
//!   <= >=` when the value is a JSON number.
//! - A selector that is missing, or lands on an object or array, matches nothing but
//!   `NOT EXISTS` (missing only); `!=` does not match a missing field.
//! - Case-sensitive throughout. Errors give the column of the problem.

use serde_json::Value;

/// Why a pattern does not parse: where (1-based column) and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("filter pattern, column {column}: {message}")]
pub struct PatternError {
    /// 1-based column (in characters) of the problem.
    pub column: usize,
    /// What is wrong there.
    pub message: String,
}

/// Most regular expressions in one pattern (AWS's limit).
pub const MAX_REGEXES: usize = 2;
/// Longest pattern accepted (AWS's limit for a filter pattern is 1,024 characters).
pub const MAX_LENGTH: usize = 1024;

/// One step of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

#[derive(Debug, Clone)]
enum Literal {
    /// A string, with `*` wildcards when `wild`.
    Text {
        text: String,
        wild: bool,
    },
    /// A number as written (also compared as text against string values).
    Number {
        value: f64,
        text: String,
    },
    Regex(regex::Regex),
}

#[derive(Debug, Clone)]
enum Test {
    Compare(Op, Literal),
    IsNull,
    IsTrue,
    IsFalse,
    NotExists,
}

#[derive(Debug, Clone)]
enum Expr {
    Term(Vec<Step>, Test),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// A parsed JSON filter pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
    expr: Expr,
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Pattern {
    type Err = PatternError;
    fn from_str(s: &str) -> Result<Self, PatternError> {
        Pattern::parse(s)
    }
}

struct Parser<'a> {
    chars: Vec<char>,
    at: usize,
    regexes: usize,
    text: &'a str,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser {
            chars: text.chars().collect(),
            at: 0,
            regexes: 0,
            text,
        }
    }

    fn fail<T>(&self, at: usize, message: impl Into<String>) -> Result<T, PatternError> {
        Err(PatternError {
            column: at + 1,
            message: message.into(),
        })
    }

    fn skip_space(&mut self) {
        while self.chars.get(self.at).is_some_and(|c| c.is_whitespace()) {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn eat(&mut self, s: &str) -> bool {
        let n = s.chars().count();
        if self.chars.len() >= self.at + n
            && self.chars[self.at..self.at + n]
                .iter()
                .copied()
                .eq(s.chars())
        {
            self.at += n;
            true
        } else {
            false
        }
    }

    /// A keyword (`IS`, `NULL` …) followed by a non-word character.
    fn keyword(&mut self, word: &str) -> bool {
        let save = self.at;
        if self.eat(word) && !self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            return true;
        }
        self.at = save;
        false
    }

    fn or(&mut self) -> Result<Expr, PatternError> {
        let mut left = self.and()?;
        loop {
            self.skip_space();
            if self.eat("||") {
                let right = self.and()?;
                left = Expr::Or(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn and(&mut self) -> Result<Expr, PatternError> {
        let mut left = self.unary()?;
        loop {
            self.skip_space();
            if self.eat("&&") {
                let right = self.unary()?;
                left = Expr::And(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn unary(&mut self) -> Result<Expr, PatternError> {
        self.skip_space();
        if self.eat("(") {
            let e = self.or()?;
            self.skip_space();
            if !self.eat(")") {
                return self.fail(self.at, "expected `)`");
            }
            return Ok(e);
        }
        let steps = self.selector()?;
        self.skip_space();
        let at = self.at;
        if self.keyword("IS") {
            self.skip_space();
            let test = if self.keyword("NULL") {
                Test::IsNull
            } else if self.keyword("TRUE") {
                Test::IsTrue
            } else if self.keyword("FALSE") {
                Test::IsFalse
            } else if self.keyword("NOT") {
                return self.fail(at, "`IS NOT` is not supported (AWS does not support it either); use `!=` or `NOT EXISTS`");
            } else {
                return self.fail(self.at, "expected NULL, TRUE or FALSE after IS");
            };
            return Ok(Expr::Term(steps, test));
        }
        if self.keyword("NOT") {
            self.skip_space();
            if self.keyword("EXISTS") {
                return Ok(Expr::Term(steps, Test::NotExists));
            }
            return self.fail(self.at, "expected EXISTS after NOT");
        }
        if self.keyword("EXISTS") {
            return self.fail(at, "`EXISTS` is not supported (AWS does not support it either); use `NOT EXISTS` or `IS …`");
        }
        let op = if self.eat("!=") {
            Op::Ne
        } else if self.eat("<=") {
            Op::Le
        } else if self.eat(">=") {
            Op::Ge
        } else if self.eat("=") {
            Op::Eq
        } else if self.eat("<") {
            Op::Lt
        } else if self.eat(">") {
            Op::Gt
        } else {
            return self.fail(
                at,
                "expected an operator (= != < > <= >=), IS or NOT EXISTS",
            );
        };
        self.skip_space();
        let value_at = self.at;
        let literal = self.literal()?;
        if matches!(op, Op::Lt | Op::Gt | Op::Le | Op::Ge)
            && !matches!(literal, Literal::Number { .. })
        {
            return self.fail(value_at, "<, >, <= and >= compare numbers");
        }
        Ok(Expr::Term(steps, Test::Compare(op, literal)))
    }

    fn selector(&mut self) -> Result<Vec<Step>, PatternError> {
        let start = self.at;
        if !self.eat("$") {
            return self.fail(start, "expected a selector starting with `$.`");
        }
        let mut steps = Vec::new();
        loop {
            match self.peek() {
                Some('.') => {
                    self.at += 1;
                    let name_at = self.at;
                    while self
                        .peek()
                        .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '@' | ':'))
                    {
                        self.at += 1;
                    }
                    if self.at == name_at {
                        return self.fail(name_at, "expected a property name after `.`");
                    }
                    steps.push(Step::Key(self.chars[name_at..self.at].iter().collect()));
                }
                Some('[') => {
                    self.at += 1;
                    let n_at = self.at;
                    while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                        self.at += 1;
                    }
                    let digits: String = self.chars[n_at..self.at].iter().collect();
                    let Ok(n) = digits.parse::<usize>() else {
                        return self.fail(n_at, "expected an array index");
                    };
                    if !self.eat("]") {
                        return self.fail(self.at, "expected `]`");
                    }
                    steps.push(Step::Index(n));
                }
                _ => break,
            }
        }
        if steps.is_empty() {
            return self.fail(start, "a selector names a property: `$.name`");
        }
        Ok(steps)
    }

    fn literal(&mut self) -> Result<Literal, PatternError> {
        let start = self.at;
        match self.peek() {
            Some('"') => {
                self.at += 1;
                let mut text = String::new();
                loop {
                    match self.peek() {
                        None => return self.fail(start, "unterminated string"),
                        Some('"') => {
                            self.at += 1;
                            break;
                        }
                        Some('\\') => {
                            self.at += 1;
                            match self.peek() {
                                Some(c) => {
                                    text.push(c);
                                    self.at += 1;
                                }
                                None => return self.fail(start, "unterminated string"),
                            }
                        }
                        Some(c) => {
                            text.push(c);
                            self.at += 1;
                        }
                    }
                }
                let wild = text.contains('*');
                Ok(Literal::Text { text, wild })
            }
            Some('%') => {
                self.at += 1;
                let body_at = self.at;
                while self.peek().is_some_and(|c| c != '%') {
                    self.at += 1;
                }
                if self.peek() != Some('%') {
                    return self.fail(start, "unterminated regular expression (`%…%`)");
                }
                let body: String = self.chars[body_at..self.at].iter().collect();
                self.at += 1;
                self.regexes += 1;
                if self.regexes > MAX_REGEXES {
                    return self.fail(
                        start,
                        format!("at most {MAX_REGEXES} regular expressions per pattern"),
                    );
                }
                regex::RegexBuilder::new(&body)
                    .size_limit(1 << 20)
                    .build()
                    .map(Literal::Regex)
                    .or_else(|e| self.fail(body_at, format!("bad regular expression: {e}")))
            }
            Some(_) => {
                while self.peek().is_some_and(|c| {
                    !c.is_whitespace() && !matches!(c, ')' | '}' | '(' | '&' | '|')
                }) {
                    self.at += 1;
                }
                let text: String = self.chars[start..self.at].iter().collect();
                if text.is_empty() {
                    return self.fail(start, "expected a value");
                }
                if !text.contains('*')
                    && let Ok(value) = text.parse::<f64>()
                    && value.is_finite()
                    && text
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.'))
                {
                    return Ok(Literal::Number { value, text });
                }
                let wild = text.contains('*');
                Ok(Literal::Text { text, wild })
            }
            None => self.fail(start, "expected a value"),
        }
    }
}

/// A selector alone (`$.requestParameters.size`): where a metric filter reads its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    text: String,
    steps: Vec<Step>,
}

impl Selector {
    /// Parses `$.a.b[0]`.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let mut p = Parser::new(text);
        p.skip_space();
        let steps = p.selector()?;
        p.skip_space();
        if p.at != p.chars.len() {
            return p.fail(p.at, "unexpected text after the selector");
        }
        Ok(Self {
            text: text.trim().to_string(),
            steps,
        })
    }

    /// The number at this selector: a JSON number, or a string holding one (as
    /// CloudWatch takes `"5"`); `None` when missing or not numeric.
    pub fn number(&self, event: &Value) -> Option<f64> {
        match resolve(event, &self.steps)? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok().filter(|v| v.is_finite()),
            _ => None,
        }
    }
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl Pattern {
    /// Parses a JSON filter pattern (`{ … }`).
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        if text.chars().count() > MAX_LENGTH {
            return Err(PatternError {
                column: MAX_LENGTH + 1,
                message: format!("longer than {MAX_LENGTH} characters"),
            });
        }
        let mut p = Parser::new(text);
        p.skip_space();
        if !p.eat("{") {
            return p.fail(p.at, "a JSON filter pattern is enclosed in `{ }` (term patterns do not apply to CloudTrail records)");
        }
        let expr = p.or()?;
        p.skip_space();
        if !p.eat("}") {
            return p.fail(p.at, "expected `&&`, `||` or the closing `}`");
        }
        p.skip_space();
        if p.at != p.chars.len() {
            return p.fail(p.at, "unexpected text after the closing `}`");
        }
        Ok(Pattern {
            text: p.text.to_string(),
            expr,
        })
    }

    /// Whether `event` matches.
    pub fn matches(&self, event: &Value) -> bool {
        eval(&self.expr, event, false)
    }

    /// Whether `event` may match when an explicit `null` and an absent field cannot
    /// be told apart (a record rebuilt from typed columns): `IS NULL` and `NOT
    /// EXISTS` hold for either. Patterns have no negation, so this matches every
    /// record [`Pattern::matches`] does, and possibly more.
    pub fn may_match(&self, event: &Value) -> bool {
        eval(&self.expr, event, true)
    }

    /// Whether `event` matches when it holds only some of the record's fields: those
    /// whose selector `known` accepts (the steps as [`Pattern::fields`] gives them)
    /// are as in the record, the others could hold anything. `Some` when the known
    /// fields decide it, `None` when the others could still tip it. `loose_nulls`
    /// as [`Pattern::may_match`] (`true`) or [`Pattern::matches`].
    pub fn judge(
        &self,
        event: &Value,
        known: &dyn Fn(&[Option<&str>]) -> bool,
        loose_nulls: bool,
    ) -> Option<bool> {
        judge(&self.expr, event, known, loose_nulls)
    }

    /// Whether a test tells an explicit `null` from an absent field (`IS NULL`,
    /// `NOT EXISTS`).
    pub fn tells_null_from_absent(&self) -> bool {
        self.fields().iter().any(|(_, n)| *n)
    }

    /// The fields it reads: each selector's steps (`Some(key)`, `None` for an array
    /// index), and whether its test tells an explicit `null` from an absent field
    /// (`IS NULL`, `NOT EXISTS`).
    pub fn fields(&self) -> Vec<(Vec<Option<&str>>, bool)> {
        fn walk<'e>(e: &'e Expr, out: &mut Vec<(Vec<Option<&'e str>>, bool)>) {
            match e {
                Expr::And(a, b) | Expr::Or(a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
                Expr::Term(steps, test) => out.push((
                    path_of(steps),
                    matches!(test, Test::IsNull | Test::NotExists),
                )),
            }
        }
        let mut out = Vec::new();
        walk(&self.expr, &mut out);
        out
    }
}

fn eval(e: &Expr, event: &Value, loose_nulls: bool) -> bool {
    match e {
        Expr::And(a, b) => eval(a, event, loose_nulls) && eval(b, event, loose_nulls),
        Expr::Or(a, b) => eval(a, event, loose_nulls) || eval(b, event, loose_nulls),
        Expr::Term(steps, Test::IsNull | Test::NotExists) if loose_nulls => {
            resolve(event, steps).is_none_or(Value::is_null)
        }
        Expr::Term(steps, test) => term(resolve(event, steps), test),
    }
}

fn judge(
    e: &Expr,
    event: &Value,
    known: &dyn Fn(&[Option<&str>]) -> bool,
    loose_nulls: bool,
) -> Option<bool> {
    let side = |x: &Expr| judge(x, event, known, loose_nulls);
    match e {
        Expr::And(a, b) => either_decides(side(a), || side(b), false),
        Expr::Or(a, b) => either_decides(side(a), || side(b), true),
        Expr::Term(steps, _) => known(&path_of(steps)).then(|| eval(e, event, loose_nulls)),
    }
}

/// Three-valued `&&` (`decisive` false) or `||` (`decisive` true): a side that is
/// `decisive` decides, two known sides that are not give their value, anything else
/// is unknown. The right side is judged only when the left does not decide.
fn either_decides(
    left: Option<bool>,
    right: impl FnOnce() -> Option<bool>,
    decisive: bool,
) -> Option<bool> {
    if left == Some(decisive) {
        return left;
    }
    match (left, right()) {
        (_, Some(r)) if r == decisive => Some(r),
        (Some(_), Some(r)) => Some(r),
        _ => None,
    }
}

/// A selector's steps as [`Pattern::fields`] gives them (`None`: an array index).
fn path_of(steps: &[Step]) -> Vec<Option<&str>> {
    steps
        .iter()
        .map(|s| match s {
            Step::Key(k) => Some(k.as_str()),
            Step::Index(_) => None,
        })
        .collect()
}

fn resolve<'v>(mut v: &'v Value, steps: &[Step]) -> Option<&'v Value> {
    for s in steps {
        v = match (s, v) {
            (Step::Key(k), Value::Object(m)) => m.get(k)?,
            (Step::Index(i), Value::Array(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(v)
}

fn term(found: Option<&Value>, test: &Test) -> bool {
    match (test, found) {
        (Test::NotExists, found) => found.is_none(),
        (_, None) => false,
        (_, Some(Value::Object(_) | Value::Array(_))) => false,
        (Test::IsNull, Some(v)) => v.is_null(),
        (Test::IsTrue, Some(v)) => v.as_bool() == Some(true),
        (Test::IsFalse, Some(v)) => v.as_bool() == Some(false),
        (Test::Compare(_, _), Some(Value::Null)) => false,
        (Test::Compare(op, lit), Some(v)) => compare(*op, lit, v),
    }
}

fn compare(op: Op, lit: &Literal, v: &Value) -> bool {
    // Borrowed for strings: this runs for every term of every rule on every record.
    let text: std::borrow::Cow<'_, str> = match v {
        Value::String(s) => s.as_str().into(),
        Value::Number(n) => n.to_string().into(),
        Value::Bool(b) => b.to_string().into(),
        _ => return false,
    };
    let equal = match lit {
        Literal::Number {
            value,
            text: written,
        } => {
            if let Value::Number(n) = v {
                let x = n.as_f64().unwrap_or(f64::NAN);
                return match op {
                    Op::Eq => x == *value,
                    Op::Ne => x != *value,
                    Op::Lt => x < *value,
                    Op::Gt => x > *value,
                    Op::Le => x <= *value,
                    Op::Ge => x >= *value,
                };
            }
            if !matches!(op, Op::Eq | Op::Ne) {
                return false;
            }
            *text == **written
        }
        Literal::Text {
            text: t,
            wild: false,
        } => *text == **t,
        Literal::Text {
            text: t,
            wild: true,
        } => wildcard(t, &text),
        Literal::Regex(r) => r.is_match(&text),
    };
    match op {
        Op::Eq => equal,
        Op::Ne => !equal,
        _ => false,
    }
}

/// `*` matches any run of characters (including none); everything else literally.
fn wildcard(pattern: &str, text: &str) -> bool {
    let Some((first, tail)) = pattern.split_once('*') else {
        return text == pattern;
    };
    let (middles, last) = tail.rsplit_once('*').unwrap_or(("", tail));
    if !text.starts_with(first) {
        return false;
    }
    let mut rest = &text[first.len()..];
    for middle in middles.split('*').filter(|m| !m.is_empty()) {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard(
            "*UnauthorizedOperation",
            "Client.UnauthorizedOperation"
        ));
        assert!(wildcard("AccessDenied*", "AccessDenied"));
        assert!(wildcard("a*b*c", "aXXbYYc"));
        assert!(!wildcard("a*b*c", "aXXcYYb"));
        assert!(!wildcard("ab*ba", "aba"));
        assert!(wildcard("*", ""));
    }

    #[test]
    fn judging_on_some_fields_decides_only_what_they_decide() {
        // CIS 4.1 as CIS 3.0 writes it: `||`-ed `!=` terms.
        let p = Pattern::parse(
            r#"{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") || ($.sourceIPAddress != "delivery.logs.amazonaws.com") || ($.eventName != "HeadBucket") }"#,
        )
        .unwrap();
        let known = |path: &[Option<&str>]| matches!(path, [Some("eventName" | "errorCode")]);
        let judge = |v: Value| p.judge(&v, &known, false);
        assert_eq!(
            judge(serde_json::json!({"eventName": "GetObject"})),
            Some(true)
        );
        assert_eq!(judge(serde_json::json!({"eventName": "HeadBucket"})), None);
        assert_eq!(
            judge(serde_json::json!({"eventName": "HeadBucket", "errorCode": "AccessDenied"})),
            Some(true)
        );
        let p = Pattern::parse(
            r#"{ $.eventName = "ConsoleLogin" && $.errorMessage = "Failed authentication" }"#,
        )
        .unwrap();
        assert_eq!(
            p.judge(
                &serde_json::json!({"eventName": "GetObject"}),
                &known,
                false
            ),
            Some(false)
        );
        assert_eq!(
            p.judge(
                &serde_json::json!({"eventName": "ConsoleLogin"}),
                &known,
                false
            ),
            None
        );
        // The right side decides too; an unknown side with one that does not is unknown.
        let known_b = |path: &[Option<&str>]| matches!(path, [Some("b")]);
        let r = serde_json::json!({"b": "x"});
        for (text, want) in [
            (r#"{ $.a = "x" && $.b = "y" }"#, Some(false)),
            (r#"{ $.a = "x" && $.b = "x" }"#, None),
            (r#"{ $.a = "x" || $.b = "x" }"#, Some(true)),
            (r#"{ $.a = "x" || $.b = "y" }"#, None),
            (r#"{ $.b = "y" || $.b = "z" }"#, Some(false)),
            (r#"{ $.b = "x" && $.b = "x" }"#, Some(true)),
        ] {
            let p = Pattern::parse(text).unwrap();
            assert_eq!(p.judge(&r, &known_b, false), want, "{text}");
        }
        // Every field known: the same as matching.
        let all = |_: &[Option<&str>]| true;
        let r = serde_json::json!({"eventName": "ConsoleLogin", "errorMessage": "Failed authentication"});
        assert_eq!(p.judge(&r, &all, false), Some(true));
    }

    #[test]
    fn errors_point_at_the_column() {
        let e = Pattern::parse("{ $.a = 1 && }").unwrap_err();
        assert_eq!(e.column, 14, "{e}");
        let e = Pattern::parse("{ $.a ~ 1 }").unwrap_err();
        assert_eq!((e.column, e.message.contains("operator")), (7, true), "{e}");
        let e = Pattern::parse("ERROR").unwrap_err();
        assert!(e.message.contains("`{ }`"));
        let e = Pattern::parse("{ $.a = \"x }").unwrap_err();
        assert!(e.message.contains("unterminated string"));
        let e = Pattern::parse("{ $.a = %a% || $.b = %b% || $.c = %c% }").unwrap_err();
        assert!(e.message.contains("at most 2"), "{e}");
        let e = Pattern::parse("{ $.a IS NOT NULL }").unwrap_err();
        assert!(e.message.contains("IS NOT"));
        let e = Pattern::parse("{ $.a > abc }").unwrap_err();
        assert!(e.message.contains("compare numbers"));
    }
}
