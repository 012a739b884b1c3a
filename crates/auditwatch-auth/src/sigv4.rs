//! AWS Signature Version 4 (header form), verifying requests to the
//! CloudTrail-compatible endpoint exactly as AWS would: the canonical request, the
//! string to sign over the credential scope, and the HMAC-SHA256 key chain, with the
//! signature compared in constant time and the clock allowed 15 minutes of skew
//! either way (AWS's "Signature expired" before, "Signature not yet current" after).
//! The credential scope must name the service and a region spelled as AWS spells
//! them ([`valid_region`]); which region it is does not change what is answered.
//!
//! Written here because the AWS SDK crates only sign; nothing well-kept verifies.
//! [`sign`] exists so tests can build requests; boto3 and the AWS CLI in the
//! end-to-end tests are the independent check.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// The only algorithm accepted.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Largest clock difference accepted (seconds).
pub const MAX_SKEW_SECS: i64 = 15 * 60;

/// Why a signature is refused. Each maps to the AWS error a client expects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    /// No `Authorization` header.
    #[error("Missing Authentication Token")]
    Missing,
    /// The header or a signed part is malformed.
    #[error("{0}")]
    Malformed(String),
    /// The credential is scoped to another service.
    #[error("Credential should be scoped to correct service: '{expected}'.")]
    WrongService {
        /// The service this endpoint is.
        expected: String,
    },
    /// The credential scope's region is not an AWS region name.
    #[error(
        "Credential should be scoped to a valid region, not '{region}' (AWS region names look like us-east-1, eu-central-2 or us-gov-west-1)."
    )]
    InvalidRegion {
        /// The region of the scope, as sent.
        region: String,
    },
    /// The request is dated more than 15 minutes before our time.
    #[error("Signature expired: {request} is now earlier than {earliest} ({now} - 15 min.)")]
    Skew {
        /// The request's X-Amz-Date.
        request: String,
        /// The earliest time accepted.
        earliest: String,
        /// Our time.
        now: String,
    },
    /// The request is dated more than 15 minutes after our time.
    #[error("Signature not yet current: {request} is still later than {latest} ({now} + 15 min.)")]
    NotYetCurrent {
        /// The request's X-Amz-Date.
        request: String,
        /// The latest time accepted.
        latest: String,
        /// Our time.
        now: String,
    },
    /// The signature does not match.
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."
    )]
    Mismatch,
}

/// The parts of a request that Signature V4 covers.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The path as received (still percent-encoded).
    pub path: &'a str,
    /// The query string as received, without `?`.
    pub query: &'a str,
    /// Every header, name and value.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: &'a [u8],
}

/// A parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The access key id.
    pub access_key_id: String,
    /// `YYYYMMDD` of the scope.
    pub date: String,
    /// Region of the scope.
    pub region: String,
    /// Service of the scope.
    pub service: String,
    /// Signed header names, lower case, as listed.
    pub signed_headers: Vec<String>,
    /// Hex signature.
    pub signature: String,
}

