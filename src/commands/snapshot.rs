//! `msctl snapshot --out FILE`: reads live state once, with credentials, and saves it with what
//! planning needs besides (msctl's ledger, the backend's capabilities and caller, the scope), so
//! that `plan --live FILE`, `drift --live FILE` and `access --live FILE` run where no credentials
//! may go: a pull request from a fork.

use anyhow::Context as _;
use serde::Serialize;

use super::{CommandError, Outcome, output};
use crate::cli::{Cli, Format, SnapshotArgs};
use crate::model::ReadScope;
use crate::plan::Snapshot;
use crate::render::text::short_commit;

pub fn run(cli: &Cli, args: &SnapshotArgs) -> Result<Outcome, CommandError> {
    let session = super::start(cli)?;
    let backend = session.backend.as_ref();
    let scope = session.scope()?;
    // Before the read: the state is at least this new, so the age said later is never too low.
    let taken_at = u64::try_from(super::session::now()?).unwrap_or(0);
    let live = backend.read(&scope).with_context(|| {
        format!(
            "failed to read live state from the {} backend",
            backend.name()
        )
    })?;
    let ledger = backend.load_ledger().with_context(|| {
        format!(
            "failed to read msctl's ledger from the {} backend",
            backend.name()
        )
    })?;
    let snapshot = Snapshot::take(backend, scope, live, ledger, taken_at);
    snapshot.save(&args.out).map_err(anyhow::Error::new)?;
    let summary = Summary::of(&snapshot, &args.out.display().to_string());
    match cli.format() {
        Format::Json => output::stdout(crate::render::json::to_pretty_json(&summary).trim_end())?,
        Format::Text | Format::Markdown => output::stdout(&summary.text())?,
    }
    Ok(Outcome::Success)
}

/// What `msctl snapshot` prints about the file it wrote (never its contents).
#[derive(Debug, Serialize)]
struct Summary {
    file: String,
    backend: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    caller: Option<String>,
    taken_at: u64,
    scope: ReadScope,
    api_versions: std::collections::BTreeMap<String, String>,
    objects: usize,
    owned: usize,
    fingerprint: String,
}

impl Summary {
    fn of(snapshot: &Snapshot, file: &str) -> Summary {
        Summary {
            file: file.to_string(),
            backend: snapshot.backend.clone(),
            account: snapshot.account.clone(),
            caller: snapshot.caller.clone(),
            taken_at: snapshot.taken_at,
            scope: snapshot.scope.clone(),
            api_versions: snapshot.api_versions.clone(),
            objects: snapshot.live.len(),
            owned: snapshot.ledger.owned.len(),
            fingerprint: snapshot.fingerprint.clone(),
        }
    }

    fn text(&self) -> String {
        let mut backend = self.backend.clone();
        let who: Vec<String> = [
            self.account.as_ref().map(|a| format!("account {a}")),
            self.caller.as_ref().map(|c| format!("caller {c}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !who.is_empty() {
            backend.push_str(&format!(" ({})", who.join(", ")));
        }
        let mut scope: Vec<String> = Vec::new();
        if !self.scope.regions.is_empty() {
            scope.push(format!(
                "Model Studio {}",
                self.scope
                    .regions
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if self.scope.ram {
            scope.push("RAM".to_string());
        }
        if !self.scope.pai_regions.is_empty() {
            scope.push(format!(
                "PAI {}",
                self.scope
                    .pai_regions
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let versions = if self.api_versions.is_empty() {
            "none (no API is called)".to_string()
        } else {
            self.api_versions
                .iter()
                .map(|(product, version)| format!("{product} {version}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "Saved a snapshot of live state to `{file}`:\n  \
             backend:      {backend}\n  \
             taken:        {taken}\n  \
             scope:        {scope}\n  \
             API versions: {versions}\n  \
             objects:      {objects} live, {owned} owned by msctl (ledger)\n  \
             fingerprint:  {fingerprint}\n\
             Plan from it without credentials: `msctl plan --live {file}`.",
            file = self.file,
            taken = crate::model::time::utc(i64::try_from(self.taken_at).unwrap_or(i64::MAX)),
            scope = if scope.is_empty() {
                "nothing".to_string()
            } else {
                scope.join("; ")
            },
            objects = self.objects,
            owned = self.owned,
            fingerprint = short_commit(&self.fingerprint),
        )
    }
}
