"""Sets up moto's S3 server for the remote tests (run with a python that has
moto and boto3): an IAM user allowed to read, its access key, a bucket with
the files given under prefix data/ (also under pays/ with requester pays
on), then signature checking turned on for every request after. Prints
{"key_id": ..., "secret": ...}.

    s3setup.py ENDPOINT BUCKET FILE...
"""

import json
import pathlib
import sys
import urllib.request

import boto3


def main():
    endpoint, bucket, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    kw = dict(endpoint_url=endpoint, region_name="us-east-1",
              aws_access_key_id="setup", aws_secret_access_key="setup")
    iam = boto3.client("iam", **kw)
    iam.create_user(UserName="reader")
    iam.put_user_policy(UserName="reader", PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    s3 = boto3.client("s3", **kw)
    s3.create_bucket(Bucket=bucket)
    for f in files:
        p = pathlib.Path(f)
        s3.upload_file(str(p), bucket, "data/" + p.name)
        s3.upload_file(str(p), bucket, "pays/" + p.name)
    # from here on every request must carry a valid signature
    req = urllib.request.Request(endpoint + "/moto-api/reset-auth", data=b"0", method="POST",
                                 headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(req, timeout=30) as r:
        r.read()
    print(json.dumps({"key_id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}))


if __name__ == "__main__":
    main()
