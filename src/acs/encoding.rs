//! Parameter encodings of the Alibaba Cloud SDKs (contract §4.3), and their inverse for the
//! emulator.
//!
//! Client side: nested request objects are flattened to `a.b.1.c` keys (lists 1-based), "shrink"
//! parameters travel as one compact JSON string, and form bodies are `quote_plus`-encoded with
//! sorted keys. Emulator side: a raw query or form body is decoded (`+` is a space) and the flat
//! keys are rebuilt into a nested `serde_json::Value` whose leaves stay strings, because only the
//! operation knows whether `1` is a number, a string or an id; typed reads go through
//! [`parse_bool`] and friends.
//!
//! Every decoder here takes untrusted input from the emulator's socket: none of them panics, and
//! nesting depth is bounded so a key of ten thousand dots cannot exhaust the stack.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::signing::percent_encode_bytes;

/// Deepest `a.b.c` nesting the decoder accepts. The deepest SDK key is four segments
/// (`auth.modelAccessScope.accessibleModels.1`), so this leaves ample room.
pub const MAX_DEPTH: usize = 16;

/// Why a flattened parameter set cannot be rebuilt into one value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("parameter `{0}` is given more than once")]
    Duplicate(String),
    #[error("parameter `{0}` has an empty segment")]
    EmptySegment(String),
    #[error("parameter `{0}` is nested deeper than {MAX_DEPTH} levels")]
    TooDeep(String),
    #[error("parameter `{0}` is both a value and a parent of other parameters")]
    ValueAndParent(String),
    #[error("list `{0}` must be numbered 1, 2, 3, … without gaps or leading zeros")]
    BadListIndex(String),
    #[error("parameter `{name}` is not valid JSON: {reason}")]
    BadJson { name: String, reason: String },
}

// ---------------------------------------------------------------------------------------------
// Client side
// ---------------------------------------------------------------------------------------------

/// Flattens a request object into `(key, value)` string pairs the way `Utils.query` /
/// `Utils.to_form` do: objects join keys with `.`, lists number items from 1, nulls are dropped.
///
/// One deliberate difference from the Python SDK: booleans become `true`/`false` (the documented
/// form) rather than `True`/`False`; the emulator accepts both spellings. A non-object root, which
/// no SDK call sends, gets keys from its own first level (`1`, `2`, … for a list).
pub fn flatten(value: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                flatten_into(key.clone(), child, &mut out);
            }
        }
        other => flatten_into(String::new(), other, &mut out),
    }
    out
}

fn flatten_into(prefix: String, value: &Value, out: &mut Vec<(String, String)>) {
    let join = |child: &str| {
        if prefix.is_empty() {
            child.to_string()
        } else {
            format!("{prefix}.{child}")
        }
    };
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push((prefix, bool_str(*b).to_string())),
        Value::Number(n) => out.push((prefix, n.to_string())),
        Value::String(s) => out.push((prefix, s.clone())),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten_into(join(&(i + 1).to_string()), item, out);
            }
        }
        Value::Object(map) => {
            for (key, child) in map {
                flatten_into(join(key), child, out);
            }
        }
    }
}

