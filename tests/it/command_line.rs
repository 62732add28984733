//! The end of `docs/command-line.md` is every command's `--help`, as the binary prints it: this
//! test renders it again and fails on any difference, so the page cannot drift from the
//! options. `ENTRA_SOURCE_BLESS=1 cargo test --test it command_line` rewrites that part.

use std::path::PathBuf;

use crate::common::BIN;

const COMMANDS: &[&[&str]] = &[
    &[],
    &["run"],
    &["check"],
    &["demo"],
    &["simulate"],
    &["state"],
    &["state", "show"],
    &["state", "export"],
    &["state", "import"],
    &["state", "reset"],
];

/// Replaces the text between `<!-- generated: NAME -->` and `<!-- end: NAME -->` in `doc`, or
/// panics (with the fix) when the markers are gone.
pub(crate) fn splice(doc: &str, name: &str, body: &str) -> String {
    let open = format!("<!-- generated: {name} -->\n");
    let close = format!("<!-- end: {name} -->");
    let a = doc
        .find(&open)
        .expect("the generated part's opening marker")
        + open.len();
    let b = doc
        .find(&close)
        .expect("the generated part's closing marker");
    format!("{}{body}{}", &doc[..a], &doc[b..])
}

/// Compares `path` with `expected`, or rewrites it under `ENTRA_SOURCE_BLESS=1`.
pub(crate) fn compare_or_bless(path: &PathBuf, expected: &str, test: &str) {
    let actual = std::fs::read_to_string(path).unwrap_or_default();
    if std::env::var_os("ENTRA_SOURCE_BLESS").is_some() {
        std::fs::write(path, expected).unwrap();
        return;
    }
    if actual != expected {
        let line = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, e)| a != e)
            .map_or(actual.lines().count().min(expected.lines().count()), |i| i);
        panic!(
            "{} differs from what the code produces at line {} (expected {:?}); rerun with \
             ENTRA_SOURCE_BLESS=1 cargo test --test it {test} and commit the file",
            path.display(),
            line + 1,
            expected.lines().nth(line).unwrap_or("<end of file>")
        );
    }
}

#[test]
fn the_command_line_page_holds_every_commands_help() {
    let mut body = String::new();
    // The exit statuses and environment every screen ends with, shown once (under the first).
    let mut trailer: Option<String> = None;
    for args in COMMANDS {
        let out = std::process::Command::new(BIN)
            .args(*args)
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?} --help failed");
        let mut help = String::from_utf8(out.stdout).unwrap();
        let at = help
            .find("\nExit status:")
            .expect("every screen names the exit statuses");
        match &trailer {
            None => trailer = Some(help[at..].to_string()),
            Some(t) => {
                assert_eq!(&help[at..], t, "{args:?}: another exit-status text");
                help.truncate(at);
            }
        }
        let title = std::iter::once("entra-source")
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        body.push_str(&format!(
            "\n### `{title} --help`\n\n```text\n{}\n```\n\n",
            help.trim_end()
        ));
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/command-line.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    compare_or_bless(&path, &splice(&doc, "help", &body), "command_line");
}
