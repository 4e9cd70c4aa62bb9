//! The pieces of a policy document checked apart from its structure: ARNs, condition operators,
//! value shapes, and suggestions for misspellings.

use super::*;

/// Checks the structure `acs:<service>:<region>:<account-id>:<relative-id>`; region and account
/// may be empty, `*` or masked, the relative id may contain `:` (`kms` tag keys do).
pub(crate) fn check_arn(arn: &str) -> Result<(), (String, Option<String>)> {
    const FORMAT: &str = "an arn is `acs:<service>:<region>:<account-id>:<relative-id>`, e.g. \
            `acs:oss:*:*:mybucket/*`";
    if arn.chars().any(char::is_whitespace) {
        return Err((
            format!("resource `{arn}` must not contain whitespace"),
            None,
        ));
    }
    if arn.starts_with("arn:") {
        return Err((
            format!("resource `{arn}` is not an alibaba cloud arn"),
            Some(format!("alibaba cloud arns start with `acs:`; {FORMAT}")),
        ));
    }
    let Some(rest) = arn.strip_prefix("acs:") else {
        return Err((
            format!("resource `{arn}` must be `*` or an arn"),
            Some(FORMAT.to_string()),
        ));
    };
    let parts: Vec<&str> = rest.splitn(4, ':').collect();
    let [service, region, account, relative] = parts.as_slice() else {
        return Err((
            format!("arn `{arn}` must have five `:`-separated parts"),
            Some(format!(
                "{FORMAT}; leave region or account empty or `*`, but keep the `:`"
            )),
        ));
    };
    let wild_code = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '*')
    };
    if service.is_empty() || !wild_code(service) {
        return Err((
            format!("arn `{arn}` has an invalid service `{service}`"),
            Some(FORMAT.to_string()),
        ));
    }
    if !wild_code(region) {
        return Err((
            format!("arn `{arn}` has an invalid region `{region}`"),
            Some("use a region id such as `cn-beijing`, `*`, or leave it empty".to_string()),
        ));
    }
    if !account
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '*')
    {
        return Err((
            format!("arn `{arn}` has an invalid account `{account}`"),
            Some("use the account id, `*`, or leave it empty".to_string()),
        ));
    }
    if relative.is_empty() {
        return Err((
            format!("arn `{arn}` has an empty relative id"),
            Some(format!("name the resource after the last `:`; {FORMAT}")),
        ));
    }
    Ok(())
}

/// `Ok` for a known operator; otherwise the closest known spelling, if any.
pub(super) fn check_operator(operator: &str) -> Result<(), Option<String>> {
    let (prefix, rest) = OPERATOR_PREFIXES
        .iter()
        .find_map(|p| operator.strip_prefix(p).map(|rest| (*p, rest)))
        .unwrap_or(("", operator));
    let base = rest.strip_suffix(OPERATOR_SUFFIX).unwrap_or(rest);
    if OPERATORS.contains(&base) {
        return Ok(());
    }
    // Suggest among the operators with and without the suffix, so that a typo in either part
    // (`StringEqualIfExists`, `StringLikeIfExits`) finds its fix.
    let spelled: Vec<String> = OPERATORS
        .iter()
        .flat_map(|o| [o.to_string(), format!("{o}{OPERATOR_SUFFIX}")])
        .collect();
    let candidates: Vec<&str> = spelled.iter().map(String::as_str).collect();
    if prefix.is_empty()
        && let Some((qualifier, rest)) = operator.split_once(':')
    {
        // A misspelt qualifier (`ForAnyValues:StringEquals`): suggest both halves.
        let qualifiers: Vec<&str> = OPERATOR_PREFIXES
            .iter()
            .map(|p| p.trim_end_matches(':'))
            .collect();
        return Err(suggest(qualifier, &qualifiers)
            .zip(suggest(rest, &candidates))
            .map(|(q, r)| format!("{q}:{r}")));
    }
    Err(suggest(rest, &candidates).map(|s| format!("{prefix}{s}")))
}

/// The candidate `input` most likely meant: an exact match ignoring case, or the closest one by
/// edit distance when it is close enough to be a typo rather than a different word.
pub(crate) fn suggest<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    if let Some(exact) = candidates.iter().find(|c| c.eq_ignore_ascii_case(input)) {
        return Some(exact);
    }
    let input = input.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| {
            let score = strsim::normalized_damerau_levenshtein(&input, &c.to_ascii_lowercase());
            (*c, score)
        })
        .filter(|(_, score)| *score >= 0.7)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| c)
}

/// Whether a statement allows `sts:AssumeRole` (directly or by wildcard).
pub(super) fn allows_assume_role(statement: &Value) -> bool {
    if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
        return false;
    }
    let matches = |s: &str| crate::policy::risk::wildcard_match(s, "sts:AssumeRole");
    match statement.get("Action") {
        Some(Value::String(s)) => matches(s),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).any(matches),
        _ => false,
    }
}

/// A RAM code: letters, digits and `-`.
pub(super) fn is_code(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

pub(super) fn is_scalar(v: &Value) -> bool {
    matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

/// Appends one reference token to a JSON pointer, escaped as RFC 6901 requires (`~` → `~0`,
/// `/` → `~1`): condition keys such as `oss:BucketTag/Product` contain slashes.
pub(crate) fn child(pointer: &str, token: &str) -> String {
    format!("{pointer}/{}", token.replace('~', "~0").replace('/', "~1"))
}

pub(super) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A value as it appears in JSON, shortened so one bad value cannot flood the output.
pub(super) fn show(v: &Value) -> String {
    match v {
        Value::String(s) => show_str(s),
        Value::Array(_) | Value::Object(_) => kind_of(v).to_string(),
        other => other.to_string(),
    }
}

pub(super) fn show_str(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        format!("{s:?}")
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head:?}...")
    }
}
