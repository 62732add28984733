//! `entra-source state show|reset`: read or change the checkpoint file of a configured run.
//! `show` reads the file without the lock (it is replaced atomically, so it always reads a whole
//! version) and works beside a running `run`; `reset` takes the lock without waiting, so it
//! never changes a file a run is using. `export` and `import` ([`transfer`]) move tenants'
//! checkpoints between stores.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use crate::config::Config;
use crate::kind::StreamKind;
use crate::state::{StateError, StateStore, StreamState};

mod transfer;
pub use transfer::{export, import, Export};

/// Why a `state` command did nothing; [`crate::cli`] prints it as the last stderr line.
#[derive(Debug, thiserror::Error)]
pub enum StateToolError {
    /// Exit 2: the command line asks for something that cannot be (a bad `--since`, …).
    #[error("{0}")]
    Usage(String),
    /// Exit 1: the state file could not be read or written.
    #[error("{}", locked_hint(.0))]
    State(#[from] StateError),
}

impl StateToolError {
    pub fn exit_code(&self) -> u8 {
        match self {
            StateToolError::Usage(_) => 2,
            StateToolError::State(_) => 1,
        }
    }
}

/// The lock is held: say so with the way forward.
fn locked_hint(e: &StateError) -> String {
    match e {
        StateError::Locked { .. } => format!(
            "{e}. `state` commands never change a file a run is using: stop the run first (its /health endpoint, with [metrics] listen, shows the live condition)"
        ),
        other => other.to_string(),
    }
}

fn time(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| {
        t.to_rfc3339_opts(SecondsFormat::Secs, true).into()
    })
}

/// One row: a stream section of the state file, or a configured stream never polled.
fn row(s: Option<&StreamState>, configured: bool, now: DateTime<Utc>) -> Value {
    let health = match s.and_then(|s| s.health) {
        Some(h) => h.as_str(),
        None if s.is_some_and(|s| s.cursor.is_some()) => "ok",
        // A hub's section: read since it last wrote.
        None if s.is_some_and(|s| !s.hub.offsets.is_empty()) => "ok",
        None => "never polled",
    };
    let cursor = s.and_then(|s| s.cursor);
    json!({
        "health": health,
        "configured": configured,
        "cursor": time(cursor),
        "lag_seconds": cursor.map(|c| (now - c).num_seconds().max(0)),
        // A checkpoint ahead of this host's clock: a lag of 0 would hide it.
        "ahead_seconds": cursor.map(|c| (c - now).num_seconds()).filter(|a| *a > 0),
        "last_success": time(s.and_then(|s| s.last_success)),
        "last_error": s.and_then(|s| s.last_error.clone()),
        "last_error_at": time(s.and_then(|s| s.last_error_at)),
        "consecutive_failures": s.map_or(0, |s| s.consecutive_failures),
    "ids_in_window": s.map_or(0, |s| s.seen.len()),
        // The time ranges read ([read_from, cursor] less the gaps) and the gaps themselves.
        "read": s.map_or_else(Vec::new, |s| {
            s.read_ranges()
                .into_iter()
                .map(|(from, to)| json!({"from": time(Some(from)), "to": time(Some(to))}))
                .collect()
        }),
        "gaps": s.map_or_else(Vec::new, |s| {
            s.gaps
                .iter()
                .map(|g| json!({"from": time(Some(g.from)), "to": time(Some(g.to)), "found_at": time(Some(g.found_at)), "reason": g.reason}))
                .collect()
        }),
        // Issue 27: the sweeps learned, and what the long-age checks found past the last one.
        "learned_sweeps": s.map_or(0, |s| s.ladder.rungs),
        "late_checked_to": time(s.and_then(|s| s.tail.checked)),
        "late_found": s.map_or(0, |s| s.tail.found),
        "late_unmatched": s.map_or(0, |s| s.tail.unmatched),
        // Issue 30: a shaped stream's accounting (fetched = full + summarized), in all and
        // per closed window, and what is still being counted.
        "shaping": s.filter(|s| !s.shaping.is_empty()).map(|s| json!({
            "totals": s.shaping.totals,
            "reconciled": s.shaping.totals.reconciles(),
            "late_full": s.shaping.late,
            "open_windows": s.shaping.accounts.len(),
            "known_values": s.shaping.known.len(),
            "recent_windows": s.shaping.recent,
        })),
        // Issue 31: a hub section's offsets and counts; a stream section's audit ledger.
        "hub": s.filter(|s| !s.hub.is_empty()).map(|s| json!({
            "offsets": s.hub.offsets,
            "messages": s.hub.messages,
            "records": s.hub.records,
            "refused": s.hub.refused,
            "skipped": s.hub.skipped,
            "audit_totals": s.hub.audit_totals,
            "audit_open_hours": s.hub.audit_open.len(),
            "audited": s.hub.audited,
        })),
        "settled": s.map_or_else(Map::new, |s| {
            s.settled
                .iter()
                .map(|(age, at)| (crate::duration::format_duration(std::time::Duration::from_secs(*age)), time(Some(*at))))
                .collect()
        }),
    })
}

