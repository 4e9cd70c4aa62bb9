//! `msctl import --out DIR`: the live account into config files (TOML and policy JSON) that
//! validate and plan to nothing against it.
//!
//! Without a config at `-C` the backend comes from `--backend`, `--state` and `--endpoint` alone
//! and DIR becomes a new config (msctl.toml included). With one, its backend is used and only
//! what it does not declare is written (adoption); DIR is then usually a folder inside it.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;

use super::session::{self, SessionOptions};
use super::{CommandError, Outcome, output};
use crate::backend::{Backend, Capability, ReadScope};
use crate::cli::{Cli, Format, ImportArgs};
use crate::config::{self, BackendKind, Config, Settings};
use crate::diagnostic::SourceSet;
use crate::import::{self, Imported, Layout, glob::Glob, write::Project};
use crate::model::{Resource, State, platform};

pub fn run(cli: &Cli, args: &ImportArgs) -> Result<Outcome, CommandError> {
    check_out_dir(&args.out, args.force)?;
    for region in &args.region {
        if !platform::REGIONS.contains(&region.as_str()) {
            let hint = match crate::diagnostic::suggest(region, platform::REGIONS.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("known regions: {}", platform::REGIONS.join(", ")),
            };
            return Err(CommandError::Usage(format!(
                "failed to import: unknown region `{region}`\nhint: {hint}"
            )));
        }
    }
    let existing = cli.dir().join("msctl.toml").is_file();
    let options = SessionOptions::from_cli(cli);
    let (config, backend) = if existing {
        let session = super::start(cli)?;
        let session = *session;
        (session.config, session.backend)
    } else {
        let config = empty_config();
        if options.backend.unwrap_or_default() == BackendKind::Local {
            let path = session::state_path(&options, &config);
            if !path.is_file() {
                return Err(CommandError::Usage(format!(
                    "failed to find the local state `{}`: there is no config (msctl.toml) in \
                     `{}` to name one\nhint: pass `--state PATH` (the local backend's database), \
                     `--backend aliyun`, or `-C` an existing config directory",
                    path.display(),
                    cli.dir().display()
                )));
            }
        }
        let backend = session::open_backend(&options, &config)?;
        (config, backend)
    };
    let regions: BTreeSet<String> = if args.region.is_empty() {
        platform::REGIONS.iter().map(|r| r.to_string()).collect()
    } else {
        args.region.iter().cloned().collect()
    };
    let scope = ReadScope {
        regions: regions.clone(),
        ram: true,
        pai_regions: regions,
    };
    let live = session::read_acknowledged(backend.as_ref(), &scope)?;
    let mut notes = missing_notes(backend.as_ref());
    let import_options = import::Options {
        select: args.select.iter().map(|s| Glob::new(s)).collect(),
        declared: if existing {
            config.desired.resources.keys().cloned().collect()
        } else {
            BTreeSet::new()
        },
        environments: environments(existing.then_some(&config)),
    };
    let mut imported = import::import(&live, &import_options);
    notes.append(&mut imported.notes);
    imported.notes = notes;
    if imported.is_empty() && existing {
        // Adoption with nothing left to adopt is the goal state, not a failure: a nightly
        // `import -C config` job stays green once everything live is declared.
        let text = format!(
            "Nothing to import: `{}` declares every live object{}; no files written.\n",
            cli.dir().display(),
            if args.select.is_empty() {
                String::new()
            } else {
                format!(" matching {}", args.select.join(", "))
            }
        );
        report(cli, &args.out, &imported, &[], text)?;
        return Ok(Outcome::Success);
    }
    if imported.is_empty() {
        // A new configuration (adoption with nothing to adopt returned above).
        let why = if args.select.is_empty() {
            "the account holds nothing to import".to_string()
        } else {
            format!(
                "nothing live matches {}",
                args.select
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return Err(anyhow::anyhow!(
            "failed to import: {why}\nhint: check `--region` and `--select` (address globs such \
             as `workspace.chatbot-*`)"
        )
        .into());
    }
    let layout = layout(cli, args, existing, &config, &imported, backend.name())?;
    let files = import::write::render(&imported, &layout);
    write_files(&args.out, &files.files)?;
    let text = summary(&args.out, &imported, &files.files);
    report(cli, &args.out, &imported, &files.files, text)?;
    Ok(Outcome::Success)
}

/// Prints what could not be imported (stderr) and the summary (stdout): the JSON document with
/// `--format json`, else `text`.
fn report(
    cli: &Cli,
    out: &Path,
    imported: &Imported,
    files: &[(String, String)],
    text: String,
) -> Result<(), CommandError> {
    for note in &imported.notes {
        diag!("note: {note}");
    }
    let text = match cli.format() {
        Format::Json => {
            let mut json = serde_json::to_string_pretty(&summary_json(out, imported, files))
                .map_err(anyhow::Error::from)?;
            json.push('\n');
            json
        }
        Format::Text | Format::Markdown => text,
    };
    output::stdout(&text)?;
    Ok(())
}

/// A new DIR, or an empty one; with `--force`, one whose files of the same names are replaced.
fn check_out_dir(out: &Path, force: bool) -> Result<(), CommandError> {
    let mut entries = match std::fs::read_dir(out) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(anyhow::Error::new(e)
                .context(format!(
                    "failed to read output directory `{}`",
                    out.display()
                ))
                .into());
        }
    };
    if entries.next().is_some() && !force {
        return Err(CommandError::Usage(format!(
            "failed to import into `{}`: the directory is not empty\nhint: choose a new \
             directory, or pass `--force` to replace the files import writes (others are left)",
            out.display()
        )));
    }
    Ok(())
}

