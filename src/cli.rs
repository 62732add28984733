//! The command line of `CONTRACT.md`, and the exit statuses: 0 done, 2 usage or config error
//! (before any network call), 1 anything else. The last stderr line of a failure says what
//! failed and how to fix it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::logging::{self, LogFormat};
use crate::output::Output;
use crate::runner;
use crate::shard::{Shard, ShardError};
use crate::shutdown;

/// Exit statuses and environment, printed under every `--help`.
const AFTER_HELP: &str = "\
Exit status:
  0  done (--once: every stream completed; run: stopped by SIGTERM/SIGINT)
  1  a failure after start-up (credentials refused, state unusable, a stream failed); the
     last stderr line says what failed and how to fix it
  2  usage or config error, found before any network call

Environment:
  RUST_LOG     diagnostics filter on stderr, e.g. RUST_LOG=debug or RUST_LOG=entra_source=trace
               (default info)
  HTTPS_PROXY, NO_PROXY
               the proxy for Graph and the login host
  The variables a config names (client_secret_env, certificate_password_env)

stdout carries events only; diagnostics go to stderr (--log-format json for Vector).";

#[derive(Debug, Parser)]
#[command(
    name = "entra-source",
    version,
    about = "Streams Microsoft Entra ID identity-security events from Microsoft Graph as JSON lines"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Poll every enabled stream every poll.interval_seconds until SIGTERM/SIGINT.
    Run {
        /// The TOML config file.
        #[arg(long)]
        config: PathBuf,
        /// One catch-up pass of every stream, then exit (Vector scheduled mode, Fluent Bit).
        #[arg(long)]
        once: bool,
        /// With --once: stop after this long (e.g. 4m), finishing the page in flight and
        /// checkpointing it, and exit 0 saying there is more to do; set it below the host's
        /// schedule interval, so that a long catch-up is never killed mid-page.
        #[arg(long, requires = "once", value_parser = max_duration)]
        max_duration: Option<std::time::Duration>,
        #[command(flatten)]
        shard: ShardArgs,
        /// Diagnostics on stderr as text or as one JSON object per line.
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormat,
    },
    /// Test the connection: a token, then one `$top=1` request per enabled stream, a verdict each.
    Check {
        /// The TOML config file (as for `run`).
        #[arg(long)]
        config: PathBuf,
        #[command(flatten)]
        shard: ShardArgs,
        /// A table, or the same as one JSON object.
        #[arg(long, value_enum, default_value = "text")]
        output: OutputFormat,
        /// Diagnostics on stderr as text or as one JSON object per line.
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormat,
    },
    /// The built-in Graph simulator plus a real run against it; no tenant needed.
    Demo {
        /// How many synthetic records the simulator serves.
        #[arg(long, default_value_t = 20)]
        events: u32,
        /// Keep polling while the simulator keeps producing records.
        #[arg(long)]
        follow: bool,
        /// The event format, as `[output] format`: native, azure_monitor, log_analytics, ecs or
        /// ocsf.
        #[arg(long, default_value = "native", value_parser = ["native", "azure_monitor", "log_analytics", "ecs", "ocsf"])]
        format: String,
        /// Diagnostics on stderr as text or as one JSON object per line.
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormat,
    },
    /// The Graph simulator on its own, for trying pipeline configs.
    Simulate {
        /// Loopback address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Synthetic records present at start (spread over the last hour).
        #[arg(long, default_value_t = 200)]
        events: u32,
        /// New records per second while running (0 = none).
        #[arg(long, default_value_t = 1)]
        rate: u32,
        /// When Graph shows a record: `microsoft` (minutes after its timestamp, Microsoft's
        /// published latencies), `slow_sign_ins` (sign-ins 5 to 30 minutes late) or `none`.
        #[arg(long, default_value = "microsoft", value_parser = ["microsoft", "slow_sign_ins", "none"])]
        delays: String,
        /// Divide those delays by this (benches and demos run faster than real time).
        #[arg(long, default_value_t = 1.0)]
        time_scale: f64,
        /// Diagnostics on stderr as text or as one JSON object per line.
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormat,
    },
    /// Show, move or change the checkpoint file (`show` and `export` read beside a running run;
    /// `reset`, `import` and `export --remove` are refused while a run holds its lock).
    State {
        #[command(subcommand)]
        action: StateCommand,
    },
}