/// Every configured stream section of every tenant, then the state file's other sections.
fn collect(config: &Config, store: &StateStore) -> Map<String, Value> {
    let now = Utc::now();
    let mut tenants = Map::new();
    for t in &config.tenants {
        let tenant = store.tenant_key(&t.id);
        let mut streams = Map::new();
        for settings in &t.streams {
            for spec in crate::streams::specs(settings) {
                let key = spec.state_key();
                let v = row(store.stream(&tenant, &key), true, now);
                streams.insert(key, v);
            }
        }
        for name in t.hubs.iter().flat_map(|h| &h.hubs) {
            let key = crate::hub::reader::section_of(name);
            let v = row(store.stream(&tenant, &key), true, now);
            streams.insert(key, v);
        }
        tenants.insert(tenant, json!({ "configured_as": t.id, "streams": streams }));
    }
    for (tenant, ts) in &store.data().tenants {
        let entry = tenants
            .entry(tenant.clone())
            .or_insert_with(|| json!({ "streams": {} }));
        if let Some(Value::Object(streams)) = entry.get_mut("streams") {
            for (key, s) in &ts.streams {
                if !streams.contains_key(key) {
                    streams.insert(key.clone(), row(Some(s), false, now));
                }
            }
        }
    }
    tenants
}

/// Sections keyed by stream name: `sign_ins` holds a summary of its event types (the worst
/// health, the oldest cursor, the largest lag, the latest error) and each type's own row under
/// `sign_in_types`, so `.streams.sign_ins` finds the stream by its name.
fn by_stream(sections: Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    let mut grouped: Map<String, Value> = Map::new();
    for (key, row) in sections {
        match crate::telemetry::split_section(&key) {
            // A hub's section (`hub:<name>`, whose name may hold dots) is its own.
            _ if key.starts_with("hub:") => {
                out.insert(key, row);
            }
            (_, None) => {
                out.insert(key, row);
            }
            (stream, Some(sub)) => {
                if let Value::Object(types) = grouped
                    .entry(stream.to_string())
                    .or_insert_with(|| json!({}))
                {
                    types.insert(sub.to_string(), row);
                }
            }
        }
    }
    for (stream, types) in grouped {
        let rows: Vec<&Value> = types
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
            .collect();
        let rank = |h: &Value| match h.as_str() {
            Some("error") => 3,
            Some("degraded") => 2,
            Some("never polled") => 1,
            _ => 0,
        };
        let worst = rows.iter().max_by_key(|r| rank(&r["health"]));
        let latest_error = rows
            .iter()
            .filter(|r| r["last_error_at"].is_string())
            .max_by_key(|r| r["last_error_at"].as_str().map(str::to_string));
        let oldest = |k: &str| {
            rows.iter()
                .filter_map(|r| r[k].as_str())
                .min()
                .map_or(Value::Null, |s| s.into())
        };
        let max = |k: &str| rows.iter().filter_map(|r| r[k].as_i64()).max();
        let summary = json!({
            "health": worst.map_or(Value::Null, |r| r["health"].clone()),
            "configured": rows.iter().any(|r| r["configured"] == true),
            "cursor": oldest("cursor"),
            "lag_seconds": max("lag_seconds"),
            "ahead_seconds": max("ahead_seconds"),
            "last_success": oldest("last_success"),
            "last_error": latest_error.map_or(Value::Null, |r| r["last_error"].clone()),
            "last_error_at": latest_error.map_or(Value::Null, |r| r["last_error_at"].clone()),
            "consecutive_failures": max("consecutive_failures").unwrap_or(0),
            "ids_in_window": rows.iter().filter_map(|r| r["ids_in_window"].as_u64()).sum::<u64>(),
            "gaps": rows.iter().flat_map(|r| r["gaps"].as_array().into_iter().flatten()).cloned().collect::<Vec<_>>(),
            "sign_in_types": types,
        });
        out.insert(stream, summary);
    }
    out
}

