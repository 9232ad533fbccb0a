//! YAML read as kubectl reads it before anything reaches the apiserver
//! (go-yaml v2 through `sigs.k8s.io/yaml`): YAML 1.1 plain scalars, so
//! `yes`, `no`, `on` and `off` are booleans and `0755` is an octal number,
//! anchors and merge keys (`<<: *base`), numbers and booleans as keys
//! turned into strings, and each document converted to JSON. A value JSON
//! cannot hold (`.nan`, `.inf`) is refused, naming where it is.

use serde_json::{Map, Number, Value};
use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Why a document could not be read, and which (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub document: usize,
    pub message: String,
}

/// A node as written: scalars keep their style, which decides their type.
#[derive(Debug, Clone)]
enum Node {
    Scalar {
        text: String,
        plain: bool,
        tag: Option<String>,
    },
    Sequence(Vec<Node>),
    Mapping(Vec<(Node, Node)>),
}

/// How many nodes aliases may copy in all: `*a` repeated over anchors of
/// anchors grows exponentially (a "billion laughs"), and kubectl refuses
/// such a file too.
const ALIAS_BUDGET: usize = 1_000_000;

/// The number of nodes in `node`, counting no further than `limit`.
fn size(node: &Node, limit: usize) -> usize {
    match node {
        Node::Scalar { .. } => 1,
        Node::Sequence(items) => items.iter().fold(1, |n, item| {
            if n > limit {
                n
            } else {
                n + size(item, limit - n)
            }
        }),
        Node::Mapping(entries) => entries.iter().fold(1, |n, (k, v)| {
            if n > limit {
                n
            } else {
                n + size(k, limit - n) + size(v, limit - n)
            }
        }),
    }
}

/// What [`read`] hands on, in the order of the text, so that a large file
/// is never held as one tree: each document as soon as it ends, and each
/// item of a document's top-level `items` sequence (a `kind: List`, as
/// `kubectl get -o yaml` prints) as soon as the item ends.
#[derive(Debug)]
pub enum Part {
    /// An item of the top-level `items` sequence of the document being
    /// read, before that document is known to be a List. Its conversion
    /// failed when `value` is an error.
    Item {
        document: usize,
        index: usize,
        value: Result<Value, String>,
    },
    /// A document as JSON (`Null` when empty). When `items_read` is not 0,
    /// that many top-level `items` sequences were handed on item by item
    /// and stand here as `[]`.
    Document {
        document: usize,
        value: Value,
        items_read: usize,
    },
}

/// Builds the nodes of each document from the parser's events and hands
/// each on as it ends.
struct Builder<'a> {
    /// Nodes copied by aliases so far.
    aliased: usize,
    /// Why the events cannot be made a document, at which document.
    error: Option<(usize, String)>,
    stack: Vec<(Node, usize)>,
    /// A mapping's key waiting for its value, by depth.
    keys: Vec<Option<Node>>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    started: usize,
    /// Whether top-level `items` sequences are handed on item by item.
    stream_items: bool,
    /// The next index in the `items` sequence being handed on, if any.
    items: Option<usize>,
    /// How many `items` sequences the current document handed on.
    items_read: usize,
    /// Only this document is built, when set.
    only: Option<usize>,
    /// Set when `each` asked to stop or an error was found: the rest of
    /// the events are ignored.
    stopped: bool,
    each: &'a mut dyn FnMut(Part) -> bool,
}

impl Builder<'_> {
    fn add(&mut self, node: Node) {
        let depth = self.stack.len();
        let Some((parent, _)) = self.stack.last_mut() else {
            self.root = Some(node);
            return;
        };
        match parent {
            Node::Sequence(items) => match (self.items, depth) {
                (Some(index), 2) => {
                    self.items = Some(index + 1);
                    let value = to_json(&node, &format!("items[{index}]"));
                    let item = Part::Item {
                        document: self.started,
                        index,
                        value,
                    };
                    if !(self.each)(item) {
                        self.stopped = true;
                    }
                }
                _ => items.push(node),
            },
            Node::Mapping(entries) => {
                let key = self.keys.last_mut().expect("a key slot per mapping");
                match key.take() {
                    None => *key = Some(node),
                    Some(k) => entries.push((k, node)),
                }
            }
            Node::Scalar { .. } => unreachable!("scalars hold no nodes"),
        }
    }

    fn close(&mut self) {
        if self.stack.len() == 2 && self.items.take().is_some() {
            self.items_read += 1;
        }
        let (node, anchor) = self.stack.pop().expect("an open collection");
        if matches!(node, Node::Mapping(_)) {
            self.keys.pop();
        }
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        self.add(node);
    }

    /// Whether a sequence starting now is the value of the document's
    /// top-level `items`, to be handed on item by item.
    fn starts_items(&self, anchor: usize) -> bool {
        self.stream_items
            && anchor == 0
            && self.stack.len() == 1
            && matches!(self.stack[0].0, Node::Mapping(_))
            && matches!(
                self.keys.last(),
                Some(Some(Node::Scalar { text, .. })) if text == "items"
            )
    }

    /// Ends the current document: hands it on, or records why it cannot be.
    fn end_document(&mut self) {
        let document = self.started;
        let root = self.root.take();
        let items_read = std::mem::take(&mut self.items_read);
        self.anchors.clear();
        let value = match root {
            None => Value::Null,
            Some(node) => match to_json(&node, "") {
                Ok(value) => value,
                Err(message) => {
                    self.error = Some((document, message));
                    self.stopped = true;
                    return;
                }
            },
        };
        let part = Part::Document {
            document,
            value,
            items_read,
        };
        if !(self.each)(part) || self.only.is_some() {
            self.stopped = true;
        }
    }
}

