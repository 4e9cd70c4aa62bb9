//! `msctl validate`: check the config and say what it holds.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{CommandError, Outcome, output};
use crate::cli::{Cli, Format, ValidateArgs};

pub fn run(cli: &Cli, args: &ValidateArgs) -> Result<Outcome, CommandError> {
    let mut checkout = super::checkout::Checkout::open(cli.dir(), cli.rev())?;
    let loaded = super::load_config(cli.dir(), &mut checkout)?;
    // `examples/quickstart`, or `HEAD~1 (1a2b3c4):examples/quickstart` at a revision.
    let origin = loaded.sources().origin.clone();
    let errors = loaded.diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = loaded.diagnostics.len() - errors;
    if cli.format() == Format::Json {
        let sources = loaded.sources();
        let counts = loaded.config.as_ref().map(|c| counts(&c.desired));
        let doc = serde_json::json!({
            "valid": errors == 0,
            "source": {
                "origin": origin,
                "rev": checkout.rev,
                "commit": checkout.commit.as_ref().map(|c| &c.id),
                "dirty": checkout.dirty,
            },
            "errors": errors,
            "warnings": warnings,
            "diagnostics": loaded
                .diagnostics
                .iter()
                .map(|d| d.to_json(sources))
                .collect::<Vec<_>>(),
            "resources": counts,
            "quotas": loaded.config.as_ref().map(|c| &c.quotas),
            "skipped_folders": &sources.skipped,
        });
        let mut text = serde_json::to_string_pretty(&doc).map_err(anyhow::Error::from)?;
        text.push('\n');
        output::stdout(&text)?;
        return if errors == 0 {
            Ok(Outcome::Success)
        } else {
            Err(invalid(errors, warnings, &origin))
        };
    }
    super::report_diagnostics(&loaded, checkout.revision_note().as_deref(), cli.quiet());
    let Some(config) = &loaded.config else {
        return Err(invalid(errors, warnings, &origin));
    };
    let mut out = String::new();
    let counts = counts(&config.desired);
    let _ = writeln!(
        out,
        "Configuration in `{origin}` is valid: {} resources from {} files ({warnings} warning{}).",
        config.desired.len(),
        config.sources.files.len(),
        plural(warnings)
    );
    for (kind, n) in &counts {
        let _ = writeln!(out, "  {kind:<24} {n}");
    }
    if args.explain {
        let _ = writeln!(out);
        if config.quotas.is_empty() {
            let _ = writeln!(out, "No quota splits.");
        }
        for q in &config.quotas {
            let _ = writeln!(out, "{}", q.table());
        }
        let _ = writeln!(out, "Workspaces:");
        for r in config.desired.resources.values() {
            if let crate::model::Resource::Workspace(w) = r {
                let kind = if w.default { " (default)" } else { "" };
                let _ = writeln!(out, "  {} in {}{kind}", w.name, w.region);
            }
        }
        // Every folder the walk left out, so nothing vanishes from the desired state unseen.
        let skipped = &config.sources.skipped;
        let _ = writeln!(out);
        if skipped.is_empty() {
            let _ = writeln!(out, "Skipped folders: none");
        } else {
            let _ = writeln!(out, "Skipped folders:");
            for f in skipped {
                let holds = if f.holds_toml {
                    "; holds *.toml files"
                } else {
                    ""
                };
                let _ = writeln!(out, "  {}/ ({}{holds})", f.path.display(), f.reason);
            }
        }
    }
    output::stdout(&out)?;
    Ok(Outcome::Success)
}

/// The error of a config with errors (their diagnostics are printed already, or in the JSON).
fn invalid(errors: usize, warnings: usize, origin: &str) -> CommandError {
    CommandError::Other(anyhow::anyhow!(
        "validation found {errors} error{} and {warnings} warning{} in `{origin}`",
        plural(errors),
        plural(warnings),
    ))
}

fn counts(state: &crate::model::State) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for address in state.resources.keys() {
        *counts.entry(address.kind()).or_insert(0) += 1;
    }
    counts
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
