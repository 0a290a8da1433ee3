//! Tests that use a program from outside the Rust toolchain (Debian's chromium, promtool):
//! where it is missing they say so and pass, except where it is required (its
//! `H2GATE_REQUIRE_*` variable, which `.ci/run` sets, or `CI`): there a missing tool is a
//! failure, never a silent pass.

/// Panics if `tool` is required here, else notes that `what` is skipped.
pub fn tool_missing(tool: &str, required_by: &str, what: &str) {
    let required = [required_by, "CI"]
        .iter()
        .any(|name| std::env::var_os(name).is_some());
    assert!(
        !required,
        "{tool} is required here ({required_by} or CI is set; .ci/run installs it)"
    );
    eprintln!("skipping {what}: {tool} is not installed");
}
