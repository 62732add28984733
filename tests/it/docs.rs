//! The documentation stays true where a test can hold it: every cross-reference (`README §
//! Heading`, `docs/x.md § Heading`, a Markdown link with its anchor) names a file and a heading
//! that exist, and the facts the docs repeat from the code (the state version, the default
//! sweeps, the request attempts) are the code's. The configuration reference, the `--help` text
//! and the troubleshooting page are generated and compared whole (`config_reference.rs`,
//! `command_line.rs`, `troubleshooting.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use entra_source::kind::StreamKind;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every text file of the repository a reader or a maintainer follows references in.
fn text_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![root()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if path.is_dir() {
                if !matches!(name.as_str(), "target" | ".git" | "testdata" | "golden") {
                    dirs.push(path);
                }
            } else if ["md", "rs", "toml", "yaml", "sh", "py", "conf"]
                .iter()
                .any(|e| name.ends_with(&format!(".{e}")))
                || name == "Dockerfile"
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// GitHub's anchor of a heading.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The headings of a Markdown file, as written (without `#` and backticks).
fn headings(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut fenced = false;
    let mut out = Vec::new();
    for l in text.lines() {
        if l.starts_with("```") {
            fenced = !fenced;
        }
        if !fenced && l.starts_with('#') {
            out.push(l.trim_start_matches('#').trim().to_string());
        }
    }
    out
}

/// The Markdown file a reference's file name means, seen from `from`.
fn target(from: &Path, name: &str) -> PathBuf {
    let name = name.trim_end_matches(['(', ' ']);
    match name {
        "README" | "README.md" => root().join("README.md"),
        "CHANGELOG.md" => root().join("CHANGELOG.md"),
        n if n.starts_with("docs/") => root().join(n),
        n => {
            let beside = from.parent().unwrap().join(n);
            if beside.exists() {
                beside
            } else {
                root().join("docs").join(n)
            }
        }
    }
}

/// `§ Heading` references: (file meant, heading text up to a closing mark or the line's end).
fn section_refs(path: &Path, text: &str) -> Vec<(PathBuf, String)> {
    let md = path.extension().is_some_and(|e| e == "md");
    let mut out = Vec::new();
    for line in text.lines() {
        let mut rest = line;
        while let Some(at) = rest.find("§ ") {
            let before = &rest[..at];
            let after = &rest[at + "§ ".len()..];
            rest = after;
            let heading: String = after
                .split([')', ']', ';', '.', ':'])
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('`')
                .to_string();
            if !heading.starts_with(|c: char| c.is_uppercase()) {
                continue;
            }
            // The file is the word right before `§`, when it names one.
            let word = before
                .trim_end()
                .rsplit([' ', '(', '[', '`'])
                .next()
                .unwrap_or("")
                .trim_end_matches('`');
            let file = if word == "README" || word.ends_with(".md") {
                target(path, word)
            } else if md {
                path.to_path_buf()
            } else {
                continue;
            };
            out.push((file, heading));
        }
    }
    out
}

#[test]
fn every_cross_reference_names_a_file_and_heading_that_exist() {
    let mut broken = Vec::new();
    let mut checked = 0;
    let mut cache: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    for path in text_files() {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let shown = path.strip_prefix(root()).unwrap().display().to_string();
        if shown == "tests/it/docs.rs" {
            continue; // its own examples of a reference
        }
        for (file, heading) in section_refs(&path, &text) {
            checked += 1;
            let hs = cache.entry(file.clone()).or_insert_with(|| headings(&file));
            let want = heading.to_lowercase().replace('`', "");
            let found = hs.iter().any(|h| {
                let h = h.to_lowercase().replace('`', "");
                h.starts_with(&want) || (want.starts_with(&h) && !h.is_empty())
            });
            if !found {
                broken.push(format!("{shown}: § {heading} (in {})", file.display()));
            }
        }
        if !shown.ends_with(".md") {
            continue;
        }
        // Markdown links to files of the repository, with their anchors.
        for part in text.split("](").skip(1) {
            let link = &part[..part.find(')').unwrap_or(0)];
            if link.is_empty() || link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (file, anchor) = link.split_once('#').unwrap_or((link, ""));
            let file = if file.is_empty() {
                path.clone()
            } else {
                path.parent().unwrap().join(file)
            };
            if !file.exists() {
                broken.push(format!("{shown}: link {link}: no such file"));
                continue;
            }
            if !anchor.is_empty() {
                let hs = cache.entry(file.clone()).or_insert_with(|| headings(&file));
                if !hs.iter().any(|h| slug(h) == anchor) {
                    broken.push(format!("{shown}: link {link}: no such heading"));
                }
            }
        }
    }
    assert!(checked > 40, "only {checked} references found");
    assert!(
        broken.is_empty(),
        "broken references:\n{}",
        broken.join("\n")
    );
}

fn raw(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap()
}

/// A file's text with its line breaks and runs of spaces as one space (a fact may wrap).
fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel))
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn the_documented_state_version_is_the_codes() {
    let v = entra_source::state::STATE_VERSION;
    assert!(
        read("docs/design.md").contains(&format!("is one file, version {v}")),
        "docs/design.md § The state store names another state version than {v}"
    );
    let changelog = std::fs::read_to_string(root().join("CHANGELOG.md")).unwrap();
    assert!(
        changelog
            .lines()
            .any(|l| l.starts_with("| state file") && l.contains(&format!("version {v}:"))),
        "CHANGELOG.md does not say what state version {v} changed"
    );
}

