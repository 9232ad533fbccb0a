//! A real kube-apiserver (with embedded etcd) for integration tests,
//! started through `tests/cluster/start` (which builds it from the
//! `k8s.io/kubernetes` Go module), and our scheduler running against it.

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kws_host::backend::kube::{KubeCluster, RateLimit};
use kws_host::config::Config;
use kws_host::framework::Framework;
use kws_host::queue::QueueTimings;
use kws_host::scheduler::Scheduler;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a cold start may take: the first start in a CI run builds the
/// harness (15-20 minutes cold).
const START_TIMEOUT: Duration = Duration::from_secs(40 * 60);

/// Builds the harness once per test binary, so that tests starting
/// clusters in parallel do not each run a cold Go build.
fn build_harness() {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let script = crate::workspace().join("tests/cluster/build");
        let status = Command::new(&script)
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(status.success(), "{} failed: {status}", script.display());
    });
}

/// A running test cluster; stopped (SIGTERM) when dropped.
pub struct TestCluster {
    child: Child,
    dir: PathBuf,
    pub kubeconfig: PathBuf,
}

impl TestCluster {
    /// Starts a fresh cluster with its data in a new temporary directory.
    /// Panics with the harness's output if it does not come up.
    pub fn start() -> TestCluster {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        build_harness();
        let dir = std::env::temp_dir().join(format!(
            "kws-cluster-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let kubeconfig = dir.join("kubeconfig");
        let script = crate::workspace().join("tests/cluster/start");
        let log_path = dir.join("cluster.log");
        let log = std::fs::File::create(&log_path).expect("a log file");
        let mut child = Command::new(&script)
            .arg("serve")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            // The cluster stops by itself if this process dies.
            .arg("--stop-on-stdin-eof")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (ready, wait) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("READY") {
                    let _ = ready.send(());
                }
            }
        });
        if wait.recv_timeout(START_TIMEOUT).is_err() {
            let _ = child.kill();
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            panic!(
                "the test cluster did not print READY; the end of {}:\n{}",
                log_path.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        TestCluster {
            child,
            dir,
            kubeconfig,
        }
    }

    /// A client with the cluster's admin credentials.
    pub async fn client(&self) -> Client {
        let file = Kubeconfig::read_from(&self.kubeconfig).expect("the harness wrote a kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
            .await
            .expect("the kubeconfig is valid");
        Client::try_from(config).expect("a client")
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// kube-wasm-scheduler running against a test cluster on its own thread;
/// stopped when dropped.
pub struct RunningScheduler {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RunningScheduler {
    /// Starts the default profile with the default plugins, as
    /// `kube-wasm-scheduler run` would.
    pub fn start(cluster: &TestCluster, config: Config) -> RunningScheduler {
        let kubeconfig = cluster.kubeconfig.clone();
        let (started, wait) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let dir = crate::component_dir("plugins").display().to_string();
            let framework =
                Framework::new(&config, crate::plugins(), &dir).unwrap_or_else(|e| panic!("{e}"));
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime");
            let limit = RateLimit {
                qps: 1000.0,
                burst: 1000,
            };
            let backend = runtime
                .block_on(KubeCluster::connect(Some(&kubeconfig), limit))
                .unwrap_or_else(|e| panic!("{e}"));
            let mut scheduler = Scheduler::new(
                framework,
                Arc::new(backend),
                runtime.handle().clone(),
                QueueTimings::from_config(&config),
            );
            let _ = started.send(scheduler.stop_flag());
            scheduler.run();
        });
        let stop = wait
            .recv_timeout(Duration::from_secs(120))
            .expect("the scheduler connected");
        RunningScheduler {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for RunningScheduler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
