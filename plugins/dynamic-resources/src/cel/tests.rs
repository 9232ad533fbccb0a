use super::*;

fn device() -> Value {
    let attributes = BTreeMap::from([(
        "gpu.example.com".to_string(),
        Value::Map(BTreeMap::from([
            ("model".to_string(), Value::String("a100".to_string())),
            ("index".to_string(), Value::Int(3)),
            (
                "driverVersion".to_string(),
                Value::Version(Version::parse("1.2.3").unwrap()),
            ),
        ])),
    )]);
    let capacity = BTreeMap::from([(
        "gpu.example.com".to_string(),
        Value::Map(BTreeMap::from([(
            "memory".to_string(),
            Value::Quantity(Quantity::parse("80Gi").unwrap()),
        )])),
    )]);
    Value::Map(BTreeMap::from([
        (
            "driver".to_string(),
            Value::String("gpu.example.com".to_string()),
        ),
        ("attributes".to_string(), Value::Domains(attributes)),
        ("capacity".to_string(), Value::Domains(capacity)),
    ]))
}

fn run(source: &str) -> Result<Value, Error> {
    let variables = BTreeMap::from([("device", device())]);
    evaluate(&compile(source)?, &variables)
}

#[test]
fn selectors_of_the_dra_environment() {
    for (source, expected) in [
        ("device.driver == 'gpu.example.com'", true),
        ("device.driver == \"other\"", false),
        ("device.attributes['gpu.example.com'].model == 'a100'", true),
        (
            "device.attributes[\"gpu.example.com\"][\"index\"] >= 2",
            true,
        ),
        (
            "device.capacity['gpu.example.com'].memory.compareTo(quantity('40Gi')) >= 0",
            true,
        ),
        (
            "device.capacity['gpu.example.com'].memory.isLessThan(quantity('40Gi'))",
            false,
        ),
        (
            "device.capacity['gpu.example.com'].memory.isGreaterThan(quantity('1Ti'))",
            false,
        ),
        (
            "device.attributes['gpu.example.com'].driverVersion.isGreaterThan(semver('1.2.0'))",
            true,
        ),
        (
            "device.attributes['gpu.example.com'].driverVersion.compareTo(semver('2.0.0')) < 0",
            true,
        ),
        ("has(device.attributes['gpu.example.com'].model)", true),
        ("has(device.attributes['other.example.com'].model)", false),
        (
            "device.attributes['gpu.example.com'].model in ['a100', 'h100']",
            true,
        ),
        ("'gpu.example.com' in device.attributes", true),
        (
            "device.attributes['gpu.example.com'].model.startsWith('a') && !false",
            true,
        ),
        (
            "device.attributes['gpu.example.com'].index + 1 == 4 ? true : false",
            true,
        ),
        ("size(device.attributes['gpu.example.com']) == 3", true),
        ("device.attributes['gpu.example.com'].index == 3u", true),
        ("(1 + 2) * 3 == 9 || false", true),
    ] {
        assert_eq!(run(source), Ok(Value::Bool(expected)), "{source}");
    }
}

#[test]
fn an_unknown_domain_reads_as_an_empty_map_and_an_unknown_name_fails() {
    assert_eq!(
        run("device.attributes['other.example.com'].model == 'x'"),
        Err(Error("no such key: model".to_string()))
    );
    // CEL's logical operators absorb an error when the other side decides.
    assert_eq!(
        run("device.attributes['other.example.com'].model == 'x' || true"),
        Ok(Value::Bool(true))
    );
    assert_eq!(
        run("false && device.attributes['other.example.com'].model == 'x'"),
        Ok(Value::Bool(false))
    );
    assert_eq!(
        run("device.driver.size() > 'x'"),
        Err(Error("no such overload: int > string".to_string()))
    );
}

#[test]
fn syntax_errors_are_refused() {
    assert!(compile("device.driver ==").is_err());
    assert!(compile("device.driver == 'x").is_err());
    assert!(compile("device.driver == 'x' 'y'").is_err());
    assert!(compile("has(device)").is_err());
    assert!(compile("device.#").is_err());
}
