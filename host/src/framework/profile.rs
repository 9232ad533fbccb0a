//! One profile's plugins (kube-scheduler's `frameworkImpl`): which
//! plugin runs at which point, the version serving it and its home
//! instance; PreEnqueue and the queueing hints.

use super::*;

/// A plugin a profile runs, and the version serving it.
pub(super) struct Slot {
    pub(super) name: String,
    /// The profile's `pluginConfig` args, as JSON.
    pub(super) args: String,
    pub(super) settings: PluginSettings,
    /// The points the profile names it at (filter, score): its version must
    /// implement them.
    pub(super) points: Vec<ExtensionPoint>,
    /// The framework's other points the profile takes it out of.
    pub(super) disabled: Vec<ExtensionPoint>,
    /// The points the last version that served it implements: while no
    /// version serves it, a call at these points fails (under `Fail`,
    /// no pod goes past it).
    pub(super) implemented: Vec<ExtensionPoint>,
    /// The instance every call of a cycle goes to.
    pub(super) home: usize,
    /// The cluster events that may make a pod it rejected schedulable;
    /// `None` when it does not say (any event may).
    pub(super) events: Option<Vec<RegisteredEvent>>,
    /// `None` while no loaded file serves it.
    pub(super) pool: Option<Arc<PluginPool>>,
}

impl Slot {
    pub(super) fn pool(&self) -> Result<&PluginPool, PluginError> {
        self.pool.as_deref().ok_or_else(|| PluginError::NotLoaded {
            plugin: self.name.clone(),
        })
    }

    /// Whether the profile runs this plugin at `point`: its version
    /// implements it and the profile did not take it out there.
    pub(super) fn runs_at(&self, point: ExtensionPoint) -> bool {
        self.implemented.contains(&point) && !self.disabled.contains(&point)
    }

    /// This slot for a cycle's later points.
    pub(super) fn member(&self) -> Result<Member, PluginError> {
        Ok(Member {
            pool: self.pool.clone().ok_or_else(|| PluginError::NotLoaded {
                plugin: self.name.clone(),
            })?,
            instance: self.home,
            policy: self.settings.failure_policy,
        })
    }

    /// A pool of `plugin` for this slot, or why it cannot serve here.
    pub(super) fn start(
        &self,
        profile: &str,
        plugin: &Arc<LoadedPlugin>,
        workers: usize,
        services: &HostServices,
    ) -> Result<PluginPool, FrameworkError> {
        if let Some(pinned) = &self.settings.sha256
            && *pinned != plugin.digest
        {
            return Err(FrameworkError::PinMismatch {
                plugin: self.name.clone(),
                file: plugin.file.display().to_string(),
                digest: plugin.digest.clone(),
                pinned: pinned.clone(),
            });
        }
        if let Some(point) = self.points.iter().find(|p| !plugin.implements(**p)) {
            return Err(FrameworkError::NotImplemented {
                profile: profile.to_string(),
                plugin: self.name.clone(),
                point: point_name(*point),
                implemented: format!("{:?}", plugin.metadata.extension_points),
            });
        }
        PluginPool::serving(
            plugin.clone(),
            self.args.clone(),
            self.settings.clone(),
            workers,
            Some(services.clone()),
        )
        .map_err(|error| FrameworkError::Plugin {
            profile: profile.to_string(),
            error,
        })
    }
}

pub(super) fn versions(slots: &[Slot]) -> String {
    let described: Vec<String> = slots
        .iter()
        .map(|slot| match &slot.pool {
            Some(pool) => format!("{} {}", slot.name, pool.plugin().metadata.version),
            None => format!("{} (not loaded)", slot.name),
        })
        .collect();
    described.join(", ")
}

/// The framework's points by their `KubeSchedulerConfiguration` field
/// names, for `disabled` lists.
pub(super) const CONFIGURED_POINTS: [(&str, ExtensionPoint); 9] = [
    ("preEnqueue", ExtensionPoint::PreEnqueue),
    ("preFilter", ExtensionPoint::PreFilter),
    ("postFilter", ExtensionPoint::PostFilter),
    ("preScore", ExtensionPoint::PreScore),
    ("reserve", ExtensionPoint::Reserve),
    ("permit", ExtensionPoint::Permit),
    ("preBind", ExtensionPoint::PreBind),
    ("bind", ExtensionPoint::Bind),
    ("postBind", ExtensionPoint::PostBind),
];

