//! What the cross-process test files share: segment names removed on drop and conformer
//! processes killed on drop.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

pub const BIN: &str = env!("CARGO_BIN_EXE_ringwire-conformer");

/// A shared-memory name `/rwrs-<pid>-x<n>`, unlinked on drop even when the test fails.
pub struct Shm(pub String);

impl Shm {
    pub fn new() -> Shm {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Shm(format!(
            "/rwrs-{}-x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ))
    }
}

impl Drop for Shm {
    fn drop(&mut self) {
        let _ = ringwire::unlink_shm(&self.0);
    }
}

/// A conformer process, killed (SIGKILL) and reaped on drop if the test did not wait for it.
pub struct Proc(pub Option<Child>);

impl Proc {
    pub fn spawn(args: &[&str]) -> Proc {
        let child = Command::new(BIN)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn conformer");
        Proc(Some(child))
    }

    /// Waits for exit: the exit code (or -signal) and the stdout lines.
    pub fn finish(mut self) -> (i32, Vec<String>) {
        let mut child = self.0.take().expect("running");
        let mut out = String::new();
        child
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut out)
            .expect("read stdout");
        let status = child.wait().expect("wait");
        let code = status
            .code()
            .unwrap_or_else(|| -status.signal().unwrap_or(0));
        (code, out.lines().map(str::to_string).collect())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs the conformer with args to its end.
pub fn run(args: &[&str]) -> (i32, Vec<String>) {
    Proc::spawn(args).finish()
}
