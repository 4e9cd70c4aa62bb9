//! Attribute lines shared by every renderer: values formatted and policy diffs computed once.
//!
//! Text and markdown differ only in styling (colour, fences); what a line says is decided here,
//! once, so a reviewer sees the same values and the same diff hunks whichever format they read.

use std::fmt::Write as _;

use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use crate::plan::AttributeChange;

/// Which side of each attribute to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shown {
    /// Only the new value (`name = value`): creates, and missing objects in drift.
    After,
    /// Only the old value (`name = value`): deletes, and unexpected objects in drift.
    Before,
    /// Both (`name: old -> new`): updates and replacements.
    Both,
}

/// One line of a unified diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DiffLine {
    /// `@@ -1,4 +1,5 @@`
    Hunk(String),
    Context(String),
    Insert(String),
    Delete(String),
}

/// One attribute, ready to style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AttrLine<'a> {
    /// `name = value`
    Value {
        name: &'a str,
        value: String,
        forces_replacement: bool,
    },
    /// `name: before -> after`
    Change {
        name: &'a str,
        before: String,
        after: String,
        forces_replacement: bool,
    },
    /// A policy document: a unified diff of its pretty JSON (from nothing for creates, to
    /// nothing for deletes).
    Document {
        name: &'a str,
        forces_replacement: bool,
        diff: Vec<DiffLine>,
    },
}

impl AttrLine<'_> {
    pub(crate) fn name(&self) -> &str {
        match self {
            AttrLine::Value { name, .. }
            | AttrLine::Change { name, .. }
            | AttrLine::Document { name, .. } => name,
        }
    }

    pub(crate) fn forces_replacement(&self) -> bool {
        match self {
            AttrLine::Value {
                forces_replacement, ..
            }
            | AttrLine::Change {
                forces_replacement, ..
            }
            | AttrLine::Document {
                forces_replacement, ..
            } => *forces_replacement,
        }
    }
}

/// The display lines of `attrs`, in their order.
pub(crate) fn attr_lines(attrs: &[AttributeChange], shown: Shown) -> Vec<AttrLine<'_>> {
    attrs
        .iter()
        .map(|a| {
            let name = a.name.as_str();
            let forces_replacement = a.forces_replacement;
            if a.document {
                let old = match shown {
                    Shown::After => String::new(),
                    Shown::Before | Shown::Both => pretty_document(&a.before),
                };
                let new = match shown {
                    Shown::Before => String::new(),
                    Shown::After | Shown::Both => pretty_document(&a.after),
                };
                return AttrLine::Document {
                    name,
                    forces_replacement,
                    diff: unified_diff(&old, &new),
                };
            }
            match shown {
                Shown::After => AttrLine::Value {
                    name,
                    value: compact(&a.after),
                    forces_replacement,
                },
                Shown::Before => AttrLine::Value {
                    name,
                    value: compact(&a.before),
                    forces_replacement,
                },
                Shown::Both => AttrLine::Change {
                    name,
                    before: compact(&a.before),
                    after: compact(&a.after),
                    forces_replacement,
                },
            }
        })
        .collect()
}

