use deploy::{AppEndpoint, AppKind, Header, Secret, Target};

#[test]
fn secrets_never_show_in_debug_display_or_json() {
    let target = Target {
        http_base: "https://svc.example".to_owned(),
        grpc_uri: Some("https://svc.example".to_owned()),
        headers: vec![Header::bearer("tok-SECRET-123")],
        apps: vec![AppEndpoint {
            name: "unary".to_owned(),
            kind: AppKind::HttpEcho,
            path: "/echo".to_owned(),
        }],
    };
    let debug = format!("{target:?} {:#?}", target.headers[0]);
    let display = format!("{}", target.headers[0].value);
    let json = serde_json::to_string(&target).expect("json");
    for shown in [&debug, &display, &json] {
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
    assert_eq!(target.headers[0].name, "authorization");
    assert_eq!(target.headers[0].value.expose(), "Bearer tok-SECRET-123");
    assert_eq!(target.url(target.app("unary").expect("app")), "https://svc.example/echo");
    assert_eq!(
        target.app_of_kind(AppKind::HttpEcho).map(|a| a.grpc_metadata()),
        Some(("application", "unary"))
    );
    assert_eq!(format!("{:?}", Secret::new("x")), "<redacted>");
}