/// The durations of a `["5m", "20m"]` list that follows `after` in `text`.
fn list_after(text: &str, after: &str) -> Vec<std::time::Duration> {
    let at = text
        .find(after)
        .unwrap_or_else(|| panic!("{after:?} not found"))
        + after.len();
    let rest = &text[at..];
    let list = &rest[rest.find('[').unwrap() + 1..rest.find(']').unwrap()];
    list.split(',')
        .map(|d| entra_source::duration::parse_duration(d.trim().trim_matches('"')).unwrap())
        .collect()
}

#[test]
fn the_documented_default_sweeps_are_the_codes() {
    let reference = raw("docs/configuration.md");
    let row = reference
        .lines()
        .find(|l| l.starts_with("| `late_arrival` |") && l.contains("Default per stream"))
        .expect("the [poll] late_arrival row");
    assert_eq!(
        list_after(row, "Default per stream:"),
        StreamKind::DirectoryAudits.default_sweeps()
    );
    assert_eq!(
        list_after(row, "sign-ins"),
        StreamKind::SignIns.default_sweeps()
    );
    assert_eq!(
        list_after(row, "risk detections"),
        StreamKind::RiskDetections.default_sweeps()
    );
    let example = raw("config-examples/entra-source.toml");
    assert_eq!(
        list_after(&example, "# late_arrival = "),
        StreamKind::DirectoryAudits.default_sweeps()
    );
    let design = read("docs/design.md");
    assert!(design.contains("`5m`, just past Graph's usual delay"));
}

#[test]
fn the_documented_request_attempts_are_the_codes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "[tenant]\nid = \"8f1b6c2e-4f5a-4c3d-9e2b-7a6d5c4b3a21\"\nclient_id = \"5d8e7c6b-1a2b-4c3d-8e9f-0a1b2c3d4e5f\"\nclient_secret_env = \"X\"\n[streams.directory_audits]\n",
    )
    .unwrap();
    let n = entra_source::config::Config::load(&path)
        .unwrap()
        .request_attempts;
    let reference = raw("docs/configuration.md");
    assert!(
        reference.lines().any(
            |l| l.starts_with("| `request_attempts` |") && l.contains(&format!("Default {n}."))
        ),
        "docs/configuration.md: request_attempts' default is {n}"
    );
    assert!(
        read("docs/design.md").contains(&format!("up to `request_attempts` ({n})")),
        "docs/design.md: the retries line gives another default than {n}"
    );
}