/// Width of the widest `name = value` name, so the `=` signs line up as in Terraform.
pub(crate) fn value_name_width(lines: &[AttrLine<'_>]) -> usize {
    lines
        .iter()
        .filter(|l| matches!(l, AttrLine::Value { .. }))
        .map(|l| l.name().chars().count())
        .max()
        .unwrap_or(0)
}

/// The stable pretty form of a policy document that diffs are computed over: keys in the order
/// RAM documents present them, so a live document whose keys come back reordered diffs as equal.
fn pretty_document(value: &Value) -> String {
    crate::policy::pretty(value)
}

fn unified_diff(old: &str, new: &str) -> Vec<DiffLine> {
    let diff = TextDiff::from_lines(old, new);
    let mut lines = Vec::new();
    for hunk in diff.unified_diff().iter_hunks() {
        lines.push(DiffLine::Hunk(hunk.header().to_string()));
        for change in hunk.iter_changes() {
            let text = change.value().trim_end_matches('\n').to_string();
            lines.push(match change.tag() {
                ChangeTag::Equal => DiffLine::Context(text),
                ChangeTag::Insert => DiffLine::Insert(text),
                ChangeTag::Delete => DiffLine::Delete(text),
            });
        }
    }
    lines
}

/// Compact JSON with a space after separators: `["a", "b"]`, `{"k": 1}`, `"text"`, `null`.
pub(crate) fn compact(value: &Value) -> String {
    let mut out = String::new();
    write_compact(&mut out, value);
    out
}

fn write_compact(out: &mut String, value: &Value) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_compact(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json_string(out, k);
                out.push_str(": ");
                write_compact(out, v);
            }
            out.push('}');
        }
        Value::String(s) => write_json_string(out, s),
        // Null, booleans and numbers print the same in every JSON style.
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

fn write_json_string(out: &mut String, s: &str) {
    // `Value::String`'s Display is the JSON-escaped, quoted form (control characters included,
    // which also keeps terminal escapes out of rendered plans).
    let _ = write!(out, "{}", Value::String(s.to_string()));
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn change(name: &str, before: Value, after: Value, document: bool) -> AttributeChange {
        AttributeChange {
            name: name.into(),
            before,
            after,
            forces_replacement: false,
            document,
        }
    }

    #[test]
    fn compact_values_are_json_with_spaces() {
        assert_eq!(compact(&json!(["a", "b"])), r#"["a", "b"]"#);
        assert_eq!(
            compact(&json!({"k": [1, null], "t": true})),
            r#"{"k": [1, null], "t": true}"#
        );
        assert_eq!(compact(&json!("a\"b\u{1b}")), r#""a\"b\u001b""#);
        assert_eq!(compact(&json!([])), "[]");
    }

    #[test]
    fn documents_are_canonically_ordered_before_diffing() {
        let a = json!({"Statement": [{"Resource": "*", "Action": "x:Y", "Effect": "Allow"}],
                       "Version": "1"});
        let b = json!({"Version": "1", "Statement": [{"Effect": "Allow", "Action": "x:Y",
                                                      "Resource": "*"}]});
        assert_eq!(pretty_document(&a), pretty_document(&b));
        assert!(pretty_document(&a).starts_with("{\n  \"Version\": \"1\",\n  \"Statement\""));
        let attrs = [change("document", a, b, true)];
        let lines = attr_lines(&attrs, Shown::Both);
        assert_eq!(
            lines,
            vec![AttrLine::Document {
                name: "document",
                forces_replacement: false,
                diff: vec![]
            }]
        );
    }

    #[test]
    fn created_documents_diff_from_nothing() {
        let attrs = [change(
            "document",
            Value::Null,
            json!({"Version": "1"}),
            true,
        )];
        let lines = attr_lines(&attrs, Shown::After);
        let AttrLine::Document { diff, .. } = &lines[0] else {
            panic!("expected a document line, got {lines:?}");
        };
        assert_eq!(
            diff,
            &vec![
                DiffLine::Hunk("@@ -0,0 +1,3 @@".into()),
                DiffLine::Insert("{".into()),
                DiffLine::Insert("  \"Version\": \"1\"".into()),
                DiffLine::Insert("}".into()),
            ]
        );
    }

    #[test]
    fn sides_pick_values() {
        let attrs = [change("n", json!(1), json!(2), false)];
        assert!(matches!(&attr_lines(&attrs, Shown::Before)[0],
                AttrLine::Value { value, .. } if value == "1"));
        assert!(matches!(&attr_lines(&attrs, Shown::After)[0],
                AttrLine::Value { value, .. } if value == "2"));
        assert!(matches!(&attr_lines(&attrs, Shown::Both)[0],
                AttrLine::Change { before, after, .. } if before == "1" && after == "2"));
    }
}