/// A tag in its short form (`!!str`).
fn tag_name(tag: Option<Tag>) -> Option<String> {
    tag.map(|t| match t.handle.as_str() {
        "tag:yaml.org,2002:" => format!("!!{}", t.suffix),
        handle => format!("{handle}{}", t.suffix),
    })
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, event: Event, _mark: Marker) {
        if self.stopped {
            return;
        }
        if let Event::DocumentStart = event {
            self.started += 1;
            self.root = None;
            return;
        }
        if self.only.is_some_and(|n| n != self.started) {
            return;
        }
        match event {
            Event::DocumentEnd => self.end_document(),
            Event::Scalar(text, style, anchor, tag) => {
                let node = Node::Scalar {
                    text,
                    plain: style == TScalarStyle::Plain,
                    tag: tag_name(tag),
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.add(node);
            }
            Event::Alias(anchor) => {
                // The parser refuses an alias to an unknown anchor; one
                // to a collection still open is an alias to itself.
                let Some(node) = self.anchors.get(&anchor).cloned() else {
                    self.error = Some((
                        self.started,
                        "not valid YAML: an anchor's value contains itself".to_string(),
                    ));
                    self.stopped = true;
                    return;
                };
                self.aliased += size(&node, ALIAS_BUDGET);
                if self.aliased > ALIAS_BUDGET {
                    self.error = Some((
                        self.started,
                        "not valid YAML: the document contains excessive aliasing".to_string(),
                    ));
                    self.stopped = true;
                    return;
                }
                self.add(node);
            }
            Event::SequenceStart(anchor, _) => {
                if self.starts_items(anchor) {
                    self.items = Some(0);
                }
                self.stack.push((Node::Sequence(Vec::new()), anchor))
            }
            Event::MappingStart(anchor, _) => {
                self.stack.push((Node::Mapping(Vec::new()), anchor));
                self.keys.push(None);
            }
            Event::SequenceEnd | Event::MappingEnd => self.close(),
            Event::DocumentStart | Event::Nothing | Event::StreamStart | Event::StreamEnd => {}
        }
    }
}

/// Reads the documents of `text` in order, handing each [`Part`] to `each`
/// as soon as it is complete, until `each` returns false. The first
/// document that cannot be read ends the reading with its error; what
/// came before it has been handed on.
///
/// ```
/// use kws_host::model::yaml::{self, Part};
/// let mut kinds = Vec::new();
/// yaml::read("kind: List\nitems:\n- kind: Pod\n- kind: Node\n", |part| {
///     if let Part::Item { value: Ok(item), .. } = part {
///         kinds.push(item["kind"].as_str().unwrap_or_default().to_string());
///     }
///     true
/// })?;
/// assert_eq!(kinds, ["Pod", "Node"]);
/// # Ok::<(), yaml::YamlError>(())
/// ```
pub fn read(text: &str, mut each: impl FnMut(Part) -> bool) -> Result<(), YamlError> {
    load(text, true, None, &mut each)
}

/// Document `number` (1-based) of `text` alone and whole: what [`read`]
/// gave in parts, for when the parts turn out not to make a List.
pub fn document(text: &str, number: usize) -> Result<Value, YamlError> {
    let mut found = Value::Null;
    load(text, false, Some(number), &mut |part| {
        if let Part::Document { value, .. } = part {
            found = value;
        }
        false
    })?;
    Ok(found)
}

