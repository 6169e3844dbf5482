//! The policy simulator: `SimulateCustomPolicy` (policies given as text) and `SimulatePrincipalPolicy`
//! (the policies of a stored user, group or role, plus any given), both decided by `skyport-policy`,
//! the evaluator that implements AWS's evaluation logic. Each action is simulated on each resource (`*`
//! when none is named); a result carries AWS's decision (`allowed`, `explicitDeny`, `implicitDeny`),
//! the statement that decided with its position in the document (line and column, 1-based, of the
//! statement's braces), the condition keys the policies test that the request context lacked, and
//! whether a permissions boundary allowed it.

use std::collections::BTreeMap;

use skyport_core::RequestContext;
use skyport_policy::{
    ContextValue, Outcome, Policy, PolicyKind, PolicySet, PolicyType, Principal,
    RequestContext as Request,
};
use skyport_wire::ApiError;

use crate::Iam;
use crate::managed::{self, PolicyArn};
use crate::shapes::{self, errors};
use crate::state::{GroupRec, RoleRec, UserRec};

/// One policy of a simulation: its document, compiled, and how results name it.
struct Source {
    /// `PolicyInputList.1`, an inline policy's name, a managed policy's name.
    id: String,
    /// `SourcePolicyType` (`user`, `group`, `role`, `aws-managed`, `user-managed`, `resource`), or none
    /// for policies given in the request.
    kind: Option<&'static str>,
    text: String,
    policy: Policy,
}

impl Source {
    fn new(
        id: String,
        kind: Option<&'static str>,
        text: String,
        grammar: PolicyKind,
    ) -> Result<Source, ApiError> {
        let policy = Policy::parse(&id, &text, grammar)
            .map_err(|e| errors::malformed_policy_document_exception(e.to_string()))?;
        Ok(Source {
            id,
            kind,
            text,
            policy,
        })
    }
}

/// What a simulation runs: the policies, the caller, the actions, resources and context.
struct Simulation {
    identity: Vec<Source>,
    boundary: Vec<Source>,
    resource_policy: Option<Source>,
    caller: Principal,
    actions: Vec<String>,
    resources: Vec<String>,
    resource_account: String,
    context: Vec<shapes::ContextEntry>,
}

/// The given policies (`PolicyInputList.N` and such), each checked as an identity policy.
fn inputs(list: &[String], name: &str) -> Result<Vec<Source>, ApiError> {
    list.iter()
        .enumerate()
        .map(|(i, text)| {
            Source::new(
                format!("{name}.{}", i + 1),
                None,
                text.clone(),
                PolicyKind::Identity,
            )
        })
        .collect()
}

/// The account of a `ResourceOwner` ARN (`arn:aws:iam::123456789012:root`) or a bare account id.
fn owner_account(owner: &str) -> Option<String> {
    let account = owner.split(':').nth(4).unwrap_or(owner);
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then(|| account.to_owned())
}

/// The context value of an entry: list types are multivalued.
fn entry_value(entry: &shapes::ContextEntry) -> Option<(String, ContextValue)> {
    let name = entry.context_key_name.clone()?;
    let values = entry.context_key_values.clone().unwrap_or_default();
    let list = entry
        .context_key_type
        .as_deref()
        .is_some_and(|t| t.ends_with("List"));
    let value = if list {
        ContextValue::Multi(values)
    } else {
        ContextValue::Single(values.into_iter().next()?)
    };
    Some((name, value))
}

