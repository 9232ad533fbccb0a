//! From the file to the effective configuration: the header, the
//! top-level fields with their defaults and bounds (upstream's
//! `v1/defaults.go` and `validation`), and the warnings about what is
//! ignored.

use super::*;

/// Reads a configuration, and the warnings about what it ignores (given
/// back rather than logged here, so that tests can check them).
pub(super) fn load(source_name: &str, text: &str) -> Result<(Config, Vec<String>)> {
    let cx = Cx {
        source: source_name,
        warnings: RefCell::default(),
    };
    // Version first, so a v1beta3 file gets "wrong version" rather than a
    // complaint about a field that moved.
    let document: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| cx.yaml(e))?;
    if document.is_null() {
        return Err(cx.invalid(".", format!("the file is empty; expected a {KIND}")));
    }
    if let serde_yaml::Value::Mapping(map) = &document {
        check_header(&cx, map)?;
    }
    let file: FileConfig = serde_yaml::from_str(text).map_err(|e| cx.yaml(e))?;
    let config = resolve(&cx, file)?;
    Ok((config, cx.warnings.into_inner()))
}

// --- From the file to the effective configuration ---------------------------

/// Where errors and warnings point, and the warnings so far.
pub(super) struct Cx<'a> {
    pub(super) source: &'a str,
    pub(super) warnings: RefCell<Vec<String>>,
}

impl Cx<'_> {
    pub(super) fn invalid(
        &self,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            source_name: self.source.to_string(),
            field: field.into(),
            message: message.into(),
        }
    }

    pub(super) fn yaml(&self, error: serde_yaml::Error) -> ConfigError {
        ConfigError::Yaml {
            source_name: self.source.to_string(),
            error,
        }
    }

    pub(super) fn warn(&self, field: &str, message: &str) {
        let warning = format!("{}: {field}: {message}", self.source);
        self.warnings.borrow_mut().push(warning);
    }
}

pub(super) type Result<T, E = ConfigError> = std::result::Result<T, E>;

pub(super) fn check_header(cx: &Cx, document: &serde_yaml::Mapping) -> Result<()> {
    match document.get("apiVersion") {
        None => return Err(cx.invalid("apiVersion", format!("required, must be `{API_VERSION}`"))),
        Some(serde_yaml::Value::String(v)) if v == API_VERSION => {}
        Some(serde_yaml::Value::String(v)) if v.starts_with("kubescheduler.config.k8s.io/") => {
            return Err(cx.invalid(
                "apiVersion",
                format!(
                    "`{v}` is not supported, only `{API_VERSION}` \
                     (kube-scheduler has dropped the older versions too)"
                ),
            ));
        }
        Some(other) => {
            return Err(cx.invalid(
                "apiVersion",
                format!("must be `{API_VERSION}`, got {}", yaml_text(other)),
            ));
        }
    }
    match document.get("kind") {
        None => Err(cx.invalid("kind", format!("required, must be `{KIND}`"))),
        Some(serde_yaml::Value::String(k)) if k == KIND => Ok(()),
        Some(other) => Err(cx.invalid(
            "kind",
            format!("must be `{KIND}`, got {}", yaml_text(other)),
        )),
    }
}

pub(super) fn yaml_text(value: &serde_yaml::Value) -> String {
    match value {
        serde_yaml::Value::String(s) => format!("`{s}`"),
        other => serde_yaml::to_string(other)
            .map_or_else(|_| "?".into(), |s| format!("`{}`", s.trim_end())),
    }
}