fn load(
    text: &str,
    stream_items: bool,
    only: Option<usize>,
    each: &mut dyn FnMut(Part) -> bool,
) -> Result<(), YamlError> {
    let mut builder = Builder {
        aliased: 0,
        error: None,
        stack: Vec::new(),
        keys: Vec::new(),
        anchors: HashMap::new(),
        root: None,
        started: 0,
        stream_items,
        items: None,
        items_read: 0,
        only,
        stopped: false,
        each,
    };
    let parsed = Parser::new_from_str(text).load(&mut builder, true);
    if let Some((document, message)) = builder.error {
        return Err(YamlError { document, message });
    }
    match parsed {
        Err(_) if builder.stopped => Ok(()),
        Err(e) => Err(YamlError {
            document: builder.started.max(1),
            message: format!("not valid YAML: {e}"),
        }),
        Ok(()) => Ok(()),
    }
}

/// Each document of `text` as JSON (`Null` for an empty one), up to the
/// first that cannot be read, whose error comes last: [`read`] with every
/// document whole and kept.
pub fn documents(text: &str) -> Vec<Result<Value, YamlError>> {
    let mut out = Vec::new();
    let read = load(text, false, None, &mut |part| {
        if let Part::Document { value, .. } = part {
            out.push(Ok(value));
        }
        true
    });
    if let Err(e) = read {
        out.push(Err(e));
    }
    out
}

/// A scalar's value as go-yaml v2 resolves it.
enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
}

