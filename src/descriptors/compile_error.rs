//! protox's errors as compiler-style lines: `path/to/file.proto:LINE:COLUMN: message`, one per
//! problem, with protox's help and a hint when a bundled file is not imported.
//!
//! protox reports through `miette` diagnostics: the message alone (what `Display` gives) says
//! neither file nor position; those are in the diagnostic's source code and label spans.
//! Files are named as found on disk when an import root holds them, so the line points at the
//! file the user edits.

use std::path::{Path, PathBuf};

use miette::{Diagnostic, SourceCode};

use super::bundled;

/// Every problem in `err`: a line each, followed by indented help and hint lines if any.
pub fn render(err: &protox::Error, include: &[PathBuf]) -> Vec<String> {
    let source = err.source_code();
    let mut problems = vec![problem(err, source, include)];
    for related in err.related().into_iter().flatten() {
        // Further problems in the same file carry spans into the first one's source.
        let own = related.source_code().or(source);
        problems.push(problem(related, own, include));
    }
    problems
}

fn problem(
    diagnostic: &dyn Diagnostic,
    source: Option<&dyn SourceCode>,
    include: &[PathBuf],
) -> String {
    let message = diagnostic.to_string();
    let mut text = match position(diagnostic, source) {
        Some((name, line, column)) => {
            format!("{}:{line}:{column}: {message}", on_disk(&name, include))
        }
        // The messages without a position name their file themselves.
        None => format!("compiling protos: {message}"),
    };
    if let Some(help) = diagnostic.help() {
        text.push_str(&format!("\n  help: {help}"));
    }
    if let Some(import) = missing_import(&message) {
        text.push_str(&format!(
            "\n  hint: add `import \"{import}\";` (bundled with h2gate: nothing to download \
             or copy)"
        ));
    }
    text
}

/// The file, 1-based line and 1-based column of the diagnostic's first label.
fn position(
    diagnostic: &dyn Diagnostic,
    source: Option<&dyn SourceCode>,
) -> Option<(String, usize, usize)> {
    let label = diagnostic.labels()?.next()?;
    let contents = source?.read_span(label.inner(), 0, 0).ok()?;
    let name = contents.name()?.to_owned();
    Some((name, contents.line() + 1, contents.column() + 1))
}

/// `name` (an import name) as the path of the file that an import root holds, if any.
fn on_disk(name: &str, include: &[PathBuf]) -> String {
    include
        .iter()
        .map(|root| root.join(name))
        .find(|path| path.is_file())
        .map_or_else(|| name.to_owned(), |path| display(&path))
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// For "name 'X' is not defined" where a bundled file defines X: that file's import name.
fn missing_import(message: &str) -> Option<String> {
    let name = message
        .strip_prefix("name '")
        .or_else(|| message.strip_prefix("option field '"))?
        .split('\'')
        .next()?;
    // Option names come in parentheses, and names may be fully qualified.
    let name = name.trim_start_matches('(').trim_end_matches(')');
    bundled::defining_file(name.trim_start_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_bundled_definitions_point_at_their_file() {
        for (message, import) in [
            (
                "name 'google.api.http' is not defined",
                Some("google/api/annotations.proto"),
            ),
            (
                "name '.google.api.HttpBody' is not defined",
                Some("google/api/httpbody.proto"),
            ),
            (
                "option field '(google.api.http)' is not defined",
                Some("google/api/annotations.proto"),
            ),
            (
                "name 'google.rpc.BadRequest' is not defined",
                Some("google/rpc/error_details.proto"),
            ),
            (
                "name 'google.rpc.Status' is not defined",
                Some("google/rpc/status.proto"),
            ),
            ("name 'acme.Thing' is not defined", None),
            ("expected ';' or '[', but found 'string'", None),
        ] {
            assert_eq!(missing_import(message).as_deref(), import, "{message}");
        }
    }
}
