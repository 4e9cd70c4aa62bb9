//! `msctl drift`: how live differs from desired, for a scheduled check (exit 2 on drift).

use std::io::Write as _;

use super::session::{Session, Start};
use crate::backend::Capability;
use crate::cli::{Cli, Format};
use crate::exit_code;
use crate::model::Resource;
use crate::plan::drift::DriftReport;
use crate::render;

pub fn run(cli: &Cli) -> anyhow::Result<i32> {
    let Start::Ready(session) = Session::start(cli)? else {
        return Ok(exit_code::ERROR);
    };
    let live = session.read_live()?;
    let plan = session.plan(cli, &live)?;
    let report = DriftReport::from_plan(&plan);
    let declares_members = session
        .config
        .desired
        .resources
        .values()
        .any(|r| matches!(r, Resource::Member(_)));
    if declares_members
        && !session
            .backend
            .capabilities()
            .has(Capability::WorkspaceMembers)
    {
        // Said on stderr so the report (stdout) stays the document its schema describes.
        eprintln!(
            "note: workspace members cannot be read through the {} backend's API: they are compared with the memberships acknowledged in msctl's ledger (`msctl ack`), so changes made in the console are not detected",
            session.backend.name()
        );
    }
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
