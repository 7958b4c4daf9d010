//! Helpers shared by the test suites of several Ferry crates. Not published;
//! only `[dev-dependencies]` use it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Python interpreter the tests run their peers and reference
/// implementations with: `FERRY_PYTHON`, or the interpreter of the venv
/// `scripts/python-env.sh` prepares (it installs the pinned packages when
/// needed). Found once per test binary; blocks while the venv is being
/// made, so call it before any timeout starts.
///
/// `needs` says what the calling test uses Python for; it goes into the
/// panic message when no interpreter can be found. The tests that need
/// Python fail without it, they never skip.
pub fn python(needs: &str) -> &'static Path {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(find_python) {
        Ok(path) => path,
        Err(why) => panic!(
            "this test needs a Python with {needs}, and none was found. Run \
             `scripts/python-env.sh` from the repository root (it creates .venv with the pinned \
             packages), or set FERRY_PYTHON to such an interpreter.\n{why}"
        ),
    }
}

fn find_python() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("FERRY_PYTHON") {
        return Ok(PathBuf::from(path));
    }
    let script = repo_root().join("scripts/python-env.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("could not run {}: {e}", script.display()))?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || path.is_empty() || !Path::new(&path).exists() {
        return Err(format!(
            "{} exited with {} and printed {path:?}; stderr:\n{}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(PathBuf::from(path))
}
