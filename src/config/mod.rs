//! Desired state from TOML: load a config directory (or any set of files), parse, expand, check.
//!
//! `load` returns every diagnostic at once; the config is usable only when none is an error.

pub mod build;
pub mod files;
pub mod parse;
pub mod quota;
pub mod raw;
pub mod rules;

use std::collections::HashMap;

use crate::diagnostic::{Diagnostic, SourceSet, Span};
use crate::model::{Address, State};
pub use files::sources_from_dir;
pub use quota::QuotaSplit;

/// Which backend a project reconciles against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendKind {
    #[default]
    Local,
    Aliyun,
}

/// A sub-workspace authorizing a split model without an allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnallocatedPolicy {
    #[default]
    Warn,
    Deny,
}

/// Project settings from msctl.toml, with defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    pub project_name: Option<String>,
    pub account_uid: Option<String>,
    pub default_region: Option<String>,
    pub backend: BackendKind,
    /// Local database path as written (relative to the config directory).
    pub state: Option<String>,
    pub endpoint: Option<String>,
    pub allow_delete: bool,
    pub prune_ram: bool,
    pub unallocated: UnallocatedPolicy,
    /// `project.git_notes`: record applies as git notes (default true).
    pub git_notes: bool,
    /// `safety.accept`: addresses whose config warnings are acknowledged.
    pub accept: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            project_name: None,
            account_uid: None,
            default_region: None,
            backend: BackendKind::default(),
            state: None,
            endpoint: None,
            allow_delete: false,
            prune_ram: false,
            unallocated: UnallocatedPolicy::default(),
            git_notes: true,
            accept: Vec::new(),
        }
    }
}

/// A loaded, valid desired state.
pub struct Config {
    pub settings: Settings,
    pub desired: State,
    /// Where each resource was declared.
    pub origins: HashMap<Address, Span>,
    pub quotas: Vec<QuotaSplit>,
    pub sources: SourceSet,
}

/// The outcome of loading: diagnostics always, a config only when there is no error.
pub struct Loaded {
    pub config: Option<Config>,
    pub diagnostics: Vec<Diagnostic>,
    /// Kept for rendering diagnostics when there is no config.
    pub sources: Option<SourceSet>,
}

impl Loaded {
    /// The sources the diagnostics point into.
    pub fn sources(&self) -> &SourceSet {
        match (&self.config, &self.sources) {
            (Some(c), _) => &c.sources,
            (None, Some(s)) => s,
            (None, None) => unreachable!("Loaded always holds its sources"),
        }
    }
}

/// Parses and checks a set of config files.
pub fn load(sources: SourceSet) -> Loaded {
    let mut diags = Vec::new();
    if sources.files.is_empty() {
        diags.push(
            Diagnostic::error(format!("no config files (*.toml) in `{}`", sources.origin))
                .hint("pass the config directory with `-C DIR`, or create msctl.toml"),
        );
    }
    // Declarations in a folder the walk skipped would vanish from the desired state unseen,
    // and what they declared would be planned for deletion.
    for folder in sources.skipped.iter().filter(|f| f.holds_toml) {
        diags.push(
            Diagnostic::warning(format!(
                "folder `{}` is skipped ({}), but it holds *.toml files: what they \
                        declare is not part of the configuration",
                folder.path.display(),
                folder.reason
            ))
            .hint(
                "msctl skips hidden folders and `target`; move config files out of it, or \
                    rename it",
            ),
        );
    }
    let parsed = parse::parse(&sources, &mut diags);
    let settings = settings(&parsed, &mut diags);
    let built = build::build(&parsed, &settings, &sources, &mut diags);
    accept_warnings(&parsed, &mut diags);
    drop(parsed);
    // Errors first, each group in file order, so output is stable; then by message, so that
    // identical diagnostics are neighbours.
    diags.sort_by(|a, b| {
        let key = |d: &Diagnostic| (d.severity, d.span.as_ref().map(|s| (s.file, s.range.start)));
        key(a).cmp(&key(b)).then_with(|| a.message.cmp(&b.message))
    });
    // One declaration expanded per environment can repeat the same problem at the same place.
    diags.dedup();
    if diags.iter().any(Diagnostic::is_error) {
        return Loaded {
            config: None,
            diagnostics: diags,
            sources: Some(sources),
        };
    }
    Loaded {
        config: Some(Config {
            settings,
            desired: built.desired,
            origins: built.origins,
            quotas: built.quotas,
            sources,
        }),
        diagnostics: diags,
        sources: None,
    }
}