/// The plugins of one profile, ready to run cycles.
pub struct ProfileFramework {
    pub scheduler_name: String,
    /// In profile order: filter plugins, score plugins, the others.
    pub(super) slots: Vec<Slot>,
    /// Indices into `slots`, in profile order.
    pub(super) filters: Vec<usize>,
    pub(super) scorers: Vec<(usize, i64)>,
    pub(super) percentage: Option<u32>,
    pub(super) workers: usize,
    pub(super) next_start: usize,
    pub(super) rng: u64,
    /// `Name version, ...` of the versions serving now, for the log line of
    /// each placement (which code placed this pod?).
    pub(super) versions: String,
    /// Where each point's and each plugin call's duration goes.
    pub(super) metrics: Arc<Metrics>,
}

impl ProfileFramework {
    pub(super) fn new(
        config: &Config,
        profile: &Profile,
        plugins: &[Arc<LoadedPlugin>],
        plugin_dir: &str,
        services: &HostServices,
    ) -> Result<ProfileFramework, FrameworkError> {
        let name = &profile.scheduler_name;
        let workers = config.parallelism.max(1);
        let mut slots: Vec<Slot> = Vec::new();
        let mut slot_for = |plugin: &str, point: Option<ExtensionPoint>| -> usize {
            let index = match slots.iter().position(|s| s.name == plugin) {
                Some(index) => index,
                None => {
                    slots.push(Slot {
                        name: plugin.to_string(),
                        args: profile
                            .plugin_args
                            .get(plugin)
                            .map_or_else(|| "{}".to_string(), ToString::to_string),
                        settings: config.wasm.settings_for(plugin).clone(),
                        points: Vec::new(),
                        disabled: CONFIGURED_POINTS
                            .iter()
                            .filter(|(field, _)| !profile.runs_at(field, plugin))
                            .map(|(_, point)| *point)
                            .collect(),
                        implemented: Vec::new(),
                        home: slots.len() % workers,
                        events: None,
                        pool: None,
                    });
                    slots.len() - 1
                }
            };
            slots[index].points.extend(point);
            index
        };
        // A default plugin whose component is not in the directory is left
        // out rather than refused: a directory built before that default
        // existed (or a deployment that drops one on purpose) still
        // schedules with the others. Any other plugin must be there.
        let absent_defaults: Vec<&str> = profile
            .plugin_names()
            .into_iter()
            .filter(|n| {
                DEFAULT_PLUGINS.iter().any(|d| d.name == *n)
                    && !plugins.iter().any(|p| p.name() == *n)
            })
            .collect();
        for plugin_name in &absent_defaults {
            tracing::warn!(
                "profile {name}: default plugin {plugin_name} is not in {plugin_dir}; \
                 scheduling without it"
            );
        }
        let present = |plugin: &&String| !absent_defaults.contains(&plugin.as_str());
        let filters: Vec<usize> = profile
            .filter
            .iter()
            .filter(present)
            .map(|p| slot_for(p, Some(ExtensionPoint::Filter)))
            .collect();
        let scorers: Vec<(usize, i64)> = profile
            .score
            .iter()
            .filter(|(p, _)| present(&p))
            .map(|(p, weight)| (slot_for(p, Some(ExtensionPoint::Score)), *weight))
            .collect();
        for plugin in profile.other.iter().filter(present) {
            slot_for(plugin, None);
        }
        for slot in &mut slots {
            let plugin = plugins
                .iter()
                .find(|p| p.name() == slot.name)
                .ok_or_else(|| FrameworkError::MissingPlugin {
                    profile: name.clone(),
                    plugin: slot.name.clone(),
                    dir: plugin_dir.to_string(),
                })?;
            let pool = Arc::new(slot.start(name, plugin, workers, services)?);
            slot.events = registered_events(&pool).map_err(|error| FrameworkError::Plugin {
                profile: name.clone(),
                error,
            })?;
            slot.pool = Some(pool);
            slot.implemented = plugin.metadata.extension_points.clone();
        }
        Ok(ProfileFramework {
            scheduler_name: name.clone(),
            versions: versions(&slots),
            slots,
            filters,
            scorers,
            percentage: profile.percentage_of_nodes_to_score,
            workers,
            next_start: 0,
            rng: 0x5eed_0fc0_ffee,
            metrics: Arc::default(),
        })
    }

