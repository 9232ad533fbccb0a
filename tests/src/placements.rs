//! Which plugin versions placed which pod, read from the scheduler's own
//! `scheduled` log events (`pod`, `node`, `plugins` fields) by a tracing
//! layer installed for the whole test process.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{Layer, Registry};

/// One placement as the scheduler logged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// `namespace/name`.
    pub pod: String,
    pub node: String,
    /// `NodeUnschedulable 0.1.0, ..., Lane 2.0.0`.
    pub plugins: String,
}

type Log = Arc<Mutex<Vec<Placed>>>;

struct Recorder(Log);

#[derive(Default)]
struct Fields {
    message: String,
    pod: String,
    node: String,
    plugins: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.set(field, format!("{value:?}"));
    }
}

impl Fields {
    fn set(&mut self, field: &Field, value: String) {
        match field.name() {
            "message" => self.message = value,
            "pod" => self.pod = value,
            "node" => self.node = value,
            "plugins" => self.plugins = value,
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Recorder {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != "kws_host::scheduler" {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        if fields.message == "scheduled" {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Placed {
                    pod: fields.pod,
                    node: fields.node,
                    plugins: fields.plugins,
                });
        }
    }
}

/// Starts recording (once per process) and returns every placement
/// logged so far.
pub fn placements() -> Vec<Placed> {
    static LOG: OnceLock<Log> = OnceLock::new();
    let log = LOG.get_or_init(|| {
        let log = Log::default();
        let subscriber = Registry::default().with(Recorder(log.clone()));
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in this test process");
        log
    });
    log.lock().unwrap_or_else(PoisonError::into_inner).clone()
}
