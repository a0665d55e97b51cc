//! `sqlx::migrate!` embeds the migrations when this crate compiles, but Cargo only knows to
//! compile it again when a file it already embedded changes. A migration added later would be
//! missing from every binary built on an old artifact (seen: query-api failing on a column the
//! new migration adds). Watching the directory makes an added migration rebuild the crate.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
