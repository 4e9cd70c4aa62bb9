//! Canonical form (for comparing documents) and stable pretty printing (for plan diffs).
//!
//! A document in config and the same document read back from RAM must compare equal when they
//! mean the same, or every plan would show a spurious change. [`canonical`] normalises what the
//! policy language says carries no meaning:
//!
//! - **String vs list.** `"Action": "oss:GetObject"` equals `"Action": ["oss:GetObject"]` (the
//!   grammar states the two are equivalent). The same holds for `NotAction`, `Resource`,
//!   `NotResource`, each `Principal` type (`RAM`, `Service`, `Federated`: the API may return `RAM`
//!   as a string where a list was sent, see the UpdateRole sample response) and each condition
//!   value. All become lists.
//! - **Order and duplicates inside those lists.** Each value is matched independently, so the
//!   lists are sorted and de-duplicated.
//! - **Scalar condition values.** `true` and `"true"`, `5` and `"5"` are compared as strings,
//!   since published documents write booleans as strings and RAM compares condition values as
//!   text. They become strings.
//! - **Empty `Condition`.** `"Condition": {}` constrains nothing; it is dropped.
//! - **Object key order.** Irrelevant in JSON; keys are sorted so the canonical form also
//!   serialises identically (useful for fingerprints).
//!
//! Kept as written: statement order (it is what a reader and the API see), `Effect`, `Version`,
//! the case of every value (resources such as bucket names are case-sensitive), and anything
//! unknown, so that invalid documents still compare faithfully.

use std::cmp::Ordering;

use serde_json::{Map, Value};

/// Statement elements whose value is a string or a set of strings.
const SET_ELEMENTS: &[&str] = &["Action", "NotAction", "Resource", "NotResource"];

/// Key order for [`pretty`]: how people read a statement (what, on what, when).
const DOCUMENT_ORDER: &[&str] = &["Version", "Statement"];
const STATEMENT_ORDER: &[&str] = &[
    "Effect",
    "Action",
    "NotAction",
    "Principal",
    "Resource",
    "NotResource",
    "Condition",
];

/// Semantic equality of two policy documents (see [`canonical`]): the platform may return
/// `"RAM": "x"` where `["x"]` was sent, reorder keys, or stringify booleans.
pub fn documents_equal(a: &Value, b: &Value) -> bool {
    canonical(a) == canonical(b)
}

/// The normal form of a policy document for semantic comparison (see the module docs for what
/// is normalised and why). Never fails: malformed parts are kept with their keys sorted.
pub fn canonical(doc: &Value) -> Value {
    let Value::Object(top) = doc else {
        return sorted(doc);
    };
    let mut out = Map::new();
    for (key, value) in top {
        let value = match (key.as_str(), value) {
            ("Statement", Value::Array(statements)) => {
                Value::Array(statements.iter().map(canonical_statement).collect())
            }
            _ => sorted(value),
        };
        out.insert(key.clone(), value);
    }
    sorted_object(out)
}

fn canonical_statement(statement: &Value) -> Value {
    let Value::Object(elements) = statement else {
        return sorted(statement);
    };
    let mut out = Map::new();
    for (key, value) in elements {
        let value = match key.as_str() {
            k if SET_ELEMENTS.contains(&k) => set(value, false),
            "Principal" => match value {
                Value::Object(types) => Value::Object(
                    types
                        .iter()
                        .map(|(t, v)| (t.clone(), set(v, false)))
                        .collect(),
                ),
                other => sorted(other),
            },
            "Condition" => match value {
                Value::Object(operators) if operators.is_empty() => continue,
                Value::Object(operators) => Value::Object(
                    operators
                        .iter()
                        .map(|(op, block)| (op.clone(), condition_block(block)))
                        .collect(),
                ),
                other => sorted(other),
            },
            _ => sorted(value),
        };
        out.insert(key.clone(), value);
    }
    sorted_object(out)
}

fn condition_block(block: &Value) -> Value {
    match block {
        Value::Object(keys) => Value::Object(
            keys.iter()
                .map(|(key, values)| (key.clone(), set(values, true)))
                .collect(),
        ),
        other => sorted(other),
    }
}

/// A string-or-list element as a sorted, de-duplicated list. With `stringify`, booleans and
/// numbers become strings first (condition values).
fn set(value: &Value, stringify: bool) -> Value {
    let norm = |v: &Value| match v {
        Value::Bool(b) if stringify => Value::String(b.to_string()),
        Value::Number(n) if stringify => Value::String(n.to_string()),
        other => sorted(other),
    };
    let mut items: Vec<Value> = match value {
        Value::Array(items) => items.iter().map(norm).collect(),
        Value::Object(_) | Value::Null => return sorted(value),
        scalar => vec![norm(scalar)],
    };
    items.sort_by(compare);
    items.dedup();
    Value::Array(items)
}

