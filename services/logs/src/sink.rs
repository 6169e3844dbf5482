//! The log sink other services write through (Lambda's function output and its `START`, `END` and
//! `REPORT` lines): [`skyport_core::bus::LogSink`] over the same store as the API, so a line appended
//! here is visible to the next `GetLogEvents` or `FilterLogEvents`.

use skyport_core::bus::{BusError, LogLine, LogSink};

use crate::Logs;
use crate::state::{Append, LogsError};

#[async_trait::async_trait]
impl LogSink for Logs {
    async fn append(
        &self,
        account: &str,
        region: &str,
        group: &str,
        stream: &str,
        lines: Vec<LogLine>,
    ) -> Result<(), BusError> {
        let append = Append {
            account: account.to_owned(),
            region: region.to_owned(),
            group: group.to_owned(),
            stream: stream.to_owned(),
            events: lines
                .into_iter()
                .map(|line| (line.timestamp, line.message))
                .collect(),
            create: true,
        };
        match self.state().append(append).await {
            Ok(_) => Ok(()),
            Err(LogsError::Store(e)) => Err(BusError::Internal(e.to_string())),
            Err(e) => Err(BusError::Rejected(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skyport_core::store::Store;

    #[tokio::test]
    async fn append_creates_the_group_and_stream_and_keeps_order() {
        let logs = Logs::new(Store::in_memory().unwrap());
        let line = |t: i64, m: &str| LogLine {
            timestamp: t,
            message: m.to_owned(),
        };
        logs.append(
            "111111111111",
            "eu-west-1",
            "/aws/lambda/f",
            "2026/01/01/[$LATEST]abc",
            vec![line(10, "START"), line(10, "hello"), line(11, "END")],
        )
        .await
        .unwrap();
        logs.append(
            "111111111111",
            "eu-west-1",
            "/aws/lambda/f",
            "2026/01/01/[$LATEST]abc",
            vec![line(12, "REPORT")],
        )
        .await
        .unwrap();
        let state = logs.state();
        let group = state
            .group("111111111111", "eu-west-1", "/aws/lambda/f")
            .unwrap()
            .unwrap();
        let stream = state
            .stream(group.id, "2026/01/01/[$LATEST]abc")
            .unwrap()
            .unwrap();
        assert_eq!(
            (stream.first_event, stream.last_event),
            (Some(10), Some(12))
        );
        let events = state
            .store()
            .read(|r| {
                crate::state::LogStore::events_forward(r, stream.id, 0, u128::MAX, 100, usize::MAX)
            })
            .unwrap();
        let messages: Vec<&str> = events.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages, ["START", "hello", "END", "REPORT"]);
        // Other accounts and regions do not see it.
        assert!(
            state
                .group("000000000000", "eu-west-1", "/aws/lambda/f")
                .unwrap()
                .is_none()
        );
    }
}
