//! The `shoal` CLI against a real node: JSON in and out, and exit codes a script can use.

mod harness;

use harness::Node;

fn out(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn err(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn code(o: &std::process::Output) -> i32 {
    o.status.code().expect("exit code")
}

fn ok(o: std::process::Output) -> String {
    assert_eq!(code(&o), 0, "stdout: {}\nstderr: {}", out(&o), err(&o));
    out(&o)
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn cli_round_trip_and_exit_codes() {
    let node = Node::start(1);
    ok(node.cli(&["table", "create", "people", "--partition-key", "id:S", "--sort-key", "at:N"]));
    let listed = ok(node.cli(&["table", "list"]));
    assert!(listed.contains("people"), "{listed}");
    let described = ok(node.cli(&["table", "describe", "people"]));
    assert!(described.contains("\"at\""), "{described}");

    ok(node.cli(&["put", "people", r#"{"id":"ada","at":1,"name":"Ada","langs":["rust","c"]}"#]));
    ok(node.cli_stdin(&["put", "people", "-"], Some(r#"{"id":"ada","at":2,"name":"Ada L"}"#)));
    let got = json(&ok(node.cli(&["get", "people", r#"{"id":"ada","at":1}"#])));
    assert_eq!(got, json(r#"{"id":"ada","at":1,"name":"Ada","langs":["rust","c"]}"#));
    let typed =
        json(&ok(node.cli(&["--typed", "get", "people", r#"{"id":{"S":"ada"},"at":{"N":"1"}}"#])));
    assert_eq!(typed["name"], json(r#"{"S":"Ada"}"#));

    // Not found, condition failed, bad input, unknown table.
    let missing = node.cli(&["get", "people", r#"{"id":"nobody","at":1}"#]);
    assert_eq!(code(&missing), 3, "{}", err(&missing));
    assert!(out(&missing).is_empty());
    let conflict = node.cli(&[
        "put",
        "people",
        r#"{"id":"ada","at":1}"#,
        "--condition",
        "attribute_not_exists(id)",
    ]);
    assert_eq!(code(&conflict), 4, "{}", err(&conflict));
    assert!(err(&conflict).starts_with("shoal: error:"), "{}", err(&conflict));
    let bad_json = node.cli(&["put", "people", "{not json"]);
    assert_eq!(code(&bad_json), 2);
    let bad_expr = node.cli(&["update", "people", r#"{"id":"ada","at":1}"#, "--update", "SET = 1"]);
    assert_eq!(code(&bad_expr), 2, "{}", err(&bad_expr));
    let unknown = node.cli(&["get", "nope_table", r#"{"id":"x"}"#]);
    assert_eq!(code(&unknown), 2, "{}", err(&unknown));

    // Update with values, query with filter and paging through --all, delete.
    let updated = json(&ok(node.cli(&[
        "update",
        "people",
        r#"{"id":"ada","at":1}"#,
        "--update",
        "ADD visits :n SET #nm = :nm",
        "--names",
        r##"{"#nm":"name"}"##,
        "--values",
        r#"{":n":2,":nm":"Countess"}"#,
    ])));
    assert_eq!(updated["visits"], json("2"));
    assert_eq!(updated["name"], json("\"Countess\""));
    for at in 3..10 {
        ok(node.cli(&["put", "people", &format!(r#"{{"id":"ada","at":{at}}}"#)]));
    }
    let lines = ok(node.cli(&[
        "query",
        "people",
        "--key-condition",
        "id = :id AND at >= :from",
        "--values",
        r#"{":id":"ada",":from":2}"#,
        "--limit",
        "3",
        "--all",
    ]));
    let ats: Vec<i64> = lines.lines().map(|l| json(l)["at"].as_i64().unwrap()).collect();
    assert_eq!(ats, (2..10).collect::<Vec<_>>());
    let first_page = node.cli(&[
        "query",
        "people",
        "--key-condition",
        "id = :id",
        "--values",
        r#"{":id":"ada"}"#,
        "--limit",
        "2",
    ]);
    assert_eq!(code(&first_page), 0);
    assert_eq!(out(&first_page).lines().count(), 2);
    assert!(err(&first_page).contains("next-page-token:"), "{}", err(&first_page));
    let scanned = ok(node.cli(&["scan", "people", "--all"]));
    assert_eq!(scanned.lines().count(), 9);
    ok(node.cli(&["delete", "people", r#"{"id":"ada","at":1}"#]));
    assert_eq!(code(&node.cli(&["get", "people", r#"{"id":"ada","at":1}"#])), 3);

    // Batches: one JSON result per line.
    let written = ok(node.cli(&[
        "batch", "write", "people", r#"[{"put":{"id":"bob","at":1}},{"put":{"id":"cy","at":1}},{"delete":{"id":"ada","at":2}}]"#,
    ]));
    assert_eq!(written.lines().count(), 3);
    let read =
        ok(node.cli(&["batch", "get", "people", r#"[{"id":"bob","at":1},{"id":"ada","at":2}]"#]));
    let results: Vec<serde_json::Value> = read.lines().map(json).collect();
    assert_eq!(results[0]["item"]["id"], json("\"bob\""));
    assert_ne!(results[1]["status"], json("\"ok\""));

    ok(node.cli(&["table", "drop", "people"]));
    assert_eq!(code(&node.cli(&["table", "describe", "people"])), 3);

    // A node that is not there: connection error.
    let nobody = std::process::Command::new(harness::shoal_bin())
        .args(["--host", "127.0.0.1:1", "table", "list"])
        .output()
        .unwrap();
    assert_eq!(code(&nobody), 6, "{}", err(&nobody));
}

#[test]
fn server_refuses_bad_config_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[limits]\nframe_bytes_max = 12\n").unwrap();
    let o = std::process::Command::new(harness::shoal_bin())
        .args(["server", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", err(&o));
    assert!(err(&o).contains("limits.frame_bytes_max"), "{}", err(&o));
}
