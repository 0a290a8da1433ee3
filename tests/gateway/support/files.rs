//! Files a test hands to the gateway by path (configs for the binary, certificates, CA files,
//! rule and descriptor files): [`TempFile`] writes one under the system temp dir with a name no
//! parallel test shares, and removes it when dropped.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// A file under the system temp dir with a unique name, removed on drop.
pub struct TempFile {
    pub path: PathBuf,
}

impl TempFile {
    pub fn new(stem: &str, extension: &str, contents: &str) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let path = std::env::temp_dir().join(format!(
            "h2gate-test-{stem}-{}-{unique}-{nanos}.{extension}",
            std::process::id()
        ));
        std::fs::write(&path, contents).expect("write temp file");
        Self { path }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
