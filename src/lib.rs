//! entra-source: streams Microsoft Entra ID identity-security events out of Microsoft Graph as
//! one normalized JSON event per line, checkpointed so that a restart resumes where it stopped.
//!
//! The binary's entry point is [`cli::main`]; the modules follow the data: [`config`] →
//! [`auth`] → [`graph`] → [`streams`] (one module per Graph resource) via the shared
//! [`poll`] loop → [`output`], with [`state`] checkpointing each page. The faithful Graph
//! stand-in that tests, `demo` and `simulate` run against is its own crate, `entra-simulator`
//! (`crates/simulator`), which depends on nothing of this one.

pub mod auth;
pub mod check;
pub mod cli;
pub mod clock;
pub mod config;
pub mod context;
pub mod demo;
pub mod duration;
pub mod event;
pub mod format;
pub mod fs;
pub mod graph;
pub mod http;
pub mod hub;
pub mod jsontext;
pub mod kind;
pub mod logging;
pub mod metrics;
pub mod output;
pub mod poll;
pub mod progress;
pub mod record;
pub mod runner;
pub mod shard;
pub mod shutdown;
pub mod state;
pub mod state_tools;
pub mod streams;
pub mod telemetry;
pub mod tenant;