    /// Records that every plugin of `point` (kube-scheduler's name) ran
    /// for one pod since `started`, ending with `status`.
    pub(super) fn observe_point(
        &self,
        point: &'static str,
        status: &'static str,
        started: Instant,
    ) {
        self.metrics.observe_extension_point(
            &self.scheduler_name,
            point,
            status,
            started.elapsed(),
        );
    }

    /// Runs one call of `slot`'s plugin at `point` and records how long it
    /// took, with the status `status` reads from its answer (`Error` for a
    /// failed call).
    pub(super) fn timed<R>(
        &self,
        slot: &Slot,
        point: &'static str,
        status: impl FnOnce(&R) -> &'static str,
        call: impl FnOnce() -> Result<R, PluginError>,
    ) -> Result<R, PluginError> {
        timed_call(&self.metrics, &slot.name, point, status, call)
    }

    /// The plugin versions serving now: `NodeName 0.1.0, Lane 2.0.0, ...`
    /// (`Lane (not loaded)` for a plugin without one).
    pub fn versions(&self) -> &str {
        &self.versions
    }

    /// Each plugin's largest linear memory so far on the instance its
    /// cycles run on, in bytes (`None` before its first call): what grows
    /// when a plugin, or the framework's ending of cycles, leaks.
    pub fn plugin_memory(&self) -> Vec<(&str, Option<usize>)> {
        self.slots
            .iter()
            .map(|slot| {
                let peak = slot.pool.as_ref().and_then(|p| p.peak_memory(slot.home));
                (slot.name.as_str(), peak)
            })
            .collect()
    }

