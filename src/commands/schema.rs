//! `msctl schema WHICH`: prints one of msctl's JSON Schemas, the same text as the checked-in
//! `schema/<which>.schema.json`, so that editors and tools outside this repository can use them.

use super::{CommandError, Outcome, output};
use crate::cli::{SchemaArgs, SchemaKind};
use crate::render;

pub fn run(args: &SchemaArgs) -> Result<Outcome, CommandError> {
    output::stdout(&schema_text(args.which))?;
    Ok(Outcome::Success)
}

/// The schema as pretty JSON with a trailing newline: byte for byte the file under `schema/`
/// (tests hold the two equal).
pub fn schema_text(which: SchemaKind) -> String {
    match which {
        SchemaKind::Config => render::json::to_pretty_json(crate::config::parse::config_schema()),
        SchemaKind::Plan => render::plan_schema(),
        SchemaKind::Drift => render::drift_schema(),
        SchemaKind::Apply => render::apply_result_schema(),
        SchemaKind::Access => render::access_schema(),
        SchemaKind::Envs => render::envs_schema(),
        SchemaKind::Review => render::review_schema(),
        SchemaKind::Snapshot => render::snapshot_schema(),
    }
}
