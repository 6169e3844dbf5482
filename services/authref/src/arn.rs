//! ARN templates as the reference writes them (`arn:${Partition}:s3:::${BucketName}/${ObjectName}`):
//! parsed once into literal text and variables, filled from bound values, and matched against an ARN a
//! request already carries (to take its variables, or to use it whole).

/// The three variables every template may use that come from the request's scope, not its input.
pub(crate) const SCOPE_VARS: [&str; 3] = ["Partition", "Region", "Account"];

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var(String),
}

/// A parsed ARN template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses `${Name}` variables out of a template; text without them is one literal piece. An
    /// unterminated `${` is kept as text.
    pub(crate) fn parse(text: &str) -> Template {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let Some(len) = rest[start + 2..].find('}') else {
                break;
            };
            if start > 0 {
                pieces.push(Piece::Text(rest[..start].to_string()));
            }
            pieces.push(Piece::Var(rest[start + 2..start + 2 + len].to_string()));
            rest = &rest[start + 2 + len + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Template { pieces }
    }

    /// The variables other than partition, region and account, in template order.
    pub(crate) fn input_vars(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Var(v) if !SCOPE_VARS.contains(&v.as_str()) => Some(v.as_str()),
            _ => None,
        })
    }

    /// Whether the template uses a variable.
    pub(crate) fn has_var(&self, name: &str) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::Var(v) if v == name))
    }

    /// The template with every variable replaced by `value(name)`; `None` if one has no value.
    /// Filled into one buffer of the final length.
    pub(crate) fn fill<'v>(&self, value: &dyn Fn(&str) -> Option<&'v str>) -> Option<String> {
        let mut len = 0;
        for piece in &self.pieces {
            len += match piece {
                Piece::Text(t) => t.len(),
                Piece::Var(v) => value(v)?.len(),
            };
        }
        let mut out = String::with_capacity(len);
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(v) => out.push_str(value(v)?),
            }
        }
        Some(out)
    }

    /// Matches a whole ARN against the template and returns each variable's value. Partition, region
    /// and account stop at `:` (and may be empty, as in `arn:aws:iam::123456789012:role/r`); other
    /// variables take at least one character, the fewest that let the rest match.
    pub(crate) fn matches(&self, arn: &str) -> Option<Vec<(String, String)>> {
        let mut bound = Vec::new();
        match_from(&self.pieces, arn, &mut bound).then_some(bound)
    }
}

fn match_from(pieces: &[Piece], text: &str, bound: &mut Vec<(String, String)>) -> bool {
    let Some((first, rest)) = pieces.split_first() else {
        return text.is_empty();
    };
    match first {
        Piece::Text(t) => text
            .strip_prefix(t.as_str())
            .is_some_and(|after| match_from(rest, after, bound)),
        Piece::Var(name) => {
            let scope = SCOPE_VARS.contains(&name.as_str());
            let min = usize::from(!scope);
            for (end, _) in text.char_indices().chain([(text.len(), ' ')]) {
                if end < min {
                    continue;
                }
                let value = &text[..end];
                if scope && value.contains(':') {
                    break;
                }
                bound.push((name.clone(), value.to_string()));
                if match_from(rest, &text[end..], bound) {
                    return true;
                }
                bound.pop();
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(bound: &'a [(String, String)], name: &str) -> Option<&'a str> {
        bound
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn parses_and_fills() {
        let t = Template::parse("arn:${Partition}:s3:::${BucketName}/${ObjectName}");
        assert_eq!(
            t.input_vars().collect::<Vec<_>>(),
            ["BucketName", "ObjectName"]
        );
        assert!(t.has_var("Partition"));
        let arn = t.fill(&|v| match v {
            "Partition" => Some("aws"),
            "BucketName" => Some("b"),
            "ObjectName" => Some("dir/k"),
            _ => None,
        });
        assert_eq!(arn.as_deref(), Some("arn:aws:s3:::b/dir/k"));
        assert_eq!(t.fill(&|_| None), None);
    }

    #[test]
    fn matches_arns_and_refuses_other_shapes() {
        let bucket = Template::parse("arn:${Partition}:s3:::${BucketName}");
        let ap = Template::parse(
            "arn:${Partition}:s3:${Region}:${Account}:accesspoint/${AccessPointName}",
        );
        let m = bucket
            .matches("arn:aws:s3:::my-bucket")
            .expect("a bucket ARN");
        assert_eq!(get(&m, "BucketName"), Some("my-bucket"));
        assert!(
            bucket
                .matches("arn:aws:s3:us-east-1:123456789012:accesspoint/ap")
                .is_none()
        );
        let m = ap
            .matches("arn:aws:s3:us-east-1:123456789012:accesspoint/ap")
            .expect("an access point ARN");
        assert_eq!(get(&m, "Region"), Some("us-east-1"));
        assert_eq!(get(&m, "Account"), Some("123456789012"));
        assert_eq!(get(&m, "AccessPointName"), Some("ap"));

        let stream = Template::parse(
            "arn:${Partition}:logs:${Region}:${Account}:log-group:${LogGroupName}:log-stream:${LogStreamName}",
        );
        let m = stream
            .matches("arn:aws:logs:eu-west-1:1:log-group:/aws/lambda/f:log-stream:2024/01/01")
            .expect("a log stream ARN");
        assert_eq!(get(&m, "LogGroupName"), Some("/aws/lambda/f"));
        assert_eq!(get(&m, "LogStreamName"), Some("2024/01/01"));

        let role = Template::parse("arn:${Partition}:iam::${Account}:role/${RoleNameWithPath}");
        let m = role
            .matches("arn:aws:iam::123456789012:role/service/r")
            .expect("a role ARN");
        assert_eq!(get(&m, "RoleNameWithPath"), Some("service/r"));
        assert!(role.matches("arn:aws:iam::123456789012:role/").is_none());
    }
}
