//! The OpenAPI document: the copy checked into `api/openapi/` is what the code generates, and
//! every route the router serves is described in it (and nothing else).

use std::path::PathBuf;

/// Where the checked-in copy lives; `OPENAPI_WRITE=1` rewrites it (`scripts/openapi`).
fn checked_in() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../api/openapi/query-api.json")
}

#[test]
fn the_checked_in_document_is_the_one_the_code_generates() {
    let generated = query_api::routes::openapi()
        .to_pretty_json()
        .expect("the document serializes")
        + "\n";
    if std::env::var_os("OPENAPI_WRITE").is_some() {
        std::fs::write(checked_in(), &generated).expect("write the checked-in document");
    }
    let stored = std::fs::read_to_string(checked_in()).unwrap_or_default();
    assert!(
        stored == generated,
        "api/openapi/query-api.json differs from the generated document; run scripts/openapi \
         and commit the result"
    );
}
