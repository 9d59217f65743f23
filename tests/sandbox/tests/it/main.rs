//! The `sandbox` command's own behaviour when there is no region: clear errors, nothing done.
//! (The region itself is judged by the suites in `tests/e2e`.)
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on what they did not expect

use std::process::Command;

fn sandbox(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .args(args)
        .env(
            "STEADFAST_SANDBOX_NAME",
            format!("steadfast-cli-test-{}", std::process::id()),
        )
        .output()
        .unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn commands_on_a_region_that_is_not_running_say_so() {
    for args in [&["status"][..], &["kill", "peer-4"], &["exec", "--", "true"]] {
        let (code, out) = sandbox(args);
        assert_eq!(code, Some(1), "{args:?}: {out}");
        assert!(
            out.contains("the sandbox is not running") && out.contains("sandbox up"),
            "{args:?}: {out}"
        );
    }
    let (code, out) = sandbox(&["down"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("nothing was running"), "{out}");
}
