//! skyport-sqs (work in progress).
