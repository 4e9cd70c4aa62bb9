//! Diagnostics about the user's input: severity, message, location, hint; rendered as
//! `file:line:col` with the offending line and a caret, like rustc and just.

use std::fmt::{self, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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
        let offset = floor_char_boundary(&self.text, offset);
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

/// Reads a file that a config refers to (a policy JSON file), relative to the config directory,
/// refusing one larger than the given number of bytes.
pub type ExtraReader = Arc<dyn Fn(&Path, u64) -> std::io::Result<String> + Send + Sync>;

/// A folder the config loader did not read, and why: `validate --explain` lists them, and one
/// that holds `*.toml` files is a warning (its declarations would silently vanish otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedFolder {
    /// Relative to the config directory.
    pub path: PathBuf,
    /// Why, in words: "hidden folder", "`target` folder", "already read as `x`".
    pub reason: String,
    /// Whether it holds `*.toml` files (at any depth).
    pub holds_toml: bool,
}

/// The config files of one desired state, from a directory or a git revision.
pub struct SourceSet {
    /// Where the files came from, for messages (`examples/quickstart`,
    /// `HEAD~2:examples/quickstart`).
    pub origin: String,
    pub files: Vec<SourceFile>,
    /// Folders the walk skipped.
    pub skipped: Vec<SkippedFolder>,
    extra: ExtraReader,
    /// Every referenced file read so far (paths as the config names them), so that the dirty
    /// check can cover files outside the config directory too.
    extra_read: Mutex<Vec<PathBuf>>,
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
            skipped: Vec::new(),
            extra,
            extra_read: Mutex::new(Vec::new()),
        }
    }

    /// The same set, with the folders its walk skipped.
    pub fn with_skipped(mut self, mut skipped: Vec<SkippedFolder>) -> Self {
        skipped.sort_by(|a, b| a.path.cmp(&b.path));
        self.skipped = skipped;
        self
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
            Arc::new(move |path: &Path, limit: u64| {
                let text = lookup
                    .iter()
                    .find(|(p, _)| p == path)
                    .map(|(_, t)| t.clone())
                    .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))?;
                if text.len() as u64 > limit {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("it is larger than {limit} bytes"),
                    ));
                }
                Ok(text)
            }),
        )
    }

    /// Reads a file the config refers to (a policy JSON file), relative to the config directory,
    /// refusing one larger than `limit` bytes without reading past the limit.
    pub fn read_extra(&self, path: &Path, limit: u64) -> std::io::Result<String> {
        let text = (self.extra)(path, limit)?;
        self.extra_read
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(path.to_path_buf());
        Ok(text)
    }

    /// Every file the configuration read, relative to the config directory: the config files,
    /// then the referenced files read so far.
    pub fn files_read(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = self.files.iter().map(|f| f.path.clone()).collect();
        out.extend(
            self.extra_read
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .cloned(),
        );
        out
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
    /// The resource address a warning is about (`ram.user.carol.policy.AliyunBailianFullAccess`),
    /// which msctl.toml's `safety.accept` can acknowledge.
    pub subject: Option<String>,
    /// Acknowledged by `safety.accept`: `--quiet` hides it.
    pub accepted: bool,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span: None,
            hint: None,
            related: Vec::new(),
            subject: None,
            accepted: false,
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

    /// Names the resource address the diagnostic is about.
    pub fn about(mut self, subject: impl ToString) -> Self {
        self.subject = Some(subject.to_string());
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
        if self.accepted {
            let _ = writeln!(
                out,
                "  = note: acknowledged in msctl.toml (`safety.accept`); `--quiet` hides it"
            );
        }
        out
    }

    /// A JSON-friendly view (for `validate --format json`).
    pub fn to_json(&self, sources: &SourceSet) -> serde_json::Value {
        let loc = self.span.as_ref().map(|s| {
            let f = sources.file(s.file);
            let (line, column) = f.line_col(s.range.start);
            serde_json::json!({"file": f.path.display().to_string(), "line": line,
                               "column": column})
        });
        serde_json::json!({
            "severity": self.severity,
            "message": self.message,
            "location": loc,
            "hint": self.hint,
            "subject": self.subject,
            "accepted": self.accepted,
        })
    }
}

fn excerpt(out: &mut String, sources: &SourceSet, span: &Span, note: Option<&str>) {
    let file = sources.file(span.file);
    let start = floor_char_boundary(&file.text, span.range.start);
    let (line, col) = file.line_col(start);
    let text = file.line_text(line);
    let line_start = file.line_starts[line - 1];
    // The caret covers the span on its first line (at least one column), measured in terminal
    // columns: a tab is shown as four spaces, a wide character (CJK, most emoji) takes two.
    let from = floor_char_boundary(text, start - line_start);
    let to = floor_char_boundary(text, span.range.end.saturating_sub(line_start).max(from));
    let pad_width = display_width(&text[..from]);
    let width = display_width(&text[from..to]).max(1);
    let gutter = line.to_string().len();
    let pad = " ".repeat(gutter);
    let _ = writeln!(out, "{pad}--> {}:{line}:{col}", file.path.display());
    let _ = writeln!(out, "{pad} |");
    let _ = writeln!(out, "{line} | {}", text.replace('\t', TAB));
    let caret = format!("{}{}", " ".repeat(pad_width), "^".repeat(width));
    match note {
        Some(n) => {
            let _ = writeln!(out, "{pad} | {caret} {n}");
        }
        None => {
            let _ = writeln!(out, "{pad} | {caret}");
        }
    }
}

/// How a tab is shown in an excerpt (as rustc does): a fixed width keeps the caret aligned
/// whatever the terminal's tab stops.
const TAB: &str = "    ";

