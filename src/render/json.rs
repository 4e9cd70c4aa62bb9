//! The JSON rendering of a plan (the `Plan` document itself) and its generated JSON Schema.
//!
//! The JSON is what `apply FILE` reads back and what other tools consume, so it is the plain
//! serialisation of [`Plan`]: field order is declaration order (`format_version` first), which
//! keeps the output stable across runs. `schema/plan.schema.json` is generated from the same
//! types and checked by a test, so the documented shape cannot drift from the code.

use serde::Serialize;

use crate::plan::Plan;

/// Renders `plan` as pretty JSON (two-space indent, trailing newline).
pub fn plan_json(plan: &Plan) -> String {
    to_pretty_json(plan)
}

/// The JSON Schema of [`plan_json`]'s output, pretty, with a trailing newline.
pub fn plan_schema() -> String {
    to_pretty_json(&schemars::schema_for!(Plan))
}

/// The JSON Schema of a snapshot file (`msctl snapshot --out FILE`).
pub fn snapshot_schema() -> String {
    to_pretty_json(&schemars::schema_for!(crate::plan::snapshot::Snapshot))
}

pub(crate) fn to_pretty_json<T: Serialize>(value: &T) -> String {
    match serde_json::to_string_pretty(value) {
        Ok(mut text) => {
            text.push('\n');
            text
        }
        // Only maps with non-string keys fail to serialise, and these documents have none; if
        // one ever appears, say so in-band (and invalid against the schema) rather than panic.
        Err(e) => format!(
            "{{\n  \"error\": {}\n}}\n",
            serde_json::Value::String(format!("failed to serialise to JSON: {e}"))
        ),
    }
}

/// Test support shared with the drift renderer: compare a committed schema with the generated
/// one, rewriting it when `MSCTL_UPDATE_SCHEMAS=1` (see
/// [`crate::testing::harness::update_schemas`]).
#[cfg(test)]
pub(crate) fn check_committed_schema(relative_path: &str, generated: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(relative_path);
    if crate::testing::harness::update_schemas() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .unwrap_or_else(|e| panic!("failed to create `{}`: {e}", dir.display()));
        }
        std::fs::write(&path, generated)
            .unwrap_or_else(|e| panic!("failed to write `{}`: {e}", path.display()));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{relative_path} is stale: run MSCTL_UPDATE_SCHEMAS=1 cargo test"
    );
}

/// Test support: every validation error of `instance` against `schema`, as readable lines.
#[cfg(test)]
pub(crate) fn schema_errors(schema: &str, instance: &str) -> Vec<String> {
    let schema: serde_json::Value =
        serde_json::from_str(schema).unwrap_or_else(|e| panic!("schema is not JSON: {e}"));
    let instance: serde_json::Value =
        serde_json::from_str(instance).unwrap_or_else(|e| panic!("output is not JSON: {e}"));
    let validator = jsonschema::validator_for(&schema)
        .unwrap_or_else(|e| panic!("the generated schema is not a valid JSON Schema: {e}"));
    validator
        .iter_errors(&instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::sample;

    #[test]
    fn rich_plan() {
        insta::assert_snapshot!(plan_json(&sample::rich_plan()));
    }

    #[test]
    fn format_version_comes_first_and_round_trips() {
        let plan = sample::rich_plan();
        let text = plan_json(&plan);
        assert!(
            text.starts_with("{\n  \"format_version\": \"1\",\n"),
            "{text}"
        );
        let back: Plan = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, plan);
    }

    #[test]
    fn the_rich_sample_covers_every_action_and_kind() {
        let plan = sample::rich_plan();
        let kinds: std::collections::BTreeSet<&str> =
            plan.changes.iter().map(|c| c.address.kind()).collect();
        assert_eq!(kinds.len(), 13, "{kinds:?}");
        let actions: std::collections::BTreeSet<crate::plan::Action> =
            plan.changes.iter().map(|c| c.action).collect();
        assert_eq!(actions.len(), 4);
    }

    #[test]
    fn committed_schema_is_current() {
        check_committed_schema("schema/plan.schema.json", &plan_schema());
    }

    #[test]
    fn rendered_plans_validate_against_the_schema() {
        let schema = plan_schema();
        for plan in [sample::rich_plan(), sample::empty_plan()] {
            let errors = schema_errors(&schema, &plan_json(&plan));
            assert!(errors.is_empty(), "{errors:#?}");
        }
    }

    #[test]
    fn the_schema_rejects_what_is_not_a_plan() {
        let schema = plan_schema();
        let mut plan: serde_json::Value =
            serde_json::from_str(&plan_json(&sample::rich_plan())).unwrap_or_default();
        plan["changes"][0]["action"] = "explode".into();
        let errors = schema_errors(&schema, &plan.to_string());
        assert!(!errors.is_empty());
    }
}