pub(super) fn resolve(cx: &Cx, file: FileConfig) -> Result<Config> {
    let parallelism = match file.parallelism {
        None => default_parallelism(),
        Some(n) if n <= 0 => {
            return Err(cx.invalid("parallelism", format!("must be > 0, got {n}")));
        }
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|n| *n <= MAX_PARALLELISM)
            .ok_or_else(|| {
                cx.invalid(
                    "parallelism",
                    format!(
                        "must be at most {MAX_PARALLELISM} (each worker holds an instance of every plugin), got {n}"
                    ),
                )
            })?,
    };
    let top_percentage = percentage(
        cx,
        "percentageOfNodesToScore",
        file.percentage_of_nodes_to_score,
    )?;
    let (pod_initial_backoff, pod_max_backoff) = backoff(
        cx,
        file.pod_initial_backoff_seconds,
        file.pod_max_backoff_seconds,
    )?;
    if file.extenders.as_ref().is_some_and(|e| !e.is_empty()) {
        return Err(cx.invalid(
            "extenders",
            "scheduler extenders are not supported by kube-wasm-scheduler; \
             write the policy as a WebAssembly plugin instead",
        ));
    }
    warn_ignored(cx, &file);
    let wasm = wasm_settings(cx, file.wasm)?;
    let leader_election = leader_election(cx, file.leader_election)?;

    let profiles = match file.profiles {
        // As kube-scheduler: no profiles means the default one.
        None => vec![resolve_profile(
            cx,
            0,
            FileProfile::default(),
            1,
            top_percentage,
        )?],
        Some(list) if list.is_empty() => {
            return Err(cx.invalid(
                "profiles",
                "must list at least one profile (leave `profiles` out for the default one)",
            ));
        }
        Some(list) => {
            let count = list.len();
            list.into_iter()
                .enumerate()
                .map(|(i, p)| resolve_profile(cx, i, p, count, top_percentage))
                .collect::<Result<Vec<_>>>()?
        }
    };
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, profile) in profiles.iter().enumerate() {
        if let Some(first) = names.insert(&profile.scheduler_name, i) {
            return Err(cx.invalid(
                format!("profiles[{i}].schedulerName"),
                format!(
                    "duplicate `{}`, already used by profiles[{first}]",
                    profile.scheduler_name
                ),
            ));
        }
    }
    for name in wasm.plugins.keys() {
        if !profiles
            .iter()
            .any(|p| p.plugin_names().contains(&name.as_str()))
        {
            cx.warn(
                "wasm.plugins",
                &format!("`{name}` has settings but no profile runs it"),
            );
        }
    }
    Ok(Config {
        profiles,
        parallelism,
        pod_initial_backoff,
        pod_max_backoff,
        wasm,
        leader_election,
    })
}

/// A percentage in 0..=100, as given (0 is resolved later: it overrides).
pub(super) fn percentage(cx: &Cx, field: &str, value: Option<i64>) -> Result<Option<u32>> {
    value
        .map(|p| {
            u32::try_from(p)
                .ok()
                .filter(|p| *p <= 100)
                .ok_or_else(|| cx.invalid(field, format!("must be between 0 and 100, got {p}")))
        })
        .transpose()
}

pub(super) fn backoff(
    cx: &Cx,
    initial: Option<i64>,
    max: Option<i64>,
) -> Result<(Duration, Duration)> {
    // Validated as upstream, after defaulting: a lone initial above the
    // default max is refused.
    let initial = initial.unwrap_or(DEFAULT_POD_INITIAL_BACKOFF.as_secs() as i64);
    let max = max.unwrap_or(DEFAULT_POD_MAX_BACKOFF.as_secs() as i64);
    if initial <= 0 {
        return Err(cx.invalid(
            "podInitialBackoffSeconds",
            format!("must be > 0, got {initial}"),
        ));
    }
    if max < initial {
        return Err(cx.invalid(
            "podMaxBackoffSeconds",
            format!("must be >= podInitialBackoffSeconds ({initial}), got {max}"),
        ));
    }
    for (field, value) in [
        ("podInitialBackoffSeconds", initial),
        ("podMaxBackoffSeconds", max),
    ] {
        if value > MAX_POD_BACKOFF_SECONDS {
            return Err(cx.invalid(
                field,
                format!("must be at most {MAX_POD_BACKOFF_SECONDS} (one day), got {value}"),
            ));
        }
    }
    Ok((
        Duration::from_secs(initial.unsigned_abs()),
        Duration::from_secs(max.unsigned_abs()),
    ))
}

/// Fields accepted for compatibility that change nothing here; see the
/// module doc for why each is harmless.
pub(super) fn warn_ignored(cx: &Cx, file: &FileConfig) {
    if file.client_connection.is_some() {
        cx.warn(
            "clientConnection",
            "ignored: kube-wasm-scheduler takes its connection to the cluster \
             from its command line and environment",
        );
    }
    for (field, value) in [
        ("enableProfiling", file.enable_profiling),
        (
            "enableContentionProfiling",
            file.enable_contention_profiling,
        ),
    ] {
        if value == Some(true) {
            cx.warn(
                field,
                "ignored: kube-wasm-scheduler serves no profiling endpoints",
            );
        }
    }
    if file.delay_cache_until_active == Some(true) {
        cx.warn(
            "delayCacheUntilActive",
            "ignored: a replica that is not leader keeps its caches warm",
        );
    }
    warn_placements(
        cx,
        "percentageOfPlacementsToScore",
        file.percentage_of_placements_to_score,
    );
}

pub(super) fn warn_placements(cx: &Cx, field: &str, value: Option<i64>) {
    if value.is_some_and(|p| p != 0) {
        cx.warn(
            field,
            "ignored: kube-wasm-scheduler does not place pod groups yet",
        );
    }
}
