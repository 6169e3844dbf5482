//! The PartiQL parser: statements, literals, parameters, conditions and AWS's syntax errors.

use super::parse::{Returning, Statement, parse};
use crate::attr::Av;
use crate::expr::{CmpOp, Cond, Elem, Operand, SetValue, UpdateAction};
use crate::shapes::AttributeValue;

fn p(text: &str) -> Statement {
    match parse(text, vec![]) {
        Ok(s) => s,
        Err(e) => panic!("{text}: {e}"),
    }
}

fn name(n: &str) -> Vec<Elem> {
    vec![Elem::Name(n.to_owned())]
}

fn s(v: &str) -> Av {
    Av::S(v.to_owned())
}

#[test]
fn select_star_with_quoted_table_and_index() {
    let Statement::Select {
        table,
        index,
        paths,
        filter,
        order,
    } = p(r#"select * from "Music"."ByTitle" where "Artist" = 'Acme' order by SongTitle desc"#)
    else {
        panic!("not a select");
    };
    assert_eq!(table, "Music");
    assert_eq!(index.as_deref(), Some("ByTitle"));
    assert_eq!(paths, None);
    assert_eq!(
        filter,
        Some(Cond::Cmp(
            CmpOp::Eq,
            Operand::Path(name("Artist")),
            Operand::Value(s("Acme"))
        ))
    );
    assert_eq!(order, Some(("SongTitle".to_owned(), false)));
}

#[test]
fn select_paths_and_conditions() {
    let Statement::Select { paths, filter, .. } = p(
        "SELECT a, b.c[1].d FROM t WHERE a BETWEEN 1 AND 5 AND NOT (b <> 'x' OR c IN [1, 2]) AND d IS NOT MISSING AND begins_with(e, 'p') AND size(f) >= 2",
    ) else {
        panic!("not a select");
    };
    assert_eq!(
        paths,
        Some(vec![
            name("a"),
            vec![
                Elem::Name("b".into()),
                Elem::Name("c".into()),
                Elem::Index(1),
                Elem::Name("d".into())
            ]
        ])
    );
    let text = format!("{filter:?}");
    for part in [
        "Between",
        "Not(Or(",
        "In(",
        "Not(NotExists",
        "BeginsWith",
        "Size",
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }
}

#[test]
fn parameters_bind_in_order_and_must_match() {
    let params = vec![
        AttributeValue {
            s: Some("a".into()),
            ..Default::default()
        },
        AttributeValue {
            n: Some("7".into()),
            ..Default::default()
        },
    ];
    let Ok(Statement::Select {
        filter: Some(Cond::And(a, b)),
        ..
    }) = parse("SELECT * FROM t WHERE pk = ? AND n > ?", params.clone())
    else {
        panic!("parameters");
    };
    assert_eq!(
        *a,
        Cond::Cmp(CmpOp::Eq, Operand::Path(name("pk")), Operand::Value(s("a")))
    );
    assert_eq!(
        *b,
        Cond::Cmp(
            CmpOp::Gt,
            Operand::Path(name("n")),
            Operand::Value(Av::N("7".into()))
        )
    );
    let e = parse("SELECT * FROM t WHERE pk = ?", params).unwrap_err();
    assert_eq!(
        e,
        "Number of parameters in request and statement don't match."
    );
    let e = parse("SELECT * FROM t WHERE pk = ?", vec![]).unwrap_err();
    assert_eq!(
        e,
        "Number of parameters in request and statement don't match."
    );
}

#[test]
fn insert_document_literals() {
    let Statement::Insert { table, item } = p(
        "INSERT INTO \"T\" VALUE {'pk': 'a', 'n': -1.50, 'm': {'l': [1, 'x', true, null]}, 'ss': <<'b', 'a'>>, 'ns': <<1, 2>>}",
    ) else {
        panic!("not an insert");
    };
    assert_eq!(table, "T");
    assert_eq!(item.get("pk"), Some(&s("a")));
    assert_eq!(item.get("n"), Some(&Av::N("-1.5".into())));
    let Some(Av::M(m)) = item.get("m") else {
        panic!("map");
    };
    assert_eq!(
        m.get("l"),
        Some(&Av::L(vec![
            Av::N("1".into()),
            s("x"),
            Av::Bool(true),
            Av::Null
        ]))
    );
    assert!(matches!(item.get("ss"), Some(Av::Ss(v)) if v.len() == 2));
    assert!(matches!(item.get("ns"), Some(Av::Ns(v)) if v.len() == 2));
}

#[test]
fn update_actions_and_returning() {
    let Statement::Update {
        table,
        actions,
        filter,
        returning,
    } = p(
        "UPDATE t SET a = 1, b = b + 2 SET l = list_append(l, [3]) SET s = set_add(s, <<'x'>>) REMOVE c, d[0] WHERE pk = 'k' RETURNING MODIFIED NEW *",
    )
    else {
        panic!("not an update");
    };
    assert_eq!(table, "t");
    assert_eq!(returning, Some(Returning::ModifiedNew));
    assert!(filter.is_some());
    assert_eq!(actions.len(), 6);
    assert_eq!(
        actions[0],
        UpdateAction::Set(name("a"), SetValue::Value(Av::N("1".into())))
    );
    assert!(matches!(
        &actions[1],
        UpdateAction::Set(_, SetValue::Plus(..))
    ));
    assert!(matches!(
        &actions[2],
        UpdateAction::Set(_, SetValue::ListAppend(..))
    ));
    assert!(matches!(&actions[3], UpdateAction::Add(_, Av::Ss(_))));
    assert_eq!(actions[4], UpdateAction::Remove(name("c")));
}

#[test]
fn delete_and_exists() {
    let Statement::Delete { returning, .. } =
        p("delete from t where pk = 'a' and sk = 1 returning all old *")
    else {
        panic!("not a delete");
    };
    assert_eq!(returning, Some(Returning::AllOld));
    assert!(matches!(
        p("EXISTS(SELECT * FROM t WHERE pk = 'a' AND x IS MISSING)"),
        Statement::Exists(_)
    ));
}

#[test]
fn malformed_statements_say_so() {
    for text in [
        "SELEC * FROM t",
        "SELECT * FROM",
        "SELECT * FROM t WHERE",
        "SELECT * FROM t WHERE a = 'unterminated",
        "INSERT INTO t VALUE 'x'",
        "UPDATE t WHERE pk = 1",
        "SELECT * FROM t extra",
    ] {
        let e = parse(text, vec![]).unwrap_err();
        assert!(
            e.starts_with("Statement wasn't well formed, can't be processed: "),
            "{text}: {e}"
        );
    }
}

#[test]
fn quoted_identifiers_keep_case_and_escapes() {
    let Statement::Select { filter, .. } = p(r#"SELECT * FROM t WHERE "we""ird" = 'it''s'"#) else {
        panic!("not a select");
    };
    assert_eq!(
        filter,
        Some(Cond::Cmp(
            CmpOp::Eq,
            Operand::Path(name("we\"ird")),
            Operand::Value(s("it's"))
        ))
    );
}