/// The largest char boundary of `s` at or before `i` (clamped to `s`).
fn floor_char_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Terminal columns `s` takes in an excerpt.
fn display_width(s: &str) -> usize {
    s.chars()
        .map(|c| if c == '\t' { TAB.len() } else { char_width(c) })
        .sum()
}

/// Terminal columns of one character: 0 for combining marks and zero-width characters, 2 for
/// East Asian wide and fullwidth characters and emoji, 1 otherwise. The ranges are the blocks of
/// Unicode's East Asian Width W/F classes that occur in practice (CJK, Hangul, kana, fullwidth
/// forms, emoji); a rare character outside them shifts a caret by one column, no more.
fn char_width(c: char) -> usize {
    const ZERO: &[(u32, u32)] = &[
        (0x0300, 0x036F),
        (0x0483, 0x0489),
        (0x0591, 0x05BD),
        (0x0610, 0x061A),
        (0x064B, 0x065F),
        (0x0E31, 0x0E31),
        (0x0E34, 0x0E3A),
        (0x0E47, 0x0E4E),
        (0x1AB0, 0x1AFF),
        (0x1DC0, 0x1DFF),
        (0x200B, 0x200F),
        (0x202A, 0x202E),
        (0x2060, 0x2064),
        (0x20D0, 0x20FF),
        (0xFE00, 0xFE0F),
        (0xFE20, 0xFE2F),
        (0xFEFF, 0xFEFF),
        (0xE0100, 0xE01EF),
    ];
    const WIDE: &[(u32, u32)] = &[
        (0x1100, 0x115F),
        (0x231A, 0x231B),
        (0x2329, 0x232A),
        (0x23E9, 0x23EC),
        (0x23F0, 0x23F0),
        (0x23F3, 0x23F3),
        (0x25FD, 0x25FE),
        (0x2614, 0x2615),
        (0x2648, 0x2653),
        (0x267F, 0x267F),
        (0x2693, 0x2693),
        (0x26A1, 0x26A1),
        (0x26AA, 0x26AB),
        (0x26BD, 0x26BE),
        (0x26C4, 0x26C5),
        (0x26CE, 0x26CE),
        (0x26D4, 0x26D4),
        (0x26EA, 0x26EA),
        (0x26F2, 0x26F3),
        (0x26F5, 0x26F5),
        (0x26FA, 0x26FA),
        (0x26FD, 0x26FD),
        (0x2705, 0x2705),
        (0x270A, 0x270B),
        (0x2728, 0x2728),
        (0x274C, 0x274C),
        (0x274E, 0x274E),
        (0x2753, 0x2755),
        (0x2757, 0x2757),
        (0x2795, 0x2797),
        (0x27B0, 0x27B0),
        (0x27BF, 0x27BF),
        (0x2B1B, 0x2B1C),
        (0x2B50, 0x2B50),
        (0x2B55, 0x2B55),
        (0x2E80, 0x303E),
        (0x3041, 0x33FF),
        (0x3400, 0x4DBF),
        (0x4E00, 0x9FFF),
        (0xA000, 0xA4CF),
        (0xA960, 0xA97F),
        (0xAC00, 0xD7A3),
        (0xF900, 0xFAFF),
        (0xFE10, 0xFE19),
        (0xFE30, 0xFE6F),
        (0xFF00, 0xFF60),
        (0xFFE0, 0xFFE6),
        (0x16FE0, 0x16FE4),
        (0x17000, 0x18CFF),
        (0x1B000, 0x1B2FF),
        (0x1F004, 0x1F004),
        (0x1F0CF, 0x1F0CF),
        (0x1F18E, 0x1F18E),
        (0x1F191, 0x1F19A),
        (0x1F200, 0x1F251),
        (0x1F300, 0x1F64F),
        (0x1F680, 0x1F6FF),
        (0x1F7E0, 0x1F7EB),
        (0x1F90C, 0x1F9FF),
        (0x1FA70, 0x1FAFF),
        (0x20000, 0x2FFFD),
        (0x30000, 0x3FFFD),
    ];
    let cp = u32::from(c);
    let within = |ranges: &[(u32, u32)]| {
        let i = ranges.partition_point(|&(_, hi)| hi < cp);
        ranges.get(i).is_some_and(|&(lo, _)| lo <= cp)
    };
    if cp < 0x20 || (0x7F..0xA0).contains(&cp) || within(ZERO) {
        0
    } else if within(WIDE) {
        2
    } else {
        1
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
            "error: unknown region `cn-beijng`\n --> ws.toml:3:10\n  |\n\
                3 | region = \"cn-beijng\"\n  |          ^^^^^^^^^^^\n  = hint: did you mean \
                `cn-beijing`?\n"
        );
    }

    #[test]
    fn the_caret_is_measured_in_terminal_columns() {
        // A tab, a wide character before the span, and an emoji and a combining accent in it.
        let text = "[[ram.user]]\n\tname = \"中\" # x\nd = \"🙂e\u{301}\"\n";
        let sources = SourceSet::from_strings(&[("t.toml", text)]);
        let at = |needle: &str| {
            let start = text.find(needle).unwrap();
            Span {
                file: 0,
                range: start..start + needle.len(),
            }
        };
        let rendered = Diagnostic::error("m").at(at("# x")).render(&sources);
        assert!(
            rendered.contains("2 |     name = \"中\" # x\n  |                 ^^^\n"),
            "{rendered}"
        );
        let rendered = Diagnostic::error("m")
            .at(at("\"🙂e\u{301}\""))
            .render(&sources);
        assert!(rendered.contains("\n  |     ^^^^^\n"), "{rendered}");
        assert_eq!(display_width("\t中🙂e\u{301}"), 4 + 2 + 2 + 1);
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
