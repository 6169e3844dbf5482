//! Operation names shared by the router and the services: the router recognises a query-protocol service
//! by its `Action` in unsigned requests, and the service rejects names it does not know. One list each, so
//! the two can never disagree.

/// Every SQS operation, as named in `X-Amz-Target` (`AmazonSQS.<name>`) and the query `Action`.
pub const SQS: &[&str] = &[
    "AddPermission",
    "CancelMessageMoveTask",
    "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch",
    "CreateQueue",
    "DeleteMessage",
    "DeleteMessageBatch",
    "DeleteQueue",
    "GetQueueAttributes",
    "GetQueueUrl",
    "ListDeadLetterSourceQueues",
    "ListMessageMoveTasks",
    "ListQueueTags",
    "ListQueues",
    "PurgeQueue",
    "ReceiveMessage",
    "RemovePermission",
    "SendMessage",
    "SendMessageBatch",
    "SetQueueAttributes",
    "StartMessageMoveTask",
    "TagQueue",
    "UntagQueue",
];
