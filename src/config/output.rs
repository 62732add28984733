//! `[output]`: the format, the line limit and where events go.

use std::time::Duration;

use super::error::{invalid, misplaced, ConfigError};
use super::raw::RawOutput;
use super::streams::opt_duration;
use super::url::validate_url;
use super::{format_duration, MAX_LATE_ARRIVAL};
use crate::output::{OutputTarget, DEFAULT_LINE_BYTES, MAX_ROTATE_KEEP, MIN_LINE_BYTES};

/// `{prefix}_timeout_seconds` and `{prefix}_give_up_after` of a push output.
fn push_limits(
    prefix: &str,
    timeout: Option<u32>,
    give_up_after: &Option<String>,
) -> Result<(Duration, Duration), ConfigError> {
    let timeout = timeout.unwrap_or(30);
    if timeout == 0 {
        return Err(invalid(
            format!("output.{prefix}_timeout_seconds"),
            timeout,
            "it must be at least 1",
        ));
    }
    let key = format!("output.{prefix}_give_up_after");
    let give_up_after = opt_duration(&key, give_up_after)?.unwrap_or(Duration::from_secs(600));
    if give_up_after.is_zero() || give_up_after > MAX_LATE_ARRIVAL {
        return Err(invalid(
            &key,
            format!("\"{}\"", format_duration(give_up_after)),
            "it must be more than zero and at most \"7d\", e.g. \"10m\"",
        ));
    }
    Ok((Duration::from_secs(u64::from(timeout)), give_up_after))
}

pub(crate) fn validate_target(o: &RawOutput) -> Result<OutputTarget, ConfigError> {
    if o.path.is_none() {
        for (key, set) in [
            ("output.rotate_size_bytes", o.rotate_size_bytes.is_some()),
            ("output.rotate_keep", o.rotate_keep.is_some()),
        ] {
            if set {
                return Err(misplaced(
                    key,
                    "it applies only with output.path: remove it, or set path",
                ));
            }
        }
    }
    let destinations = [
        ("output.otlp_endpoint", o.otlp_endpoint.is_some()),
        ("output.http_endpoint", o.http_endpoint.is_some()),
        ("output.path", o.path.is_some()),
    ];
    let chosen: Vec<&str> = destinations
        .iter()
        .filter(|(_, set)| *set)
        .map(|(k, _)| *k)
        .collect();
    if chosen.len() > 1 {
        return Err(misplaced(
            chosen[1],
            format!(
                "so is {}: events go to one destination; keep one of the two",
                chosen[0]
            ),
        ));
    }
    for (prefix, endpoint, keys) in [
        (
            "otlp",
            &o.otlp_endpoint,
            &[
                ("output.otlp_batch_records", o.otlp_batch_records.is_some()),
                (
                    "output.otlp_timeout_seconds",
                    o.otlp_timeout_seconds.is_some(),
                ),
                ("output.otlp_give_up_after", o.otlp_give_up_after.is_some()),
            ][..],
        ),
        (
            "http",
            &o.http_endpoint,
            &[
                (
                    "output.http_timeout_seconds",
                    o.http_timeout_seconds.is_some(),
                ),
                ("output.http_give_up_after", o.http_give_up_after.is_some()),
            ][..],
        ),
    ] {
        if endpoint.is_none() {
            if let Some((key, _)) = keys.iter().find(|(_, set)| *set) {
                return Err(misplaced(
                    *key,
                    format!(
                        "it applies only with output.{prefix}_endpoint: remove it, or set {prefix}_endpoint"
                    ),
                ));
            }
        }
    }
    if let Some(endpoint) = &o.otlp_endpoint {
        let mut url = validate_url("output.otlp_endpoint", endpoint)?;
        if !url.path().ends_with("/v1/logs") {
            let base = url.path().trim_end_matches('/').to_string();
            url.set_path(&format!("{base}/v1/logs"));
        }
        let batch = o.otlp_batch_records.unwrap_or(500);
        if batch == 0 {
            return Err(invalid(
                "output.otlp_batch_records",
                batch,
                "it must be at least 1",
            ));
        }
        let (timeout, give_up_after) =
            push_limits("otlp", o.otlp_timeout_seconds, &o.otlp_give_up_after)?;
        return Ok(OutputTarget::Otlp {
            url,
            batch_records: batch as usize,
            timeout,
            give_up_after,
        });
    }
    if let Some(endpoint) = &o.http_endpoint {
        let url = validate_url("output.http_endpoint", endpoint)?;
        let (timeout, give_up_after) =
            push_limits("http", o.http_timeout_seconds, &o.http_give_up_after)?;
        return Ok(OutputTarget::Http {
            url,
            timeout,
            give_up_after,
        });
    }
    let Some(path) = &o.path else {
        return Ok(OutputTarget::Stdout);
    };
    let rotate_size_bytes = o.rotate_size_bytes.unwrap_or(100 * 1024 * 1024);
    let max_line = o.max_line_bytes.unwrap_or(DEFAULT_LINE_BYTES);
    if rotate_size_bytes < max_line {
        return Err(invalid(
            "output.rotate_size_bytes",
            rotate_size_bytes,
            format!(
                "it must be at least max_line_bytes ({max_line}), so that every line fits a file"
            ),
        ));
    }
    let rotate_keep = o.rotate_keep.unwrap_or(5);
    if !(1..=MAX_ROTATE_KEEP).contains(&rotate_keep) {
        return Err(invalid(
            "output.rotate_keep",
            rotate_keep,
            format!("it must be from 1 to {MAX_ROTATE_KEEP}: with 0 each rotation would delete the events written so far, before a tailer has read them"),
        ));
    }
    Ok(OutputTarget::File {
        path: path.clone(),
        rotate_size_bytes,
        rotate_keep,
    })
}

