//! `msctl import`: live state into config files that plan to nothing against the account they
//! came from.
//!
//! Three steps, each plain data: [`live`] reads a [`State`] into per-object declarations (one
//! per live workspace, RAM object, PAI workspace), keeping only what the selection picks and the
//! existing config does not declare; [`fold`] merges workspaces whose names differ by one
//! environment token into one `name-{env}` declaration with overrides; [`write`] renders TOML
//! (toml_edit, so comments can stand beside values) and policy JSON files.

use std::collections::BTreeSet;

use crate::model::{Address, State};

pub mod fold;
pub mod glob;
pub mod live;
pub mod write;

pub use live::Declarations;
pub use write::{Files, Layout};

/// Environment names tried when no configuration names any.
pub const DEFAULT_ENVIRONMENTS: &[&str] = &["dev", "test", "staging", "prod"];

/// What to import, and how.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Address globs (`workspace.chatbot-*`); empty = everything.
    pub select: Vec<glob::Glob>,
    /// Addresses the existing config declares: never written again (adoption).
    pub declared: BTreeSet<Address>,
    /// Environment tokens to fold workspaces by, in declaration order.
    pub environments: Vec<String>,
}

/// The result of an import: declarations to write and notes on what could not be imported.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    pub declarations: Declarations,
    pub workspaces: Vec<fold::WorkspaceDecl>,
    /// One line each, for a file comment and standard error.
    pub notes: Vec<String>,
}

impl Imported {
    /// Nothing to write: no workspace and no other declaration.
    pub fn is_empty(&self) -> bool {
        self.workspaces.is_empty() && self.declarations.is_empty()
    }
}

/// Reads `live` into declarations and folds its workspaces.
pub fn import(live: &State, options: &Options) -> Imported {
    let mut notes = Vec::new();
    let declarations = live::read(live, options, &mut notes);
    let workspaces = fold::fold(&declarations.workspaces, &options.environments);
    Imported {
        declarations,
        workspaces,
        notes,
    }
}

#[cfg(test)]
mod tests;
