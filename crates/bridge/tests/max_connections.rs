//! Over max_connections: HTTP 503 before the upgrade; room again once clients leave.

mod common;
use common::*;

#[test]
fn the_connection_over_the_limit_gets_503_and_recovery_follows() {
    let rt = rt();
    let (h, rx) = Recorder::new();
    let server = bridge::serve(
        &rt,
        h,
        0,
        bridge::Options {
            max_connections: 2,
            ..opts()
        },
    )
    .unwrap();
    let a = connect(server.port(), "/");
    let _b = connect(server.port(), "/");
    next(&rx);
    next(&rx);
    match try_connect(server.port(), "/") {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status().as_u16(), 503),
        Err(e) => panic!("expected 503, got {e}"),
        Ok(_) => panic!("expected 503, got a connection"),
    }
    assert_eq!(server.connection_count(), 2);
    drop(a);
    assert!(eventually(|| server.connection_count() == 1));
    let _c = connect(server.port(), "/");
    server.stop();
    rt.shutdown();
}
