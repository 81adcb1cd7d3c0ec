//! `weir serve` refuses what it should, with the status code its name means and a message naming the
//! problem, and goes on serving: no or a wrong token, a non-Wasm file, a core module, an upload over the
//! limit, a spec naming a missing operator, a spec with a bad field, an unknown job, a malformed
//! protobuf message (sent by Python's grpcio, which also lists the services through reflection).

use std::process::Command;

use weir_tests::served::{Served, TOKEN, text};

/// Runs `weir <args>` and returns (exit code, stderr).
fn refused(server: &Served, args: &[&str]) -> (i32, String) {
    let out = server.weir(args);
    (out.status.code().unwrap_or(-1), text(&out.stderr))
}

#[test]
fn bad_requests_are_refused_with_their_code_and_the_server_serves_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(&dir.path().join("data"), &["--max-operator-size", "256KiB"]);

    // Auth: health needs no token; everything else does.
    assert_eq!(server.weir_with_token(None, &["server", "health"]).status.code(), Some(0));
    let none = server.weir_with_token(None, &["job", "list"]);
    assert_eq!(none.status.code(), Some(4), "{}", text(&none.stderr));
    assert!(text(&none.stderr).contains("no token"), "{}", text(&none.stderr));
    let wrong = server.weir_with_token(Some("not-the-token"), &["job", "list"]);
    assert_eq!(wrong.status.code(), Some(4));
    assert!(text(&wrong.stderr).contains("wrong token (Unauthenticated)"), "{}", text(&wrong.stderr));

    // Uploads.
    let not_wasm = dir.path().join("not.wasm");
    std::fs::write(&not_wasm, "#!/bin/sh\necho hi\n").unwrap();
    let (code, err) = refused(&server, &["op", "push", not_wasm.to_str().unwrap(), "--as", "x@1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a WebAssembly file") && err.contains("InvalidArgument"), "{err}");
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let (code, err) = refused(&server, &["op", "push", core.to_str().unwrap(), "--as", "x@1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("core Wasm module, not a component"), "{err}");
    let big = dir.path().join("big.wasm");
    let mut bytes = b"\0asm\x0d\0\x01\0".to_vec();
    bytes.resize(300 << 10, 0);
    std::fs::write(&big, bytes).unwrap();
    let (code, err) = refused(&server, &["op", "push", big.to_str().unwrap(), "--as", "big@1"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("larger than this server's limit of 262144 bytes") && err.contains("ResourceExhausted"),
        "{err}"
    );
    let (code, err) =
        refused(&server, &["op", "push", weir_tests::plugin("tokenize").to_str().unwrap(), "--as", "bad name@1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("operator name `bad name`"), "{err}");

    // Specs.
    let missing = dir.path().join("missing.toml");
    std::fs::write(
        &missing,
        "[job]\nname = \"m\"\nbatch_interval = \"1s\"\n\n[sources.g]\nkind = \"generator\"\nrate = 5\n\n\
         [streams.w]\nop = \"wasm\"\nfrom = \"g\"\nplugin = \"nope@1\"\n\n[sinks.out]\nkind = \"noop\"\nfrom = \"w\"\n",
    )
    .unwrap();
    let (code, err) = refused(&server, &["job", "submit", missing.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("line 12: `streams.w.plugin`: no operator `nope@1` in the registry"), "{err}");
    let bad_field = dir.path().join("bad.toml");
    std::fs::write(&bad_field, "[job]\nname = \"b\"\nbatch_interval = \"1s\"\nworkers = 0\n\n[sources.g]\nkind = \"generator\"\nrate = 5\n\n[sinks.out]\nkind = \"noop\"\nfrom = \"g\"\n").unwrap();
    let (code, err) = refused(&server, &["job", "submit", bad_field.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`job.workers`") && err.contains("InvalidArgument"), "{err}");
    let file_plugin = dir.path().join("file.toml");
    std::fs::write(&file_plugin, std::fs::read_to_string(&missing).unwrap().replace("nope@1", "/tmp/x.wasm")).unwrap();
    let (code, err) = refused(&server, &["job", "submit", file_plugin.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is a file; a server runs operators from its registry"), "{err}");

    // A job cannot reach into other jobs' folders or the registry.
    let data = dir.path().join("data");
    for sink in [
        data.join("jobs/other/out.jsonl").display().to_string(),
        "../other/out.jsonl".to_string(),
        data.join("operators/index.json").display().to_string(),
        "record.json".to_string(),
        "checkpoint/out.jsonl".to_string(),
    ] {
        let nosy = dir.path().join("nosy.toml");
        std::fs::write(&nosy, format!("[job]\nname = \"nosy\"\nbatch_interval = \"1s\"\n\n[sources.g]\nkind = \"generator\"\nrate = 5\n\n[sinks.out]\nkind = \"jsonl\"\nfrom = \"g\"\npath = \"{sink}\"\n")).unwrap();
        let (code, err) = refused(&server, &["job", "submit", nosy.to_str().unwrap()]);
        assert_eq!(code, 2, "{sink}: {err}");
        assert!(
            err.contains("`sinks.out.path`") && err.contains("outside this job's folder or among the files"),
            "{err}"
        );
    }

    // Unknown things.
    let (code, err) = refused(&server, &["job", "stop", "ghost"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("no job `ghost`"), "{err}");
    let (code, err) = refused(&server, &["op", "describe", "ghost@9"]);
    assert_eq!(code, 3, "{err}");

    // A client that is not ours: health, reflection (with and without the token), a malformed message.
    let addr = server.url.trim_start_matches("http://");
    let probe = weir_tests::repo_root().join("tests/python/grpc_probe.py");
    let out = Command::new("python3").arg(probe).args([addr, TOKEN]).output().unwrap();
    assert!(
        out.status.success(),
        "the Python probe failed (pip install grpcio grpcio-reflection grpcio-health-checking): {}",
        text(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    println!("python grpcio probe: {seen}");
    assert_eq!(seen["health"], "SERVING");
    assert_eq!(seen["reflection_without_token"], "UNAUTHENTICATED");
    let services = seen["reflection"].as_array().unwrap();
    for s in ["grpc.health.v1.Health", "weir.v1.JobService", "weir.v1.OperatorService"] {
        assert!(services.iter().any(|x| x == s), "{s} missing from {services:?}");
    }
    assert_ne!(seen["malformed"]["code"], "OK", "{seen}");
    assert!(seen["malformed"]["details"].as_str().unwrap().contains("decode"), "{seen}");
    assert_eq!(seen["health_after"], "SERVING");
    assert_eq!(server.ok(&["server", "health"]).trim(), "serving");
}

#[test]
fn tls_serves_clients_that_trust_the_certificate_and_only_them() {
    let dir = tempfile::tempdir().unwrap();
    // A test CA, and a server certificate it signed for localhost and 127.0.0.1.
    let d = dir.path();
    let (ca_cert, cert, key) = (d.join("ca.pem"), d.join("cert.pem"), d.join("key.pem"));
    std::fs::write(d.join("ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
        .unwrap();
    for args in [
        "req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=weir-test-ca -keyout ca.key -out ca.pem",
        "req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout key.pem -out server.csr",
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile ext.cnf -out cert.pem",
    ] {
        let made = Command::new("openssl").args(args.split(' ')).current_dir(d).output().unwrap();
        assert!(made.status.success(), "openssl {args}: {}", text(&made.stderr));
    }
    let mut server = Served::start(
        &dir.path().join("data"),
        &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()],
    );
    server.url = server.url.replace("http://", "https://");
    let ca = ["--ca", ca_cert.to_str().unwrap()];
    assert_eq!(server.ok(&[&ca[..], &["server", "health"]].concat()).trim(), "serving");
    assert!(server.ok(&[&ca[..], &["job", "list"]].concat()).contains("JOB"));
    let (code, err) = refused(&server, &["job", "list"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("an https server needs --ca"), "{err}");
    server.url = server.url.replace("https://", "http://");
    let (code, err) = refused(&server, &["server", "health"]);
    assert_ne!(code, 0, "plain text to a TLS server: {err}");
}
