//! `plugin test`: one plugin with the default profile on a scenario,
//! compared with the placements its author expects. What the project's
//! languages test does for every example, for an author's own plugin.

use crate::config::{Config, DEFAULT_SCHEDULER_NAME};
use crate::runtime::LoadedPlugin;
use crate::wit::ExtensionPoint;

/// The default configuration with `plugin` enabled in the default profile
/// (`kube-wasm-scheduler`) at every point it implements: at Filter after
/// the default filters, at Score with weight 1 (kube-scheduler's default
/// weight), and at its other points. A plugin that replaces a default one
/// (same name) keeps that one's place and weight.
pub fn default_config_with(plugin: &LoadedPlugin) -> Config {
    let mut config = Config::default();
    let name = plugin.name().to_string();
    for profile in &mut config.profiles {
        if profile.scheduler_name != DEFAULT_SCHEDULER_NAME
            || profile.plugin_names().contains(&name.as_str())
        {
            continue;
        }
        let mut other = false;
        for point in &plugin.metadata.extension_points {
            match point {
                ExtensionPoint::Filter => profile.filter.push(name.clone()),
                ExtensionPoint::Score => profile.score.push((name.clone(), 1)),
                ExtensionPoint::NormalizeScore => {}
                _ => other = true,
            }
        }
        if other {
            profile.other.push(name.clone());
        }
    }
    config
}

/// The lines of `expected` and `got` (`simulate`'s text report) that
/// differ, as `- expected` / `+ got` lines between unchanged ones (`  `),
/// or `None` when they are the same. Lines are matched by pod, so one pod
/// placed elsewhere shows as one change.
///
/// ```
/// use kws_host::plugin_test::diff;
/// let expected = "default/a -> n1\ndefault/b -> n2\n";
/// assert_eq!(diff(expected, expected), None);
/// assert_eq!(
///     diff(expected, "default/a -> n1\ndefault/b -> n3\n").unwrap(),
///     "  default/a -> n1\n- default/b -> n2\n+ default/b -> n3\n"
/// );
/// ```
pub fn diff(expected: &str, got: &str) -> Option<String> {
    if expected.trim_end() == got.trim_end() {
        return None;
    }
    let pod = |line: &str| {
        line.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let got_lines: Vec<&str> = got.lines().collect();
    let mut shown = vec![false; got_lines.len()];
    let mut text = String::new();
    for line in expected.lines().filter(|l| !l.trim().is_empty()) {
        match got_lines.iter().position(|g| pod(g) == pod(line)) {
            Some(i) if got_lines[i] == line => {
                shown[i] = true;
                text.push_str(&format!("  {line}\n"));
            }
            Some(i) => {
                shown[i] = true;
                text.push_str(&format!("- {line}\n+ {}\n", got_lines[i]));
            }
            None => text.push_str(&format!("- {line}\n")),
        }
    }
    for (line, shown) in got_lines.iter().zip(shown) {
        if !shown {
            text.push_str(&format!("+ {line}\n"));
        }
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_missing_or_added_shows_on_its_own_line() {
        let expected = "default/a -> n1\ndefault/b unschedulable: no fit\n";
        let got = "default/a -> n1\ndefault/c -> n2\n";
        assert_eq!(
            diff(expected, got).unwrap(),
            "  default/a -> n1\n- default/b unschedulable: no fit\n+ default/c -> n2\n"
        );
    }

    #[test]
    fn a_missing_final_newline_is_no_difference() {
        assert_eq!(diff("default/a -> n1", "default/a -> n1\n"), None);
    }
}
