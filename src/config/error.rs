//! What can be wrong with a config file, said with the key and the fix.

use std::path::PathBuf;

/// What went wrong with the config, and how to fix it. Displayed as the last stderr line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "cannot read config file {path}: {source}; check the --config path and its permissions"
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML (line {line}): {message}; fix the syntax at that line")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("config file {path}, line {line}: unknown key `{key}`{suggestion}; valid keys there: {valid}")]
    UnknownKey {
        path: PathBuf,
        line: usize,
        key: String,
        suggestion: String,
        valid: String,
    },
    #[error("config file {path}, line {line}: {message}")]
    Type {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("config: `{key}` is missing; {fix}")]
    Missing { key: String, fix: String },
    #[error("config: `{key}` = {value} is invalid: {reason}")]
    Invalid {
        key: String,
        value: String,
        reason: String,
    },
    #[error("config: `{key}` is not supported by this version of entra-source: {reason}")]
    Unsupported { key: String, reason: String },
    /// A key set where it does not apply, or beside one it excludes.
    #[error("config: `{key}` is set, but {reason}")]
    Misplaced { key: String, reason: String },
}

pub(crate) fn misplaced(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Misplaced {
        key: key.into(),
        reason: reason.into(),
    }
}

pub(crate) fn invalid(
    key: impl Into<String>,
    value: impl ToString,
    reason: impl Into<String>,
) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        value: value.to_string(),
        reason: reason.into(),
    }
}
