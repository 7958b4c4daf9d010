//! Build errors, reported the way a compiler reports them:
//! `file:line:column: message`.

use std::fmt;
use std::io;
use std::path::PathBuf;

use miette::Diagnostic;

/// Why code generation failed.
pub struct Error {
    kind: Kind,
}

enum Kind {
    /// A `.proto` file failed to parse or to check (syntax, unknown
    /// import, unknown type, ...), already rendered with its locations.
    Proto(String),
    /// The output could not be written.
    Io {
        path: Option<PathBuf>,
        err: io::Error,
    },
    /// The builder was used wrongly (no `OUT_DIR`, no input files).
    Usage(String),
}

impl Error {
    pub(crate) fn usage(message: impl Into<String>) -> Error {
        Error {
            kind: Kind::Usage(message.into()),
        }
    }

    pub(crate) fn io(path: Option<PathBuf>, err: io::Error) -> Error {
        Error {
            kind: Kind::Io { path, err },
        }
    }

    /// Renders a protox error as `file:line:column: message`, one line per
    /// labelled location, followed by any help text.
    pub(crate) fn proto(err: &protox::Error) -> Error {
        let mut out = String::new();
        let mut located = false;
        if let (Some(source), Some(labels)) = (err.source_code(), err.labels()) {
            for label in labels {
                let Ok(contents) = source.read_span(label.inner(), 0, 0) else {
                    continue;
                };
                let file = contents
                    .name()
                    .map(str::to_owned)
                    .or_else(|| err.file().map(str::to_owned))
                    .unwrap_or_else(|| "<unknown>".to_owned());
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(&format!(
                    "{file}:{}:{}: {err}",
                    contents.line() + 1,
                    contents.column() + 1
                ));
                if let Some(text) = label.label() {
                    out.push_str(&format!(" ({text})"));
                }
                located = true;
            }
        }
        if !located {
            match err.file() {
                Some(file) => out.push_str(&format!("{file}: {err}")),
                None => out.push_str(&err.to_string()),
            }
        }
        if let Some(help) = err.help() {
            out.push_str(&format!("\n  help: {help}"));
        }
        Error {
            kind: Kind::Proto(out),
        }
    }

    /// Whether the error is in a `.proto` file (rather than in writing the
    /// output or in how the builder was called).
    pub fn is_proto(&self) -> bool {
        matches!(self.kind, Kind::Proto(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Proto(message) => f.write_str(message),
            Kind::Io {
                path: Some(path),
                err,
            } => write!(f, "writing {}: {err}", path.display()),
            Kind::Io { path: None, err } => write!(f, "generating code: {err}"),
            Kind::Usage(message) => f.write_str(message),
        }
    }
}

/// The same text as `Display`: a build script's `main` that returns this
/// error prints it with `Debug`, and the reader wants the locations.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Io { err, .. } => Some(err),
            _ => None,
        }
    }
}