impl Authorization {
    fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// Parses `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
pub fn parse_authorization(value: &str) -> Result<Authorization, SigError> {
    let bad = |m: &str| SigError::Malformed(m.to_string());
    let rest = value
        .strip_prefix(ALGORITHM)
        .ok_or_else(|| bad("Authorization header: only AWS4-HMAC-SHA256 is supported"))?;
    let (mut cred, mut signed, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| bad("Authorization header: expected Key=Value parts"))?;
        match k {
            "Credential" => cred = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => sig = Some(v),
            _ => {}
        }
    }
    let (Some(cred), Some(signed), Some(sig)) = (cred, signed, sig) else {
        return Err(bad(
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters",
        ));
    };
    let parts: Vec<&str> = cred.split('/').collect();
    if parts.len() != 5 || parts[4] != "aws4_request" || parts[1].len() != 8 {
        return Err(bad(
            "Credential must have the form AccessKeyId/YYYYMMDD/region/service/aws4_request",
        ));
    }
    let signed_headers: Vec<String> = signed.split(';').map(str::to_ascii_lowercase).collect();
    if !signed_headers.iter().any(|h| h == "host") {
        return Err(bad("the host header must be signed"));
    }
    if sig.len() != 64 || !sig.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("Signature must be 64 hex digits"));
    }
    Ok(Authorization {
        access_key_id: parts[0].to_string(),
        date: parts[1].to_string(),
        region: parts[2].to_string(),
        service: parts[3].to_string(),
        signed_headers,
        signature: sig.to_ascii_lowercase(),
    })
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// AWS's URI encoding: unreserved characters stay, everything else is `%XX`.
fn encode(s: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    out
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (encode(&decode(k), false), encode(&decode(v), false))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn header_value(headers: &[(String, String)], name: &str) -> Option<String> {
    let values: Vec<String> = headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// The canonical request of `req` for the headers `signed`.
fn canonical_request(req: &Request<'_>, signed: &[String]) -> Result<String, SigError> {
    let mut lines = String::new();
    for name in signed {
        let v = header_value(&req.headers, name).ok_or_else(|| {
            SigError::Malformed(format!("signed header {name:?} is not in the request"))
        })?;
        lines.push_str(&format!("{name}:{v}\n"));
    }
    let path = if req.path.is_empty() { "/" } else { req.path };
    let payload = match header_value(&req.headers, "x-amz-content-sha256") {
        Some(h) if h != "UNSIGNED-PAYLOAD" => {
            if h != sha256_hex(req.body) {
                return Err(SigError::Malformed(
                    "x-amz-content-sha256 does not match the body".into(),
                ));
            }
            h
        }
        _ => sha256_hex(req.body),
    };
    Ok(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        encode(path.as_bytes(), true),
        canonical_query(req.query),
        lines,
        signed.join(";"),
        payload
    ))
}

fn signature(
    req: &Request<'_>,
    auth: &Authorization,
    amz_date: &str,
    secret: &str,
) -> Result<String, SigError> {
    let creq = canonical_request(req, &auth.signed_headers)?;
    let to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{}\n{}",
        auth.scope(),
        sha256_hex(creq.as_bytes())
    );
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), auth.date.as_bytes());
    for part in [
        auth.region.as_bytes(),
        auth.service.as_bytes(),
        b"aws4_request",
    ] {
        key = hmac(&key, part);
    }
    Ok(hex::encode(hmac(&key, to_sign.as_bytes())))
}

/// The middle words of AWS region names.
const DIRECTIONS: [&str; 9] = [
    "east",
    "west",
    "north",
    "south",
    "central",
    "northeast",
    "northwest",
    "southeast",
    "southwest",
];

/// Whether `region` is spelled as AWS spells regions: a two-letter area, an optional
/// partition part (`gov`, `iso`, `isob`, `isoe`, `isof` …), a compass direction and a
/// number (`^[a-z]{2}(-gov|-iso[a-z]*)?-DIRECTION-[0-9]{1,3}$`), or the European
/// Sovereign Cloud's `eusc-` followed by a two-letter area, a direction and a number.
/// So `us-east-1`, `cn-north-1`, `us-gov-west-1`, `us-isob-east-1`, `ap-southeast-5`,
/// `il-central-1`, `mx-central-1` and `eusc-de-east-1` pass; `zz-fake-9`, `local`,
/// `US-EAST-1` do not. Only the form is checked, so a region AWS opens later passes
/// without a release.
pub fn valid_region(region: &str) -> bool {
    let lower = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase());
    let area = |s: &str| s.len() == 2 && lower(s);
    let direction = |s: &str| DIRECTIONS.contains(&s);
    let number = |s: &str| !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit());
    let partition = |s: &str| {
        s == "gov"
            || s.strip_prefix("iso")
                .is_some_and(|r| r.is_empty() || lower(r))
    };
    let parts: Vec<&str> = region.split('-').collect();
    match parts.as_slice() {
        [a, d, n] => area(a) && direction(d) && number(n),
        ["eusc", a, d, n] => area(a) && direction(d) && number(n),
        [a, p, d, n] => area(a) && partition(p) && direction(d) && number(n),
        _ => false,
    }
}

