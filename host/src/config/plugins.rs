//! A profile's plugins: the defaults merged with the file's sets at each
//! point (upstream's `mergePlugins` and multiPoint expansion), score
//! weights and `pluginConfig` args.

use super::*;

pub(super) fn resolve_profile(
    cx: &Cx,
    index: usize,
    file: FileProfile,
    count: usize,
    top_percentage: Option<u32>,
) -> Result<Profile> {
    let path = format!("profiles[{index}]");
    let scheduler_name = match file.scheduler_name {
        Some(name) if name.is_empty() => {
            return Err(cx.invalid(format!("{path}.schedulerName"), "must not be empty"));
        }
        Some(name) => name,
        // As kube-scheduler, a name is only made up for a single profile.
        None if count == 1 => DEFAULT_SCHEDULER_NAME.to_string(),
        None => {
            return Err(cx.invalid(
                format!("{path}.schedulerName"),
                "required when there is more than one profile",
            ));
        }
    };
    let own_percentage = percentage(
        cx,
        &format!("{path}.percentageOfNodesToScore"),
        file.percentage_of_nodes_to_score,
    )?;
    // The profile's 0 means adaptive even when the top level says otherwise.
    let percentage_of_nodes_to_score = own_percentage.or(top_percentage).filter(|p| *p > 0);
    warn_placements(
        cx,
        &format!("{path}.percentageOfPlacementsToScore"),
        file.percentage_of_placements_to_score,
    );

    let plugins_path = format!("{path}.plugins");
    let mut plugins = file.plugins.unwrap_or_default();
    for (point, set) in plugins.not_run() {
        if let Some(set) = set {
            check_not_run(cx, &format!("{plugins_path}.{point}"), point, set)?;
        }
    }
    let multi_point = merge_multi_point(
        cx,
        &format!("{plugins_path}.multiPoint"),
        plugins.multi_point.take().unwrap_or_default(),
    )?;
    let filter: Vec<String> = expand(
        cx,
        &format!("{plugins_path}.filter"),
        Point::Filter,
        &plugins.filter.take().unwrap_or_default(),
        &multi_point,
    )?
    .into_iter()
    .map(|e| e.name)
    .collect();
    let score: Vec<(String, i64)> = expand(
        cx,
        &format!("{plugins_path}.score"),
        Point::Score,
        &plugins.score.take().unwrap_or_default(),
        &multi_point,
    )?
    .into_iter()
    .map(|e| {
        let weight = score_weight(&e, &multi_point);
        (e.name, weight)
    })
    .collect();

    let (mut other, disabled_at) = framework_points(cx, &plugins_path, &plugins, &filter, &score)?;
    // The multiPoint defaults that are neither filter nor score plugins
    // (DefaultPreemption) run at the framework's other points, first.
    let defaults_elsewhere: Vec<String> = multi_point
        .iter()
        .filter(|e| default_plugin(&e.name).is_some_and(|d| !d.filter && d.score_weight.is_none()))
        .filter(|e| !other.contains(&e.name))
        .map(|e| e.name.clone())
        .collect();
    other.splice(0..0, defaults_elsewhere);
    let plugin_args = plugin_args(cx, &path, file.plugin_config.unwrap_or_default())?;
    let profile = Profile {
        scheduler_name,
        filter,
        score,
        plugin_args,
        percentage_of_nodes_to_score,
        other,
        disabled_at,
    };
    // Upstream ignores args of plugins it doesn't run; so do we, but say so:
    // it is usually a typo in the name.
    let running = profile.plugin_names();
    for name in profile.plugin_args.keys() {
        if !running.contains(&name.as_str()) {
            cx.warn(
                &format!("{path}.pluginConfig"),
                &format!("args of `{name}` are unused: the profile does not run it"),
            );
        }
    }
    Ok(profile)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Point {
    Filter,
    Score,
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Point::Filter => "filter",
            Point::Score => "score",
        })
    }
}

pub(super) fn default_plugin(name: &str) -> Option<&'static DefaultPlugin> {
    DEFAULT_PLUGINS.iter().find(|p| p.name == name)
}

impl DefaultPlugin {
    pub(super) fn runs_at(&self, point: Point) -> bool {
        match point {
            Point::Filter => self.filter,
            Point::Score => self.score_weight.is_some(),
        }
    }
}

/// A plugin enabled at a point, with the weight given there, if any.
#[derive(Debug)]
pub(super) struct Enabled {
    pub(super) name: String,
    pub(super) weight: Option<i64>,
}

impl From<&FilePlugin> for Enabled {
    fn from(p: &FilePlugin) -> Self {
        Enabled {
            name: p.name.clone(),
            weight: p.weight,
        }
    }
}

