//! `msctl init [DIR]`: a starter configuration that validates, plans and applies on the local
//! backend as written: msctl.toml, a workspace declaration, a quota split, a RAM user, and a
//! `.gitignore` keeping msctl's state folder out of git. It never overwrites a file.

use std::path::Path;

use anyhow::Context as _;

use super::{CommandError, Outcome, output};
use crate::cli::{Cli, InitArgs};

/// The starter files: name, what it holds (for the summary), and its text.
pub const STARTER: &[(&str, &str, &str)] = &[
    (
        "msctl.toml",
        "project settings: the local backend, no cloud account needed",
        MSCTL_TOML,
    ),
    (
        "workspaces.toml",
        "workspaces app-dev and app-prod, from one declaration",
        WORKSPACES_TOML,
    ),
    (
        "quota.toml",
        "qwen-plus requests per minute, split between them",
        QUOTA_TOML,
    ),
    ("ram.toml", "the RAM user alice", RAM_TOML),
    (
        ".gitignore",
        "keeps .msctl/ (local state, ledger) out of git",
        GITIGNORE,
    ),
];

const MSCTL_TOML: &str = r#"# Project settings. Every other *.toml file in this folder
# (and subfolders) is merged in.
# Editor completion and checks: `msctl schema config > msctl.schema.json` here, then make
# `#:schema ./msctl.schema.json` the first line of each file (README: Configuration reference).

[project]
name = "starter"
default_region = "cn-beijing"  # for workspaces that name no region

[backend]
kind = "local"                 # the embedded SQLite backend (.msctl/local.db); `aliyun` for the real APIs

[safety]
allow_delete = false           # deleting workspaces or RAM users needs --allow-delete
unallocated = "deny"           # every workspace calling a split model needs an allocation
# accept = []                  # addresses of warnings you have reviewed: `--quiet` hides them
"#;

const WORKSPACES_TOML: &str = r#"# One declaration, two workspaces: app-dev and app-prod.

[[workspace]]
name = "app-{env}"
environments = ["dev", "prod"]
description = "An application, one workspace per environment"
models = [{ model = "qwen-plus" }]
members = [{ user = "alice", administrator = true }]
"#;

const QUOTA_TOML: &str = r#"# The account's qwen-plus requests per minute in Beijing,
# split between the workspaces; each workspace's rate limit is derived from its share.

[[quota]]
region = "cn-beijing"
model = "qwen-plus"
requests_per_minute = 600
reserve = "10%"
allocations = { "app-prod" = "60%", "app-dev" = "30%" }
"#;

const RAM_TOML: &str = r#"# RAM identities. Alice administers both workspaces (see workspaces.toml).

[[ram.user]]
name = "alice"
display_name = "Alice"
"#;

const GITIGNORE: &str = "# msctl's local state and ledger: never configuration.\n.msctl/\n";

pub fn run(cli: &Cli, args: &InitArgs) -> Result<Outcome, CommandError> {
    let dir = args.dir.as_deref().unwrap_or(cli.dir());
    write_starter(dir)?;
    let shown = dir.display();
    let mut out = format!("Wrote a starter configuration to `{shown}`:\n");
    for (name, what, _) in STARTER {
        out.push_str(&format!("  {name:<16} {what}\n"));
    }
    out.push_str(&format!(
        "\nNext:\n  msctl validate -C {shown}\n  msctl plan -C {shown}\n  msctl apply -C {shown}\n"
    ));
    output::stdout(&out)?;
    Ok(Outcome::Success)
}

/// Writes the starter files into `dir` (created if missing), or none of them when any exists
/// already: a half-written starter would mix with what was there.
pub fn write_starter(dir: &Path) -> Result<(), CommandError> {
    let existing: Vec<String> = STARTER
        .iter()
        .filter(|(name, _, _)| dir.join(name).symlink_metadata().is_ok())
        .map(|(name, _, _)| format!("`{name}`"))
        .collect();
    if !existing.is_empty() {
        return Err(CommandError::Usage(format!(
            "refusing to write a starter configuration into `{}`: {} exist{} already\nhint: \
             run `msctl init NEW_DIR` with a new or empty directory; msctl never overwrites a file",
            dir.display(),
            existing.join(", "),
            if existing.len() == 1 { "s" } else { "" }
        )));
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("failed to create directory `{}`", dir.display()))?;
    for (name, _, text) in STARTER {
        let path = dir.join(name);
        // `create_new`: a file that appeared since the check above is still never overwritten.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("failed to create `{}`", path.display()))?;
        std::io::Write::write_all(&mut file, text.as_bytes())
            .with_context(|| format!("failed to write `{}`", path.display()))?;
    }
    Ok(())
}