/// Parses `X-Amz-Date` (`YYYYMMDD'T'HHMMSS'Z'`).
fn parse_amz_date(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|t| t.and_utc())
}

/// Checks `req` against its parsed `auth`, the key's `secret`, the `service` this
/// endpoint is, and the time `now`.
pub fn verify(
    req: &Request<'_>,
    auth: &Authorization,
    secret: &str,
    service: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), SigError> {
    if auth.service != service {
        return Err(SigError::WrongService {
            expected: service.to_string(),
        });
    }
    if !valid_region(&auth.region) {
        return Err(SigError::InvalidRegion {
            region: auth.region.clone(),
        });
    }
    let amz_date = header_value(&req.headers, "x-amz-date")
        .ok_or_else(|| SigError::Malformed("the X-Amz-Date header is required".into()))?;
    let t = parse_amz_date(&amz_date).ok_or_else(|| {
        SigError::Malformed(format!("X-Amz-Date {amz_date:?} is not YYYYMMDDTHHMMSSZ"))
    })?;
    if !amz_date.starts_with(&auth.date) {
        return Err(SigError::Malformed(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
            auth.date,
            &amz_date[..8]
        )));
    }
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    let skew = chrono::Duration::seconds(MAX_SKEW_SECS);
    if t < now - skew {
        return Err(SigError::Skew {
            request: amz_date.clone(),
            earliest: fmt(now - skew),
            now: fmt(now),
        });
    }
    if t > now + skew {
        return Err(SigError::NotYetCurrent {
            request: amz_date.clone(),
            latest: fmt(now + skew),
            now: fmt(now),
        });
    }
    let expected = signature(req, auth, &amz_date, secret)?;
    if bool::from(expected.as_bytes().ct_eq(auth.signature.as_bytes())) {
        Ok(())
    } else {
        Err(SigError::Mismatch)
    }
}

