"""The s3 source against an S3 server with signature checking on (moto or
s3rver, see servers.s3_server):
signed reads accepted, a wrong secret rejected with S3's reason, credentials
from the environment or a profile, requester pays, anonymous requests, and
no credential ever in what the library prints."""

from conftest import BLOB_SIZE, clean_env, crc_of


def s3env(s3, **kw):
    return clean_env(AWS_ACCESS_KEY_ID=s3.key_id, AWS_SECRET_ACCESS_KEY=s3.secret, **kw)


def no_secret(p, s3, *texts):
    for t in (p.first, p.close()) + texts:
        assert s3.secret not in t, "the secret leaked"
        assert s3.key_id not in t, "the key id leaked"


def test_signed_reads(s3, data, probe):
    p = probe(f"s3://{s3.bucket}/data/", "blob.bin", (f"endpoint={s3.endpoint}",),
              env=s3env(s3))
    assert p.ok, p.first
    assert p.first.startswith(f"open size={BLOB_SIZE} ")
    blob = data / "blob.bin"
    assert p.read(0, 100) == crc_of(blob, 0, 100)
    assert p.cmd(f"verify {blob} 100 300000 8 11") == "ok 100"
    s = p.stats()
    assert s["requests"] == 102 and s["retries"] == 0, s
    no_secret(p, s3)


def test_wrong_secret_rejected(s3, probe):
    env = s3env(s3)
    env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret-0123456789"
    p = probe(f"s3://{s3.bucket}/data/", "blob.bin", (f"endpoint={s3.endpoint}",), env=env)
    assert p.first.startswith("error 13 "), p.first
    assert "SignatureDoesNotMatch" in p.first and f"s3://{s3.bucket}/data/blob.bin" in p.first
    assert "not-the-secret" not in p.first
    no_secret(p, s3)


def test_profile_credentials(s3, data, probe, work):
    creds = work / "credentials"
    creds.write_text(f"[default]\naws_access_key_id = AKWRONG\naws_secret_access_key = x\n\n"
                     f"[inat]\naws_access_key_id = {s3.key_id}\n"
                     f"aws_secret_access_key = {s3.secret}\n")
    env = clean_env(AWS_SHARED_CREDENTIALS_FILE=str(creds), AWS_PROFILE="inat")
    p = probe(f"s3://{s3.bucket}/data/", "blob.bin", (f"endpoint={s3.endpoint}",), env=env)
    assert p.ok, p.first
    assert p.read(4_000_000, 1000) == crc_of(data / "blob.bin", 4_000_000, 1000)
    no_secret(p, s3)
    # ~/.aws/credentials, profile default
    home = work / "home"
    (home / ".aws").mkdir(parents=True, exist_ok=True)
    (home / ".aws" / "credentials").write_text(
        f"[default]\naws_access_key_id={s3.key_id}\naws_secret_access_key={s3.secret}\n")
    p = probe(f"s3://{s3.bucket}/data/", "blob.bin", (f"endpoint={s3.endpoint}",),
              env=clean_env(HOME=str(home)))
    assert p.ok, p.first
    no_secret(p, s3)


def test_no_credentials(s3, s3_proxy, data, probe, work):
    p = probe(f"s3://{s3.bucket}/data/", "blob.bin", (f"endpoint={s3.endpoint}",),
              env=clean_env(HOME=str(work / "nohome")))
    assert p.first.startswith("error 13 ") and "no AWS credentials" in p.first, p.first
    # anonymous: the request goes out unsigned
    p = probe(f"s3://{s3.bucket}/data/", "blob.bin",
              (f"endpoint={s3_proxy.url}", "no_sign_request"), env=clean_env())
    log = s3_proxy.stats()["log"]
    assert log and all("authorization" not in e["headers"] for e in log), log
    if s3.refuses_anonymous:
        # moto: this bucket refuses it
        assert p.first.startswith("error 13 ") and "403" in p.first, p.first
    else:
        # s3rver has no access control: it serves it (the summary says so)
        assert p.ok, p.first
        assert p.read(1000, 5000) == crc_of(data / "blob.bin", 1000, 5000)


def test_missing_key(s3, probe):
    p = probe(f"s3://{s3.bucket}/data/", "absent.bin", (f"endpoint={s3.endpoint}",),
              env=s3env(s3))
    assert p.first.startswith("error 2 ") and "NoSuchKey" in p.first, p.first
    assert f"s3://{s3.bucket}/data/absent.bin" in p.first


def test_requester_pays_header(s3, s3_proxy, data, probe):
    """Every request carries x-amz-request-payer: requester, signed with the
    rest (the server checks the signature over it)."""
    p = probe(f"s3://{s3.bucket}/pays/", "blob.bin",
              (f"endpoint={s3_proxy.url}", "requester_pays"), env=s3env(s3))
    assert p.ok, p.first
    assert p.read(123, 45_678) == crc_of(data / "blob.bin", 123, 45_678)
    log = s3_proxy.stats()["log"]
    assert len(log) == 2 and all(e["status"] in (206,) for e in log), log
    assert log[0]["headers"]["range"] == "bytes=0-0" and "if-match" not in log[0]["headers"]
    assert log[1]["headers"]["range"] == "bytes=123-45800" and log[1]["headers"]["if-match"]
    for e in log:
        h = e["headers"]
        assert h.get("x-amz-request-payer") == "requester", h
        assert "x-amz-request-payer" in h["authorization"].split("SignedHeaders=")[1]
        assert h["x-amz-content-sha256"] == ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b"
                                             "934ca495991b7852b855")
    # without the option the header is not sent
    s3_proxy.reset()
    p2 = probe(f"s3://{s3.bucket}/pays/", "blob.bin", (f"endpoint={s3_proxy.url}",),
               env=s3env(s3))
    assert p2.ok
    assert all("x-amz-request-payer" not in e["headers"] for e in s3_proxy.stats()["log"])
    no_secret(p, s3)


def test_s3_faults_retried(s3, s3_proxy, data, probe):
    p = probe(f"s3://{s3.bucket}/data/", "blob.bin",
              (f"endpoint={s3_proxy.url}", "timeout=20"), env=s3env(s3))
    assert p.ok, p.first
    s3_proxy.config(faults=["503", "reset", "503"])
    assert p.read(2_000_000, 500_000) == crc_of(data / "blob.bin", 2_000_000, 500_000)
    assert p.stats()["retries"] == 3
