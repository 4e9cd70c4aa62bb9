//! Diagnostics about the user's input: severity, message, location, hint; rendered as
//! `file:line:col` with the offending line and a caret, like rustc and just.

use std::fmt::{self, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

/// Index of a file in a [`SourceSet`].
pub type FileId = usize;

/// A byte range in one source file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Span {
    pub file: FileId,
    pub range: Range<usize>,
}

/// One loaded text file: its display path (relative to the config directory) and contents.
#[derive(Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(path: PathBuf, text: String) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceFile {
            path,
            text,
            line_starts,
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let col = self.text[start..offset].chars().count();
        (line + 1, col + 1)
    }

    /// The text of a 1-based line, without its newline.
    pub fn line_text(&self, line: usize) -> &str {
        let start = self.line_starts[line - 1];
        let end = self
            .line_starts
            .get(line)
            .map(|&e| e - 1)
            .unwrap_or(self.text.len());
        self.text[start..end].trim_end_matches('\r')
    }
}

/// Reads a file that a config refers to (a policy JSON file), relative to the config directory.
pub type ExtraReader = Arc<dyn Fn(&Path) -> std::io::Result<String> + Send + Sync>;

/// The config files of one desired state, from a directory or a git revision.
pub struct SourceSet {
    /// Where the files came from, for messages (`examples/quickstart`, `HEAD~2:examples/quickstart`).
    pub origin: String,
    pub files: Vec<SourceFile>,
    extra: ExtraReader,
}

impl fmt::Debug for SourceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceSet")
            .field("origin", &self.origin)
            .field("files", &self.files.len())
            .finish()
    }
}

impl SourceSet {
    /// Files given as (path, text); referenced files are read with `extra`.
    pub fn new(
        origin: impl Into<String>,
        files: Vec<(PathBuf, String)>,
        extra: ExtraReader,
    ) -> Self {
        let mut files: Vec<SourceFile> = files
            .into_iter()
            .map(|(p, t)| SourceFile::new(p, t))
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        SourceSet {
            origin: origin.into(),
            files,
            extra,
        }
    }

    /// In-memory sources, for tests: referenced files are looked up among `files` too.
    pub fn from_strings(files: &[(&str, &str)]) -> Self {
        let owned: Vec<(PathBuf, String)> = files
            .iter()
            .map(|(p, t)| (PathBuf::from(p), t.to_string()))
            .collect();
        let lookup = owned.clone();
        SourceSet::new(
            "<memory>",
            owned,
            Arc::new(move |path: &Path| {
                lookup
                    .iter()
                    .find(|(p, _)| p == path)
                    .map(|(_, t)| t.clone())
                    .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
            }),
        )
    }

    /// Reads a file the config refers to (a policy JSON file), relative to the config directory.
    pub fn read_extra(&self, path: &Path) -> std::io::Result<String> {
        (self.extra)(path)
    }

    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id]
    }

    /// `path:line:col` of a span.
    pub fn location(&self, span: &Span) -> String {
        let file = self.file(span.file);
        let (line, col) = file.line_col(span.range.start);
        format!("{}:{line}:{col}", file.path.display())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem with the user's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub span: Option<Span>,
    /// What to do about it.
    pub hint: Option<String>,
    /// Related places, e.g. "first defined here".
    pub related: Vec<(Span, String)>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span: None,
            hint: None,
            related: Vec::new(),
        }
    }

    pub fn warning(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(message)
        }
    }

    pub fn at(mut self, span: Span) -> Self {
        self.span = Some(span);
        self
    }

    pub fn at_opt(mut self, span: Option<Span>) -> Self {
        self.span = span;
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn related(mut self, span: Span, note: impl Into<String>) -> Self {
        self.related.push((span, note.into()));
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders the diagnostic with its source excerpt and caret.
    pub fn render(&self, sources: &SourceSet) -> String {
        let mut out = String::new();
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{label}: {}", self.message);
        if let Some(span) = &self.span {
            excerpt(&mut out, sources, span, None);
        }
        for (span, note) in &self.related {
            excerpt(&mut out, sources, span, Some(note));
        }
        if let Some(hint) = &self.hint {
            let _ = writeln!(out, "  = hint: {hint}");
        }
        out
    }

    /// A JSON-friendly view (for `validate --format json`).
    pub fn to_json(&self, sources: &SourceSet) -> serde_json::Value {
        let loc = self.span.as_ref().map(|s| {
            let f = sources.file(s.file);
            let (line, column) = f.line_col(s.range.start);
            serde_json::json!({"file": f.path.display().to_string(), "line": line, "column": column})
        });
        serde_json::json!({
            "severity": self.severity,
            "message": self.message,
            "location": loc,
            "hint": self.hint,
        })
    }
}

fn excerpt(out: &mut String, sources: &SourceSet, span: &Span, note: Option<&str>) {
    let file = sources.file(span.file);
    let (line, col) = file.line_col(span.range.start);
    let text = file.line_text(line);
    // The caret covers the span on its first line (at least one character).
    let (end_line, end_col) = file.line_col(span.range.end.max(span.range.start));
    let width = if end_line == line && end_col > col {
        end_col - col
    } else {
        1
    };
    let gutter = line.to_string().len();
    let pad = " ".repeat(gutter);
    let _ = writeln!(out, "{pad}--> {}:{line}:{col}", file.path.display());
    let _ = writeln!(out, "{pad} |");
    let _ = writeln!(out, "{line} | {text}");
    let caret = format!("{}{}", " ".repeat(col - 1), "^".repeat(width));
    match note {
        Some(n) => {
            let _ = writeln!(out, "{pad} | {caret} {n}");
        }
        None => {
            let _ = writeln!(out, "{pad} | {caret}");
        }
    }
}

/// Suggests the closest known name for a misspelt one (`inferance` → `inference`).
pub fn suggest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(input, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_excerpt_and_caret() {
        let sources = SourceSet::from_strings(&[(
            "ws.toml",
            "[[workspace]]\nname = \"a\"\nregion = \"cn-beijng\"\n",
        )]);
        let d = Diagnostic::error("unknown region `cn-beijng`")
            .at(Span {
                file: 0,
                range: 34..45,
            })
            .hint("did you mean `cn-beijing`?");
        assert_eq!(
            d.render(&sources),
            "error: unknown region `cn-beijng`\n --> ws.toml:3:10\n  |\n3 | region = \"cn-beijng\"\n  |          ^^^^^^^^^^^\n  = hint: did you mean `cn-beijing`?\n"
        );
    }

    #[test]
    fn suggests_near_misses_only() {
        assert_eq!(
            suggest("inferance", ["inference", "fine_tune", "deploy"]),
            Some("inference")
        );
        assert_eq!(suggest("zzz", ["inference", "deploy"]), None);
    }
}
