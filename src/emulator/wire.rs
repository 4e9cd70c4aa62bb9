//! What the emulator's handlers share: decoded parameters, API failures with platform codes,
//! page tokens, request ids and the platform's time formats.

use std::str::FromStr;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;

use crate::acs::encoding::{parse_bool, parse_shrink, unflatten};
use crate::acs::signing::format_acs_date;
use crate::backend::BackendError;

/// An operation's refusal, as the platform words it: HTTP status, error code, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl Failure {
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// A required parameter is absent or empty: 400 `MissingParameter.<name>`, the gateway's
    /// code for it (contract §5.3), not `InvalidParameter.*`, which is for a bad value.
    pub fn missing(name: &str) -> Self {
        Self::new(
            400,
            format!("MissingParameter.{name}"),
            format!("The parameter {name} is required and cannot be empty."),
        )
    }

    /// A parameter has a value the operation cannot take (400 `InvalidParameter.<name>`).
    pub fn invalid(name: &str, why: impl std::fmt::Display) -> Self {
        Self::new(
            400,
            format!("InvalidParameter.{name}"),
            format!("The parameter {name} is invalid: {why}"),
        )
    }

    pub fn not_found(code: &str, message: impl Into<String>) -> Self {
        Self::new(404, code, message)
    }
}

/// Error codes an operation gives to the store's error kinds when the store's message names none.
#[derive(Debug, Clone, Copy)]
pub struct Codes {
    pub not_found: &'static str,
    pub conflict: &'static str,
    pub refused: &'static str,
    pub invalid: &'static str,
}

impl Codes {
    pub const fn new(
        not_found: &'static str,
        conflict: &'static str,
        refused: &'static str,
        invalid: &'static str,
    ) -> Self {
        Self {
            not_found,
            conflict,
            refused,
            invalid,
        }
    }
}

/// Maps a store error to the platform's answer. The store names RAM codes in its messages
/// (`… (EntityAlreadyExists.User)`); such a code wins over the operation's default, so the rule
/// and its code live in one place.
pub fn from_backend(error: BackendError, codes: Codes) -> Failure {
    let (status, default, message) = match error {
        BackendError::NotFound(m) => (404, codes.not_found, m),
        BackendError::Conflict(m) => (409, codes.conflict, m),
        BackendError::Refused(m) => (400, codes.refused, m),
        BackendError::Invalid(m) => (400, codes.invalid, m),
        BackendError::Throttled(m) => (429, "Throttling", m),
        // Another msctl holds the database: the service is briefly unavailable, retry.
        BackendError::Locked(m) | BackendError::Unavailable(m) => (503, "ServiceUnavailable", m),
        BackendError::Transport(m) => (500, "InternalError", m),
    };
    // The first line is the message; hints are for msctl's own users, not API clients.
    let first = message.lines().next().unwrap_or_default().to_string();
    match embedded_code(&first) {
        Some(code) => {
            let cleaned = first.replace(&format!(" ({code})"), "");
            Failure::new(status, code, cleaned)
        }
        None => Failure::new(status, default, first),
    }
}

/// A `(Word.Word…)` platform code inside a message.
fn embedded_code(message: &str) -> Option<String> {
    let mut rest = message;
    while let Some(open) = rest.find('(') {
        let after = &rest[open + 1..];
        let close = after.find(')')?;
        let inner = &after[..close];
        let looks_like_code = inner.contains('.')
            && inner.starts_with(|c: char| c.is_ascii_uppercase())
            && inner.chars().all(|c| c.is_ascii_alphanumeric() || c == '.');
        if looks_like_code {
            return Some(inner.to_string());
        }
        rest = &after[close..];
    }
    None
}

