//! [`export_plugin!`]: the glue between a [`Plugin`](crate::Plugin) and the
//! component's exports.

/// Exports a [`Plugin`](crate::Plugin) as the component's implementation of
/// the `kws:scheduler/plugin` world. Call it once, at the root of the
/// plugin crate (a `cdylib` built for `wasm32-wasip2`). It expands to nothing
/// on other targets, so the crate still builds natively for its tests.
///
/// ```
/// use kws_plugin_sdk::{ExtensionPoint, NoArgs, Plugin};
///
/// struct LetEverythingThrough;
///
/// impl Plugin for LetEverythingThrough {
///     const NAME: &'static str = "LetEverythingThrough";
///     const EXTENSION_POINTS: &'static [ExtensionPoint] = &[ExtensionPoint::Filter];
///     type Args = NoArgs;
///     fn new(_: NoArgs) -> Result<Self, String> {
///         Ok(LetEverythingThrough)
///     }
/// }
///
/// kws_plugin_sdk::export_plugin!(LetEverythingThrough);
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use ::std::string::String;
            use ::std::vec::Vec;
            use $crate::bindings::exports::kws::scheduler::{
                bind, enqueue_extensions, filter, lifecycle, permit, post_bind, post_filter,
                pre_bind, pre_enqueue, pre_filter, pre_score, reserve, score,
            };
            use $crate::{CycleId, NodeId, Pod, Status};

            ::std::thread_local! {
                static RUNNER: ::std::cell::RefCell<$crate::Runner<$plugin>> =
                    ::std::cell::RefCell::new(::std::default::Default::default());
            }

            struct KwsExports;

            impl lifecycle::Guest for KwsExports {
                fn metadata() -> $crate::PluginMetadata {
                    $crate::host::report_panics();
                    $crate::PluginMetadata {
                        version: String::from(env!("CARGO_PKG_VERSION")),
                        ..$crate::Runner::<$plugin>::metadata()
                    }
                }

                fn configure(args: String) -> ::std::result::Result<(), String> {
                    $crate::host::report_panics();
                    RUNNER.with_borrow_mut(|runner| runner.configure(&args))
                }

                fn apply(changes: Vec<$crate::Change>) {
                    RUNNER.with_borrow_mut(|runner| runner.apply(changes))
                }

                fn cycle_start(cycle: CycleId, pod: Pod) {
                    RUNNER.with_borrow_mut(|runner| runner.cycle_start(cycle, pod))
                }

                fn cycle_end(cycle: CycleId) {
                    RUNNER.with_borrow_mut(|runner| runner.cycle_end(cycle))
                }

                fn cycle_fork(original: CycleId, copy: CycleId) {
                    RUNNER.with_borrow_mut(|runner| runner.cycle_fork(original, copy))
                }
            }

            /// Runs `f` with the cycle's pod; a missing pod answers with
            /// `missing(message)`.
            fn in_cycle<T>(
                cycle: CycleId,
                missing: impl FnOnce(String) -> T,
                f: impl FnOnce(&mut $crate::Runner<$plugin>, &Pod) -> T,
            ) -> T {
                RUNNER.with_borrow_mut(|runner| runner.with_cycle_pod(cycle, missing, f))
            }

            impl pre_enqueue::Guest for KwsExports {
                fn pre_enqueue(cycle: CycleId) -> Status {
                    in_cycle(cycle, Status::error, |r, pod| r.pre_enqueue(pod))
                }
            }

            impl pre_filter::Guest for KwsExports {
                fn pre_filter(cycle: CycleId) -> $crate::PreFilterResult {
                    in_cycle(
                        cycle,
                        |e| $crate::PreFilterResult::rejected(Status::error(e)),
                        |r, pod| r.pre_filter(cycle, pod),
                    )
                }

                fn add_pod(cycle: CycleId, pod: Pod, node: NodeId) -> Status {
                    in_cycle(cycle, Status::error, |r, to_schedule| {
                        r.add_pod(cycle, to_schedule, &pod, node)
                    })
                }

                fn remove_pod(cycle: CycleId, uid: String, node: NodeId) -> Status {
                    in_cycle(cycle, Status::error, |r, to_schedule| {
                        r.remove_pod(cycle, to_schedule, &uid, node)
                    })
                }
            }

            impl filter::Guest for KwsExports {
                fn filter(cycle: CycleId, nodes: Vec<NodeId>) -> Vec<$crate::NodeStatus> {
                    in_cycle(
                        cycle,
                        |e| {
                            nodes
                                .iter()
                                .map(|&node| $crate::NodeStatus {
                                    node,
                                    status: Status::error(e.clone()),
                                })
                                .collect()
                        },
                        |r, pod| r.filter(cycle, pod, &nodes),
                    )
                }
            }

            impl post_filter::Guest for KwsExports {
                fn post_filter(
                    cycle: CycleId,
                    statuses: Vec<$crate::NodeStatus>,
                ) -> $crate::PostFilterResult {
                    in_cycle(
                        cycle,
                        |e| $crate::PostFilterResult {
                            status: Status::error(e),
                            nominated_node: None,
                        },
                        |r, pod| r.post_filter(cycle, pod, &statuses),
                    )
                }
            }

            impl pre_score::Guest for KwsExports {
                fn pre_score(cycle: CycleId, nodes: Vec<NodeId>) -> Status {
                    in_cycle(cycle, Status::error, |r, pod| {
                        r.pre_score(cycle, pod, &nodes)
                    })
                }
            }

            impl score::Guest for KwsExports {
                fn score(
                    cycle: CycleId,
                    nodes: Vec<NodeId>,
                ) -> ::std::result::Result<Vec<i64>, String> {
                    in_cycle(cycle, Err, |r, pod| r.score(cycle, pod, &nodes))
                }

                fn normalize_score(
                    cycle: CycleId,
                    nodes: Vec<NodeId>,
                    scores: Vec<i64>,
                ) -> ::std::result::Result<Vec<i64>, String> {
                    in_cycle(cycle, Err, |r, pod| {
                        r.normalize_scores(cycle, pod, &nodes, scores)
                    })
                }
            }

            impl reserve::Guest for KwsExports {
                fn reserve(cycle: CycleId, node: NodeId) -> Status {
                    in_cycle(cycle, Status::error, |r, pod| r.reserve(cycle, pod, node))
                }

                fn unreserve(cycle: CycleId, node: NodeId) {
                    in_cycle(cycle, |_| (), |r, pod| r.unreserve(cycle, pod, node))
                }
            }

            impl permit::Guest for KwsExports {
                fn permit(cycle: CycleId, node: NodeId) -> $crate::PermitResult {
                    in_cycle(
                        cycle,
                        |e| $crate::PermitResult {
                            status: Status::error(e),
                            timeout_ms: 0,
                        },
                        |r, pod| r.permit(cycle, pod, node),
                    )
                }
            }

            impl pre_bind::Guest for KwsExports {
                fn pre_bind(cycle: CycleId, node: NodeId) -> Status {
                    in_cycle(cycle, Status::error, |r, pod| r.pre_bind(cycle, pod, node))
                }
            }

            impl bind::Guest for KwsExports {
                fn bind(cycle: CycleId, node: NodeId) -> Status {
                    in_cycle(cycle, Status::error, |r, pod| r.bind(cycle, pod, node))
                }
            }

            impl post_bind::Guest for KwsExports {
                fn post_bind(cycle: CycleId, node: NodeId) {
                    in_cycle(cycle, |_| (), |r, pod| r.post_bind(cycle, pod, node))
                }
            }

            impl enqueue_extensions::Guest for KwsExports {
                fn events_to_register() -> Vec<$crate::RegisteredEvent> {
                    RUNNER.with_borrow(|runner| runner.events_to_register())
                }

                fn hint(
                    cycle: CycleId,
                    event: $crate::ClusterEvent,
                    old: Option<String>,
                    new: Option<String>,
                ) -> ::std::result::Result<$crate::QueueingHint, String> {
                    in_cycle(cycle, Err, |r, pod| {
                        r.queueing_hint(pod, &event, old.as_deref(), new.as_deref())
                    })
                }
            }

    $crate::bindings::export!(KwsExports with_types_in $crate::bindings);
        };
    };
}