/// Names present, no plugin enabled twice, weights in range.
pub(super) fn check_plugin_set(
    cx: &Cx,
    path: &str,
    set: &FilePluginSet,
    weighted: bool,
) -> Result<()> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (j, plugin) in set.enabled().iter().enumerate() {
        let field = format!("{path}.enabled[{j}]");
        if plugin.name.is_empty() {
            return Err(cx.invalid(format!("{field}.name"), "must not be empty"));
        }
        if plugin.name == "*" {
            return Err(cx.invalid(
                format!("{field}.name"),
                "`*` only means \"all plugins\" in `disabled`",
            ));
        }
        // kube-scheduler refuses this when it builds the framework.
        if let Some(first) = seen.insert(&plugin.name, j) {
            return Err(cx.invalid(
                format!("{field}.name"),
                format!("`{}` is already enabled at enabled[{first}]", plugin.name),
            ));
        }
        match plugin.weight {
            Some(w) if weighted && !(0..=100).contains(&w) => {
                return Err(cx.invalid(
                    format!("{field}.weight"),
                    format!(
                        "must be > 0 and <= 100, got {w} \
                         (leave it out, or 0, for the plugin's default weight)"
                    ),
                ));
            }
            Some(w) if !weighted && w != 0 => {
                cx.warn(
                    &format!("{field}.weight"),
                    "ignored: only score plugins have weights",
                );
            }
            _ => {}
        }
    }
    for (j, plugin) in set.disabled().iter().enumerate() {
        if plugin.name.is_empty() {
            return Err(cx.invalid(format!("{path}.disabled[{j}].name"), "must not be empty"));
        }
    }
    Ok(())
}

/// An extension point we don't run: it may only say things that change
/// nothing here (see the module doc).
///
/// The framework's other points: the plugins enabled there that the
/// profile does not run yet, and what each point disables.
#[allow(clippy::type_complexity)]
pub(super) fn framework_points(
    cx: &Cx,
    path: &str,
    plugins: &FilePlugins,
    filter: &[String],
    score: &[(String, i64)],
) -> Result<(Vec<String>, BTreeMap<String, BTreeSet<String>>)> {
    let mut other: Vec<String> = Vec::new();
    let mut disabled_at: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (point, set) in plugins.framework_points() {
        let Some(set) = set else { continue };
        let point_path = format!("{path}.{point}");
        check_plugin_set(cx, &point_path, set, false)?;
        for plugin in set.enabled() {
            let name = plugin.name.as_str();
            let built_in = BUILT_INTO_SCHEDULER.contains(&(point, name));
            let runs = filter.iter().any(|f| f == name)
                || score.iter().any(|(s, _)| s == name)
                || other.iter().any(|o| o == name);
            if !built_in && !runs {
                other.push(name.to_string());
            }
        }
        for (j, plugin) in set.disabled().iter().enumerate() {
            let name = plugin.name.as_str();
            let runs = name == "*"
                || default_plugin(name).is_some()
                || filter.iter().any(|f| f == name)
                || score.iter().any(|(s, _)| s == name)
                || other.iter().any(|o| o == name);
            if !runs {
                cx.warn(
                    &format!("{point_path}.disabled[{j}]"),
                    &format!("ignored: `{name}` does not run in this profile"),
                );
            }
        }
        let disabled: BTreeSet<String> = set.disabled().iter().map(|p| p.name.clone()).collect();
        if !disabled.is_empty() {
            disabled_at.insert(point.to_string(), disabled);
        }
    }
    Ok((other, disabled_at))
}

pub(super) fn check_not_run(cx: &Cx, path: &str, point: &str, set: &FilePluginSet) -> Result<()> {
    for (j, plugin) in set.enabled().iter().enumerate() {
        if !BUILT_INTO_SCHEDULER.contains(&(point, plugin.name.as_str())) {
            return Err(cx.invalid(
                format!("{path}.enabled[{j}]"),
                format!(
                    "the {point} extension point is not supported yet by kube-wasm-scheduler; \
                     cannot enable `{}` there",
                    plugin.name
                ),
            ));
        }
    }
    for (j, plugin) in set.disabled().iter().enumerate() {
        let field = format!("{path}.disabled[{j}]");
        if default_plugin(&plugin.name).is_some() {
            return Err(cx.invalid(
                field,
                format!(
                    "the {point} extension point is not supported yet by kube-wasm-scheduler: \
                     `{}` does not run there; disable it under filter, score or multiPoint",
                    plugin.name
                ),
            ));
        }
        cx.warn(
            &field,
            &format!(
                "ignored: kube-wasm-scheduler runs no {point} plugins, so `{}` is not running",
                plugin.name
            ),
        );
    }
    Ok(())
}