/// A total order on values: strings first, by text; then anything else by its JSON text.
fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::String(a), Value::String(b)) => a.cmp(b),
        (Value::String(_), _) => Ordering::Less,
        (_, Value::String(_)) => Ordering::Greater,
        (a, b) => a.to_string().cmp(&b.to_string()),
    }
}

/// `value` with the keys of every object sorted.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            sorted_object(map.iter().map(|(k, v)| (k.clone(), sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

fn sorted_object(map: Map<String, Value>) -> Value {
    let mut entries: Vec<(String, Value)> = map.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Value::Object(entries.into_iter().collect())
}

/// Stable pretty JSON for plan diffs: 2-space indent, `Version` then `Statement`; in statements
/// `Effect`, `Action`, `NotAction`, `Principal`, `Resource`, `NotResource`, `Condition`, then any
/// other key alphabetically; nested objects alphabetically. Values and list order are kept as
/// given: pass [`canonical`]'s output to diff meaning rather than text. Ends with a newline so
/// line diffs of the last line stay clean.
pub fn pretty(doc: &Value) -> String {
    let ordered = match doc {
        Value::Object(top) => ordered(top, DOCUMENT_ORDER, |key, value| match (key, value) {
            ("Statement", Value::Array(statements)) => Value::Array(
                statements
                    .iter()
                    .map(|s| match s {
                        Value::Object(elements) => {
                            ordered(elements, STATEMENT_ORDER, |_, v| sorted(v))
                        }
                        other => sorted(other),
                    })
                    .collect(),
            ),
            _ => sorted(value),
        }),
        other => sorted(other),
    };
    // Serialising a `Value` cannot fail (its keys are strings); fall back to compact JSON anyway.
    let mut text = serde_json::to_string_pretty(&ordered).unwrap_or_else(|_| ordered.to_string());
    text.push('\n');
    text
}

