//! `msctl drift`: how live differs from desired, for a scheduled check (exit 2 on drift).

use std::io::Write as _;

use super::session::{Session, Start};
use crate::cli::{Cli, Format};
use crate::exit_code;
use crate::plan::drift::DriftReport;
use crate::render;

pub fn run(cli: &Cli) -> anyhow::Result<i32> {
    let Start::Ready(session) = Session::start(cli)? else {
        return Ok(exit_code::ERROR);
    };
    let live = session.read_live()?;
    let plan = session.plan(cli, &live)?;
    let report = DriftReport::from_plan(&plan);
    let text = match cli.format {
        Format::Text => render::drift_text(&report, super::use_color(cli)),
        Format::Markdown => render::drift_markdown(&report, render::DEFAULT_MARKDOWN_MAX_CHARS),
        Format::Json => render::drift_json(&report),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(if report.in_sync() {
        exit_code::SUCCESS
    } else {
        exit_code::CHANGES
    })
}
