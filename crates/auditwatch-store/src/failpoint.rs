//! Named fail points in the commit protocol, for crash tests.
//!
//! Built only with the `failpoints` feature (never in a release). When the
//! `AUDITWATCH_FAILPOINT` environment variable names a point (or a comma-separated
//! list of them) and the process reaches it, the process prints
//! `failpoint reached: NAME` on stderr and stops there for good, so that the test
//! harness can SIGKILL it at exactly that step. Without the feature, [`hit`] is empty
//! and compiles away.

/// Marks a step of the commit protocol named `name`.
#[inline]
pub fn hit(name: &str) {
    #[cfg(feature = "failpoints")]
    reached(name);
    #[cfg(not(feature = "failpoints"))]
    let _ = name;
}

#[cfg(feature = "failpoints")]
fn reached(name: &str) {
    let Ok(armed) = std::env::var("AUDITWATCH_FAILPOINT") else {
        return;
    };
    if armed.split(',').any(|p| p.trim() == name) {
        use std::io::Write;
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "failpoint reached: {name}");
        let _ = err.flush();
        loop {
            std::thread::park();
        }
    }
}
