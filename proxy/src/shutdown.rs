//! Graceful shutdown: one signal every accept loop and internal endpoint listens to.

use tokio::sync::watch;

/// Sends the shutdown signal (cloneable; the first `trigger` wins).
#[derive(Debug, Clone)]
pub struct Shutdown {
    tx: watch::Sender<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl Shutdown {
    /// A new, untriggered signal.
    pub fn new() -> Shutdown {
        let (tx, _rx) = watch::channel(false);
        Shutdown { tx }
    }

    /// Asks everything to stop.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// True once triggered.
    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }

    /// Resolves once triggered.
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|triggered| *triggered).await;
    }
}