/// The wire form of a boolean parameter.
pub fn bool_str(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// A "shrink" parameter: the whole value as one compact JSON string (`separators=(",",":")`,
/// non-ASCII kept), which is what `json.dumps(..., ensure_ascii=False)` produces. Key order is the
/// caller's (serde_json preserves insertion order in this crate).
pub fn shrink(value: &Value) -> String {
    // Serialising a `Value` cannot fail: every key is a string and there is no custom Serialize.
    serde_json::to_string(value).unwrap_or_default()
}

/// Python's `quote_plus`: RFC 3986 unreserved characters kept, space as `+`, everything else
/// (including `/`, `*`, `+`, UTF-8 bytes) as upper-case `%XX`.
pub fn quote_plus(s: &str) -> String {
    s.split(' ')
        .map(|part| percent_encode_bytes(part.as_bytes()))
        .collect::<Vec<_>>()
        .join("+")
}

/// A form body as the SDK sends it: pairs sorted by key (then value), `key=value` joined by `&`,
/// both sides `quote_plus`-encoded. An empty list gives the empty body.
pub fn form_urlencode(pairs: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = pairs.iter().collect();
    sorted.sort();
    sorted
        .iter()
        .map(|(k, v)| format!("{}={}", quote_plus(k), quote_plus(v)))
        .collect::<Vec<_>>()
        .join("&")
}

// ---------------------------------------------------------------------------------------------
// Emulator side
// ---------------------------------------------------------------------------------------------

/// Decodes one `application/x-www-form-urlencoded` component: `+` is a space, `%XX` a byte. A `%`
/// not followed by two hex digits stays literal, as Python's `unquote_plus` leaves it.
pub fn decode_component(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match (
                bytes.get(i + 1).and_then(|c| hex_value(*c)),
                bytes.get(i + 2).and_then(|c| hex_value(*c)),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    out
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Splits a raw query string or form body into decoded byte pairs, in wire order. Empty segments
/// (`a=1&&b=2`) are skipped; a segment without `=` is a key with an empty value.
pub fn parse_urlencoded_bytes(raw: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    raw.split('&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| match segment.split_once('=') {
            Some((k, v)) => (decode_component(k), decode_component(v)),
            None => (decode_component(segment), Vec::new()),
        })
        .collect()
}

/// [`parse_urlencoded_bytes`] as strings; invalid UTF-8 becomes U+FFFD rather than an error,
/// since no SDK sends it and the operation's own validation will reject the mangled value.
pub fn parse_urlencoded(raw: &str) -> Vec<(String, String)> {
    parse_urlencoded_bytes(raw)
        .into_iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(&k).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect()
}

/// Rebuilds flattened parameters into one object: `a.b=x` → `{"a":{"b":"x"}}`, `a.1=x&a.2=y` →
/// `{"a":["x","y"]}`. A parent whose children are all numeric is a list and must be numbered
/// 1..=n; any other parent is an object. Leaves stay strings.
pub fn unflatten<K, V>(pairs: &[(K, V)]) -> Result<Value, DecodeError>
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut root = Node::Branch(BTreeMap::new());
    for (key, value) in pairs {
        let key = key.as_ref();
        let segments: Vec<&str> = key.split('.').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Err(DecodeError::EmptySegment(key.to_string()));
        }
        if segments.len() > MAX_DEPTH {
            return Err(DecodeError::TooDeep(key.to_string()));
        }
        root.insert(key, &segments, value.as_ref())?;
    }
    root.into_value(String::new())
}

/// Intermediate tree: keys sorted (so list indices can be checked in order), leaves as strings.
enum Node {
    Leaf(String),
    Branch(BTreeMap<String, Node>),
}

impl Node {
    fn insert(&mut self, key: &str, segments: &[&str], value: &str) -> Result<(), DecodeError> {
        let Node::Branch(children) = self else {
            return Err(DecodeError::ValueAndParent(key.to_string()));
        };
        let Some((first, rest)) = segments.split_first() else {
            // `split('.')` always yields at least one segment; an empty slice cannot reach here,
            // but answering with an error keeps untrusted input from ever panicking.
            return Err(DecodeError::EmptySegment(key.to_string()));
        };
        if rest.is_empty() {
            return match children.get(*first) {
                Some(Node::Leaf(_)) => Err(DecodeError::Duplicate(key.to_string())),
                Some(Node::Branch(_)) => Err(DecodeError::ValueAndParent(key.to_string())),
                None => {
                    children.insert((*first).to_string(), Node::Leaf(value.to_string()));
                    Ok(())
                }
            };
        }
        children
            .entry((*first).to_string())
            .or_insert_with(|| Node::Branch(BTreeMap::new()))
            .insert(key, rest, value)
    }