#[derive(Debug, Subcommand)]
enum StateCommand {
    /// Per tenant and stream: health, cursor, lag, last success and last error.
    Show {
        /// The TOML config file of the run whose state to show.
        #[arg(long)]
        config: PathBuf,
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        shard: ShardArgs,
        /// A table, or the same as one JSON object.
        #[arg(long, value_enum, default_value = "text")]
        output: OutputFormat,
        /// Diagnostics on stderr as text or as one JSON object per line.
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormat,
    },
    /// Print the store (or some tenants of it) as one JSON document: every section's fields
    /// and its remembered ids' fingerprints. Read-only beside a running run, except --remove.
    Export {
        /// The TOML config file of the run whose state to print.
        #[arg(long)]
        config: PathBuf,
        #[command(flatten)]
        store: StoreArg,
        /// Only this tenant (GUID, or a domain a run recorded); repeat for more.
        #[arg(long)]
        tenant: Vec<String>,
        /// Only the tenants of the config that this shard polls (e.g. the shard a re-shard
        /// moves them to).
        #[command(flatten)]
        shard: ShardArgs,
        /// Write the document to FILE (fsynced; never overwritten) instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Once FILE is durable, take the exported tenants out of this store (refused while a
        /// run holds its lock): they move to the store that imports FILE.
        #[arg(long)]
        remove: bool,
        /// Diagnostics on stderr as text or as one JSON object per line.
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormat,
    },
    /// Add the tenants of `state export` files to this store (all of them or none; refused
    /// while a run holds its lock).
    Import {
        /// The TOML config file of the run whose state receives the tenants.
        #[arg(long)]
        config: PathBuf,
        #[command(flatten)]
        store: StoreArg,
        /// Refuse tenants that this shard does not poll.
        #[command(flatten)]
        shard: ShardArgs,
        /// Overwrite checkpoints this store already has for an imported tenant.
        #[arg(long)]
        replace: bool,
        /// `state export --out` files; - reads stdin.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Diagnostics on stderr as text or as one JSON object per line.
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormat,
    },
    /// Rewind (or skip) one stream: the next run reads from --since; without it, from
    /// initial_lookback. Other streams are untouched.
    Reset {
        /// The TOML config file of the run whose state to change.
        #[arg(long)]
        config: PathBuf,
        /// The stream (`sign_ins`) or one of its sections (`sign_ins.nonInteractiveUser`).
        #[arg(long)]
        stream: String,
        /// RFC 3339 time the next run reads from, e.g. 2026-11-20T08:00:00Z.
        #[arg(long)]
        since: Option<String>,
        /// Only this tenant (default: every tenant that has the stream).
        #[arg(long)]
        tenant: Option<String>,
        /// Diagnostics on stderr as text or as one JSON object per line.
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormat,
    },
}

/// The store a `state` command reads or changes.
#[derive(Debug, clap::Args)]
struct StoreArg {
    /// This state file instead of the config's `[state] path` (e.g. another shard's volume
    /// mounted for a re-shard).
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
}

impl StoreArg {
    fn apply(&self, config: &mut Config) {
        if let Some(p) = &self.state {
            config.state_path = p.clone();
        }
    }
}

/// `--max-duration`: a duration of at least one second.
fn max_duration(text: &str) -> Result<std::time::Duration, String> {
    match crate::duration::parse_duration(text)? {
        d if d.is_zero() => Err("it must be at least 1s, e.g. 4m".into()),
        d => Ok(d),
    }
}

/// Which tenants of the config this process takes (`src/shard.rs`).
#[derive(Debug, clap::Args)]
struct ShardArgs {
    /// Only the tenants rendezvous hashing gives shard INDEX of COUNT (0-based), e.g. 2/4;
    /// also ENTRA_SOURCE_SHARD.
    #[arg(long, value_name = "INDEX/COUNT")]
    shard: Option<String>,
    /// The shard is this host's StatefulSet ordinal (`entra-source-3` → 3), of --shard-count.
    #[arg(long)]
    shard_from_hostname: bool,
    /// The number of shards, with --shard-from-hostname; also ENTRA_SOURCE_SHARD_COUNT.
    #[arg(long, value_name = "N")]
    shard_count: Option<String>,
}