/// `[output] keep_null_columns` (only with `log_analytics`), and `native_profile`, which is
/// gone: a config that still sets it is told what replaced it.
pub(crate) fn validate_columns(
    o: &RawOutput,
    format: crate::format::Format,
) -> Result<bool, ConfigError> {
    if let Some(p) = o.native_profile.as_deref() {
        let fix = match p {
            "lean" => "the native event is now what `lean` was, without the envelope: remove native_profile",
            _ => "the Log Analytics columns moved to their own format: set format = \"log_analytics\" (Microsoft's export envelope: format = \"azure_monitor\") and remove native_profile",
        };
        return Err(invalid("output.native_profile", format!("\"{p}\""), fix));
    }
    match o.keep_null_columns {
        Some(_) if format != crate::format::Format::LogAnalytics => Err(invalid(
            "output.keep_null_columns",
            "true",
            format!(
                "it applies to Log Analytics rows only, and format is \"{}\": remove it or set format = \"log_analytics\"",
                format.name()
            ),
        )),
        keep => Ok(keep.unwrap_or(false)),
    }
}

pub(crate) fn validate_output(o: &RawOutput) -> Result<(crate::format::Format, u64), ConfigError> {
    let format = match o.format.as_deref() {
        None => crate::format::Format::Native,
        Some(f) => crate::format::Format::parse(f).ok_or_else(|| {
            invalid(
                "output.format",
                format!("\"{f}\""),
                "use \"native\", \"azure_monitor\", \"log_analytics\", \"ecs\" or \"ocsf\"",
            )
        })?,
    };
    let max = o.max_line_bytes.unwrap_or(DEFAULT_LINE_BYTES);
    if max < MIN_LINE_BYTES {
        return Err(invalid(
            "output.max_line_bytes",
            max,
            format!("it must be at least {MIN_LINE_BYTES}; for Fluent Bit raise Buf_Size instead of lowering this"),
        ));
    }
    Ok((format, max))
}