    fn into_value(self, path: String) -> Result<Value, DecodeError> {
        let children = match self {
            Node::Leaf(s) => return Ok(Value::String(s)),
            Node::Branch(children) => children,
        };
        let child_path = |k: &str| {
            if path.is_empty() {
                k.to_string()
            } else {
                format!("{path}.{k}")
            }
        };
        let is_list = !children.is_empty()
            && children
                .keys()
                .all(|k| k.bytes().all(|b| b.is_ascii_digit()));
        if !is_list {
            let mut map = Map::new();
            for (k, child) in children {
                let v = child.into_value(child_path(&k))?;
                map.insert(k, v);
            }
            return Ok(Value::Object(map));
        }
        // Index keys sorted as numbers; a gap, a zero or a leading zero means the input was not
        // produced by an SDK and is refused rather than guessed at.
        let mut indexed = Vec::with_capacity(children.len());
        for (k, child) in children {
            let index = k
                .parse::<usize>()
                .ok()
                .filter(|i| *i >= 1 && !k.starts_with('0'))
                .ok_or_else(|| DecodeError::BadListIndex(path.clone()))?;
            indexed.push((index, k, child));
        }
        indexed.sort_by_key(|(i, _, _)| *i);
        let mut items = Vec::with_capacity(indexed.len());
        for (position, (index, k, child)) in indexed.into_iter().enumerate() {
            if index != position + 1 {
                return Err(DecodeError::BadListIndex(path));
            }
            items.push(child.into_value(child_path(&k))?);
        }
        Ok(Value::Array(items))
    }
}

/// A boolean parameter: the Python SDK sends `True`/`False`, other SDKs and msctl `true`/`false`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "true" | "True" => Some(true),
        "false" | "False" => Some(false),
        _ => None,
    }
}

/// Reads a leaf of an [`unflatten`]ed value as a boolean (also accepting a JSON boolean, so the
/// same accessor serves JSON bodies).
pub fn value_as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => parse_bool(s),
        _ => None,
    }
}