    /// Admits a pod to the queue, or says why it waits outside it (the
    /// first PreEnqueue plugin that did not say success).
    pub fn pre_enqueue(
        &self,
        cache: &Cache,
        snapshot: &Arc<Snapshot>,
        object: &Arc<core::Pod>,
        pod: &Pod,
    ) -> Result<(), String> {
        let ctx = CallContext {
            cache: Some(cache),
            snapshot,
            pod: object,
            cycle: NEXT_CYCLE.fetch_add(1, Ordering::Relaxed),
        };
        for slot in self.slots_at(ExtensionPoint::PreEnqueue) {
            let status = match slot.pool().and_then(|p| p.pre_enqueue(slot.home, ctx, pod)) {
                Ok(status) => status,
                Err(error) if slot.settings.failure_policy == FailurePolicy::Ignore => {
                    log_ignored(ctx, "pre-enqueue", &error);
                    continue;
                }
                Err(error) => return Err(error.to_string()),
            };
            if status.code != Code::Success {
                return Err(format!(
                    "pod waits for plugin {}: {}",
                    slot.name,
                    status.reasons.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// Whether `event` may make `pod` schedulable: kube-scheduler's
    /// queueing hints. A plugin that rejected the pod decides by what it
    /// registered for (any event when it registered nothing, a hint call
    /// when it asked for one; a failed hint moves the pod); a pod no plugin
    /// is known to have rejected moves on any event. `old` and `new` give
    /// the object's JSON, asked for only when a hint is called.
    #[allow(clippy::too_many_arguments)]
    pub fn queueing_hint(
        &self,
        cache: &Cache,
        snapshot: &Arc<Snapshot>,
        pod: &crate::queue::QueuedPod,
        event: ClusterEvent,
        old: &dyn Fn() -> Option<String>,
        new: &dyn Fn() -> Option<String>,
    ) -> bool {
        if pod.unschedulable_plugins.is_empty() {
            return true;
        }
        for name in &pod.unschedulable_plugins {
            let Some(slot) = self.slots.iter().find(|s| s.name == *name) else {
                return true;
            };
            let Some(events) = &slot.events else {
                return true;
            };
            for registered in events.iter().filter(|r| registered_for(r, event)) {
                if !registered.has_hint {
                    return true;
                }
                let Some(pool) = &slot.pool else {
                    return true;
                };
                let ctx = CallContext {
                    cache: Some(cache),
                    snapshot,
                    pod: &pod.object,
                    cycle: NEXT_CYCLE.fetch_add(1, Ordering::Relaxed),
                };
                let (old, new) = (old(), new());
                match pool.hint(
                    slot.home,
                    ctx,
                    &pod.record,
                    event,
                    old.as_deref(),
                    new.as_deref(),
                ) {
                    Ok(Ok(QueueingHint::Skip)) => {}
                    Ok(Ok(QueueingHint::Queue)) => return true,
                    Ok(Err(message)) => {
                        tracing::warn!(plugin = slot.name, %message, "queueing hint failed");
                        return true;
                    }
                    Err(error) => {
                        tracing::warn!(plugin = slot.name, %error, "queueing hint failed");
                        return true;
                    }
                }
            }
        }
        false
    }

    /// Whether any plugin of the profile runs at PreEnqueue.
    pub fn has_pre_enqueue(&self) -> bool {
        self.slots_at(ExtensionPoint::PreEnqueue).next().is_some()
    }

    /// The slots that run at `point`, in profile order.
    pub(super) fn slots_at(&self, point: ExtensionPoint) -> impl Iterator<Item = &Slot> {
        self.slots.iter().filter(move |s| s.runs_at(point))
    }
}

/// Whether a registration covers an event: same resource (or any), and
/// the action, `all`, or for an update of any kind, `update`.
pub(super) fn registered_for(registered: &RegisteredEvent, event: ClusterEvent) -> bool {
    let resource =
        registered.resource == EventResource::Wildcard || registered.resource == event.resource;
    let is_update = !matches!(event.action, ActionType::Add | ActionType::Delete);
    resource
        && registered.actions.iter().any(|a| {
            *a == ActionType::All || *a == event.action || (*a == ActionType::Update && is_update)
        })
}

/// What a plugin registers for at EnqueueExtensions, asked once per pool;
/// `None` when it does not implement the point.
pub(super) fn registered_events(
    pool: &PluginPool,
) -> Result<Option<Vec<RegisteredEvent>>, PluginError> {
    if !pool.plugin().implements(ExtensionPoint::EnqueueExtensions) {
        return Ok(None);
    }
    let snapshot = Arc::new(Snapshot::default());
    let pod = Arc::new(core::Pod::default());
    let ctx = CallContext {
        cache: None,
        snapshot: &snapshot,
        pod: &pod,
        cycle: 0,
    };
    pool.events_to_register(0, ctx).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn registrations_cover_their_resource_and_actions() {
        let event = |resource, action| ClusterEvent { resource, action };
        let nodes = RegisteredEvent {
            resource: EventResource::Node,
            actions: vec![ActionType::Add, ActionType::UpdateNodeLabel],
            has_hint: false,
        };
        assert!(registered_for(
            &nodes,
            event(EventResource::Node, ActionType::Add)
        ));
        assert!(registered_for(
            &nodes,
            event(EventResource::Node, ActionType::UpdateNodeLabel)
        ));
        assert!(!registered_for(
            &nodes,
            event(EventResource::Node, ActionType::UpdateNodeTaint)
        ));
        assert!(!registered_for(
            &nodes,
            event(EventResource::AssignedPod, ActionType::Add)
        ));
        let any_update = RegisteredEvent {
            resource: EventResource::Wildcard,
            actions: vec![ActionType::Update],
            has_hint: false,
        };
        assert!(registered_for(
            &any_update,
            event(EventResource::AssignedPod, ActionType::UpdatePodLabel)
        ));
        assert!(!registered_for(
            &any_update,
            event(EventResource::AssignedPod, ActionType::Delete)
        ));
        let all = RegisteredEvent {
            actions: vec![ActionType::All],
            ..any_update
        };
        assert!(registered_for(
            &all,
            event(EventResource::Node, ActionType::Delete)
        ));
    }
}
