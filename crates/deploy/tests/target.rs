use deploy::{AppEndpoint, Header, Secret, Target};

#[test]
fn secrets_never_show_in_debug_display_or_json() {
    let target = Target {
        http_base: "https://user:pw@svc.example/?token=q".to_owned(),
        grpc_uri: Some("https://svc.example".to_owned()),
        headers: vec![Header::bearer("tok-SECRET-123")],
        apps: vec![AppEndpoint {
            name: "unary".to_owned(),
            check: toml::from_str("protocol = \"http\"\npath = \"/echo\"").expect("spec"),
        }],
    };
    let debug = format!("{:?} {:#?}", target.headers, target.headers[0]);
    let display = format!("{}", target.headers[0].value);
    let json = serde_json::to_string(&target).expect("json");
    for shown in [&debug, &display, &json] {
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
    assert!(!json.contains("pw") && !json.contains("token=q"), "{json}");
    assert_eq!(target.headers[0].name, "authorization");
    assert_eq!(target.headers[0].value.expose(), "Bearer tok-SECRET-123");
    assert!(target.app("unary").is_some());
    assert_eq!(format!("{:?}", Secret::new("x")), "<redacted>");
}
