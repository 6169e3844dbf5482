//! The evaluator against a small reference model on random items and random expressions (a
//! deterministic PRNG, no dependencies), and examples of projections and updates.

use std::collections::BTreeMap;

use super::*;
use crate::attr::Av;

/// xorshift64*: deterministic, good enough to spread cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The reference model's values: integers, strings, lists of integers.
#[derive(Debug, Clone, PartialEq)]
enum R {
    N(i64),
    S(String),
    L(Vec<i64>),
}

const NAMES: &[&str] = &["a", "b", "c", "d"];
const STRINGS: &[&str] = &["", "a", "ab", "b", "ba", "abc"];

fn random_value(rng: &mut Rng) -> R {
    match rng.below(3) {
        0 => R::N(rng.below(11) as i64 - 5),
        1 => R::S(STRINGS[rng.below(STRINGS.len() as u64) as usize].to_owned()),
        _ => R::L((0..rng.below(4)).map(|_| rng.below(5) as i64).collect()),
    }
}

fn to_av(v: &R) -> Av {
    match v {
        R::N(n) => Av::N(n.to_string()),
        R::S(s) => Av::S(s.clone()),
        R::L(l) => Av::L(l.iter().map(|n| Av::N(n.to_string())).collect()),
    }
}

/// A reference expression: operands are attributes (by name), values, or sizes of attributes.
#[derive(Debug, Clone)]
enum ROp {
    Attr(&'static str),
    Val(R),
    Size(&'static str),
}

#[derive(Debug, Clone)]
enum RCond {
    Cmp(&'static str, ROp, ROp),
    Between(ROp, ROp, ROp),
    In(ROp, Vec<ROp>),
    And(Box<RCond>, Box<RCond>),
    Or(Box<RCond>, Box<RCond>),
    Not(Box<RCond>),
    Exists(&'static str),
    NotExists(&'static str),
    BeginsWith(&'static str, String),
    Contains(&'static str, R),
}

fn random_operand(rng: &mut Rng) -> ROp {
    let name = NAMES[rng.below(NAMES.len() as u64) as usize];
    match rng.below(5) {
        0 | 1 => ROp::Attr(name),
        2 => ROp::Size(name),
        _ => ROp::Val(match rng.below(2) {
            0 => R::N(rng.below(11) as i64 - 5),
            _ => R::S(STRINGS[rng.below(STRINGS.len() as u64) as usize].to_owned()),
        }),
    }
}

fn random_cond(rng: &mut Rng, depth: u32) -> RCond {
    let name = NAMES[rng.below(NAMES.len() as u64) as usize];
    let pick = if depth == 0 {
        rng.below(6)
    } else {
        rng.below(9)
    };
    match pick {
        0 => {
            let op = ["=", "<>", "<", "<=", ">", ">="][rng.below(6) as usize];
            RCond::Cmp(op, random_operand(rng), random_operand(rng))
        }
        1 => RCond::Between(
            random_operand(rng),
            random_operand(rng),
            random_operand(rng),
        ),
        2 => RCond::In(
            random_operand(rng),
            (0..1 + rng.below(3)).map(|_| random_operand(rng)).collect(),
        ),
        3 => {
            if rng.below(2) == 0 {
                RCond::Exists(name)
            } else {
                RCond::NotExists(name)
            }
        }
        4 => RCond::BeginsWith(
            name,
            STRINGS[rng.below(STRINGS.len() as u64) as usize].to_owned(),
        ),
        5 => RCond::Contains(name, random_value(rng)),
        6 => RCond::And(
            Box::new(random_cond(rng, depth - 1)),
            Box::new(random_cond(rng, depth - 1)),
        ),
        7 => RCond::Or(
            Box::new(random_cond(rng, depth - 1)),
            Box::new(random_cond(rng, depth - 1)),
        ),
        _ => RCond::Not(Box::new(random_cond(rng, depth - 1))),
    }
}

/// The reference semantics, written independently of the evaluator.
fn ref_operand(item: &BTreeMap<&str, R>, op: &ROp) -> Option<R> {
    match op {
        ROp::Attr(n) => item.get(n).cloned(),
        ROp::Val(v) => Some(v.clone()),
        ROp::Size(n) => match item.get(n)? {
            R::S(s) => Some(R::N(s.len() as i64)),
            R::L(l) => Some(R::N(l.len() as i64)),
            R::N(_) => None,
        },
    }
}

fn ref_order(a: &R, b: &R) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (R::N(a), R::N(b)) => Some(a.cmp(b)),
        (R::S(a), R::S(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        _ => None,
    }
}

fn ref_eval(item: &BTreeMap<&str, R>, c: &RCond) -> bool {
    use std::cmp::Ordering::*;
    match c {
        RCond::Cmp(op, a, b) => {
            let (a, b) = (ref_operand(item, a), ref_operand(item, b));
            match *op {
                "=" => a.is_some() && a == b,
                "<>" => !(a.is_some() && a == b),
                _ => match (a, b) {
                    (Some(a), Some(b)) => match ref_order(&a, &b) {
                        Some(o) => match *op {
                            "<" => o == Less,
                            "<=" => o != Greater,
                            ">" => o == Greater,
                            _ => o != Less,
                        },
                        None => false,
                    },
                    _ => false,
                },
            }
        }
        RCond::Between(a, l, h) => {
            let (a, l, h) = (
                ref_operand(item, a),
                ref_operand(item, l),
                ref_operand(item, h),
            );
            match (a, l, h) {
                (Some(a), Some(l), Some(h)) => {
                    matches!(ref_order(&a, &l), Some(Greater | Equal))
                        && matches!(ref_order(&a, &h), Some(Less | Equal))
                }
                _ => false,
            }
        }
        RCond::In(a, list) => match ref_operand(item, a) {
            Some(a) => list.iter().any(|b| ref_operand(item, b) == Some(a.clone())),
            None => false,
        },
        RCond::And(a, b) => ref_eval(item, a) && ref_eval(item, b),
        RCond::Or(a, b) => ref_eval(item, a) || ref_eval(item, b),
        RCond::Not(a) => !ref_eval(item, a),
        RCond::Exists(n) => item.contains_key(n),
        RCond::NotExists(n) => !item.contains_key(n),
        RCond::BeginsWith(n, p) => {
            matches!(item.get(n), Some(R::S(s)) if s.starts_with(p.as_str()))
        }
        RCond::Contains(n, v) => match (item.get(n), v) {
            (Some(R::S(s)), R::S(p)) => s.contains(p.as_str()),
            (Some(R::L(l)), R::N(x)) => l.contains(x),
            _ => false,
        },
    }
}

/// Renders the reference expression as text, with placeholders for every value and for some
/// names.
struct Render {
    values: BTreeMap<String, Av>,
    names: BTreeMap<String, String>,
}

impl Render {
    fn name(&mut self, n: &str) -> String {
        if n == "d" {
            // Sometimes through a placeholder.
            let key = "#d".to_owned();
            self.names.insert(key.clone(), n.to_owned());
            key
        } else {
            n.to_owned()
        }
    }
    fn value(&mut self, v: &R) -> String {
        let key = format!(":v{}", self.values.len());
        self.values.insert(key.clone(), to_av(v));
        key
    }
    fn operand(&mut self, op: &ROp) -> String {
        match op {
            ROp::Attr(n) => self.name(n),
            ROp::Val(v) => self.value(v),
            ROp::Size(n) => format!("size({})", self.name(n)),
        }
    }
    fn cond(&mut self, c: &RCond) -> String {
        match c {
            RCond::Cmp(op, a, b) => format!("{} {op} {}", self.operand(a), self.operand(b)),
            RCond::Between(a, l, h) => format!(
                "{} BETWEEN {} AND {}",
                self.operand(a),
                self.operand(l),
                self.operand(h)
            ),
            RCond::In(a, list) => {
                let a = self.operand(a);
                let list: Vec<String> = list.iter().map(|o| self.operand(o)).collect();
                format!("{a} IN ({})", list.join(", "))
            }
            RCond::And(a, b) => format!("({}) AND ({})", self.cond(a), self.cond(b)),
            RCond::Or(a, b) => format!("({}) or ({})", self.cond(a), self.cond(b)),
            RCond::Not(a) => format!("NOT ({})", self.cond(a)),
            RCond::Exists(n) => format!("attribute_exists({})", self.name(n)),
            RCond::NotExists(n) => format!("attribute_not_exists({})", self.name(n)),
            RCond::BeginsWith(n, p) => {
                let n = self.name(n);
                format!("begins_with({n}, {})", self.value(&R::S(p.clone())))
            }
            RCond::Contains(n, v) => {
                let n = self.name(n);
                format!("contains({n}, {})", self.value(v))
            }
        }
    }
}

#[test]
fn evaluator_matches_the_reference_model() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut checked = 0;
    let mut true_count = 0;
    for _ in 0..3000 {
        let cond = random_cond(&mut rng, 3);
        let mut render = Render {
            values: BTreeMap::new(),
            names: BTreeMap::new(),
        };
        let text = render.cond(&cond);
        let mut ph = Placeholders::new(render.names.clone(), render.values.clone());
        let parsed = match parse::condition(Kind::Filter, &text, &mut ph) {
            Ok(c) => c,
            // Constant BETWEEN bounds out of order are a validation error, as in AWS.
            Err(e) if e.contains("BETWEEN operator requires upper bound") => continue,
            Err(e) => panic!("{text}: {e}"),
        };
        assert!(ph.check_unused().is_ok(), "{text}");
        for _ in 0..20 {
            let mut reference = BTreeMap::new();
            let mut item = Item::new();
            for n in NAMES {
                if rng.below(4) != 0 {
                    let v = random_value(&mut rng);
                    item.insert((*n).to_owned(), to_av(&v));
                    reference.insert(*n, v);
                }
            }
            let got = eval(&parsed, &item);
            assert_eq!(got, ref_eval(&reference, &cond), "{text} on {reference:?}");
            checked += 1;
            true_count += usize::from(got);
        }
    }
    // Both outcomes are well represented.
    assert!(checked > 50_000 && true_count > checked / 10 && true_count < checked * 9 / 10);
}

fn item(json: serde_json::Value) -> Item {
    crate::attr::item_from_json(&json).unwrap()
}

fn ph(values: serde_json::Value) -> Placeholders {
    let values = crate::attr::item_from_json(&values).unwrap();
    Placeholders::new(BTreeMap::new(), values.into_iter().collect())
}

#[test]
fn projections_keep_nested_parts() {
    let it = item(serde_json::json!({
        "a": {"M": {"b": {"L": [{"N": "0"}, {"M": {"c": {"S": "x"}, "d": {"S": "y"}}}, {"N": "2"}]}}},
        "e": {"S": "e"},
        "f": {"N": "1"}
    }));
    let paths = parse::projection(
        "a.b[1].c, a.b[2], e, nothere, f.g",
        &mut ph(serde_json::json!({})),
    )
    .unwrap();
    let got = project(&it, &paths);
    let want = item(serde_json::json!({
        "a": {"M": {"b": {"L": [{"M": {"c": {"S": "x"}}}, {"N": "2"}]}}},
        "e": {"S": "e"}
    }));
    assert_eq!(got, want);
}

#[test]
fn updates_apply_like_dynamodb() {
    let it = item(serde_json::json!({
        "id": {"S": "1"},
        "n": {"N": "10"},
        "l": {"L": [{"N": "1"}, {"N": "2"}, {"N": "3"}]},
        "s": {"SS": ["a", "b"]},
        "t": {"SS": ["a", "b"]},
        "m": {"M": {"x": {"N": "1"}}}
    }));
    let mut p = ph(serde_json::json!({
        ":one": {"N": "1.5"}, ":l": {"L": [{"N": "9"}]}, ":ss": {"SS": ["b", "c"]},
        ":z": {"N": "0"}, ":del": {"SS": ["a"]}
    }));
    let u = parse::update(
        "SET n = n - :one, l = list_append(:l, l), c = if_not_exists(c, :z) + :one, m.y = m.x \
         REMOVE m.x ADD s :ss DELETE t :del",
        &mut p,
    )
    .unwrap();
    p.check_unused().unwrap();
    let got = apply_update(&it, &u).unwrap();
    let want = item(serde_json::json!({
        "id": {"S": "1"},
        "n": {"N": "8.5"},
        "l": {"L": [{"N": "9"}, {"N": "1"}, {"N": "2"}, {"N": "3"}]},
        "c": {"N": "1.5"},
        "s": {"SS": ["a", "b", "c"]},
        "t": {"SS": ["b"]},
        "m": {"M": {"y": {"N": "1"}}}
    }));
    assert_eq!(got, want);

    let mut p = ph(serde_json::json!({":v": {"N": "1"}}));
    let u = parse::update("SET x = nothere + :v", &mut p).unwrap();
    assert_eq!(
        apply_update(&it, &u).unwrap_err(),
        "The provided expression refers to an attribute that does not exist in the item"
    );
    let u = parse::update(
        "SET nope.deeper = :v",
        &mut ph(serde_json::json!({":v": {"N": "1"}})),
    )
    .unwrap();
    assert_eq!(
        apply_update(&it, &u).unwrap_err(),
        "The document path provided in the update expression is invalid for update"
    );
    let u = parse::update("REMOVE l[0], l[2]", &mut ph(serde_json::json!({}))).unwrap();
    let got = apply_update(&it, &u).unwrap();
    assert_eq!(got["l"], Av::L(vec![Av::N("2".into())]));
    let u = parse::update("ADD id :v", &mut ph(serde_json::json!({":v": {"S": "x"}}))).unwrap();
    assert_eq!(
        apply_update(&it, &u).unwrap_err(),
        "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: STRING"
    );
}
