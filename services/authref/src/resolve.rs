//! From an operation and its inputs to the actions and resource ARNs it needs.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use crate::bindings::{self, Assign, Src, Target};
use crate::data::{Action, Reference, Service};
use crate::inputs::{Inputs, Overlay};
use crate::rules::{self, Custom};
use crate::{AuthrefError, Requirement, Scope};

const PARTIQL: [&str; 4] = [
    "dynamodb:PartiQLSelect",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
];

/// More ARNs than this for one action (a 1000-key `DeleteObjects` is the largest real case) are cut.
const MAX_ARNS: usize = 1000;

/// The operation's primary actions (see the `rules` module).
pub(crate) fn primaries(
    prefix: &str,
    service: &Service,
    operation: &str,
) -> Result<Vec<String>, AuthrefError> {
    if let Some((_, _, actions)) = rules::PRIMARY
        .iter()
        .find(|(s, o, _)| *s == prefix && *o == operation)
    {
        return Ok(actions.iter().map(|a| (*a).to_string()).collect());
    }
    let own = format!("{prefix}:{operation}");
    let listed = service.operations.get(operation);
    match listed {
        Some(actions) if actions.contains(&own) => Ok(vec![own]),
        Some(actions) if !actions.is_empty() => {
            // No action named like the operation: the listed actions of its own prefix (another
            // service's, such as iam:PassRole, stay for the rules to decide), else all of them.
            let mine: Vec<String> = actions
                .iter()
                .filter(|a| a.split_once(':').is_some_and(|(p, _)| p == prefix))
                .cloned()
                .collect();
            tracing::debug!("{own}: no action named like it; requiring {mine:?}");
            Ok(if mine.is_empty() {
                actions.clone()
            } else {
                mine
            })
        }
        _ if service.actions.contains_key(operation) => Ok(vec![own]),
        _ => Err(AuthrefError::UnknownOperation {
            service: prefix.to_string(),
            operation: operation.to_string(),
        }),
    }
}

/// Every action the operation may need, primary ones first.
pub(crate) fn candidates(
    prefix: &str,
    service: &Service,
    operation: &str,
) -> Result<Vec<String>, AuthrefError> {
    let mut out = primaries(prefix, service, operation)?;
    let listed = service.operations.get(operation).into_iter().flatten();
    let named = rules::named_for(prefix, operation).map(str::to_string);
    let custom: Vec<String> = match rules::custom(prefix, operation) {
        Some(Custom::DeleteObjects) => {
            vec!["s3:DeleteObject".into(), "s3:DeleteObjectVersion".into()]
        }
        Some(Custom::PartiQl(_)) => PARTIQL.iter().map(|a| (*a).to_string()).collect(),
        None => Vec::new(),
    };
    for action in custom.into_iter().chain(listed.cloned()).chain(named) {
        if !out.contains(&action) {
            out.push(action);
        }
    }
    Ok(out)
}

/// Variable sources ahead of the general table, for one action in one operation.
type Bind = &'static [(&'static str, &'static [Src])];