impl ShardArgs {
    fn resolve(&self) -> Result<Option<Shard>, ShardError> {
        if let Some(s) = &self.shard {
            return Shard::parse(s).map(Some);
        }
        if self.shard_from_hostname {
            let count = self
                .shard_count
                .clone()
                .or_else(|| std::env::var("ENTRA_SOURCE_SHARD_COUNT").ok())
                .ok_or(ShardError::NoCount)?;
            let host = std::env::var("HOSTNAME")
                .ok()
                .filter(|h| !h.trim().is_empty())
                .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
                .unwrap_or_default();
            return Shard::from_hostname(&host, &count).map(Some);
        }
        match std::env::var("ENTRA_SOURCE_SHARD") {
            Ok(s) if !s.trim().is_empty() => Shard::parse(&s).map(Some),
            _ => Ok(None),
        }
    }

    /// Keeps the config's tenants this shard polls, saying how many.
    fn apply(&self, config: &mut Config) -> Result<Option<Shard>, ShardError> {
        let Some(shard) = self.resolve()? else {
            return Ok(None);
        };
        let all = config.tenants.len();
        config.tenants.retain(|t| shard.owns(&t.id));
        tracing::info!(
            shard = %format!("{}/{}", shard.index, shard.count),
            tenants = config.tenants.len(),
            of = all,
            "shard {}/{}: {} of the config's {all} tenants",
            shard.index,
            shard.count,
            config.tenants.len()
        );
        Ok(Some(shard))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OutputFormat {
    Text,
    Json,
}

/// Why a command could not even start; printed once, as the last stderr line, by [`main`].
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Exit 2: the config is wrong (found before any network call).
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
    #[error(transparent)]
    State(#[from] crate::state_tools::StateToolError),
    #[error("cannot serve metrics on {listen} ([metrics] listen): {source}; choose a free port")]
    Metrics {
        listen: std::net::SocketAddr,
        source: std::io::Error,
    },
    /// Exit 2: `--shard` and its kin.
    #[error(transparent)]
    Shard(#[from] ShardError),
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            CliError::Config(_) | CliError::Shard(_) => 2,
            CliError::Runtime(_) | CliError::Output(_) | CliError::Metrics { .. } => 1,
            CliError::State(e) => e.exit_code(),
        }
    }
}

/// The binary's entry: parses the command line, runs the command, prints a start-up failure
/// in one place, and turns everything into the contract's exit status.
pub fn main() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    // Every help screen names the exit statuses and the environment.
    let command = Cli::command().after_help(AFTER_HELP).mut_subcommands(|c| {
        c.after_help(AFTER_HELP)
            .mut_subcommands(|c| c.after_help(AFTER_HELP))
    });
    let cli = match command
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let format = match &cli.command {
        Command::Run { log_format, .. }
        | Command::Check { log_format, .. }
        | Command::Demo { log_format, .. }
        | Command::Simulate { log_format, .. }
        | Command::State {
            action:
                StateCommand::Show { log_format, .. }
                | StateCommand::Export { log_format, .. }
                | StateCommand::Import { log_format, .. }
                | StateCommand::Reset { log_format, .. },
        } => *log_format,
    };
    logging::init(format);
    match run(cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// One command to its exit status (commands report their own outcome); `Err` when it could
/// not start.
fn run(command: Command) -> Result<u8, CliError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let code = match command {
        Command::Run {
            config,
            once,
            max_duration,
            shard,
            ..
        } => {
            let mut config = Config::load(&config)?;
            let sharded = match shard.apply(&mut config) {
                Ok(s) => s.is_some(),
                // A StatefulSet scaled past ENTRA_SOURCE_SHARD_COUNT: the extra pod says so and
                // stays unready (a crash loop would hide why), polling nothing.
                Err(ShardError::Range { index, count })
                    if shard.shard_from_hostname && !once && count > 0 =>
                {
                    crate::telemetry::Misconfigured {
                        reason: format!(
                            "shard mismatch: this pod's ordinal {index} is not below the shard count {count} (ENTRA_SOURCE_SHARD_COUNT / --shard-count), so it polls nothing and the tenants of shards {count} and up are not polled by anyone. Keep the StatefulSet's replicas equal to the shard count (one value in the kustomization), and re-shard as the Kubernetes docs say"
                        ),
                    }
                    .emit();
                    config.tenants.clear();
                    true
                }
                Err(e) => return Err(e.into()),
            };
            if sharded && config.tenants.is_empty() && !once {
                // An idle pod: no tenant hashes to it (yet); it waits to be stopped, answering
                // its probes (/health: nothing failing) meanwhile.
                rt.block_on(async {
                    let (trigger, shutdown) = shutdown::channel();
                    shutdown::watch_host(trigger.clone());
                    shutdown::install_signal_handlers(trigger);
                    if let Some(listen) = config.metrics_listen {
                        crate::metrics::serve(listen, shutdown.clone())
                            .await
                            .map_err(|source| CliError::Metrics { listen, source })?;
                    }
                    shutdown.wait().await;
                    Ok::<_, CliError>(())
                })?;
                return Ok(0);
            }
            let resolved = config.resolve()?;
            rt.block_on(async {
                let (trigger, shutdown) = shutdown::channel();
                shutdown::install_signal_handlers(trigger.clone());
                shutdown::watch_host(trigger.clone());
                if let Some(limit) = max_duration {
                    shutdown::stop_after(limit, trigger.clone(), shutdown.clone());
                }
                let output = Output::for_target(
                    &config.output_target,
                    config.format,
                    config.max_line_bytes,
                    resolved.extra_ca_pem.as_deref(),
                    shutdown.clone(),
                )?
                .with_keep_null(config.keep_null_columns);
                Ok::<_, CliError>(
                    runner::run(config, resolved, once, output, trigger, shutdown)
                        .await
                        .report(),
                )
            })?
        }
        Command::Check {
            config,
            output,
            shard,
            ..
        } => {
            let mut config = Config::load(&config)?;
            shard.apply(&mut config)?;
            let resolved = config.resolve()?;
            rt.block_on(crate::check::check(
                config,
                resolved,
                output == OutputFormat::Json,
            ))
        }
        Command::Demo {
            events,
            follow,
            format,
            ..
        } => rt.block_on(crate::demo::demo(
            events,
            follow,
            crate::format::Format::parse(&format).unwrap_or_default(),
        )),
        Command::Simulate {
            listen,
            events,
            rate,
            delays,
            time_scale,
            ..
        } => {
            let appearance = match entra_simulator::DelayProfile::parse(&delays) {
                Some(profile) => entra_simulator::Appearance::Delayed {
                    profile,
                    scale: time_scale.clamp(1.0, 3600.0),
                },
                None => entra_simulator::Appearance::Immediate,
            };
            rt.block_on(entra_simulator::serve_forever(
                listen, events, rate, appearance,
            ))
        }
        Command::State { action } => {
            let path = match &action {
                StateCommand::Show { config, .. }
                | StateCommand::Export { config, .. }
                | StateCommand::Import { config, .. }
                | StateCommand::Reset { config, .. } => config,
            };
            // No credential is read: the state commands never authenticate.
            let mut config = Config::load(path)?;
            let shard = match &action {
                StateCommand::Show { shard, .. } | StateCommand::Export { shard, .. } => {
                    shard.apply(&mut config)?
                }
                // The whole config: a tenant of another shard is named with its shard.
                StateCommand::Import { shard, .. } => shard.resolve()?,
                _ => None,
            };
            if let StateCommand::Show { store, .. }
            | StateCommand::Export { store, .. }
            | StateCommand::Import { store, .. } = &action
            {
                store.apply(&mut config);
            }
            match action {
                StateCommand::Show { output, .. } => {
                    crate::state_tools::show(&config, output == OutputFormat::Json, shard)?;
                    0
                }
                StateCommand::Export {
                    tenant,
                    out,
                    remove,
                    ..
                } => {
                    let opts = crate::state_tools::Export {
                        tenants: &tenant,
                        by_shard: shard.is_some(),
                        out: out.as_deref(),
                        remove,
                    };
                    crate::state_tools::export(&config, opts)?;
                    0
                }
                StateCommand::Import { files, replace, .. } => {
                    crate::state_tools::import(&config, shard, &files, replace)?;
                    0
                }
                StateCommand::Reset {
                    stream,
                    since,
                    tenant,
                    ..
                } => {
                    crate::state_tools::reset(
                        &config,
                        &stream,
                        since.as_deref(),
                        tenant.as_deref(),
                    )?;
                    0
                }
            }
        }
    };
    // Do not wait for blocked stdout writes of a host that went away.
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
    Ok(code)
}
