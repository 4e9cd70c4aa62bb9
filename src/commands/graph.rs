//! `msctl graph`: the plan's dependency graph as Graphviz DOT.

use std::io::Write as _;

use super::session::{Session, Start};
use crate::cli::Cli;
use crate::exit_code;

pub fn run(cli: &Cli) -> anyhow::Result<i32> {
    let Start::Ready(session) = Session::start(cli)? else {
        return Ok(exit_code::ERROR);
    };
    let live = session.read_live()?;
    let plan = session.plan(cli, &live)?;
    let mut out = std::io::stdout().lock();
    out.write_all(crate::graph::to_dot(&plan).as_bytes())?;
    out.flush()?;
    Ok(exit_code::SUCCESS)
}