/// A config that declares nothing, for opening a backend from the flags alone.
fn empty_config() -> Config {
    Config {
        settings: Settings::default(),
        desired: State::default(),
        origins: HashMap::new(),
        quotas: Vec::new(),
        sources: SourceSet::new(
            "<none>",
            Vec::new(),
            Arc::new(|_: &Path, _: u64| Err(std::io::Error::from(std::io::ErrorKind::NotFound))),
        ),
    }
}

/// What the backend cannot read, said once in the files and on stderr.
fn missing_notes(backend: &dyn Backend) -> Vec<String> {
    let caps = backend.capabilities();
    let mut notes = Vec::new();
    if caps.missing.contains(&Capability::WorkspaceMembers) {
        notes.push(format!(
            "workspace members: the {} backend cannot read them (console-only); only members \
             acknowledged with `msctl ack` are imported, others must be declared by hand",
            backend.name()
        ));
    }
    if caps.missing.contains(&Capability::ApiKeyOwner) {
        notes.push(format!(
            "API key owners: the {} backend names only keys the credentials created (or owners \
             acknowledged with `msctl ack`); check each key's `owner`",
            backend.name()
        ));
    }
    notes
}

/// Environment tokens: the existing config's (every declaration's `environments`, in order of
/// first appearance), else the usual names.
fn environments(config: Option<&Config>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(config) = config {
        let parsed = config::parse::parse(&config.sources, &mut Vec::new());
        for w in &parsed.workspaces {
            for e in &w.value.environments {
                if !out.contains(e) {
                    out.push(e.clone());
                }
            }
        }
    }
    if out.is_empty() {
        out = import::DEFAULT_ENVIRONMENTS
            .iter()
            .map(|e| e.to_string())
            .collect();
    }
    out
}

fn layout(
    cli: &Cli,
    args: &ImportArgs,
    existing: bool,
    config: &Config,
    imported: &Imported,
    backend: &str,
) -> anyhow::Result<Layout> {
    if !existing {
        let state = match (backend, cli.state()) {
            ("local", Some(state)) => relative_to(state, &args.out),
            _ => None,
        };
        return Ok(Layout {
            prefix: String::new(),
            project: Some(Project {
                name: "imported".to_string(),
                backend: backend.to_string(),
                state,
                endpoint: cli.endpoint().map(str::to_string),
            }),
            default_region: import::write::common_region(imported),
            backend: backend.to_string(),
            declared_policies: BTreeSet::new(),
        });
    }
    // Policy file paths are relative to the config directory: an output folder inside it is
    // named in them; one outside it cannot be (the files would not load together).
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("failed to create `{}`", args.out.display()))?;
    let root = cli
        .dir()
        .canonicalize()
        .with_context(|| format!("failed to read config directory `{}`", cli.dir().display()))?;
    let out = args
        .out
        .canonicalize()
        .with_context(|| format!("failed to read output directory `{}`", args.out.display()))?;
    let prefix = match out.strip_prefix(&root) {
        Ok(rel) if rel.as_os_str().is_empty() => String::new(),
        Ok(rel) => format!(
            "{}/",
            rel.components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/")
        ),
        Err(_) => {
            diag!(
                "note: `{}` is outside the config directory `{}`: move the files into it (policy \
                 file paths are written relative to the output directory)",
                args.out.display(),
                cli.dir().display()
            );
            String::new()
        }
    };
    let declared_policies = config
        .desired
        .resources
        .values()
        .filter_map(|r| match r {
            Resource::RamPolicy(p) => Some(p.name.clone()),
            _ => None,
        })
        .collect();
    Ok(Layout {
        prefix,
        project: None,
        default_region: config.settings.default_region.clone(),
        backend: backend.to_string(),
        declared_policies,
    })
}

