//! Lifecycle policies: parsing (with ECR's validation messages) and evaluation. Rules run in
//! `rulePriority` order; a rule selects images by tag status (`tagged` with `tagPrefixList` or
//! `tagPatternList`, `untagged`, `any`) and expires those beyond `imageCountMoreThan` (newest kept) or
//! older than `sinceImagePushed` days. An image whose tags a higher-priority rule selects is never
//! expired by a lower one; `any` must be the rule of lowest priority.

use serde_json::Value;

use crate::state::{ImageRec, wildcard_match};

/// One rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    priority: i64,
    status: TagStatus,
    prefixes: Vec<String>,
    patterns: Vec<String>,
    count: Count,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum TagStatus {
    Tagged,
    Untagged,
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Count {
    MoreThan(u64),
    DaysSincePush(u64),
}

/// A parsed policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    rules: Vec<Rule>,
}

fn strings(rule: &Value, field: &str) -> Result<Vec<String>, String> {
    match rule.get(field) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("'{field}' must be a list of strings"))
            })
            .collect(),
        Some(_) => Err(format!("'{field}' must be a list of strings")),
    }
}

fn parse_rule(rule: &Value) -> Result<Rule, String> {
    let priority = rule
        .get("rulePriority")
        .and_then(Value::as_i64)
        .filter(|p| *p >= 1)
        .ok_or("'rulePriority' must be an integer of at least 1")?;
    let selection = rule.get("selection").ok_or("'selection' is required")?;
    let action = rule
        .get("action")
        .and_then(|a| a.get("type"))
        .and_then(Value::as_str);
    if action != Some("expire") {
        return Err("'action.type' must be 'expire'".to_owned());
    }
    let status = match selection.get("tagStatus").and_then(Value::as_str) {
        Some("tagged") => TagStatus::Tagged,
        Some("untagged") => TagStatus::Untagged,
        Some("any") => TagStatus::Any,
        _ => return Err("'tagStatus' must be one of tagged, untagged, any".to_owned()),
    };
    let prefixes = strings(selection, "tagPrefixList")?;
    let patterns = strings(selection, "tagPatternList")?;
    if status == TagStatus::Tagged && prefixes.is_empty() && patterns.is_empty() {
        return Err(
            "'tagPrefixList' or 'tagPatternList' is required when 'tagStatus' is 'tagged'"
                .to_owned(),
        );
    }
    if !prefixes.is_empty() && !patterns.is_empty() {
        return Err("'tagPrefixList' and 'tagPatternList' cannot both be given".to_owned());
    }
    let number = selection
        .get("countNumber")
        .and_then(Value::as_u64)
        .filter(|n| *n >= 1)
        .ok_or("'countNumber' must be an integer of at least 1")?;
    let count = match selection.get("countType").and_then(Value::as_str) {
        Some("imageCountMoreThan") => {
            if selection.get("countUnit").is_some() {
                return Err("'countUnit' is not allowed with 'imageCountMoreThan'".to_owned());
            }
            Count::MoreThan(number)
        }
        Some("sinceImagePushed") => {
            if selection.get("countUnit").and_then(Value::as_str) != Some("days") {
                return Err("'countUnit' must be 'days' with 'sinceImagePushed'".to_owned());
            }
            Count::DaysSincePush(number)
        }
        _ => {
            return Err(
                "'countType' must be one of imageCountMoreThan, sinceImagePushed".to_owned(),
            );
        }
    };
    Ok(Rule {
        priority,
        status,
        prefixes,
        patterns,
        count,
    })
}

/// Parses and validates a policy's text; the error is the reason ECR gives after `Lifecycle policy
/// validation failure: `.
pub fn parse(text: &str) -> Result<Policy, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let rules = value
        .get("rules")
        .and_then(Value::as_array)
        .filter(|r| !r.is_empty())
        .ok_or("'rules' must be a non-empty list")?;
    let mut parsed = rules
        .iter()
        .map(parse_rule)
        .collect::<Result<Vec<_>, _>>()?;
    parsed.sort_by_key(|r| r.priority);
    if parsed.windows(2).any(|w| w[0].priority == w[1].priority) {
        return Err("'rulePriority' must be unique".to_owned());
    }
    if parsed[..parsed.len() - 1]
        .iter()
        .any(|r| r.status == TagStatus::Any)
    {
        return Err("the rule with tagStatus 'any' must have the highest rulePriority".to_owned());
    }
    Ok(Policy { rules: parsed })
}

impl Rule {
    fn selects(&self, image: &ImageRec) -> bool {
        match self.status {
            TagStatus::Any => true,
            TagStatus::Untagged => image.tags.is_empty(),
            TagStatus::Tagged => image.tags.iter().any(|t| {
                self.prefixes.iter().any(|p| t.starts_with(p.as_str()))
                    || self.patterns.iter().any(|p| wildcard_match(p, t))
            }),
        }
    }
}

impl Policy {
    /// The digests of `images` the policy expires at `now_ms`, with `day_ms` milliseconds a day.
    pub fn expired(&self, images: &[ImageRec], now_ms: i64, day_ms: i64) -> Vec<String> {
        let mut claimed = vec![false; images.len()];
        let mut expire = Vec::new();
        for rule in &self.rules {
            let mut selected: Vec<usize> = (0..images.len())
                .filter(|&i| !claimed[i] && rule.selects(&images[i]))
                .collect();
            // Newest first.
            selected.sort_by_key(|&i| std::cmp::Reverse(images[i].pushed_ms));
            for (rank, &i) in selected.iter().enumerate() {
                let old = match rule.count {
                    Count::MoreThan(n) => rank as u64 >= n,
                    Count::DaysSincePush(days) => {
                        now_ms - images[i].pushed_ms
                            > i64::try_from(days)
                                .unwrap_or(i64::MAX)
                                .saturating_mul(day_ms)
                    }
                };
                if old {
                    expire.push(images[i].digest.clone());
                }
                claimed[i] = true;
            }
        }
        expire
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(digest: &str, tags: &[&str], pushed_ms: i64) -> ImageRec {
        ImageRec {
            digest: digest.to_owned(),
            media_type: String::new(),
            artifact_media_type: None,
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            pushed_ms,
            pulled_ms: None,
            size: 0,
            blobs: Vec::new(),
            children: Vec::new(),
            subject: None,
        }
    }

    #[test]
    fn count_and_age_rules() {
        let p = parse(
            r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},
                {"rulePriority":2,"selection":{"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}]}"#,
        )
        .unwrap();
        let images = vec![
            image("a", &["prod-1"], 10),
            image("b", &["prod-2"], 20),
            image("c", &["dev"], 0),
            image("d", &[], 5_000),
        ];
        assert_eq!(p.expired(&images, 1_500, 1_000), vec!["a", "c"]);
    }

    #[test]
    fn validation() {
        assert!(parse("{}").is_err());
        assert!(parse(r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#).is_err());
        assert!(parse(r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},{"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#).is_err());
    }
}
