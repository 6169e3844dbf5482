//! ECR through boto3 against the real binary: repositories, the layer upload API, PutImage,
//! DescribeImages with its paginator, BatchDeleteImage, a lifecycle policy, authorization tokens, and
//! AWS's errors as boto3 models them (`RepositoryNotFoundException`, `ImageTagAlreadyExistsException`,
//! ...).

mod common;

use std::process::Command;

use common::{Options, Skyport, require, run};

const BOTO3: &str = r#"
import base64, hashlib, json, sys
import boto3

endpoint = sys.argv[1]
ecr = boto3.client("ecr", endpoint_url=endpoint, region_name="eu-west-1",
                   aws_access_key_id="test", aws_secret_access_key="test")

def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()

repo = ecr.create_repository(repositoryName="py/app", imageTagMutability="IMMUTABLE")["repository"]
assert repo["repositoryUri"] == "000000000000.dkr.ecr.eu-west-1.localhost.localstack.cloud:4566/py/app", repo
assert repo["imageTagMutability"] == "IMMUTABLE"
try:
    ecr.create_repository(repositoryName="py/app")
    raise SystemExit("duplicate accepted")
except ecr.exceptions.RepositoryAlreadyExistsException:
    pass
try:
    ecr.describe_images(repositoryName="py/none")
    raise SystemExit("missing repository accepted")
except ecr.exceptions.RepositoryNotFoundException as e:
    assert "py/none" in str(e), e

def upload(data):
    up = ecr.initiate_layer_upload(repositoryName="py/app")
    ecr.upload_layer_part(repositoryName="py/app", uploadId=up["uploadId"], partFirstByte=0,
                          partLastByte=len(data) - 1, layerPartBlob=data)
    try:
        ecr.complete_layer_upload(repositoryName="py/app", uploadId=up["uploadId"], layerDigests=[sha(b"wrong")])
        raise SystemExit("wrong digest accepted")
    except ecr.exceptions.InvalidLayerException:
        pass
    up = ecr.initiate_layer_upload(repositoryName="py/app")
    ecr.upload_layer_part(repositoryName="py/app", uploadId=up["uploadId"], partFirstByte=0,
                          partLastByte=len(data) - 1, layerPartBlob=data)
    ecr.complete_layer_upload(repositoryName="py/app", uploadId=up["uploadId"], layerDigests=[sha(data)])

layer = b"layer" * 1000
upload(layer)
digests = []
for i in range(4):
    config = json.dumps({"architecture": "amd64", "os": "linux", "i": i}).encode()
    upload(config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(layer), "size": len(layer)}],
    })
    out = ecr.put_image(repositoryName="py/app", imageManifest=manifest, imageTag="t%d" % i,
                        imageManifestMediaType="application/vnd.oci.image.manifest.v1+json")
    digests.append(out["image"]["imageId"]["imageDigest"])
try:
    ecr.put_image(repositoryName="py/app", imageManifest=manifest, imageTag="t0")
    raise SystemExit("immutable tag moved")
except ecr.exceptions.ImageTagAlreadyExistsException:
    pass

pages = ecr.get_paginator("describe_images").paginate(repositoryName="py/app", PaginationConfig={"PageSize": 3})
details = [d for p in pages for d in p["imageDetails"]]
assert len(details) == 4, details
assert all(d["imageSizeInBytes"] == len(layer) for d in details), details
assert all(d["imageManifestMediaType"] == "application/vnd.oci.image.manifest.v1+json" for d in details)

got = ecr.batch_get_image(repositoryName="py/app", imageIds=[{"imageTag": "t1"}, {"imageTag": "zz"}])
assert got["images"][0]["imageId"]["imageDigest"] == digests[1]
assert got["failures"][0]["failureCode"] == "ImageNotFound", got

out = ecr.batch_delete_image(repositoryName="py/app", imageIds=[{"imageTag": "t3"}])
assert out["imageIds"] == [{"imageDigest": digests[3], "imageTag": "t3"}], out

policy = {"rules": [{"rulePriority": 1, "description": "keep two",
                     "selection": {"tagStatus": "tagged", "tagPrefixList": ["t"], "countType": "imageCountMoreThan", "countNumber": 2},
                     "action": {"type": "expire"}}]}
ecr.put_lifecycle_policy(repositoryName="py/app", lifecyclePolicyText=json.dumps(policy))
left = ecr.list_images(repositoryName="py/app")["imageIds"]
assert sorted(i["imageTag"] for i in left) == ["t1", "t2"], left

token = ecr.get_authorization_token()["authorizationData"][0]
assert base64.b64decode(token["authorizationToken"]).startswith(b"AWS:")

try:
    ecr.delete_repository(repositoryName="py/app")
    raise SystemExit("non-empty repository deleted")
except ecr.exceptions.RepositoryNotEmptyException:
    pass
ecr.delete_repository(repositoryName="py/app", force=True)
print("boto3 ok")
"#;

#[test]
fn boto3_repositories_images_and_errors() {
    if !require("python3") {
        return;
    }
    // Repository URIs name LOCALSTACK_HOST (its port follows the gateway's, which is 0 in tests).
    let skyport = Skyport::start_with(
        Options::default().env("LOCALSTACK_HOST", "localhost.localstack.cloud:4566"),
    );
    let (status, out, err) = run(Command::new("python3")
        .arg("-c")
        .arg(BOTO3)
        .arg(skyport.endpoint())
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"));
    assert!(status.success(), "{out}\n{err}\n{}", skyport.log());
    assert!(out.contains("boto3 ok"), "{out}");
}