/// `state show`: a table, or one JSON object.
pub fn show(
    config: &Config,
    as_json: bool,
    shard: Option<crate::shard::Shard>,
) -> Result<(), StateToolError> {
    let store = StateStore::read_only(&config.state_path)?;
    let mut tenants = collect(config, &store);
    // A shard's view: its own tenants, not the sections other shards keep in a shared file.
    if let Some(shard) = shard {
        tenants.retain(|id, _| shard.owns(id));
    }
    if as_json {
        let tenants: Map<String, Value> = tenants
            .into_iter()
            .map(|(id, mut t)| {
                if let Some(Value::Object(streams)) = t.get_mut("streams") {
                    *streams = by_stream(std::mem::take(streams));
                }
                (id, t)
            })
            .collect();
        let out = json!({
            "state_path": config.state_path.display().to_string(),
            "tenants": tenants,
        });
        println!("{out}");
        return Ok(());
    }
    println!("state file: {}", config.state_path.display());
    println!(
        "{:<38} {:<34} {:<13} {:<21} {:>9} {:<21} LAST ERROR",
        "TENANT", "STREAM", "HEALTH", "CURSOR", "LAG", "LAST SUCCESS"
    );
    for (tenant, t) in &tenants {
        for (key, r) in t["streams"].as_object().into_iter().flatten() {
            let s = |k: &str| r[k].as_str().unwrap_or("-").to_string();
            let lag = match (r["ahead_seconds"].as_i64(), r["lag_seconds"].as_i64()) {
                (Some(a), _) if a >= 86_400 => format!("AHEAD {}d", a / 86_400),
                (Some(a), _) => format!("AHEAD {a}s"),
                (None, Some(l)) => {
                    crate::duration::format_duration(std::time::Duration::from_secs(l as u64))
                }
                (None, None) => "-".to_string(),
            };
            let mut health = s("health");
            if r["configured"] == false {
                health.push_str(" (not configured)");
            }
            let error = match (r["last_error"].as_str(), r["health"].as_str()) {
                (Some(e), Some("degraded" | "error")) => format!(
                    "{} (x{}) {e}",
                    s("last_error_at"),
                    r["consecutive_failures"]
                ),
                _ => "-".to_string(),
            };
            println!(
                "{:<38} {:<34} {:<13} {:<21} {:>9} {:<21} {}",
                tenant,
                key,
                health,
                s("cursor"),
                lag,
                s("last_success"),
                error
            );
            let span = |v: &Value| {
                format!(
                    "{} .. {}",
                    v["from"].as_str().unwrap_or("?"),
                    v["to"].as_str().unwrap_or("?")
                )
            };
            let read: Vec<String> = r["read"]
                .as_array()
                .into_iter()
                .flatten()
                .map(span)
                .collect();
            if !read.is_empty() {
                println!("{:<38}   read: {}", "", read.join(", "));
            }
            for g in r["gaps"].as_array().into_iter().flatten() {
                println!(
                    "{:<38}   GAP: {} never read: {}",
                    "",
                    span(g),
                    g["reason"].as_str().unwrap_or("")
                );
            }
            let (found, unmatched) = (r["late_found"].as_u64(), r["late_unmatched"].as_u64());
            if found.unwrap_or(0) + unmatched.unwrap_or(0) > 0 {
                println!(
                    "{:<38}   LATE: Graph showed {} records after the last sweep (checked to {}): {} emitted by the long-age check, {} counted but not singled out",
                    "",
                    found.unwrap_or(0) + unmatched.unwrap_or(0),
                    s("late_checked_to"),
                    found.unwrap_or(0),
                    unmatched.unwrap_or(0)
                );
            }
            if let Some(t) = r["shaping"].get("totals") {
                let n = |k: &str| t[k].as_u64().unwrap_or(0);
                println!(
                    "{:<38}   SHAPED: {} new sign-ins = {} in full + {} in {} summaries ({}){}; {} windows open",
                    "",
                    n("fetched"),
                    n("full"),
                    n("summarized"),
                    n("summaries"),
                    if r["shaping"]["reconciled"] == true { "reconciled" } else { "NOT RECONCILED" },
                    match r["shaping"]["late_full"].as_u64() {
                        Some(l) if l > 0 => format!(", {l} in full past their window"),
                        _ => String::new(),
                    },
                    r["shaping"]["open_windows"].as_u64().unwrap_or(0)
                );
            }
            if let Some(h) = r.get("hub").filter(|h| h.is_object()) {
                let n = |k: &str| h[k].as_u64().unwrap_or(0);
                if h["offsets"].as_object().is_some_and(|o| !o.is_empty()) {
                    let count = |k: &str| {
                        h[k].as_object()
                            .map(|o| o.values().filter_map(Value::as_u64).sum::<u64>())
                            .unwrap_or(0)
                    };
                    println!(
                        "{:<38}   HUB: {} messages, {} records read; {} messages refused, {} records skipped; next offsets {}",
                        "",
                        n("messages"),
                        n("records"),
                        count("refused"),
                        count("skipped"),
                        h["offsets"]
                    );
                }
                let t = &h["audit_totals"];
                if t["slices"].as_u64().unwrap_or(0) > 0 {
                    println!(
                        "{:<38}   AUDIT: {} hours, Graph listed {}, the hub delivered {}, {} repaired from Graph",
                        "",
                        t["slices"],
                        t["graph"],
                        t["hub"],
                        t["repaired"]
                    );
                }
            }
            if let Some(n) = r["learned_sweeps"].as_u64().filter(|n| *n > 0) {
                println!(
                    "{:<38}   sweeps learned: {n} (Graph shows records later than the first sweep)",
                    ""
                );
            }
        }
    }
    Ok(())
}