/// Decoded parameters (query, form body, or both merged), in wire order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    pub fn extend(&mut self, pairs: Vec<(String, String)>) {
        self.0.extend(pairs);
    }

    /// The first value of `key`, empty strings included.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `key` when present and not empty (the SDK sends unset strings as `key=`).
    pub fn text(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    pub fn required(&self, key: &str) -> Result<&str, Failure> {
        self.text(key).ok_or_else(|| Failure::missing(key))
    }

    /// A boolean sent as `True`/`False` (Python) or `true`/`false`, in any case.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, Failure> {
        self.text(key)
            .map(|v| {
                parse_bool(v)
                    .or_else(|| parse_bool(&v.to_ascii_lowercase()))
                    .ok_or_else(|| Failure::invalid(key, format!("`{v}` is not true or false")))
            })
            .transpose()
    }

    pub fn number<T: FromStr>(&self, key: &str) -> Result<Option<T>, Failure> {
        self.text(key)
            .map(|v| {
                v.trim()
                    .parse::<T>()
                    .map_err(|_| Failure::invalid(key, format!("`{v}` is not a valid number")))
            })
            .transpose()
    }

    /// The nested value rebuilt from the flattened keys under `prefix` (`auth.type`,
    /// `auth.accessIps.1`, … for `auth`); `None` when no key has that prefix.
    pub fn tree(&self, prefix: &str) -> Result<Option<Value>, Failure> {
        let dotted = format!("{prefix}.");
        let pairs: Vec<&(String, String)> = self
            .0
            .iter()
            .filter(|(k, _)| k == prefix || k.starts_with(&dotted))
            .collect();
        if pairs.is_empty() {
            return Ok(None);
        }
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let tree = unflatten(&pairs).map_err(|e| Failure::invalid(prefix, e))?;
        Ok(tree.get(prefix).cloned())
    }

    /// A "shrink" parameter: one JSON-encoded value.
    pub fn shrink(&self, key: &str) -> Result<Option<Value>, Failure> {
        self.text(key)
            .map(|raw| parse_shrink(key, raw).map_err(|e| Failure::invalid(key, e)))
            .transpose()
    }

    /// A comma-separated list (`MemberIds=m1,m2`), blanks dropped.
    pub fn list(&self, key: &str) -> Vec<String> {
        self.text(key)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A leaf of an unflattened or JSON value as text (strings as they are, numbers and booleans
/// printed).
pub fn leaf_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A list of strings from an unflattened (`{"1": …}` became a list) or JSON value.
pub fn string_list(name: &str, value: &Value) -> Result<Vec<String>, Failure> {
    match value {
        Value::Array(items) => items
            .iter()
            .map(|v| {
                leaf_text(v).ok_or_else(|| Failure::invalid(name, "expected a list of strings"))
            })
            .collect(),
        Value::Null => Ok(Vec::new()),
        // A single-element list flattened by an SDK that does not number items.
        Value::String(s) if !s.is_empty() => Ok(vec![s.clone()]),
        Value::String(_) => Ok(Vec::new()),
        _ => Err(Failure::invalid(name, "expected a list of strings")),
    }
}

/// An opaque page token for an offset (Model Studio's `nextToken`, RAM's `Marker`).
pub fn offset_token(offset: usize) -> String {
    hex::encode(format!("offset:{offset}"))
}

/// The offset a token from [`offset_token`] stands for; an empty token is the first page.
pub fn parse_offset_token(name: &str, token: Option<&str>) -> Result<usize, Failure> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(0);
    };
    let bad = || Failure::invalid(name, "the token was not issued by this service");
    if token.len() % 2 != 0 || token.len() > 64 {
        return Err(bad());
    }
    let bytes = hex::decode(token).ok();
    let text = bytes
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(bad)?;
    text.strip_prefix("offset:")
        .and_then(|n| n.parse().ok())
        .ok_or_else(bad)
}

/// One page of `items` from `offset`, and the offset of the next page if any remain.
pub fn page<T>(items: Vec<T>, offset: usize, size: usize) -> (Vec<T>, Option<usize>) {
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(offset).take(size).collect();
    let end = offset.saturating_add(size);
    (page, (end < total).then_some(end))
}

/// A page size: absent → `default`; outside `1..=max` → 400 `InvalidParameter.<name>`.
pub fn page_size(
    name: &str,
    value: Option<i64>,
    default: usize,
    max: usize,
) -> Result<usize, Failure> {
    match value {
        None => Ok(default),
        Some(n) if n >= 1 && usize::try_from(n).is_ok_and(|n| n <= max) => {
            Ok(usize::try_from(n).unwrap_or(default))
        }
        Some(n) => Err(Failure::invalid(
            name,
            format!("{n} is outside the allowed range 1 to {max}"),
        )),
    }
}

/// An uppercase UUID-shaped request id, as the platform's.
pub fn request_id() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // Ids only need to be unique enough to correlate logs; fall back to the clock.
        let nanos = std::time::SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        b = nanos.to_le_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = hex::encode_upper(b);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// RAM's time format, `2015-01-23T12:33:18Z`, from epoch milliseconds.
pub fn ram_time(ms: i64) -> String {
    format_acs_date(UNIX_EPOCH + Duration::from_millis(ms.max(0).unsigned_abs()))
}

