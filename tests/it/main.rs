//! The one test binary (one link of the crate on a 2-core CI, not eighteen): end-to-end tests
//! that run the real `entra-source` binary against the Graph simulator, a temp dir per test,
//! with the shared harness in `common`.

mod common;

mod agents;
mod apps;
mod backfill;
mod check;
mod columns;
mod command_line;
mod config_examples;
mod config_reference;
mod context;
mod credentials;
mod delivery;
mod demo;
mod docs;
mod errors;
mod export_shape;
mod file_output;
mod formats;
mod golden;
mod health;
mod host_configs;
mod host_formats;
mod host_lifecycle;
mod http_output;
mod hub;
mod interop;
mod inventory;
mod kubernetes;
mod metrics;
mod mistakes;
mod network;
mod otlp;
mod quickstart;
mod reshard;
mod shaping;
mod shards;
mod sigma;
mod simulator;
mod state_tools;
mod streams;
mod sweeps;
mod tenants;
mod troubleshooting;