/// `state reset --stream NAME [--since TIME] [--tenant ID]`: rewinds (or skips) the named
/// stream's sections so that the next run reads exactly from `since`; without `since`, forgets
/// them (the next run starts from `initial_lookback`). Other streams are untouched.
pub fn reset(
    config: &Config,
    stream: &str,
    since: Option<&str>,
    tenant: Option<&str>,
) -> Result<(), StateToolError> {
    let usage = |m: String| Err(StateToolError::Usage(m));
    let since = match since.map(crate::event::parse_time) {
        None => None,
        Some(Some(t)) => Some(t),
        Some(None) => {
            return usage(format!(
                "--since {:?} is not an RFC 3339 time; write e.g. 2026-11-20T08:00:00Z",
                since.unwrap_or_default()
            ))
        }
    };
    if since.is_some_and(|t| t > Utc::now()) {
        return usage("--since is in the future; give a time at or before now".into());
    }
    let known: Vec<&str> = StreamKind::all().iter().map(|k| k.name()).collect();
    let base = stream.split('.').next().unwrap_or(stream);
    if !known.contains(&base) {
        return usage(format!(
            "--stream {stream:?} is not a stream; use one of {} (or a section such as sign_ins.nonInteractiveUser)",
            known.join(", ")
        ));
    }
    let kind = StreamKind::all().into_iter().find(|k| k.name() == base);
    if let (Some(t), Some(retention)) = (since, kind.and_then(StreamKind::retention)) {
        if t < Utc::now() - retention {
            return usage(format!(
                "--since is more than {} days ago, beyond what Graph keeps of {base}: nothing older can be read again; give a time within the last {} days",
                retention.num_days(),
                retention.num_days()
            ));
        }
    }
    let mut store = StateStore::open_now(&config.state_path)?;
    let mut changed = Vec::new();
    for t in &config.tenants {
        let tenant_key = store.tenant_key(&t.id);
        if tenant.is_some_and(|want| {
            !want.eq_ignore_ascii_case(&t.id) && !want.eq_ignore_ascii_case(&tenant_key)
        }) {
            continue;
        }
        let keys: Vec<String> = t
            .streams
            .iter()
            .flat_map(crate::streams::specs)
            .map(|s| s.state_key())
            .filter(|k| k == stream || k.starts_with(&format!("{stream}.")))
            .collect();
        for key in keys {
            match since {
                Some(at) => {
                    let s = store.stream_mut(&tenant_key, &key);
                    // No settle marks: every sweep starts at the floor too.
                    *s = StreamState {
                        cursor: Some(at),
                        not_before: Some(at),
                        health: s.health,
                        last_success: s.last_success,
                        ..Default::default()
                    };
                }
                None => {
                    if let Some(ts) = store.data_mut().tenants.get_mut(&tenant_key) {
                        ts.streams.remove(&key);
                    }
                }
            }
            changed.push(format!("{tenant_key}/{key}"));
        }
    }
    if changed.is_empty() {
        return usage(format!(
            "no configured tenant has stream {stream:?} enabled{}; check --stream and --tenant against the config",
            tenant.map(|t| format!(" for tenant {t}")).unwrap_or_default()
        ));
    }
    store.save()?;
    for c in &changed {
        match since {
            Some(t) => tracing::info!(
                "{c}: reset; the next run reads from {} (records from then on are emitted again)",
                t.to_rfc3339_opts(SecondsFormat::Secs, true)
            ),
            None => tracing::info!(
                "{c}: checkpoint forgotten; the next run starts from initial_lookback"
            ),
        }
    }
    Ok(())
}
