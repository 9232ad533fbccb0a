//! A real kube-apiserver (with embedded etcd) for integration tests,
//! started through `tests/cluster/start` (which builds it from the
//! `k8s.io/kubernetes` Go module), and our scheduler running against it.

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kws_host::backend::kube::{KubeCluster, RateLimit};
use kws_host::backend::{Backend, BindError, EventSink, PluginNotice, PodRef, Preemption};
use kws_host::config::Config;
use kws_host::framework::Framework;
use kws_host::plugin_dir::PluginDir;
use kws_host::queue::QueueTimings;
use kws_host::runtime::{CompileCache, LoadedPlugin, Loader};
use kws_host::scheduler::Scheduler;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a cold start may take: the first start in a CI run builds the
/// harness (15-20 minutes cold).
const START_TIMEOUT: Duration = Duration::from_secs(40 * 60);

/// How long a restart over existing data may take to print READY again (it
/// waits up to 15 s for the old process to free the port).
const RESTART_TIMEOUT: Duration = Duration::from_secs(3 * 60);

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

/// The harness binary that `tests/cluster/build` writes.
fn harness_binary() -> PathBuf {
    let cache = std::env::var_os("KWS_CACHE").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").expect("$HOME is set"))
                .join(".cache")
                .join("kws")
        },
        PathBuf::from,
    );
    cache.join("bin").join("testcluster")
}

/// A token user the apiserver accepts besides the admin (`serve --users`).
#[derive(Debug, Clone)]
pub struct TokenUser {
    pub token: String,
    pub name: String,
    /// Besides `system:authenticated`, which the apiserver adds to everyone.
    pub groups: Vec<String>,
}

/// How to start a [`TestCluster`].
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// `--authorization`: `RBAC` (the harness's default) or `AlwaysAllow`.
    pub authorization: Option<String>,
    /// Extra token users (`--users`).
    pub users: Vec<TokenUser>,
    /// Also run kube-controller-manager with the controllers that volume
    /// binding and DRA need (the harness's `controller-manager` mode): PVs
    /// and claims then bind, and ResourceClaimTemplates yield claims, as in
    /// a real cluster. Off by default: most tests do not need it.
    pub controller_manager: bool,
}

/// A running test cluster; stopped (SIGTERM) when dropped.
///
/// Its etcd data, keys and port live in its own directory (`serve --data`),
/// so [`TestCluster::restart`] brings back the same objects on the same
/// address with the same credentials.
pub struct TestCluster {
    child: Child,
    controller_manager: Option<Child>,
    dir: PathBuf,
    args: Vec<std::ffi::OsString>,
    pub kubeconfig: PathBuf,
}

impl TestCluster {
    /// Starts a fresh cluster with its data in a new temporary directory.
    /// Panics with the harness's output if it does not come up.
    pub fn start() -> TestCluster {
        Self::start_with(ClusterOptions::default())
    }

