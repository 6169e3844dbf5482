//! Why a policy document was refused: the messages of IAM's `MalformedPolicyDocument` error, worded
//! as IAM words them (the same wording as `skyport-iam`'s document checks).

/// A malformed policy document. `Display` gives IAM's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Not JSON, or not a JSON object.
    #[error("This policy contains invalid Json")]
    InvalidJson,
    /// An unknown element, a value of the wrong JSON type, an empty list, or both of a pair such
    /// as `Action` and `NotAction`.
    #[error("Syntax errors in policy.")]
    Syntax,
    /// A `Version` other than `2012-10-17` and `2008-10-17`.
    #[error("The policy failed legacy parsing")]
    LegacyParsing,
    /// A statement without `Effect`.
    #[error("Missing required field Effect")]
    MissingEffect,
    /// A statement without `Action` or `NotAction`.
    #[error("Policy statement must contain actions.")]
    MissingActions,
    /// An action or condition key without its `service:` prefix.
    #[error("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")]
    MissingVendor,
    /// A `Principal` in an identity-based policy.
    #[error("Policy document should not specify a principal.")]
    PrincipalNotAllowed,
    /// An identity-based statement without `Resource` or `NotResource`.
    #[error("Policy statement must contain resources.")]
    MissingResources,
    /// A resource that is neither an ARN nor `*`.
    #[error("Resource {0} must be in ARN format or \"*\".")]
    ResourceNotArn(String),
    /// A resource-based statement without `Principal` or `NotPrincipal`.
    #[error("Missing required field Principal")]
    MissingPrincipal,
    /// A principal type other than `AWS`, `Service`, `Federated` and `CanonicalUser`.
    #[error("Invalid principal in policy: \"{0}\"")]
    InvalidPrincipalType(String),
    /// An `AWS` principal that is neither `*`, an account id nor an ARN.
    #[error("Invalid principal in policy: \"{0}\":\"{1}\"")]
    InvalidPrincipal(String, String),
    /// Two statements with the same `Sid`.
    #[error("Statement IDs (SID) in a single policy must be unique.")]
    DuplicateSid,
    /// A condition operator IAM does not know.
    #[error("Invalid Condition type : {0}")]
    InvalidCondition(String),
}

impl PolicyError {
    /// The AWS error code IAM answers with.
    pub fn code(&self) -> &'static str {
        "MalformedPolicyDocument"
    }
}