/// What an operation needs whatever its inputs, worked out once per operation: its primary actions
/// and, for each other action it may need, the rule saying when (with each action's bindings).
struct Plan {
    primary: Vec<(String, Bind)>,
    conditional: Vec<(String, &'static rules::Rule, Bind)>,
    listed: Vec<String>,
}

/// Plans by service prefix and operation.
type Plans = std::sync::RwLock<HashMap<String, HashMap<String, Arc<Plan>>>>;

fn plan(prefix: &str, service: &Service, operation: &str) -> Result<Arc<Plan>, AuthrefError> {
    static PLANS: std::sync::OnceLock<Plans> = std::sync::OnceLock::new();
    let plans = PLANS.get_or_init(Plans::default);
    if let Some(found) = plans
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(prefix)
        .and_then(|ops| ops.get(operation))
    {
        return Ok(found.clone());
    }
    let bind = |action: &str| rules::bind_for(prefix, operation, action);
    let primary = primaries(prefix, service, operation)?;
    // The other actions: those the reference lists, and those rules name for this operation.
    let listed = service
        .operations
        .get(operation)
        .cloned()
        .unwrap_or_default();
    let named = rules::named_for(prefix, operation).map(str::to_string);
    let mut seen = primary.clone();
    let mut conditional = Vec::new();
    for action in listed.iter().cloned().chain(named) {
        if seen.contains(&action) {
            continue;
        }
        seen.push(action.clone());
        if let Some(rule) = rules::rule_for(prefix, operation, &action, listed.contains(&action)) {
            let b = bind(&action);
            conditional.push((action, rule, b));
        }
    }
    let made = Arc::new(Plan {
        primary: primary
            .into_iter()
            .map(|a| {
                let b = bind(&a);
                (a, b)
            })
            .collect(),
        conditional,
        listed,
    });
    plans
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .entry(prefix.to_owned())
        .or_default()
        .insert(operation.to_owned(), made.clone());
    Ok(made)
}

/// The requirements of one request.
pub(crate) fn requirements(
    reference: &Reference,
    prefix: &str,
    service: &Service,
    operation: &str,
    scope: &Scope,
    inputs: &dyn Inputs,
) -> Result<Vec<Requirement>, AuthrefError> {
    let ctx = Ctx {
        reference,
        prefix,
        operation,
        scope,
    };
    let plan = plan(prefix, service, operation)?;
    let mut out: Vec<Requirement> = plan
        .primary
        .iter()
        .map(|(a, bind)| ctx.requirement_bound(a, bind, inputs))
        .collect();
    match rules::custom(prefix, operation) {
        Some(Custom::DeleteObjects) => out.extend(delete_objects(&ctx, inputs)),
        Some(Custom::PartiQl(path)) => out.extend(partiql(&ctx, inputs, path)),
        None => {}
    }
    for (action, rule, bind) in &plan.conditional {
        if !rule.when.holds(inputs) {
            continue;
        }
        let requirement = ctx.requirement_bound(action, bind, inputs);
        match rule
            .instead_of
            .and_then(|old| out.iter().position(|r| r.action == old))
        {
            Some(i) => out[i] = requirement,
            None => out.push(requirement),
        }
    }
    if out.is_empty() {
        // A per-item operation without items (a malformed request): never "nothing needed", but
        // every action the operation lists, on "*".
        tracing::debug!("{prefix}:{operation}: no items; requiring all its actions on \"*\"");
        out = plan
            .listed
            .iter()
            .map(|action| Requirement {
                action: action.clone(),
                resources: Vec::new(),
            })
            .collect();
    }
    Ok(merge(out))
}

/// Requirements of the same action become one, their resources joined.
fn merge(list: Vec<Requirement>) -> Vec<Requirement> {
    let mut out: Vec<Requirement> = Vec::new();
    for r in list {
        match out.iter_mut().find(|o| o.action == r.action) {
            Some(o) if o.resources.is_empty() || r.resources.is_empty() => o.resources.clear(),
            Some(o) => {
                for arn in r.resources {
                    if !o.resources.contains(&arn) {
                        o.resources.push(arn);
                    }
                }
            }
            None => out.push(r),
        }
    }
    out
}

/// `s3:DeleteObject` on each key, `s3:DeleteObjectVersion` on each key given with a version.
fn delete_objects(ctx: &Ctx, inputs: &dyn Inputs) -> Vec<Requirement> {
    let keys = inputs.get_all("Delete.Objects[].Key");
    let versions = inputs.get_all("Delete.Objects[].VersionId");
    keys.into_iter()
        .enumerate()
        .filter_map(|(i, key)| {
            let key = key?;
            let versioned = versions.get(i).is_some_and(Option::is_some);
            let action = if versioned {
                "s3:DeleteObjectVersion"
            } else {
                "s3:DeleteObject"
            };
            let overlay = Overlay {
                base: inputs,
                members: vec![("Key", Some(key))],
            };
            Some(ctx.requirement(action, &overlay))
        })
        .collect()
}

/// Each statement's PartiQL action on the table or index it names.
fn partiql(ctx: &Ctx, inputs: &dyn Inputs, path: &str) -> Vec<Requirement> {
    inputs
        .get_all(path)
        .into_iter()
        .flatten()
        .flat_map(|text| {
            let Some(statement) = rules::partiql(&text) else {
                // Not understood: every PartiQL action, on "*", rather than none.
                tracing::debug!("PartiQL statement not understood for authorization: {text}");
                return PARTIQL
                    .iter()
                    .map(|a| Requirement {
                        action: (*a).to_string(),
                        resources: Vec::new(),
                    })
                    .collect();
            };
            let overlay = Overlay {
                base: inputs,
                members: vec![
                    ("TableName", statement.table),
                    ("IndexName", statement.index),
                ],
            };
            vec![ctx.requirement(statement.action, &overlay)]
        })
        .collect()
}

struct Ctx<'a> {
    reference: &'a Reference,
    prefix: &'a str,
    operation: &'a str,
    scope: &'a Scope<'a>,
}