/// `map` rebuilt with the keys in `order` first, then the rest alphabetically; `value` maps each
/// value on the way.
fn ordered(
    map: &Map<String, Value>,
    order: &[&str],
    value: impl Fn(&str, &Value) -> Value,
) -> Value {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    let rank = |k: &str| order.iter().position(|o| *o == k).unwrap_or(order.len());
    entries.sort_by(|a, b| rank(a.0).cmp(&rank(b.0)).then_with(|| a.0.cmp(b.0)));
    Value::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.clone(), value(k, v)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn string_and_single_element_list_are_equal() {
        let a = json!({"Version": "1", "Statement": [{
            "Effect": "Allow", "Action": "oss:GetObject", "Resource": "acs:oss:*:*:b/*"}]});
        let b = json!({"Version": "1", "Statement": [{
            "Effect": "Allow", "Action": ["oss:GetObject"], "Resource": ["acs:oss:*:*:b/*"]}]});
        assert_eq!(canonical(&a), canonical(&b));
    }

    #[test]
    fn principal_string_equals_list() {
        // What CreateRole was sent, and what UpdateRole's sample response returns.
        let sent = json!({"Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow",
            "Principal": {"RAM": ["acs:ram::123456789012****:root"]}}], "Version": "1"});
        let returned = json!({"Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow",
            "Principal": {"RAM": "acs:ram::123456789012****:root"}}], "Version": "1"});
        assert_eq!(canonical(&sent), canonical(&returned));
    }

    #[test]
    fn key_order_is_irrelevant() {
        let a: Value = serde_json::from_str(
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        )
        .unwrap();
        let b: Value = serde_json::from_str(
            r#"{"Statement":[{"Resource":"*","Action":"*","Effect":"Allow"}],"Version":"1"}"#,
        )
        .unwrap();
        assert_eq!(canonical(&a), canonical(&b));
        // Serialised too, not just by `Value` equality: canonical output is key-sorted.
        assert_eq!(canonical(&a).to_string(), canonical(&b).to_string());
    }

    #[test]
    fn duplicate_and_reordered_actions_are_equal() {
        let a = json!({"Version": "1", "Statement": [{"Effect": "Allow",
            "Action": ["oss:PutObject", "oss:GetObject", "oss:GetObject"], "Resource": "*"}]});
        let b = json!({"Version": "1", "Statement": [{"Effect": "Allow",
            "Action": ["oss:GetObject", "oss:PutObject"], "Resource": "*"}]});
        assert_eq!(canonical(&a), canonical(&b));
        assert_eq!(
            canonical(&a)["Statement"][0]["Action"],
            json!(["oss:GetObject", "oss:PutObject"])
        );
    }

    #[test]
    fn condition_values_and_empty_conditions() {
        let a = json!({"Version": "1", "Statement": [{"Effect": "Allow", "Action": "*",
            "Resource": "*", "Condition": {"Bool": {"acs:MFAPresent": true},
            "IpAddress": {"acs:SourceIp": ["203.0.113.2", "192.0.2.0/24", "203.0.113.2"]}}}]});
        let b = json!({"Version": "1", "Statement": [{"Effect": "Allow", "Action": "*",
            "Resource": "*", "Condition": {"IpAddress": {"acs:SourceIp": ["192.0.2.0/24",
                "203.0.113.2"]},
            "Bool": {"acs:MFAPresent": "true"}}}]});
        assert_eq!(canonical(&a), canonical(&b));

        let with_empty = json!({"Version": "1", "Statement": [{"Effect": "Allow",
            "Action": "*", "Resource": "*", "Condition": {}}]});
        let without = json!({"Version": "1", "Statement": [{"Effect": "Allow",
            "Action": "*", "Resource": "*"}]});
        assert_eq!(canonical(&with_empty), canonical(&without));
    }

    #[test]
    fn meaningful_differences_survive() {
        let base = json!({"Version": "1", "Statement": [
            {"Effect": "Allow", "Action": "oss:GetObject", "Resource": "*"},
            {"Effect": "Deny", "Action": "oss:DeleteBucket", "Resource": "*"}]});
        let swapped = json!({"Version": "1", "Statement": [
            {"Effect": "Deny", "Action": "oss:DeleteBucket", "Resource": "*"},
            {"Effect": "Allow", "Action": "oss:GetObject", "Resource": "*"}]});
        let case = json!({"Version": "1", "Statement": [
            {"Effect": "Allow", "Action": "oss:GetObject", "Resource": "acs:oss:*:*:Bucket"},
            {"Effect": "Deny", "Action": "oss:DeleteBucket", "Resource": "*"}]});
        assert_ne!(
            canonical(&base),
            canonical(&swapped),
            "statement order is kept"
        );
        assert_ne!(canonical(&base), canonical(&case));
    }

    #[test]
    fn canonical_is_idempotent() {
        let doc = json!({"Statement": [{"Resource": ["b", "a"], "Action": "x:y",
            "Effect": "Allow", "Condition": {"StringLike": {"k": ["", "v", 1]}}}], "Version": "1"});
        let once = canonical(&doc);
        assert_eq!(canonical(&once), once);
    }

    #[test]
    fn pretty_orders_keys() {
        let doc = json!({"Statement": [{"Condition": {"StringEquals": {"b": "1", "a": "2"}},
            "Resource": "*", "Zeta": 1, "Principal": {"Service": ["ecs.aliyuncs.com"], "RAM": "x"},
            "Action": "sts:AssumeRole", "Effect": "Allow", "Alpha": 2}], "Version": "1"});
        let expected = r#"{
  "Version": "1",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": "sts:AssumeRole",
      "Principal": {
        "RAM": "x",
        "Service": [
          "ecs.aliyuncs.com"
        ]
      },
      "Resource": "*",
      "Condition": {
        "StringEquals": {
          "a": "2",
          "b": "1"
        }
      },
      "Alpha": 2,
      "Zeta": 1
    }
  ]
}
"#;
        assert_eq!(pretty(&doc), expected);
    }

    #[test]
    fn pretty_is_stable_under_reordering() {
        let a: Value = serde_json::from_str(
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        )
        .unwrap();
        let b: Value = serde_json::from_str(
            r#"{"Statement":[{"Resource":"*","Action":"*","Effect":"Allow"}],"Version":"1"}"#,
        )
        .unwrap();
        assert_eq!(pretty(&a), pretty(&b));
        let reparsed: Value = serde_json::from_str(&pretty(&a)).unwrap();
        assert_eq!(pretty(&reparsed), pretty(&a));
    }

    #[test]
    fn odd_shapes_do_not_panic() {
        for doc in [
            json!(null),
            json!([1, {"b": 1, "a": 2}]),
            json!({"Statement": {"Effect": "Allow"}}),
            json!({"Statement": [null, 3, {"Action": {"x": 1}, "Principal": "*",
                "Condition": {"Bool": null}, "Resource": null}]}),
        ] {
            let c = canonical(&doc);
            assert_eq!(canonical(&c), c);
            assert!(pretty(&doc).ends_with('\n'));
        }
    }
}
