//! S3's subresources (`?acl`, `?torrent`, `?replication`, ...) as AWS's model defines them, checked
//! before the handlers route a request.
//!
//! S3 tells most operations apart by a query key without a value. A key the handlers do not know must
//! never fall through to the default operation of its method (`PUT /b/k?torrent` overwriting the object,
//! `GET /b?replication` answering a listing). So every query key that is a subresource in the S3 model
//! (`models/s3.json`, read through `skyport-wire`) is checked here: a subresource the handlers implement
//! for the method goes on; one the model has for the method but Skyport lacks is `501 NotImplemented`
//! naming the operation; one the model has only for other methods is `405 MethodNotAllowed`, as S3
//! answers. Query keys that are no subresource (`x-id`, `prefix`, `versionId`, ...) are parameters and
//! are left to the handlers.

use std::collections::HashMap;
use std::sync::OnceLock;

use http::Method;
use skyport_wire::Model;
use skyport_wire::model::Segment;

use crate::error::S3Error;
use crate::wire::S3Request;

skyport_wire::static_model!(MODEL, skyport_wire::embedded::S3);

/// The subresources the handlers implement: (object-level, method, key).
const IMPLEMENTED: &[(bool, &str, &str)] = &[
    (false, "GET", "acl"),
    (false, "PUT", "acl"),
    (false, "GET", "tagging"),
    (false, "PUT", "tagging"),
    (false, "DELETE", "tagging"),
    (false, "GET", "policy"),
    (false, "PUT", "policy"),
    (false, "DELETE", "policy"),
    (false, "GET", "cors"),
    (false, "PUT", "cors"),
    (false, "DELETE", "cors"),
    (false, "GET", "lifecycle"),
    (false, "PUT", "lifecycle"),
    (false, "DELETE", "lifecycle"),
    (false, "GET", "encryption"),
    (false, "PUT", "encryption"),
    (false, "DELETE", "encryption"),
    (false, "GET", "ownershipControls"),
    (false, "PUT", "ownershipControls"),
    (false, "DELETE", "ownershipControls"),
    (false, "GET", "publicAccessBlock"),
    (false, "PUT", "publicAccessBlock"),
    (false, "DELETE", "publicAccessBlock"),
    (false, "GET", "notification"),
    (false, "PUT", "notification"),
    (false, "GET", "website"),
    (false, "PUT", "website"),
    (false, "DELETE", "website"),
    (false, "GET", "logging"),
    (false, "PUT", "logging"),
    (false, "GET", "accelerate"),
    (false, "PUT", "accelerate"),
    (false, "GET", "requestPayment"),
    (false, "PUT", "requestPayment"),
    (false, "GET", "object-lock"),
    (false, "PUT", "object-lock"),
    (false, "GET", "versioning"),
    (false, "PUT", "versioning"),
    (false, "GET", "location"),
    (false, "GET", "versions"),
    (false, "GET", "uploads"),
    (false, "GET", "list-type"),
    (false, "POST", "delete"),
    (true, "GET", "acl"),
    (true, "PUT", "acl"),
    (true, "GET", "tagging"),
    (true, "PUT", "tagging"),
    (true, "DELETE", "tagging"),
    (true, "GET", "retention"),
    (true, "PUT", "retention"),
    (true, "GET", "legal-hold"),
    (true, "PUT", "legal-hold"),
    (true, "POST", "uploads"),
    (true, "GET", "attributes"),
    (true, "POST", "restore"),
    (true, "POST", "select"),
];

/// The model's subresources: (object-level, key) → the operations per method.
type Table = HashMap<(bool, String), Vec<(Method, String)>>;

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| build(MODEL()))
}

fn build(model: &Model) -> Table {
    let mut table: Table = HashMap::new();
    for op in &model.operations {
        let object = op
            .http
            .segments
            .iter()
            .any(|s| matches!(s, Segment::Greedy(_)));
        let Some((key, _)) = op.http.query_literals.first() else {
            continue;
        };
        table
            .entry((object, key.clone()))
            .or_default()
            .push((op.http.method.clone(), op.name.clone()));
    }
    table
}

/// Refuses a request naming a subresource the handlers do not implement for its method.
pub fn check(req: &S3Request) -> Result<(), S3Error> {
    if req.query.is_empty() || req.bucket.is_none() {
        return Ok(());
    }
    let object = req.key.is_some();
    // HEAD is GET without a body, for subresources too.
    let method = if req.method == Method::HEAD {
        Method::GET
    } else {
        req.method.clone()
    };
    for (key, _) in &req.query {
        let key = key.as_str();
        let Some(ops) = table().get(&(object, key.to_owned())) else {
            continue;
        };
        if IMPLEMENTED
            .iter()
            .any(|&(o, m, k)| o == object && m == method.as_str() && k == key)
        {
            continue;
        }
        return Err(match ops.iter().find(|(m, _)| *m == method) {
            Some((_, operation)) => S3Error::NotImplemented {
                message: format!(
                    "{operation} is not implemented by Skyport yet (A header you provided implies functionality that is not implemented)"
                ),
            },
            None => S3Error::MethodNotAllowed {
                method: req.method.to_string(),
                resource: if object { "OBJECT" } else { "BUCKET" },
            },
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_implemented_subresource_is_in_the_model() {
        for &(object, method, key) in IMPLEMENTED {
            let ops = table()
                .get(&(object, key.to_owned()))
                .unwrap_or_else(|| panic!("{key} is no subresource in the model"));
            assert!(
                ops.iter().any(|(m, _)| m.as_str() == method),
                "the model has no {method} ?{key} (object: {object})"
            );
        }
    }

    #[test]
    fn model_subresources_include_the_ones_clients_probe() {
        for (object, key) in [
            (true, "torrent"),
            (true, "attributes"),
            (false, "policyStatus"),
            (false, "replication"),
            (false, "metrics"),
            (false, "analytics"),
            (false, "inventory"),
            (false, "intelligent-tiering"),
        ] {
            assert!(table().contains_key(&(object, key.to_owned())), "{key}");
        }
    }
}