impl Ctx<'_> {
    fn requirement(&self, action: &str, inputs: &dyn Inputs) -> Requirement {
        let bind = rules::bind_for(self.prefix, self.operation, action);
        self.requirement_bound(action, bind, inputs)
    }

    /// [`Ctx::requirement`] with the action's bindings in this operation already looked up.
    fn requirement_bound(&self, action: &str, bind: Bind, inputs: &dyn Inputs) -> Requirement {
        let resources = match self.reference.action(action) {
            Some((service, a)) => self.resources(action, service, a, bind, inputs),
            None => {
                tracing::debug!("{action} is not in the authorization reference; resource \"*\"");
                Vec::new()
            }
        };
        Requirement {
            action: action.to_string(),
            resources,
        }
    }

    /// Of the action's resource types, the ARNs of the one the inputs fill with the most variables
    /// (an index over its table when the request names an index); none: empty, meaning `*`.
    fn resources(
        &self,
        action: &str,
        service: &Service,
        a: &Action,
        bind: Bind,
        inputs: &dyn Inputs,
    ) -> Vec<String> {
        let prefix = action.split_once(':').map_or(action, |(p, _)| p);
        let mut best: Option<(usize, Vec<String>)> = None;
        for rtype in &a.resources {
            let Some(resource) = service.resources.get(rtype) else {
                continue;
            };
            for template in &resource.arns {
                let Some((score, arns)) = self.fill(prefix, service, rtype, template, bind, inputs)
                else {
                    continue;
                };
                if best.as_ref().is_none_or(|(s, _)| score > *s) {
                    best = Some((score, arns));
                }
            }
        }
        match best {
            Some((_, arns)) => arns,
            None => {
                if !a.resources.is_empty() {
                    tracing::debug!(
                        "{action} in {}:{}: no resource from the inputs; resource \"*\"",
                        self.prefix,
                        self.operation
                    );
                }
                Vec::new()
            }
        }
    }

    /// The template's ARNs with every variable bound, and how many variables the inputs (not a
    /// default) bound; `None` if one has no value.
    fn fill(
        &self,
        prefix: &str,
        service: &Service,
        rtype: &str,
        template: &crate::arn::Template,
        bind: &[(&str, &[Src])],
        inputs: &dyn Inputs,
    ) -> Option<(usize, Vec<String>)> {
        let mut vars: Vec<&str> = Vec::new();
        for v in template.input_vars() {
            if !vars.contains(&v) {
                vars.push(v);
            }
        }
        let mut choices: Vec<Vec<Assign>> = Vec::new();
        let mut defaults = 0;
        for var in &vars {
            let target = Target {
                service,
                template,
                var,
            };
            let (found, defaulted) = self.bind(prefix, rtype, &target, bind, inputs);
            if defaulted {
                defaults += 1;
            }
            if found.is_empty() {
                return None;
            }
            choices.push(found);
        }
        let account = self.account(prefix, service, template, inputs);
        let mut arns = Vec::new();
        let mut index = vec![0usize; choices.len()];
        loop {
            let chosen: Vec<&Assign> = index.iter().zip(&choices).map(|(i, c)| &c[*i]).collect();
            let value = |name: &str| -> Option<&str> {
                chosen
                    .iter()
                    .flat_map(|a| a.iter())
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
                    .or(match name {
                        "Partition" => Some(self.scope.partition),
                        "Region" => Some(self.scope.region),
                        "Account" => Some(account.as_ref()),
                        _ => None,
                    })
            };
            if let Some(arn) = template.fill(&value)
                && !arns.contains(&arn)
            {
                arns.push(arn);
            }
            if arns.len() >= MAX_ARNS {
                tracing::warn!("more than {MAX_ARNS} resources for one action; the rest unchecked");
                break;
            }
            // Next combination (the last variable turns fastest).
            let mut k = choices.len();
            loop {
                if k == 0 {
                    return Some((vars.len() - defaults, arns));
                }
                k -= 1;
                index[k] += 1;
                if index[k] < choices[k].len() {
                    break;
                }
                index[k] = 0;
            }
        }
        Some((vars.len() - defaults, arns))
    }

    /// Values for one variable: the rule's sources for this action if it has some, else the table's
    /// and the service's ARN members; then the default (and whether it was used); values the binding
    /// excepts dropped.
    fn bind(
        &self,
        prefix: &str,
        rtype: &str,
        target: &Target,
        bind: &[(&str, &[Src])],
        inputs: &dyn Inputs,
    ) -> (Vec<Assign>, bool) {
        let own = bind.iter().find(|(v, _)| *v == target.var).map(|(_, s)| *s);
        let binding = bindings::binding(prefix, rtype, target.var);
        let sources: Vec<Src> = match own {
            Some(sources) => sources.to_vec(),
            None => binding
                .map(|b| b.sources.to_vec())
                .unwrap_or_default()
                .into_iter()
                .chain(bindings::arn_members(prefix).map(Src::Arn))
                .collect(),
        };
        let mut found = Vec::new();
        let mut defaulted = false;
        for src in sources {
            found = bindings::extract(src, inputs, target);
            if !found.is_empty() {
                break;
            }
        }
        if found.is_empty()
            && own.is_none()
            && let Some(default) = binding.and_then(|b| b.default)
        {
            found.push(vec![(target.var.to_string(), default.to_string())]);
            defaulted = true;
        }
        if let Some(except) = binding.and_then(|b| b.except) {
            found.retain(|a| {
                !a.iter()
                    .any(|(k, v)| k.as_str() == target.var && v.as_str() == except)
            });
        }
        (found, defaulted)
    }

    /// The account of the template's ARNs when no ARN in the input gives it: from a member the table
    /// names (`registryId`), else the request's.
    fn account(
        &self,
        prefix: &str,
        service: &Service,
        template: &crate::arn::Template,
        inputs: &dyn Inputs,
    ) -> Cow<'_, str> {
        let target = Target {
            service,
            template,
            var: "Account",
        };
        bindings::binding(prefix, "", "Account")
            .into_iter()
            .flat_map(|b| b.sources.iter())
            .find_map(|src| {
                bindings::extract(*src, inputs, &target)
                    .into_iter()
                    .next()
                    .and_then(|a| a.into_iter().find(|(k, _)| k == "Account"))
                    .map(|(_, v)| Cow::Owned(v))
            })
            .unwrap_or(Cow::Borrowed(self.scope.account))
    }
}