/// Decodes a "shrink" parameter (one JSON-encoded string). serde_json bounds its own recursion,
/// so hostile nesting is an error, not a crash.
pub fn parse_shrink(name: &str, raw: &str) -> Result<Value, DecodeError> {
    serde_json::from_str(raw).map_err(|e| DecodeError::BadJson {
        name: name.to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Appendix A, CreateApiKey: the captured form body, except that msctl writes `false` where
    /// Python wrote `False`.
    #[test]
    fn create_api_key_form_body_matches_capture() {
        let body = json!({
            "auth": {
                "type": "Custom",
                "accessIps": ["1.2.3.4/32", "::/0"],
                "modelAccessScope": {
                    "allowAllModels": false,
                    "accessibleModels": ["qwen-plus", "qwen-max"],
                },
            }
        });
        let encoded = form_urlencode(&flatten(&body));
        assert_eq!(
            encoded,
            "auth.accessIps.1=1.2.3.4%2F32&auth.accessIps.2=%3A%3A%2F0\
             &auth.modelAccessScope.accessibleModels.1=qwen-plus\
             &auth.modelAccessScope.accessibleModels.2=qwen-max\
             &auth.modelAccessScope.allowAllModels=false&auth.type=Custom"
        );
    }

    /// Appendix A and T6, UpdateModelPermissions: the exact T6 body.
    #[test]
    fn update_model_permissions_form_body_matches_t6() {
        let body = json!({
            "workspaceId": "ws-1",
            "accessAllEntities": "KEEP",
            "models": [{"model": "qwen-plus", "inference": true, "fineTune": false,
                        "deploy": false}],
        });
        assert_eq!(
            form_urlencode(&flatten(&body)),
            "accessAllEntities=KEEP&models.1.deploy=false&models.1.fineTune=false\
             &models.1.inference=true&models.1.model=qwen-plus&workspaceId=ws-1"
        );
    }

    /// Appendix A, UpdateModelLimits: `workspaceLimits` is a shrink parameter inside a form body.
    #[test]
    fn update_model_limits_shrink_param_matches_capture() {
        let limits = json!([{
            "model": "qwen-plus", "operationType": "OVERLAY", "requestLimit": 60,
            "requestLimitPeriod": 60, "usageLimit": 100000, "usageLimitPeriod": 60,
        }]);
        let body = pairs(&[
            ("workspaceId", "ws-1"),
            ("workspaceLimits", &shrink(&limits)),
        ]);
        assert_eq!(
            form_urlencode(&body),
            "workspaceId=ws-1&workspaceLimits=%5B%7B%22model%22%3A%22qwen-plus%22%2C%22\
             operationType%22%3A%22OVERLAY%22%2C%22requestLimit%22%3A60%2C%22requestLimitPeriod\
             %22%3A60%2C%22usageLimit%22%3A100000%2C%22usageLimitPeriod%22%3A60%7D%5D"
        );
    }

    #[test]
    fn shrink_is_compact_and_keeps_non_ascii() {
        assert_eq!(shrink(&json!(["TG"])), r#"["TG"]"#);
        assert_eq!(
            shrink(&json!([{"Key": "env", "Value": "prod"}])),
            r#"[{"Key":"env","Value":"prod"}]"#
        );
        assert_eq!(
            shrink(&json!({"DisplayName": "Zé ws"})),
            r#"{"DisplayName":"Zé ws"}"#
        );
    }

    #[test]
    fn quote_plus_semantics() {
        assert_eq!(quote_plus("my ws*~"), "my+ws%2A~");
        assert_eq!(quote_plus(" a  b "), "+a++b+");
        assert_eq!(quote_plus("a+b/c=d"), "a%2Bb%2Fc%3Dd");
        assert_eq!(quote_plus("Alice Ü"), "Alice+%C3%9C");
        assert_eq!(quote_plus(""), "");
        assert_eq!(form_urlencode(&[]), "");
    }

    #[test]
    fn flatten_drops_nulls_and_numbers_lists_from_one() {
        let flat = flatten(&json!({
            "AccountIds": ["a1", "a2"], "Locale": "en", "skip": null, "n": 5,
            "filter": {"model": "qwen-plus", "name": null},
        }));
        assert_eq!(
            flat,
            pairs(&[
                ("AccountIds.1", "a1"),
                ("AccountIds.2", "a2"),
                ("Locale", "en"),
                ("n", "5"),
                ("filter.model", "qwen-plus"),
            ])
        );
    }

    /// The captured Python bodies (with `True`/`False`) decode to the structure that was sent.
    #[test]
    fn decodes_captured_python_form_bodies() {
        let raw = "auth.accessIps.1=1.2.3.4%2F32&auth.accessIps.2=%3A%3A%2F0\
                   &auth.modelAccessScope.accessibleModels.1=qwen-plus\
                   &auth.modelAccessScope.accessibleModels.2=qwen-max\
                   &auth.modelAccessScope.allowAllModels=False&auth.type=Custom";
        let value = unflatten(&parse_urlencoded(raw)).unwrap();
        assert_eq!(
            value,
            json!({"auth": {
                "accessIps": ["1.2.3.4/32", "::/0"],
                "modelAccessScope": {"accessibleModels": ["qwen-plus", "qwen-max"],
                                     "allowAllModels": "False"},
                "type": "Custom",
            }})
        );
        assert_eq!(
            value_as_bool(&value["auth"]["modelAccessScope"]["allowAllModels"]),
            Some(false)
        );

        let raw = "accessAllEntities=KEEP&models.1.deploy=False&models.1.fineTune=False\
                   &models.1.inference=True&models.1.model=qwen-plus&workspaceId=ws-1";
        let value = unflatten(&parse_urlencoded(raw)).unwrap();
        assert_eq!(value_as_bool(&value["models"][0]["inference"]), Some(true));
        assert_eq!(value["models"][0]["model"], "qwen-plus");

        let raw = "workspaceId=ws-1&workspaceLimits=%5B%7B%22model%22%3A%22qwen-plus%22%2C%22\
                   operationType%22%3A%22OVERLAY%22%2C%22requestLimit%22%3A60%7D%5D";
        let value = unflatten(&parse_urlencoded(raw)).unwrap();
        let limits = parse_shrink(
            "workspaceLimits",
            value["workspaceLimits"].as_str().unwrap(),
        );
        assert_eq!(
            limits.unwrap(),
            json!([{"model": "qwen-plus", "operationType": "OVERLAY", "requestLimit": 60}])
        );
    }

    /// Captured query strings: `+` is a space, empty values are kept, flattened lists rebuild.
    #[test]
    fn decodes_captured_query_strings() {
        let q = parse_urlencoded("maxResults=10&workspaceName=my+ws%2A~");
        assert_eq!(
            q,
            pairs(&[("maxResults", "10"), ("workspaceName", "my ws*~")])
        );
        assert_eq!(parse_urlencoded("nextToken="), pairs(&[("nextToken", "")]));
        let q = parse_urlencoded("AccountIds.1=a1&AccountIds.2=a2&Locale=en");
        assert_eq!(
            unflatten(&q).unwrap(),
            json!({"AccountIds": ["a1", "a2"], "Locale": "en"})
        );
        let q = parse_urlencoded("Comments=a%2Bb&DisplayName=Alice+%C3%9C&UserName=alice");
        assert_eq!(q[0].1, "a+b");
        assert_eq!(q[1].1, "Alice Ü");
        let q = parse_urlencoded("All=False&ResourceNames=%5B%22p1%22%5D");
        assert_eq!(parse_bool(&q[0].1), Some(false));
        assert_eq!(
            parse_shrink("ResourceNames", &q[1].1).unwrap(),
            json!(["p1"])
        );
    }

    #[test]
    fn booleans_accept_both_spellings_only() {
        for (s, b) in [
            ("True", true),
            ("true", true),
            ("False", false),
            ("false", false),
        ] {
            assert_eq!(parse_bool(s), Some(b));
        }
        for s in ["TRUE", "1", "yes", ""] {
            assert_eq!(parse_bool(s), None);
        }
        assert_eq!(value_as_bool(&json!(true)), Some(true));
        assert_eq!(value_as_bool(&json!(1)), None);
    }

    #[test]
    fn round_trip_flatten_unflatten() {
        let original = json!({"a": {"b": ["x", {"c": "y"}]}, "d": "e"});
        let flat = flatten(&original);
        assert_eq!(unflatten(&flat).unwrap(), original);
    }

    #[test]
    fn hostile_input_is_an_error_not_a_panic() {
        let err = |list: &[(&str, &str)]| unflatten(&pairs(list)).unwrap_err();
        assert!(matches!(
            err(&[("a", "1"), ("a", "2")]),
            DecodeError::Duplicate(_)
        ));
        assert!(matches!(
            err(&[("a", "1"), ("a.b", "2")]),
            DecodeError::ValueAndParent(_)
        ));
        assert!(matches!(
            err(&[("a.b", "1"), ("a", "2")]),
            DecodeError::ValueAndParent(_)
        ));
        assert!(matches!(
            err(&[("a..b", "1")]),
            DecodeError::EmptySegment(_)
        ));
        assert!(matches!(err(&[(".", "1")]), DecodeError::EmptySegment(_)));
        assert!(matches!(err(&[("", "1")]), DecodeError::EmptySegment(_)));
        assert!(matches!(err(&[("a.2", "1")]), DecodeError::BadListIndex(_)));
        assert!(matches!(err(&[("a.0", "1")]), DecodeError::BadListIndex(_)));
        assert!(matches!(
            err(&[("a.01", "1")]),
            DecodeError::BadListIndex(_)
        ));
        assert!(matches!(
            err(&[("a.99999999999999999999999", "1")]),
            DecodeError::BadListIndex(_)
        ));
        let deep = vec!["x"; 10_000].join(".");
        assert!(matches!(
            err(&[(deep.as_str(), "1")]),
            DecodeError::TooDeep(_)
        ));
        // Malformed escapes stay literal; invalid UTF-8 is replaced, not rejected.
        assert_eq!(decode_component("%"), b"%");
        assert_eq!(decode_component("%4"), b"%4");
        assert_eq!(decode_component("%zz%41"), b"%zzA");
        assert_eq!(parse_urlencoded("k=%FF")[0].1, "\u{FFFD}");
        assert_eq!(parse_urlencoded("&&=&a"), pairs(&[("", ""), ("a", "")]));
        assert!(parse_shrink("x", &"[".repeat(100_000)).is_err());
    }
}