fn resolve(text: &str, plain: bool, tag: Option<&str>) -> Scalar {
    if !plain || matches!(tag, Some("!!str") | Some("!")) {
        return Scalar::Str(text.to_string());
    }
    match text {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Scalar::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Scalar::Bool(false);
        }
        "" | "~" | "null" | "Null" | "NULL" => return Scalar::Null,
        ".nan" | ".NaN" | ".NAN" => return Scalar::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Scalar::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Scalar::Float(f64::NEG_INFINITY),
        _ => {}
    }
    match text.as_bytes()[0] {
        b'.' => text
            .parse::<f64>()
            .map_or_else(|_| Scalar::Str(text.to_string()), Scalar::Float),
        b'0'..=b'9' | b'+' | b'-' => {
            let digits = text.replace('_', "");
            if let Some(i) = go_parse_int(&digits) {
                return i;
            }
            if is_yaml_float(&digits)
                && let Ok(f) = digits.parse::<f64>()
            {
                return Scalar::Float(f);
            }
            Scalar::Str(text.to_string())
        }
        _ => Scalar::Str(text.to_string()),
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`, then `ParseUint`: a sign, then
/// decimal, `0x` hex, `0o` or leading-zero octal, or `0b` binary.
fn go_parse_int(text: &str) -> Option<Scalar> {
    let (negative, rest) = match text.as_bytes()[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = rest.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if negative {
        let value = i64::try_from(magnitude)
            .ok()
            .map(|m| -m)
            .or((magnitude == 1 << 63).then_some(i64::MIN))?;
        Some(Scalar::Int(value))
    } else {
        Some(i64::try_from(magnitude).map_or(Scalar::Uint(magnitude), Scalar::Int))
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_float(text: &str) -> bool {
    let text = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", fraction)) => digits(fraction),
        Some((whole, fraction)) => digits(whole) && (fraction.is_empty() || digits(fraction)),
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

fn is_merge_key(node: &Node) -> bool {
    matches!(node, Node::Scalar { text, plain: true, tag: None } if text == "<<")
}

fn to_json(node: &Node, path: &str) -> Result<Value, String> {
    match node {
        Node::Scalar { text, plain, tag } => {
            scalar_json(resolve(text, *plain, tag.as_deref()), path)
        }
        Node::Sequence(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| to_json(item, &format!("{path}[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Node::Mapping(entries) => {
            let mut object = Map::new();
            let mut merged = Map::new();
            for (key, value) in entries {
                if is_merge_key(key) {
                    let sources: Vec<&Node> = match value {
                        Node::Sequence(items) => items.iter().collect(),
                        other => vec![other],
                    };
                    for source in sources {
                        match to_json(source, path)? {
                            Value::Object(map) => {
                                for (k, v) in map {
                                    merged.entry(k).or_insert(v);
                                }
                            }
                            _ => {
                                return Err(format!(
                                    "error converting YAML to JSON: a merge key at {} does not name a mapping",
                                    at(path)
                                ));
                            }
                        }
                    }
                    continue;
                }
                let key = key_string(key, path)?;
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                // A later key wins, as in go-yaml v2.
                object.insert(key, to_json(value, &child)?);
            }
            for (k, v) in merged {
                object.entry(k).or_insert(v);
            }
            Ok(Value::Object(object))
        }
    }
}

fn at(path: &str) -> &str {
    if path.is_empty() { "the top" } else { path }
}

/// A key as `sigs.k8s.io/yaml` turns it into a JSON object key.
fn key_string(key: &Node, path: &str) -> Result<String, String> {
    let Node::Scalar { text, plain, tag } = key else {
        return Err(format!(
            "error converting YAML to JSON: a key at {} is not a string",
            at(path)
        ));
    };
    Ok(match resolve(text, *plain, tag.as_deref()) {
        Scalar::Str(s) => s,
        Scalar::Bool(b) => b.to_string(),
        Scalar::Int(i) => i.to_string(),
        Scalar::Uint(u) => u.to_string(),
        Scalar::Float(f) => f.to_string(),
        Scalar::Null => {
            return Err(format!(
                "error converting YAML to JSON: unsupported map key of type: nil at {}",
                at(path)
            ));
        }
    })
}

fn scalar_json(scalar: Scalar, path: &str) -> Result<Value, String> {
    Ok(match scalar {
        Scalar::Null => Value::Null,
        Scalar::Bool(b) => Value::Bool(b),
        Scalar::Int(i) => Value::from(i),
        Scalar::Uint(u) => Value::from(u),
        Scalar::Str(s) => Value::String(s),
        Scalar::Float(f) if !f.is_finite() => {
            return Err(format!(
                "error converting YAML to JSON: json: unsupported value: {f} (at {})",
                if path.is_empty() {
                    "the document"
                } else {
                    path
                }
            ));
        }
        // Go prints a whole float64 below 1e21 without a fraction.
        Scalar::Float(f) if f.fract() == 0.0 && f.abs() < 1e21 => Value::from(f as i64),
        Scalar::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(text: &str) -> Value {
        let mut docs = documents(text);
        assert_eq!(docs.len(), 1, "{docs:?}");
        docs.remove(0).unwrap()
    }

    #[test]
    fn plain_scalars_are_yaml_1_1() {
        assert_eq!(
            one(
                "{a: yes, b: 'yes', c: off, d: 0755, e: 0x1F, f: 1_000, g: 0b11, h: ~, i: 2026-12-03, j: 1.5, k: 80.0, l: .5, m: 1e3}"
            ),
            json!({"a": true, "b": "yes", "c": false, "d": 493, "e": 31, "f": 1000, "g": 3, "h": null, "i": "2026-12-03", "j": 1.5, "k": 80, "l": 0.5, "m": 1000})
        );
        assert_eq!(
            one("{a: !!str yes, b: \"0755\", c: -12, d: +7, e: 1.2.3}"),
            json!({"a": "yes", "b": "0755", "c": -12, "d": 7, "e": "1.2.3"})
        );
    }

    #[test]
    fn keys_become_strings_and_merge_keys_apply() {
        assert_eq!(
            one("{1: a, true: b, 1.5: c}"),
            json!({"1": "a", "true": "b", "1.5": "c"})
        );
        assert_eq!(
            one("base: &b {a: 1, c: 2}\nmine:\n  <<: *b\n  c: 3\n"),
            json!({"base": {"a": 1, "c": 2}, "mine": {"a": 1, "c": 3}})
        );
        assert_eq!(
            one("{a: 1, a: 2}"),
            json!({"a": 2}),
            "the last of a repeated key wins"
        );
    }

    #[test]
    fn documents_are_numbered_and_errors_located() {
        let docs = documents("a: 1\n---\n---\nb: [1\n");
        assert_eq!(docs.len(), 3, "{docs:?}");
        assert_eq!(docs[1], Ok(Value::Null));
        let error = docs[2].clone().unwrap_err();
        assert_eq!(error.document, 3);
        assert!(error.message.starts_with("not valid YAML: "), "{error:?}");
        assert_eq!(
            documents("a: {b: [1, .nan]}")[0]
                .clone()
                .unwrap_err()
                .message,
            "error converting YAML to JSON: json: unsupported value: NaN (at a.b[1])"
        );
        assert!(documents("# only a comment\n").is_empty());
    }

    #[test]
    fn aliases_cannot_explode_or_contain_themselves() {
        let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (name, previous) in ["b", "c", "d", "e", "f", "g", "h"]
            .iter()
            .zip(["a", "b", "c", "d", "e", "f", "g"])
        {
            laughs += &format!(
                "{name}: &{name} [*{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}]\n"
            );
        }
        assert_eq!(
            documents(&laughs)[0].clone().unwrap_err().message,
            "not valid YAML: the document contains excessive aliasing"
        );
        let looped = documents("a: &a [1, *a]\n");
        assert!(looped.last().unwrap().is_err(), "{looped:?}");
    }
}
