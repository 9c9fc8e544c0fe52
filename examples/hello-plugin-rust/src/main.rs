//! The hello-rust plugin executable; the plugin itself is in `lib.rs` so tests can compare.

fn main() -> std::process::ExitCode {
    toru_plugin_api::run(hello_plugin_rust::Hello::default())
}