/// AIWorkSpace's time format, `2021-01-21T17:12:35.232Z`, from epoch milliseconds.
pub fn pai_time(ms: i64) -> String {
    let seconds = ram_time(ms);
    let millis = ms.max(0) % 1000;
    format!("{}.{millis:03}Z", seconds.trim_end_matches('Z'))
}

/// Now, in epoch milliseconds (the store's time unit).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Case-insensitive substring match, for the APIs' "fuzzy" filters.
pub fn fuzzy(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn store_codes_win_over_defaults_and_hints_are_dropped() {
        let codes = Codes::new("X.NotFound", "X.Exists", "X.Refused", "X.Invalid");
        let f = from_backend(
            BackendError::Conflict(
                "failed to create RAM user `a`: the user already exists \
                    (EntityAlreadyExists.User)\nhint: x"
                    .into(),
            ),
            codes,
        );
        assert_eq!(f.status, 409);
        assert_eq!(f.code, "EntityAlreadyExists.User");
        assert_eq!(
            f.message,
            "failed to create RAM user `a`: the user already exists"
        );
        let f = from_backend(
            BackendError::NotFound("workspace `w` (in `x`) is gone".into()),
            codes,
        );
        assert_eq!((f.status, f.code.as_str()), (404, "X.NotFound"));
        let f = from_backend(BackendError::Locked("busy".into()), codes);
        assert_eq!((f.status, f.code.as_str()), (503, "ServiceUnavailable"));
    }

    #[test]
    fn params_decode_sdk_encodings() {
        let p = Params::new(vec![
            ("a".into(), "True".into()),
            ("b".into(), "".into()),
            ("n".into(), "12".into()),
            ("auth.type".into(), "Custom".into()),
            ("auth.accessIps.1".into(), "1.2.3.4/32".into()),
            ("auth.accessIps.2".into(), "::/0".into()),
            ("j".into(), "[\"x\"]".into()),
            ("ids".into(), "m1, m2,".into()),
        ]);
        assert_eq!(p.bool("a").unwrap(), Some(true));
        assert_eq!(p.bool("b").unwrap(), None);
        assert_eq!(p.number::<i64>("n").unwrap(), Some(12));
        assert!(p.number::<i64>("a").is_err());
        let missing = p.required("b").unwrap_err();
        assert_eq!(
            (missing.status, missing.code.as_str()),
            (400, "MissingParameter.b")
        );
        assert_eq!(p.required("zz").unwrap_err().code, "MissingParameter.zz");
        assert_eq!(
            p.tree("auth").unwrap().unwrap(),
            json!({"type": "Custom", "accessIps": ["1.2.3.4/32", "::/0"]})
        );
        assert_eq!(p.tree("nothing").unwrap(), None);
        assert_eq!(p.shrink("j").unwrap().unwrap(), json!(["x"]));
        assert_eq!(p.list("ids"), vec!["m1", "m2"]);
    }

    #[test]
    fn tokens_round_trip_and_reject_forgeries() {
        assert_eq!(
            parse_offset_token("t", Some(&offset_token(40))).unwrap(),
            40
        );
        assert_eq!(parse_offset_token("t", Some("")).unwrap(), 0);
        assert_eq!(parse_offset_token("t", None).unwrap(), 0);
        for bad in ["zz", "abc", "6f66", "é€"] {
            assert_eq!(
                parse_offset_token("t", Some(bad)).unwrap_err().code,
                "InvalidParameter.t"
            );
        }
        let (items, next) = page((0..5).collect::<Vec<_>>(), 2, 2);
        assert_eq!((items, next), (vec![2, 3], Some(4)));
        let (items, next) = page((0..5).collect::<Vec<_>>(), 4, 2);
        assert_eq!((items, next), (vec![4], None));
        assert!(page_size("m", Some(0), 10, 100).is_err());
        assert_eq!(page_size("m", None, 10, 100).unwrap(), 10);
    }

    #[test]
    fn times_and_ids_look_like_the_platform() {
        assert_eq!(ram_time(1_422_016_398_000), "2015-01-23T12:33:18Z");
        assert_eq!(pai_time(1_611_249_155_232), "2021-01-21T17:12:35.232Z");
        let id = request_id();
        assert_eq!(id.len(), 36);
        assert!(
            id.chars()
                .all(|c| c == '-' || c.is_ascii_digit() || c.is_ascii_uppercase())
        );
    }
}
