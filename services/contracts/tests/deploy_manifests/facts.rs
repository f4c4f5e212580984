//! What the manifests may say about `tracewire`, read from its sources as text (a test
//! cannot run `cargo run -- serve --help`): subcommands, the services `serve` runs,
//! its long flags, the environment variables the binary reads, and the fixed HTTP
//! routes the services answer.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// Names `tracewire` understands.
#[derive(Debug, Default)]
pub(crate) struct Facts {
    /// `tracewire` subcommands (`demo`, `serve`, `view`).
    pub(crate) subcommands: BTreeSet<String>,
    /// What `tracewire serve` runs (`order`, `inventory`, `payment`).
    pub(crate) services: BTreeSet<String>,
    /// Long flags of `tracewire serve`, with the dashes (`--broker`).
    pub(crate) serve_flags: BTreeSet<String>,
    /// Environment variables the binary reads (`TRACEWIRE_*`, `OTEL_*`, `RUST_LOG`).
    pub(crate) env: BTreeSet<String>,
    /// HTTP routes without path parameters (`/stock`): what a probe may GET.
    pub(crate) fixed_routes: BTreeSet<String>,
}

impl Facts {
    /// Reads the facts from the workspace at `root`.
    pub(crate) fn from_sources(root: &Path) -> Self {
        let read = |path: &str| {
            fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
        };
        let main = read("crates/tracewire/src/main.rs");
        let serve = read("crates/tracewire/src/serve.rs");
        let mut facts = Self {
            subcommands: enum_variants(&main, "enum Command {"),
            services: enum_variants(&serve, "enum ServiceName {"),
            serve_flags: long_flags(&serve, "struct ServeArgs {"),
            ..Self::default()
        };
        facts.env.extend(quoted_after(&serve, "env = \""));
        for path in [
            "crates/tracewire-telemetry/src/config/env.rs",
            "crates/tracewire-core/src/propagator/env.rs",
        ] {
            facts.env.extend(env_literals(non_test(&read(path))));
        }
        let services = root.join("services");
        for entry in fs::read_dir(&services).unwrap_or_else(|e| panic!("{services:?}: {e}")) {
            let src = entry.map(|e| e.path().join("src")).unwrap_or_default();
            for file in rust_files(&src) {
                let text = fs::read_to_string(&file).unwrap_or_default();
                facts.fixed_routes.extend(
                    quoted_after(&text, ".route(\"")
                        .into_iter()
                        .filter(|route| !route.contains('{')),
                );
            }
        }
        facts
    }
}

/// `.rs` files under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return files;
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The text before the first `#[cfg(test)]`.
fn non_test(text: &str) -> &str {
    text.split("#[cfg(test)]").next().unwrap_or(text)
}

/// The body of the first `{ … }` block that starts with `header` (not nested blocks).
fn block<'a>(text: &'a str, header: &str) -> &'a str {
    let start = text
        .find(header)
        .unwrap_or_else(|| panic!("`{header}` not found"))
        + header.len();
    let body = &text[start..];
    let mut depth = 0usize;
    for (i, c) in body.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return &body[..i],
            '}' => depth -= 1,
            _ => {}
        }
    }
    body
}

/// clap's names of a `ValueEnum`/`Subcommand` enum's unit or tuple variants: the
/// identifier in kebab-case (`Inventory` -> `inventory`, `Serve(…)` -> `serve`).
fn enum_variants(text: &str, header: &str) -> BTreeSet<String> {
    block(text, header)
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with("//") && !line.starts_with('#'))
        .filter_map(|line| {
            let ident: String = line
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            ident
                .starts_with(|c: char| c.is_ascii_uppercase())
                .then(|| kebab(&ident))
        })
        .collect()
}

fn kebab(ident: &str) -> String {
    let mut out = String::new();
    for (i, c) in ident.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// `--field-name` for every field of the struct whose `#[arg(…)]` says `long`.
fn long_flags(text: &str, header: &str) -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    let mut attributes = String::new();
    for line in block(text, header).lines().map(str::trim) {
        if line.starts_with("///") || line.is_empty() {
            continue;
        }
        match line.split_once(':') {
            Some((field, _)) if is_ident(field) => {
                if attributes.contains("long") {
                    flags.insert(format!("--{}", field.replace('_', "-")));
                }
                attributes.clear();
            }
            _ => attributes.push_str(line),
        }
    }
    flags
}

fn is_ident(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c == '_')
}

/// Every string literal that directly follows `prefix` (which ends with `"`).
fn quoted_after(text: &str, prefix: &str) -> Vec<String> {
    text.match_indices(prefix)
        .filter_map(|(at, _)| {
            let rest = &text[at + prefix.len()..];
            rest.find('"').map(|end| rest[..end].to_owned())
        })
        .collect()
}

/// String literals that look like environment variable names (`OTEL_SERVICE_NAME`).
fn env_literals(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split('"').skip(1).step_by(2).filter_map(|literal| {
        let is_env = literal.contains('_')
            && literal.starts_with(|c: char| c.is_ascii_uppercase())
            && literal
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        (is_env || literal == "RUST_LOG").then(|| literal.to_owned())
    })
}
