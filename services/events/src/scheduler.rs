//! The task that fires scheduled rules: each enabled rule with a `ScheduleExpression` delivers AWS's
//! "Scheduled Event" (`source` `aws.events`, `detail-type` `Scheduled Event`, `detail` `{}`,
//! `resources` the rule's ARN) to its targets when its schedule comes due.
//!
//! Time runs on a schedule clock: real time, except that a schedule minute may be shortened for tests
//! (`SKYPORT_EVENTS_SCHEDULE_MINUTE_MS`, see docs/configuration.md), so that a `rate(1 minute)` rule
//! fires every `minute` of real time. A rate counts from when the scheduler first sees the rule (its
//! creation, or Skyport's start for rules kept from before); a cron fires on the clock's minutes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::api::Events;
use crate::route::{self, Envelope};
use crate::schedule::Schedule;
use crate::state::{RuleRef, now_millis};

/// The real length of a schedule minute (60 s unless shortened for tests).
#[derive(Debug, Clone, Copy)]
pub struct ScheduleClock {
    minute: Duration,
    real_start_ms: i64,
    started: Instant,
}

impl ScheduleClock {
    /// A clock whose minutes last `minute` of real time, starting now.
    pub fn new(minute: Duration) -> ScheduleClock {
        ScheduleClock {
            minute: minute.max(Duration::from_millis(1)),
            real_start_ms: now_millis(),
            started: Instant::now(),
        }
    }

    /// Minutes since the epoch on the schedule clock.
    fn minute_now(&self) -> i64 {
        let elapsed = self.started.elapsed().as_millis();
        let scaled = elapsed * 60_000 / self.minute.as_millis().max(1);
        (self.real_start_ms + i64::try_from(scaled).unwrap_or(i64::MAX / 2)) / 60_000
    }

    /// How often the scheduler looks: a tenth of a minute, between 10 ms and 1 s.
    fn tick(&self) -> Duration {
        (self.minute / 10).clamp(Duration::from_millis(10), Duration::from_secs(1))
    }
}

struct Due {
    expression: String,
    schedule: Schedule,
    anchor: i64,
    next: Option<i64>,
}

impl Events {
    /// Starts the scheduler on the current Tokio runtime; it runs as long as the runtime does.
    pub fn start_scheduler(&self, clock: ScheduleClock) {
        let events = self.clone();
        tokio::spawn(async move {
            let mut due: HashMap<RuleRef, Due> = HashMap::new();
            let mut interval = tokio::time::interval(clock.tick());
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                interval.tick().await;
                events.fire_due(&clock, &mut due).await;
            }
        });
    }

    async fn fire_due(&self, clock: &ScheduleClock, due: &mut HashMap<RuleRef, Due>) {
        let rules = match self.inner.state.scheduled_rules() {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("EventBridge's scheduler cannot read the rules: {e}");
                return;
            }
        };
        let now = clock.minute_now();
        let mut seen = std::collections::HashSet::new();
        for (at, rule) in rules {
            seen.insert(at.clone());
            let Some(expression) = rule.schedule.clone() else {
                continue;
            };
            let fresh = due.get(&at).is_none_or(|d| d.expression != expression);
            if fresh {
                let Ok(schedule) = Schedule::parse(&expression) else {
                    continue;
                };
                let next = schedule.next_after(now, now);
                due.insert(
                    at.clone(),
                    Due {
                        expression,
                        schedule,
                        anchor: now,
                        next,
                    },
                );
                continue;
            }
            let Some(entry) = due.get_mut(&at) else {
                continue;
            };
            let Some(next) = entry.next else { continue };
            if now < next {
                continue;
            }
            entry.next = entry.schedule.next_after(entry.anchor, now);
            if !rule.enabled() || rule.targets.is_empty() {
                continue;
            }
            let arn = route::rule_arn(&at.region, &at.account, &at.bus, &at.rule);
            let time = skyport_core::timefmt::iso8601_seconds(std::time::SystemTime::now());
            let envelope = Envelope {
                id: skyport_core::ids::uuid(),
                detail_type: "Scheduled Event".to_owned(),
                source: "aws.events".to_owned(),
                account: at.account.clone(),
                time: time.clone(),
                region: at.region.clone(),
                resources: vec![arn],
                detail: json!({}),
                ingestion_time: time,
            };
            tracing::debug!(rule = %at.rule, "EventBridge schedule fired");
            self.deliver_to_rule(&at, &rule, envelope).await;
        }
        due.retain(|k, _| seen.contains(k));
    }
}
