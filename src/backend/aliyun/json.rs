//! Tolerant accessors for the untrusted JSON the three APIs answer with: field names vary in
//! case between products, ids come as strings or numbers, booleans as either too.

use serde_json::Value;

use crate::backend::BackendError;

/// The first of `names` present and not null.
pub(super) fn field<'a>(v: &'a Value, names: &[&str]) -> Option<&'a Value> {
    names
        .iter()
        .find_map(|n| v.get(*n))
        .filter(|v| !v.is_null())
}

/// A string field; numbers count too (ids come as either).
pub(super) fn string(v: &Value, names: &[&str]) -> Option<String> {
    match field(v, names)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An integer field; numeric strings count too.
pub(super) fn int(v: &Value, names: &[&str]) -> Option<i64> {
    match field(v, names)? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A boolean field: `true`, `"true"`/`"True"`, or 0/1.
pub(super) fn boolean(v: &Value, names: &[&str]) -> Option<bool> {
    match field(v, names)? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        Value::String(s) => crate::acs::encoding::parse_bool(s),
        _ => None,
    }
}

/// The items of a list found by following `path`: RAM wraps lists (`Users.User`), and a single
/// wrapped item may come as an object. Anything else is no items.
pub(super) fn list<'a>(v: &'a Value, path: &[&str]) -> Vec<&'a Value> {
    let mut at = v;
    for key in path {
        match at.get(*key) {
            Some(next) => at = next,
            None => return Vec::new(),
        }
    }
    match at {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![at],
        _ => Vec::new(),
    }
}

/// A list of strings (non-strings are skipped).
pub(super) fn strings(v: &Value, path: &[&str]) -> Vec<String> {
    list(v, path)
        .into_iter()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// A field an item cannot do without.
pub(super) fn required(v: &Value, names: &[&str], action: &str) -> Result<String, BackendError> {
    string(v, names).filter(|s| !s.is_empty()).ok_or_else(|| {
        BackendError::Transport(format!(
            "failed to read the answer to `{action}`: an item has no `{}`",
            names[0]
        ))
    })
}

/// `""` as none: RAM returns empty strings for unset optional text.
pub(super) fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// A policy document as RAM returns it: a JSON string (an object is accepted too). Text that is
/// not JSON stays a string, so the plan shows the difference instead of failing the read.
pub(super) fn document(v: Option<&Value>) -> Value {
    match v {
        Some(Value::String(s)) => {
            serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone()))
        }
        Some(other) => other.clone(),
        None => Value::Null,
    }
}