fn settings(parsed: &parse::Parsed, diags: &mut Vec<Diagnostic>) -> Settings {
    let mut s = Settings::default();
    if let Some(p) = &parsed.project {
        s.project_name = p.value.name.clone();
        s.account_uid = p.value.account_uid.clone();
        s.default_region = p.value.default_region.clone();
        s.git_notes = p.value.git_notes.unwrap_or(true);
        if let Some(r) = &s.default_region
            && !rules::REGIONS.contains(&r.as_str())
        {
            let span = parsed.locator.span(p, &crate::path!["default_region"]);
            diags.push(
                Diagnostic::error(format!("unknown region `{r}`"))
                    .at(span)
                    .hint(format!("known regions: {}", rules::REGIONS.join(", "))),
            );
        }
    }
    if let Some(b) = &parsed.backend {
        match b.value.kind.as_deref() {
            None | Some("local") => s.backend = BackendKind::Local,
            Some("aliyun") => s.backend = BackendKind::Aliyun,
            Some(other) => {
                let span = parsed.locator.span(b, &crate::path!["kind"]);
                diags.push(
                    Diagnostic::error(format!("unknown backend `{other}`"))
                        .at(span)
                        .hint("write `local` or `aliyun`"),
                );
            }
        }
        s.state = b.value.state.clone();
        s.endpoint = b.value.endpoint.clone();
    }
    if let Some(f) = &parsed.safety {
        s.allow_delete = f.value.allow_delete.unwrap_or(false);
        s.prune_ram = f.value.prune_ram.unwrap_or(false);
        s.accept = f.value.accept.clone().unwrap_or_default();
        match f.value.unallocated.as_deref() {
            None | Some("warn") => {}
            Some("deny") => s.unallocated = UnallocatedPolicy::Deny,
            Some(other) => {
                let span = parsed.locator.span(f, &crate::path!["unallocated"]);
                diags.push(
                    Diagnostic::error(format!("unknown value `{other}` for `unallocated`"))
                        .at(span)
                        .hint("write `warn` or `deny`"),
                );
            }
        }
    }
    s
}

/// Marks the warnings `safety.accept` acknowledges (by the address each is about), and warns
/// about every accepted address that no warning is about: a typo there would otherwise hide
/// nothing, silently, and an acknowledgement that outlived its warning is worth removing.
fn accept_warnings(parsed: &parse::Parsed, diags: &mut Vec<Diagnostic>) {
    let Some(safety) = &parsed.safety else {
        return;
    };
    let Some(accept) = &safety.value.accept else {
        return;
    };
    let subjects: std::collections::BTreeSet<String> = diags
        .iter()
        .filter(|d| !d.is_error())
        .filter_map(|d| d.subject.clone())
        .collect();
    for d in diags.iter_mut() {
        if !d.is_error() && d.subject.as_ref().is_some_and(|s| accept.contains(s)) {
            d.accepted = true;
        }
    }
    for (i, address) in accept.iter().enumerate() {
        if subjects.contains(address) {
            continue;
        }
        let span = parsed.locator.span(safety, &crate::path!["accept", i]);
        let hint = match crate::diagnostic::suggest(address, subjects.iter().map(String::as_str)) {
            Some(s) => format!("did you mean `{s}`?"),
            None if subjects.is_empty() => {
                "no config warning names an address; remove the entry".to_string()
            }
            None => format!(
                "addresses that warnings name: {}; remove the entry if its warning is gone",
                subjects
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        diags.push(
            Diagnostic::warning(format!(
                "`safety.accept` names `{address}`, but no warning is about it"
            ))
            .at(span)
            .hint(hint),
        );
    }
}