    /// [`TestCluster::start`] with other authorization or extra users.
    pub fn start_with(options: ClusterOptions) -> TestCluster {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        build_harness();
        let dir = std::env::temp_dir().join(format!(
            "kws-cluster-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let kubeconfig = dir.join("kubeconfig");
        let mut args: Vec<std::ffi::OsString> = vec![
            "serve".into(),
            "--kubeconfig".into(),
            kubeconfig.clone().into(),
            "--data".into(),
            dir.join("data").into(),
            // The cluster stops by itself if this process dies.
            "--stop-on-stdin-eof".into(),
        ];
        if let Some(mode) = &options.authorization {
            args.extend(["--authorization".into(), mode.into()]);
        }
        if !options.users.is_empty() {
            let file = dir.join("users.csv");
            let lines: Vec<String> = options
                .users
                .iter()
                .map(|u| {
                    let mut fields =
                        vec![u.token.clone(), u.name.clone(), format!("{}-uid", u.name)];
                    fields.extend(u.groups.iter().cloned());
                    fields.join(",") + "\n"
                })
                .collect();
            std::fs::write(&file, lines.concat()).expect("the users file is written");
            args.extend(["--users".into(), file.into()]);
        }
        let child = serve(&dir, &args, START_TIMEOUT);
        let controller_manager = options
            .controller_manager
            .then(|| start_controller_manager(&dir, &kubeconfig));
        TestCluster {
            child,
            controller_manager,
            dir,
            args,
            kubeconfig,
        }
    }

    /// The log of the cluster's kube-controller-manager so far (empty when
    /// [`ClusterOptions::controller_manager`] is off), to explain a failure.
    pub fn controller_manager_log(&self) -> String {
        std::fs::read_to_string(self.dir.join(CONTROLLER_MANAGER_LOG)).unwrap_or_default()
    }

    /// Stops the apiserver (SIGTERM, as an operator or a rolling update
    /// would) and starts it again over the same data: same objects, port,
    /// CA and tokens, so clients holding the old kubeconfig reconnect.
    /// Returns once the new apiserver is ready.
    pub fn restart(&mut self) {
        stop(&mut self.child);
        self.child = serve(&self.dir, &self.args, RESTART_TIMEOUT);
    }

    /// A client with the cluster's admin credentials.
    pub async fn client(&self) -> Client {
        client_for(&self.kubeconfig).await
    }

    /// Runs the harness's kubectl (v1.37) with the admin kubeconfig.
    pub fn kubectl(&self, args: &[&std::ffi::OsStr]) -> std::process::Output {
        Command::new(harness_binary())
            .arg("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .output()
            .expect("the harness runs")
    }

    /// Writes a kubeconfig for a token user of [`ClusterOptions::users`]
    /// (the harness's `kubeconfig` mode) and returns its path.
    pub fn kubeconfig_for(&self, user: &TokenUser) -> PathBuf {
        let out = self
            .dir
            .join(format!("kubeconfig-{}", user.name.replace(':', "-")));
        let output = Command::new(harness_binary())
            .arg("kubeconfig")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--token")
            .arg(&user.token)
            .arg("--user")
            .arg(&user.name)
            .arg("--out")
            .arg(&out)
            .output()
            .expect("the harness runs");
        assert!(
            output.status.success(),
            "testcluster kubeconfig failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        out
    }
}

/// The object of `deploy/rbac.yaml` whose kind is `kind`.
pub fn from_rbac_yaml(kind: &str) -> serde_json::Value {
    use serde::Deserialize;
    let path = crate::workspace().join("deploy/rbac.yaml");
    let text = std::fs::read_to_string(&path).expect("deploy/rbac.yaml");
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| serde_json::Value::deserialize(doc).expect("a YAML document"))
        .find(|doc| doc["kind"] == kind)
        .unwrap_or_else(|| panic!("{} has no {kind}", path.display()))
}

/// A cluster with RBAC on and a token user `name` granted what
/// `deploy/rbac.yaml` grants the scheduler ([`grant_deploy_role`]): the
/// cluster, a client with the admin's rights, and the user's kubeconfig.
pub async fn start_as_deployed(name: &str) -> (TestCluster, Client, PathBuf) {
    let user = TokenUser {
        token: format!("{name}-token"),
        name: name.to_string(),
        groups: Vec::new(),
    };
    let cluster = TestCluster::start_with(ClusterOptions {
        authorization: Some("RBAC".to_string()),
        users: vec![user.clone()],
        ..ClusterOptions::default()
    });
    let admin = cluster.client().await;
    let kubeconfig = cluster.kubeconfig_for(&user);
    grant_deploy_role(&admin, &user, &kubeconfig).await;
    (cluster, admin, kubeconfig)
}

/// Creates the ClusterRole and the Role of `deploy/rbac.yaml` and binds
/// them to `user` (the file binds them to a service account), then waits
/// for the roles to take effect: `user` then has what the scheduler is
/// granted, and nothing else.
pub async fn grant_deploy_role(admin: &Client, user: &TokenUser, kubeconfig: &Path) {
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding, Subject};
    use kube::Api;
    use kube::api::{ListParams, PostParams};
    let role: ClusterRole =
        serde_json::from_value(from_rbac_yaml("ClusterRole")).expect("a ClusterRole");
    Api::<ClusterRole>::all(admin.clone())
        .create(&PostParams::default(), &role)
        .await
        .expect("the ClusterRole is created");
    let mut binding: ClusterRoleBinding =
        serde_json::from_value(from_rbac_yaml("ClusterRoleBinding")).expect("a binding");
    assert_eq!(binding.role_ref.name, role.metadata.name.clone().unwrap());
    let subjects = Some(vec![Subject {
        kind: "User".to_string(),
        api_group: Some("rbac.authorization.k8s.io".to_string()),
        name: user.name.clone(),
        namespace: None,
    }]);
    binding.subjects = subjects.clone();
    Api::<ClusterRoleBinding>::all(admin.clone())
        .create(&PostParams::default(), &binding)
        .await
        .expect("the binding is created");
    let role: Role = serde_json::from_value(from_rbac_yaml("Role")).expect("a Role");
    let namespace = role
        .metadata
        .namespace
        .clone()
        .expect("the Role's namespace");
    Api::<Role>::namespaced(admin.clone(), &namespace)
        .create(&PostParams::default(), &role)
        .await
        .expect("the Role is created");
    let mut binding: RoleBinding =
        serde_json::from_value(from_rbac_yaml("RoleBinding")).expect("a RoleBinding");
    binding.subjects = subjects;
    Api::<RoleBinding>::namespaced(admin.clone(), &namespace)
        .create(&PostParams::default(), &binding)
        .await
        .expect("the RoleBinding is created");
    // RBAC decisions follow the binding within a moment; wait for it.
    let pods: Api<Pod> = Api::all(client_for(kubeconfig).await);
    crate::api::eventually(
        "the role to take effect",
        Duration::from_secs(30),
        || async { pods.list(&ListParams::default()).await.ok() },
    )
    .await;
}

/// A client for a kubeconfig file.
pub async fn client_for(kubeconfig: &Path) -> Client {
    let file = Kubeconfig::read_from(kubeconfig).expect("the harness wrote a kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
        .await
        .expect("the kubeconfig is valid");
    Client::try_from(config).expect("a client")
}

/// Runs `serve` with `args` and waits for its READY line. Its log is
/// appended to `dir/cluster.log`. `serve` picks free ports and then binds
/// them, so a cluster starting beside it can take one in between: a start
/// that fails with `address already in use` is tried again, twice at most.
fn serve(dir: &Path, args: &[std::ffi::OsString], timeout: Duration) -> Child {
    let mut attempts = 1;
    loop {
        match serve_once(dir, args, timeout) {
            Ok(child) => return child,
            Err(message) if attempts < 3 && message.contains("address already in use") => {
                attempts += 1;
            }
            Err(message) => panic!("{message}"),
        }
    }
}

fn serve_once(dir: &Path, args: &[std::ffi::OsString], timeout: Duration) -> Result<Child, String> {
    spawn_until_ready(&dir.join("cluster.log"), args, timeout)
        .map_err(|how| format!("the test cluster did not print READY: {how}"))
}

/// Where the controller-manager of a cluster logs, in the cluster's
/// directory.
const CONTROLLER_MANAGER_LOG: &str = "controller-manager.log";

/// Runs the harness's `controller-manager` mode with the admin kubeconfig
/// (each controller then runs as its own service account) and waits until
/// its controllers are up: about 0.3 s.
///
/// Its clients get scheduler_perf's limits (5000 qps and burst) instead of
/// kube-controller-manager's 20 and 30: the resource claim controller
/// writes a claim and a pod status per pod, so at 20 qps it would hold any
/// scheduler near 10 pods/s with a ResourceClaimTemplate.
fn start_controller_manager(dir: &Path, kubeconfig: &Path) -> Child {
    let args: Vec<std::ffi::OsString> = vec![
        "controller-manager".into(),
        "--kubeconfig".into(),
        kubeconfig.into(),
        "--stop-on-stdin-eof".into(),
        "--".into(),
        "--kube-api-qps=5000".into(),
        "--kube-api-burst=5000".into(),
    ];
    spawn_until_ready(&dir.join(CONTROLLER_MANAGER_LOG), &args, START_TIMEOUT)
        .unwrap_or_else(|how| panic!("kube-controller-manager did not print READY: {how}"))
}

/// Runs the harness with `args`, its stderr appended to `log_path`, and
/// waits for a line starting with READY on its stdout. On failure, says
/// how, with the end of the log.
fn spawn_until_ready(
    log_path: &Path,
    args: &[std::ffi::OsString],
    timeout: Duration,
) -> Result<Child, String> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .expect("a log file");
    let binary = harness_binary();
    let mut child = Command::new(&binary)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
    let stdout = child.stdout.take().expect("piped stdout");
    let (ready, wait) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("READY") {
                let _ = ready.send(());
            }
        }
    });
    if let Err(error) = wait.recv_timeout(timeout) {
        let how = match error {
            mpsc::RecvTimeoutError::Disconnected => match child.wait() {
                Ok(status) => format!("it exited ({status})"),
                Err(e) => format!("it closed its output ({e})"),
            },
            mpsc::RecvTimeoutError::Timeout => {
                let _ = child.kill();
                let _ = child.wait();
                format!("not ready after {timeout:?}, killed")
            }
        };
        let log = std::fs::read_to_string(log_path).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        return Err(format!(
            "{how}; the end of {}:\n{}",
            log_path.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    Ok(child)
}

/// SIGTERM, then SIGKILL if it has not exited after 30 s (it takes about
/// 3 s, more on a loaded machine).
fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    for _ in 0..300 {
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if let Some(controller_manager) = self.controller_manager.as_mut() {
            stop(controller_manager);
        }
        stop(&mut self.child);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A bind the scheduler has decided and [`RunningScheduler::start_holding_binds`]
/// holds back until the test releases it.
#[derive(Debug)]
pub struct HeldBind {
    pub pod: PodRef,
    pub node: String,
    release: tokio::sync::oneshot::Sender<()>,
}

impl HeldBind {
    /// Lets the bind go to the apiserver.
    pub fn release(self) {
        let _ = self.release.send(());
    }
}

/// The kube backend, with each bind held until the test releases it: the
/// window between a cycle's decision (the pod assumed on its node) and the
/// bind reaching the apiserver, made as long as a test needs.
struct HoldingBinds {
    inner: KubeCluster,
    held: mpsc::Sender<HeldBind>,
}

impl Backend for HoldingBinds {
    fn watch(&self, sink: EventSink) {
        self.inner.watch(sink);
    }

    async fn bind(&self, pod: &PodRef, node: &str) -> Result<(), BindError> {
        let (release, released) = tokio::sync::oneshot::channel();
        let held = HeldBind {
            pod: pod.clone(),
            node: node.to_string(),
            release,
        };
        if self.held.send(held).is_ok() {
            // A dropped HeldBind releases it too.
            let _ = released.await;
        }
        self.inner.bind(pod, node).await
    }

    async fn report_scheduled(&self, pod: &PodRef, node: &str) {
        self.inner.report_scheduled(pod, node).await;
    }

    async fn report_unschedulable(&self, pod: &PodRef, reason: &str, message: &str) {
        self.inner.report_unschedulable(pod, reason, message).await;
    }

    async fn report_plugin(&self, notice: &PluginNotice) {
        self.inner.report_plugin(notice).await;
    }

    async fn preempt(&self, preemption: &Preemption) {
        self.inner.preempt(preemption).await;
    }

    async fn clear_nomination(&self, pod: &PodRef) {
        self.inner.clear_nomination(pod).await;
    }

    fn volume_writer(&self) -> Option<Arc<dyn kws_host::volumes::VolumeWriter>> {
        self.inner.volume_writer()
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
    /// `kube-wasm-scheduler run` would, with the cluster's admin
    /// credentials.
    pub fn start(cluster: &TestCluster, config: Config) -> RunningScheduler {
        Self::start_with_kubeconfig(&cluster.kubeconfig, config)
    }

    /// [`RunningScheduler::start`] with the credentials of `kubeconfig`.
    pub fn start_with_kubeconfig(kubeconfig: &Path, config: Config) -> RunningScheduler {
        spawn(
            kubeconfig.to_path_buf(),
            config,
            None,
            Vec::new(),
            |backend| backend,
        )
    }

    /// [`RunningScheduler::start`] with `extra` plugins beside the built
    /// ones (fixtures).
    pub fn start_with_plugins(
        cluster: &TestCluster,
        config: Config,
        extra: Vec<Arc<LoadedPlugin>>,
    ) -> RunningScheduler {
        spawn(cluster.kubeconfig.clone(), config, None, extra, |backend| {
            backend
        })
    }

    /// [`RunningScheduler::start`] with the plugins of `dir`, watched as
    /// `kube-wasm-scheduler run` watches its plugin directory, compiled
    /// through a compile cache in `cache`.
    pub fn start_watching(
        cluster: &TestCluster,
        config: Config,
        dir: &Path,
        cache: &Path,
    ) -> RunningScheduler {
        let watched = Some((dir.to_path_buf(), cache.to_path_buf()));
        spawn(
            cluster.kubeconfig.clone(),
            config,
            watched,
            Vec::new(),
            |backend| backend,
        )
    }

    /// [`RunningScheduler::start`], holding every bind until the test
    /// releases the [`HeldBind`] it receives from the returned channel.
    pub fn start_holding_binds(
        cluster: &TestCluster,
        config: Config,
    ) -> (RunningScheduler, mpsc::Receiver<HeldBind>) {
        let (held, binds) = mpsc::channel();
        let scheduler = spawn(
            cluster.kubeconfig.clone(),
            config,
            None,
            Vec::new(),
            move |inner| HoldingBinds { inner, held },
        );
        (scheduler, binds)
    }

    /// Whether the scheduling loop is still running (it has not panicked
    /// or returned).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }
}

/// Runs the scheduler on its own thread, against the cluster `kubeconfig`
/// reaches as `backend` wraps it, with the built plugins or those of a
/// watched directory (and its compile cache), and `extra` ones.
fn spawn<B: Backend>(
    kubeconfig: PathBuf,
    config: Config,
    watched: Option<(PathBuf, PathBuf)>,
    extra: Vec<Arc<LoadedPlugin>>,
    backend: impl FnOnce(KubeCluster) -> B + Send + 'static,
) -> RunningScheduler {
    let (started, wait) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let (watch, plugins) = match &watched {
            Some((dir, cache)) => {
                let loader = Loader::new(Some(CompileCache::open(cache).unwrap()));
                let (watch, plugins, refused) =
                    PluginDir::open(dir, loader).unwrap_or_else(|e| panic!("{e}"));
                assert!(refused.is_empty(), "{refused:?}");
                (Some(watch), plugins)
            }
            None => (None, crate::plugins().to_vec()),
        };
        let mut plugins = plugins;
        plugins.extend(extra);
        let dir = crate::component_dir("plugins").display().to_string();
        let framework = Framework::new(&config, &plugins, &dir).unwrap_or_else(|e| panic!("{e}"));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let limit = RateLimit {
            qps: 1000.0,
            burst: 1000,
        };
        let cluster = runtime
            .block_on(KubeCluster::connect(Some(&kubeconfig), limit))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut scheduler = Scheduler::new(
            framework,
            Arc::new(backend(cluster)),
            runtime.handle().clone(),
            QueueTimings::from_config(&config),
        )
        .serving(&plugins);
        let mut watch = watch;
        if let Some(watch) = watch.as_mut() {
            watch.follow(scheduler.plugin_updates()).unwrap();
        }
        let _ = started.send(scheduler.stop_flag());
        scheduler.run();
        drop(watch);
    });
    let stop = wait
        .recv_timeout(Duration::from_secs(120))
        .expect("the scheduler connected");
    RunningScheduler {
        stop,
        thread: Some(thread),
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

/// How to run the real kube-scheduler against a [`TestCluster`].
#[derive(Debug, Clone)]
pub struct UpstreamOptions {
    /// `profiles[0].schedulerName`: pods with this `schedulerName` are its.
    pub scheduler_name: String,
    /// `clientConnection.qps` and `burst`.
    pub qps: f64,
    pub burst: u32,
    /// Serve `/metrics` (HTTPS, self-signed) on this loopback port, open to
    /// anonymous scrapers.
    pub metrics_port: Option<u16>,
}

impl Default for UpstreamOptions {
    /// kube-scheduler's own defaults: `default-scheduler`, 50 qps, burst 100.
    fn default() -> Self {
        UpstreamOptions {
            scheduler_name: "default-scheduler".into(),
            qps: 50.0,
            burst: 100,
            metrics_port: None,
        }
    }
}

/// kube-scheduler (built from the same `k8s.io/kubernetes` module as the
/// apiserver, default profile) running in its own process against a test
/// cluster; stopped when dropped.
pub struct UpstreamScheduler {
    child: Child,
    log: PathBuf,
}

impl UpstreamScheduler {
    /// Starts it; it schedules once its informers have synced (about a
    /// second). Its log goes to `upstream-scheduler-<n>.log` beside the
    /// cluster's.
    pub fn start(cluster: &TestCluster, options: &UpstreamOptions) -> UpstreamScheduler {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        build_harness();
        let log = cluster.dir.join(format!(
            "upstream-scheduler-{}.log",
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        let file = std::fs::File::create(&log).expect("a log file");
        let mut command = Command::new(harness_binary());
        command
            .arg("scheduler")
            .arg("--kubeconfig")
            .arg(&cluster.kubeconfig)
            .arg("--scheduler-name")
            .arg(&options.scheduler_name)
            .arg("--qps")
            .arg(options.qps.to_string())
            .arg("--burst")
            .arg(options.burst.to_string())
            .arg("--stop-on-stdin-eof");
        if let Some(port) = options.metrics_port {
            command
                .arg("--secure-port")
                .arg(port.to_string())
                .arg("--")
                .arg("--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics");
        }
        let child = command
            .stdin(Stdio::piped())
            .stdout(file.try_clone().expect("a log file"))
            .stderr(file)
            .spawn()
            .expect("the harness runs");
        UpstreamScheduler { child, log }
    }

    /// The process id, e.g. to read its memory use from `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its log so far (to explain a failure).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for UpstreamScheduler {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}
