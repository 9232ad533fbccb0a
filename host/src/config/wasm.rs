//! kube-wasm-scheduler's own `wasm` section: the sandbox's limits and
//! failure policy, per plugin, and the Go durations and quantities they
//! are written in.

use super::*;

pub(super) fn wasm_settings(cx: &Cx, file: Option<FileWasm>) -> Result<WasmSettings> {
    let file = file.unwrap_or_default();
    let section = FileSettings {
        call_timeout: file.call_timeout.as_ref(),
        memory_limit: file.memory_limit.as_ref(),
        failure_policy: file.failure_policy.as_deref(),
        quarantine: file.quarantine.as_ref(),
    };
    let defaults = plugin_settings(cx, "wasm", &section, &PluginSettings::default())?;
    let mut plugins = BTreeMap::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (j, plugin) in file.plugins.unwrap_or_default().into_iter().enumerate() {
        let field = format!("wasm.plugins[{j}]");
        if plugin.name.is_empty() {
            return Err(cx.invalid(format!("{field}.name"), "must not be empty"));
        }
        if let Some(first) = seen.insert(plugin.name.clone(), j) {
            return Err(cx.invalid(
                format!("{field}.name"),
                format!(
                    "duplicate `{}`, already listed at wasm.plugins[{first}]",
                    plugin.name
                ),
            ));
        }
        let given = FileSettings {
            call_timeout: plugin.call_timeout.as_ref(),
            memory_limit: plugin.memory_limit.as_ref(),
            failure_policy: plugin.failure_policy.as_deref(),
            quarantine: plugin.quarantine.as_ref(),
        };
        let mut own = plugin_settings(cx, &field, &given, &defaults)?;
        own.sha256 = plugin
            .sha256
            .map(|digest| sha256_pin(cx, &field, &digest))
            .transpose()?;
        plugins.insert(plugin.name, own);
    }
    Ok(WasmSettings { defaults, plugins })
}

/// Settings given at `path`, the rest from `inherited`.
pub(super) fn plugin_settings(
    cx: &Cx,
    path: &str,
    given: &FileSettings,
    inherited: &PluginSettings,
) -> Result<PluginSettings> {
    let call_timeout = match given.call_timeout {
        None => inherited.call_timeout,
        Some(text) => bounded_duration(
            cx,
            &format!("{path}.callTimeout"),
            text,
            (MAX_CALL_TIMEOUT, "1h"),
        )?,
    };
    let memory_limit_bytes = match given.memory_limit {
        None => inherited.memory_limit_bytes,
        Some(QuantityText(text)) => {
            let field = format!("{path}.memoryLimit");
            let quantity = Quantity::parse(text)
                .map_err(|e| cx.invalid(&field, format!("invalid quantity `{text}`: {e}")))?;
            match quantity.value() {
                bytes if bytes <= 0 => {
                    return Err(cx.invalid(field, format!("must be > 0, got `{text}`")));
                }
                bytes if bytes.unsigned_abs() > MAX_MEMORY_LIMIT_BYTES => {
                    return Err(cx.invalid(
                        field,
                        format!(
                            "must be at most 4Gi (all a 32-bit WebAssembly guest can address), got `{text}`"
                        ),
                    ));
                }
                bytes => bytes.unsigned_abs(),
            }
        }
    };
    let failure_policy = match given.failure_policy {
        None => inherited.failure_policy,
        Some("Fail") => FailurePolicy::Fail,
        Some("Ignore") => FailurePolicy::Ignore,
        Some(other) => {
            return Err(cx.invalid(
                format!("{path}.failurePolicy"),
                format!("must be `Fail` or `Ignore`, got `{other}`"),
            ));
        }
    };
    let mut quarantine = inherited.quarantine;
    if let Some(given) = given.quarantine {
        if let Some(after_faults) = given.after_faults {
            if after_faults == 0 {
                return Err(cx.invalid(format!("{path}.quarantine.afterFaults"), "must be >= 1"));
            }
            quarantine.after_faults = after_faults;
        }
        if let Some(text) = &given.backoff {
            quarantine.backoff = bounded_duration(
                cx,
                &format!("{path}.quarantine.backoff"),
                text,
                (MAX_QUARANTINE_BACKOFF, "24h"),
            )?;
        }
    }
    Ok(PluginSettings {
        call_timeout,
        memory_limit_bytes,
        failure_policy,
        quarantine,
        sha256: None,
    })
}

/// A duration > 0 and at most `max` (written as `max_text` in the error).
pub(super) fn bounded_duration(
    cx: &Cx,
    field: &str,
    DurationText(text): &DurationText,
    (max, max_text): (Duration, &str),
) -> Result<Duration> {
    match parse_go_duration(text) {
        Err(why) => Err(cx.invalid(field, format!("invalid duration `{text}`: {why}"))),
        Ok(nanos) if nanos <= 0 => Err(cx.invalid(field, format!("must be > 0, got `{text}`"))),
        Ok(nanos) if Duration::from_nanos(nanos.unsigned_abs()) > max => {
            Err(cx.invalid(field, format!("must be at most {max_text}, got `{text}`")))
        }
        Ok(nanos) => Ok(Duration::from_nanos(nanos.unsigned_abs())),
    }
}

/// A pinned digest: 64 hex digits, optionally written `sha256:...` as
/// image digests are; kept in lower case to compare with the file's.
pub(super) fn sha256_pin(cx: &Cx, path: &str, digest: &str) -> Result<String> {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(cx.invalid(
            format!("{path}.sha256"),
            format!("must be 64 hex digits (the file's SHA-256), got `{digest}`"),
        ));
    }
    Ok(hex.to_ascii_lowercase())
}

/// Parses a duration as Go's `time.ParseDuration` (`300ms`, `-1.5h`,
/// `2h45m`; units ns, us/µs, ms, s, m, h), into signed nanoseconds.
pub(super) fn parse_go_duration(text: &str) -> Result<i64, String> {
    const UNITS: &str = "use ns, us, ms, s, m or h";
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err("expected a number and a unit, such as 250ms or 1.5s".into());
    }
    let too_long = || "too long".to_string();
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_len);
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return Err(format!("expected a number at `{rest}`"));
        }
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("missing unit after `{number}` ({UNITS})")),
            other => return Err(format!("unknown unit `{other}` ({UNITS})")),
        };
        let mut nanos = digits_value(whole)
            .and_then(|w| w.checked_mul(unit_nanos))
            .ok_or_else(too_long)?;
        // Digits past the 20th are below a nanosecond even in hours.
        let fraction = &fraction[..fraction.len().min(20)];
        if !fraction.is_empty() {
            let numerator = digits_value(fraction).ok_or_else(too_long)?;
            let scale = 10u128.pow(fraction.len() as u32);
            nanos += numerator * unit_nanos / scale;
        }
        total = total.checked_add(nanos).ok_or_else(too_long)?;
        rest = next;
    }
    let total = i64::try_from(total).map_err(|_| too_long())?;
    Ok(if negative { -total } else { total })
}

pub(super) fn digits_value(digits: &str) -> Option<u128> {
    digits.bytes().try_fold(0u128, |value, digit| {
        value.checked_mul(10)?.checked_add(u128::from(digit - b'0'))
    })
}
