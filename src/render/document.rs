//! Every document a command prints, in each output format: the commands pick the format in one
//! place (`commands::output::emit`) instead of each matching on it.

use super::{
    DEFAULT_MARKDOWN_MAX_CHARS, access_json, access_markdown, access_text, drift_json,
    drift_markdown, drift_text, envs_json, envs_markdown, envs_text, plan_json, plan_markdown,
    plan_text, review_json, review_markdown, review_text, status_json, status_text,
};
use crate::access::{AccessAnswer, EnvMatrix};
use crate::plan::{DriftReport, Plan, Review, StatusReport};

/// A document in the three output formats.
pub trait Document {
    /// Terminal text, coloured when `color`.
    fn text(&self, color: bool) -> String;
    /// Markdown for a pull-request comment, cut to about `max_chars`.
    fn markdown(&self, max_chars: usize) -> String;
    /// Pretty JSON, the versioned document of the schema in `schemas/`.
    fn json(&self) -> String;
}

/// The output formats, as the renderers see them (the CLI's `--format`, minus clap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Text { color: bool },
    Markdown,
    Json,
}

/// `document` in `format`.
pub fn render(format: OutputFormat, document: &dyn Document) -> String {
    match format {
        OutputFormat::Text { color } => document.text(color),
        OutputFormat::Markdown => document.markdown(DEFAULT_MARKDOWN_MAX_CHARS),
        OutputFormat::Json => document.json(),
    }
}

impl Document for Plan {
    fn text(&self, color: bool) -> String {
        plan_text(self, color)
    }
    fn markdown(&self, max_chars: usize) -> String {
        plan_markdown(self, max_chars)
    }
    fn json(&self) -> String {
        plan_json(self)
    }
}

impl Document for Review {
    fn text(&self, color: bool) -> String {
        review_text(self, color)
    }
    fn markdown(&self, max_chars: usize) -> String {
        review_markdown(self, max_chars)
    }
    fn json(&self) -> String {
        review_json(self)
    }
}

impl Document for DriftReport {
    fn text(&self, color: bool) -> String {
        drift_text(self, color)
    }
    fn markdown(&self, max_chars: usize) -> String {
        drift_markdown(self, max_chars)
    }
    fn json(&self) -> String {
        drift_json(self)
    }
}

impl Document for AccessAnswer {
    fn text(&self, color: bool) -> String {
        access_text(self, color)
    }
    fn markdown(&self, max_chars: usize) -> String {
        access_markdown(self, max_chars)
    }
    fn json(&self) -> String {
        access_json(self)
    }
}

impl Document for EnvMatrix {
    fn text(&self, color: bool) -> String {
        envs_text(self, color)
    }
    fn markdown(&self, max_chars: usize) -> String {
        envs_markdown(self, max_chars)
    }
    fn json(&self) -> String {
        envs_json(self)
    }
}

impl Document for StatusReport {
    fn text(&self, _color: bool) -> String {
        status_text(self)
    }
    /// A status is a few lines; markdown readers get the text in a code block.
    fn markdown(&self, _max_chars: usize) -> String {
        format!("```text\n{}```\n", status_text(self))
    }
    fn json(&self) -> String {
        status_json(self)
    }
}
