//! Chooses the dashboard bundle `src/lib.rs` embeds: the built React view,
//! `frontend/dist/bundle.js`, when it exists, else the committed `frontend/fallback-bundle.js`,
//! which only says how to build the real one. So `cargo build` works before (or without) npm,
//! and picks the real view up as soon as `npm run build` (or `build.sh`) has made it.

use std::env;
use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let built = dir.join("frontend").join("dist").join("bundle.js");
    let fallback = dir.join("frontend").join("fallback-bundle.js");

    // Both, so building the frontend later (the file appears), rebuilding it, or deleting it
    // makes cargo run this script again and re-embed.
    println!("cargo:rerun-if-changed={}", built.display());
    println!("cargo:rerun-if-changed={}", fallback.display());

    let chosen = if built.is_file() {
        built
    } else {
        println!(
            "cargo:warning=hello-plugin-rust: frontend not built, embedding the fallback view \
             (run examples/hello-plugin-rust/build.sh)"
        );
        fallback
    };
    let chosen = chosen.to_str().expect("the bundle's path is UTF-8");
    // Read by `include_bytes!` in src/lib.rs and by the tests, which compare with the file.
    println!("cargo:rustc-env=HELLO_RUST_BUNDLE={chosen}");
}
