//! A private single-threaded tokio runtime on its own thread, for zt's own background I/O
//! (key fetches, the DPoP replay store).

/// Why the runtime could not start.
#[derive(Debug)]
pub(crate) enum StartError {
    /// The thread could not be spawned.
    Thread {
        name: &'static str,
        kind: std::io::ErrorKind,
    },
    /// The tokio runtime could not be built.
    Runtime,
}

/// A private single-threaded tokio runtime on its own thread. Dropping the last handle lets
/// the thread finish; it is never joined, so dropping zt from inside any runtime (or from a
/// task on this one) cannot deadlock or panic.
pub(crate) struct Worker {
    handle: tokio::runtime::Handle,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Worker {
    /// Start the runtime on a thread named `name`.
    pub(crate) fn start(name: &'static str) -> Result<Self, StartError> {
        // The runtime is built on its own thread and only its handle comes back: a failure at
        // any step is an error here, and no runtime is ever dropped on the caller's thread
        // (tokio refuses to drop a runtime inside an async context).
        let (handle_tx, handle_rx) = std::sync::mpsc::sync_channel(1);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                match runtime {
                    Ok(rt) => {
                        let _ = handle_tx.send(Ok(rt.handle().clone()));
                        // Returns when the sender is dropped; pending fetches are then cancelled.
                        let _ = rt.block_on(stopped);
                    }
                    Err(_) => {
                        let _ = handle_tx.send(Err(StartError::Runtime));
                    }
                }
            })
            .map_err(|e| StartError::Thread {
                name,
                kind: e.kind(),
            })?;
        let handle = handle_rx.recv().map_err(|_| StartError::Runtime)??;
        Ok(Self {
            handle,
            _stop: stop,
        })
    }

    /// A handle to spawn on the runtime (valid until the worker is dropped).
    pub(crate) fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }
}
