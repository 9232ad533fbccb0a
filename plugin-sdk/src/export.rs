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
            use $crate::bindings::exports::kws::scheduler::{filter, lifecycle, score};

            ::std::thread_local! {
                static RUNNER: ::std::cell::RefCell<$crate::Runner<$plugin>> =
                    ::std::cell::RefCell::new(::std::default::Default::default());
            }

            struct KwsExports;

            impl lifecycle::Guest for KwsExports {
                fn metadata() -> $crate::PluginMetadata {
                    $crate::PluginMetadata {
                        version: ::std::string::String::from(env!("CARGO_PKG_VERSION")),
                        ..$crate::Runner::<$plugin>::metadata()
                    }
                }

                fn configure(
                    args: ::std::string::String,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    RUNNER.with_borrow_mut(|runner| runner.configure(&args))
                }

                fn apply(changes: ::std::vec::Vec<$crate::Change>) {
                    RUNNER.with_borrow_mut(|runner| runner.apply(changes))
                }
            }

            impl filter::Guest for KwsExports {
                fn filter(
                    pod: $crate::Pod,
                    nodes: ::std::vec::Vec<$crate::NodeId>,
                ) -> ::std::vec::Vec<$crate::NodeStatus> {
                    RUNNER.with_borrow(|runner| runner.filter(&pod, &nodes))
                }
            }

            impl score::Guest for KwsExports {
                fn score(
                    pod: $crate::Pod,
                    nodes: ::std::vec::Vec<$crate::NodeId>,
                ) -> ::std::result::Result<::std::vec::Vec<i64>, ::std::string::String> {
                    RUNNER.with_borrow(|runner| runner.score(&pod, &nodes))
                }

                fn normalize_score(
                    pod: $crate::Pod,
                    nodes: ::std::vec::Vec<$crate::NodeId>,
                    scores: ::std::vec::Vec<i64>,
                ) -> ::std::result::Result<::std::vec::Vec<i64>, ::std::string::String> {
                    RUNNER.with_borrow(|runner| runner.normalize_scores(&pod, &nodes, scores))
                }
            }

    $crate::bindings::export!(KwsExports with_types_in $crate::bindings);
        };
    };
}
