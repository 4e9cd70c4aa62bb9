//! `schema/config.schema.json` is generated from the config types; this test fails when the
//! committed file is stale (regenerate with `MSCTL_UPDATE_SCHEMAS=1 cargo test`), and checks the
//! examples against it the way an editor would.

use std::path::Path;

mod common;

#[test]
fn config_schema_is_fresh() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/config.schema.json");
    let generated =
        serde_json::to_string_pretty(msctl::config::parse::config_schema()).unwrap() + "\n";
    if common::update_schemas() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "schema/config.schema.json is stale: run MSCTL_UPDATE_SCHEMAS=1 cargo test --test \
            config_schema"
    );
}

#[test]
fn example_files_satisfy_the_schema() {
    let schema = msctl::config::parse::config_schema();
    let validator = jsonschema::validator_for(schema).unwrap();
    for dir in ["examples/quickstart", "examples/langstudio"] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).unwrap();
                let value: toml::Value = toml::from_str(&text).unwrap();
                let json = serde_json::to_value(value).unwrap();
                let errors: Vec<String> = validator
                    .iter_errors(&json)
                    .map(|e| e.to_string())
                    .collect();
                assert!(errors.is_empty(), "{}: {errors:?}", path.display());
            }
        }
    }
}