/// The defaults merged with the file's `multiPoint`, as upstream's
/// `mergePluginSet`: disabled defaults go, an enabled default is replaced
/// in place, other enabled plugins are appended.
pub(super) fn merge_multi_point(cx: &Cx, path: &str, set: FilePluginSet) -> Result<Vec<Enabled>> {
    check_plugin_set(cx, path, &set, true)?;
    let disabled: BTreeSet<&str> = set.disabled().iter().map(|p| p.name.as_str()).collect();
    let enabled = set.enabled();
    let mut merged = Vec::new();
    let mut replaced = BTreeSet::new();
    if !disabled.contains("*") {
        for default in DEFAULT_PLUGINS {
            if disabled.contains(default.name) {
                continue;
            }
            match enabled.iter().position(|p| p.name == default.name) {
                Some(j) => {
                    replaced.insert(j);
                    merged.push(Enabled::from(&enabled[j]));
                }
                None => merged.push(Enabled {
                    name: default.name.to_string(),
                    weight: default.score_weight,
                }),
            }
        }
    }
    for (j, plugin) in enabled.iter().enumerate() {
        if replaced.contains(&j) {
            continue;
        }
        if default_plugin(&plugin.name).is_none() {
            return Err(cx.invalid(
                format!("{path}.enabled[{j}].name"),
                format!(
                    "`{}` is not built into kube-wasm-scheduler, so which extension points \
                     it implements is not known before it is loaded; enable it under \
                     filter and/or score instead",
                    plugin.name
                ),
            ));
        }
        merged.push(Enabled::from(plugin));
    }
    Ok(merged)
}

/// The plugins run at `point`, as upstream's multiPoint expansion: plugins
/// enabled at the point that override multiPoint ones first, then the other
/// multiPoint plugins that run there and aren't disabled there, then the
/// remaining plugins enabled at the point. `disabled: *` drops every
/// multiPoint plugin.
pub(super) fn expand(
    cx: &Cx,
    path: &str,
    point: Point,
    set: &FilePluginSet,
    multi_point: &[Enabled],
) -> Result<Vec<Enabled>> {
    check_plugin_set(cx, path, set, point == Point::Score)?;
    let specific = set.enabled();
    for (j, plugin) in specific.iter().enumerate() {
        if let Some(default) = default_plugin(&plugin.name)
            && !default.runs_at(point)
        {
            return Err(cx.invalid(
                format!("{path}.enabled[{j}].name"),
                format!("`{}` is not a {point} plugin", plugin.name),
            ));
        }
    }
    let disabled: BTreeSet<&str> = set.disabled().iter().map(|p| p.name.as_str()).collect();
    if disabled.contains("*") {
        return Ok(specific.iter().map(Enabled::from).collect());
    }
    let mut overrides = BTreeSet::new();
    let mut from_multi_point = Vec::new();
    for plugin in multi_point {
        let runs_here = default_plugin(&plugin.name).is_some_and(|d| d.runs_at(point));
        if !runs_here || disabled.contains(plugin.name.as_str()) {
            continue;
        }
        if specific.iter().any(|p| p.name == plugin.name) {
            overrides.insert(plugin.name.as_str());
        } else {
            from_multi_point.push(Enabled {
                name: plugin.name.clone(),
                weight: None,
            });
        }
    }
    let (first, last): (Vec<&FilePlugin>, Vec<&FilePlugin>) = specific
        .iter()
        .partition(|p| overrides.contains(p.name.as_str()));
    let mut plugins: Vec<Enabled> = first.into_iter().map(Enabled::from).collect();
    plugins.extend(from_multi_point);
    plugins.extend(last.into_iter().map(Enabled::from));
    Ok(plugins)
}

/// The weight given at score, else in multiPoint, else the default, else 1
/// (0 counts as not given).
pub(super) fn score_weight(plugin: &Enabled, multi_point: &[Enabled]) -> i64 {
    let given = |w: Option<i64>| w.filter(|w| *w > 0);
    given(plugin.weight)
        .or_else(|| {
            let in_multi_point = multi_point.iter().find(|m| m.name == plugin.name);
            given(in_multi_point.and_then(|m| m.weight))
        })
        .or_else(|| default_plugin(&plugin.name).and_then(|d| d.score_weight))
        .unwrap_or(1)
}

pub(super) fn plugin_args(
    cx: &Cx,
    path: &str,
    configs: Vec<FilePluginConfig>,
) -> Result<BTreeMap<String, Value>> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut args = BTreeMap::new();
    for (j, config) in configs.into_iter().enumerate() {
        let field = format!("{path}.pluginConfig[{j}]");
        if config.name.is_empty() {
            return Err(cx.invalid(format!("{field}.name"), "must not be empty"));
        }
        if let Some(first) = seen.insert(config.name.clone(), j) {
            return Err(cx.invalid(
                format!("{field}.name"),
                format!(
                    "duplicate `{}`, already configured at pluginConfig[{first}]",
                    config.name
                ),
            ));
        }
        match config.args {
            None | Some(Value::Null) => {}
            Some(Value::Object(mut map)) => {
                // Upstream picks the args type by `kind`; a mismatch is a
                // copy-paste slip worth catching.
                let expected = format!("{}Args", config.name);
                match map.remove("kind") {
                    None => {}
                    Some(Value::String(kind)) if kind == expected => {}
                    Some(other) => {
                        return Err(cx.invalid(
                            format!("{field}.args.kind"),
                            format!(
                                "must be `{expected}` for plugin `{}`, got {other}",
                                config.name
                            ),
                        ));
                    }
                }
                map.remove("apiVersion");
                args.insert(config.name, Value::Object(map));
            }
            Some(other) => {
                return Err(cx.invalid(
                    format!("{field}.args"),
                    format!("must be a mapping of the plugin's arguments, got {other}"),
                ));
            }
        }
    }
    Ok(args)
}
