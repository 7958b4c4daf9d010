//! The Python interpreter the interop and hostile-peer tests run their
//! peers with: `FERRY_PYTHON`, or the venv `scripts/python-env.sh` prepares
//! (it installs the pinned packages when needed). Without one the tests
//! fail; they never skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The interpreter, found once per test binary. `needs` says what the
/// calling test uses it for, for the failure message. Blocks while the
/// venv is being made: call it before any timeout starts.
pub(crate) fn python(needs: &str) -> &'static Path {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = PYTHON.get_or_init(|| {
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
    });
    match found {
        Ok(path) => path,
        Err(why) => panic!(
            "this test needs a Python with {needs}, and none was found. Run \
             `scripts/python-env.sh` from the repository root (it creates .venv with the pinned \
             packages), or set FERRY_PYTHON to such an interpreter.\n{why}"
        ),
    }
}
