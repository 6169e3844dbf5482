//! [`EventSink`] for other services: S3's EventBridge notifications put their events on the account's
//! default bus through it, routed exactly as `PutEvents` routes.

use serde_json::Value;
use skyport_core::bus::{BusError, BusEvent, EventSink};

use crate::api::{Accepted, Events};
use crate::state::{DEFAULT_BUS, StateError};

#[async_trait::async_trait]
impl EventSink for Events {
    async fn put_event(&self, event: BusEvent) -> Result<String, BusError> {
        let bus = match event.bus.as_str() {
            "" => DEFAULT_BUS.to_owned(),
            b => crate::route::parse_bus_arn(b).map_or_else(|| b.to_owned(), |(_, _, n)| n),
        };
        let detail: Value = match serde_json::from_str(&event.detail) {
            Ok(v @ Value::Object(_)) => v,
            _ => return Err(BusError::Rejected("Detail is malformed.".to_owned())),
        };
        match self
            .inner
            .state
            .bus(&event.account, &event.region, &bus)
            .await
        {
            Ok(_) => {}
            Err(StateError::BusNotFound(_)) => {
                return Err(BusError::NoSuchTarget(format!("Event bus {bus}")));
            }
            Err(e) => return Err(BusError::Internal(e.to_string())),
        }
        Ok(self.accept(Accepted {
            account: event.account,
            region: event.region,
            bus,
            source: event.source,
            detail_type: event.detail_type,
            detail,
            resources: event.resources,
            time_ms: event.time_ms,
        }))
    }
}