/// `path` relative to `dir` (which may not exist yet), with `/` separators: msctl.toml names
/// the local database relative to its own directory. None when either cannot be resolved.
fn relative_to(path: &Path, dir: &Path) -> Option<String> {
    let absolute = |p: &Path| -> Option<PathBuf> {
        let p = if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir().ok()?.join(p)
        };
        // Resolve what exists (symlinks, `..`); keep the rest as written.
        let mut existing = p.as_path();
        let mut rest = Vec::new();
        while !existing.exists() {
            rest.push(existing.file_name()?.to_os_string());
            existing = existing.parent()?;
        }
        let mut resolved = existing.canonicalize().ok()?;
        resolved.extend(rest.iter().rev());
        Some(resolved)
    };
    let (path, dir) = (absolute(path)?, absolute(dir)?);
    let common = path
        .components()
        .zip(dir.components())
        .take_while(|(a, b)| a == b)
        .count();
    let mut parts: Vec<String> = dir
        .components()
        .skip(common)
        .map(|_| "..".to_string())
        .collect();
    parts.extend(
        path.components()
            .skip(common)
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    Some(parts.join("/"))
}

fn write_files(out: &Path, files: &[(String, String)]) -> anyhow::Result<()> {
    for (rel, text) in files {
        let path: PathBuf = out.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("failed to create `{}`", parent.display()))?;
        }
        std::fs::write(&path, text)
            .with_context(|| format!("failed to write `{}`", path.display()))?;
    }
    Ok(())
}

/// What was written, for the terminal.
fn summary(out: &Path, imported: &Imported, files: &[(String, String)]) -> String {
    let d = &imported.declarations;
    let folded = imported
        .workspaces
        .iter()
        .filter(|w| !w.environments.is_empty())
        .count();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "Imported {} live objects into `{}`:",
        imported_objects(imported),
        out.display()
    );
    let _ = writeln!(
        text,
        "  workspaces        {} in {} declaration{} ({folded} folded over environments)",
        d.workspaces.len(),
        imported.workspaces.len(),
        if imported.workspaces.len() == 1 {
            ""
        } else {
            "s"
        }
    );
    let _ = writeln!(text, "  RAM users         {}", d.users.len());
    let _ = writeln!(text, "  RAM groups        {}", d.groups.len());
    let _ = writeln!(text, "  RAM roles         {}", d.roles.len());
    let _ = writeln!(text, "  custom policies   {}", d.policies.len());
    let _ = writeln!(text, "  PAI workspaces    {}", d.pai.len());
    let _ = writeln!(text, "Files:");
    for (rel, _) in files {
        let _ = writeln!(text, "  {rel}");
    }
    let _ = writeln!(
        text,
        "Next: `msctl -C {} validate`, then `msctl -C {} plan` (it should show no changes).",
        out.display(),
        out.display()
    );
    text
}

/// What was written, for machines (`--format json`).
fn summary_json(out: &Path, imported: &Imported, files: &[(String, String)]) -> serde_json::Value {
    let d = &imported.declarations;
    serde_json::json!({
        "out": out.display().to_string(),
        "objects": imported_objects(imported),
        "workspaces": d.workspaces.len(),
        "declarations": imported
            .workspaces
            .iter()
            .map(|w| serde_json::json!({ "name": w.name, "environments": w.environments }))
            .collect::<Vec<_>>(),
        "ram_users": d.users.len(),
        "ram_groups": d.groups.len(),
        "ram_roles": d.roles.len(),
        "custom_policies": d.policies.len(),
        "pai_workspaces": d.pai.len(),
        "files": files.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        "notes": imported.notes,
    })
}

/// How many live objects the written declarations stand for.
fn imported_objects(imported: &Imported) -> usize {
    let d = &imported.declarations;
    let ws: usize = d
        .workspaces
        .iter()
        .map(|w| {
            1 + w.fields.models.len()
                + w.fields.limits.len()
                + w.fields.members.len()
                + w.fields.api_keys.len()
        })
        .sum();
    let users: usize = d.users.iter().map(|u| 1 + u.policies.len()).sum();
    let groups: usize = d
        .groups
        .iter()
        .map(|g| 1 + g.members.len() + g.policies.len())
        .sum();
    let roles: usize = d.roles.iter().map(|r| 1 + r.policies.len()).sum();
    let pai: usize = d.pai.iter().map(|p| 1 + p.members.len()).sum();
    ws + users + groups + roles + d.policies.len() + pai
}
