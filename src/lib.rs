//! msctl: a declarative GitOps reconciler for Alibaba Cloud Model Studio access control.
//!
//! Layers, lowest first: `model` (resources and addresses, the error kinds of live state), `ledger`
//! (msctl's own records and the ownership rule), `config` (TOML desired state and its
//! validation), `access` (who can do what, and why), `plan` (differ, safety), `graph` (ordering),
//! `apply` (executor), `acs` (the cloud's wire contract: signing, verification, encodings),
//! `store` (the platform and msctl's ledger in SQLite), `backend` (local on the store, aliyun),
//! `emulator` (the cloud APIs over HTTP, on the store), `render` (text, markdown, JSON),
//! `commands` (the CLI). For any layer: `calendar` turns day numbers into dates, `pool` runs
//! blocking work on a few worker threads, `http` reads and writes HTTP/1.1 on a socket.

pub mod access;
pub mod acs;
pub mod apply;
pub mod backend;
pub mod calendar;
pub mod cli;
pub mod commands;
pub mod config;
pub mod diagnostic;
pub mod emulator;
pub mod exit_code;
pub mod git;
pub mod graph;
pub mod http;
pub mod import;
pub mod ledger;
pub mod model;
pub mod plan;
pub mod policy;
pub mod pool;
pub mod render;
pub mod store;
pub mod synthetic;

#[cfg(test)]
pub(crate) mod testing;
