//! What the config decides about one stream, in the types the poll loop and the stream modules
//! read. `config` builds them from the file; it does not own them.

use std::time::Duration;

use crate::kind::StreamKind;

/// One enabled stream of one tenant.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    pub kind: StreamKind,
    /// The ages at which each slice is read again (`late_arrival`), ascending, at least one.
    pub sweeps: Vec<Duration>,
    /// No fresh read: each slice is read only at the sweep ages.
    pub settle_only: bool,
    /// The spacing of the sweeps the stream may learn (the poll interval); `None`: it reads
    /// exactly at `sweeps` (`learn_sweeps = false`, or settle-only).
    pub learn_step: Option<Duration>,
    /// The long-age check's age and period (`tail_check`); `None`: off.
    pub tail_check: Option<Duration>,
    pub initial_lookback: Duration,
    /// Audits the tenant's Event Hub (`audit = true`): settle-only, counting per hour what
    /// Graph lists against what the hub delivered, emitting only what the hub lost.
    pub audit: bool,
    /// Meaningful for `sign_ins` only.
    pub sign_ins: SignInOptions,
}

/// `streams.sign_ins.filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignInFilter {
    /// Every sign-in.
    #[default]
    All,
    /// `riskLevelDuringSignIn` low, medium or high: one `eq` query per level.
    Risky,
    /// `status.errorCode` not 0, filtered client-side (Graph documents `eq` only).
    Failures,
}

/// The sign-in stream's own options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInOptions {
    pub filter: SignInFilter,
    /// `api_version = "beta"` (the default) rather than `"v1.0"`.
    pub beta: bool,
    /// beta only: one cursor per sign-in event type.
    pub event_types: Vec<String>,
    /// `[streams.sign_ins.shaping]`.
    pub shaping: Shaping,
}

impl Default for SignInOptions {
    fn default() -> Self {
        SignInOptions {
            filter: SignInFilter::All,
            beta: true,
            event_types: vec!["interactiveUser".into()],
            shaping: Shaping::default(),
        }
    }
}

/// `[streams.sign_ins.shaping]`: which sign-in types are summarized rather than emitted whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shaping {
    /// The event types whose policy is `summarize` (the others are `full`).
    pub summarize: Vec<String>,
    /// The span of record time one summary covers.
    pub window: Duration,
    /// How long a key (IP, country, app, resource, device) stays known for an identity: seen
    /// again after this long, it counts as new and is kept in full.
    pub new_horizon: Duration,
}

impl Default for Shaping {
    fn default() -> Self {
        Shaping {
            summarize: Vec::new(),
            window: Duration::from_secs(15 * 60),
            new_horizon: Duration::from_secs(14 * 86_400),
        }
    }
}

/// The sign-in event types Graph documents (the list grows; others are accepted with a warning).
pub const SIGN_IN_EVENT_TYPES: [&str; 4] = [
    "interactiveUser",
    "nonInteractiveUser",
    "servicePrincipal",
    "managedIdentity",
];
