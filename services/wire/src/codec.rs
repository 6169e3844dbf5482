//! Which of the protocol codecs a request uses.

use skyport_core::Protocol;

use crate::model::{Model, WireProtocol};

/// The codec of one request: the protocol the client spoke, among those the service's model allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// `query`.
    Query,
    /// awsJson; `true` for 1.1.
    Json {
        /// awsJson 1.1 (else 1.0).
        v11: bool,
    },
    /// `rest-json`.
    RestJson,
    /// `rest-xml`.
    RestXml,
}

impl Codec {
    /// The model's own protocol.
    pub fn of_model(model: &Model) -> Codec {
        match model.metadata.protocol {
            WireProtocol::Query | WireProtocol::Ec2 => Codec::Query,
            WireProtocol::Json => Codec::Json {
                v11: model.metadata.json_version == "1.1",
            },
            WireProtocol::RestJson => Codec::RestJson,
            WireProtocol::RestXml => Codec::RestXml,
        }
    }

    /// The codec for a request the router classified as `protocol`: the client's choice where the model
    /// supports it (awsJson services also answer the query protocol when query-compatible), else the
    /// model's own.
    pub fn for_request(model: &Model, protocol: Protocol) -> Codec {
        let own = Codec::of_model(model);
        match (protocol, own) {
            (Protocol::Query, Codec::Json { .. }) if model.metadata.query_compatible => {
                Codec::Query
            }
            _ => own,
        }
    }

    /// True for awsJson and REST-JSON.
    pub fn is_json(self) -> bool {
        matches!(self, Codec::Json { .. } | Codec::RestJson)
    }

    /// The protocol as `skyport-core` names it (for error rendering).
    pub fn protocol(self) -> Protocol {
        match self {
            Codec::Query => Protocol::Query,
            Codec::Json { v11: false } => Protocol::Json10,
            Codec::Json { v11: true } => Protocol::Json11,
            Codec::RestJson => Protocol::RestJson,
            Codec::RestXml => Protocol::RestXml,
        }
    }
}
