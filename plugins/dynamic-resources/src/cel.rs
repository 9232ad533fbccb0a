//! The part of CEL (the Common Expression Language) that device selectors
//! use, in the environment kube-scheduler gives them
//! (`k8s.io/dynamic-resource-allocation/cel`): the variable `device` with
//! `driver`, `attributes[domain].name` and `capacity[domain].name`;
//! quantities (`quantity("1Gi")`, `compareTo`, `isGreaterThan`,
//! `isLessThan`, `asInteger`), semantic versions (`semver("1.2.3")` and the
//! same comparisons), strings (`startsWith`, `endsWith`, `contains`,
//! `size`), lists and maps (`in`, `size`, `has()`), arithmetic, comparison,
//! the logical operators with CEL's error absorption (`false && error` is
//! false) and `? :`.
//!
//! Written here rather than taken from the `cel` crate: that crate's maps
//! hash with std's random seed, which asks WASI for randomness the sandbox
//! does not grant, so the first expression would trap.

use kws_plugin_sdk::quantity::Quantity;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

/// A value during evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Double(f64),
    String(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
    /// `device.attributes` and `device.capacity`: a map whose unknown keys
    /// (domains) read as an empty map, as upstream's
    /// `newStringInterfaceMapWithDefault`.
    Domains(BTreeMap<String, Value>),
    Quantity(Quantity),
    Version(Version),
}

/// A semantic version's ordering part (pre-release and build ignored in
/// comparisons beyond "has one sorts first").
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// Empty for a release, which sorts after its pre-releases.
    pub pre_release: Vec<String>,
}

impl Version {
    /// A strict semantic version (`1.2.3`, `1.2.3-rc.1+build`).
    pub fn parse(text: &str) -> Option<Version> {
        let text = text.split('+').next()?;
        let (core, pre) = match text.split_once('-') {
            Some((core, pre)) => (core, pre.split('.').map(str::to_string).collect()),
            None => (text, Vec::new()),
        };
        let mut parts = core.split('.').map(|p| {
            (!p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
                .then(|| p.parse::<u64>().ok())
                .flatten()
        });
        let version = Version {
            major: parts.next()??,
            minor: parts.next()??,
            patch: parts.next()??,
            pre_release: pre,
        };
        parts.next().is_none().then_some(version)
    }

    fn compare(&self, other: &Version) -> std::cmp::Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(
                || match (self.pre_release.is_empty(), other.pre_release.is_empty()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    (false, false) => self.pre_release.cmp(&other.pre_release),
                },
            )
    }
}

impl Value {
    fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null_type",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::UInt(_) => "uint",
            Value::Double(_) => "double",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Map(_) | Value::Domains(_) => "map",
            Value::Quantity(_) => "Quantity",
            Value::Version(_) => "Semver",
        }
    }
}

/// An expression that did not parse, or failed as it ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn error<T>(message: impl Into<String>) -> Result<T, Error> {
    Err(Error(message.into()))
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Int(i64),
    UInt(u64),
    Double(f64),
    String(String),
    Ident(String),
    Punct(&'static str),
}

const PUNCTUATION: [&str; 22] = [
    "==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "+", "-", "*", "/", "%", "?", ":", ".", ",",
    "(", ")", "[", "]",
];

fn tokenize(source: &str) -> Result<Vec<Token>, Error> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                // A member call on an integer literal is not CEL: a dot
                // followed by a digit belongs to the number.
                if chars[i] == '.' && !chars.get(i + 1).is_some_and(char::is_ascii_digit) {
                    break;
                }
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            tokens.push(number(&text)?);
        } else if c == '"' || c == '\'' {
            let mut text = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return error("unterminated string literal"),
                    Some(&q) if q == c => break,
                    Some('\\') => {
                        i += 1;
                        text.push(match chars.get(i) {
                            Some('n') => '\n',
                            Some('t') => '\t',
                            Some(&other) => other,
                            None => return error("unterminated string literal"),
                        });
                    }
                    Some(&other) => text.push(other),
                }
                i += 1;
            }
            i += 1;
            tokens.push(Token::String(text));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let Some(punct) = PUNCTUATION.iter().find(|p| rest.starts_with(**p)) else {
                return error(format!("Syntax error: token recognition error at: '{c}'"));
            };
            i += punct.chars().count();
            tokens.push(Token::Punct(punct));
        }
    }
    Ok(tokens)
}