/// Signs `req` (which must carry `host` and `x-amz-date` headers) and returns the
/// `Authorization` header value. Every header of `req` is signed.
pub fn sign(
    req: &Request<'_>,
    access_key_id: &str,
    secret: &str,
    region: &str,
    service: &str,
) -> Result<String, SigError> {
    let amz_date = header_value(&req.headers, "x-amz-date")
        .ok_or_else(|| SigError::Malformed("the X-Amz-Date header is required".into()))?;
    let mut signed: Vec<String> = req
        .headers
        .iter()
        .map(|(k, _)| k.to_ascii_lowercase())
        .collect();
    signed.sort();
    signed.dedup();
    let auth = Authorization {
        access_key_id: access_key_id.to_string(),
        date: amz_date.get(..8).unwrap_or_default().to_string(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers: signed,
        signature: String::new(),
    };
    let sig = signature(req, &auth, &amz_date, secret)?;
    Ok(format!(
        "{ALGORITHM} Credential={access_key_id}/{}, SignedHeaders={}, Signature={sig}",
        auth.scope(),
        auth.signed_headers.join(";")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn vanilla() -> Request<'static> {
        Request {
            method: "GET",
            path: "/",
            query: "",
            headers: vec![
                ("Host".into(), "example.amazonaws.com".into()),
                ("X-Amz-Date".into(), "20150830T123600Z".into()),
            ],
            body: b"",
        }
    }

    #[test]
    fn aws_test_suite_get_vanilla() {
        // The "get-vanilla" case of AWS's published Signature V4 test suite.
        let auth = sign(&vanilla(), "AKIDEXAMPLE", SECRET, "us-east-1", "service").unwrap();
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn verify_accepts_good_and_refuses_bad() {
        let now = parse_amz_date("20150830T123600Z").unwrap();
        let req = vanilla();
        let header = sign(&req, "AKIDEXAMPLE", SECRET, "us-east-1", "service").unwrap();
        let auth = parse_authorization(&header).unwrap();
        assert_eq!(verify(&req, &auth, SECRET, "service", now), Ok(()));
        assert_eq!(
            verify(&req, &auth, "wrong secret", "service", now),
            Err(SigError::Mismatch)
        );
        assert!(matches!(
            verify(&req, &auth, SECRET, "cloudtrail", now),
            Err(SigError::WrongService { .. })
        ));
        let later = now + chrono::Duration::minutes(16);
        assert!(matches!(
            verify(&req, &auth, SECRET, "service", later),
            Err(SigError::Skew { .. })
        ));
        // Dated in the future: "not yet current", in AWS's words, not "expired".
        let earlier = now - chrono::Duration::minutes(16);
        let e = verify(&req, &auth, SECRET, "service", earlier).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Signature not yet current: 20150830T123600Z is still later than 20150830T123500Z (20150830T122000Z + 15 min.)"
        );
        let within = now + chrono::Duration::minutes(14);
        assert_eq!(verify(&req, &auth, SECRET, "service", within), Ok(()));
        let within = now - chrono::Duration::minutes(14);
        assert_eq!(verify(&req, &auth, SECRET, "service", within), Ok(()));
        let mut tampered = req.clone();
        tampered.body = b"{}";
        assert_eq!(
            verify(&tampered, &auth, SECRET, "service", now),
            Err(SigError::Mismatch)
        );
        let mut moved = req.clone();
        moved.query = "a=1";
        assert_eq!(
            verify(&moved, &auth, SECRET, "service", now),
            Err(SigError::Mismatch)
        );
    }

    #[test]
    fn regions_must_look_like_aws_regions() {
        for good in [
            "us-east-1",
            "cn-north-1",
            "cn-northwest-1",
            "us-gov-west-1",
            "eu-central-2",
            "ap-southeast-5",
            "ap-northeast-3",
            "il-central-1",
            "mx-central-1",
            "us-iso-east-1",
            "us-isob-east-1",
            "eu-isoe-west-1",
            "eusc-de-east-1",
        ] {
            assert!(valid_region(good), "{good}");
        }
        for bad in [
            "zz-fake-9",
            "",
            "local",
            "us-east",
            "us-east-",
            "US-EAST-1",
            "usa-east-1",
            "u-east-1",
            "us-east-1a",
            "us--east-1",
            "us-east-1-",
            "us-foo-east-1",
            "us-east-9999",
            "us-gov-1",
            "us east-1",
            "us-east-\u{0661}",
            "../us-east-1",
        ] {
            assert!(!valid_region(bad), "{bad}");
        }
        let now = parse_amz_date("20150830T123600Z").unwrap();
        let req = vanilla();
        let header = sign(&req, "AKIDEXAMPLE", SECRET, "zz-fake-9", "service").unwrap();
        let auth = parse_authorization(&header).unwrap();
        let e = verify(&req, &auth, SECRET, "service", now).unwrap_err();
        assert_eq!(
            e,
            SigError::InvalidRegion {
                region: "zz-fake-9".into()
            }
        );
        assert!(e.to_string().contains("'zz-fake-9'"), "{e}");
    }

    #[test]
    fn malformed_headers_are_named() {
        for bad in [
            "Basic abc",
            "AWS4-HMAC-SHA256 Credential=AK/2015/us-east-1/s/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/s/aws4_request, SignedHeaders=x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/s/aws4_request",
        ] {
            assert!(
                matches!(parse_authorization(bad), Err(SigError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn query_canonicalisation_sorts_and_encodes() {
        assert_eq!(canonical_query("b=2&a=x%20y&a=1&c"), "a=1&a=x%20y&b=2&c=");
        assert_eq!(encode("a b/é".as_bytes(), true), "a%20b/%C3%A9");
    }
}