/// The 1-based (line, column) of each statement's opening and closing brace in a policy document.
fn statement_spans(text: &str) -> Vec<((usize, usize), (usize, usize))> {
    let mut spans = Vec::new();
    let (mut line, mut col) = (1usize, 0usize);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut last_key = String::new();
    let mut key_buf = String::new();
    // The depth at which statements open: 2 for `"Statement": {...}`, 3 inside `"Statement": [...]`.
    let mut statement_depth: Option<usize> = None;
    let mut open: Option<(usize, usize)> = None;
    for c in text.chars() {
        if c == '\n' {
            line += 1;
            col = 0;
            continue;
        }
        col += 1;
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
                last_key = std::mem::take(&mut key_buf);
            } else {
                key_buf.push(c);
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '[' | '{' => {
                depth += 1;
                if depth == 2 && last_key == "Statement" {
                    statement_depth = Some(if c == '[' { 3 } else { 2 });
                }
                if c == '{' && Some(depth) == statement_depth {
                    open = Some((line, col));
                }
            }
            ']' | '}' => {
                if c == '}'
                    && Some(depth) == statement_depth
                    && let Some(start) = open.take()
                {
                    spans.push((start, (line, col)));
                }
                if depth == 2 && statement_depth.is_some() {
                    statement_depth = statement_depth.filter(|_| c != ']' && depth != 2);
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
    }
    spans
}

fn position((line, column): (usize, usize)) -> shapes::Position {
    shapes::Position {
        line: Some(i32::try_from(line).unwrap_or(i32::MAX)),
        column: Some(i32::try_from(column).unwrap_or(i32::MAX)),
    }
}

impl Simulation {
    /// Simulates every action on every resource, in that order.
    fn run(&self) -> Vec<shapes::EvaluationResult> {
        let identity: Vec<Policy> = self.identity.iter().map(|s| s.policy.clone()).collect();
        let boundary = self.boundary.first().map(|s| &s.policy);
        let mut results = Vec::new();
        for action in &self.actions {
            for resource in &self.resources {
                let mut request = Request::new(self.caller.clone(), action, resource)
                    .with_resource_account(&self.resource_account);
                for entry in &self.context {
                    if let Some((name, value)) = entry_value(entry) {
                        request.set(&name, value);
                    }
                }
                let mut set = PolicySet::identity(&identity);
                if let Some(b) = boundary {
                    set = set.with_boundary(b);
                }
                if let Some(r) = &self.resource_policy {
                    set = set.with_resource(&r.policy);
                }
                let decision = skyport_policy::evaluate(&request, &set);
                let eval_decision = match decision.outcome {
                    Outcome::Allowed => "allowed",
                    Outcome::ExplicitDeny => "explicitDeny",
                    Outcome::ImplicitDeny => "implicitDeny",
                };
                let matched: Vec<shapes::Statement> = decision
                    .statement
                    .as_ref()
                    .and_then(|st| {
                        let source = self.source(st.policy_type, st.policy_id)?;
                        let span = statement_spans(&source.text).get(st.index).copied();
                        Some(shapes::Statement {
                            source_policy_id: Some(source.id.clone()),
                            source_policy_type: source.kind.map(str::to_owned),
                            start_position: span.map(|s| position(s.0)),
                            end_position: span.map(|s| position(s.1)),
                        })
                    })
                    .into_iter()
                    .collect();
                let mut missing: Vec<String> = Vec::new();
                let all = self
                    .identity
                    .iter()
                    .chain(&self.boundary)
                    .chain(self.resource_policy.as_ref());
                for source in all {
                    for key in source.policy.condition_keys() {
                        if request.get(key).is_none()
                            && !missing.iter().any(|m| m.eq_ignore_ascii_case(key))
                        {
                            missing.push(key.to_owned());
                        }
                    }
                }
                let boundary_detail = boundary.map(|_| shapes::PermissionsBoundaryDecisionDetail {
                    allowed_by_permissions_boundary: Some(
                        decision.missing != Some(PolicyType::PermissionsBoundary)
                            && !decision.statement.as_ref().is_some_and(|s| {
                                s.policy_type == PolicyType::PermissionsBoundary
                                    && decision.outcome == Outcome::ExplicitDeny
                            }),
                    ),
                });
                let mut details = BTreeMap::new();
                if self.resource_policy.is_some() {
                    details.insert("IAM Policy".to_owned(), eval_decision.to_owned());
                }
                results.push(shapes::EvaluationResult {
                    eval_action_name: action.clone(),
                    eval_resource_name: Some(resource.clone()),
                    eval_decision: eval_decision.to_owned(),
                    matched_statements: Some(matched),
                    missing_context_values: Some(missing),
                    organizations_decision_detail: None,
                    permissions_boundary_decision_detail: boundary_detail,
                    eval_decision_details: (!details.is_empty()).then_some(details),
                    resource_specific_results: None,
                });
            }
        }
        results
    }

    /// The policy a decision names.
    fn source(&self, kind: PolicyType, id: &str) -> Option<&Source> {
        match kind {
            PolicyType::PermissionsBoundary => self.boundary.iter().find(|s| s.id == id),
            PolicyType::Resource => self.resource_policy.as_ref().filter(|s| s.id == id),
            _ => self.identity.iter().find(|s| s.id == id),
        }
    }
}

/// The `ResourcePolicy` of a simulation, checked as a resource-based policy.
fn resource_source(text: Option<String>) -> Result<Option<Source>, ApiError> {
    text.map(|text| {
        Source::new(
            "ResourcePolicy".into(),
            Some("resource"),
            text,
            PolicyKind::Resource,
        )
    })
    .transpose()
}

/// What both simulations are asked besides their policies: the resource policy, the actions, resources,
/// resource owner and context, and the page.
struct Asked {
    resource_policy: Option<Source>,
    resource_owner: Option<String>,
    actions: Vec<String>,
    resources: Option<Vec<String>>,
    context: Option<Vec<shapes::ContextEntry>>,
    max_items: Option<i32>,
    marker: Option<String>,
}

impl Asked {
    /// Runs the simulation of `caller` under these policies (`owner`: the resource account when no
    /// `ResourceOwner` names one) and answers one page.
    fn simulate(
        self,
        identity: Vec<Source>,
        boundary: Vec<Source>,
        caller: Principal,
        owner: String,
    ) -> Result<shapes::SimulatePolicyResponse, ApiError> {
        let simulation = Simulation {
            identity,
            boundary,
            resource_policy: self.resource_policy,
            resource_account: self
                .resource_owner
                .as_deref()
                .and_then(owner_account)
                .unwrap_or(owner),
            caller,
            actions: self.actions,
            resources: self.resources.unwrap_or_else(|| vec!["*".into()]),
            context: self.context.unwrap_or_default(),
        };
        page(simulation.run(), self.max_items, self.marker.as_deref())
    }
}

/// One page of results (`MaxItems` default 100; the marker is the index of the next result).
fn page(
    results: Vec<shapes::EvaluationResult>,
    max_items: Option<i32>,
    marker: Option<&str>,
) -> Result<shapes::SimulatePolicyResponse, ApiError> {
    let start = match marker {
        Some(m) => m
            .parse::<usize>()
            .ok()
            .filter(|i| *i <= results.len())
            .ok_or_else(|| errors::invalid_input_exception("Invalid Marker."))?,
        None => 0,
    };
    let max = usize::try_from(max_items.unwrap_or(100))
        .unwrap_or(100)
        .max(1);
    let end = (start + max).min(results.len());
    let truncated = end < results.len();
    Ok(shapes::SimulatePolicyResponse {
        evaluation_results: Some(results.into_iter().skip(start).take(end - start).collect()),
        is_truncated: Some(truncated),
        marker: truncated.then(|| end.to_string()),
    })
}

/// The caller a simulation uses when none is given: a user of the account.
fn default_caller(account: &str) -> Principal {
    Principal::from_arn(&format!("arn:aws:iam::{account}:user/SimulatedUser"))
        .unwrap_or_else(Principal::anonymous)
}

fn caller_of(arn: &str) -> Result<Principal, ApiError> {
    Principal::from_arn(arn)
        .ok_or_else(|| errors::invalid_input_exception(format!("Invalid ARN for CallerArn: {arn}")))
}

impl Iam {
    /// `SimulateCustomPolicy`.
    pub(crate) fn simulate_custom_policy(
        &self,
        ctx: &RequestContext,
        input: shapes::SimulateCustomPolicyRequest,
    ) -> Result<shapes::SimulatePolicyResponse, ApiError> {
        let identity = inputs(&input.policy_input_list, "PolicyInputList")?;
        let boundary = inputs(
            input
                .permissions_boundary_policy_input_list
                .as_deref()
                .unwrap_or_default(),
            "PermissionsBoundaryPolicyInputList",
        )?;
        if input.resource_policy.is_some() && input.caller_arn.is_none() {
            return Err(errors::invalid_input_exception(
                "CallerArn is required when a ResourcePolicy is specified.",
            ));
        }
        let resource_policy = resource_source(input.resource_policy)?;
        let caller = match &input.caller_arn {
            Some(arn) => caller_of(arn)?,
            None => default_caller(&ctx.account),
        };
        let owner = caller.account().to_owned();
        Asked {
            resource_policy,
            resource_owner: input.resource_owner,
            actions: input.action_names,
            resources: input.resource_arns,
            context: input.context_entries,
            max_items: input.max_items,
            marker: input.marker,
        }
        .simulate(identity, boundary, caller, owner)
    }

    /// `SimulatePrincipalPolicy`: the stored policies of a user (its own and its groups'), group or
    /// role, its permissions boundary, and the policies given.
    pub(crate) fn simulate_principal_policy(
        &self,
        ctx: &RequestContext,
        input: shapes::SimulatePrincipalPolicyRequest,
    ) -> Result<shapes::SimulatePolicyResponse, ApiError> {
        let arn = input.policy_source_arn.clone();
        let not_found =
            || errors::no_such_entity_exception(format!("The principal {arn} does not exist."));
        let resource = arn.split(':').nth(5).ok_or_else(not_found)?;
        let (kind, name) = resource.split_once('/').ok_or_else(not_found)?;
        let name = name.rsplit('/').next().unwrap_or(name);
        let mut identity = Vec::new();
        let mut boundary_arn = None;
        let caller;
        match kind {
            "user" => {
                let user: UserRec = self.entity(&ctx.account, name).map_err(|_| not_found())?;
                self.add_entity_policies(ctx, &mut identity, "user", &user.inline, &user.attached)?;
                for group in &user.groups {
                    if let Ok(g) = self.entity::<GroupRec>(&ctx.account, group) {
                        self.add_entity_policies(
                            ctx,
                            &mut identity,
                            "group",
                            &g.inline,
                            &g.attached,
                        )?;
                    }
                }
                boundary_arn = user.boundary.clone();
                caller = caller_of(&user.arn)?;
            }
            "group" => {
                let group: GroupRec = self.entity(&ctx.account, name).map_err(|_| not_found())?;
                self.add_entity_policies(
                    ctx,
                    &mut identity,
                    "group",
                    &group.inline,
                    &group.attached,
                )?;
                caller = default_caller(&ctx.account);
            }
            "role" => {
                let role: RoleRec = self.entity(&ctx.account, name).map_err(|_| not_found())?;
                self.add_entity_policies(ctx, &mut identity, "role", &role.inline, &role.attached)?;
                boundary_arn = role.boundary.clone();
                caller = caller_of(&role.arn)?;
            }
            _ => return Err(not_found()),
        }
        identity.extend(inputs(
            input.policy_input_list.as_deref().unwrap_or_default(),
            "PolicyInputList",
        )?);
        let boundary = match &input.permissions_boundary_policy_input_list {
            Some(list) => inputs(list, "PermissionsBoundaryPolicyInputList")?,
            None => match boundary_arn {
                Some(arn) => self.managed_source(ctx, &arn)?.into_iter().collect(),
                None => Vec::new(),
            },
        };
        let resource_policy = resource_source(input.resource_policy)?;
        let caller = match &input.caller_arn {
            Some(arn) => caller_of(arn)?,
            None => caller,
        };
        Asked {
            resource_policy,
            resource_owner: input.resource_owner,
            actions: input.action_names,
            resources: input.resource_arns,
            context: input.context_entries,
            max_items: input.max_items,
            marker: input.marker,
        }
        .simulate(identity, boundary, caller, ctx.account.clone())
    }

    /// Adds an entity's inline policies (named as they are) and its attached managed policies.
    fn add_entity_policies(
        &self,
        ctx: &RequestContext,
        out: &mut Vec<Source>,
        kind: &'static str,
        inline: &BTreeMap<String, String>,
        attached: &[String],
    ) -> Result<(), ApiError> {
        for (name, text) in inline {
            out.push(Source::new(
                name.clone(),
                Some(kind),
                text.clone(),
                PolicyKind::Identity,
            )?);
        }
        for arn in attached {
            out.extend(self.managed_source(ctx, arn)?);
        }
        Ok(())
    }

    /// A managed policy's default version as a simulation source (`None` for an AWS managed policy
    /// outside Skyport's catalog, whose document it does not know).
    fn managed_source(&self, ctx: &RequestContext, arn: &str) -> Result<Option<Source>, ApiError> {
        let Some((name, kind, text)) = self.managed_text(ctx, arn) else {
            return Ok(None);
        };
        Source::new(name, Some(kind), text, PolicyKind::Identity).map(Some)
    }

    /// A managed policy's name, kind (`aws-managed`, `user-managed`) and default version's document;
    /// `None` when the policy is unknown (or an AWS managed policy outside Skyport's catalog).
    pub(crate) fn managed_text(
        &self,
        ctx: &RequestContext,
        arn: &str,
    ) -> Option<(String, &'static str, String)> {
        let parsed = PolicyArn::parse(arn)?;
        if parsed.is_aws() {
            let known = managed::known(&parsed.name)?;
            return Some((
                parsed.name.clone(),
                "aws-managed",
                known.document.to_owned(),
            ));
        }
        let Ok(crate::policies::Managed::Local(p)) = self.managed(ctx, arn) else {
            return None;
        };
        let version = p.versions.iter().find(|v| v.id == p.default_version)?;
        Some((p.name.clone(), "user-managed", version.document.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_positions() {
        let one_line = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"Deny","Action":"s3:Delete*","Resource":"*"}]}"#;
        let spans = statement_spans(one_line);
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].0, (1, 38));
        assert_eq!(&one_line[37..38], "{");
        assert_eq!(&one_line[spans[0].1.1 - 1..spans[0].1.1], "}");
        let pretty = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": {\n    \"Effect\": \"Allow\",\n    \"Action\": \"s3:*\",\n    \"Resource\": \"*\"\n  }\n}";
        assert_eq!(statement_spans(pretty), vec![((3, 16), (7, 3))]);
    }

    #[test]
    fn owners() {
        assert_eq!(
            owner_account("arn:aws:iam::123456789012:root").as_deref(),
            Some("123456789012")
        );
        assert_eq!(
            owner_account("123456789012").as_deref(),
            Some("123456789012")
        );
        assert_eq!(owner_account("nope"), None);
    }
}