fn number(text: &str) -> Result<Token, Error> {
    let bad = || Error(format!("Syntax error: invalid number {text}"));
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16)
            .map(Token::Int)
            .map_err(|_| bad());
    }
    if let Some(unsigned) = text.strip_suffix(['u', 'U']) {
        return unsigned.parse().map(Token::UInt).map_err(|_| bad());
    }
    if text.contains(['.', 'e', 'E']) {
        return text.parse().map(Token::Double).map_err(|_| bad());
    }
    text.parse().map(Token::Int).map_err(|_| bad())
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(Value),
    Ident(String),
    List(Vec<Expr>),
    Member(Box<Expr>, String),
    Index(Box<Expr>, Box<Expr>),
    /// A global function (`quantity(...)`) or, with a target, a method.
    Call(Option<Box<Expr>>, String, Vec<Expr>),
    Has(Box<Expr>, String),
    Unary(&'static str, Box<Expr>),
    Binary(&'static str, Box<Expr>, Box<Expr>),
    Conditional(Box<Expr>, Box<Expr>, Box<Expr>),
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn eat(&mut self, punct: &str) -> bool {
        if matches!(self.peek(), Some(Token::Punct(p)) if *p == punct) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, punct: &str) -> Result<(), Error> {
        if self.eat(punct) {
            Ok(())
        } else {
            error(format!(
                "Syntax error: expected '{punct}', found {}",
                self.describe()
            ))
        }
    }

    fn describe(&self) -> String {
        match self.peek() {
            None => "end of input".to_string(),
            Some(Token::Punct(p)) => format!("'{p}'"),
            Some(Token::Ident(i)) => format!("'{i}'"),
            Some(other) => format!("{other:?}"),
        }
    }

    fn expression(&mut self) -> Result<Expr, Error> {
        let condition = self.or()?;
        if self.eat("?") {
            let then = self.or()?;
            self.expect(":")?;
            let otherwise = self.expression()?;
            return Ok(Expr::Conditional(
                Box::new(condition),
                Box::new(then),
                Box::new(otherwise),
            ));
        }
        Ok(condition)
    }

    fn or(&mut self) -> Result<Expr, Error> {
        let mut left = self.and()?;
        while self.eat("||") {
            left = Expr::Binary("||", Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, Error> {
        let mut left = self.relation()?;
        while self.eat("&&") {
            left = Expr::Binary("&&", Box::new(left), Box::new(self.relation()?));
        }
        Ok(left)
    }

    fn relation(&mut self) -> Result<Expr, Error> {
        let mut left = self.additive()?;
        loop {
            let op = match self.peek() {
                Some(Token::Punct(p @ ("==" | "!=" | "<" | "<=" | ">" | ">="))) => *p,
                Some(Token::Ident(i)) if i == "in" => "in",
                _ => return Ok(left),
            };
            self.at += 1;
            left = Expr::Binary(op, Box::new(left), Box::new(self.additive()?));
        }
    }

    fn additive(&mut self) -> Result<Expr, Error> {
        let mut left = self.multiplicative()?;
        loop {
            let op = match self.peek() {
                Some(Token::Punct(p @ ("+" | "-"))) => *p,
                _ => return Ok(left),
            };
            self.at += 1;
            left = Expr::Binary(op, Box::new(left), Box::new(self.multiplicative()?));
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, Error> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Some(Token::Punct(p @ ("*" | "/" | "%"))) => *p,
                _ => return Ok(left),
            };
            self.at += 1;
            left = Expr::Binary(op, Box::new(left), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr, Error> {
        if self.eat("!") {
            return Ok(Expr::Unary("!", Box::new(self.unary()?)));
        }
        if self.eat("-") {
            return Ok(Expr::Unary("-", Box::new(self.unary()?)));
        }
        self.member()
    }

    fn member(&mut self) -> Result<Expr, Error> {
        let mut target = self.primary()?;
        loop {
            if self.eat(".") {
                let Some(Token::Ident(name)) = self.peek().cloned() else {
                    return error(format!(
                        "Syntax error: expected a field name, found {}",
                        self.describe()
                    ));
                };
                self.at += 1;
                if self.eat("(") {
                    let args = self.arguments()?;
                    target = Expr::Call(Some(Box::new(target)), name, args);
                } else {
                    target = Expr::Member(Box::new(target), name);
                }
            } else if self.eat("[") {
                let index = self.expression()?;
                self.expect("]")?;
                target = Expr::Index(Box::new(target), Box::new(index));
            } else {
                return Ok(target);
            }
        }
    }

    fn arguments(&mut self) -> Result<Vec<Expr>, Error> {
        let mut args = Vec::new();
        if self.eat(")") {
            return Ok(args);
        }
        loop {
            args.push(self.expression()?);
            if self.eat(")") {
                return Ok(args);
            }
            self.expect(",")?;
        }
    }

    fn primary(&mut self) -> Result<Expr, Error> {
        let Some(token) = self.peek().cloned() else {
            return error("Syntax error: unexpected end of input");
        };
        self.at += 1;
        Ok(match token {
            Token::Int(i) => Expr::Literal(Value::Int(i)),
            Token::UInt(u) => Expr::Literal(Value::UInt(u)),
            Token::Double(d) => Expr::Literal(Value::Double(d)),
            Token::String(s) => Expr::Literal(Value::String(s)),
            Token::Ident(name) => match name.as_str() {
                "true" => Expr::Literal(Value::Bool(true)),
                "false" => Expr::Literal(Value::Bool(false)),
                "null" => Expr::Literal(Value::Null),
                _ if self.eat("(") => {
                    let args = self.arguments()?;
                    if name == "has" {
                        match <[Expr; 1]>::try_from(args) {
                            Ok([Expr::Member(target, field)]) => Expr::Has(target, field),
                            _ => return error("invalid argument to has() macro"),
                        }
                    } else {
                        Expr::Call(None, name, args)
                    }
                }
                _ => Expr::Ident(name),
            },
            Token::Punct("(") => {
                let inner = self.expression()?;
                self.expect(")")?;
                inner
            }
            Token::Punct("[") => {
                let mut items = Vec::new();
                if !self.eat("]") {
                    loop {
                        items.push(self.expression()?);
                        if self.eat("]") {
                            break;
                        }
                        self.expect(",")?;
                    }
                }
                Expr::List(items)
            }
            Token::Punct(p) => {
                return error(format!("Syntax error: mismatched input '{p}'"));
            }
        })
    }
}

/// Parses an expression.
pub fn compile(source: &str) -> Result<Expr, Error> {
    let mut parser = Parser {
        tokens: tokenize(source)?,
        at: 0,
    };
    let expr = parser.expression()?;
    if parser.at != parser.tokens.len() {
        return error(format!(
            "Syntax error: extraneous input {}",
            parser.describe()
        ));
    }
    Ok(expr)
}

/// A variable or a field path into one (`device.attributes["x"].y`),
/// borrowed rather than copied: a selector reads a field or two of a
/// device, and copying the whole device for each step was most of its cost.
/// Anything else is evaluated.
fn evaluate_ref<'v>(
    expr: &Expr,
    variables: &'v BTreeMap<&str, Value>,
) -> Result<Cow<'v, Value>, Error> {
    match expr {
        Expr::Ident(name) => variables
            .get(name.as_str())
            .map(Cow::Borrowed)
            .ok_or_else(|| Error(format!("undeclared reference to '{name}'"))),
        Expr::Member(target, field) => match evaluate_ref(target, variables)? {
            Cow::Borrowed(Value::Domains(map)) => Ok(map
                .get(field)
                .map_or_else(|| Cow::Owned(Value::Map(BTreeMap::new())), Cow::Borrowed)),
            Cow::Borrowed(Value::Map(map)) => map
                .get(field)
                .map(Cow::Borrowed)
                .ok_or_else(|| Error(format!("no such key: {field}"))),
            other => member(&other, field).map(Cow::Owned),
        },
        _ => evaluate(expr, variables).map(Cow::Owned),
    }
}

/// `target.field`.
fn member(target: &Value, field: &str) -> Result<Value, Error> {
    match target {
        Value::Domains(map) => Ok(map
            .get(field)
            .cloned()
            .unwrap_or_else(|| Value::Map(BTreeMap::new()))),
        Value::Map(map) => map
            .get(field)
            .cloned()
            .ok_or_else(|| Error(format!("no such key: {field}"))),
        other => error(format!(
            "no such overload: field selection on {}",
            other.type_name()
        )),
    }
}

/// Runs `expr` with `variables` in scope.
pub fn evaluate(expr: &Expr, variables: &BTreeMap<&str, Value>) -> Result<Value, Error> {
    match expr {
        Expr::Literal(value) => Ok(value.clone()),
        Expr::Ident(name) => variables
            .get(name.as_str())
            .cloned()
            .ok_or_else(|| Error(format!("undeclared reference to '{name}'"))),
        Expr::List(items) => items
            .iter()
            .map(|i| evaluate(i, variables))
            .collect::<Result<_, _>>()
            .map(Value::List),
        Expr::Member(..) => evaluate_ref(expr, variables).map(Cow::into_owned),
        Expr::Has(target, field) => match &*evaluate_ref(target, variables)? {
            Value::Map(map) | Value::Domains(map) => Ok(Value::Bool(map.contains_key(field))),
            other => error(format!("no such overload: has() on {}", other.type_name())),
        },
        Expr::Index(target, index) => {
            let target = evaluate_ref(target, variables)?;
            let index = evaluate(index, variables)?;
            match (&*target, index) {
                (Value::Domains(map), Value::String(key)) => Ok(map
                    .get(&key)
                    .cloned()
                    .unwrap_or_else(|| Value::Map(BTreeMap::new()))),
                (Value::Map(map), Value::String(key)) => map
                    .get(&key)
                    .cloned()
                    .ok_or_else(|| Error(format!("no such key: {key}"))),
                (Value::List(list), Value::Int(i)) => usize::try_from(i)
                    .ok()
                    .and_then(|i| list.get(i).cloned())
                    .ok_or_else(|| Error(format!("index out of bounds: {i}"))),
                (target, index) => error(format!(
                    "no such overload: {}[{}]",
                    target.type_name(),
                    index.type_name()
                )),
            }
        }
        Expr::Call(target, name, args) => {
            let target = target
                .as_ref()
                .map(|t| evaluate(t, variables))
                .transpose()?;
            let args: Vec<Value> = args
                .iter()
                .map(|a| evaluate(a, variables))
                .collect::<Result<_, _>>()?;
            call(target, name, &args)
        }
        Expr::Unary(op, operand) => match (*op, evaluate(operand, variables)?) {
            ("!", Value::Bool(b)) => Ok(Value::Bool(!b)),
            ("-", Value::Int(i)) => i
                .checked_neg()
                .map(Value::Int)
                .ok_or_else(|| Error("return error for overflow".to_string())),
            ("-", Value::Double(d)) => Ok(Value::Double(-d)),
            (op, value) => error(format!("no such overload: {op}{}", value.type_name())),
        },
        Expr::Binary(op @ ("&&" | "||"), left, right) => {
            // CEL's logical operators are commutative over errors: a
            // decisive side wins even when the other fails.
            let decisive = *op == "||";
            let left = evaluate(left, variables);
            if let Ok(Value::Bool(b)) = left
                && b == decisive
            {
                return Ok(Value::Bool(b));
            }
            let right = evaluate(right, variables);
            match (left, right) {
                (_, Ok(Value::Bool(b))) if b == decisive => Ok(Value::Bool(b)),
                (Ok(Value::Bool(_)), Ok(Value::Bool(b))) => Ok(Value::Bool(b)),
                (Err(e), _) | (_, Err(e)) => Err(e),
                (Ok(l), Ok(r)) => error(format!(
                    "no such overload: {} {op} {}",
                    l.type_name(),
                    r.type_name()
                )),
            }
        }
        Expr::Binary(op, left, right) => {
            binary(op, evaluate(left, variables)?, evaluate(right, variables)?)
        }
        Expr::Conditional(condition, then, otherwise) => match evaluate(condition, variables)? {
            Value::Bool(true) => evaluate(then, variables),
            Value::Bool(false) => evaluate(otherwise, variables),
            other => error(format!("no such overload: {} ? _ : _", other.type_name())),
        },
    }
}

/// Numbers of different types compare by value, as CEL's heterogeneous
/// equality and ordering.
fn numeric(value: &Value) -> Option<f64> {
    match value {
        Value::Int(i) => Some(*i as f64),
        Value::UInt(u) => Some(*u as f64),
        Value::Double(d) => Some(*d),
        _ => None,
    }
}

fn ordering(left: &Value, right: &Value) -> Option<std::cmp::Ordering> {
    match (left, right) {
        (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
        (Value::UInt(a), Value::UInt(b)) => Some(a.cmp(b)),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        _ => numeric(left)?.partial_cmp(&numeric(right)?),
    }
}

fn equal(left: &Value, right: &Value) -> bool {
    match (numeric(left), numeric(right)) {
        (Some(a), Some(b)) => a == b,
        _ => left == right,
    }
}

fn binary(op: &str, left: Value, right: Value) -> Result<Value, Error> {
    let overload = |l: &Value, r: &Value| {
        Error(format!(
            "no such overload: {} {op} {}",
            l.type_name(),
            r.type_name()
        ))
    };
    match op {
        "==" => Ok(Value::Bool(equal(&left, &right))),
        "!=" => Ok(Value::Bool(!equal(&left, &right))),
        "<" | "<=" | ">" | ">=" => {
            let order = ordering(&left, &right).ok_or_else(|| overload(&left, &right))?;
            Ok(Value::Bool(match op {
                "<" => order.is_lt(),
                "<=" => order.is_le(),
                ">" => order.is_gt(),
                _ => order.is_ge(),
            }))
        }
        "in" => match &right {
            Value::List(items) => Ok(Value::Bool(items.iter().any(|i| equal(i, &left)))),
            Value::Map(map) | Value::Domains(map) => match &left {
                Value::String(key) => Ok(Value::Bool(map.contains_key(key))),
                _ => Ok(Value::Bool(false)),
            },
            _ => Err(overload(&left, &right)),
        },
        _ => arithmetic(op, left, right),
    }
}

fn arithmetic(op: &str, left: Value, right: Value) -> Result<Value, Error> {
    let overflow = || Error("return error for overflow".to_string());
    match (op, left, right) {
        ("+", Value::String(a), Value::String(b)) => Ok(Value::String(a + &b)),
        ("+", Value::List(mut a), Value::List(b)) => {
            a.extend(b);
            Ok(Value::List(a))
        }
        (op, Value::Int(a), Value::Int(b)) => match op {
            "+" => a.checked_add(b),
            "-" => a.checked_sub(b),
            "*" => a.checked_mul(b),
            "/" if b == 0 => return error("division by zero"),
            "/" => a.checked_div(b),
            "%" if b == 0 => return error("modulus by zero"),
            _ => a.checked_rem(b),
        }
        .map(Value::Int)
        .ok_or_else(overflow),
        (op, Value::UInt(a), Value::UInt(b)) => match op {
            "+" => a.checked_add(b),
            "-" => a.checked_sub(b),
            "*" => a.checked_mul(b),
            "/" if b == 0 => return error("division by zero"),
            "/" => a.checked_div(b),
            "%" if b == 0 => return error("modulus by zero"),
            _ => a.checked_rem(b),
        }
        .map(Value::UInt)
        .ok_or_else(overflow),
        (op, Value::Double(a), Value::Double(b)) => Ok(Value::Double(match op {
            "+" => a + b,
            "-" => a - b,
            "*" => a * b,
            "/" => a / b,
            _ => return error("no such overload: double % double"),
        })),
        (op, l, r) => error(format!(
            "no such overload: {} {op} {}",
            l.type_name(),
            r.type_name()
        )),
    }
}

fn compare_result(order: std::cmp::Ordering) -> Value {
    Value::Int(order as i64)
}

fn call(target: Option<Value>, name: &str, args: &[Value]) -> Result<Value, Error> {
    let no_overload = |target: &Option<Value>| {
        let on = target
            .as_ref()
            .map(|t| format!("{}.", t.type_name()))
            .unwrap_or_default();
        let types: Vec<&str> = args.iter().map(Value::type_name).collect();
        Error(format!(
            "no such overload: {on}{name}({})",
            types.join(", ")
        ))
    };
    match (&target, name, args) {
        (None, "quantity", [Value::String(text)]) => {
            Quantity::parse(text).map(Value::Quantity).ok_or_else(|| {
                Error(format!(
                    "quantities must match the regular expression for {text:?}"
                ))
            })
        }
        (None, "semver", [Value::String(text)]) => Version::parse(text)
            .map(Value::Version)
            .ok_or_else(|| Error(format!("invalid semver: {text}"))),
        (None, "isQuantity", [Value::String(text)]) => {
            Ok(Value::Bool(Quantity::parse(text).is_some()))
        }
        (None, "isSemver", [Value::String(text)]) => {
            Ok(Value::Bool(Version::parse(text).is_some()))
        }
        (None, "size", [value]) | (Some(value), "size", []) => match value {
            Value::String(s) => Ok(Value::Int(s.chars().count() as i64)),
            Value::List(l) => Ok(Value::Int(l.len() as i64)),
            Value::Map(m) | Value::Domains(m) => Ok(Value::Int(m.len() as i64)),
            _ => Err(no_overload(&target)),
        },
        (Some(Value::String(s)), "startsWith", [Value::String(p)]) => {
            Ok(Value::Bool(s.starts_with(p.as_str())))
        }
        (Some(Value::String(s)), "endsWith", [Value::String(p)]) => {
            Ok(Value::Bool(s.ends_with(p.as_str())))
        }
        (Some(Value::String(s)), "contains", [Value::String(p)]) => {
            Ok(Value::Bool(s.contains(p.as_str())))
        }
        (Some(Value::String(s)), "lowerAscii", []) => Ok(Value::String(s.to_ascii_lowercase())),
        (Some(Value::String(s)), "upperAscii", []) => Ok(Value::String(s.to_ascii_uppercase())),
        (Some(Value::Quantity(a)), "compareTo", [Value::Quantity(b)]) => {
            Ok(compare_result(a.cmp(b)))
        }
        (Some(Value::Quantity(a)), "isGreaterThan", [Value::Quantity(b)]) => Ok(Value::Bool(a > b)),
        (Some(Value::Quantity(a)), "isLessThan", [Value::Quantity(b)]) => Ok(Value::Bool(a < b)),
        (Some(Value::Quantity(a)), "asInteger", []) => i64::try_from(a.value())
            .map(Value::Int)
            .map_err(|_| Error("cannot convert value to integer".to_string())),
        (Some(Value::Quantity(a)), "isInteger", []) => Ok(Value::Bool(
            a.0 % 1_000_000_000 == 0 && i64::try_from(a.value()).is_ok(),
        )),
        (Some(Value::Quantity(a)), "sign", []) => Ok(Value::Int(a.0.signum() as i64)),
        (Some(Value::Version(a)), "compareTo", [Value::Version(b)]) => {
            Ok(compare_result(a.compare(b)))
        }
        (Some(Value::Version(a)), "isGreaterThan", [Value::Version(b)]) => {
            Ok(Value::Bool(a.compare(b).is_gt()))
        }
        (Some(Value::Version(a)), "isLessThan", [Value::Version(b)]) => {
            Ok(Value::Bool(a.compare(b).is_lt()))
        }
        (Some(Value::Version(a)), "major", []) => Ok(Value::Int(a.major as i64)),
        (Some(Value::Version(a)), "minor", []) => Ok(Value::Int(a.minor as i64)),
        (Some(Value::Version(a)), "patch", []) => Ok(Value::Int(a.patch as i64)),
        _ => Err(no_overload(&target)),
    }
}

#[cfg(test)]
mod tests;
